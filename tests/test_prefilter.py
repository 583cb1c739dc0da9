"""The prefilter loses nothing: findings with it equal findings without it.

Checked on every fixture, on generated programs built from the shapes the prefilter
reasons about (imports, aliases, annotations, helpers, ``with``, caches, engines), and on
the cases its soundness argument singles out. The generated programs are also checked to
exercise both outcomes, so the comparison cannot pass by analysing everything.
"""

from __future__ import annotations

import ast
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from sqla_lint.diagnostics import FileResult
from sqla_lint.engine import lint_source, might_have_findings
from sqla_lint.prefilter import Prefilter
from sqla_lint.semantic import FactoryConfig
from sqla_lint.settings import Settings

from .conftest import FIXTURES
from .expectations import settings_for

FULL = replace(Settings(), prefilter=False)


def _findings(result: FileResult) -> list[tuple[int, int, str, str]]:
    return [(d.location.row, d.location.column, d.code, d.message) for d in result.diagnostics]


def _same_with_and_without_prefilter(source: str, path: str, settings: Settings = Settings()) -> bool:
    """Asserts equality; returns whether the prefilter let the file through."""
    screened = lint_source(source, path, settings)
    full = lint_source(source, path, replace(settings, prefilter=False))
    assert _findings(screened) == _findings(full), source
    return might_have_findings(source.encode(), settings)


@pytest.mark.parametrize("path", sorted((FIXTURES / "rules").rglob("*.py")), ids=lambda p: p.name)
def test_fixture_findings_are_the_same_without_the_prefilter(path: Path):
    settings = settings_for(path)
    _same_with_and_without_prefilter(path.read_text(encoding="utf-8"), str(path), settings)


# -- generated programs ---------------------------------------------------------------------

IMPORTS = [
    "import asyncio",
    "from asyncio import gather",
    "from sqlalchemy.orm import Session",
    "from sqlalchemy.orm import Session as DBSession",
    "from sqlalchemy import orm",
    "import sqlalchemy.orm as sa_orm",
    "import sqlalchemy",
    "import sqlalchemy as sa",
    "from sqlalchemy import create_engine, Engine",
    "from sqlalchemy.engine import Engine as SAEngine",
    "from sqlalchemy.orm import sessionmaker, scoped_session",
    "from sqlalchemy.ext.asyncio import async_sessionmaker",
    "from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine, AsyncEngine",
    "from sqlmodel import Session as ModelSession",
    "from contextlib import closing",
    "from contextlib import closing as shut",
    "from functools import lru_cache",
    "from typing import Annotated, Optional",
    "from fastapi import Depends",
    "import requests",
    "from airflow import settings",
    "if TYPE_CHECKING:\n    from sqlalchemy.orm import Session",
    "from sqlalchemy.engine.base import Connection",
    "from sqlalchemy import Connection as Conn",
    "from sqlalchemy.ext.asyncio import AsyncConnection",
]

NAMES = ["session", "db", "s", "engine", "conn", "factory", "x", "holder"]
SESSION_TYPES = ["Session", "DBSession", "orm.Session", "sa_orm.Session", "sqlalchemy.orm.Session",
                 "AsyncSession", "ModelSession", '"Session"', "Optional[Session]", "Session | None",
                 "Annotated[Session, Depends(get_db)]", "requests.Session", "int",
                 "Connection", "Conn", "AsyncConnection", "sa.Connection", "Optional[Connection]", '"Connection"']
