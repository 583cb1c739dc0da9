"""Each leak fix, checked against a real SQLAlchemy engine (SQLite with a ``QueuePool``).

Every case is a small module in one of the shapes a leak rule fixes. The test lints it,
expects a safe fix, fixes it with the real fixer, then executes the original and the
fixed module and exercises them the way an application would. The original must leave
connections behind in the pool and the fixed code must leave none:

- sessions and connections (SQA401, SQA503): ``engine.pool.checkedout()`` after the
  call, as the issue states;
- lifespans (SQA502): the connections the lifespan's pool still holds after shutdown
  (checked out + checked in), because an engine that is never disposed keeps its idle
  connections, not checked-out ones.

The leaks are real but temporary: CPython's cycle collector eventually returns a
dropped session's connection (with a warning). So the garbage collector is off while a
case runs, as it effectively is between collections in a busy process. None of the
examples commits, because in SQLAlchemy 2.x ``commit()`` returns the connection to the
pool, which would hide the leak. SQA404's fix is not a leak fix; it is checked to keep
the pool at zero. Async cases use aiosqlite and skip where it or greenlet is missing.

The last part checks fix applicability on the same engine: each shape whose fix is
unsafe really changes what the caller sees (the original works, the fixed code raises
``DetachedInstanceError`` or reads a closed connection), and each safe shape near it does
not.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import types
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from sqla_lint.engine import lint_source
from sqla_lint.fixer import fix_source
from sqla_lint.settings import Settings

from .orm_models import MODELS

SYNC_HEADER = """\
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

engine = create_engine("sqlite://", poolclass=QueuePool)
SessionLocal = sessionmaker(bind=engine)
"""
ASYNC_HEADER = """\
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

engine = create_async_engine("sqlite+aiosqlite://", poolclass=AsyncAdaptedQueuePool)
AsyncSessionLocal = async_sessionmaker(engine)
"""
LIFESPAN_HEADER = """\
from contextlib import asynccontextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.pool import QueuePool


class State:
    pass


class App:
    def __init__(self, lifespan):
        self.state = State()
        self.lifespan = lifespan
"""


def _checked_out(namespace: dict[str, Any]) -> int:
    return namespace["engine"].pool.checkedout()


def _call(name: str, *args: Any) -> Callable[[dict[str, Any]], int]:
    def scenario(namespace: dict[str, Any]) -> int:
        namespace[name](*args)
        return _checked_out(namespace)

    return scenario


def _call_with_pool_of(method: str, backend: str) -> Callable[[dict[str, Any]], int]:
    """``reports.ping()``, then the connections checked out of the engine ``backend`` made."""

    def scenario(namespace: dict[str, Any]) -> int:
        holder, _, name = method.partition(".")
        getattr(namespace[holder], name)()
        return namespace[backend].get_write_engine().pool.checkedout()

    return scenario


def _call_failing(name: str) -> Callable[[dict[str, Any]], int]:
    def scenario(namespace: dict[str, Any]) -> int:
        with pytest.raises(RuntimeError):
            namespace[name](True)
        return _checked_out(namespace)

    return scenario


def _dependency(name: str) -> Callable[[dict[str, Any]], int]:
    """As FastAPI runs a ``yield`` dependency: take the value, use it, resume to the end."""

    def scenario(namespace: dict[str, Any]) -> int:
        generator = namespace[name]()
        resource = next(generator)
        resource.execute(namespace["text"]("select 1")).all()
        next(generator, None)
        return _checked_out(namespace)

    return scenario


def _await(name: str, *args: Any) -> Callable[[dict[str, Any]], int]:
    def scenario(namespace: dict[str, Any]) -> int:
        async def run() -> int:
            await namespace[name](*args)
            count = namespace["engine"].pool.checkedout()
            await namespace["engine"].dispose()
            return count

        return asyncio.run(run())

    return scenario


def _lifespan(name: str) -> Callable[[dict[str, Any]], int]:
    """Start the app, serve a query through the lifespan's engine, shut down."""

    def scenario(namespace: dict[str, Any]) -> int:
        async def run() -> int:
            app = namespace["App"](namespace[name])
            async with app.lifespan(app):
                pool = app.state.engine.pool
                with app.state.engine.connect() as conn:
                    conn.execute(namespace["text"]("select 1")).all()
            held = pool.checkedout() + pool.checkedin()
            app.state.engine.dispose()  # tidy up the leaky original
            return held

        return asyncio.run(run())

    return scenario


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    source: str
    scenario: Callable[[dict[str, Any]], int]
    leaks: bool = True
    needs_async: bool = False


