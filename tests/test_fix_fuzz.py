"""The fixer never raises, whatever valid program it is given, and what it writes holds up.

The same inputs as the linter's fuzz tests (``strategies.py``): hypothesmith's valid
programs, and those programs with SQLAlchemy spliced in, so that leaks, redundant closes
and lifespans give the fixes something to do. Every fix is allowed (``unsafe=True``).

- ``fix_source`` returns; it never raises, and never reports a bug of its own (an
  ``error`` saying "a bug; please report it": a fix that would not compile, that changed
  nothing, or that did not converge).
- Where a fix applied: the result still compiles if the input did (hypothesmith's
  programs always do; a spliced program may not, e.g. ``await`` in a plain ``def``), and
  otherwise still parses; and fixing the result again changes nothing.

The fast runs are small; the ``slow`` variants run ten times as many examples of the
programs with SQLAlchemy in them. Plain hypothesmith programs get no slow variant: with
nothing to fix, ``fix_source`` only lints them, which ``test_fuzz.py`` already does 200
times (1000 slow examples cost more than three minutes here for no new path).
"""

from __future__ import annotations

import ast

import pytest
from hypothesis import event, given, settings

from sqla_lint.fixer import fix_source

from .strategies import EVERYTHING, FUZZ, GENERATED_MODULES, fixable_programs, sqlalchemy_programs

pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

FAST = settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 4))
SLOW = settings(FUZZ, max_examples=FUZZ.max_examples * 5)
PATH = "fuzz.py"


def _compiles(data: bytes) -> bool:
    try:
        compile(data, PATH, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def check_fix(source: str) -> None:
    data = source.encode("utf-8")
    outcome = fix_source(data, PATH, EVERYTHING, unsafe=True)
    assert outcome.error is None or "a bug" not in outcome.error, outcome.error
    event(f"fixed: {' '.join(sorted(set(outcome.fixed))) or 'nothing'}")
    if outcome.source == data:
        assert outcome.fixed == ()
        return
    assert outcome.fixed
    if _compiles(data):
        compile(outcome.source, PATH, "exec", dont_inherit=True)
    else:
        ast.parse(outcome.source, PATH)
    again = fix_source(outcome.source, PATH, EVERYTHING, unsafe=True)
    assert again.source == outcome.source and again.fixed == (), (outcome.source.decode(), again.source.decode())


@FAST
@given(GENERATED_MODULES)
def test_fixing_valid_programs_never_raises(source: str):
    check_fix(source)


@settings(FUZZ, max_examples=FUZZ.max_examples // 2)
@given(sqlalchemy_programs())
def test_fixing_sqlalchemy_spliced_into_generated_code(source: str):
    check_fix(source)


@settings(FUZZ, max_examples=FUZZ.max_examples // 2)
@given(fixable_programs())
def test_fixing_fixable_shapes_with_generated_code_spliced_in(source: str):
    check_fix(source)


@pytest.mark.slow
@SLOW
@given(sqlalchemy_programs())
def test_fixing_sqlalchemy_spliced_into_generated_code_many(source: str):
    check_fix(source)


@pytest.mark.slow
@SLOW
@given(fixable_programs())
def test_fixing_fixable_shapes_with_generated_code_spliced_in_many(source: str):
    check_fix(source)
