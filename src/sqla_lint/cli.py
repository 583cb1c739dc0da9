"""The ``sqla-lint`` command: a thin layer over :mod:`sqla_lint.api`, with ruff's exit codes.

Exit 0: no findings. Exit 1: findings. Exit 2: bad arguments, bad configuration, a path
that does not exist, or an internal error, always as one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .api import lint_paths, lint_source
from .cache import ResultCache, default_cache_dir
from .config import FileConfig, Overrides, build_settings, find_config, load_config
from .diagnostics import Diagnostic, FileResult
from .discovery import PathError
from .docs import rule_page, rules_table
from .output import FORMATS, RenderContext
from .settings import ALL_CODES, ConfigError

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
    check.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")

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

    sources: dict[str, bytes] = {}
    results: list[FileResult] = []
    if paths == ["-"]:
        data = sys.stdin.buffer.read()
        name = args.stdin_filename or "-"
        sources[name] = data
        results.append(lint_source(data, name, settings))
    else:
        cache = None if args.no_cache else ResultCache(default_cache_dir(paths), settings)
        for result in lint_paths(paths, settings, force_exclude=args.force_exclude, jobs=args.jobs, cache=cache):
            results.append(result)

    diagnostics: list[Diagnostic] = sorted(
        (d for result in results for d in result.diagnostics), key=Diagnostic.sort_key
    )
    errors = [result for result in results if result.error]
    for result in errors:
        sys.stderr.write(f"sqla-lint: error: {result.path}: {result.error}\n")
    if output_format == "full":
        for diagnostic in diagnostics:
            if diagnostic.path not in sources:
                try:
                    sources[diagnostic.path] = Path(diagnostic.path).read_bytes()
                except OSError:
                    pass
    FORMATS[output_format](diagnostics, sys.stdout, RenderContext(sources))
    if output_format == "concise" and diagnostics:
        count = len(diagnostics)
        sys.stdout.write(f"Found {count} error{'s' if count != 1 else ''}.\n")
    sys.stdout.flush()
    if args.exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if diagnostics or errors else EXIT_CLEAN


__all__ = ["ALL_CODES", "main"]
