"""What a method of an object returns, as units: the class a receiver is an instance of
(model.instance_class), the kind its method's call gives (model.method_result_kind), and
the facts and index judgements that carry both across modules."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from sqla_lint.semantic import ModuleModel
from sqla_lint.semantic.index import ProjectIndex
from sqla_lint.semantic.summaries import module_summary
from sqla_lint.semantic.symbols import Kind

BACKEND = """
from functools import lru_cache
from typing import Optional

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

shared = create_engine("sqlite://")


class Backend:
    def __init__(self, url):
        self._engine = create_engine(url)
        self._maker = sessionmaker(bind=self._engine)

    def get_write_engine(self):
        return self._engine

    def get_shared_engine(self):
        return shared

    def create_session(self) -> Session:
        return self._maker()

    def describe(self) -> str:
        return "backend"

    @lru_cache
    def cached_session(self):
        return self._maker()


class Other:
    def get_write_engine(self):
        return "not an engine"
"""


def _model(source: str, module: str = "app.backend", index: ProjectIndex | None = None) -> ModuleModel:
    return ModuleModel(cst.parse_module(textwrap.dedent(source)), module, index=index)


def _summary(source: str, module: str):
    summary = module_summary(ast.parse(textwrap.dedent(source)), module, frozenset({"app"}))
    assert summary is not None
    return summary


def _call(model: ModuleModel, written: str) -> cst.Call:
    """The first call written exactly so."""
    found = [call for call in model.calls if model.source_of(call) == written]
    assert found, written
    return found[0]


def _receiver(model: ModuleModel, written: str) -> cst.BaseExpression:
    func = _call(model, written).func
    assert isinstance(func, cst.Attribute)
    return func.value


USES = BACKEND + """

backend = Backend("sqlite://")
maybe = Backend("sqlite://") if shared else None
either = Backend("sqlite://") if shared else Other()


def at_module_level():
    return backend.get_write_engine()


def local():
    b = Backend("sqlite://")
    return b.get_write_engine()


def annotated(a: Backend, b: Optional[Backend], c: "Backend | None", d: "Other", e, f: list[Backend]):
    return a.describe(), b.describe(), c.describe(), d.describe(), e.describe(), f.describe()


def shadowed(backend):
    return backend.get_write_engine()


def rebound():
    thing = Backend("sqlite://")
    thing = Other()
    return thing.get_write_engine()


class Holder:
    declared: Backend
    declared_twice: Backend
    declared_twice: Other

    def __init__(self, given: Backend, anything):
        self.given = given
        self.module_level = backend
        self.built = Backend("sqlite://")
        self.optional = None
        self.annotated: "Backend" = anything
        self.declared_twice = anything

    def use(self):
        return (
            self.given.describe(),
            self.module_level.describe(),
            self.built.describe(),
            self.optional.describe(),
            self.declared.describe(),
            self.annotated.describe(),
            self.declared_twice.describe(),
        )
"""


@pytest.mark.parametrize(
    "written, expected",
    [
        ("backend.get_write_engine()", "app.backend.Backend"),
        ("b.get_write_engine()", "app.backend.Backend"),
        ("a.describe()", "app.backend.Backend"),
        ("b.describe()", "app.backend.Backend"),
        ("c.describe()", "app.backend.Backend"),
        ("d.describe()", "app.backend.Other"),
        ("e.describe()", None),  # an unannotated parameter: unknown
        ("f.describe()", None),  # a list of them is not one
        ("thing.get_write_engine()", None),  # bindings that disagree
        ("self.given.describe()", "app.backend.Backend"),
        ("self.module_level.describe()", "app.backend.Backend"),
        ("self.built.describe()", "app.backend.Backend"),
        ("self.optional.describe()", None),  # only ever None
        ("self.declared.describe()", "app.backend.Backend"),  # a dataclass-style field
        ("self.annotated.describe()", "app.backend.Backend"),
        ("self.declared_twice.describe()", None),  # declarations that disagree
    ],
)
def test_the_class_of_a_receiver_comes_from_its_bindings(written: str, expected: str | None):
    model = _model(USES)
    assert model.instance_class(_receiver(model, written)) == expected


def test_a_parameter_shadows_the_module_level_instance():
    model = _model(USES)
    shadowed = [c for c in model.calls if model.source_of(c) == "backend.get_write_engine()"][-1]
    assert model.instance_class(shadowed.func.value) is None
    assert model.kind_of(shadowed) is None


@pytest.mark.parametrize(
    "written, kind",
    [
        ("backend.get_write_engine()", Kind.ENGINE),  # self._engine made in __init__
        ("b.get_write_engine()", Kind.ENGINE),
        ("a.describe()", None),  # a method returning something else
        ("thing.get_write_engine()", None),  # unknown class: the name alone says nothing
    ],
)
def test_a_method_of_a_known_class_gives_what_it_returns(written: str, kind: Kind | None):
    model = _model(USES)
    assert model.method_result_kind(_call(model, written)) is kind


def test_a_module_level_engine_a_new_session_and_a_cached_method():
    model = _model(
        BACKEND
        + """
