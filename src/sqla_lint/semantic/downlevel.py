"""Newer syntax rewritten into what CPython 3.11 parses, keeping every line where it was.

The project's Python is not the running interpreter's (SPEC.md, "Syntax"). When CPython
refuses a source that libcst parses, :func:`.parsing.cpython_tree` hands CPython this
module's rewrite of it instead, so that the fast stages (the project index, the screen)
see the same definitions, calls and names they would see under a newer interpreter. Only
the CPython tree is built from the rewrite: the rules and fixes always run on libcst's
tree of the real source.

Every rewrite keeps each line of code on its line, and the columns of the code that
matters (names, calls, values) wherever that is possible:

- PEP 695 ``type X[T] = value`` becomes ``X = value`` with the value where it was;
- PEP 695 type parameter lists of ``def`` and ``class`` are blanked: ``def f   (x)``;
- PEP 758 ``except A, B:`` becomes ``except(A, B):``;
- a PEP 701 f-string (or PEP 750 t-string) CPython refuses becomes a tuple of its
  replacement fields at their own positions: ``f"{d["k"]}!"`` becomes ``(  d["k"], )``,
  so the calls inside the fields are still seen. A concatenation holding one is one
  such tuple, of the fields of all its f-strings.

Blanked text keeps its line breaks, each preceded by a backslash, so that a blanked range
that spans lines (a type parameter list, a triple-quoted string) never ends a statement.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_STRINGS = (cst.FormattedString, cst.TemplatedString)
_FIELDS = (cst.FormattedStringExpression, cst.TemplatedStringExpression)


def down_level(module: cst.Module, text: str) -> str:
    """``text`` (the code of ``module``) with the constructs CPython 3.11 refuses rewritten."""
    collector = _Rewrites(text)
    MetadataWrapper(module, unsafe_skip_copy=True).visit(collector)
    pieces: list[str] = []
    done = 0
    for start, end, replacement in sorted(collector.edits):
        if start < done:
            continue  # inside a range already rewritten: an f-string in a blanked type parameter list
        pieces += (text[done:start], replacement)
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def blank(code: str) -> str:
    """``code`` as spaces, each line break kept behind a backslash."""
    return _LINE_BREAK.sub(lambda match: "\\" + match.group(), re.sub(r"[^\r\n]", " ", code))


class _Rewrites(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.line_starts = [0] + [match.end() for match in _LINE_BREAK.finditer(text)]
        self.edits: list[tuple[int, int, str]] = []
        self.rewritten: set[int] = set()  # ids of strings a concatenation already rewrote

    # -- positions -----------------------------------------------------------------------

    def _span(self, node: cst.CSTNode) -> tuple[int, int]:
        """Where ``node`` is in the text, as offsets; without its parentheses."""
        found = self.get_metadata(PositionProvider, node)
        assert isinstance(found, CodeRange)
        return self._offset(found.start.line, found.start.column), self._offset(found.end.line, found.end.column)

    def _offset(self, line: int, column: int) -> int:
        return self.line_starts[line - 1] + column

    def _blank(self, start: int, end: int) -> None:
        if start < end:
            self.edits.append((start, end, blank(self.text[start:end])))

    # -- PEP 695 -------------------------------------------------------------------------

    def visit_TypeAlias(self, node: cst.TypeAlias) -> None:
        start, _ = self._span(node)
        value, _ = self._span(node.value)
        head = self.text[start:value]  # "type X[T] = "
        equals = head.rindex("=")
        name = node.name.value
        self.edits.append((start, value, name + blank(head[len(name) : equals]) + head[equals:]))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.type_parameters is not None:
            self._blank(*self._span(node.type_parameters))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if node.type_parameters is not None:
            self._blank(*self._span(node.type_parameters))

    # -- PEP 758 -------------------------------------------------------------------------

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._parenthesize(node.type)

    def visit_ExceptStarHandler(self, node: cst.ExceptStarHandler) -> None:
        self._parenthesize(node.type)

    def _parenthesize(self, kind: cst.BaseExpression | None) -> None:
        if not isinstance(kind, cst.Tuple) or kind.lpar:
            return
        start, end = self._span(kind)
        if self.text[start - 1 : start] == " ":  # ``except(A, B)``: A and B keep their columns
            self.edits.append((start - 1, start, "("))
        else:
            self.edits.append((start, start, "("))
        self.edits.append((end, end, ")"))

    # -- PEP 701 and PEP 750 -------------------------------------------------------------

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> bool:
        if id(node) in self.rewritten or self._parses(node):
            return id(node) in self.rewritten
        parts = list(_concatenated(node))
        self.rewritten.update(id(part) for part in parts)
        self._as_tuple(node, [part for part in parts if isinstance(part, _STRINGS)])
        return True

    def visit_FormattedString(self, node: cst.FormattedString) -> bool:
        return self._string(node)

    def visit_TemplatedString(self, node: cst.TemplatedString) -> bool:
        return self._string(node)

    def _string(self, node: cst.FormattedString | cst.TemplatedString) -> bool:
        """Rewrites ``node`` if CPython refuses it; looks inside only then, for strings
        nested in its fields that CPython would refuse on their own."""
        if id(node) in self.rewritten:
            return True
        if self._parses(node):
            return False
        self._as_tuple(node, [node])
        return True

    def _parses(self, node: cst.BaseExpression) -> bool:
        start, end = self._span(node)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                compile("(" + self.text[start:end] + "\n)", "<string>", "eval", ast.PyCF_ONLY_AST, dont_inherit=True)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return False
        return True

    def _as_tuple(self, node: cst.BaseExpression, strings: list[cst.FormattedString | cst.TemplatedString]) -> None:
        """One tuple of the fields of ``strings`` in place of all of ``node`` (a
        concatenation is one tuple, not several, which would read as calls):
        ``f"a{x}b{y!r:>{w}}{d["k"]}"`` becomes ``(   x,  y,    w,  d["k"],)``. The comma
        goes right after each field's expression, where its ``}``, ``!``, ``:`` or ``=``
        is, or before a line break."""
        start, end = self._span(node)
        marks: list[tuple[int, int]] = []  # (start, end) of an expression to keep; (at, at) for a comma
        for string in strings:
            for field in _fields(string.parts):
                expression_start, expression_end = self._span(field.expression)
                marks += [(expression_start, expression_end), (expression_end, expression_end)]
        self.edits.append((start, start + 1, "("))
        done = start + 1
        for mark_start, mark_end in sorted(marks):
            self._blank(done, mark_start)
            if mark_start < mark_end:
                done = mark_end
            elif self.text[mark_start] in "\r\n":
                self.edits.append((mark_start, mark_start, ","))
                done = mark_start
            else:
                self.edits.append((mark_start, mark_start + 1, ","))
                done = mark_start + 1
        self._blank(done, end - 1)
        self.edits.append((end - 1, end, ")"))


def _concatenated(node: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
    """The strings of an implicit concatenation, nested ones included, left to right."""
    if isinstance(node, cst.ConcatenatedString):
        yield node
        yield from _concatenated(node.left)
        yield from _concatenated(node.right)
    else:
        yield node


def _fields(parts: object) -> Iterator[cst.FormattedStringExpression | cst.TemplatedStringExpression]:
    """The replacement fields of a string's parts, those nested in format specs included."""
    for part in parts or ():  # type: ignore[attr-defined]
        if isinstance(part, _FIELDS):
            yield part
            yield from _fields(part.format_spec)
