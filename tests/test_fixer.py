"""The fixer's mechanics: whole-line edits, overlaps, shared fixes, and its safety nets."""

from __future__ import annotations

import libcst as cst
import pytest

from sqla_lint import engine, fixer
from sqla_lint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from sqla_lint.edits import apply_edits, edits_between
from sqla_lint.engine import lint_source
from sqla_lint.fixer import apply_fixes, fix_source
from sqla_lint.rules.base import Finding, Rewrite
from sqla_lint.settings import Settings

from .conftest import FIXTURES

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a\r\nb\r\n", "a\r\nx\r\nb\r\n"),
        ("a\n    b\n", "a\n        b\n"),
        ("a\nb\nc\n", "a\nc\n"),
        ("a\nb", "a\nc"),
        ("x = 1\n", ""),
        ("", "x = 1\n"),
    ],
)
def test_edits_cover_whole_lines_and_round_trip(old: str, new: str):
    (edit,) = edits_between(old, new)
    assert apply_edits(old, [edit]) == new
    assert edit.location.column == 1
    assert edit.end_location.column == 1 or edit.end_location.row == old.count("\n") + 1
    assert edit.content == "" or edit.content.endswith("\n") or not new.endswith("\n")


def _diagnostic(row: int, end_row: int, content: str) -> Diagnostic:
    edit = Edit(content, Location(row, 1), Location(end_row, 1))
    return Diagnostic("SQA404", "m", "f.py", Location(row, 1), Location(row, 2), Fix(Applicability.SAFE, "fix", (edit,)))


def test_overlapping_fixes_wait_for_the_next_pass_and_shared_edits_apply_once():
    text = "a\nb\nc\nd\n"
    first = _diagnostic(1, 3, "A\nB\n")
    overlapping = _diagnostic(2, 4, "X\n")
    shared = _diagnostic(4, 5, "D\n")
    shared_twin = _diagnostic(4, 5, "D\n")
    result = apply_fixes(text, [overlapping, shared, first, shared_twin])
    assert result.text == "A\nB\nc\nD\n"
    assert result.applied == (first, shared, shared_twin)


def test_one_finally_disposing_two_pools_counts_for_both_findings():
    path = FIXTURES / "rules" / "SQA502" / "fires_psycopg_pool_lifespan.py"
    outcome = fix_source(path.read_bytes(), str(path), Settings())
    assert outcome.fixed == ("SQA502", "SQA502")
    assert outcome.source.count(b"finally:") == 1


def test_no_fix_where_libcst_does_not_reproduce_the_statement():
    source = LEAK.replace("    return", "\x0c    return")  # libcst copies the form feed onto every line
    assert cst.parse_module(source.encode()).code != source
    diagnostics = lint_source(source.encode(), "f.py", Settings()).diagnostics
    assert [d.code for d in diagnostics] == ["SQA401"]
    assert diagnostics[0].fix is None


@pytest.mark.parametrize(
    "source",
    [LEAK.replace("\n", "\r"), LEAK.rstrip("\n")],
    ids=["lone-CR-line-breaks", "no-final-newline"],
)
def test_fix_where_only_the_module_is_not_reproduced(source: str):
    """libcst drops a final lone CR, and renders a last line without newline with one;
    the function fixed is reproduced exactly, so it is fixed and every other byte kept."""
    outcome = fix_source(source.encode(), "f.py", Settings())
    assert outcome.fixed == ("SQA401",)
    newline = "\r" if "\r" in source else "\n"
    fixed_function = f"    with Session(engine) as s:{newline}        return s.query(1).all()"
    assert outcome.source.decode() == source.replace(f"    s = Session(engine){newline}    return s.query(1).all()", fixed_function)


def test_a_pass_that_would_not_compile_is_undone(monkeypatch):
    real_run_rules = engine._run_rules

    def broken_fix(model, codes):
        findings = real_run_rules(model, codes)
        statement = model.module.body[0]
        rewrite = Rewrite("break it", ((statement, cst.parse_statement("return 1\n")),))
        return [(code, Finding(f.node, f.message, rewrite)) for code, f in findings]

    monkeypatch.setattr(engine, "_run_rules", broken_fix)
    outcome = fix_source(LEAK.encode(), "f.py", Settings())
    assert outcome.source == LEAK.encode() and outcome.fixed == ()
    assert "would not compile" in (outcome.error or "")


def test_fixes_that_never_converge_stop_at_the_bound(monkeypatch):
    real_run_rules = engine._run_rules

    def endless_fix(model, codes):
        findings = real_run_rules(model, codes) or [("SQA401", Finding(model.module.body[0], "again"))]
        last = model.module.body[-1]
        rewrite = Rewrite("grow", ((last, cst.FlattenSentinel([last, cst.parse_statement("x = 1\n")])),))
        return [(code, Finding(f.node, f.message, rewrite)) for code, f in findings]

    monkeypatch.setattr(engine, "_run_rules", endless_fix)
    monkeypatch.setattr(fixer, "MAX_PASSES", 5)
    outcome = fix_source(LEAK.encode(), "f.py", Settings())
    assert outcome.error == "fixes did not converge after 5 passes, so none were applied (a bug; please report it)"
    assert outcome.source == LEAK.encode() and outcome.fixed == ()
    assert [d.code for d in outcome.result.diagnostics] == ["SQA401"]


def test_lifespan_fix_on_self_outside_a_class_converges():
    """Found by fuzzing the fixer: ``self.engine = create_async_engine(...)`` in a lifespan
    that is not a method. The rule did not see the ``await self.engine.dispose()`` its own
    fix wrote, so every pass added one more, until the fixer gave up after 100 passes."""
    source = (
        "from contextlib import asynccontextmanager\n"
        "from fastapi import FastAPI\n"
        "from sqlalchemy.ext.asyncio import create_async_engine\n\n"
        "@asynccontextmanager\n"
        "async def lifespan(app):\n"
        "    self.engine = create_async_engine(url)\n"
        "    yield\n\n"
        "app = FastAPI(lifespan=lifespan)\n"
    )
    assert [d.code for d in lint_source(source.encode(), "app.py", Settings()).diagnostics] == ["SQA502"]
    outcome = fix_source(source.encode(), "app.py", Settings())
    assert outcome.error is None and outcome.fixed == ("SQA502",)
    assert outcome.source.decode() == source.replace(
        "    yield\n", "    try:\n        yield\n    finally:\n        await self.engine.dispose()\n"
    )
    assert outcome.result.diagnostics == ()
