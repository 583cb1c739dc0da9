"""The linter never crashes, whatever it is given, and every finding points into the file.

Three sources of input, as in flake8-async's "never crashes on any valid program" test:

- hypothesmith's grammar-generated valid programs, with the prefilter off so every program
  goes through the whole pipeline (parse, model, every rule, positions);
- the same programs with SQLAlchemy spliced in: sessions, connections and engines created,
  closed, returned, yielded, stored on ``self``, inside ``with`` / ``try`` / loops, in
  lifespans and ``lru_cache``-d factories, so the rules have something to chew on;
- those programs damaged (truncated, bytes cut out or inserted), and arbitrary bytes.

``SQLA_LINT_FUZZ_EXAMPLES`` scales the example counts for a longer local run.
"""

from __future__ import annotations

import os
import re

import hypothesmith
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sqla_lint.diagnostics import FileResult
from sqla_lint.engine import lint_source
from sqla_lint.settings import ALL_CODES, Settings

# hypothesmith compiles what it generates; its SyntaxWarnings ("'int' object is not callable")
# are about the generated code, not about sqla-lint.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")
EXAMPLES = int(os.environ.get("SQLA_LINT_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
EVERYTHING = Settings(prefilter=False, project_index=False)
# Built once: constructing a grammar strategy costs far more than drawing from it.
GENERATED_MODULES = hypothesmith.from_grammar()
GENERATED_STATEMENTS = hypothesmith.from_grammar("single_input")
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


# -- SQLAlchemy spliced into generated code ------------------------------------------------

HEADER = """\
import contextlib
from contextlib import asynccontextmanager, contextmanager
from functools import cache, lru_cache
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from fastapi import FastAPI
engine = create_engine("sqlite://")
SessionLocal = sessionmaker(bind=engine)
"""

NAMES = st.sampled_from(["s", "db", "conn", "session", "engine", "self.session", "app.state.engine", "registry"])
CREATIONS = st.sampled_from(
    [
        "Session(engine)",
        "SessionLocal()",
        "sessionmaker(bind=engine)()",
        "AsyncSession(engine)",
        "engine.connect()",
        "engine.begin()",
        "engine.raw_connection()",
        "create_engine(url)",
        "create_async_engine(url)",
        "sessionmaker(bind=engine)",
        "scoped_session(SessionLocal)",
        "get_session()",
    ]
)
ONE_LINERS = st.sampled_from(
    [
        "{v}.close()",
        "await {v}.close()",
        "await {v}.dispose()",
        "{v}.commit()",
        "{v}.rollback()",
        "{v}.remove()",
        "{v}.execute(text('select 1'))",
        "return {v}",
        "yield {v}",
        "yield",
        "return",
        "del {v}",
        "{v} = None",
        "stack.enter_context({v})",
        "request.state.db = {v}",
        "Session(engine).query(1).all()",
        "pass",
    ]
)
BLOCKS = st.sampled_from(
    [
        "with {c} as {v}:\n{body}",
        "async with {c} as {v}:\n{body}",
        "with {c} as {v}, {v}.begin():\n{body}",
        "with contextlib.closing({c}) as {v}:\n{body}",
        "with contextlib.ExitStack() as stack:\n{body}",
        "try:\n{body}\nfinally:\n    {v}.close()",
        "try:\n{body}\nexcept Exception:\n    {v}.rollback()\n    raise",
        "for _ in range(3):\n{body}",
        "while True:\n{body}",
        "if {v} is None:\n{body}\nelse:\n{body}",
    ]
)
FUNCTIONS = st.sampled_from(
    [
        "def {f}(engine, url, request):\n{body}",
        "async def {f}(engine, url, request):\n{body}",
        "@lru_cache\ndef {f}():\n{body}",
        "@cache\nasync def {f}():\n{body}",
        "@contextmanager\ndef {f}():\n{body}",
        "@asynccontextmanager\nasync def {f}(app):\n{body}",
        "@app.on_event('startup')\nasync def {f}():\n{body}",
        "class {F}:\n    def __init__(self, engine):\n{body}\n    def close(self):\n        self.session.close()",
        "class {F}:\n    async def __aexit__(self, *exc):\n{body}",
    ]
)


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line if line.strip() else line for line in text.split("\n"))


@st.composite
def statements(draw: st.DrawFn, generated: list[str], depth: int = 0) -> str:
    """A statement list: creations, closes, escapes, nested blocks and generated code.

    Generated statements come from a pool drawn up front: drawing from the grammar this
    deep inside other draws exhausts Hypothesis' nesting limit and wastes the example."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kinds = ["create", "line", "block", "generated"] if depth < 3 else ["create", "line", "generated"]
        kind = draw(st.sampled_from(kinds))
        name = draw(NAMES)
        if kind == "create":
            parts.append(f"{name} = {draw(CREATIONS)}")
        elif kind == "line":
            parts.append(draw(ONE_LINERS).format(v=name))
        elif kind == "block":
            template = draw(BLOCKS)
            bodies = iter([_indent(draw(statements(generated, depth + 1))) for _ in range(template.count("{body}"))])
            parts.append(re.sub(r"\{body\}", lambda _: next(bodies), template.replace("{c}", draw(CREATIONS)).replace("{v}", name)))
        elif generated:
            parts.append(draw(st.sampled_from(generated)).rstrip("\n"))
    return "\n".join(parts or ["pass"])


@st.composite
def sqlalchemy_programs(draw: st.DrawFn) -> str:
    generated = draw(st.lists(GENERATED_STATEMENTS, max_size=3))
    pieces = [HEADER]
    if draw(st.booleans()):
        pieces.append(draw(GENERATED_MODULES))
    for number in range(draw(st.integers(1, 4))):
        template = draw(FUNCTIONS)
        body = _indent(draw(statements(generated)), "        " if template.startswith("class") else "    ")
        pieces.append(template.format(f=f"f{number}", F=f"C{number}", body=body))
    if draw(st.booleans()):
        pieces.append("app = FastAPI(lifespan=f0)")
    return "\n".join(pieces) + "\n"


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
