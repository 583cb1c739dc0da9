from __future__ import annotations

from collections.abc import Iterator


from ..semantic import Creation, Outcome
from .base import Finding, Rule, RuleContext

# Disposed after use: outside a ``finally`` too, as one-shot code does (SQLAlchemy's own
# examples), or by what its ``dispose`` is handed to (an engine is context-managed only that
# way: ``stack.callback(engine.dispose)``, ``atexit.register``, ``weakref.finalize``). Not a
# leak, and a new pool per run or per item (a database per URL) is the point.
_DISPOSED = frozenset({Outcome.CLOSED, Outcome.SUCCESS_PATH_ONLY, Outcome.USED_OUTSIDE_TRY, Outcome.CONTEXT_MANAGED})
# Where the engine ends up when a function makes it once and keeps it.
_KEPT_FOR_THE_PROCESS = frozenset({Outcome.STORED_GLOBALLY, Outcome.STORED_IN_CONTAINER})
_KEPT_ON_AN_OBJECT = frozenset(
    {
        Outcome.STORED_ON_INSTANCE,
        Outcome.STORED_AND_CLOSED,
        Outcome.SELF_NEVER_CLOSED,
        Outcome.ATTRIBUTE_NEVER_CLOSED,
    }
)


class EnginePerCall(Rule):
    """
    ## What it does
    Finds `create_engine`, `create_async_engine`, `engine_from_config` and
    `async_engine_from_config` running on every call of a function (a request handler, a
    loop body, a factory that per-request code calls, or a function that builds an engine,
    uses it and drops it) rather than once per process.

    ## Why is this bad?
    An engine *is* a connection pool. A new engine per call opens new connections per
    call and never reuses them; dropped engines keep their pooled connections until
    garbage collection, so PostgreSQL fills with `idle` backends until it refuses new
    ones (`remaining connection slots are reserved`). See "Engine Disposal"
    (https://docs.sqlalchemy.org/en/20/core/connections.html#engine-disposal): "the Engine
    is intended to normally be a permanent fixture established up-front and maintained
    throughout the lifespan of an application".

    ## When to ignore it
    It stays silent on what runs once per process (module level, `main()`, a click, typer or
    Flask CLI command, a lifespan, a cached or `None`-guarded factory, an object built once
    at module level or only from once-per-process code, a result the caller keeps and makes
    again only while nothing is kept, an engine cached per key), on an engine disposed after
    use, one per run or one per item (a database per URL), except in a request handler,
    where a pool per request is never right, on an engine handed to project code that keeps
    it (a class that stores and disposes it, `init_model(engine)` storing it for the
    process), on a thin factory whose engine lives on in what it returns (a sessionmaker
    bound to it: its callers are judged instead), and on an engine only read for its
    `dialect`, `url`, `name` or `driver`, which never opens a connection.
    What the code cannot show runs once (an app factory a framework calls) is declared with
    `called-once`; anything else, `# noqa: SQA501`.

    ## Fix safety
    No fix is offered: the engine must move to module level or an application lifespan.
    """

    CODE = "SQA501"
    NAME = "engine-per-call"
    SUMMARY = "An engine (a connection pool) is created on every call of a function instead of once per process."
    EXAMPLE_FIRES = """\
from fastapi import FastAPI
from sqlalchemy import create_engine, text

app = FastAPI()

@app.get("/health")
def health():
    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        conn.execute(text("select 1"))
"""
    EXAMPLE_SILENT = """\
from fastapi import FastAPI
from sqlalchemy import create_engine, text

app = FastAPI()
engine = create_engine(DATABASE_URL)

@app.get("/health")
def health():
    with engine.connect() as conn:
        conn.execute(text("select 1"))
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        model = context.model
        for creation in model.creations:
            if not creation.kind.is_engine or creation.function is None or creation.via_helper:
                continue
            message = self._per_call(context, creation)
            if message is not None:
                yield Finding(creation.call, message)

    def _per_call(self, context: RuleContext, creation: Creation) -> str | None:
        model = context.model
        function = creation.function
        assert function is not None
        if model.is_once_per_process(function):
            return None
        ownership = context.ownership_of(creation)
        if ownership.outcome in _KEPT_FOR_THE_PROCESS or ownership.outcome is Outcome.NEVER_CONNECTS:
            return None  # made once and kept, or only its dialect or URL read: its pool stays empty
        name = model.function_name(function)
        made = f"`{creation.source}` creates a new engine (a connection pool)"
        if ownership.outcome in _DISPOSED and function not in model.request_handlers:
            return None  # one engine per run or per item (a database per URL), disposed after use
        if model.handed_to_a_keeper(creation, ownership.holder) or model.memoised_per_key(creation, ownership.holder):
            return None  # kept for good: by an object that disposes it, for the process, or once per key
        if model.runs_per_iteration(creation.call, function):
            return f"{made} on every iteration of a loop in `{name}`; create it once at module level or in the app lifespan"
        if function in model.request_handlers:
            return f"{made} on every call of request handler `{name}`; create it once at module level or in the app lifespan"
        reason = model.per_call_reason(function)
        if ownership.outcome in _KEPT_ON_AN_OBJECT:
            constructing = name.rpartition(".")[2] == "__init__"
            if reason is None or not constructing or ownership.outcome is Outcome.STORED_AND_CLOSED:
                return None  # an object built once keeps it, its owner disposes it, or a method caches it on self
            return (
                f"{made} in every `{name.partition('.')[0]}`, and {reason} builds one per call without disposing it; "
                "make one engine at module level and share it"
            )
        if reason is not None:
            return f"{made} on every call of `{name}`, which runs per call from {reason}; cache it or create it once"
        if ownership.outcome.leaks and model.may_run_more_than_once(function) and not model.hands_back(creation, ownership.holder):
            return f"{made} on every call of `{name}` and drops it without `dispose()`; create it once at module level"
        return None
