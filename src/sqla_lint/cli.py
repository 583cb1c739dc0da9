"""The ``sqla-lint`` command: a thin layer over :mod:`sqla_lint.api`, with ruff's exit codes.

Exit 0: no findings. Exit 1: findings. Exit 2: bad arguments, bad configuration, a path
that does not exist, or an internal error, always as one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import DISTRIBUTION, DOCS_URL, __version__
from .api import fix_found, fix_source, index_for, lint_found, lint_source
from .baseline import DEFAULT_NAME as DEFAULT_BASELINE
from .baseline import Baseline
from .changes import changed_lines
from .config import ConfigResolver, Overrides, baseline_path
from .cache import ResultCache, default_cache_dir
from .diagnostics import Diagnostic, FileResult
from .discovery import PathError, one_walk_per_folder
from .noqa import add_noqa
from .output import FORMATS, NEEDS_SOURCES, RenderContext
from .output.statistics import render_statistics
from .rules.catalogue import PREVIEW_CODES
from .settings import ALL_CODES, ConfigError, Settings

if TYPE_CHECKING:
    from .fixer import FileFix

# The fixer, the rules and their documentation load libcst; they are imported by the
# commands that use them, so a lint answered from the cache starts without it.

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2, like every other error here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"sqla-lint: error: {message} (see `sqla-lint {self._subcommand()}--help`)\n")
        raise SystemExit(EXIT_ERROR)

    def _subcommand(self) -> str:
        name = self.prog.split()[-1]
        return "" if name == "sqla-lint" else f"{name} "


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


# The command and the package on the index have different names (the index's "sqla-lint"
# is another project), so every place a user looks for either says both.
VERSION = f"sqla-lint {__version__} (pip install {DISTRIBUTION})\ndocumentation: {DOCS_URL}"
EPILOG = f"install: pip install {DISTRIBUTION}\ndocumentation: {DOCS_URL}"


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sqla-lint", description="Find SQLAlchemy sessions, connections, engines and pools that are never given back.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=VERSION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser("check", help="lint files and directories (default: .)", description="Lint files and directories (default: .) and exit 1 if anything is found.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or directories; '-' reads stdin")
    check.add_argument("--select", type=_codes, metavar="CODES", help="comma-separated codes or prefixes to enable")
    check.add_argument("--extend-select", type=_codes, metavar="CODES", help="codes to enable on top of the selection")
    check.add_argument("--ignore", type=_codes, metavar="CODES", help="codes or prefixes to disable")
    check.add_argument("--preview", action=argparse.BooleanOptionalAction, default=None, help="run the rules in preview too (a preview rule also runs when its exact code is selected)")
    check.add_argument("--output-format", choices=sorted(FORMATS), default=None, help="how findings are printed (default: concise; github when GITHUB_ACTIONS=true)")
    check.add_argument("-o", "--output-file", metavar="PATH", help="write the findings to PATH instead of stdout")
    check.add_argument("--statistics", action="store_true", help="print how many findings each code has, instead of the findings")
    check.add_argument("--config", metavar="PATH", help="use this pyproject.toml instead of discovering one")
    check.add_argument("--isolated", action="store_true", help="ignore all configuration files")
    check.add_argument("--force-exclude", action="store_true", help="apply exclusions to paths named on the command line too (for pre-commit)")
    check.add_argument("--extend-exclude", type=_codes, metavar="PATTERNS", help="more path patterns to skip")
    check.add_argument("--session-factories", type=_codes, metavar="NAMES", help="names of functions that return a new session")
    check.add_argument("--engine-factories", type=_codes, metavar="NAMES", help="names of functions that return a new engine")
    check.add_argument("--called-once", type=_codes, metavar="NAMES", help="functions that run once per process (app factories, entry points)")
    check.add_argument("--stdin-filename", metavar="PATH", help="the path to report for source read from stdin")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("-j", "--jobs", type=int, default=None, metavar="N", help="worker processes (default: one per core)")
    check.add_argument("--fix", action="store_true", help="apply safe fixes, then report what remains")
    check.add_argument("--unsafe-fixes", action="store_true", help="also apply unsafe fixes (with --fix or --diff)")
    check.add_argument("--diff", action="store_true", help="print the fixes as unified diffs and write nothing; exit 1 if there is a diff")
    check.add_argument("--show-fixes", action="store_true", help="with --fix, list what was fixed")
    check.add_argument("--exit-non-zero-on-fix", action="store_true", help="with --fix, exit 1 if anything was fixed, even when nothing remains")
    adoption = check.add_argument_group("adopting on an existing codebase")
    adoption.add_argument("--baseline", metavar="PATH", help="hide the findings recorded in this baseline file (default: the `baseline` config key)")
    adoption.add_argument("--write-baseline", nargs="?", const="", metavar="PATH", help=f"record every current finding in a baseline file and exit 0 (default: the `baseline` config key, else {DEFAULT_BASELINE})")
    adoption.add_argument("--prune-baseline", action="store_true", help="remove stale entries (fixed findings) from the baseline file")
    adoption.add_argument("--changed-since", metavar="REF", help="report only findings on lines added or changed since the merge-base of REF and HEAD (git)")
    adoption.add_argument("--add-noqa", action="store_true", help="append `# noqa: CODE` to the line of every finding that would be reported, and exit 0")
    check.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")

    rule = commands.add_parser("rule", help="print a rule's documentation")
    rule.add_argument("code", metavar="CODE")

    budget = commands.add_parser("budget", help="print the connection budget: engines and pools per process, workers, total (SQA506)")
    budget.add_argument("path", nargs="?", default=".", metavar="PATH", help="a folder or file of the project (default: .)")
    budget.add_argument("--output-format", choices=("text", "json"), default="text")
    budget.add_argument("--config", metavar="PATH", help="use this pyproject.toml instead of discovering one")
    budget.add_argument("--isolated", action="store_true", help="ignore all configuration files")
    budget.add_argument("--workers", type=int, metavar="N", help="worker processes, overriding deployment files and configuration")
    budget.add_argument("--max-connections", type=int, metavar="N", help="the database's max_connections (default: config, else 100)")
    budget.add_argument("--reserved-connections", type=int, metavar="N", help="connections kept for superusers (default: config, else 3)")
    budget.add_argument("--no-cache", action="store_true", help="neither read nor write the index cache")

    listing = commands.add_parser("rules", help="list every rule")
    listing.add_argument("--output-format", choices=("text", "json"), default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            with one_walk_per_folder():
                return _check(args)
        if args.command == "rule":
            return _rule(args.code)
        if args.command == "rules":
            return _rules(args.output_format)
        if args.command == "budget":
            return _budget(args)
        parser.print_help()
        return EXIT_ERROR
    except (ConfigError, PathError) as error:
        sys.stderr.write(f"sqla-lint: error: {error}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("sqla-lint: interrupted\n")
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as error:  # an internal error is still one line, with the details opt-in
        sys.stderr.write(f"sqla-lint: internal error: {type(error).__name__}: {error}\n")
        if os.environ.get("SQLA_LINT_DEBUG"):
            traceback.print_exc()
        return EXIT_ERROR


def _rule(code: str) -> int:
    from .docs import rule_page

    try:
        sys.stdout.write(rule_page(code.upper()))
    except KeyError:
        raise ConfigError(f"unknown rule code {code!r}; `sqla-lint rules` lists them") from None
    return EXIT_CLEAN


def _rules(output_format: str) -> int:
    from .docs import rules_table

    rows = rules_table()
    if output_format == "json":
        import json

        listing = [{"code": c, "name": n, "fix": f, "preview": c in PREVIEW_CODES, "summary": s} for c, n, f, s in rows]
        json.dump(listing, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for code, name, fix, summary in rows:
            marker = " (preview)" if code in PREVIEW_CODES else ""
            sys.stdout.write(f"{code}  {name:<30} fix: {fix:<6}  {summary}{marker}\n")
    return EXIT_CLEAN


def _budget(args: argparse.Namespace) -> int:
    """Exit 1 when the project's connections exceed the budget, as ``check`` with findings."""
    from .budget_report import budget_report, render_json, render_text

    path = Path(args.path)
    if not path.exists():
        raise PathError(f"{args.path}: No such file or directory")
    resolver = ConfigResolver(Overrides(), config=Path(args.config) if args.config else None, isolated=args.isolated)
    settings = resolver.settings_for(path)
    for flag, least in (("workers", 1), ("max_connections", 1), ("reserved_connections", 0)):
        value = getattr(args, flag)
        if value is not None:
            if value < least:
                raise ConfigError(f"--{flag.replace('_', '-')} must be at least {least}")
            settings = replace(settings, **{flag: value})
    if settings.reserved_connections >= settings.max_connections:
        raise ConfigError("reserved-connections must be less than max-connections")
    if args.no_cache:
        settings = replace(settings, cache=False)
    report = budget_report(path, settings)
    sys.stdout.write(render_json(report) if args.output_format == "json" else render_text(report))
    return EXIT_FINDINGS if report.budget.exceeded else EXIT_CLEAN


