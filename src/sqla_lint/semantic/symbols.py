"""What the analysis knows about the libraries it models, keyed by qualified name.

Libraries re-export their API from several modules (``sqlalchemy.orm.Session`` is also
``sqlalchemy.orm.session.Session``), so a symbol is recognised by its root package and its
final name rather than by one full path. Everything that "knows SQLAlchemy" lives here, so a
new library version is one table to update.
"""

from __future__ import annotations

import enum
from typing import TypeVar

T = TypeVar("T")


class Kind(enum.Enum):
    """What a value is, as far as resource lifecycles are concerned."""

    SESSION = "session"
    ASYNC_SESSION = "async session"
    SESSION_FACTORY = "session factory"
    ASYNC_SESSION_FACTORY = "async session factory"
    SCOPED_REGISTRY = "scoped_session registry"
    ENGINE = "engine"
    ASYNC_ENGINE = "async engine"
    POOL = "pool"
    CONNECTION = "connection"
    ASYNC_CONNECTION = "async connection"
    # A connection someone else owns and closes: alembic's, a `with` target, a parameter.
    BORROWED_CONNECTION = "borrowed connection"
    # SQLAlchemy 1.x connectionless execution, ``engine.execute(...)``: the result holds a
    # pooled connection until it is exhausted or closed, so it is owned like a connection.
    ENGINE_RESULT = "result of engine.execute()"

    @property
    def is_session(self) -> bool:
        return self in (Kind.SESSION, Kind.ASYNC_SESSION)

    @property
    def is_engine(self) -> bool:
        return self in (Kind.ENGINE, Kind.ASYNC_ENGINE)

    @property
    def is_connection(self) -> bool:
        return self in (Kind.CONNECTION, Kind.ASYNC_CONNECTION)

    @property
    def is_async(self) -> bool:
        return self in (
            Kind.ASYNC_SESSION,
            Kind.ASYNC_SESSION_FACTORY,
            Kind.ASYNC_ENGINE,
            Kind.ASYNC_CONNECTION,
            Kind.POOL,
        )


# (root package, final name) -> the kind of value that *calling* the symbol produces.
_CALL_RESULTS: dict[tuple[str, str], Kind] = {
    ("sqlalchemy", "Session"): Kind.SESSION,
    ("sqlmodel", "Session"): Kind.SESSION,
    ("sqlalchemy", "AsyncSession"): Kind.ASYNC_SESSION,
    ("sqlmodel", "AsyncSession"): Kind.ASYNC_SESSION,
    ("sqlalchemy", "sessionmaker"): Kind.SESSION_FACTORY,
    ("sqlalchemy", "async_sessionmaker"): Kind.ASYNC_SESSION_FACTORY,
    ("sqlalchemy", "scoped_session"): Kind.SCOPED_REGISTRY,
    ("sqlalchemy", "async_scoped_session"): Kind.SCOPED_REGISTRY,
    ("sqlalchemy", "create_engine"): Kind.ENGINE,
    ("sqlalchemy", "engine_from_config"): Kind.ENGINE,
    ("sqlmodel", "create_engine"): Kind.ENGINE,
    ("sqlalchemy", "create_async_engine"): Kind.ASYNC_ENGINE,
    ("sqlalchemy", "async_engine_from_config"): Kind.ASYNC_ENGINE,
    ("psycopg_pool", "ConnectionPool"): Kind.POOL,
    ("psycopg_pool", "AsyncConnectionPool"): Kind.POOL,
    ("psycopg_pool", "NullConnectionPool"): Kind.POOL,
    ("psycopg_pool", "AsyncNullConnectionPool"): Kind.POOL,
    ("asyncpg", "create_pool"): Kind.POOL,
    ("aiopg", "create_pool"): Kind.POOL,
}

