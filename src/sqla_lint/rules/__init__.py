"""The rules: one module per rule, registered in :mod:`.catalogue` in code order.

The rule classes are loaded on first use (PEP 562): settings and the result cache need
only the codes, and importing the rules means importing libcst.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .catalogue import RULE_CODES, RULE_MODULES

if TYPE_CHECKING:
    from .base import Finding, Rule, RuleContext

    ALL_RULES: tuple[type[Rule], ...]
    RULES_BY_CODE: dict[str, type[Rule]]

__all__ = ["ALL_RULES", "RULES_BY_CODE", "RULE_CODES", "Finding", "Rule", "RuleContext"]


def _rule_for(code: str, module_name: str) -> type[Rule]:
    from .base import Rule

    module = import_module(f".{module_name}", __name__)
    rules = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Rule) and value is not Rule and getattr(value, "CODE", None) == code
    ]
    if len(rules) != 1:
        raise ImportError(f"rules.catalogue says {module.__name__} defines the rule {code}; it defines {len(rules)}")
    return rules[0]


def __getattr__(name: str) -> Any:
    if name in ("ALL_RULES", "RULES_BY_CODE"):
        all_rules = tuple(_rule_for(code, module) for code, module in RULE_MODULES.items())
        globals().update(ALL_RULES=all_rules, RULES_BY_CODE={rule.CODE: rule for rule in all_rules})
        return globals()[name]
    if name in ("Finding", "Rule", "RuleContext"):
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