def _check(args: argparse.Namespace) -> int:
    paths = args.paths or ["."]
    overrides = Overrides(
        select=args.select,
        ignore=args.ignore,
        extend_select=args.extend_select,
        preview=args.preview,
        session_factories=args.session_factories,
        engine_factories=args.engine_factories,
        extend_exclude=args.extend_exclude,
    )
    resolver = ConfigResolver(overrides, config=Path(args.config) if args.config else None, isolated=args.isolated)
    output_format = args.output_format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "concise")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    _check_flag_combinations(args, paths)
    if args.fix or args.diff:
        return _fix(args, paths, resolver, output_format)

    sources: dict[str, bytes] = {}
    results: list[FileResult] = []
    enabled_by_file: dict[str, frozenset[str]] = {}
    if paths == ["-"]:
        data = sys.stdin.buffer.read()
        name = args.stdin_filename or "-"
        sources[name] = data
        settings = _honour_no_cache(args, resolver.settings_for(Path(args.stdin_filename) if args.stdin_filename else Path.cwd()))
        results.append(lint_source(data, name, settings, index_for(Path(name if args.stdin_filename else "."), settings)))
        enabled_by_file[os.path.abspath(name)] = settings.enabled
    else:
        for settings, found in resolver.plan(paths, args.force_exclude):
            enabled_by_file.update(dict.fromkeys((os.path.abspath(f.path) for f in found), settings.enabled))
            settings = _honour_no_cache(args, settings)
            cache = None if args.no_cache else ResultCache(default_cache_dir(paths), settings)
            results.extend(lint_found(found, settings, jobs=args.jobs, cache=cache))

    diagnostics: list[Diagnostic] = sorted(
        (d for result in results for d in result.diagnostics), key=Diagnostic.sort_key
    )
    errors = [result for result in results if result.error]
    for result in errors:
        sys.stderr.write(f"sqla-lint: error: {result.path}: {result.error}\n")
    for result in results:
        if result.skipped:
            sys.stderr.write(f"sqla-lint: warning: {result.path}: not linted: {result.skipped}\n")

    baseline_file = _baseline_file(args, resolver, paths)
    if baseline_file is not None or output_format in NEEDS_SOURCES:
        _read_sources(diagnostics, sources)
    context = RenderContext(sources)
    checked = _checked_by_run(enabled_by_file)
    if args.write_baseline is not None:
        assert baseline_file is not None
        return _write_baseline(baseline_file, diagnostics, context, checked)
    if baseline_file is not None:
        diagnostics = _apply_baseline(Baseline.load(baseline_file), diagnostics, context, checked, prune=args.prune_baseline)
    if args.changed_since is not None:
        first = Path(paths[0]) if paths != ["-"] else Path.cwd()
        changed = changed_lines(args.changed_since, first if first.is_dir() else first.parent)
        shown = [d for d in diagnostics if changed.contains(d.path, d.location.row)]
        if len(shown) < len(diagnostics):
            _note(f"{_plural(len(diagnostics) - len(shown), 'finding')} on lines not changed since {args.changed_since} not shown")
        diagnostics = shown
    if args.add_noqa:
        return _add_noqa(diagnostics)

    with _output_stream(args.output_file) as stream:
        if args.statistics:
            render_statistics(diagnostics, stream, as_json=output_format in ("json", "json-lines"))
        else:
            FORMATS[output_format](diagnostics, stream, context)
            if output_format == "concise" and diagnostics:
                stream.write(f"Found {_plural(len(diagnostics), 'error')}.\n")
    sys.stdout.flush()
    if args.exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if diagnostics or errors else EXIT_CLEAN


