"""What the analysis knows about the libraries it models, keyed by qualified name.

Libraries re-export their API from several modules (``sqlalchemy.orm.Session`` is also
``sqlalchemy.orm.session.Session``), so a symbol is recognised by its root package and its
final name rather than by one full path. Everything that "knows SQLAlchemy" lives here, so a
new library version is one table to update.
"""

from __future__ import annotations

import enum


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
}

# Engine methods that check a connection out of the pool.
CONNECTION_METHODS = frozenset({"connect", "begin", "raw_connection"})

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


def call_result_kind(qualified_name: str) -> Kind | None:
    """The kind of value produced by calling ``qualified_name``, if it is a known API."""
    exact = _EXACT_CALL_RESULTS.get(qualified_name)
    if exact is not None:
        return exact
    if "." not in qualified_name:
        return None
    return _CALL_RESULTS.get(_root_and_leaf(qualified_name))


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
    return CLOSE_METHODS