CASES = [
    Case(
        "SQA401-never-closed",
        "SQA401",
        SYNC_HEADER
        + """

def first_value():
    db = SessionLocal()
    return db.execute(text("select 1")).scalar_one()
""",
        _call("first_value"),
    ),
    Case(
        "SQA401-closed-only-on-success-path",
        "SQA401",
        SYNC_HEADER
        + """

def report(fail):
    session = Session(engine)
    rows = session.execute(text("select 1")).all()
    if fail:
        raise RuntimeError("report failed")
    session.close()
    return rows
""",
        _call_failing("report"),
    ),
    Case(
        "SQA401-dependency-without-close",
        "SQA401",
        SYNC_HEADER
        + """

def get_db():
    db = SessionLocal()
    yield db
""",
        _dependency("get_db"),
    ),
    Case(
        "SQA401-async-never-closed",
        "SQA401",
        ASYNC_HEADER
        + """

async def first_value():
    session = AsyncSessionLocal()
    result = await session.execute(text("select 1"))
    return result.scalar_one()
""",
        _await("first_value"),
        needs_async=True,
    ),
    Case(
        "SQA503-never-closed",
        "SQA503",
        SYNC_HEADER
        + """

def ping():
    conn = engine.connect()
    return conn.execute(text("select 1")).scalar_one()
""",
        _call("ping"),
    ),
    Case(
        "SQA503-closed-only-on-success-path",
        "SQA503",
        SYNC_HEADER
        + """

def ping(fail):
    conn = engine.connect()
    value = conn.execute(text("select 1")).scalar_one()
    if fail:
        raise RuntimeError("ping failed")
    conn.close()
    return value
""",
        _call_failing("ping"),
    ),
    Case(
        "SQA503-helper-result-unpacked",
        "SQA503",
        SYNC_HEADER
        + """

def split(conn):
    rows = conn.execute(text("select 1 union all select 2")).all()
    return rows[:1], rows[1:]


def report(fail):
    conn = engine.connect()
    first, rest = split(conn)
    if fail:
        raise RuntimeError("report failed")
    conn.close()
    return len(first), len(rest)
""",
        _call_failing("report"),
    ),
    Case(
        "SQA503-engine-from-a-method-of-an-object",
        "SQA503",
        SYNC_HEADER
        + """

class Backend:
    def get_write_engine(self):
        return engine


backend = Backend()


def ping():
    conn = backend.get_write_engine().connect()
    return conn.execute(text("select 1")).scalar_one()
""",
        _call("ping"),
    ),
    Case(
        "SQA503-engine-made-in-init-from-a-method-of-an-object",
        "SQA503",
        SYNC_HEADER
        + """

class Backend:
    def __init__(self):
        self._engine = create_engine("sqlite://", poolclass=QueuePool)

    def get_write_engine(self):
        return self._engine


class Reports:
    def __init__(self, backend: Backend):
        self.backend = backend

    def ping(self):
        conn = self.backend.get_write_engine().connect()
        conn.execute(text("select 1"))


backend = Backend()
reports = Reports(backend)
""",
        _call_with_pool_of("reports.ping", "backend"),
    ),
    Case(
        "SQA503-engine-from-a-method-of-the-backend-chosen-at-run-time",
        "SQA503",
        SYNC_HEADER
        + """

class DatastoreBackend:
    _backends = {}
    _active_backend: "DatastoreBackend"

    @classmethod
    def set_active_backend(cls, schema):
        cls._active_backend = cls._backends[schema]()

    @classmethod
    def get_active_backend(cls):
        return cls._active_backend


class SqliteBackend(DatastoreBackend):
    def _get_write_engine(self):
        return engine


DatastoreBackend._backends["sqlite"] = SqliteBackend
DatastoreBackend.set_active_backend("sqlite")


def run_triggers():
    backend = DatastoreBackend.get_active_backend()
    connection = backend._get_write_engine().connect()
    return connection.execute(text("select 1")).scalar_one()
""",
        _call("run_triggers"),
    ),
    Case(
        "SQA401-session-from-a-method-of-a-factory-object",
        "SQA401",
        SYNC_HEADER
        + """

class SessionFactory:
    def create_session(self) -> Session:
        return SessionLocal()


factory = SessionFactory()


def first_value():
    db = factory.create_session()
    return db.execute(text("select 1")).scalar_one()
""",
        _call("first_value"),
    ),
    Case(
        "SQA503-async-never-closed",
        "SQA503",
        ASYNC_HEADER
        + """

async def ping():
    conn = await engine.connect()
    result = await conn.execute(text("select 1"))
    return result.scalar_one()
""",
        _await("ping"),
        needs_async=True,
    ),
    Case(
        "SQA502-lifespan-never-disposed",
        "SQA502",
        LIFESPAN_HEADER
        + """

@asynccontextmanager
async def lifespan(app):
    engine = create_engine("sqlite://", poolclass=QueuePool)
    app.state.engine = engine
    yield


app = App(lifespan=lifespan)
""",
        _lifespan("lifespan"),
    ),
    Case(
        "SQA404-redundant-close",
        "SQA404",
        SYNC_HEADER
        + """

def first_value():
    with SessionLocal() as db:
        value = db.execute(text("select 1")).scalar_one()
        db.close()
    return value


def get_db():
    with SessionLocal() as db:
        try:
            yield db
        finally:
            db.close()
""",
        lambda namespace: _call("first_value")(namespace) + _dependency("get_db")(namespace),
        leaks=False,
    ),
]