def _check_flag_combinations(args: argparse.Namespace, paths: list[str]) -> None:
    if args.write_baseline is not None and (args.baseline or args.prune_baseline or args.changed_since or args.add_noqa):
        raise ConfigError("--write-baseline records every finding; it cannot be combined with --baseline, --prune-baseline, --changed-since or --add-noqa")
    if args.add_noqa and paths == ["-"]:
        raise ConfigError("--add-noqa edits files, so it cannot read from stdin")
    if args.add_noqa and (args.statistics or args.output_file):
        raise ConfigError("--add-noqa prints no findings; drop --statistics / --output-file")


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _note(message: str) -> None:
    sys.stderr.write(f"sqla-lint: {message}\n")


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    relative = os.path.relpath(os.path.abspath(path))
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


def _read_sources(diagnostics: list[Diagnostic], sources: dict[str, bytes]) -> None:
    for diagnostic in diagnostics:
        if diagnostic.path not in sources:
            try:
                sources[diagnostic.path] = Path(diagnostic.path).read_bytes()
            except OSError:
                sources[diagnostic.path] = b""


def _checked_by_run(enabled_by_file: dict[str, frozenset[str]]) -> Callable[[Path], Callable[[str, str], bool]]:
    """For a baseline in directory ``base``: did this run check ``code`` in file ``relative``?"""

    def relative_to(base: Path) -> Callable[[str, str], bool]:
        def checked(relative: str, code: str) -> bool:
            return code in enabled_by_file.get(os.path.normpath(base / relative), frozenset())

        return checked

    return relative_to


