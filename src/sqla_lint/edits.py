"""Text edits: derived from a rewritten tree, located by row and column, applied to text.

A fix is made in tree terms, and libcst regenerates the module, reproducing every
untouched node byte for byte. The edit is the run of whole lines where the regenerated
text differs, so nothing outside it changes: not the BOM, the line endings, the tabs, the
comments or the blank lines. Files libcst does not reproduce exactly (a lone ``\\r`` as a
line break, a form feed) get no edits at all.

Rows and columns are 1-based, and columns count characters of the decoded line, as the
diagnostics' do. An edit that runs to the end of the file ends at (last row + 1, 1).
"""

from __future__ import annotations

import io
import re
import tokenize
from bisect import bisect_right
from collections.abc import Iterable, Mapping

import libcst as cst

from .diagnostics import Edit, Location

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def decode(data: bytes) -> tuple[str, str]:
    """A source file's text and its encoding, per PEP 263 and the BOM.

    Raises ``SyntaxError`` for an unknown coding cookie and ``UnicodeDecodeError`` for
    bytes that are not in the declared encoding."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding), encoding


def rewritten(module: cst.Module, replacements: Mapping[cst.CSTNode, object]) -> str:
    """The module's code with each node replaced (by a node, a FlattenSentinel or a RemovalSentinel)."""
    return module.visit(_Replace(replacements)).code


def edits_between(old: str, new: str) -> tuple[Edit, ...]:
    """One edit replacing the whole lines of ``old`` where ``new`` differs (none if equal)."""
    if old == new:
        return ()
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    suffix = 0
    while suffix < limit - start and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    starts = line_starts(old)
    first = starts[bisect_right(starts, start) - 1]
    end = len(old) - suffix
    # Widen to whole lines of both texts: re-indenting makes the common suffix start
    # inside a line of ``new`` even where it starts a line of ``old``.
    while True:
        end_row = bisect_right(starts, end) - 1
        if starts[end_row] != end:
            end = starts[end_row + 1] if end_row + 1 < len(starts) else len(old)
        boundary = len(new) - (len(old) - end)
        if end == len(old) or _starts_line(new, boundary):
            break
        end += 1
    content = new[first:boundary]
    return (Edit(content, location(starts, first), location(starts, end)),)


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with non-overlapping ``edits`` applied (``ValueError`` if they overlap)."""
    starts = line_starts(text)
    spans = sorted((offset(starts, e.location), offset(starts, e.end_location), e.content) for e in edits)
    pieces: list[str] = []
    position = 0
    for begin, finish, content in spans:
        if begin < position or finish < begin:
            raise ValueError("edits overlap")
        pieces += [text[position:begin], content]
        position = finish
    pieces.append(text[position:])
    return "".join(pieces)


def line_starts(text: str) -> list[int]:
    """The offset where each line begins; a final line break starts one more, empty line."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(text))]


def _starts_line(text: str, position: int) -> bool:
    if position == 0:
        return True
    before = text[position - 1]
    return before == "\n" or (before == "\r" and text[position : position + 1] != "\n")


def location(starts: list[int], position: int) -> Location:
    row = bisect_right(starts, position) - 1
    return Location(row + 1, position - starts[row] + 1)


def offset(starts: list[int], where: Location) -> int:
    """The character offset of a location (``ValueError`` if it is not in the text)."""
    if not 1 <= where.row <= len(starts) or where.column < 1:
        raise ValueError(f"location {where.row}:{where.column} is outside the text")
    return starts[where.row - 1] + where.column - 1


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: Mapping[cst.CSTNode, object]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> object:  # type: ignore[override]
        return self.replacements.get(original_node, updated_node)