def _async_available() -> bool:
    try:
        import aiosqlite  # noqa: F401
        import greenlet  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def _no_garbage_collection():
    with warnings.catch_warnings():
        # The originals' leaks are reclaimed at the end, and SQLAlchemy warns about each.
        warnings.filterwarnings("ignore", message="The garbage collector is trying to clean up")
        gc.collect()
        gc.disable()
        try:
            yield
        finally:
            gc.enable()
            gc.collect()


def _execute(source: str, scenario: Callable[[dict[str, Any]], int]) -> int:
    namespace: dict[str, Any] = {"__name__": "oracle_case"}
    with _no_garbage_collection():
        exec(compile(source, "<oracle case>", "exec"), namespace)
        return scenario(namespace)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_fix_gives_the_connection_back(case: Case):
    if case.needs_async and not _async_available():
        pytest.skip("aiosqlite or greenlet is not installed")
    findings = lint_source(case.source, "case.py", Settings()).diagnostics
    assert findings and {d.code for d in findings} == {case.code}, findings
    assert all(d.fix is not None and d.fix.applicability.value == "safe" for d in findings)

    fixed = fix_source(case.source.encode(), "case.py", Settings())
    assert fixed.error is None and len(fixed.fixed) == len(findings)
    assert fixed.result.diagnostics == ()

    before = _execute(case.source, case.scenario)
    after = _execute(fixed.source.decode(), case.scenario)
    if case.leaks:
        assert before > 0, "the original should leave connections behind"
    assert after == 0, fixed.source.decode()


COMMITTED_INSTANCE = """\
from sqlalchemy import Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, mapped_column, sessionmaker
from sqlalchemy.pool import QueuePool


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id = mapped_column(Integer, primary_key=True)
    name = mapped_column(String)


engine = create_engine("sqlite://", poolclass=QueuePool)
Base.metadata.create_all(engine)
SessionLocal = sessionmaker(bind=engine)


def create(name):
    session = SessionLocal()
    item = Item(name=name)
    session.add(item)
    session.commit()
    return {returned}
"""


