"""Output formats. Each module renders a finished run; the CLI picks one by name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..diagnostics import Diagnostic
from ..fingerprints import Anchor, SourceIndex
from . import concise, full, github, gitlab, json_format, json_lines, junit, sarif

Renderer = Callable[[list[Diagnostic], TextIO, "RenderContext"], None]


class RenderContext:
    """What renderers may need besides the findings: file contents, and where paths start."""

    def __init__(self, sources: dict[str, bytes] | None = None, root: Path | None = None) -> None:
        self.sources = sources or {}
        self.root = (root or Path.cwd()).absolute()
        self._indexes: dict[str, SourceIndex] = {}

    def line(self, path: str, row: int) -> str | None:
        data = self.sources.get(path)
        if data is None:
            return None
        lines = data.decode("utf-8", errors="replace").splitlines()
        return lines[row - 1] if 0 < row <= len(lines) else None

    def relative(self, path: str) -> str:
        """``path`` relative to the root, with ``/`` separators; absolute if it is outside."""
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            return absolute.as_posix()

    def anchor(self, diagnostic: Diagnostic) -> Anchor:
        index = self._indexes.get(diagnostic.path)
        if index is None:
            index = self._indexes[diagnostic.path] = SourceIndex(self.sources.get(diagnostic.path, b""))
        return index.anchor(diagnostic.location.row)


FORMATS: dict[str, Renderer] = {
    "concise": concise.render,
    "full": full.render,
    "json": json_format.render,
    "json-lines": json_lines.render,
    "github": github.render,
    "sarif": sarif.render,
    "gitlab": gitlab.render,
    "junit": junit.render,
}

# Formats that read the linted files (excerpts or fingerprints), so the CLI loads them.
NEEDS_SOURCES = frozenset({"full", "sarif", "gitlab"})

__all__ = ["FORMATS", "NEEDS_SOURCES", "RenderContext", "Renderer"]
