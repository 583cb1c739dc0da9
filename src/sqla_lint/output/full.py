"""Each finding with its source line, a caret under the reported span, and the fix if any."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from ..diagnostics import Diagnostic
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
        stream.write("\n")