def test_returning_a_committed_instance_behaves_the_same_after_the_fix():
    """A committed instance returned from a function whose session is never closed is
    already detached when the caller reads it: the commit released the connection, so
    nothing keeps the session alive and CPython frees it on return. The `with` the fix
    writes changes nothing there; it only gives the connection back on error paths."""
    from sqlalchemy.orm.exc import DetachedInstanceError

    source = COMMITTED_INSTANCE.format(returned="item")
    fixed = fix_source(source.encode(), "case.py", Settings())
    assert fixed.fixed == ("SQA401",)
    for code in (source, fixed.source.decode()):
        namespace: dict[str, Any] = {}
        exec(compile(code, "<case>", "exec"), namespace)
        with pytest.raises(DetachedInstanceError):
            namespace["create"]("detached").name  # noqa: B018
        assert namespace["engine"].pool.checkedout() == 0


def test_fix_where_a_committing_block_returns_a_plain_value():
    source = COMMITTED_INSTANCE.format(returned="item.id")
    fixed = fix_source(source.encode(), "case.py", Settings())
    assert fixed.fixed == ("SQA401",)
    namespace: dict[str, Any] = {}
    exec(compile(fixed.source, "<fixed>", "exec"), namespace)
    assert namespace["create"]("kept") == 1
    assert namespace["engine"].pool.checkedout() == 0


# -- unsafe fixes: a value read from the session outlives the block --------------------
#
# The leaky original keeps a session with a transaction open alive after the function
# returns (the transaction refers back to it, so only the cycle collector frees it), and
# its instances can still lazy-load. The fixed code closes it, which detaches them. These
# cases show the difference on a real engine, as an application meets it: the original
# works, the fixed code raises. The garbage collector is off, as above; in a running
# process the original works until the next collection, so its behaviour is merely
# unpredictable where the fixed code's is not.



@dataclass(frozen=True)
class Shape:
    id: str
    code: str
    source: str
    use: Callable[[dict[str, Any]], Any]


def _emails(user: Any) -> list[str]:
    return [address.email for address in user.addresses]


def _collected(namespace: dict[str, Any]) -> Any:
    callbacks: list[Callable[[], Any]] = []
    namespace["later"](1, callbacks)
    return callbacks[0]()


def _cached(namespace: dict[str, Any]) -> Any:
    cache = namespace["Cache"]()
    cache.load(1)
    return _emails(cache.user)


def _saved(namespace: dict[str, Any]) -> Any:
    user = namespace["User"](name="eve")
    namespace["save"](user)
    return _emails(user)


UNSAFE_SHAPES = [
    Shape(
        "returned-instance",
        "SQA401",
        """
def get(user_id):
    db = SessionLocal()
    return db.get(User, user_id)
""",
        lambda ns: _emails(ns["get"](1)),
    ),
    Shape(
        "returned-list",
        "SQA401",
        """
def everyone():
    db = SessionLocal()
    return db.scalars(select(User)).all()
""",
        lambda ns: _emails(ns["everyone"]()[0]),
    ),
    Shape(
        "yielded-instances",
        "SQA401",
        """
def each_user():
    db = SessionLocal()
    for user in db.scalars(select(User)):
        yield user
""",
        lambda ns: _emails(list(ns["each_user"]())[0]),
    ),
    Shape(
        "stored-on-an-object",
        "SQA401",
        """
class Cache:
    def load(self, user_id):
        db = SessionLocal()
        self.user = db.get(User, user_id)
""",
        _cached,
    ),
    Shape(
        "callback-run-later",
        "SQA401",
        """
def later(user_id, callbacks):
    db = SessionLocal()
    user = db.get(User, user_id)
    callbacks.append(lambda: _emails(user))


def _emails(user):
    return [address.email for address in user.addresses]
""",
        _collected,
    ),
    Shape(
        "refreshed-after-commit",
        "SQA401",
        """
def create(name):
    db = SessionLocal()
    user = User(name=name)
    db.add(user)
    db.commit()
    db.refresh(user)
    return user
""",
        lambda ns: _emails(ns["create"]("bob")),
    ),
    Shape(
        "callers-object-added",
        "SQA401",
        """
def save(user):
    db = SessionLocal()
    db.add(user)
    db.flush()
""",
        _saved,
    ),
    Shape(
        "returned-lazy-result",
        "SQA401",
        """
def users():
    db = SessionLocal()
    return db.execute(select(User))
""",
        lambda ns: [row.User.name for row in ns["users"]()],
    ),
    Shape(
        # QueuePool keeps SQLite's connection open, and pysqlite's cursor outlives its
        # checkout; a pool that closes connections on return (NullPool, an overflow
        # connection) or a server-side cursor does not.
        "returned-lazy-connection-result",
        "SQA503",
        """
null_engine = create_engine(DATABASE_URL, poolclass=NullPool)


def names():
    conn = null_engine.connect()
    return conn.execute(text("select name from users"))
""",
        lambda ns: ns["names"]().all(),
    ),
]

