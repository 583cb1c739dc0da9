"""Each rule's documented examples are tests: the bad one fires, the good one is silent."""

from __future__ import annotations

import pytest

from sqla_lint.engine import lint_source
from sqla_lint.rules import ALL_RULES
from sqla_lint.settings import Settings


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