# aiopg.sa.create_engine is a pool in disguise, not a SQLAlchemy engine.
_EXACT_CALL_RESULTS: dict[str, Kind] = {
    "aiopg.sa.create_engine": Kind.POOL,
    "aiopg.sa.engine.create_engine": Kind.POOL,
}

# psycopg_pool pools whose constructor opens them unless given ``open=False``, and whether
# each is async. psycopg_pool 3.2 warns when an async pool opens in its constructor (a future
# release makes it an error) and when a sync pool relies on the implicit ``open`` default
# (which is to become ``False``); see SQA504.
_CONSTRUCTOR_OPENED_POOLS: dict[tuple[str, str], bool] = {
    ("psycopg_pool", "ConnectionPool"): False,
    ("psycopg_pool", "NullConnectionPool"): False,
    ("psycopg_pool", "AsyncConnectionPool"): True,
    ("psycopg_pool", "AsyncNullConnectionPool"): True,
}

# Calls that lend out a connection owned by someone else (closing it is not the caller's job).
_BORROWED_CONNECTION_CALLS = frozenset({("alembic", "get_bind")})

# Annotations that make a parameter or attribute a known kind.
_ANNOTATION_KINDS: dict[tuple[str, str], Kind] = {
    ("sqlalchemy", "Engine"): Kind.ENGINE,
    ("sqlmodel", "Engine"): Kind.ENGINE,
    ("sqlalchemy", "AsyncEngine"): Kind.ASYNC_ENGINE,
    ("sqlalchemy", "Session"): Kind.SESSION,
    ("sqlmodel", "Session"): Kind.SESSION,
    ("sqlalchemy", "AsyncSession"): Kind.ASYNC_SESSION,
    ("sqlmodel", "AsyncSession"): Kind.ASYNC_SESSION,
    ("sqlalchemy", "sessionmaker"): Kind.SESSION_FACTORY,
    ("sqlalchemy", "async_sessionmaker"): Kind.ASYNC_SESSION_FACTORY,
    ("sqlalchemy", "Connection"): Kind.BORROWED_CONNECTION,
    ("sqlalchemy", "AsyncConnection"): Kind.BORROWED_CONNECTION,
}

# What calling a factory, or connect()/begin() on an engine, gives.
SESSION_FOR_FACTORY: dict[Kind, Kind] = {Kind.SESSION_FACTORY: Kind.SESSION, Kind.ASYNC_SESSION_FACTORY: Kind.ASYNC_SESSION}
CONNECTION_FOR_ENGINE: dict[Kind, Kind] = {Kind.ENGINE: Kind.CONNECTION, Kind.ASYNC_ENGINE: Kind.ASYNC_CONNECTION}
# Kinds whose creator owns what it made and must give it back.
OWNED_KINDS = frozenset(
    {
        Kind.SESSION,
        Kind.ASYNC_SESSION,
        Kind.CONNECTION,
        Kind.ASYNC_CONNECTION,
        Kind.ENGINE,
        Kind.ASYNC_ENGINE,
        Kind.POOL,
        Kind.SCOPED_REGISTRY,
        Kind.ENGINE_RESULT,
    }
)
# Entry points by convention: a CLI's ``main``, alembic's migration functions.
MAIN_FUNCTION_NAMES = frozenset({"main", "cli", "run", "upgrade", "downgrade", "run_migrations_online", "run_migrations_offline"})

# Engine methods that check a connection out of the pool.
CONNECTION_METHODS = frozenset({"connect", "begin", "raw_connection"})
# The SQLAlchemy 1.x engine method that checks a connection out for its result to hold.
CONNECTIONLESS_EXECUTE = "execute"
# Connection methods that return the same connection (``engine.connect().execution_options(
# isolation_level=...)``, the form SQLAlchemy's engine docs prefer): closing what they return
# closes the connection.
SAME_CONNECTION_METHODS = frozenset({"execution_options"})
# Result methods that read a result to its end, or close it: a result of connectionless
# execution gives its connection back then (``first()`` and ``scalar()`` close it too).
RESULT_EXHAUSTING_METHODS = frozenset(
    {"fetchall", "all", "first", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "close"}
)

