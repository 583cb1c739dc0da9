"""Every fixture that ``--fix`` changes has a golden fixed file, compared byte for byte.

``fixed/`` holds what ``--fix`` writes; ``fixed-unsafe/`` what ``--fix --unsafe-fixes``
writes, for the fixtures where that differs. The fixed file compiles, fixing it again
changes nothing, and no fix that mode applies is left over. A fixture that a mode leaves
alone (or, for ``--unsafe-fixes``, treats as ``--fix`` does) has no golden file there.
After a deliberate change, regenerate with
``SQLA_LINT_UPDATE_GOLDEN=1 python -m pytest tests/test_autofix_golden.py`` and review the
diff of ``tests/fixtures/fixed/`` and ``tests/fixtures/fixed-unsafe/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sqla_lint.fixer import applies, fix_source

from .conftest import FIXTURES
from .expectations import settings_for

RULES = FIXTURES / "rules"
GOLDEN = FIXTURES / "fixed"
UNSAFE_GOLDEN = FIXTURES / "fixed-unsafe"
UPDATE = os.environ.get("SQLA_LINT_UPDATE_GOLDEN") == "1"
RULE_FIXTURES = sorted(RULES.rglob("*.py"))


@pytest.mark.parametrize("path", RULE_FIXTURES, ids=lambda p: str(p.relative_to(RULES)))
def test_fixed_fixture_matches_golden(path: Path):
    data = path.read_bytes()
    safe = _fixed_as_golden(path, data, data, GOLDEN, unsafe=False)
    _fixed_as_golden(path, data, safe, UNSAFE_GOLDEN, unsafe=True)


def _fixed_as_golden(path: Path, data: bytes, unchanged: bytes, directory: Path, *, unsafe: bool) -> bytes:
    """Fix ``data`` and compare with its golden in ``directory``; a result equal to
    ``unchanged`` must have none. Returns the fixed source."""
    settings = settings_for(path)
    outcome = fix_source(data, str(path), settings, unsafe=unsafe)
    golden = directory / path.relative_to(RULES)
    assert outcome.error is None
    if outcome.source == unchanged:
        if UPDATE and golden.exists():
            golden.unlink()
        assert not golden.exists(), f"{golden} is stale: it is what {path.name} already gives"
        return outcome.source
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(outcome.source)
    assert golden.exists(), f"fixing {path.name} (unsafe={unsafe}) changes it but there is no golden {golden}"
    assert outcome.source == golden.read_bytes()
    compile(outcome.source, str(golden), "exec", dont_inherit=True)
    assert not [d for d in outcome.result.diagnostics if d.fix is not None and applies(d.fix, unsafe)]
    again = fix_source(outcome.source, str(path), settings, unsafe=unsafe)
    assert again.source == outcome.source and again.fixed == ()
    return outcome.source


def test_every_golden_has_a_fixture():
    for directory in (GOLDEN, UNSAFE_GOLDEN):
        for golden in directory.rglob("*.py"):
            assert (RULES / golden.relative_to(directory)).exists(), golden


def test_every_fixable_rule_has_golden_files():
    from sqla_lint.rules import ALL_RULES

    from sqla_lint.diagnostics import Applicability

    for rule in ALL_RULES:
        if rule.FIX is not None:
            # A rule whose fixes are all unsafe changes nothing under plain --fix.
            directory = UNSAFE_GOLDEN if rule.FIX is Applicability.UNSAFE else GOLDEN
            assert list((directory / rule.CODE).glob("*.py")), rule.CODE
