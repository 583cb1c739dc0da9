"""The semantic model: name resolution, ownership, and the project index.

Rules ask these modules questions; they never walk the syntax tree on their own. The
names below are imported on first use (PEP 562): :mod:`.project` and the index's cache
need no parser, and a run answered from the cache should not pay for libcst.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .creations import Creation
    from .model import ModuleModel
    from .ownership import Outcome, Ownership, OwnershipAnalysis
    from .project import FactoryConfig
    from .symbols import Kind

__all__ = [
    "Creation",
    "FactoryConfig",
    "Kind",
    "ModuleModel",
    "Outcome",
    "Ownership",
    "OwnershipAnalysis",
]

_HOMES = {
    "Creation": "creations",
    "FactoryConfig": "project",
    "Kind": "symbols",
    "ModuleModel": "model",
    "Outcome": "ownership",
    "Ownership": "ownership",
    "OwnershipAnalysis": "ownership",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