# How to give back, at shutdown, what each factory made: statements with ``{}`` for the
# name or attribute that holds it. Sync engines and pools are not awaited (``await None``
# would raise); aiopg closes synchronously and then waits.
_SHUTDOWN_STATEMENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sqlalchemy", "create_engine"): ("{}.dispose()",),
    ("sqlalchemy", "engine_from_config"): ("{}.dispose()",),
    ("sqlmodel", "create_engine"): ("{}.dispose()",),
    ("sqlalchemy", "create_async_engine"): ("await {}.dispose()",),
    ("sqlalchemy", "async_engine_from_config"): ("await {}.dispose()",),
    ("psycopg_pool", "ConnectionPool"): ("{}.close()",),
    ("psycopg_pool", "NullConnectionPool"): ("{}.close()",),
    ("psycopg_pool", "AsyncConnectionPool"): ("await {}.close()",),
    ("psycopg_pool", "AsyncNullConnectionPool"): ("await {}.close()",),
    ("asyncpg", "create_pool"): ("await {}.close()",),
    ("aiopg", "create_pool"): ("{}.close()", "await {}.wait_closed()"),
}
_EXACT_SHUTDOWN_STATEMENTS: dict[str, tuple[str, ...]] = {
    "aiopg.sa.create_engine": ("{}.close()", "await {}.wait_closed()"),
    "aiopg.sa.engine.create_engine": ("{}.close()", "await {}.wait_closed()"),
}

# Calls that keep their arguments to run or use later: a resource handed to one may be
# used after the block that opened it has closed it.
DEFERRING_CALLS = frozenset(
    {
        "submit",
        "create_task",
        "ensure_future",
        "run_in_executor",
        "run_coroutine_threadsafe",
        "call_soon",
        "call_soon_threadsafe",
        "call_later",
        "call_at",
        "add_task",
        "start_soon",
        "spawn",
        "apply_async",
        "delay",
        "partial",
        "add_done_callback",
    }
)

# What runs at the same time (SQA406): the awaitables of one ``gather``, and tasks, which
# start at once and run until awaited. ``TaskGroup().create_task``, a loop's ``create_task``
# and anyio / trio ``start_soon`` are methods of an object made by one of ``TASK_SOURCES``.
GATHER_CALLS = frozenset({"asyncio.gather", "asyncio.tasks.gather"})
TASK_SPAWNING_CALLS = frozenset(
    {"asyncio.create_task", "asyncio.ensure_future", "asyncio.tasks.create_task", "asyncio.tasks.ensure_future"}
)
TASK_SOURCES = frozenset(
    {
        "asyncio.TaskGroup",
        "asyncio.taskgroups.TaskGroup",
        "asyncio.get_running_loop",
        "asyncio.get_event_loop",
        "asyncio.new_event_loop",
        "anyio.create_task_group",
        "trio.open_nursery",
    }
)
# ``create_task(coro)``; anyio's and trio's ``start_soon(func, *args)``.
TASK_SPAWNING_METHODS = frozenset({"create_task", "start_soon"})
# The final names of all of those, for the prefilter's screen.
CONCURRENCY_LEAVES = frozenset(
    name.rpartition(".")[2] for name in (*GATHER_CALLS, *TASK_SPAWNING_CALLS)
) | TASK_SPAWNING_METHODS

# What reading from a session or connection returns, for deciding whether a fix that
# closes it earlier changes what the caller sees (``semantic/escapes.py``).

