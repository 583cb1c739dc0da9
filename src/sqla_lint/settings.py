"""Resolved settings: which codes run, rule knobs, and which paths are skipped.

Settings are built once per run (not per file, unlike Fixit) and are hashable so they can
key the result cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from .discovery import DEFAULT_EXCLUDES
from .rules.catalogue import RULE_CODES
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


@dataclass(frozen=True)
class Settings:
    enabled: frozenset[str] = frozenset(ALL_CODES)
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