SAFE_SHAPES = [
    Shape(
        "count",
        "SQA401",
        """
def count():
    db = SessionLocal()
    return db.query(User).count()
""",
        lambda ns: ns["count"](),
    ),
    Shape(
        "mapped-column",
        "SQA401",
        """
def name_of(user_id):
    db = SessionLocal()
    user = db.get(User, user_id)
    return user.name
""",
        lambda ns: ns["name_of"](1),
    ),
    Shape(
        "column-rows",
        "SQA401",
        """
def names():
    db = SessionLocal()
    return db.scalars(select(User.name)).all()
""",
        lambda ns: ns["names"](),
    ),
    Shape(
        "instance-returned-after-commit",
        "SQA401",
        """
def create(name):
    db = SessionLocal()
    user = User(name=name)
    db.add(user)
    db.commit()
    return user
""",
        lambda ns: _emails(ns["create"]("bob")),
    ),
    Shape(
        "instances-returned-after-close",
        "SQA401",
        """
def everyone():
    db = SessionLocal()
    users = db.scalars(select(User)).all()
    db.close()
    return list(users)
""",
        lambda ns: _emails(ns["everyone"]()[0]),
    ),
    Shape(
        "stored-before-commit",
        "SQA401",
        """
class Cache:
    def load(self, user_id):
        db = SessionLocal()
        self.user = db.get(User, user_id)
        db.commit()
""",
        _cached,
    ),
    Shape(
        "instance-returned-after-a-begin-block",
        "SQA401",
        """
def create(name):
    db = SessionLocal()
    with db.begin():
        user = User(name=name)
        db.add(user)
    return user
""",
        lambda ns: _emails(ns["create"]("bob")),
    ),
]


def _outcome(source: str, shape: Shape, database: str) -> str:
    """What the application sees: the value, or the exception's type. The case runs as a
    module of its own, where declarative mapping resolves its ``Mapped[...]`` annotations."""
    module = types.ModuleType("oracle_models_case")
    module.DATABASE_URL = f"sqlite:///{database}"  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        with _no_garbage_collection():
            exec(compile(source, "<oracle case>", "exec"), module.__dict__)
            try:
                return repr(shape.use(module.__dict__))
            except Exception as error:  # noqa: BLE001 - the exception is the outcome
                return type(error).__name__
    finally:
        del sys.modules[module.__name__]


def _fixes(shape: Shape) -> tuple[str, bytes]:
    source = MODELS + shape.source
    findings = lint_source(source, "case.py", Settings()).diagnostics
    assert [d.code for d in findings] == [shape.code], findings
    return source, fix_source(source.encode(), "case.py", Settings(), unsafe=True).source


@pytest.mark.parametrize("shape", UNSAFE_SHAPES, ids=lambda shape: shape.id)
def test_unsafe_fix_changes_what_the_caller_sees(shape: Shape, tmp_path):
    source, fixed = _fixes(shape)
    (finding,) = lint_source(source, "case.py", Settings()).diagnostics
    assert finding.fix is not None and finding.fix.applicability.value == "unsafe"
    assert fix_source(source.encode(), "case.py", Settings()).source == source.encode()
    assert fixed != source.encode()

    before = _outcome(source, shape, str(tmp_path / "original.db"))
    after = _outcome(fixed.decode(), shape, str(tmp_path / "fixed.db"))
    assert before not in ("DetachedInstanceError", "InvalidRequestError", "ProgrammingError"), before
    assert after in ("DetachedInstanceError", "InvalidRequestError", "ProgrammingError"), after


