"""Module facts (semantic/facts.py) and the project index's judgements over them, as units.

The index is built from these facts, and a file linted without a project asks a
one-module index of its own facts, so the CLI, flake8 and the library agree.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from sqla_lint.api import lint_source
from sqla_lint.config import Overrides, build_settings, load_config
from sqla_lint.indexing import build_index
from sqla_lint.semantic.facts import CallSite, FunctionSummary
from sqla_lint.semantic.summaries import module_summary
from sqla_lint.semantic.index import ProjectIndex
from sqla_lint.semantic.project import FactoryConfig
from sqla_lint.semantic.symbols import Kind


def _facts(source: str, module: str = "app.db", packages: frozenset[str] = frozenset({"app"}), **kwargs):
    summary = module_summary(ast.parse(textwrap.dedent(source)), module, packages, **kwargs)
    assert summary is not None
    return summary


def test_module_level_and_class_bindings_are_symbolic():
    facts = _facts(
        """
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker, scoped_session
        from app.settings import URL
        engine = create_engine(URL)
        SessionLocal = sessionmaker(bind=engine)
        registry = scoped_session(SessionLocal)
        alias = SessionLocal

        class Repo:
            factory = sessionmaker()
            def __init__(self):
                self.engine = create_engine(URL)
        """
    )
    assert facts.bindings["engine"] == "kind:ENGINE"
    assert facts.bindings["SessionLocal"] == "kind:SESSION_FACTORY"
    assert facts.bindings["registry"] == "kind:SCOPED_REGISTRY"
    assert facts.bindings["alias"] == "kind:SESSION_FACTORY"
    assert facts.bindings["Repo.factory"] == "kind:SESSION_FACTORY"
    assert facts.bindings["Repo.engine"] == "kind:ENGINE"
    assert facts.aliases == {"URL": "app.settings.URL"}  # only imports inside the project


def test_a_global_assigned_in_a_function_is_a_module_binding():
    facts = _facts(
        """
        from sqlalchemy import create_engine
        _engine = None
        def get_engine():
            global _engine
            _engine = create_engine("sqlite://")
            return _engine
        """
    )
    assert facts.bindings["_engine"] == "kind:ENGINE"
    assert facts.functions["get_engine"].creates_engine


def test_functions_say_what_they_return_and_how_they_run():
    facts = _facts(
        """
        import functools
        from fastapi import Depends, FastAPI
        from sqlalchemy.orm import Session
        from app.engine import engine
        app = FastAPI()

        def get_session(session=None):
            return session or Session(engine)

        @functools.lru_cache
        def cached():
            return Session(engine)

        def dependency():
            return Session(engine)

        @app.get("/")
        def handler(db=Depends(dependency)):
            return 1

        def main():
            pass

        def from_elsewhere():
            return make_it()
        """
    )
    functions = facts.functions
    assert functions["get_session"] == FunctionSummary(returns="kind:SESSION", borrowed_param=("session", 0))
    assert functions["cached"].is_cached and functions["cached"].is_once
    assert functions["dependency"].is_handler  # a FastAPI dependency runs per request
    assert functions["handler"].is_handler
    assert functions["main"].is_once
    assert functions["from_elsewhere"].returns is None  # an unknown callee says nothing


def test_a_lifespan_and_startup_hooks_run_once():
    facts = _facts(
        """
        from contextlib import asynccontextmanager
        from fastapi import FastAPI

        @asynccontextmanager
        async def lifespan(app):
            yield

        async def on_start():
            pass

        app = FastAPI(lifespan=lifespan, on_startup=[on_start])
        """
    )
    assert facts.functions["lifespan"].is_once
    assert facts.functions["on_start"].is_once


def test_call_sites_say_who_calls_and_whether_per_iteration():
    facts = _facts(
        """
        from app.engines import make_engine

        def each(urls):
            for url in urls:
                make_engine(url)

        def retry():
            while True:
                engine = make_engine("x")
                return engine

        def helper():
            return make_engine("y")

        helper()
        [make_engine(u) for u in "ab"]
        """
    )
    assert facts.calls == [
        CallSite("app.engines.make_engine", "app.db.each", True, ("?",)),
        CallSite("app.engines.make_engine", "app.db.retry", False, ("?",)),  # a retry loop makes it once
        CallSite("app.engines.make_engine", "app.db.helper", False, ("?",)),
        CallSite("app.db.helper", None, False),
        CallSite("app.engines.make_engine", None, False, ("?",)),
    ]


def test_call_sites_say_what_they_pass():
    facts = _facts(
        """
        from alembic import op
        from sqlalchemy import create_engine
        from app.setup import get_version

        engine = create_engine("sqlite://")

        def upgrade():
            get_version(op)
            get_version(op.get_bind(), label="x")
            with engine.connect() as conn:
                get_version(conn, *extra)
                get_version(bind=conn, **options)
        """
    )
    assert [site.arguments for site in facts.calls if site.callee == "app.setup.get_version"] == [
        ("ref:alembic.op",),
        ("kind:BORROWED_CONNECTION", "label=?"),
        ("kind:BORROWED_CONNECTION", "*"),
        ("bind=kind:BORROWED_CONNECTION", "*"),
    ]


def test_removes_are_qualified_by_what_the_receiver_is():
    facts = _facts(
        """
        from app.database import db_session

        class Admin:
            def teardown(self):
                self.db_session.remove()

        def shutdown(exception=None):
            db_session.remove()
        """,
        module="app.web",
    )
    assert facts.removes == ["app.web.Admin.db_session", "app.database.db_session"]


def test_configured_factories_are_facts_too():
    facts = _facts(
        """
        from app.vendor import open_session
        def work():
            return open_session()
        """,
        factories=FactoryConfig(session_factories=frozenset({"app.vendor.open_session"})),
    )
    assert facts.functions["work"].returns == "kind:SESSION"


def test_the_index_resolves_facts_across_modules():
    db = _facts("from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n", module="app.db")
    reexport = _facts("from app.db import SessionLocal\n", module="app")
    helpers = _facts("from app import SessionLocal\ndef get():\n    return SessionLocal()\n", module="app.helpers")
    index = ProjectIndex(Path("."), {s.module: s for s in (db, reexport, helpers)})
    assert index.symbol_kind("app.SessionLocal") is Kind.SESSION_FACTORY
    assert index.call_kind("app.helpers.get") is Kind.SESSION


def test_per_call_reason_follows_callers_through_modules():
    engines = _facts(
        "from sqlalchemy import create_engine\ndef make(url):\n    return create_engine(url)\n", module="app.engines"
    )
    jobs = _facts(
        """
        from app.engines import make
        def run_all(urls):
            for url in urls:
                make(url)
        def main():
            make("x")
        """,
        module="app.jobs",
    )
    index = ProjectIndex(Path("."), {s.module: s for s in (engines, jobs)})
    assert index.per_call_reason("app.engines.make") == "a loop in `run_all`"
    assert not index.called_only_once("app.engines.make")


def test_an_unparsable_depth_gives_no_facts_rather_than_a_crash():
    deep = "x = " + "(" * 150 + "1" + ")" * 150 + "\n"
    assert module_summary(ast.parse(deep), "m", frozenset()) is not None


_PER_CALL = """\
from sqlalchemy import create_engine


