"""The linter never crashes, whatever it is given, and every finding points into the file.

Three sources of input, as in flake8-async's "never crashes on any valid program" test:

- hypothesmith's grammar-generated valid programs, with the prefilter off so every program
  goes through the whole pipeline (parse, model, every rule, positions);
- the same programs with SQLAlchemy spliced in: sessions, connections and engines created,
  closed, returned, yielded, stored on ``self``, inside ``with`` / ``try`` / loops, in
  lifespans and ``lru_cache``-d factories, so the rules have something to chew on;
- those programs damaged (truncated, bytes cut out or inserted), and arbitrary bytes.

The strategies live in ``strategies.py``, shared with the fixer's fuzz tests;
``SQLA_LINT_FUZZ_EXAMPLES`` scales the example counts for a longer local run.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from sqla_lint.diagnostics import FileResult
from sqla_lint.engine import lint_source
from sqla_lint.settings import ALL_CODES

from .strategies import EVERYTHING, FUZZ, GENERATED_MODULES, sqlalchemy_programs

# hypothesmith compiles what it generates; its SyntaxWarnings ("'int' object is not callable")
# are about the generated code, not about sqla-lint.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")
_LINE_END = re.compile(r"\r\n|\r|\n")


def assert_well_formed(result: FileResult, source: bytes | str, path: str) -> None:
    """Every finding has a known code, a one-line message and a span inside the file."""
    assert isinstance(result, FileResult)
    assert result.path == path and result.error is None
    text = source if isinstance(source, str) else source.decode("utf-8", errors="replace")
    lines = _LINE_END.split(text.removeprefix("\ufeff"))
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    for diagnostic in result.diagnostics:
        assert diagnostic.code in ALL_CODES
        assert diagnostic.message and "\n" not in diagnostic.message
        assert diagnostic.path == path
        start, end = diagnostic.location, diagnostic.end_location
        assert (start.row, start.column) <= (end.row, end.column), diagnostic
        for location in (start, end):
            assert 1 <= location.row <= len(lines), (diagnostic, len(lines))
            assert 1 <= location.column <= len(lines[location.row - 1]) + 1, (diagnostic, lines[location.row - 1])
        assert 1 <= diagnostic.statement_row <= len(lines), diagnostic
    assert list(result.diagnostics) == sorted(result.diagnostics, key=lambda d: d.sort_key())


def lint_both_ways(source: str) -> None:
    """As the CLI reads it (bytes) and as flake8 hands it over (text)."""
    for form in (source.encode("utf-8"), source):
        result = lint_source(form, "fuzz.py", EVERYTHING)
        assert_well_formed(result, form, "fuzz.py")
    event(f"codes: {' '.join(sorted({d.code for d in result.diagnostics})) or 'none'}")


# -- the properties ---------------------------------------------------------------------------


@FUZZ
@given(GENERATED_MODULES)
def test_valid_programs_never_crash(source: str):
    lint_both_ways(source)


@FUZZ
@given(sqlalchemy_programs())
def test_sqlalchemy_spliced_into_generated_code_never_crashes(source: str):
    lint_both_ways(source)


@FUZZ
@given(sqlalchemy_programs(), st.data())
def test_damaged_programs_never_crash(source: str, data: st.DataObject):
    encoded = source.encode("utf-8")
    start = data.draw(st.integers(0, len(encoded)), label="start")
    end = data.draw(st.integers(start, min(len(encoded), start + 40)), label="end")
    inserted = data.draw(st.binary(max_size=8) | st.sampled_from([b"(", b":", b"\n    ", b"\r", b"\xe9", b"\0", b"\\"]), label="inserted")
    damaged = encoded[:start] + inserted + encoded[end:]
    result = lint_source(damaged, "fuzz.py", EVERYTHING)
    assert_well_formed(result, damaged, "fuzz.py")


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes):
    assert_well_formed(lint_source(data, "fuzz.py", EVERYTHING), data, "fuzz.py")
