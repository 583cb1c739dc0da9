"""Every fixture file: the exact set of (row, code) findings equals its expectations."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqla_lint.engine import lint_source

from .conftest import FIXTURES
from .expectations import expectations, settings_for

RULE_FIXTURES = sorted((FIXTURES / "rules").rglob("*.py"))


def _id(path: Path) -> str:
    return str(path.relative_to(FIXTURES / "rules"))


def test_fixtures_exist_for_every_rule():
    from sqla_lint.rules import ALL_RULES

    for rule in ALL_RULES:
        files = list((FIXTURES / "rules" / rule.CODE).glob("*.py"))
        fires = [f for f in files if expectations(f)]
        silent = [f for f in files if not expectations(f)]
        assert len(fires) >= 6 and len(silent) >= 6, rule.CODE


@pytest.mark.parametrize("path", RULE_FIXTURES, ids=_id)
def test_fixture(path: Path):
    result = lint_source(path.read_bytes(), str(path), settings_for(path))
    assert result.error is None
    actual = {(d.location.row, d.code) for d in result.diagnostics}
    expected = {(e.row, e.code) for e in expectations(path)}
    missing = expected - actual
    unexpected = {
        f"{row}: {code} {next(d.message for d in result.diagnostics if (d.location.row, d.code) == (row, code))}"
        for row, code in actual - expected
    }
    assert not missing and not unexpected, f"missing={sorted(missing)} unexpected={sorted(unexpected)}"
    for wanted in expectations(path):
        if wanted.text is None:
            continue
        messages = [d.message for d in result.diagnostics if (d.location.row, d.code) == (wanted.row, wanted.code)]
        assert any(wanted.text in m for m in messages), (wanted, messages)
