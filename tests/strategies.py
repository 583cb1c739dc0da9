"""Hypothesis strategies shared by the fuzz tests of the linter (test_fuzz.py) and of the
fixer (test_fix_fuzz.py): hypothesmith's grammar-generated valid programs, and those
programs with SQLAlchemy spliced in (sessions, connections and engines created, closed,
returned, yielded, stored on ``self``, inside ``with`` / ``try`` / loops, in lifespans and
``lru_cache``-d factories), so the rules and their fixes have something to chew on.

``SQLA_LINT_FUZZ_EXAMPLES`` scales the example counts for a longer local run.
"""

from __future__ import annotations

import os
import re

import hypothesmith
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sqla_lint.settings import Settings

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


# -- fixable shapes, with generated code spliced in -----------------------------------------
#
# `sqlalchemy_programs` rarely builds a shape a fix applies to (about 2% of examples). These
# templates are the shapes the fixes are for (SQA401 / SQA503 safe and unsafe, SQA404,
# SQA502), and generated statements and uses of the resource are spliced into them, so most
# examples exercise a fix, and many a fix the analysis must refuse.

FIXABLE = st.sampled_from(
    [
        "def {f}(engine):\n    {v} = Session(engine)\n{body}\n    return {v}.execute(text('select 1')).all()",
        "def {f}(engine, user_id):\n    {v} = SessionLocal()\n{body}\n    return {v}.get(User, user_id)",
        "def {f}(engine):\n    {v} = SessionLocal()\n{body}\n    {v}.commit()",
        "def {f}(engine):\n    {v} = engine.connect()\n{body}\n    {v}.execute(text('select 1'))\n    {v}.close()",
        "async def {f}(engine):\n    {v} = AsyncSession(engine)\n{body}\n    await {v}.commit()",
        "async def {f}(engine):\n    {v} = await engine.connect()\n{body}\n    return (await {v}.execute(text('select 1'))).all()",
        "def {f}(engine, flag):\n    if flag:\n        {v} = Session(engine)\n{body2}\n        return {v}.scalar(text('select 1'))",
        "class {F}:\n    def run(self, engine):\n        {v} = Session(engine)\n{body2}\n        return {v}.execute(text('select 1')).all()",
        "def {f}(engine):\n    with Session(engine) as {v}:\n{body2}\n        {v}.close()",
        "async def {f}():\n    async with SessionLocal() as {v}:\n        try:\n{body3}\n            yield {v}\n        finally:\n            await {v}.close()",
        "@asynccontextmanager\nasync def {f}(app):\n    app.state.engine = create_async_engine(url)\n{body}\n    yield",
        "@asynccontextmanager\nasync def {f}(app):\n    engine = create_engine(url)\n{body}\n    yield {{'engine': engine}}",
    ]
)
USES = st.sampled_from(
    [
        "{v}.execute(text('select 2'))",
        "rows = {v}.execute(text('select 3')).all()",
        "{v}.add(item)",
        "total = {v}.scalar(text('select 4'))",
        "if flag:\n    {v}.flush()",
        "for item in items:\n    {v}.merge(item)",
        "# a comment\n",
        "log({v})",
        "other = {v}",
        "return {v}",
        "{v}.close()",
    ]
)


@st.composite
def fixable_programs(draw: st.DrawFn) -> str:
    """Module: the header, maybe a generated module, then 1-3 fixable shapes whose bodies mix
    uses of the resource with generated statements."""
    generated = draw(st.lists(GENERATED_STATEMENTS, max_size=3))
    pieces = [HEADER]
    if draw(st.booleans()):
        pieces.append(draw(GENERATED_MODULES))
    for number in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(["s", "db", "conn", "session"]))
        lines = []
        for _ in range(draw(st.integers(0, 3))):
            if generated and draw(st.booleans()):
                lines.append(draw(st.sampled_from(generated)).rstrip("\n"))
            else:
                lines.append(draw(USES).format(v=name))
        body = "\n".join(lines or ["pass"])
        template = draw(FIXABLE)
        pieces.append(
            template.format(
                f=f"f{number}", F=f"C{number}", v=name,
                body=_indent(body), body2=_indent(body, " " * 8), body3=_indent(body, " " * 12),
            )
        )
    if draw(st.booleans()):
        pieces.append("app = FastAPI(lifespan=f0)")
    return "\n".join(pieces) + "\n"
