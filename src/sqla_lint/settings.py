"""Resolved settings: which codes run, rule knobs, and which paths are skipped.

Settings are built once per run (not per file, unlike Fixit) and are hashable so they can
key the result cache.

``Settings.enabled`` is the final set of codes that run. The front ends (``config.py`` for
the CLI, the flake8 plugin) decide it, preview included: a library caller that builds
``Settings()`` itself gets every rule, preview rules too.
"""

from __future__ import annotations

from dataclasses import dataclass

from .discovery import DEFAULT_EXCLUDES
from .rules.catalogue import PREVIEW_CODES, RULE_CODES
from .semantic.project import FactoryConfig

SYNTAX_ERROR_CODE = "SQA001"
ALL_CODES: tuple[str, ...] = (SYNTAX_ERROR_CODE, *RULE_CODES)


class ConfigError(Exception):
    """A user error in arguments or configuration: reported in one line, exit code 2."""


def expand_selectors(selectors: list[str] | tuple[str, ...], origin: str) -> frozenset[str]:
    """``SQA4`` -> every SQA4xx code; ``ALL`` -> every code. Unknown selectors are errors."""
    codes: set[str] = set()
    for raw in selectors:
        selector = raw.strip().upper()
        if not selector:
            continue
        if selector == "ALL":
            codes.update(ALL_CODES)
            continue
        matched = [code for code in ALL_CODES if code.startswith(selector)]
        if not matched or not selector.startswith("SQA"):
            raise ConfigError(f"unknown rule selector {raw!r} in {origin}")
        codes.update(matched)
    return frozenset(codes)


def exact_codes(selectors: list[str] | tuple[str, ...]) -> frozenset[str]:
    """The selectors that name one code exactly (``SQA504``, not ``SQA5`` or ``ALL``)."""
    return frozenset(code for code in (raw.strip().upper() for raw in selectors) if code in ALL_CODES)


def gate_preview(enabled: frozenset[str] | set[str], *, preview: bool, exact: frozenset[str]) -> frozenset[str]:
    """Drop preview rules unless preview is on or the rule was selected by its exact code.

    As in ruff, a prefix or ``ALL`` never turns a preview rule on: a team that selects
    ``SQA5`` does not get a new, less proven rule on upgrade without asking for it.
    """
    if preview:
        return frozenset(enabled)
    return frozenset(code for code in enabled if code not in PREVIEW_CODES or code in exact)


@dataclass(frozen=True)
class Settings:
    enabled: frozenset[str] = frozenset(ALL_CODES)
    # Preview mode as configured. Its effect is already in ``enabled``; it is kept here too so
    # that the result cache, keyed by the settings, never mixes runs with and without it.
    preview: bool = False
    factories: FactoryConfig = FactoryConfig()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    respect_noqa: bool = True
    prefilter: bool = True
    project_index: bool = True
    cache: bool = True
    # SQA506: the database's connections, those kept for superusers, and a worker count
    # that overrides what deployment files say (None: read them).
    max_connections: int = 100
    reserved_connections: int = 3
    workers: int | None = None

    @property
    def enabled_rules(self) -> tuple[str, ...]:
        return tuple(code for code in RULE_CODES if code in self.enabled)
