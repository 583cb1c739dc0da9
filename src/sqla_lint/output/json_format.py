"""A ruff-style JSON array: code, message, filename, location, end_location, fix, url."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from .. import HOMEPAGE
from ..diagnostics import Diagnostic, Location

if TYPE_CHECKING:
    from . import RenderContext

DOCS_URL = HOMEPAGE + "/blob/main/docs/rules/{code}.md"


def _location(location: Location) -> dict[str, int]:
    return {"row": location.row, "column": location.column}


def as_dict(diagnostic: Diagnostic) -> dict[str, Any]:
    fix = None
    if diagnostic.fix is not None:
        fix = {
            "applicability": diagnostic.fix.applicability.value,
            "message": diagnostic.fix.message,
            "edits": [
                {
                    "content": edit.content,
                    "location": _location(edit.location),
                    "end_location": _location(edit.end_location),
                }
                for edit in diagnostic.fix.edits
            ],
        }
    return {
        "code": diagnostic.code,
        "message": diagnostic.message,
        "filename": diagnostic.path,
        "location": _location(diagnostic.location),
        "end_location": _location(diagnostic.end_location),
        "fix": fix,
        "url": DOCS_URL.format(code=diagnostic.code),
        "noqa_row": diagnostic.statement_row or diagnostic.location.row,
    }


def render(diagnostics: list[Diagnostic], stream: TextIO, context: RenderContext) -> None:
    json.dump([as_dict(d) for d in diagnostics], stream, indent=2)
    stream.write("\n")
