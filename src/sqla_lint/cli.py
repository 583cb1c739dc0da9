"""The ``sqla-lint`` command: a thin layer over :mod:`sqla_lint.api`, with ruff's exit codes.

Exit 0: no findings (or, with ``--fix``, every finding fixed). Exit 1: findings. Exit 2:
bad arguments, bad configuration, a path that does not exist, or an internal error,
always as one line on stderr, never a traceback. With ``--diff``, exit 1 means there is
a diff.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .api import fix_paths, fix_source, lint_paths, lint_source
from .config import FileConfig, Overrides, build_settings, find_config, load_config
from .diagnostics import Diagnostic, FileResult
from .discovery import PathError
from .fixer import FileFix, applies
from .rules import RULES_BY_CODE
from .docs import rule_page, rules_table
from .output import FORMATS, RenderContext
from .settings import ALL_CODES, ConfigError, Settings

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


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sqla-lint", description="Find SQLAlchemy sessions, connections, engines and pools that are never given back.")
    parser.add_argument("--version", action="version", version=f"sqla-lint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser("check", help="lint files and directories (default: .)")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or directories; '-' reads stdin")
    check.add_argument("--select", type=_codes, metavar="CODES", help="comma-separated codes or prefixes to enable")
    check.add_argument("--extend-select", type=_codes, metavar="CODES", help="codes to enable on top of the selection")
    check.add_argument("--ignore", type=_codes, metavar="CODES", help="codes or prefixes to disable")
    check.add_argument("--output-format", choices=sorted(FORMATS), default=None, help="how findings are printed (default: concise)")
    check.add_argument("--config", metavar="PATH", help="use this pyproject.toml instead of discovering one")
    check.add_argument("--isolated", action="store_true", help="ignore all configuration files")
    check.add_argument("--force-exclude", action="store_true", help="apply exclusions to paths named on the command line too (for pre-commit)")
    check.add_argument("--extend-exclude", type=_codes, metavar="PATTERNS", help="more path patterns to skip")
    check.add_argument("--session-factories", type=_codes, metavar="NAMES", help="names of functions that return a new session")
    check.add_argument("--engine-factories", type=_codes, metavar="NAMES", help="names of functions that return a new engine")
    check.add_argument("--stdin-filename", metavar="PATH", help="the path to report for source read from stdin")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("-j", "--jobs", type=int, default=None, metavar="N", help="worker processes (default: one per core)")
    check.add_argument("--fix", action="store_true", help="apply safe fixes, then report what remains")
    check.add_argument("--unsafe-fixes", action="store_true", help="also apply unsafe fixes (with --fix or --diff)")
    check.add_argument("--diff", action="store_true", help="print the fixes as unified diffs and write nothing; exit 1 if there is a diff")
    check.add_argument("--show-fixes", action="store_true", help="with --fix, list what was fixed")
    check.add_argument("--exit-non-zero-on-fix", action="store_true", help="with --fix, exit 1 if anything was fixed, even when nothing remains")

    rule = commands.add_parser("rule", help="print a rule's documentation")
    rule.add_argument("code", metavar="CODE")

    listing = commands.add_parser("rules", help="list every rule")
    listing.add_argument("--output-format", choices=("text", "json"), default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "rule":
            return _rule(args.code)
        if args.command == "rules":
            return _rules(args.output_format)
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
    try:
        sys.stdout.write(rule_page(code.upper()))
    except KeyError:
        raise ConfigError(f"unknown rule code {code!r}; `sqla-lint rules` lists them") from None
    return EXIT_CLEAN


def _rules(output_format: str) -> int:
    rows = rules_table()
    if output_format == "json":
        import json

        json.dump([{"code": c, "name": n, "fix": f, "summary": s} for c, n, f, s in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for code, name, fix, summary in rows:
            sys.stdout.write(f"{code}  {name:<30} fix: {fix:<6}  {summary}\n")
    return EXIT_CLEAN


def _load_file_config(args: argparse.Namespace, paths: list[str]) -> FileConfig:
    if args.isolated:
        return FileConfig()
    if args.config:
        return load_config(Path(args.config))
    start = Path(paths[0]) if paths and paths[0] != "-" else Path.cwd()
    found = find_config(start if start.exists() else Path.cwd())
    return load_config(found) if found is not None else FileConfig()


def _check(args: argparse.Namespace) -> int:
    paths = args.paths or ["."]
    config = _load_file_config(args, paths)
    settings = build_settings(
        config,
        Overrides(
            select=args.select,
            ignore=args.ignore,
            extend_select=args.extend_select,
            session_factories=args.session_factories,
            engine_factories=args.engine_factories,
            extend_exclude=args.extend_exclude,
        ),
    )
    output_format = args.output_format or "concise"
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    if args.fix or args.diff:
        return _fix(args, paths, settings, output_format)

    sources: dict[str, bytes] = {}
    results: list[FileResult] = []
    if paths == ["-"]:
        data = sys.stdin.buffer.read()
        name = args.stdin_filename or "-"
        sources[name] = data
        results.append(lint_source(data, name, settings))
    else:
        for result in lint_paths(paths, settings, force_exclude=args.force_exclude, jobs=args.jobs):
            results.append(result)

    diagnostics: list[Diagnostic] = sorted(
        (d for result in results for d in result.diagnostics), key=Diagnostic.sort_key
    )
    errors = [result for result in results if result.error]
    for result in errors:
        sys.stderr.write(f"sqla-lint: error: {result.path}: {result.error}\n")
    if output_format == "full":
        _read_sources(diagnostics, sources)
    FORMATS[output_format](diagnostics, sys.stdout, RenderContext(sources))
    if output_format == "concise" and diagnostics:
        count = len(diagnostics)
        sys.stdout.write(f"Found {count} error{'s' if count != 1 else ''}.\n")
    sys.stdout.flush()
    if args.exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if diagnostics or errors else EXIT_CLEAN


def _read_sources(diagnostics: list[Diagnostic], sources: dict[str, bytes]) -> None:
    """Add the contents of each file the diagnostics are in, for excerpts."""
    for diagnostic in diagnostics:
        if diagnostic.path not in sources:
            try:
                sources[diagnostic.path] = Path(diagnostic.path).read_bytes()
            except OSError:
                pass


def _errors(count: int) -> str:
    return f"{count} error{'s' if count != 1 else ''}"


def _hidden_fixes_hint(diagnostics: list[Diagnostic], unsafe: bool) -> None:
    """After ``--fix``, say when unsafe fixes were left unapplied (on stderr)."""
    hidden = sum(d.fix is not None and not applies(d.fix, unsafe) for d in diagnostics)
    if hidden:
        sys.stderr.write(f"({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option.)\n")


def _fix(args: argparse.Namespace, paths: list[str], settings: Settings, output_format: str) -> int:
    """``--fix`` writes fixed files and reports what remains; ``--diff`` prints diffs and writes nothing."""
    from_stdin = paths == ["-"]
    if from_stdin:
        name = args.stdin_filename or "-"
        data = sys.stdin.buffer.read()
        fixed_source = fix_source(data, name, settings, unsafe=args.unsafe_fixes)
        outcomes = [FileFix.of(name, data, fixed_source)]
    else:
        outcomes = list(
            fix_paths(
                paths, settings, unsafe=args.unsafe_fixes, write=not args.diff, force_exclude=args.force_exclude, jobs=args.jobs
            )
        )
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
