"""GitHub Actions workflow commands: each finding becomes an annotation on the PR diff.

Values are escaped as the runner expects (``%``, CR and LF in the message; also ``:`` and
``,`` in properties), and ``col`` / ``endColumn`` are given only when the finding sits on
one line, because the runner ignores columns on multi-line annotations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from ..diagnostics import Diagnostic

if TYPE_CHECKING:
    from . import RenderContext


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_command(diagnostic: Diagnostic, path: str) -> str:
    start, end = diagnostic.location, diagnostic.end_location
    properties = [
        ("title", f"sqla-lint ({diagnostic.code})"),
        ("file", path),
        ("line", str(start.row)),
        ("endLine", str(max(end.row, start.row))),
    ]
    if end.row == start.row:
        properties += [("col", str(start.column)), ("endColumn", str(max(end.column, start.column)))]
    joined = ",".join(f"{key}={escape_property(value)}" for key, value in properties)
    message = f"{path}:{start.row}:{start.column}: {diagnostic.code} {diagnostic.message}"
    return f"::error {joined}::{escape_data(message)}"


def render(diagnostics: list[Diagnostic], stream: TextIO, context: RenderContext) -> None:
    for diagnostic in diagnostics:
        stream.write(format_command(diagnostic, context.relative(diagnostic.path)) + "\n")
