"""The record of one module the project index holds: its facts and its engine and pool sites.

Both are read from one CPython tree through one :class:`.facts.ModuleFacts`; pool sites are
their own module (:mod:`.pools`, what SQA506 adds up), so the record is put together here.
"""

from __future__ import annotations

import ast

from .facts import ModuleFacts, ModuleSummary
from .pools import pool_sites_of
from .project import FactoryConfig


def module_summary(
    tree: ast.Module,
    module: str,
    project_packages: frozenset[str],
    factories: FactoryConfig = FactoryConfig(),
    is_package: bool = False,
) -> ModuleSummary | None:
    """The module's record; None when it nests too deeply to read."""
    try:
        return summary_of(ModuleFacts(tree, module, factories, is_package), project_packages)
    except RecursionError:
        return None


def summary_of(facts: ModuleFacts, project_packages: frozenset[str]) -> ModuleSummary:
    summary = facts.summary(project_packages)
    summary.pools = [site.to_json() for site in pool_sites_of(facts)]
    return summary
