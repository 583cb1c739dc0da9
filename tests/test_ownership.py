"""The ownership analysis' judgements on engines, asked directly of the model (the rule
fixtures show what SQA501 makes of them)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from sqla_lint.semantic import ModuleModel, Outcome, OwnershipAnalysis
from sqla_lint.semantic.symbols import closers_for


def _outcomes(source: str) -> dict[str, Outcome]:
    """The outcome of every creation, keyed by the function that makes it."""
    model = ModuleModel(cst.parse_module(textwrap.dedent(source)), "app.module")
    analysis = OwnershipAnalysis(model)
    return {
        model.function_name(creation.function): analysis.of(creation.call, closers_for(creation.kind)).outcome
        for creation in model.creations
        if creation.function is not None
    }


def test_an_engine_read_only_for_what_describes_it_never_connects():
    outcomes = _outcomes(
        """
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine

        def dialect_probe(url):
            engine = sa.create_engine(url)
            return engine.dialect.identifier_preparer._double_percents

        def mask(url):
            engine = sa.create_engine(url)
            masked = engine.url
            return masked.render_as_string(hide_password=True), engine.name, engine.driver

        def async_name(url):
            engine = create_async_engine(url)
            return engine.dialect.name
        """
    )
    assert outcomes == dict.fromkeys(["dialect_probe", "mask", "async_name"], Outcome.NEVER_CONNECTS)
    assert not Outcome.NEVER_CONNECTS.leaks


@pytest.mark.parametrize(
    "use",
    [
        "engine.connect().close()",
        "engine.url; engine.raw_connection()",
        "engine.dialect; sa.inspect(engine)",
        "engine.pool.status()",
        "engine.dialect(url)",
        "other = engine; other.url",
        "engine.url; (lambda: engine.connect())()",
        "engine.url; del engine",
    ],
)
def test_anything_more_than_a_description_may_connect(use):
    outcomes = _outcomes(
        f"""
        import sqlalchemy as sa

        def work(url):
            engine = sa.create_engine(url)
            {use}
        """
    )
    assert outcomes["work"] is not Outcome.NEVER_CONNECTS


def test_an_unused_engine_is_not_judged_to_never_connect():
    outcomes = _outcomes(
        """
        import sqlalchemy as sa

        def work(url):
            engine = sa.create_engine(url)
        """
    )
    assert outcomes["work"] is Outcome.NEVER_CLOSED


def test_only_engines_are_judged_by_their_description():
    outcomes = _outcomes(
        """
        import sqlalchemy as sa
        from sqlalchemy.orm import Session

        engine = sa.create_engine("sqlite://")

        def connection_dialect():
            conn = engine.connect()
            return conn.dialect.name

        def session_bind():
            session = Session(engine)
            return session.bind.url
        """
    )
    assert Outcome.NEVER_CONNECTS not in outcomes.values()


@pytest.mark.parametrize(
    "registration",
    [
        "stack.callback(engine.dispose)",
        "stack.push_async_callback(engine.dispose)",
        "atexit.register(engine.dispose)",
        "weakref.finalize(holder, engine.dispose)",
        "request.addfinalizer(engine.dispose)",
    ],
)
def test_a_dispose_handed_to_a_callback_is_context_managed(registration):
    outcomes = _outcomes(
        f"""
        import atexit, weakref
        import sqlalchemy as sa

        def work(url, stack, holder, request):
            engine = sa.create_engine(url)
            {registration}
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        """
    )
    assert outcomes["work"] is Outcome.CONTEXT_MANAGED


@pytest.mark.parametrize(
    "use",
    [
        "helper(conn)",
        "result = helper(conn)",
        "a, b = helper(conn)",
        "[a, *rest] = helper(conn)",
        "(a, b), c = helper(conn)",
        "a, b = service.split(conn, 1)",
    ],
)
def test_a_named_connection_passed_into_a_call_stays_the_callers(use: str):
    """SPEC, "leaks naive tools miss": `a, b = helper(conn)` is no escape of `conn`; the
    call's result, whatever its shape, is not the connection."""
    outcomes = _outcomes(
        f"""
        from sqlalchemy import create_engine
        from app.reports import helper, service

        engine = create_engine("sqlite://")

        def report():
            conn = engine.connect()
            {use}
        """
    )
    assert outcomes == {"report": Outcome.NEVER_CLOSED}
