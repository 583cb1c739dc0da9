"""Runs one file through the rules: parse once, model once, every enabled rule, positions last.

A file the prefilter proves cannot produce a finding is never parsed with libcst (see
:mod:`.prefilter`). Positions cost a code-generation pass in libcst, so they are
resolved only for files that have findings, and only in the top-level statements that
hold findings or fixes; fixes re-render only the statements they touch. A file that
does not parse is a finding (SQA001), never an exception.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst
from libcst.metadata import CodeRange

from .diagnostics import Diagnostic, FileResult, Fix, Location
from .edits import ModuleText, decode, edits_between
from .noqa import apply_noqa
from .positions import positions_of
from .prefilter import Prefilter, may_use_known_api, parses
from .rules import RULES_BY_CODE, Finding, Rule, RuleContext
from .rules.base import Rewrite
from .semantic import ModuleModel
from .semantic.parsing import MAX_SOURCE_BYTES, Unparsable, cpython_tree, parse_vetted, vetted
from .semantic.project import module_name_for
from .settings import SYNTAX_ERROR_CODE, Settings

if TYPE_CHECKING:
    from .semantic.index import ProjectIndex


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


def might_have_findings(
    source: bytes, settings: Settings, index: ProjectIndex | None = None, tree: ast.Module | None = None, path: str = ""
) -> bool:
    """False only when no rule can fire on ``source`` and it parses (see :mod:`.prefilter`).

    With a project index, a file that refers through its imports to a project name bound
    to something the rules track is analysed too: ``from app.db import SessionLocal``
    needs no SQLAlchemy import in the file itself. ``path`` places relative imports.
    """
    content = _content_hash(source) if index is not None else ""
    return _screen(source, settings, index, tree, path, module_name_for(path), content)[0]


def _screen(
    source: bytes, settings: Settings, index: ProjectIndex | None, tree: ast.Module | None, path: str, module: str, content: str
) -> tuple[bool, ast.Module | None]:
    """:func:`might_have_findings`, and CPython's tree when it took one: the prefilter's
    tree stage, the index's name test and the parser's syntax check then share one parse.
    A file the index build parsed already needs none: its verdict is in the index."""
    if index is not None:
        known = index.screen(content, module)
        if known is not None:
            verdict, referenced = known
            if verdict or referenced is None:
                return True, tree
            return index.used_by(source, module, Path(path).name == "__init__.py", referenced=referenced), tree
        if (content, module) in index.ruled_out:
            return SYNTAX_ERROR_CODE in settings.enabled and tree is None and not parses(source), tree
    if tree is None and (may_use_known_api(source) or (index is not None and index.might_be_used_by(source))):
        tree = cpython_tree(source)
    if prefilter_for(settings).needs_analysis(source, tree, check_syntax=SYNTAX_ERROR_CODE in settings.enabled):
        return True, tree
    used = index is not None and index.used_by(source, module, Path(path).name == "__init__.py", tree)
    return used, tree


def _content_hash(source: bytes) -> str:
    from .cache import content_hash

    return content_hash(source)


def lint_source(
    source: bytes | str,
    path: str,
    settings: Settings,
    index: ProjectIndex | None = None,
    *,
    tree: ast.Module | None = None,
) -> FileResult:
    """Lint one file's contents. Never raises for bad input; errors become findings.

    With a project ``index``, names imported from other modules of the project resolve
    to what those modules bind. ``tree`` is CPython's parse of the same source, when the
    caller (flake8) already has one.
    """
    data = source.encode("utf-8") if isinstance(source, str) else source
    if len(data) > MAX_SOURCE_BYTES:
        return FileResult(path, skipped=f"{len(data) / (1 << 20):.1f} MiB is over the {MAX_SOURCE_BYTES >> 20} MiB size limit")
    module = module_name_for(path)
    content = _content_hash(data) if index is not None else ""  # once: the screen and the own-facts step key on it
    if settings.prefilter:
        needed, tree = _screen(data, settings, index, tree, path, module, content)
        if not needed and _decodes(data):
            return FileResult(path)
    module_name, is_package = module or "__module__", Path(path).name == "__init__.py"
    try:
        text = vetted(source, tree)
        index = _with_own_facts(index, data, tree, module_name, is_package, settings, path, content)
        del tree  # CPython's tree must not outlive the start of libcst's (see vetted)
        module = parse_vetted(source, text)
    except Unparsable as error:
        return FileResult(path, _syntax_error(path, error.row, error.column, error.message, settings))
    codes = _enabled_for_path(settings, path)
    if not codes:
        return FileResult(path)
    try:
        model = ModuleModel(module, module_name, settings.factories, index, is_package=is_package)
        findings = _run_rules(model, codes)
        diagnostics = _to_diagnostics(model, findings, path, data) if findings else []
    except RecursionError:
        return FileResult(path, _syntax_error(path, 1, 1, "file is nested too deeply to analyse", settings))
    if not diagnostics:
        return FileResult(path)
    if settings.respect_noqa:
        diagnostics = apply_noqa(diagnostics, data)
    return FileResult(path, tuple(sorted(diagnostics, key=Diagnostic.sort_key)))


def _with_own_facts(
    index: ProjectIndex | None,
    data: bytes,
    tree: ast.Module | None,
    module_name: str,
    is_package: bool,
    settings: Settings,
    path: str,
    content: str,
) -> ProjectIndex | None:
    """The project index, with this module's own facts in it (see ``ProjectIndex.of_module``)."""
    from .semantic.summaries import module_summary
    from .semantic.index import ProjectIndex

    if index is not None and module_name in index.modules:
        if index.screen(content, module_name) is not None:
            return index  # the build parsed this very text, and its facts are in the index
    if tree is None:
        tree = cpython_tree(data)
    if tree is None:
        return index
    packages = index.packages if index is not None else frozenset({module_name.partition(".")[0]})
    summary = module_summary(tree, module_name, packages | {module_name.partition(".")[0]}, settings.factories, is_package)
    if summary is None:
        return index
    return ProjectIndex.of_module(Path(path).parent, summary, index)


