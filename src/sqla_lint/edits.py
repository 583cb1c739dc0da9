"""Text edits: derived from a rewritten tree, located by row and column, applied to text.

A fix is made in tree terms, and libcst renders the top-level statements it touches
again, reproducing every untouched node byte for byte; they are spliced into the original
text. The edit is the run of whole lines where the result differs, so nothing outside it
changes: not the BOM, the line endings, the tabs, the comments or the blank lines. Where
libcst does not reproduce a touched statement exactly (a form feed in its indentation),
there is no edit at all.

Rows and columns are 1-based, and columns count characters of the decoded line, as the
diagnostics' do. An edit that runs to the end of the file ends at (last row + 1, 1).
"""

from __future__ import annotations

import io
import re
import tokenize
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Set

import libcst as cst

from .diagnostics import Edit, Location

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def decode(data: bytes) -> tuple[str, str]:
    """A source file's text and its encoding, per PEP 263 and the BOM.

    Raises ``SyntaxError`` for an unknown coding cookie and ``UnicodeDecodeError`` for
    bytes that are not in the declared encoding."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding), encoding


class ModuleText:
    """A module's code, for rewriting a few statements of it.

    A rewrite changes nodes inside a few top-level statements, and libcst renders a
    top-level statement the same alone as in its module (there is no indentation around
    it). So only those statements are transformed (along the path to the replaced nodes)
    and rendered again, and spliced into the original text where their rendering matches
    it exactly; every other byte is the original's."""

    def __init__(self, module: cst.Module, text: str) -> None:
        self.module = module
        self.text = text
        self._starts = line_starts(text)

    def rewritten(
        self, replacements: Mapping[cst.CSTNode, object], path: Set[cst.CSTNode], rows: Mapping[cst.CSTNode, int]
    ) -> str | None:
        """The text with each node replaced (by a node, a FlattenSentinel or a RemovalSentinel).

        ``path`` holds the replaced nodes and all their ancestors; ``rows`` gives the row
        where each top-level statement on it starts. None when libcst does not reproduce
        those statements (or, failing that, the whole module) exactly."""
        pieces: list[str] = []
        position = 0
        for statement in self.module.body:
            if statement not in path:
                continue
            code = self.module.code_for_node(statement)
            start = self._find(code, rows[statement])
            if start is None or start < position:
                return self._whole_module(replacements, path)
            changed = statement.visit(_Replace(replacements, path))
            if isinstance(changed, cst.FlattenSentinel):
                nodes = list(changed.nodes)
            elif isinstance(changed, cst.RemovalSentinel):
                nodes = []
            else:
                nodes = [changed]
            pieces += [self.text[position:start], *(self.module.code_for_node(node) for node in nodes)]
            position = start + len(code)
        pieces.append(self.text[position:])
        return "".join(pieces)

    def _find(self, code: str, row: int) -> int | None:
        """Where ``code`` lies in the text, spanning ``row``; None if it does not."""
        start = self.text.find(code)
        while start >= 0:
            first = bisect_right(self._starts, start)
            last = bisect_right(self._starts, start + len(code) - 1)
            if first <= row <= last:
                return start
            start = self.text.find(code, start + 1)
        return None

    def _whole_module(self, replacements: Mapping[cst.CSTNode, object], path: Set[cst.CSTNode]) -> str | None:
        if self.module.code != self.text:
            return None
        return self.module.visit(_Replace(replacements, path)).code


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


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in _LINE_BREAK.split(text))


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
    """Replaces nodes, visiting only the path down to them: a libcst transform rebuilds
    every node it visits, so the rest of the tree is left as it is."""

    def __init__(self, replacements: Mapping[cst.CSTNode, object], path: Set[cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements
        self.path = path

    def on_visit(self, node: cst.CSTNode) -> bool:
        return node in self.path and node not in self.replacements

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> object:  # type: ignore[override]
        return self.replacements.get(original_node, updated_node)