@pytest.mark.parametrize("shape", SAFE_SHAPES, ids=lambda shape: shape.id)
def test_safe_fix_changes_nothing_the_caller_sees(shape: Shape, tmp_path):
    source, fixed = _fixes(shape)
    (finding,) = lint_source(source, "case.py", Settings()).diagnostics
    assert finding.fix is not None and finding.fix.applicability.value == "safe"
    assert fix_source(source.encode(), "case.py", Settings()).source == fixed

    before = _outcome(source, shape, str(tmp_path / "original.db"))
    after = _outcome(fixed.decode(), shape, str(tmp_path / "fixed.db"))
    assert before == after


# -- sessions that end their transaction on every path ---------------------------------
#
# SQLAlchemy gives a session's connection back to the pool when its transaction ends, at
# commit() or rollback(). A session whose every path ends the transaction as its last act
# holds nothing afterwards, so SQA401 stays silent there; one committed only on the
# success path, or whose loaded object is read after commit() (an expired attribute
# begins a new transaction), still holds a connection, and SQA401 fires. Each function
# takes `fail`, which raises in the middle of its work, to run the exception path.

TRANSACTIONS = """\
import asyncio

from sqlalchemy import Integer, String, create_engine, func, update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    id = mapped_column(Integer, primary_key=True)
    balance = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"
    id = mapped_column(Integer, primary_key=True)
    email = mapped_column(String)
    last_seen = mapped_column(String)


engine = create_engine("sqlite://", poolclass=QueuePool)
Base.metadata.create_all(engine)
SessionLocal = sessionmaker(bind=engine)
async_engine = create_async_engine("sqlite+aiosqlite:///{database}", poolclass=AsyncAdaptedQueuePool)
AsyncSessionLocal = async_sessionmaker(async_engine)


def create_user(email, fail=False):
    signup_session = SessionLocal()
    user = User(email=email)
    signup_session.add(user)
    if fail:
        signup_session.flush()
        raise RuntimeError("signup failed")
    signup_session.commit()
    return user.id


def transfer(source_id, target_id, amount, fail=False):
    ledger = Session(engine)
    try:
        ledger.execute(update(Account).where(Account.id == source_id).values(balance=Account.balance - amount))
        if fail:
            raise RuntimeError("transfer failed")
        ledger.execute(update(Account).where(Account.id == target_id).values(balance=Account.balance + amount))
        ledger.commit()
    except Exception:
        ledger.rollback()
        raise


def process_jobs(account_ids, fail=False):
    worker = SessionLocal()
    for account_id in account_ids:
        try:
            worker.execute(update(Account).where(Account.id == account_id).values(balance=Account.balance + 1))
            if fail:
                raise RuntimeError("job failed")
            worker.commit()
        except Exception:
            worker.rollback()


async def touch_last_seen(user_id, fail=False):
    presence_db = AsyncSessionLocal()
    try:
        await presence_db.execute(update(User).where(User.id == user_id).values(last_seen=func.now()))
        if fail:
            raise RuntimeError("touch failed")
        await presence_db.commit()
    finally:
        await presence_db.rollback()
"""


def _held_after(source: str, name: str, fail: bool) -> int:
    """Run ``name`` (raising in the middle when ``fail``) and count the connections its
    engine still has checked out."""
    namespace: dict[str, Any] = {"__name__": "oracle_case"}
    with _no_garbage_collection():
        exec(compile(source, "<oracle case>", "exec"), namespace)
        function = namespace[name]
        if asyncio.iscoroutinefunction(function):

            async def run() -> int:
                engine = namespace["async_engine"]
                async with engine.begin() as conn:
                    await conn.run_sync(namespace["Base"].metadata.create_all)
                try:
                    await function(1, fail)
                except RuntimeError:
                    assert fail
                held = engine.pool.checkedout()
                await engine.dispose()
                return held

            return asyncio.run(run())
        arguments = {"create_user": ("a@example.com",), "transfer": (1, 2, 5), "process_jobs": ([1, 2],)}[name]
        try:
            function(*arguments, fail)
        except RuntimeError:
            assert fail and name != "process_jobs"  # it handles its own failures
        return namespace["engine"].pool.checkedout()


