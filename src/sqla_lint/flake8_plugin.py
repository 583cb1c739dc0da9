"""The flake8 front end, registered under the ``SQA`` entry point.

As in flake8-async, the plugin accepts ``tree`` only so flake8 runs it once per file; it
parses ``"".join(lines)`` with libcst and never rereads the file, so stdin works.
flake8 owns ``noqa``, ``--select`` and ``--ignore``; autofix is a CLI-only feature.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__
from .engine import lint_source
from .semantic import FactoryConfig
from .semantic.index import ProjectIndex, build_index, find_project_root
from .settings import Settings

# flake8 lints file by file, in several processes; each process builds (or loads from the
# on-disk cache) the index of a project once.
_indexes: dict[Path, ProjectIndex] = {}


def _index_for(filename: str, settings: Settings) -> ProjectIndex | None:
    location = Path.cwd() if filename in ("stdin", "-") else Path(filename).parent
    root = find_project_root(location)
    if root is None:
        return None
    if root not in _indexes:
        _indexes[root] = build_index(root, settings.factories, settings.exclude, use_cache=settings.cache)
    return _indexes[root]


class SqlaLintPlugin:
    name = "sqla-lint"
    version = __version__

    settings = Settings(respect_noqa=False)

    def __init__(self, tree: ast.AST, lines: list[str], filename: str = "stdin") -> None:
        self._lines = lines
        self._filename = filename

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        for option, what in (
            ("--sqla-session-factories", "functions that return a new session"),
            ("--sqla-engine-factories", "functions that return a new engine"),
            ("--sqla-called-once", "functions that run once per process"),
        ):
            option_manager.add_option(
                option,
                default="",
                parse_from_config=True,
                comma_separated_list=True,
                help=f"sqla-lint: comma-separated names of {what} (dotted or bare).",
            )

    @classmethod
    def parse_options(cls, options: Any) -> None:
        factories = FactoryConfig(
            session_factories=frozenset(options.sqla_session_factories or ()),
            engine_factories=frozenset(options.sqla_engine_factories or ()),
            called_once=frozenset(options.sqla_called_once or ()),
        )
        cls.settings = replace(cls.settings, factories=factories)

    def run(self) -> Iterator[tuple[int, int, str, type[Any]]]:
        index = _index_for(self._filename, self.settings) if self.settings.project_index else None
        result = lint_source("".join(self._lines), self._filename, self.settings, index)
        for diagnostic in result.diagnostics:
            yield (
                diagnostic.location.row,
                diagnostic.location.column - 1,
                f"{diagnostic.code} {diagnostic.message}",
                type(self),
            )
