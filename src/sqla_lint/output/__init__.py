"""Output formats. Each module renders a finished run; the CLI picks one by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from ..diagnostics import Diagnostic
from . import concise, full, json_format

Renderer = Callable[[list[Diagnostic], TextIO, "RenderContext"], None]


class RenderContext:
    """What renderers may need besides the findings: file contents for excerpts."""

    def __init__(self, sources: dict[str, bytes] | None = None) -> None:
        self.sources = sources or {}

    def line(self, path: str, row: int) -> str | None:
        data = self.sources.get(path)
        if data is None:
            return None
        lines = data.decode("utf-8", errors="replace").splitlines()
        return lines[row - 1] if 0 < row <= len(lines) else None


FORMATS: dict[str, Renderer] = {
    "concise": concise.render,
    "full": full.render,
    "json": json_format.render,
}

__all__ = ["FORMATS", "RenderContext", "Renderer"]