class Repo:
    def connect(self, url):
        engine = create_engine(url)
        with engine.connect() as conn:
            return conn.exec_driver_sql("select 1").scalar()

    def run_all(self, urls):
        for url in urls:
            self.connect(url)
"""


def test_the_same_message_with_and_without_a_project(tmp_path: Path):
    """A method that makes an engine, called in a loop by another method: the CLI (with a
    project index) and flake8 or the library (without one) used to word it differently."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    path = tmp_path / "app" / "repo.py"
    path.write_text(_PER_CALL)
    settings = build_settings(load_config(tmp_path / "pyproject.toml"), Overrides())
    alone = lint_source(_PER_CALL, str(path), settings, None)
    within = lint_source(_PER_CALL, str(path), settings, build_index(tmp_path, use_cache=False))
    messages = [(d.code, d.location.row, d.message) for d in alone.diagnostics]
    assert messages == [(d.code, d.location.row, d.message) for d in within.diagnostics]
    assert [code for code, _, _ in messages] == ["SQA501"]
    assert "a loop in `run_all`" in messages[0][2]


def test_an_engine_made_through_an_alias_or_a_local_helper_is_an_engine_creation():
    facts = _facts(
        """
        from sqlalchemy import create_engine as make
        import sqlalchemy as sa

        def aliased(url):
            return make(url).dispose()

        def through_module(url):
            sa.create_engine(url)

        def _helper(url):
            return make(url)

        def through_helper(url):
            _helper(url).dispose()

        def unrelated(url):
            return len(url)
        """
    )
    made = {name for name, function in facts.functions.items() if function.creates_engine}
    assert made == {"aliased", "through_module", "_helper", "through_helper"}


