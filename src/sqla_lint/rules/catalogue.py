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
    "SQA406": "session_shared_across_tasks",
    "SQA501": "engine_per_call",
    "SQA502": "lifespan_resource_not_closed",
    "SQA503": "connection_not_closed",
    "SQA504": "pool_opened_in_constructor",
    "SQA505": "engine_never_disposed",
    "SQA506": "connection_budget",
}
RULE_CODES: tuple[str, ...] = tuple(RULE_MODULES)

# New rules start in preview (SPEC.md): they run only with ``--preview`` / ``preview = true``
# (``--sqla-preview`` under flake8) or when their exact code is selected, until their
# precision on the real-project ledger is at least 0.9.
PREVIEW_CODES: frozenset[str] = frozenset({"SQA406", "SQA504", "SQA505", "SQA506"})