ENGINE_TYPES = ["Engine", "SAEngine", "AsyncEngine", "sa.Engine", '"Engine"', "Optional[Engine]"]
FACTORY_MAKERS = ["sessionmaker", "sa.orm.sessionmaker", "orm.sessionmaker", "async_sessionmaker", "make_maker"]
FACTORY_TYPES = ["sessionmaker", "async_sessionmaker[AsyncSession]", '"sessionmaker"', "orm.sessionmaker", "Callable"]
SOURCES = ["Session(engine)", "DBSession(bind=engine)", "orm.Session()", "sa.orm.Session(engine)",
           "sqlalchemy.orm.Session()", "sessionmaker(bind=engine)()", "ModelSession(engine)",
           "requests.Session()", "settings.Session()", "create_engine(url)", "sa.create_engine(url)",
           "create_async_engine(url)", "scoped_session(sessionmaker())", "AsyncSession(engine)",
           "get_session()", "self.make()", "make_factory()()"]

TEMPLATES = [
    # parameters annotated with a session: only what escapes can matter
    "def {f}({a}: {st} = None):\n    return {a}.query(User).all()\n",
    "def {f}({a}: {st}):\n    return {a}\n",
    "def {f}({a}: {st}):\n    {b} = {a}\n    return {b}\n",
    "def {f}({a}: {st}):\n    with {a} as {b}:\n        {b}.add(1)\n        {b}.close()\n",
    "def {f}({a}: {st}):\n    with closing({a}) as {b}:\n        return {b}.scalar(1)\n",
    "def {f}({a}: {st}):\n    with shut({a}) as {b}:\n        pass\n",
    "def {f}({a}: {st}):\n    with other({a}) as {b}:\n        return {b}\n",
    "@lru_cache\ndef {f}({a}: {st}):\n    yield {a}\n",
    "def {f}(*, {a}: {st}):\n    yield from {a}.scalars(1)\n",
    "class {F}:\n    def __init__(self, {a}: {st}):\n        self.{b} = {a}\n    def get(self):\n        return self.{b}\n",
    # ... or is shared by operations that run at once (SQA406)
    "async def {f}({a}: {st}):\n    await asyncio.gather({a}.execute(1), {a}.execute(2))\n",
    "async def {f}({a}: {st}):\n    {b} = {a}\n    await gather(load({b}), load({a}))\n",
    "async def {f}({a}: {st}):\n    for i in ids:\n        asyncio.create_task(load({a}, i))\n",
    "async def {f}({a}: {st}):\n    {b} = []\n    for i in ids:\n        {b}.append(load({a}, i))\n    await asyncio.gather(*{b})\n",
    "async def {f}({a}: {st}):\n    async with asyncio.TaskGroup() as tg:\n        tg.create_task(load({a}))\n        tg.create_task(load({a}))\n",
    "async def {f}({a}: {st}):\n    await asyncio.gather(load({a}), load(2))\n",
    "def {f}():\n    {a} = {g}()\n    return {a}.query(1).all()\n",
    # engines from annotations: only a connection matters
    "def {f}({a}: {et}):\n    {b} = {a}.connect()\n    return {b}.execute(1)\n",
    "def {f}({a}: {et}):\n    return {a}.dispose()\n",
    "def {f}({a}: {et}):\n    {b} = {a}\n    with {b}.begin() as c:\n        pass\n",
    "def {f}() -> {et}:\n    return make()\n\ndef {g}():\n    {b} = {f}().raw_connection()\n",
    "def {f}({a}: {et}):\n    return {a}\n\ndef {g}(e: int):\n    return {f}(e).connect()\n",
    # session factories: nothing is created until one is called
    "{a} = {fm}(bind=engine)\n\ndef {f}():\n    return configure({a})\n",
    "{a} = {fm}(bind=engine)\n\ndef {f}():\n    {b} = {a}()\n    return {b}.query(1).all()\n",
    "{a} = {fm}(bind=engine)\n\ndef {f}():\n    with {a}.begin() as {b}:\n        {b}.close()\n",
    "def {f}():\n    return {fm}()\n\ndef {g}():\n    {a} = {f}()()\n    {a}.execute(1)\n",
    "class {F}:\n    def __init__(self):\n        self.{b} = {fm}()\n    def run(self):\n        {a} = self.{b}()\n        return {a}.get(1)\n",
    "def {f}({a}: {ft}):\n    {b} = {a}()\n    return {b}.scalar(1)\n",
    "def {f}({a}: {ft}):\n    return wrap({a})\n",
    # sources written out
    "def {f}():\n    {a} = {src}\n    return {a}.query(1).all()\n",
    "def {f}():\n    with {src} as {a}:\n        {a}.close()\n",
    "def {f}():\n    return {src}\n\ndef {g}():\n    {a} = {f}()\n    {a}.execute(1)\n",
    "@lru_cache\ndef {f}():\n    return {src}\n",
    "{a} = {src}\n",
    "class {F}:\n    {b} = {src}\n    def run(self):\n        return self.{b}\n",
    "@app.get('/')\ndef {f}():\n    {a} = {src}\n    return 1\n",
    "async def {f}():\n    {a} = await {src}\n    return {a}\n",
]


