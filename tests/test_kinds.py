"""The kind resolver (semantic/kinds.py) gives the same answers over either tree.

The module facts read CPython's tree and the module model reads libcst's; both ask the one
resolver. These tests pin the answers on both trees, and check on every fixture that the
two agree call by call (without a project index the model's hooks answer nothing, like the
facts').
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from sqla_lint.semantic.facts import ModuleFacts
from sqla_lint.semantic.model import ModuleModel
from sqla_lint.semantic.project import FactoryConfig
from sqla_lint.semantic.symbols import Kind

FIXTURES = Path(__file__).parent / "fixtures"
NO_FACTORIES = FactoryConfig()


def _both(source: str, factories: FactoryConfig = NO_FACTORIES) -> tuple[ModuleFacts, ModuleModel]:
    source = textwrap.dedent(source)
    return ModuleFacts(ast.parse(source), "app.db", factories), ModuleModel(cst.parse_module(source), "app.db", factories)


def _binding_kinds(resolver: ModuleFacts | ModuleModel) -> dict[str, Kind | None]:
    return {name: resolver.kind_of(values[0]) for name, values in resolver.module_bindings.items()}


def _return_kinds(resolver: ModuleFacts | ModuleModel) -> dict[str, Kind | None]:
    return {name: resolver.return_kind(function) for name, function in resolver.module_functions.items()}


def _agree(source: str, factories: FactoryConfig = NO_FACTORIES) -> tuple[dict[str, Kind | None], dict[str, Kind | None]]:
    facts, model = _both(source, factories)
    assert _binding_kinds(facts) == _binding_kinds(model)
    assert _return_kinds(facts) == _return_kinds(model)
    return _binding_kinds(facts), _return_kinds(facts)


def test_factories_sessions_connections_and_results():
    bindings, _ = _agree(
        """
        import sqlalchemy as sa
        from sqlalchemy.orm import sessionmaker
        from sqlalchemy.ext.asyncio import create_async_engine
        engine = sa.create_engine("sqlite://")
        aengine = create_async_engine("sqlite+aiosqlite://")
        Factory = sessionmaker(bind=engine)
        session = Factory()
        connection = engine.connect()
        aconnection = aengine.connect()
        result = engine.execute("select 1")
        aresult = aengine.execute("select 1")
        lent = session.connection()
        """
    )
    assert bindings == {
        "engine": Kind.ENGINE,
        "aengine": Kind.ASYNC_ENGINE,
        "Factory": Kind.SESSION_FACTORY,
        "session": Kind.SESSION,
        "connection": Kind.CONNECTION,
        "aconnection": Kind.ASYNC_CONNECTION,
        "result": Kind.ENGINE_RESULT,
        "aresult": None,  # an AsyncEngine has no execute()
        "lent": Kind.BORROWED_CONNECTION,
    }


def test_names_attributes_annotations_and_with_targets():
    _, returns = _agree(
        """
        from typing import Optional
        from sqlalchemy import Engine, create_engine
        from sqlalchemy.orm import Session, sessionmaker

        class Repo:
            factory = sessionmaker()
            def __init__(self):
                self.engine = create_engine("sqlite://")

        def from_class_attribute():
            return Repo.factory()

        def annotated(engine: Optional["Engine"]):
            return engine

        def union(engine: Engine | None):
            return engine

        def declared() -> Engine:
            raise NotImplementedError

        def nested():
            factory = sessionmaker()
            def inner():
                return factory()
            return inner()  # a nested function's result is not followed

        def opened():
            with sessionmaker()() as session:
                return session

        def begun():
            with sessionmaker().begin() as session:
                return session
        """
    )
    assert returns == {
        "from_class_attribute": Kind.SESSION,
        "annotated": Kind.ENGINE,
        "union": Kind.ENGINE,
        "declared": Kind.ENGINE,
        "nested": None,
        "opened": Kind.SESSION,
        "begun": Kind.SESSION,
    }


def test_helpers_cycles_caches_and_context_managers():
    bindings, returns = _agree(
        """
        import contextlib
        import functools
        from sqlalchemy.orm import Session

        def make():
            return Session()

        @functools.cache
        def shared():
            return Session()

        @contextlib.contextmanager
        def scope():
            yield Session()

        def ping():
            return pong()

        def pong():
            return ping()

        made = make()
        kept = shared()
        looped = ping()
        """
    )
    assert bindings == {"made": Kind.SESSION, "kept": None, "looped": None}
    assert returns == {"make": Kind.SESSION, "shared": Kind.SESSION, "scope": None, "ping": None, "pong": None}


def test_configured_factories():
    factories = FactoryConfig(session_factories=frozenset({"app.sessions.new_session"}), engine_factories=frozenset({"build_engine"}))
    bindings, _ = _agree(
        """
        from app.sessions import new_session
        session = new_session()
        engine = build_engine()
        """,
        factories,
    )
    assert bindings == {"session": Kind.SESSION, "engine": Kind.ENGINE}


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        ("get_session()", Kind.SESSION),
        ("get_session(None)", Kind.SESSION),
        ("get_session(mine)", None),
        ("get_session(session=mine)", None),
        ("get_session(session=None)", Kind.SESSION),
        ("get_session(*args)", None),
        ("get_session(**kwargs)", None),
        # The keyword is written: ``*args`` / ``**kwargs`` cannot also hold it. The model
        # read ``*args`` first and took the caller's session for given back.
        ("get_session(*args, session=None)", Kind.SESSION),
        ("get_session(**kwargs, session=None)", Kind.SESSION),
    ],
)
def test_a_helper_hands_back_the_session_it_is_given(call: str, kind: Kind | None):
    bindings, _ = _agree(
        f"""
        from sqlalchemy.orm import Session
        def get_session(session=None):
            return session or Session()
        value = {call}
        """
    )
    assert bindings["value"] is kind


@pytest.mark.parametrize(
    ("opened", "kind"),
    [
        ("contextlib.closing(Session())", Kind.SESSION),
        # The keyword form: the model read it, the facts did not.
        ("contextlib.closing(thing=Session())", Kind.SESSION),
        # A starred argument: the model read the sequence as the session, the facts did not.
        ("contextlib.closing(*sessions)", None),
        ("contextlib.closing(engine)", None),
    ],
)
def test_closing_wraps_the_session_it_is_given(opened: str, kind: Kind | None):
    _, returns = _agree(
        f"""
        import contextlib
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session
        engine = create_engine("sqlite://")
        def scoped(sessions: list[Session]):
            with {opened} as session:
                return session
        """
    )
    assert returns["scoped"] is kind


def _positions_of_calls(model: ModuleModel) -> dict[tuple[int, int, int, int], cst.Call]:
    positions = MetadataWrapper(model.module, unsafe_skip_copy=True).resolve(PositionProvider)
    return {
        (positions[call].start.line, positions[call].start.column, positions[call].end.line, positions[call].end.column): call
        for call in model.tree.calls
    }


@pytest.mark.parametrize(
    "path",
    sorted(p for p in FIXTURES.rglob("*.py") if p.read_text(encoding="utf-8").isascii()),
    ids=lambda p: str(p.relative_to(FIXTURES)),
)
def test_both_trees_give_every_call_the_same_kind(path: Path):
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        pytest.skip("not valid on this interpreter")
    facts = ModuleFacts(tree, "app.module")
    model = ModuleModel(cst.parse_module(source), "app.module")
    # The hooks are where the two consumers differ by design; without an index the model's
    # live ones are unpacking a tuple's maker (``_, Session = self._open()``) and a method of
    # an object of a known class (``backend.get_write_engine()``), which the facts leave to it.
    model.unpacked_kind = lambda function, name: None  # type: ignore[method-assign]
    model.method_result_kind = lambda call: None  # type: ignore[method-assign]
    libcst_calls = _positions_of_calls(model)
    compared = 0
    for call in facts.calls:
        twin = libcst_calls.get((call.lineno, call.col_offset, call.end_lineno, call.end_col_offset))
        if twin is None:
            continue
        assert facts.kind_of(call) is model.kind_of(twin), ast.unparse(call)
        compared += 1
    assert compared >= len(facts.calls) * 0.9
