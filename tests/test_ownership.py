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


def test_where_a_failure_ends_the_process():
    """An exception out of module-level code, ``main()``, a CLI command, a lifespan or a
    function only module level calls ends the process; out of a handler, a cached function,
    a function a loop or another function calls, or one declared ``called-once``, it does not."""
    import ast
    from pathlib import Path

    from sqla_lint.semantic.index import ProjectIndex
    from sqla_lint.semantic.project import FactoryConfig
    from sqla_lint.semantic.summaries import module_summary

    source = textwrap.dedent(
        """
        import click
        from functools import lru_cache

        def run_migrations_online(): ...
        def main(): ...
        @click.command()
        def ping(): ...
        @lru_cache
        def cached(): ...
        def per_tenant(): ...
        def looped(): ...
        def declared(): ...
        def nobody_calls(): ...

        def loop(names):
            for name in names:
                looped()
            per_tenant()

        run_migrations_online()
        """
    )
    factories = FactoryConfig(called_once=frozenset({"declared"}))
    summary = module_summary(ast.parse(source), "app.env", frozenset({"app"}), factories)
    index = ProjectIndex.of_module(Path("."), summary)
    model = ModuleModel(cst.parse_module(source), "app.env", factories, index)
    verdicts = {name: model.failure_ends_the_process(function) for name, function in model.module_functions.items()}
    assert verdicts == {
        "run_migrations_online": True,
        "main": True,
        "ping": True,
        "cached": False,
        "per_tenant": False,
        "looped": False,
        "declared": False,
        "nobody_calls": False,
        "loop": False,
    }
    assert model.failure_ends_the_process(None)


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