def _random_program(rng: random.Random) -> str:
    parts = ["from typing import TYPE_CHECKING", *rng.sample(IMPORTS, rng.randint(2, 7)), ""]
    for index in range(rng.randint(1, 4)):
        a, b = rng.sample(NAMES, 2)
        parts.append(
            rng.choice(TEMPLATES).format(
                f=f"f{index}",
                g=rng.choice(["get_session", "make", f"f{index}_helper", "f0"]),
                F=f"C{index}",
                a=a,
                b=b,
                st=rng.choice(SESSION_TYPES),
                et=rng.choice(ENGINE_TYPES),
                src=rng.choice(SOURCES),
                fm=rng.choice(FACTORY_MAKERS),
                ft=rng.choice(FACTORY_TYPES),
            )
        )
    return "\n".join(parts)


@hypothesis_settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_generated_programs_have_the_same_findings_without_the_prefilter(rng: random.Random):
    source = _random_program(rng)
    ast.parse(source)
    _same_with_and_without_prefilter(source, "app/generated.py")


def test_generated_programs_exercise_both_outcomes():
    """The comparison above proves something only if the prefilter skips some programs
    and lets through some that have findings."""
    rng = random.Random(6)
    skipped = analysed_with_findings = 0
    for _ in range(300):
        source = _random_program(rng)
        if not might_have_findings(source.encode(), Settings()):
            skipped += 1
        elif lint_source(source, "app/generated.py", FULL).diagnostics:
            analysed_with_findings += 1
    assert skipped >= 30 and analysed_with_findings >= 30, (skipped, analysed_with_findings)


# -- the cases the soundness argument singles out ------------------------------------------

AIRFLOW_STYLE = '''
from __future__ import annotations
from typing import TYPE_CHECKING
from airflow.utils.session import NEW_SESSION, provide_session
from airflow import settings
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

@provide_session
def count_runs(dag_id: str, *, session: Session = NEW_SESSION) -> int:
    """Counts runs. :param session: SQLAlchemy ORM Session"""
    return session.scalar(select(func.count()).where(DagRun.dag_id == dag_id))

def clean() -> None:
    settings.Session.remove()
'''


def test_parameters_annotated_with_session_alone_are_skipped():
    assert not might_have_findings(AIRFLOW_STYLE.encode(), Settings())
    _same_with_and_without_prefilter(AIRFLOW_STYLE, "airflow/models/dagrun.py")


def test_an_annotated_session_shared_by_gather_is_analysed():
    source = AIRFLOW_STYLE + "import asyncio\n\nasync def both(session: Session):\n    await asyncio.gather(session.execute(1), session.execute(2))\n"
    assert might_have_findings(source.encode(), Settings())
    assert {d.code for d in lint_source(source, "m.py", Settings()).diagnostics} == {"SQA406"}


def test_a_helper_returning_an_annotated_session_is_analysed():
    source = AIRFLOW_STYLE + "\ndef current(session: Session):\n    return session\n\ndef use():\n    s = current(x)\n    s.execute(1)\n"
    assert might_have_findings(source.encode(), Settings())
    assert {d.code for d in lint_source(source, "m.py", Settings()).diagnostics} == {"SQA401"}