def test_module_names_follow_pythons_import_rules(tmp_path: Path):
    from sqla_lint.semantic.project import forget_layout, module_name_for

    (tmp_path / "pyproject.toml").write_text("")
    for folder in ("app/api", "src/lib", "my-scripts", "pkg/sub"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    forget_layout()
    assert module_name_for(str(tmp_path / "app" / "api" / "routes.py")) == "app.api.routes"  # PEP 420
    assert module_name_for(str(tmp_path / "src" / "lib" / "db.py")) == "lib.db"  # a src/ layout
    assert module_name_for(str(tmp_path / "my-scripts" / "run.py")) == "run"  # no import can name the folder
    assert module_name_for(str(tmp_path / "pkg" / "sub" / "__init__.py")) == "pkg.sub"
    assert module_name_for(str(tmp_path / "main.py")) == "main"


def test_cli_commands_run_once_per_process():
    facts = _facts(
        """
        import click
        import typer
        from flask import Flask

        app = typer.Typer()
        flask_app = Flask(__name__)

        @click.group()
        def cli():
            pass

        @cli.group()
        def db():
            pass

        @db.command()
        def upgrade_schema():
            pass

        @click.command()
        def standalone():
            pass

        @app.command()
        def typer_command():
            pass

        @flask_app.cli.command("seed")
        def seed():
            pass

        @flask_app.route("/")
        def page():
            pass
        """
    )
    once = {name for name, function in facts.functions.items() if function.is_once}
    assert once == {"cli", "db", "upgrade_schema", "standalone", "typer_command", "seed"}


def test_a_function_that_keeps_what_it_returns_is_a_memo():
    facts = _facts(
        """
        from sqlalchemy import create_engine
        _engines = {}
        _engine = None

        def by_get(url):
            engine = _engines.get(url)
            if engine is None:
                engine = create_engine(url)
                _engines[url] = engine
            return engine

        def by_setdefault(url):
            return _engines.setdefault(url, create_engine(url))

        def by_global():
            global _engine
            if _engine is None:
                _engine = create_engine("sqlite://")
            return _engine

        def fresh(url):
            engines = {}
            engine = create_engine(url)
            engines[url] = engine
            return engine
        """
    )
    kept = {name for name, function in facts.functions.items() if function.keeps_result}
    assert kept == {"by_get", "by_setdefault", "by_global"}
    assert facts.functions["fresh"].returns == "kind:ENGINE" and not facts.functions["fresh"].is_once


def test_an_index_built_from_a_relative_root_names_every_module(tmp_path: Path, monkeypatch):
    """``Path("./app/db.py")`` reads "app/db.py": the build once sliced the root's length off
    that and filed the module under "p/db.py"."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "db.py").write_text("from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n")
    monkeypatch.chdir(tmp_path)
    index = build_index(Path("."), use_cache=False)
    assert index.symbol_kind("app.db.SessionLocal") is Kind.SESSION_FACTORY


def test_a_project_module_named_like_a_library_does_not_make_the_library_internal():
    """airflow has ``airflow.utils.sqlalchemy``: its tail must not turn every file that
    names ``sqlalchemy.orm.Session`` into a user of the project's index."""
    utils = _facts("from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n", module="app.utils.sqlalchemy")
    index = ProjectIndex(Path("."), {utils.module: utils})
    assert "sqlalchemy" not in index.packages and {"app", "utils"} <= index.packages
    assert index.symbol_kind("utils.sqlalchemy.SessionLocal") is Kind.SESSION_FACTORY  # the tail still finds it
    assert not index.wants({"sqlalchemy.orm.Session"})


def test_a_constructor_says_which_parameters_it_keeps():
    facts = _facts(
        """
        class ExecutionEngine:
            def __init__(self, name, engine=None, *, pool=None):
                self.name = name
                self.engine = engine
                self._pool = pool

            def close(self):
                self.engine.dispose()
        """
    )
    kept = facts.functions["ExecutionEngine.__init__"].kept_parameters
    assert kept == (("name", 0, "name"), ("engine", 1, "engine"), ("pool", -1, "_pool"))
    assert facts.disposes == ["app.db.ExecutionEngine.engine"]
    index = ProjectIndex(Path("."), {facts.module: facts})
    assert index.disposes_what_it_keeps("app.db.ExecutionEngine", "engine", None)
    assert index.disposes_what_it_keeps("app.db.ExecutionEngine", None, 1)
    assert not index.disposes_what_it_keeps("app.db.ExecutionEngine", "pool", None)


def test_a_function_called_only_from_code_called_once_is_called_once():
    """Module level builds a client through a factory: the client's __init__ runs once. A
    loop, or a caller nobody calls, leaves that unknown."""
    client = _facts(
        """
        from sqlalchemy import create_engine
        class Client:
            def __init__(self):
                self.engine = create_engine("sqlite://")
        """,
        module="app.client",
    )
    factory = _facts(
        """
        from app.client import Client
        class Vector:
            @staticmethod
            def get_vector():
                return Client()
        def build():
            return Client()
        def every(urls):
            for url in urls:
                build()
        def orphan():
            return build()
        CLIENT = Vector.get_vector()
        """,
        module="app.factory",
    )
    index = ProjectIndex(Path("."), {s.module: s for s in (client, factory)})
    assert index.called_only_once("app.factory.Vector.get_vector")
    assert not index.called_only_once("app.factory.build")  # a loop, and a caller with no caller
    assert not index.called_only_once("app.factory.orphan")  # nobody calls it
    only_module_level = ProjectIndex(Path("."), {client.module: client, "app.factory": _facts(
        "from app.client import Client\ndef make():\n    return Client()\nCLIENT = make()\n", module="app.factory")})
    assert only_module_level.called_only_once("app.client.Client.__init__")


def test_a_function_says_which_parameters_it_keeps_for_the_process():
    facts = _facts(
        """
        from app import meta
        _engines = {}
        _current = None
        def init_model(engine):
            meta.engine = engine
        def remember(name, *, engine):
            _engines[name] = engine
        def use(engine):
            global _current
            _current = engine
        def read(engine):
            local = {}
            local["x"] = engine
            return engine.url
        class Registry:
            def add(self, engine):
                meta.engines = engine
        """,
        module="app.model",
    )
    assert facts.functions["init_model"].kept_globally == (("engine", 0),)
    assert facts.functions["remember"].kept_globally == (("engine", -1),)
    assert facts.functions["use"].kept_globally == (("engine", 0),)
    assert facts.functions["read"].kept_globally == ()
    assert facts.functions["Registry.add"].kept_globally == (("engine", 0),)  # the position without self
    index = ProjectIndex(Path("."), {facts.module: facts})
    assert index.keeps_for_the_process("app.model.init_model", None, 0)
    assert index.keeps_for_the_process("app.model.remember", "engine", None)
    assert not index.keeps_for_the_process("app.model.remember", None, 0)
    assert not index.keeps_for_the_process("app.model.read", None, 0)
    assert index.engine_handoff_modules == frozenset()


def test_a_subclass_without_init_is_built_by_its_base_constructor():
    base = _facts(
        """
        class ExecutionEngine:
            def __init__(self, engine=None):
                if engine is not None:
                    self.engine = engine
            def close(self):
                self.engine.dispose()
        """,
        module="app.execution",
    )
    sub = _facts(
        "from app.execution import ExecutionEngine\nclass Sqlite(ExecutionEngine):\n    pass\nclass Own(ExecutionEngine):\n    def __init__(self, engine):\n        self.other = engine\n",
        module="app.sqlite",
    )
    # every class's project bases (methods it does not define are theirs); its own __init__ still wins
    assert sub.bases == {"Sqlite": ["app.execution.ExecutionEngine"], "Own": ["app.execution.ExecutionEngine"]}
    index = ProjectIndex(Path("."), {s.module: s for s in (base, sub)})
    assert index.called_function("app.sqlite.Sqlite") == "app.execution.ExecutionEngine.__init__"
    assert index.disposes_what_it_keeps("app.sqlite.Sqlite", "engine", None)
    assert not index.disposes_what_it_keeps("app.sqlite.Own", "engine", None)  # its own __init__ keeps it elsewhere
    assert "app.execution.ExecutionEngine.__init__" in index.keepers


def _model(source: str, module: str = "app.db"):
    import libcst as cst

    from sqla_lint.semantic.model import ModuleModel

    tree = cst.parse_module(textwrap.dedent(source))
    summary = module_summary(ast.parse(textwrap.dedent(source)), module, frozenset({"app"}))
    return ModuleModel(tree, module, index=ProjectIndex(Path("."), {module: summary}))


def test_a_thin_factory_hands_back_the_engine_in_what_it_returns():
    model = _model(
        """
        from sqlalchemy import create_engine, inspect, text
        from sqlalchemy.orm import sessionmaker

        def factory(url):
            engine = create_engine(url)
            made = sessionmaker(bind=engine)
            return made

        def inspector(url):
            engine = create_engine(url)
            return inspect(engine.connect().execution_options(x=1))

        def version(url):
            engine = create_engine(url)
            with engine.connect() as conn:
                return conn.execute(text("select 1")).scalar_one()

        def other(url):
            engine = create_engine(url)
            return sessionmaker(bind=create_engine("sqlite://"))
        """
    )
    hands_back = {model.function_name(c.function): model.hands_back(c, "engine") for c in model.creations if c.kind.is_engine and c.source.startswith("create_engine(url")}
    assert hands_back == {"factory": True, "inspector": True, "version": False, "other": False}


def test_a_class_picked_from_a_registry_is_every_class_the_registry_holds():
    model = _model(
        """
        from app.execution import ExecutionEngine, SqliteEngine
        CLASSES = dict.fromkeys(["a", "b"], ExecutionEngine)
        CLASSES["sqlite"] = SqliteEngine
        UNKNOWN = make_registry()

        def build(kind, engine):
            cls = CLASSES[kind]
            other = UNKNOWN[kind]
            return cls(engine=engine), other(engine)
        """
    )
    calls = {model.source_of(call.func): model.callee_candidates(call) for call in model.tree.calls}
    assert calls["cls"] == ["app.execution.ExecutionEngine", "app.execution.SqliteEngine"]
    assert calls["other"] == []


def test_an_engine_kept_under_its_key_through_its_connection_is_memoised_per_key():
    model = _model(
        """
        from sqlalchemy import create_engine

        class Manager:
            def get(self, key):
                if key not in self._connections:
                    engine = create_engine(key)
                    conn = engine.connect()
                    self._connections[key] = conn
                return self._connections[key]

            def other_key(self, key, name):
                if key not in self._connections:
                    engine = create_engine(key)
                    self._connections[name] = engine.connect()

            def unguarded(self, key):
                engine = create_engine(key)
                self._connections[key] = engine.connect()
        """
    )
    memo = {model.function_name(c.function): model.memoised_per_key(c, "engine") for c in model.creations if c.kind.is_engine}
    assert memo == {"Manager.get": True, "Manager.other_key": False, "Manager.unguarded": False}


def test_a_call_whose_result_its_caller_keeps_and_guards_is_memoised():
    facts = _facts(
        """
        from sqlalchemy import create_engine
        _cache = None
        class Source:
            def load(self):
                return create_engine("sqlite://")
            def guarded(self, kinds):
                for kind in kinds:
                    if kind and self._tables is None:
                        self._tables = self.load()
            def negated(self):
                if not self._tables:
                    self._tables = self.load()
            def unguarded(self, kinds):
                for kind in kinds:
                    self._tables = self.load()
            def other_guard(self):
                if self._views is None:
                    self._tables = self.load()
        def load_all():
            return create_engine("sqlite://")
        def module_memo():
            global _cache
            if _cache is None:
                _cache = load_all()
        """
    )
    memoised = {site.caller.rpartition(".")[2]: site.memoised for site in facts.calls if site.callee.endswith(("load", "load_all"))}
    assert memoised == {"guarded": True, "negated": True, "unguarded": False, "other_guard": False, "module_memo": True}
    index = ProjectIndex(Path("."), {facts.module: facts})
    assert index.per_call_reason("app.db.Source.load") == "a loop in `unguarded`"
    memo_only = _facts(
        "from sqlalchemy import create_engine\nclass S:\n    def load(self):\n        return create_engine('x')\n"
        "    def run(self, kinds):\n        for k in kinds:\n            if self.t is None:\n                self.t = self.load()\n"
    )
    memo_index = ProjectIndex(Path("."), {memo_only.module: memo_only})
    assert memo_index.per_call_reason("app.db.S.load") is None
    assert memo_index.called_only_once("app.db.S.load")


def test_modules_an_engine_is_handed_to_are_relevant_to_the_index():
    environment = _facts(
        """
        from sqlalchemy import engine_from_config
        from app import model
        def update_config(config):
            engine = engine_from_config(config)
            model.init_model(engine)
        def unrelated():
            model.other()
        """,
        module="app.environment",
    )
    index = ProjectIndex(Path("."), {environment.module: environment})
    assert index.engine_handoff_modules == frozenset({"app", "app.model"})
