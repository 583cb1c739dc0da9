"""Every rule code, in code order, with the module that implements it.

Choosing rules (``--select SQA4``), validating configuration and reading results back
from the cache need the codes, not the rules. The rules are built on libcst, whose import
alone takes longer than a whole run that reads everything from the cache, so the rule
modules are imported only when a file is linted (:mod:`sqla_lint.rules` checks that each
module defines the rule its code names).
"""

from __future__ import annotations

RULE_MODULES: dict[str, str] = {
    "SQA401": "session_not_closed",
    "SQA402": "cached_session",
    "SQA403": "scoped_session_not_removed",
    "SQA404": "redundant_session_close",
    "SQA501": "engine_per_call",
    "SQA502": "lifespan_resource_not_closed",
    "SQA503": "connection_not_closed",
    "SQA505": "engine_never_disposed",
    "SQA506": "connection_budget",
}
RULE_CODES: tuple[str, ...] = tuple(RULE_MODULES)
# Rules that run only with preview on, or when their exact code is selected (SPEC.md).
PREVIEW_CODES: frozenset[str] = frozenset({"SQA505", "SQA506"})
