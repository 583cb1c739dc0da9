"""The flake8 front end, registered under the ``SQA`` entry point.

As in flake8-async, the plugin parses ``"".join(lines)`` with libcst and never rereads the
file, so stdin works. flake8's ``tree`` (CPython's parse of the same lines) feeds the
prefilter, so a file that cannot produce a finding costs the plugin no parse at all.
The garbage collector is paused while the plugin runs: the plugin's short-lived trees
otherwise trigger collections that walk everything flake8 holds, which doubled the
plugin's cost on a large project. And once options are parsed, the heap built so far
(imports, libcst's among them) is frozen out of collection: every full collection during
flake8's run would otherwise walk libcst's module objects again.
flake8 owns ``noqa``, ``--select`` and ``--ignore``; autofix is a CLI-only feature.
"""

from __future__ import annotations

import ast
import gc
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from . import __version__
from .engine import lint_source
from .semantic import FactoryConfig
from .settings import Settings


class SqlaLintPlugin:
    name = "sqla-lint"
    version = __version__

    settings = Settings(respect_noqa=False)

    def __init__(self, tree: ast.AST, lines: list[str], filename: str = "stdin") -> None:
        self._tree = tree
        self._lines = lines
        self._filename = filename

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        for option, what in (
            ("--sqla-session-factories", "functions that return a new session"),
            ("--sqla-engine-factories", "functions that return a new engine"),
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
        )
        cls.settings = replace(cls.settings, factories=factories)
        gc.freeze()  # once per process, before flake8 forks its workers

    def run(self) -> Iterator[tuple[int, int, str, type[Any]]]:
        tree = self._tree if isinstance(self._tree, ast.Module) else None
        collecting = gc.isenabled()
        gc.disable()
        try:
            result = lint_source("".join(self._lines), self._filename, self.settings, tree=tree)
        finally:
            if collecting:
                gc.enable()
        for diagnostic in result.diagnostics:
            yield (
                diagnostic.location.row,
                diagnostic.location.column - 1,
                f"{diagnostic.code} {diagnostic.message}",
                type(self),
            )