# Session / Connection methods whose result holds nothing: None, a bool.
RESOURCE_PLAIN_METHODS = frozenset(
    {
        "commit",
        "rollback",
        "close",
        "flush",
        "add",
        "add_all",
        "delete",
        "expunge",
        "expunge_all",
        "refresh",
        "expire",
        "expire_all",
        "invalidate",
        "reset",
        "prepare",
        "detach",
        "is_modified",
        "in_transaction",
        "in_nested_transaction",
        "enable_relationship_loading",
        "bulk_save_objects",
        "bulk_insert_mappings",
        "bulk_update_mappings",
    }
)
# Session methods and attributes that never reach the database: a session with no bind
# that is used only through these holds no connection.
BOOKKEEPING_SESSION_ATTRIBUTES = frozenset(
    {
        "add",
        "add_all",
        "expunge",
        "expunge_all",
        "expire",
        "expire_all",
        "is_modified",
        "enable_relationship_loading",
        "in_transaction",
        "in_nested_transaction",
        "new",
        "dirty",
        "deleted",
        "identity_map",
        "info",
        "no_autoflush",
        "close",
    }
)
# Session methods that put an object into the session (it is then one of its instances).
ATTACHING_METHODS = frozenset({"add", "add_all"})
# Session methods that return an instance the session holds.
INSTANCE_METHODS = frozenset({"get", "get_one", "merge"})
# Methods that run a statement and return a Result still reading from the connection.
# (``exec`` is SQLModel's.)
RESULT_METHODS = frozenset({"execute", "scalars", "stream", "stream_scalars", "exec_driver_sql", "exec"})
# Methods that run a statement and return its first column's first value.
SCALAR_METHODS = frozenset({"scalar"})

