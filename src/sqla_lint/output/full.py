"""Each finding with its source line, a caret under the reported span, and the fix if any,
shown as the lines it removes (``-``) and adds (``+``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from ..diagnostics import Diagnostic, Edit
from .concise import format_line

if TYPE_CHECKING:
    from . import RenderContext


def render(diagnostics: list[Diagnostic], stream: TextIO, context: RenderContext) -> None:
    for diagnostic in diagnostics:
        stream.write(format_line(diagnostic) + "\n")
        row = diagnostic.location.row
        line = context.line(diagnostic.path, row)
        if line is not None:
            gutter = f"{row:>5} | "
            stream.write(f"{gutter}{line}\n")
            start = diagnostic.location.column - 1
            if diagnostic.end_location.row == row:
                width = max(diagnostic.end_location.column - diagnostic.location.column, 1)
            else:
                width = max(len(line) - start, 1)
            stream.write(" " * (len(gutter) - 2) + "| " + " " * start + "^" * width + "\n")
        if diagnostic.fix is not None:
            stream.write(f"  = fix ({diagnostic.fix.applicability.value}): {diagnostic.fix.message}\n")
            for edit in diagnostic.fix.edits:
                stream.write(_edit_lines(edit, context, diagnostic.path))
        stream.write("\n")


def _edit_lines(edit: Edit, context: RenderContext, path: str) -> str:
    """The lines an edit replaces and the lines it puts in their place."""
    first, last = edit.location.row, edit.end_location.row
    if edit.end_location.column == 1 and last > first:
        last -= 1
    removed = [context.line(path, row) for row in range(first, last + 1)]
    if any(line is None for line in removed) and edit.location != edit.end_location:
        return ""
    before = (removed[0] or "")[: edit.location.column - 1] if removed else ""
    after = ""
    if edit.end_location.column > 1 and removed:
        after = (removed[-1] or "")[edit.end_location.column - 1 :]
    added = (before + edit.content + after).splitlines()
    if edit.location == edit.end_location:
        removed = []
    out = [f"{row:>5} - {line}\n" for row, line in zip(range(first, last + 1), removed)]
    out += [f"{first + index:>5} + {line}\n" for index, line in enumerate(added)]
    return "".join(out)
