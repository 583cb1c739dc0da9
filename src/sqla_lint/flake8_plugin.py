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

Preview rules: flake8's ``--select SQA`` cannot say "and the preview rules too", so a preview
rule runs under flake8 with ``--sqla-preview`` (or ``sqla-preview = true`` in flake8's
config), with ``preview = true`` in the ``[tool.sqla-lint]`` table that governs the file, or
when flake8's own ``--select`` / ``--extend-select`` names its exact code
(``--select SQA504``), as the CLI does. flake8 then still filters what is reported.

The rule knobs (``session-factories``, ``engine-factories``, ``called-once``) are also read from the
``[tool.sqla-lint]`` table that governs each file, exactly as the CLI finds it, and added
to flake8's ``--sqla-*`` options, so a team writes them once and both front ends agree.
"""

from __future__ import annotations

import ast
import gc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__
from .config import ConfigResolver, Overrides
from .engine import lint_source
from .indexing import build_index
from .semantic.index import ProjectIndex
from .semantic.project import FactoryConfig, find_project_root
from .settings import Settings, exact_codes, gate_preview

# flake8 lints file by file, in several processes; each process builds (or loads from the
# on-disk cache) the index of a project once.
_indexes: dict[Path, ProjectIndex] = {}


def _index_for(filename: str, settings: Settings) -> ProjectIndex | None:
    location = Path.cwd() if filename in ("stdin", "-") else Path(filename).parent
    root = find_project_root(location)
    if root is None:
        return None
    if root not in _indexes:
        from .deployment import attach_deployment

        _indexes[root] = attach_deployment(build_index(root, settings.factories, settings.exclude, use_cache=settings.cache), settings)
    return _indexes[root]


class SqlaLintPlugin:
    name = "sqla-lint"
    version = __version__

    settings = Settings(respect_noqa=False)
    _preview = False
    _exact_codes: frozenset[str] = frozenset()
    _resolver = ConfigResolver(Overrides())
    _by_config: dict[Path | None, Settings] = {}

    def __init__(self, tree: ast.AST, lines: list[str], filename: str = "stdin") -> None:
        self._tree = tree
        self._lines = lines
        self._filename = filename
        # Resolved here, not in run(): flake8 reports an exception raised while the plugin
        # is constructed as one clear "failed during execution" line, not a traceback.
        self._settings = self.settings_for(filename)

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
        option_manager.add_option(
            "--sqla-preview",
            action="store_true",
            default=False,
            parse_from_config=True,
            help="sqla-lint: run the rules in preview too (one also runs when --select names its exact code).",
        )

    @classmethod
    def parse_options(cls, options: Any) -> None:
        factories = FactoryConfig(
            session_factories=frozenset(options.sqla_session_factories or ()),
            engine_factories=frozenset(options.sqla_engine_factories or ()),
            called_once=frozenset(options.sqla_called_once or ()),
        )
        cls.settings = replace(cls.settings, factories=factories)
        cls._preview = bool(getattr(options, "sqla_preview", False))
        cls._exact_codes = exact_codes([*(getattr(options, "select", None) or ()), *(getattr(options, "extend_select", None) or ())])
        cls._by_config = {}
        gc.freeze()  # once per process, before flake8 forks its workers

    @classmethod
    def settings_for(cls, filename: str) -> Settings:
        """flake8's options plus the knobs (and ``preview``) of the ``[tool.sqla-lint]`` governing ``filename``."""
        config = cls._resolver.config_for(Path.cwd() if filename in ("stdin", "-") else Path(filename))
        if config.path not in cls._by_config:
            table = cls._resolver.settings_for(config.path or Path.cwd())
            ours, mine = table.factories, cls.settings.factories
            factories = FactoryConfig(
                session_factories=mine.session_factories | ours.session_factories,
                engine_factories=mine.engine_factories | ours.engine_factories,
                called_once=mine.called_once | ours.called_once,
            )
            preview = cls._preview or table.preview
            enabled = gate_preview(cls.settings.enabled, preview=preview, exact=cls._exact_codes)
            # SQA506's limits come from [tool.sqla-lint] alone, so flake8 and the CLI add up alike.
            cls._by_config[config.path] = replace(
                cls.settings,
                factories=factories,
                enabled=enabled,
                preview=preview,
                max_connections=table.max_connections,
                reserved_connections=table.reserved_connections,
                workers=table.workers,
            )
        return cls._by_config[config.path]

    def run(self) -> Iterator[tuple[int, int, str, type[Any]]]:
        settings = self._settings
        tree = self._tree if isinstance(self._tree, ast.Module) else None
        collecting = gc.isenabled()
        gc.disable()
        try:
            index = _index_for(self._filename, settings) if settings.project_index else None
            result = lint_source("".join(self._lines), self._filename, settings, index, tree=tree)
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
