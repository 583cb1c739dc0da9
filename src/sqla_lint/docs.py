"""Rule documentation pages, rendered from each rule class so docs cannot drift from code.

A rule's docstring holds the prose sections and its ``EXAMPLE_FIRES`` /
``EXAMPLE_SILENT`` snippets (which are also tests) become "Example" and "Use instead".
The pages are printed by ``sqla-lint rule CODE`` and rendered into ``docs/rules/`` by
``python -m sqla_lint.docs docs/rules``; a test fails when the files there are stale.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from .rules import ALL_RULES, RULES_BY_CODE, Rule
from .rules.catalogue import PREVIEW_CODES
from .settings import SYNTAX_ERROR_CODE

# ruff's page shape, in this order; "Example" and "Use instead" come from the snippets.
PAGE_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety", "When to ignore it")
_HEADING = re.compile(r"^## (.+)$", re.MULTILINE)

PREVIEW_NOTE = (
    "This rule is in **preview**: it runs with `--preview` or `preview = true` in `[tool.sqla-lint]` "
    "(`--sqla-preview` under flake8), or when its exact code is selected. It leaves preview when its "
    "precision on the real-project ledger is at least 0.9."
)

SYNTAX_ERROR_NAME = "syntax-error"
SYNTAX_ERROR_SUMMARY = "A file that cannot be parsed."
SYNTAX_ERROR_DOC = """
## What it does
Reports a file that cannot be parsed (a syntax error, an undecodable file, or nesting
too deep to parse), with Python's message. The run goes on with the other files.
Newer Python than the interpreter sqla-lint runs on (PEP 695 `type` aliases and generics,
PEP 701 f-strings, PEP 758 `except A, B:`) is no syntax error: such a file is analysed
like any other when libcst parses it.

## Why is this bad?
A file that does not parse cannot be checked for leaks, so it would otherwise pass the
gate silently.

## When to ignore it
Files that are deliberately invalid (test data): exclude them with `extend-exclude`.

## Fix safety
No fix is offered.
"""


def fix_label(rule: type[Rule]) -> str:
    if rule.FIX is None:
        return "none"
    return f"{rule.FIX.value} or unsafe" if rule.FIX_SOMETIMES_UNSAFE else rule.FIX.value


def parse_sections(text: str) -> dict[str, str]:
    """``## Heading`` -> body, for a docstring or a rendered page."""
    text = inspect.cleandoc(text)
    matches = list(_HEADING.finditer(text))
    sections = {}
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following is not None else len(text)
        sections[match.group(1).strip()] = text[match.end() : end].strip()
    return sections


def section(page: str, heading: str) -> str:
    return parse_sections(page).get(heading, "")


def _code_block(source: str) -> str:
    return f"```python\n{source.rstrip()}\n```"


def rule_page(code: str) -> str:
    """The Markdown page for a rule code (``KeyError`` if there is no such code)."""
    if code == SYNTAX_ERROR_CODE:
        name, summary, doc, fix = SYNTAX_ERROR_NAME, SYNTAX_ERROR_SUMMARY, SYNTAX_ERROR_DOC, "none"
        fires = silent = ""
    else:
        rule = RULES_BY_CODE[code]
        name, summary, doc, fix = rule.NAME, rule.SUMMARY, rule.__doc__ or "", fix_label(rule)
        fires, silent = rule.EXAMPLE_FIRES, rule.EXAMPLE_SILENT
    sections = parse_sections(doc)
    if fires:
        sections["Example"] = _code_block(fires)
    if silent:
        sections["Use instead"] = _code_block(silent)
    parts = [f"# {code} {name}", "", summary, ""]
    if code in PREVIEW_CODES:
        parts += [PREVIEW_NOTE, ""]
    for heading in (*PAGE_SECTIONS, *(h for h in sections if h not in PAGE_SECTIONS)):
        if heading in sections:
            parts += [f"## {heading}", "", sections[heading], ""]
    parts += [f"Fix applicability: **{fix}**.", ""]
    return "\n".join(parts)


def rules_table() -> list[tuple[str, str, str, str]]:
    """``(code, name, fix, summary)`` for every rule, in code order."""
    rows = [(SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME, "none", SYNTAX_ERROR_SUMMARY)]
    rows += [(r.CODE, r.NAME, fix_label(r), r.SUMMARY) for r in ALL_RULES]
    return rows


def index_page() -> str:
    lines = ["# Rules", "", "Generated from the rule classes by `python -m sqla_lint.docs docs/rules`; do not edit.", ""]
    lines += ["| code | name | fix | what it finds |", "|---|---|---|---|"]
    lines += [
        f"| [{code}]({code}.md) | {name}{' (preview)' if code in PREVIEW_CODES else ''} | {fix} | {summary} |"
        for code, name, fix, summary in rules_table()
    ]
    return "\n".join(lines) + "\n"


def rendered_pages() -> dict[str, str]:
    """File name -> contents for everything in ``docs/rules/``."""
    pages = {f"{code}.md": rule_page(code) for code, *_ in rules_table()}
    pages["README.md"] = index_page()
    return pages


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m sqla_lint.docs DIRECTORY\n")
        return 2
    directory = Path(argv[0])
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_pages().items():
        (directory / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