backend = Backend("sqlite://")
other = Other()

def use():
    return backend.get_shared_engine(), backend.create_session(), backend.cached_session(), other.get_write_engine()

def connect():
    return backend.get_shared_engine().connect()
"""
    )
    assert model.kind_of(_call(model, "backend.get_shared_engine()")) is Kind.ENGINE
    assert model.kind_of(_call(model, "backend.create_session()")) is Kind.SESSION
    assert model.kind_of(_call(model, "backend.cached_session()")) is None  # every caller shares it
    assert model.kind_of(_call(model, "other.get_write_engine()")) is None
    assert model.kind_of(_call(model, "backend.get_shared_engine().connect()")) is Kind.CONNECTION


STATE = """
from app.backend import Backend


class Local:
    def get_engine(self):
        from app.backend import shared
        return shared


backend = Backend("sqlite://")
local = Local()
"""


def _project() -> ProjectIndex:
    summaries = [_summary(BACKEND, "app.backend"), _summary(STATE, "app.state")]
    return ProjectIndex(Path("."), {summary.module: summary for summary in summaries})


def test_facts_say_which_class_a_module_level_instance_is_of():
    state = _summary(STATE, "app.state")
    assert state.bindings["backend"] == "call:app.backend.Backend"
    assert state.bindings["local"] == "call:app.state.Local"  # a class of its own module
    backend = _summary(BACKEND, "app.backend")
    assert backend.functions["Backend.get_write_engine"].returns == "kind:ENGINE"
    assert backend.functions["Backend.create_session"].returns == "kind:SESSION"


def test_the_index_knows_instances_and_classes_with_resource_methods():
    index = _project()
    assert index.instance_class("app.state.backend") == "app.backend.Backend"
    assert index.instance_class("app.state.local") == "app.state.Local"
    assert index.instance_class("app.backend.shared") is None  # an engine, not an instance of a project class
    assert index.resource_methods("app.state.backend")
    assert index.resource_methods("app.backend.Backend")
    assert index.resource_methods("app.state.local")
    assert not index.resource_methods("app.backend.Other")
    assert index.tracks("app.state.backend") and index.tracks("app.backend.Backend")
    assert not index.tracks("app.backend.Other")


def test_a_method_of_an_object_from_another_module():
    index = _project()
    model = _model(
        """
from app import state
from app.backend import Backend, Other
from app.state import backend, local

def use(given: Backend, other: Other):
    return (
        backend.get_write_engine(),
        state.backend.create_session(),
        local.get_engine(),
        given.get_write_engine(),
        backend.describe(),
        other.get_write_engine(),
    )
""",
        module="app.actions",
        index=index,
    )
    assert model.kind_of(_call(model, "backend.get_write_engine()")) is Kind.ENGINE
    assert model.kind_of(_call(model, "state.backend.create_session()")) is Kind.SESSION
    assert model.kind_of(_call(model, "local.get_engine()")) is Kind.ENGINE
    assert model.kind_of(_call(model, "given.get_write_engine()")) is Kind.ENGINE
    assert model.kind_of(_call(model, "backend.describe()")) is None
    assert model.kind_of(_call(model, "other.get_write_engine()")) is None


def test_a_method_a_class_inherits_is_its_bases():
    model = _model(
        BACKEND
        + """
class Postgres(Backend):
    pass


class Described(Backend):
    def get_write_engine(self):
        return self.describe()


postgres = Postgres("sqlite://")
described = Described("sqlite://")

def use():
    return postgres.get_write_engine(), described.get_write_engine()
"""
    )
    assert model.kind_of(_call(model, "postgres.get_write_engine()")) is Kind.ENGINE
    assert model.kind_of(_call(model, "described.get_write_engine()")) is None  # its own override wins


def test_the_index_finds_a_method_through_bases_in_other_modules():
    subclass = _summary(
        """
from app.backend import Backend

class Postgres(Backend):
    def __init__(self):
        super().__init__("sqlite://")

class Renamed(Postgres):
    pass

postgres = Renamed()
""",
        "app.postgres",
    )
    summaries = [_summary(BACKEND, "app.backend"), subclass]
    index = ProjectIndex(Path("."), {summary.module: summary for summary in summaries})
    assert subclass.bases == {"Postgres": ["app.backend.Backend"], "Renamed": ["app.postgres.Postgres"]}
    assert index.method("app.postgres.Renamed", "get_write_engine") == "app.backend.Backend.get_write_engine"
    assert index.method("app.postgres.Renamed", "missing") is None
    assert index.resource_methods("app.postgres.postgres")
    model = _model(
        "from app.postgres import postgres\n\ndef use():\n    return postgres.get_write_engine().connect()\n",
        module="app.actions",
        index=index,
    )
    assert model.kind_of(_call(model, "postgres.get_write_engine().connect()")) is Kind.CONNECTION


REGISTRY = """
class DatastoreBackend:
    _backends = {}
    _active_backend: "DatastoreBackend"

    @classmethod
    def set_active_backend(cls, schema):
        cls._active_backend = cls._backends[schema]()

    @classmethod
    def get_active_backend(cls):
        return cls._active_backend

    def search(self, query):
        raise NotImplementedError
