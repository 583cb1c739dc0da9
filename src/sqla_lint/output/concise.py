"""``path:row:col: CODE message``, one finding per line (the default, as in ruff)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from ..diagnostics import Diagnostic

if TYPE_CHECKING:
    from . import RenderContext


def format_line(diagnostic: Diagnostic) -> str:
    location = diagnostic.location
    return f"{diagnostic.path}:{location.row}:{location.column}: {diagnostic.code} {diagnostic.message}"


def render(diagnostics: list[Diagnostic], stream: TextIO, context: RenderContext) -> None:
    for diagnostic in diagnostics:
        stream.write(format_line(diagnostic) + "\n")