@pytest.mark.parametrize("fail", [False, True], ids=["success", "exception"])
@pytest.mark.parametrize(
    ("name", "fires"),
    [("transfer", False), ("touch_last_seen", False), ("process_jobs", False), ("create_user", True)],
)
def test_a_session_that_ends_its_transaction_on_every_path_holds_nothing(name: str, fires: bool, fail: bool, tmp_path):
    if name == "touch_last_seen" and not _async_available():
        pytest.skip("aiosqlite or greenlet is not installed")
    source = TRANSACTIONS.replace("{database}", str(tmp_path / "async.db"))
    function_rows = {
        row
        for row, line in enumerate(source.splitlines(), start=1)
        if line.lstrip().startswith(("def ", "async def ")) and f" {name}(" in line
    }
    findings = lint_source(source, "case.py", Settings()).diagnostics
    reported = {d.location.row - 1 for d in findings if d.code == "SQA401"}  # the line after the def
    assert bool(reported & function_rows) is fires, findings
    held = _held_after(source, name, fail)
    if fires:
        assert held > 0, "SQA401 reports a session that really holds a connection"
    else:
        assert held == 0, "SQA401 stays silent on a session that really gives its connection back"


# -- traps: shapes SQA401 / SQA503 stay silent on, because they hold nothing -------------
#
# Each runs on the same kind of engine, on its success path and (where it takes `fail`)
# on an exception path, and must leave no connection checked out.

TRAPS = "import pytest\nfrom sqlalchemy import Integer, String\nfrom sqlalchemy.orm import DeclarativeBase, mapped_column\n" + SYNC_HEADER + """

def vacuum(fail=False):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("select 1"))
        if fail:
            raise RuntimeError("vacuum failed")


def count(session=None, fail=False):
    own = False
    if session is None:
        session = Session(engine)
        own = True
    try:
        value = session.execute(text("select 1")).scalar_one()
        if fail:
            raise RuntimeError("count failed")
        return value
    finally:
        if own:
            session.close()


def purge(session=None, fail=False):
    own_session = session is None
    if own_session:
        session = SessionLocal()
    try:
        session.execute(text("select 1"))
        if fail:
            raise RuntimeError("purge failed")
    finally:
        if own_session:
            session.close()


def pending(fail=False):
    scratch = Session()
    scratch.expunge_all()
    if fail:
        raise RuntimeError("pending failed")
    return len(scratch.new)


def audit(fail=False):
    with Session(engine) as outer:
        audit_session = Session(bind=outer.connection())
        audit_session.execute(text("select 1"))
        if fail:
            raise RuntimeError("audit failed")


def tag(connection, fail=False):
    session = Session(bind=connection)
    session.execute(text("select 1"))
    if fail:
        raise RuntimeError("tag failed")


def tag_all(fail=False):
    with engine.connect() as connection:
        tag(connection, fail)


class TrapBase(DeclarativeBase):
    pass


class Note(TrapBase):
    __tablename__ = "notes"
    id = mapped_column(Integer, primary_key=True)
    body = mapped_column(String)


def copy_detached(note, fail=False):
    session = Session()
    copy = session.merge(note, load=False)
    session.expunge(copy)
    if fail:
        raise RuntimeError("copy failed")
    return copy


@pytest.fixture
def db_session():
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection)
    yield session
    session.close()
    transaction.rollback()
    connection.close()
"""


def _as_pytest_runs_a_fixture(namespace: dict[str, Any], fail: bool) -> None:
    """Set up, run a test (failing when ``fail``), and tear down: pytest resumes the
    fixture's generator after the test whether it passed or not."""
    fixture = namespace["db_session"].__wrapped__()
    session = next(fixture)
    try:
        session.execute(namespace["text"]("select 1")).all()
        if fail:
            raise RuntimeError("the test failed")
    except RuntimeError:
        pass
    next(fixture, None)


def _copy_a_clean_instance(namespace: dict[str, Any], fail: bool) -> None:
    """Load a row with a session of its own (closed), then copy the detached, clean instance
    the way nova's ``NovaBase.__copy__`` does: ``merge(load=False)`` on a ``Session()`` with
    no bind emits no SQL, so it neither raises ``UnboundExecutionError`` nor checks out."""
    engine, session_class, note_class = namespace["engine"], namespace["Session"], namespace["Note"]
    namespace["TrapBase"].metadata.create_all(engine)
    with session_class(engine) as loader:
        loader.add(note_class(id=1, body="clean"))
        loader.commit()
        note = loader.get(note_class, 1)
    assert engine.pool.checkedout() == 0
    try:
        copy = namespace["copy_detached"](note, fail=fail)
    except RuntimeError:
        assert fail
    else:
        assert copy is not note and copy.body == "clean"


