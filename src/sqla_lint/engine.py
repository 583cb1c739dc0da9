"""Runs one file through the rules: parse once, model once, every enabled rule, positions last.

A file the prefilter proves cannot produce a finding is never parsed with libcst (see
:mod:`.prefilter`). Positions cost a code-generation pass in libcst, so they are
resolved only for files that have findings, and only in the statements that hold them. A file that does not parse is a finding
(SQA001), never an exception.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import libcst as cst

from .diagnostics import Diagnostic, FileResult, Location
from .positions import positions_of
from .prefilter import Prefilter
from .rules import RULES_BY_CODE, Finding, Rule, RuleContext
from .semantic import ModuleModel
from .settings import SYNTAX_ERROR_CODE, Settings

_NOQA = re.compile(rb"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]*(?:[\s,]+[A-Z]+[0-9]*)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(rb"#\s*sqla-lint:\s*noqa(?::\s*(?P<codes>[A-Z0-9,\s]+))?", re.IGNORECASE)


@lru_cache(maxsize=64)
def _rules_for(enabled: tuple[str, ...]) -> tuple[Rule, ...]:
    return tuple(RULES_BY_CODE[code]() for code in enabled)


_prefilters: dict[int, tuple[Settings, Prefilter]] = {}


def prefilter_for(settings: Settings) -> Prefilter:
    """One prefilter per settings object. Keyed by identity: hashing the settings for an
    ``lru_cache`` cost more per file than the text stage of the prefilter."""
    entry = _prefilters.get(id(settings))
    if entry is None or entry[0] is not settings:
        if len(_prefilters) >= 64:
            _prefilters.clear()
        entry = _prefilters[id(settings)] = (
            settings,
            Prefilter(settings.factories.session_factories | settings.factories.engine_factories),
        )
    return entry[1]


def might_have_findings(source: bytes, settings: Settings, tree: ast.Module | None = None) -> bool:
    """False only when no rule can fire on ``source`` and it parses (see :mod:`.prefilter`)."""
    return prefilter_for(settings).needs_analysis(
        source, tree, check_syntax=SYNTAX_ERROR_CODE in settings.enabled
    )


def module_name_for(path: str) -> str:
    """``pkg.sub.mod`` for a file inside packages (directories with ``__init__.py``)."""
    file = Path(path)
    package = _package_of(file.parent)
    if file.stem == "__init__":
        return package
    return f"{package}.{file.stem}" if package else file.stem


@lru_cache(maxsize=4096)
def _package_of(directory: Path) -> str:
    """Remembered for the life of the process: a run does not see packages appear."""
    try:
        if directory == directory.parent or not (directory / "__init__.py").is_file():
            return ""
    except OSError:
        return ""
    outer = _package_of(directory.parent)
    return f"{outer}.{directory.name}" if outer else directory.name


def lint_source(
    source: bytes | str, path: str, settings: Settings, *, tree: ast.Module | None = None
) -> FileResult:
    """Lint one file's contents. Never raises for bad input; errors become findings.

    ``tree`` is CPython's parse of the same source, when the caller already has one.
    """
    data = source.encode("utf-8") if isinstance(source, str) else source
    if settings.prefilter and not might_have_findings(data, settings, tree):
        return FileResult(path)
    try:
        module = cst.parse_module(data)
    except cst.ParserSyntaxError as error:
        return FileResult(path, _syntax_error(path, error.raw_line, error.raw_column + 1, error.message, settings))
    except (UnicodeDecodeError, LookupError, SyntaxError) as error:
        return FileResult(path, _syntax_error(path, 1, 1, f"cannot decode file: {error}", settings))
    except RecursionError:
        return FileResult(path, _syntax_error(path, 1, 1, "file is nested too deeply to parse", settings))
    codes = _enabled_for_path(settings, path)
    if not codes:
        return FileResult(path)
    try:
        model = ModuleModel(module, module_name_for(path), settings.factories)
        findings = _run_rules(model, codes)
    except RecursionError:
        return FileResult(path, _syntax_error(path, 1, 1, "file is nested too deeply to analyse", settings))
    if not findings:
        return FileResult(path)
    diagnostics = _to_diagnostics(model, findings, path)
    if settings.respect_noqa:
        diagnostics = _apply_noqa(diagnostics, data)
    return FileResult(path, tuple(sorted(diagnostics, key=Diagnostic.sort_key)))


def _run_rules(model: ModuleModel, codes: tuple[str, ...]) -> list[tuple[str, Finding]]:
    context = RuleContext(model)
    findings: list[tuple[str, Finding]] = []
    for rule in _rules_for(codes):
        findings.extend((rule.CODE, finding) for finding in rule.check(context))
    return findings


def _enabled_for_path(settings: Settings, path: str) -> tuple[str, ...]:
    ignored: set[str] = set()
    if settings.per_file_ignores:
        from fnmatch import fnmatch

        posix = Path(path).as_posix()
        for pattern, codes in settings.per_file_ignores:
            if fnmatch(posix, pattern) or fnmatch(Path(path).name, pattern) or fnmatch(posix, f"*/{pattern}"):
                ignored |= codes
    return tuple(code for code in settings.enabled_rules if code not in ignored)


def _to_diagnostics(model: ModuleModel, findings: list[tuple[str, Finding]], path: str) -> list[Diagnostic]:
    positions = positions_of(
        model.module,
        model.tree,
        [node for _, finding in findings for node in (finding.node, model.tree.statement_of(finding.node))],
    )
    diagnostics = []
    seen: set[tuple[str, int]] = set()
    for code, finding in findings:
        key = (code, id(finding.node))
        if key in seen:
            continue
        seen.add(key)
        span = positions[finding.node]
        statement_row = positions[model.tree.statement_of(finding.node)].start.line
        diagnostics.append(
            Diagnostic(
                code=code,
                message=finding.message,
                path=path,
                location=Location(span.start.line, span.start.column + 1),
                end_location=Location(span.end.line, span.end.column + 1),
                statement_row=statement_row,
            )
        )
    return diagnostics


def _syntax_error(path: str, row: int, column: int, message: str, settings: Settings) -> tuple[Diagnostic, ...]:
    if SYNTAX_ERROR_CODE not in settings.enabled:
        return ()
    first_line = message.strip().splitlines()[0] if message.strip() else "syntax error"
    location = Location(max(row, 1), max(column, 1))
    return (
        Diagnostic(
            code=SYNTAX_ERROR_CODE,
            message=f"file cannot be parsed: {first_line}",
            path=path,
            location=location,
            end_location=location,
            statement_row=location.row,
        ),
    )


def _apply_noqa(diagnostics: list[Diagnostic], data: bytes) -> list[Diagnostic]:
    """Drop findings suppressed by ``# noqa[: CODES]`` or file-level ``# sqla-lint: noqa``."""
    file_level = _FILE_NOQA.search(data)
    lines = data.splitlines()
    kept = []
    for diagnostic in diagnostics:
        if file_level is not None and _codes_match(file_level.group("codes"), diagnostic.code):
            continue
        rows = {diagnostic.location.row, diagnostic.statement_row}
        suppressed = False
        for row in rows:
            if 0 < row <= len(lines):
                match = _NOQA.search(lines[row - 1])
                if match is not None and _codes_match(match.group("codes"), diagnostic.code):
                    suppressed = True
        if not suppressed:
            kept.append(diagnostic)
    return kept


def _codes_match(codes: bytes | None, code: str) -> bool:
    if codes is None:
        return True
    return any(code.startswith(part.decode().upper()) for part in re.split(rb"[\s,]+", codes.strip()) if part)