def _baseline_file(args: argparse.Namespace, resolver: ConfigResolver, paths: list[str]) -> Path | None:
    if args.write_baseline:
        if Path(args.write_baseline).is_dir():
            raise ConfigError(f"--write-baseline {args.write_baseline}: is a directory; name a file, or put the paths to lint before the flag")
        return Path(args.write_baseline)
    if args.baseline:
        return Path(args.baseline)
    start = Path(args.stdin_filename) if paths == ["-"] and args.stdin_filename else Path(paths[0]) if paths != ["-"] else Path.cwd()
    configured = baseline_path(resolver.config_for(start))
    if configured is None and args.write_baseline is not None:
        return Path(DEFAULT_BASELINE)
    if configured is None and args.prune_baseline:
        raise ConfigError("--prune-baseline needs a baseline: pass --baseline PATH or set `baseline` in [tool.sqla-lint]")
    return configured


def _write_baseline(path: Path, diagnostics: list[Diagnostic], context: RenderContext, checked: Callable[[Path], Callable[[str, str], bool]]) -> int:
    try:
        previous = Baseline.load(path) if path.exists() else Baseline(path)
    except ConfigError:
        previous = Baseline(path)  # rewriting a broken baseline is how it gets repaired
    baseline = previous.replaced(diagnostics, context.anchor, checked(previous.directory))
    baseline.write()
    _note(f"wrote {_plural(len(baseline.entries), 'baseline entry', 'baseline entries')} ({_plural(baseline.total, 'finding')}) to {_shown(path)}")
    return EXIT_CLEAN


def _apply_baseline(baseline: Baseline, diagnostics: list[Diagnostic], context: RenderContext, checked: Callable[[Path], Callable[[str, str], bool]], *, prune: bool) -> list[Diagnostic]:
    outcome = baseline.apply(diagnostics, context.anchor, checked(baseline.directory))
    if outcome.hidden:
        _note(f"{_plural(outcome.hidden, 'finding')} hidden by the baseline {_shown(baseline.path)}")
    stale = sum(entry.count for entry in outcome.stale)
    if stale and prune:
        baseline.pruned(outcome.stale).write()
        _note(f"removed {_plural(stale, 'stale baseline finding')} from {_shown(baseline.path)}")
    elif stale:
        for entry in outcome.stale:
            _note(f"stale baseline entry (fixed?): {entry.key.path} {entry.key.code} {entry.scope or '<module>'}: {entry.statement}")
        _note(f"{_plural(stale, 'baseline finding')} no longer found; --prune-baseline removes stale entries")
    return outcome.kept


def _add_noqa(diagnostics: list[Diagnostic]) -> int:
    outcome = add_noqa(diagnostics)
    _note(f"added {_plural(outcome.added, 'noqa comment')} in {_plural(outcome.files, 'file')}")
    for diagnostic in outcome.skipped:
        _note(f"cannot add a noqa comment at {diagnostic.path}:{diagnostic.location.row} (the line ends inside a string or continues with a backslash)")
    return EXIT_CLEAN


