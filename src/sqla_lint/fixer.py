"""Applies fixes to a file: in passes, as ruff does, and writes the result atomically.

Each pass lints the current text and applies every allowed fix whose edits do not
overlap an edit already taken in that pass; the next pass lints the result, so a fix
skipped for an overlap is recomputed against the new text. It stops when nothing is
left to fix; fixes still going after ``MAX_PASSES`` are a bug, and none of them is kept.
Findings that share one fix (one ``finally`` giving back two engines) have identical
edits; those are applied once and count for each finding. A pass after which Python would no longer compile the file is undone and
reported, never written.

A file is written only when its bytes changed: to a temporary file in the same
directory, then renamed over the original, with the original's permission bits. If the
file changed on disk since it was read, or this process may not write it, it is left
alone and the run reports it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from .discovery import UnreadableError, read_source
from .diagnostics import Applicability, Diagnostic, Edit, FileResult, Fix
from .edits import apply_edits, decode, line_starts, offset
from .engine import lint_source
from .semantic.index import ProjectIndex
from .semantic.parsing import newer_syntax_tree
from .settings import Settings

MAX_PASSES = 100


@dataclass(frozen=True)
class FixedSource:
    """A source after fixing: its bytes, what remains, and the code of each finding fixed."""

    source: bytes
    result: FileResult
    fixed: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class FileFix:
    """What fixing one file did. ``original``/``source`` are set only when it changed."""

    path: str
    result: FileResult
    fixed: tuple[str, ...] = ()
    original: bytes | None = None
    source: bytes | None = None
    error: str | None = None

    @classmethod
    def of(cls, path: str, original: bytes, outcome: FixedSource) -> FileFix:
        if outcome.source == original:
            return cls(path, outcome.result, outcome.fixed, error=outcome.error)
        return cls(path, outcome.result, outcome.fixed, original, outcome.source, outcome.error)


class WriteError(Exception):
    """The fixed file could not be written; the message says why."""


def applies(fix: Fix, unsafe: bool) -> bool:
    return fix.applicability is Applicability.SAFE or unsafe


def fix_source(
    data: bytes, path: str, settings: Settings, *, unsafe: bool = False, index: ProjectIndex | None = None
) -> FixedSource:
    """Fix one file's contents in memory."""
    current = data
    fixed: list[str] = []
    original_compiles: bool | None = None
    for _ in range(MAX_PASSES):
        result = lint_source(current, path, settings, index)
        fixable = [d for d in result.diagnostics if d.fix is not None and applies(d.fix, unsafe)]
        if not fixable:
            return FixedSource(current, result, tuple(fixed))
        try:
            text, encoding = decode(current)
            candidate = apply_fixes(text, fixable)
            changed = candidate.text.encode(encoding)
        except (SyntaxError, UnicodeError, ValueError) as error:
            return FixedSource(current, result, tuple(fixed), f"fixes not applied: {error}")
        if original_compiles is None:
            original_compiles = _compiles(data, path) or _newer_python_parses(data)
        codes = ", ".join(sorted({d.code for d in candidate.applied}))
        if changed == current:
            return FixedSource(current, result, tuple(fixed), f"fixes for {codes} changed nothing (a bug; please report it)")
        if original_compiles and not (_compiles(changed, path) or _newer_python_parses(changed)):
            return FixedSource(
                current, result, tuple(fixed), f"fixes for {codes} not applied: the result would not compile (a bug; please report it)"
            )
        fixed += [d.code for d in candidate.applied]
        current = changed
    # Fixes that keep finding more to fix are a bug in a rule: a file they half-rewrote is
    # worse than the file as it was, so nothing of theirs is kept.
    result = lint_source(data, path, settings, index)
    return FixedSource(
        data, result, (), f"fixes did not converge after {MAX_PASSES} passes, so none were applied (a bug; please report it)"
    )


@dataclass(frozen=True)
class _Pass:
    text: str
    applied: tuple[Diagnostic, ...]


def apply_fixes(text: str, diagnostics: Iterable[Diagnostic]) -> _Pass:
    """Apply the fixes of ``diagnostics`` that do not overlap, earliest first."""
    starts = line_starts(text)

    def span(edit: Edit) -> tuple[int, int]:
        return offset(starts, edit.location), offset(starts, edit.end_location)

    with_fixes = [d for d in diagnostics if d.fix is not None and d.fix.edits]
    with_fixes.sort(key=lambda d: min(span(e) for e in d.fix.edits))  # type: ignore[union-attr]
    taken: set[Edit] = set()
    applied: list[Diagnostic] = []
    end = 0
    for diagnostic in with_fixes:
        assert diagnostic.fix is not None
        edits = sorted(diagnostic.fix.edits, key=span)
        if all(edit in taken for edit in edits):
            applied.append(diagnostic)
            continue
        position = end
        for edit in edits:
            begin, finish = span(edit)
            if begin < position:
                break
            position = finish
        else:
            taken.update(edits)
            applied.append(diagnostic)
            end = position
    return _Pass(apply_edits(text, taken), tuple(applied))


def fix_file(
    path: Path, settings: Settings, *, unsafe: bool = False, write: bool = True, index: ProjectIndex | None = None
) -> FileFix:
    """Fix one file, and write it back when it changed and ``write`` is set."""
    try:
        data = read_source(path)  # regular files only: a FIFO named *.py would block
    except UnreadableError as error:
        return FileFix(str(path), FileResult(str(path), error=str(error)))
    outcome = fix_source(data, str(path), settings, unsafe=unsafe, index=index)
    if write and outcome.source != data:
        try:
            write_atomically(path, outcome.source, expected=data)
        except WriteError as error:
            return FileFix(str(path), lint_source(data, str(path), settings, index), error=str(error))
    return FileFix.of(str(path), data, outcome)


def write_atomically(path: Path, data: bytes, *, expected: bytes) -> None:
    """Replace ``path``'s contents with ``data``, unless they are no longer ``expected``.

    A symlink is followed, so the file it points to is replaced and the link kept.

    A file we may not write is left alone and reported, as a plain write would fail on
    it (ruff's and black's do). The rename needs only a writable directory, so without
    the check a read-only file (``chmod 0444``, a locked checkout) was silently replaced."""
    target = Path(os.path.realpath(path))
    try:
        if target.read_bytes() != expected:
            raise WriteError("changed on disk while it was being fixed; not overwritten")
        _check_writable(target)
        mode = stat.S_IMODE(target.stat().st_mode)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".sqla-lint.tmp")
    except OSError as error:
        raise WriteError(f"cannot write fixed file: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as error:
        with suppress(OSError):
            os.unlink(temporary)
        raise WriteError(f"cannot write fixed file: {error.strerror or error}") from None


def _check_writable(target: Path) -> None:
    """Raise ``OSError`` unless this process may write ``target`` in place: opened for
    writing (not truncated, nothing written), so the kernel decides with everything it
    knows (mode, owner, ACLs, capabilities, a read-only mount)."""
    os.close(os.open(target, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0)))


def _newer_python_parses(data: bytes) -> bool:
    """Whether ``data`` is newer Python than this interpreter's that libcst parses: such a
    file does not compile here, and its fixed text must still parse."""
    return newer_syntax_tree(data) is not None


def _compiles(data: bytes, path: str) -> bool:
    """Whether Python compiles the source: stricter than parsing (``await`` outside
    ``async def``, ``return`` outside a function)."""
    try:
        compile(data, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True
