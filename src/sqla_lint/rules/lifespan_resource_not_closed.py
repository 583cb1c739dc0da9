from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from ..diagnostics import Applicability
from ..semantic import Creation, Kind, ModuleModel, Outcome
from ..semantic.blocks import Binding, binding_of, guarding_try, yield_after
from ..semantic.names import last_segment
from ..semantic.symbols import closers_for, shutdown_statements
from ..semantic.tree import FunctionNode
from .base import Finding, Rewrite, Rule, RuleContext
from .rewrites import extend_finally, guard_with_finally

_GIVEN_BACK = frozenset(
    {
        Outcome.CONTEXT_MANAGED,
        Outcome.CLOSED,
        Outcome.STORED_AND_CLOSED,
        Outcome.RETURNED,
        # A dispose after the lifespan's yield runs at shutdown, with or without `finally`.
        Outcome.SUCCESS_PATH_ONLY,
        Outcome.SOME_PATHS,
        Outcome.USED_OUTSIDE_TRY,
        Outcome.YIELDED_SUCCESS_PATH,
    }
)


class LifespanResourceNotClosed(Rule):
    """
    ## What it does
    Finds an engine or pool created in an application lifespan or startup hook and not
    disposed or closed at shutdown. Engines come from `create_engine` /
    `create_async_engine`; pools from psycopg_pool `ConnectionPool` /
    `AsyncConnectionPool`, `asyncpg.create_pool` and aiopg. Lifespans are FastAPI /
    Starlette `lifespan=`, `on_event("startup")`, aiohttp `on_startup` and `cleanup_ctx`.

    ## Why is this bad?
    At shutdown (and at every reload under `uvicorn --reload`, every worker recycle under
    gunicorn `max_requests`) the pool's connections are dropped without a goodbye.
    PostgreSQL keeps their backends until TCP keepalive notices, so each restart leaves a
    batch of `idle` connections behind; asyncpg and psycopg_pool warn about pools
    destroyed while open, and an `AsyncEngine` garbage-collected after its loop closes
    raises `RuntimeError: Event loop is closed`. See "Using asyncio ... with Engine
    Disposal" (https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html).

    ## When to ignore it
    When another module disposes the resource at shutdown. (This release looks within the
    file.)

    ## Fix safety
    Safe: the lifespan's `yield` is wrapped in `try:` / `finally:` that awaits
    `dispose()` (async engines) or `close()` (async pools) on the name or attribute the
    resource was stored in. Sync engines and pools are disposed or closed without
    `await`; aiopg pools are closed, then awaited with `wait_closed()`. Several resources
    of one lifespan share one `finally`, last created first. Where the `yield` already sits
    in a `try` whose `finally` gives back something else, the cleanup is appended to that
    `finally`. No fix is offered for startup hooks (there is no `yield` to guard) or where
    the lifespan has more than one `yield`.
    """

    CODE = "SQA502"
    NAME = "lifespan-resource-not-closed"
    SUMMARY = "An engine or pool created in an app lifespan/startup hook is not disposed at shutdown."
    FIX = Applicability.SAFE
    EXAMPLE_FIRES = """\
from contextlib import asynccontextmanager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

@asynccontextmanager
async def lifespan(app):
    app.state.engine = create_async_engine(DATABASE_URL)
    yield

app = FastAPI(lifespan=lifespan)
"""
    EXAMPLE_SILENT = """\
from contextlib import asynccontextmanager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

@asynccontextmanager
async def lifespan(app):
    app.state.engine = create_async_engine(DATABASE_URL)
    try:
        yield
    finally:
        await app.state.engine.dispose()

app = FastAPI(lifespan=lifespan)
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        model = context.model
        leaked: list[Creation] = []
        for creation in model.creations:
            # Made by a project helper counts too (``make_engine(settings)``), unless the
            # helper keeps what it makes (a memo): then the lifespan shares it.
            if not (creation.kind.is_engine or creation.kind is Kind.POOL) or model.made_by_a_memo(creation):
                continue
            function = creation.function
            if function is None or not model.is_startup_code(function):
                continue
            if not self._given_back(context, creation):
                leaked.append(creation)
        fixes = _shutdown_fixes(model, leaked)
        for creation in leaked:
            function = creation.function
            assert function is not None
            ownership = context.ownership_of(creation)
            holder = ownership.holder or creation.source
            noun = "Engine" if creation.kind.is_engine else "Pool"
            hook = "lifespan" if function in model.hooks.lifespans else "startup hook"
            binding = binding_of(model, creation.call)
            written = model.source_of(binding.target) if binding is not None else holder
            written = holder if "\n" in written else written
            action = "; ".join(statement.format(written) for statement in _shutdown_statements(model, creation))
            yield Finding(
                creation.call,
                f"{noun} `{holder}` created in {hook} `{model.function_name(function)}` is never "
                f"disposed at shutdown; `{action}` in a `finally` around the `yield` "
                "or in a shutdown hook",
                fixes.get(creation.call),
            )

    @staticmethod
    def _given_back(context: RuleContext, creation: Creation) -> bool:
        """Whether something in the module gives it back. ``self.x`` in a function outside
        any class is ``STORED_ON_INSTANCE`` (no class to search for a close), so it is
        looked up by attribute like a global: else this rule's own fix, ``await
        self.x.dispose()`` in the ``finally``, went unseen and was added again on every
        pass until the fixer gave up (found by fuzzing the fixer)."""
        ownership = context.ownership_of(creation)
        if ownership.outcome in _GIVEN_BACK or ownership.closes:
            return True
        stored = (Outcome.STORED_GLOBALLY, Outcome.STORED_IN_CONTAINER, Outcome.STORED_ON_INSTANCE)
        if ownership.outcome in stored and ownership.holder:
            wanted = last_segment(ownership.holder)
            return any(
                last_segment(receiver) == wanted
                for receiver, _ in context.model.closing_receivers(closers_for(creation.kind))
            )
        return False


def _shutdown_statements(model: ModuleModel, creation: Creation) -> tuple[str, ...]:
    """How to give back what ``creation`` made (awaited only where that returns an
    awaitable); by its kind where the factory is not one the symbol table knows."""
    known = shutdown_statements(model.qualified_name(creation.call.func) or "")
    if known is not None:
        return known
    if creation.kind.is_engine:
        return ("await {}.dispose()",) if creation.kind.is_async else ("{}.dispose()",)
    return ("await {}.close()",)


def _shutdown_fixes(model: ModuleModel, leaked: list[Creation]) -> dict[cst.Call, Rewrite]:
    """One rewrite per lifespan: its ``yield`` in ``try``, and a ``finally`` that gives back
    every leaked resource it can, last created first. Findings of one lifespan share it."""
    by_function: dict[FunctionNode, list[Creation]] = {}
    for creation in leaked:
        if creation.function is not None:
            by_function.setdefault(creation.function, []).append(creation)
    fixes: dict[cst.Call, Rewrite] = {}
    for function, creations in by_function.items():
        asynchronous = isinstance(function, cst.FunctionDef) and function.asynchronous is not None
        guarded: list[tuple[Creation, str, tuple[str, ...]]] = []
        bindings: list[Binding] = []
        yield_line: cst.SimpleStatementLine | None = None
        for creation in creations:
            binding = binding_of(model, creation.call)
            statements = shutdown_statements(model.qualified_name(creation.call.func) or "")
            if binding is None or statements is None:
                continue
            if not asynchronous and any(statement.startswith("await ") for statement in statements):
                continue
            line = yield_after(model, binding, function)
            if line is None:
                continue
            yield_line = line
            bindings.append(binding)
            guarded.append((creation, model.source_of(binding.target), statements))
        if yield_line is None:
            continue
        block = model.parent_of(yield_line)
        assert isinstance(block, cst.IndentedBlock)
        try:
            cleanup = [
                model.parse_statement(statement.format(holder))
                for _, holder, statements in reversed(guarded)
                for statement in statements
            ]
        except cst.ParserSyntaxError:  # a holder written over several lines
            continue
        holders = ", ".join(f"`{holder}`" for _, holder, _ in guarded)
        existing = {guarding_try(model, yield_line, binding) for binding in bindings}
        if len(existing) == 1 and (statement := existing.pop()) is not None:
            rewrite = Rewrite(f"Give back {holders} in the `finally` around the `yield`", extend_finally(statement, cleanup))
        else:
            rewrite = Rewrite(
                f"Give back {holders} in a `finally` around the `yield`",
                guard_with_finally(yield_line, block, cleanup),
            )
        for creation, _, _ in guarded:
            fixes[creation.call] = rewrite
    return fixes
