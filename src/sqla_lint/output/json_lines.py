"""One JSON object per line, the same objects as ``json``: easy to stream and to grep."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

from ..diagnostics import Diagnostic
from .json_format import as_dict

if TYPE_CHECKING:
    from . import RenderContext


def render(diagnostics: list[Diagnostic], stream: TextIO, context: RenderContext) -> None:
    for diagnostic in diagnostics:
        stream.write(json.dumps(as_dict(diagnostic), ensure_ascii=False) + "\n")
