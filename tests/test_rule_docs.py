"""Each rule's documented examples are tests: the bad one fires, the good one is silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqla_lint.docs import PAGE_SECTIONS, fix_label, rendered_pages, rule_page
from sqla_lint.engine import lint_source
from sqla_lint.rules import ALL_RULES
from sqla_lint.settings import ALL_CODES, Settings

from .conftest import FIXTURES, REPO
from .expectations import settings_for


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.CODE)
def test_documented_examples(rule):
    fires = lint_source(rule.EXAMPLE_FIRES, "example.py", Settings())
    assert [d.code for d in fires.diagnostics] == [rule.CODE]
    silent = lint_source(rule.EXAMPLE_SILENT, "example.py", Settings())
    assert silent.diagnostics == ()


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.CODE)
def test_rule_metadata(rule):
    assert rule.CODE.startswith("SQA") and len(rule.CODE) == 6
    assert rule.NAME == rule.NAME.lower() and " " not in rule.NAME
    for heading in ("## What it does", "## Why is this bad?", "## When to ignore it", "## Fix safety"):
        assert heading in (rule.__doc__ or ""), (rule.CODE, heading)
    assert "https://docs.sqlalchemy.org/" in (rule.__doc__ or "")


DOCS = Path(__file__).resolve().parent.parent / "docs" / "rules"


def test_docs_rules_are_up_to_date():
    """docs/rules/ is generated from the rule classes; regenerate with the command below."""
    expected = rendered_pages()
    actual = {path.name: path.read_text(encoding="utf-8") for path in DOCS.glob("*.md")}
    stale = sorted(name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name))
    assert not stale, f"stale docs/rules pages {stale}: run `python -m sqla_lint.docs docs/rules`"


def test_every_emitted_code_has_a_page(cli):
    """Every code that any fixture or the example app produces has a page and a `rule` command."""
    emitted = set()
    for path in [*(FIXTURES / "rules").rglob("*.py"), *(REPO / "examples").rglob("*.py")]:
        emitted |= {d.code for d in lint_source(path.read_bytes(), str(path), settings_for(path)).diagnostics}
    emitted |= {d.code for d in lint_source("def f(:\n", "broken.py", Settings()).diagnostics}
    assert emitted == set(ALL_CODES)
    for code in sorted(emitted):
        page = (DOCS / f"{code}.md").read_text(encoding="utf-8")
        for heading in ("## What it does", "## Why is this bad?", "## Fix safety", "## When to ignore it"):
            assert heading in page, (code, heading)
        assert cli("rule", code.lower()).stdout == page


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.CODE)
def test_page_sections_in_order(rule):
    page = rule_page(rule.CODE)
    headings = [line[3:] for line in page.splitlines() if line.startswith("## ")]
    assert headings == list(PAGE_SECTIONS)
    assert rule.EXAMPLE_FIRES.strip() in page and rule.EXAMPLE_SILENT.strip() in page
    assert f"Fix applicability: **{fix_label(rule)}**." in page


def test_fix_label_says_when_a_fix_can_be_unsafe():
    from sqla_lint.rules import RULES_BY_CODE

    assert fix_label(RULES_BY_CODE["SQA401"]) == "safe or unsafe"
    assert fix_label(RULES_BY_CODE["SQA503"]) == "safe or unsafe"
    assert fix_label(RULES_BY_CODE["SQA502"]) == "safe"
    assert fix_label(RULES_BY_CODE["SQA402"]) == "none"