"""

POSTGRES = """
from sqlalchemy import create_engine

from app.registry import DatastoreBackend

_engine = create_engine("sqlite://")


class PostgresBackend(DatastoreBackend):
    def _get_write_engine(self):
        return _engine

    def _get_name(self):
        return "postgres"


class Replica(PostgresBackend):
    pass
"""


def test_a_method_returning_a_declared_attribute_returns_an_instance_of_its_class():
    registry = _summary(REGISTRY, "app.registry")
    assert registry.functions["DatastoreBackend.get_active_backend"].returns == "call:app.registry.DatastoreBackend"
    index = ProjectIndex(Path("."), {"app.registry": registry})
    assert index.returned_instance("app.registry.DatastoreBackend.get_active_backend") == "app.registry.DatastoreBackend"
    model = _model(REGISTRY + "\ndef use():\n    backend = DatastoreBackend.get_active_backend()\n    return backend.search(1)\n", "app.registry")
    assert model.instance_class(_receiver(model, "backend.search(1)")) == "app.registry.DatastoreBackend"


def test_a_method_only_the_project_subclasses_define_gives_what_they_all_return():
    """The backend is chosen at run time among the project's subclasses: a method its
    declared class lacks is one of theirs, and counts only where they agree."""
    summaries = [_summary(REGISTRY, "app.registry"), _summary(POSTGRES, "app.postgres")]
    index = ProjectIndex(Path("."), {summary.module: summary for summary in summaries})
    assert index.overriding_methods("app.registry.DatastoreBackend", "_get_write_engine") == ["app.postgres.PostgresBackend._get_write_engine"]
    # Not for relevance: a base of many classes would make every module naming it relevant.
    assert not index.resource_methods("app.registry.DatastoreBackend")
    assert index.resource_methods("app.postgres.Replica")  # its base's own method
    # but what returns an instance of the base may give any of them
    assert index.returned_resource_methods("app.registry.DatastoreBackend.get_active_backend") == {"_get_write_engine"}
    assert index.tracks("app.registry.DatastoreBackend.get_active_backend")
    assert not index.returned_resource_methods("app.postgres.PostgresBackend._get_write_engine")  # an engine, not an instance
    model = _model(
        """
from app.registry import DatastoreBackend

def action():
    backend = DatastoreBackend.get_active_backend()
    return backend._get_write_engine().connect(), backend._get_name(), backend.search(1), backend.missing()
""",
        module="app.actions",
        index=index,
    )
    assert model.kind_of(_call(model, "backend._get_write_engine().connect()")) is Kind.CONNECTION
    assert model.kind_of(_call(model, "backend._get_name()")) is None
    assert model.kind_of(_call(model, "backend.search(1)")) is None  # its own class defines it
    assert model.kind_of(_call(model, "backend.missing()")) is None


def test_subclasses_that_disagree_say_nothing():
    other = """
from app.registry import DatastoreBackend

class SqliteBackend(DatastoreBackend):
    def _get_write_engine(self):
        return "sqlite"
"""
    summaries = [_summary(REGISTRY, "app.registry"), _summary(POSTGRES, "app.postgres"), _summary(other, "app.sqlite")]
    index = ProjectIndex(Path("."), {summary.module: summary for summary in summaries})
    model = _model(
        "from app.registry import DatastoreBackend\n\ndef action(backend: DatastoreBackend):\n    return backend._get_write_engine()\n",
        module="app.actions",
        index=index,
    )
    assert model.kind_of(_call(model, "backend._get_write_engine()")) is None


def test_a_class_tracked_through_its_methods_makes_a_file_relevant_only_where_it_calls_one():
    """A model class with a resource method is named in most modules of a project; only a
    module that calls one of those methods can create a resource through it."""
    index = _project()
    assert index.methods_tracked("app.backend.Backend") == {"get_write_engine", "get_shared_engine", "create_session"}
    calls = b"from app.backend import Backend\n\ndef f(backend: Backend):\n    return backend.get_write_engine().connect()\n"
    names = b"from app.backend import Backend\n\ndef f(backend: Backend):\n    return backend.describe()\n"
    assert index.used_by(calls, "app.actions")
    assert not index.used_by(names, "app.actions")
    # a name bound to a kind is tracked as before, whatever the file calls
    assert index.used_by(b"from app.backend import shared\n\ndef f():\n    return shared\n", "app.actions")