# Result / Query methods that read rows and need nothing afterwards.
MATERIALIZING_METHODS = frozenset(
    {
        "all",
        "first",
        "one",
        "one_or_none",
        "scalar",
        "scalar_one",
        "scalar_one_or_none",
        "fetchall",
        "fetchone",
        "fetchmany",
        "get",
        "get_one",
    }
)
# Of those, the ones that return one row or instance rather than a list.
SINGLE_ROW_METHODS = frozenset({"first", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none", "get", "get_one"})
# Result / Query methods and attributes whose value is a number or names, never an instance.
COUNTING_METHODS = frozenset({"count", "keys"})
RESULT_PLAIN_ATTRIBUTES = frozenset({"rowcount", "lastrowid", "returns_rows", "is_insert", "inserted_primary_key"})
# Engine attributes that describe it and hold no reference to its pool: reading them never
# checks out a connection (an engine connects lazily, on first ``connect()``).
ENGINE_DESCRIPTION_ATTRIBUTES = frozenset({"dialect", "url", "name", "driver"})
# Builtins whose result is a number, a string or a bool, whatever they are given.
PLAIN_BUILTINS = frozenset(
    {
        "len",
        "bool",
        "int",
        "float",
        "str",
        "repr",
        "format",
        "hash",
        "id",
        "isinstance",
        "issubclass",
        "hasattr",
        "callable",
        "print",
        "round",
        "abs",
        "any",
        "all",
        "ord",
        "chr",
    }
)
# Builtins that read an iterable through and return its elements.
MATERIALIZING_BUILTINS = frozenset({"list", "tuple", "set", "frozenset", "dict", "sorted", "sum", "min", "max", "next"})

# Statement methods that keep the columns a statement selects.
STATEMENT_REFINING_METHODS = frozenset(
    {
        "where",
        "filter",
        "filter_by",
        "order_by",
        "limit",
        "offset",
        "slice",
        "fetch",
        "group_by",
        "having",
        "join",
        "outerjoin",
        "join_from",
        "outerjoin_from",
        "select_from",
        "distinct",
        "options",
        "execution_options",
        "params",
        "values",
        "correlate",
        "prefix_with",
        "suffix_with",
        "with_for_update",
    }
)
# Statement methods that add to (or replace) the columns a statement selects.
STATEMENT_COLUMN_METHODS = frozenset({"add_columns", "returning"})
STATEMENT_REPLACING_METHODS = frozenset({"with_only_columns", "with_entities"})
# SQL constructs (by final name, under sqlalchemy or sqlmodel) that select columns, never
# mapped instances; ``select`` and ``insert``/``update``/``delete`` are judged by their columns.
PLAIN_SQL_CONSTRUCTS = frozenset(
    {"text", "literal", "literal_column", "cast", "case", "null", "true", "false", "type_coerce", "extract", "distinct", "label", "column", "and_", "or_", "not_"}
)
SELECT_CONSTRUCTS = frozenset({"select"})
DML_CONSTRUCTS = frozenset({"insert", "update", "delete"})
# Class-body calls that map a column (not a relationship) on a declarative or SQLModel class.
COLUMN_MAPPERS = frozenset({"mapped_column", "Column", "column_property", "deferred", "Field"})
# Annotation names that map to a plain column type (``name: Mapped[str]``).
SCALAR_TYPE_NAMES = frozenset(
    {"int", "str", "float", "bool", "bytes", "datetime", "date", "time", "timedelta", "Decimal", "UUID"}
)

# Methods that put their argument into the object they are called on.
CONTAINER_METHODS = frozenset({"append", "extend", "insert", "add", "update", "setdefault", "put", "put_nowait", "appendleft", "extendleft"})

# Decorators that memoise a function's result for the life of the process.
_CACHE_DECORATORS: dict[tuple[str, str], bool] = {
    ("functools", "lru_cache"): True,
    ("functools", "cache"): True,
    ("cachetools", "cached"): True,
    ("cachetools", "cachedmethod"): True,
    ("cachetools", "lru_cache"): True,
    ("cachetools", "ttl_cache"): True,
    ("cachetools", "lfu_cache"): True,
    ("cachetools", "rr_cache"): True,
    ("cachetools", "fifo_cache"): True,
    ("cachetools", "mru_cache"): True,
    ("cachetools", "tlru_cache"): True,
    ("async_lru", "alru_cache"): True,
}

CONTEXT_MANAGER_DECORATORS = frozenset(
    {"contextlib.contextmanager", "contextlib.asynccontextmanager"}
)

# Wrappers whose context manager closes the object they are given.
CLOSING_WRAPPERS = frozenset({"contextlib.closing", "contextlib.aclosing"})

# Methods that hand an object's cleanup to something that will run it.
CLEANUP_REGISTRARS = frozenset(
    {"enter_context", "enter_async_context", "callback", "push_async_callback", "push"}
)

# ExitStack methods that enter a context manager, as ``with`` would.
CONTEXT_ENTERING_METHODS = frozenset({"enter_context", "enter_async_context"})

CLOSE_METHODS = frozenset({"close", "aclose", "invalidate"})
ENGINE_DISPOSE_METHODS = frozenset({"dispose"})
POOL_CLOSE_METHODS = frozenset({"close", "aclose", "terminate", "wait_closed"})

# Methods a class runs when its owner is done with it.
TEARDOWN_METHOD_PREFIXES = ("close", "dispose", "shutdown", "teardown", "tear_down", "cleanup")
TEARDOWN_METHODS = frozenset({"__exit__", "__aexit__", "__del__", "tearDown", "stop", "aclose"})

# Decorator attribute names that register a per-request handler on an app or router.
ROUTE_DECORATOR_METHODS = frozenset(
    {
        "get",
        "post",
        "put",
        "patch",
        "delete",
        "head",
        "options",
        "trace",
        "route",
        "api_route",
        "websocket",
        "websocket_route",
    }
)


def _root_and_leaf(qualified_name: str) -> tuple[str, str]:
    root, _, _ = qualified_name.partition(".")
    return root, qualified_name.rpartition(".")[2]


def _lookup(exact: dict[str, T], by_root_and_leaf: dict[tuple[str, str], T], qualified_name: str) -> T | None:
    """An exact entry first, then one for the symbol's root package and final name."""
    if qualified_name in exact:
        return exact[qualified_name]
    if "." not in qualified_name:
        return None
    return by_root_and_leaf.get(_root_and_leaf(qualified_name))


def call_result_kind(qualified_name: str) -> Kind | None:
    """The kind of value produced by calling ``qualified_name``, if it is a known API."""
    if "." in qualified_name and _root_and_leaf(qualified_name) in _BORROWED_CONNECTION_CALLS:
        return Kind.BORROWED_CONNECTION
    return _lookup(_EXACT_CALL_RESULTS, _CALL_RESULTS, qualified_name)


def constructor_opened_pool(qualified_name: str) -> bool | None:
    """For a psycopg_pool class whose constructor opens the pool: whether it is async;
    None for anything else."""
    return _lookup({}, _CONSTRUCTOR_OPENED_POOLS, qualified_name)


def shutdown_statements(qualified_name: str) -> tuple[str, ...] | None:
    """How to give back what calling ``qualified_name`` made, or None if it is not known."""
    return _lookup(_EXACT_SHUTDOWN_STATEMENTS, _SHUTDOWN_STATEMENTS, qualified_name)


def annotation_kind(qualified_name: str) -> Kind | None:
    if "." not in qualified_name:
        return None
    return _ANNOTATION_KINDS.get(_root_and_leaf(qualified_name))


def is_cache_decorator(qualified_name: str) -> bool:
    if "." not in qualified_name:
        return False
    return _root_and_leaf(qualified_name) in _CACHE_DECORATORS


def _leaves(table: dict[tuple[str, str], Kind], exact: dict[str, Kind]) -> dict[str, frozenset[Kind]]:
    leaves: dict[str, set[Kind]] = {}
    for (_, leaf), kind in table.items():
        leaves.setdefault(leaf, set()).add(kind)
    for qualified_name, kind in exact.items():
        leaves.setdefault(qualified_name.rpartition(".")[2], set()).add(kind)
    return {leaf: frozenset(kinds) for leaf, kinds in leaves.items()}


# The final names of every known symbol, and the root packages they live in. Every kind the
# model infers starts at one of these names (or at a configured factory), which is what lets
# the prefilter skip files that never mention one.
CALL_RESULT_LEAVES: dict[str, frozenset[Kind]] = _leaves(_CALL_RESULTS, _EXACT_CALL_RESULTS)
ANNOTATION_LEAVES: dict[str, frozenset[Kind]] = _leaves(_ANNOTATION_KINDS, {})
KNOWN_ROOTS: frozenset[str] = frozenset(
    [root for root, _ in (*_CALL_RESULTS, *_ANNOTATION_KINDS)]
    + [name.partition(".")[0] for name in _EXACT_CALL_RESULTS]
)


def is_teardown_method(name: str) -> bool:
    return name in TEARDOWN_METHODS or name.lower().startswith(TEARDOWN_METHOD_PREFIXES)


def closers_for(kind: Kind) -> frozenset[str]:
    """The methods that give back a resource of ``kind``."""
    if kind.is_engine:
        return ENGINE_DISPOSE_METHODS
    if kind is Kind.POOL:
        return POOL_CLOSE_METHODS
    if kind is Kind.ENGINE_RESULT:
        return CLOSE_METHODS | RESULT_EXHAUSTING_METHODS
    return CLOSE_METHODS

# Every library the tables above name by its own qualified names (alembic's ``get_bind``,
# cachetools' decorators, not only the modelled libraries): what its names are is known
# without reading it, so the project index does not read it when it is installed.
MODELLED_ROOTS: frozenset[str] = KNOWN_ROOTS | frozenset(
    root for root, _ in (*_BORROWED_CONNECTION_CALLS, *_CACHE_DECORATORS, *_SHUTDOWN_STATEMENTS, *_CONSTRUCTOR_OPENED_POOLS)
)
