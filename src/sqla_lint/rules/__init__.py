"""The rule catalogue: one module per rule, registered here in code order."""

from __future__ import annotations

from .base import Finding, Rule, RuleContext
from .cached_session import CachedSession
from .connection_not_closed import ConnectionNotClosed
from .engine_per_call import EnginePerCall
from .lifespan_resource_not_closed import LifespanResourceNotClosed
from .redundant_session_close import RedundantSessionClose
from .scoped_session_not_removed import ScopedSessionNotRemoved
from .session_not_closed import SessionNotClosed

ALL_RULES: tuple[type[Rule], ...] = (
    SessionNotClosed,
    CachedSession,
    ScopedSessionNotRemoved,
    RedundantSessionClose,
    EnginePerCall,
    LifespanResourceNotClosed,
    ConnectionNotClosed,
)
RULES_BY_CODE: dict[str, type[Rule]] = {rule.CODE: rule for rule in ALL_RULES}

__all__ = ["ALL_RULES", "RULES_BY_CODE", "Finding", "Rule", "RuleContext"]