def test_an_engine_parameter_that_connects_is_analysed():
    source = "from sqlalchemy import Engine\n\ndef load(engine: Engine):\n    conn = engine.connect()\n    return conn.execute(1)\n"
    assert might_have_findings(source.encode(), Settings())
    assert {d.code for d in lint_source(source, "m.py", Settings()).diagnostics} == {"SQA503"}


def test_an_engine_parameter_that_never_connects_is_skipped():
    source = "from sqlalchemy import Engine\n\ndef size(engine: Engine) -> int:\n    return engine.pool.size()\n"
    assert not might_have_findings(source.encode(), Settings())


def test_relative_imports_inside_a_package_named_like_a_library(tmp_path: Path):
    package = tmp_path / "sqlalchemy" / "orm"
    package.mkdir(parents=True)
    (tmp_path / "sqlalchemy" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    source = "from .session import Session\n\ndef leak(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"
    module = package / "helpers.py"
    module.write_text(source)
    assert might_have_findings(source.encode(), Settings())
    assert _findings(lint_source(source, str(module), Settings()))
    _same_with_and_without_prefilter(source, str(module))


def test_configured_and_extra_names_always_analyse():
    source = "from app.db import get_db\n\ndef f():\n    db = get_db()\n    return db.query(1).all()\n"
    configured = Settings(factories=FactoryConfig(session_factories=frozenset({"app.db.get_db"})))
    assert not might_have_findings(source.encode(), Settings())
    assert might_have_findings(source.encode(), configured)
    assert Prefilter(extra_names=["app.db.get_db"]).needs_analysis(source.encode())
    _same_with_and_without_prefilter(source, "m.py", configured)


def test_a_file_cpython_cannot_parse_gets_its_syntax_error_from_the_full_path():
    source = b"from sqlalchemy.orm import Session\ndef f(:\n"
    assert might_have_findings(source, Settings())
    broken_elsewhere = b"import os\nx = (\n"
    assert might_have_findings(broken_elsewhere, Settings())
    assert [d.code for d in lint_source(broken_elsewhere, "m.py", Settings()).diagnostics] == ["SQA001"]
    assert not might_have_findings(broken_elsewhere, Settings(enabled=frozenset({"SQA401"})))


def test_a_program_only_the_symbol_table_rejects_goes_to_libcst():
    source = "import os\nnonlocal x\n"
    assert might_have_findings(source.encode(), Settings())
    _same_with_and_without_prefilter(source, "m.py")


def test_an_encoding_that_can_hide_names_is_always_analysed():
    hidden = "# -*- coding: utf-7 -*-\nimport os\n".encode("utf-7")
    assert might_have_findings(hidden, Settings())
    plain = "# -*- coding: latin-1 -*-\nimport os\n".encode("latin-1")
    assert not might_have_findings(plain, Settings())


def test_a_call_inside_an_annotation_is_a_call():
    source = "from sqlalchemy.orm import Session\n\ndef f(x: Annotated[int, Session()]):\n    pass\n"
    assert might_have_findings(source.encode(), Settings())
    _same_with_and_without_prefilter(source, "m.py")


def test_the_tree_flake8_already_has_is_used():
    source = "from sqlalchemy.orm import Session\n\ndef f(e):\n    s = Session(e)\n    return s.query(1).all()\n"
    assert Prefilter().needs_analysis(source.encode(), ast.parse(source))
    assert not Prefilter().needs_analysis(b"import os\n", ast.parse("import os\n"))


def test_a_warning_is_not_a_parse_error():
    """An invalid escape sequence warns; under ``-W error`` it must not make the syntax
    pass fail, which would send the file to libcst for nothing."""
    import warnings

    from sqla_lint import prefilter

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert prefilter.parses(b'PATTERN = "\\d+"\n')
