"""Rule documentation pages, rendered from each rule class so docs cannot drift from code."""

from __future__ import annotations

import inspect

from .rules import ALL_RULES, RULES_BY_CODE, Rule
from .settings import SYNTAX_ERROR_CODE

SYNTAX_ERROR_PAGE = f"""# {SYNTAX_ERROR_CODE} syntax-error

A file that cannot be parsed.

## What it does
Reports a file that libcst cannot parse (a syntax error, an undecodable file, or nesting
too deep to parse), with the parser's message. The run goes on with the other files.

## Why is this bad?
A file that does not parse cannot be checked for leaks, so it would otherwise pass the
gate silently.

## When to ignore it
Files that are deliberately invalid (test data): exclude them with `extend-exclude`.

## Fix safety
No fix is offered.
"""


def fix_label(rule: type[Rule]) -> str:
    return rule.FIX.value if rule.FIX is not None else "none"


def rule_page(code: str) -> str:
    """The Markdown page for a rule code (``KeyError`` if there is no such code)."""
    if code == SYNTAX_ERROR_CODE:
        return SYNTAX_ERROR_PAGE
    rule = RULES_BY_CODE[code]
    body = inspect.cleandoc(rule.__doc__ or "")
    parts = [f"# {rule.CODE} {rule.NAME}", "", rule.SUMMARY, "", body, ""]
    if rule.EXAMPLE_FIRES:
        parts += ["## Example", "", "```python", rule.EXAMPLE_FIRES.rstrip(), "```", ""]
    if rule.EXAMPLE_SILENT:
        parts += ["## Use instead", "", "```python", rule.EXAMPLE_SILENT.rstrip(), "```", ""]
    parts += [f"Fix applicability: **{fix_label(rule)}**.", ""]
    return "\n".join(parts)


def rules_table() -> list[tuple[str, str, str, str]]:
    """``(code, name, fix, summary)`` for every rule, in code order."""
    rows = [(SYNTAX_ERROR_CODE, "syntax-error", "none", "A file that cannot be parsed.")]
    rows += [(r.CODE, r.NAME, fix_label(r), r.SUMMARY) for r in ALL_RULES]
    return rows