@contextmanager
def _output_stream(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    try:
        stream = open(path, "w", encoding="utf-8", newline="\n")
    except OSError as error:
        raise ConfigError(f"cannot write --output-file {path}: {error.strerror}") from None
    with stream:
        yield stream


def _errors(count: int) -> str:
    return f"{count} error{'s' if count != 1 else ''}"


def _hidden_fixes_hint(diagnostics: list[Diagnostic], unsafe: bool) -> None:
    """After ``--fix`` or ``--diff``, say when unsafe fixes were left unapplied (on stderr)."""
    from .fixer import applies

    hidden = sum(d.fix is not None and not applies(d.fix, unsafe) for d in diagnostics)
    if hidden:
        sys.stderr.write(f"({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option.)\n")


def _honour_no_cache(args: argparse.Namespace, settings: Settings) -> Settings:
    """``--no-cache`` turns off the project index's cache as well as the result cache, on
    every path that builds an index: lint, ``--fix``, ``--diff`` and stdin. Only the plain
    lint of paths did, so ``--fix --no-cache`` still wrote ``.sqla_lint_cache/`` into the
    project."""
    return replace(settings, cache=False) if args.no_cache else settings


def _fix(args: argparse.Namespace, paths: list[str], resolver: ConfigResolver, output_format: str) -> int:
    from .fixer import FileFix

    """``--fix`` writes fixed files and reports what remains; ``--diff`` prints diffs and writes nothing."""
    from_stdin = paths == ["-"]
    if from_stdin:
        name = args.stdin_filename or "-"
        data = sys.stdin.buffer.read()
        settings = _honour_no_cache(args, resolver.settings_for(Path(args.stdin_filename) if args.stdin_filename else Path.cwd()))
        index = index_for(Path(name if args.stdin_filename else "."), settings)
        fixed_source = fix_source(data, name, settings, unsafe=args.unsafe_fixes, index=index)
        outcomes = [FileFix.of(name, data, fixed_source)]
    else:
        outcomes = [
            outcome
            for settings, found in resolver.plan(paths, args.force_exclude)
            for outcome in fix_found(found, _honour_no_cache(args, settings), unsafe=args.unsafe_fixes, write=not args.diff, jobs=args.jobs)
        ]
    failed = False
    for outcome in outcomes:
        error = outcome.result.error or outcome.error
        if error:
            sys.stderr.write(f"sqla-lint: error: {outcome.path}: {error}\n")
            failed = True
    fixed = sum(len(outcome.fixed) for outcome in outcomes)
    if args.diff:
        for outcome in outcomes:
            if outcome.original is not None and outcome.source is not None:
                sys.stdout.write(_unified_diff(outcome))
        sys.stdout.flush()
        sys.stderr.write(f"Would fix {_errors(fixed)}.\n" if fixed else "No errors would be fixed.\n")
        _hidden_fixes_hint([d for outcome in outcomes for d in outcome.result.diagnostics], args.unsafe_fixes)
        has_diff = any(outcome.source is not None for outcome in outcomes)
        return EXIT_FINDINGS if has_diff or failed else EXIT_CLEAN

    # Fixing stdin prints the fixed source (as editors expect), so the report goes to stderr.
    report = sys.stderr if from_stdin else sys.stdout
    if from_stdin:
        sys.stdout.buffer.write(fixed_source.source)
        sys.stdout.flush()
    remaining = sorted((d for outcome in outcomes for d in outcome.result.diagnostics), key=Diagnostic.sort_key)
    sources = {outcome.path: outcome.source for outcome in outcomes if outcome.source is not None}
    if output_format == "full":
        _read_sources(remaining, sources)
    FORMATS[output_format](remaining, report, RenderContext(sources))
    if output_format in ("concise", "full"):
        if fixed:
            report.write(f"Found {_errors(fixed + len(remaining))} ({fixed} fixed, {len(remaining)} remaining).\n")
        elif remaining:
            report.write(f"Found {_errors(len(remaining))}.\n")
        if args.show_fixes and fixed:
            report.write(_fix_summary(outcomes))
        _hidden_fixes_hint(remaining, args.unsafe_fixes)
    report.flush()
    if args.exit_zero:
        return EXIT_CLEAN
    if remaining or failed or (args.exit_non_zero_on_fix and fixed):
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _unified_diff(outcome: FileFix) -> str:
    import difflib

    from .edits import decode

    assert outcome.original is not None and outcome.source is not None
    before, after = decode(outcome.original)[0], decode(outcome.source)[0]
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=outcome.path, tofile=outcome.path
    )
    return "".join(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n" for line in lines)


def _fix_summary(outcomes: list[FileFix]) -> str:
    """ruff's ``--show-fixes`` block: per file, how many findings of each rule were fixed."""
    from collections import Counter

    from .rules import RULES_BY_CODE

    fixed = sum(len(outcome.fixed) for outcome in outcomes)
    lines = [f"Fixed {_errors(fixed)}:"]
    for outcome in sorted(outcomes, key=lambda o: o.path):
        if not outcome.fixed:
            continue
        lines.append(f"- {outcome.path}:")
        for code, count in sorted(Counter(outcome.fixed).items()):
            lines.append(f"    {count} × {code} ({RULES_BY_CODE[code].NAME})")
    return "\n".join(lines) + "\n"


__all__ = ["ALL_CODES", "main"]