@pytest.mark.parametrize("fail", [False, True], ids=["success", "exception"])
@pytest.mark.parametrize("name", ["vacuum", "count", "purge", "pending", "audit", "db_session", "copy_detached", "tag_all"])
def test_silent_traps_hold_no_connection(name: str, fail: bool):
    assert lint_source(TRAPS, "case.py", Settings()).diagnostics == ()
    namespace: dict[str, Any] = {"__name__": "oracle_case"}
    with _no_garbage_collection():
        exec(compile(TRAPS, "<oracle case>", "exec"), namespace)
        if name == "db_session":
            _as_pytest_runs_a_fixture(namespace, fail)
        elif name == "copy_detached":
            _copy_a_clean_instance(namespace, fail)
        else:
            try:
                namespace[name](fail=fail)
            except RuntimeError:
                assert fail
        assert namespace["engine"].pool.checkedout() == 0


# -- a session bound to what its caller passes ---------------------------------------------
#
# `tag` binds its session to a parameter. Where every caller passes a connection it owns
# (a `with engine.connect()` target), the session checks nothing out of the pool of its
# own and SQA401 stays silent; where a caller passes the engine, the session checks a
# connection out and keeps it, and SQA401 fires.

BOUND_TO_A_PARAMETER = SYNC_HEADER + """

def tag(bind, fail=False):
    session = Session(bind=bind)
    session.execute(text("select 1"))
    if fail:
        raise RuntimeError("tag failed")


def run(fail=False):
    {caller}
"""


@pytest.mark.parametrize("fail", [False, True], ids=["success", "exception"])
@pytest.mark.parametrize(
    ("caller", "fires"),
    [
        ("with engine.connect() as connection:\n        tag(connection, fail)", False),
        ("tag(engine, fail)", True),
    ],
    ids=["connection", "engine"],
)
def test_a_session_bound_to_a_parameter_holds_what_its_callers_pass(caller: str, fires: bool, fail: bool):
    source = BOUND_TO_A_PARAMETER.replace("{caller}", caller)
    findings = [d for d in lint_source(source, "case.py", Settings()).diagnostics if d.code == "SQA401"]
    assert bool(findings) is fires, findings
    namespace: dict[str, Any] = {"__name__": "oracle_case"}
    with _no_garbage_collection():
        exec(compile(source, "<oracle case>", "exec"), namespace)
        try:
            namespace["run"](fail=fail)
        except RuntimeError:
            assert fail
        held = namespace["engine"].pool.checkedout()
    assert (held > 0) is fires, held


# -- a factory unpacked from a memo (kombu's SQLAlchemy transport) --------------------------

MEMO_CHANNEL = """\
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool


class Channel:
    _session = None
    _engines = {}

    def _open(self):
        if "db" not in self._engines:
            engine = create_engine("sqlite://", poolclass=QueuePool)
            Session = sessionmaker(bind=engine)
            self._engines["db"] = engine, Session
        return self._engines["db"]

    @property
    def session(self):
        if self._session is None:
            _, Session = self._open()
            self._session = Session()
        return self._session

    def size(self):
        return self.session.execute(text("select 1")).scalar()
"""


def test_a_session_from_a_factory_unpacked_from_a_memo_keeps_its_connection():
    findings = [d for d in lint_source(MEMO_CHANNEL, "case.py", Settings()).diagnostics if d.code == "SQA401"]
    assert [d.location.row for d in findings] == [21], findings
    namespace: dict[str, Any] = {"__name__": "oracle_case"}
    with _no_garbage_collection():
        exec(compile(MEMO_CHANNEL, "<oracle case>", "exec"), namespace)
        channel = namespace["Channel"]()
        assert channel.size() == 1
        engine, _ = channel._engines["db"]
        assert engine.pool.checkedout() == 1  # held by the session on the channel, which nothing closes
        channel.size()
        assert engine.pool.checkedout() == 1
