"""The semantic model: name resolution, ownership, and (later) the project index.

Rules ask these modules questions; they never walk the syntax tree on their own.
"""

from .model import Creation, FactoryConfig, ModuleModel
from .ownership import Outcome, Ownership, OwnershipAnalysis
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