def _decodes(data: bytes) -> bool:
    """CPython skips decoding comments on the first lines, so a file it parses may still hold
    bytes outside its encoding; such a file takes the full path, which reports it (SQA001)."""
    try:
        decode(data)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return False
    return True


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
        absolute = Path(path).resolve().as_posix()  # patterns from a config are anchored at its directory
        for pattern, codes in settings.per_file_ignores:
            if fnmatch(absolute, pattern) or fnmatch(posix, pattern) or fnmatch(Path(path).name, pattern) or fnmatch(posix, f"*/{pattern}"):
                ignored |= codes
    return tuple(code for code in settings.enabled_rules if code not in ignored)


def _to_diagnostics(model: ModuleModel, findings: list[tuple[str, Finding]], path: str, data: bytes) -> list[Diagnostic]:
    top_level = set(model.module.body)
    wanted = [node for _, finding in findings for node in (finding.node, model.tree.statement_of(finding.node))]
    for _, finding in findings:
        if finding.fix is not None:
            for node in dict(finding.fix.replacements):
                wanted.extend(a for a in (node, *model.tree.ancestors(node)) if a in top_level)
    positions = positions_of(model.module, model.tree, wanted)
    fixes = _Fixes(model, data, positions)
    diagnostics = []
    seen: set[tuple[str, int]] = set()
    for code, finding in findings:
        key = (code, id(finding.node))
        if key in seen:
            continue
        seen.add(key)
        span = positions[finding.node]
        statement = positions[model.tree.statement_of(finding.node)].start
        # Report on the line where a user would put `# noqa`: the statement's first line,
        # unless the node starts even earlier (a decorator, for SQA402).
        start = span.start if span.start.line <= statement.line else statement
        diagnostics.append(
            Diagnostic(
                code=code,
                message=finding.message,
                path=path,
                location=Location(start.line, start.column + 1),
                end_location=Location(span.end.line, span.end.column + 1),
                fix=fixes.fix_for(finding.fix) if finding.fix is not None else None,
                statement_row=start.line,
            )
        )
    return diagnostics


class _Fixes:
    """Turns rules' rewrites into text edits for one file, each rewrite once.

    Only the top-level statements a fix touches are rendered again, each matched exactly
    against the original text, so every other byte stays as it was; where that fails,
    the whole module is regenerated, and only if libcst reproduces the file exactly.
    Otherwise no fix is offered."""

    def __init__(self, model: ModuleModel, data: bytes, positions: Mapping[cst.CSTNode, CodeRange]) -> None:
        self.model = model
        self.data = data
        self.positions = positions
        self._text: ModuleText | None = None
        self._checked = False
        self._made: dict[int, Fix | None] = {}

    def fix_for(self, rewrite: Rewrite) -> Fix | None:
        if id(rewrite) not in self._made:
            text = self._module_text()
            fix = None
            if text is not None:
                replacements = dict(rewrite.replacements)
                path = set(replacements)
                for node in replacements:
                    path.update(self.model.tree.ancestors(node))
                rows = {statement: self.positions[statement].start.line for statement in self.model.module.body if statement in path}
                new = text.rewritten(replacements, path, rows)
                edits = edits_between(text.text, new) if new is not None else ()
                fix = Fix(rewrite.applicability, rewrite.message, edits) if edits else None
            self._made[id(rewrite)] = fix
        return self._made[id(rewrite)]

    def _module_text(self) -> ModuleText | None:
        if not self._checked:
            self._checked = True
            try:
                self._text = ModuleText(self.model.module, decode(self.data)[0])
            except (SyntaxError, UnicodeDecodeError, LookupError):
                self._text = None
        return self._text


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


