"""Every fixture that ``--fix`` changes has a golden fixed file, compared byte for byte.

The fixed file compiles, fixing it again changes nothing, and no safe fix is left over.
A fixture that ``--fix`` leaves alone must have no golden file. After a deliberate
change, regenerate with ``SQLA_LINT_UPDATE_GOLDEN=1 python -m pytest tests/test_autofix_golden.py``
and review the diff of ``tests/fixtures/fixed/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sqla_lint.fixer import fix_source

from .conftest import FIXTURES
from .expectations import settings_for

RULES = FIXTURES / "rules"
GOLDEN = FIXTURES / "fixed"
UPDATE = os.environ.get("SQLA_LINT_UPDATE_GOLDEN") == "1"
RULE_FIXTURES = sorted(RULES.rglob("*.py"))


@pytest.mark.parametrize("path", RULE_FIXTURES, ids=lambda p: str(p.relative_to(RULES)))
def test_fixed_fixture_matches_golden(path: Path):
    settings = settings_for(path)
    data = path.read_bytes()
    outcome = fix_source(data, str(path), settings)
    golden = GOLDEN / path.relative_to(RULES)
    assert outcome.error is None
    if outcome.source == data:
        if UPDATE and golden.exists():
            golden.unlink()
        assert not golden.exists(), f"{golden} is stale: --fix no longer changes {path.name}"
        return
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(outcome.source)
    assert golden.exists(), f"--fix changes {path.name} but there is no golden {golden}"
    assert outcome.source == golden.read_bytes()
    compile(outcome.source, str(golden), "exec", dont_inherit=True)
    assert not [d for d in outcome.result.diagnostics if d.fix is not None]
    again = fix_source(outcome.source, str(path), settings)
    assert again.source == outcome.source and again.fixed == ()


def test_every_golden_has_a_fixture():
    for golden in GOLDEN.rglob("*.py"):
        assert (RULES / golden.relative_to(GOLDEN)).exists(), golden


def test_every_fixable_rule_has_golden_files():
    from sqla_lint.rules import ALL_RULES

    for rule in ALL_RULES:
        if rule.FIX is not None:
            assert list((GOLDEN / rule.CODE).glob("*.py")), rule.CODE
