from __future__ import annotations

from collections.abc import Iterator

from ..semantic import Creation, Kind, ModuleModel, Outcome
from ..semantic.blocks import binding_of
from ..semantic.lifecycle import asyncio_run_coroutines, disposed_in_module, has_shutdown_point
from ..semantic.names import dotted_name
from .base import Finding, Rule, RuleContext

# A coroutine that asyncio.run runs once leaves its engine undisposed on these paths.
_RUN_ONCE_LEAKS = frozenset({Outcome.NEVER_CLOSED, Outcome.SOME_PATHS, Outcome.ANONYMOUS})
# Outcomes of an engine made in a function that make it application-wide.
_APPLICATION_WIDE = frozenset({Outcome.STORED_GLOBALLY, Outcome.STORED_ON_INSTANCE, Outcome.ATTRIBUTE_NEVER_CLOSED})


class EngineNeverDisposed(Rule):
    """
    ## What it does
    Finds an `AsyncEngine` that is never disposed before its event loop ends:

    - an application-wide engine (at module level, or stored on the app object or its
      `state`) that nothing in the project disposes, although the application has a
      shutdown point (a lifespan, a shutdown hook, aiohttp `on_cleanup`, an
      `asyncio.run(...)` entry point) where it could;
    - an engine created in a coroutine that `asyncio.run` runs once, which returns
      without `await engine.dispose()`.

    A `.dispose()` anywhere in the project counts: in a lifespan's `finally`, in a
    shutdown hook of another module, handed to `add_event_handler`. Sync engines are not
    this rule's business (their pools close with the process), nor are engines created
    in a lifespan or startup hook (SQA502), per call (SQA501), or returned to a caller.

    ## Why is this bad?
    The pool's connections belong to the event loop that opened them. An engine still
    holding them when `asyncio.run` or the server closes the loop has them dropped by the
    garbage collector afterwards: `RuntimeError: Event loop is closed` or `Exception
    terminating connection` at exit, and PostgreSQL keeps the backends `idle` until TCP
    keepalive notices. SQLAlchemy's own asyncio examples end with `await engine.dispose()`
    for this reason. See "Using asyncio scoped session" and "Engine Disposal"
    (https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#synopsis-core).

    ## When to ignore it
    When the engine is disposed through a name the analysis cannot follow (a container,
    a registry of engines), or the process never shuts down its loop on purpose.

    ## Fix safety
    No fix is offered: where to dispose depends on the application's shutdown path.
    """

    CODE = "SQA505"
    NAME = "engine-never-disposed"
    SUMMARY = "An AsyncEngine is never disposed before its event loop ends."
    EXAMPLE_FIRES = """\
import asyncio
from sqlalchemy.ext.asyncio import create_async_engine

async def main():
    engine = create_async_engine(DATABASE_URL)
    async with engine.connect() as conn:
        await conn.execute(text("select 1"))

asyncio.run(main())
"""
    EXAMPLE_SILENT = """\
import asyncio
from sqlalchemy.ext.asyncio import create_async_engine

async def main():
    engine = create_async_engine(DATABASE_URL)
    async with engine.connect() as conn:
        await conn.execute(text("select 1"))
    await engine.dispose()

asyncio.run(main())
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        model = context.model
        # An engine a project helper makes counts where the helper is called: the helper
        # returns it, which is silent there.
        engines = [c for c in model.creations if c.kind is Kind.ASYNC_ENGINE]
        if not engines:
            return
        run_once = asyncio_run_coroutines(model)
        reported: set[str] = set()  # one finding per holder, however many branches assign it
        for creation in engines:
            function = creation.function
            if function is not None and (
                model.is_startup_code(function)  # SQA502's
                or model.per_call_reason(function) is not None  # SQA501's
                or model.runs_per_iteration(creation.call, function)  # SQA501's
            ):
                continue
            ownership = context.ownership_of(creation)
            if function is not None and function in run_once and ownership.outcome in _RUN_ONCE_LEAKS:
                name = ownership.holder or "engine"
                yield Finding(
                    creation.call,
                    f"AsyncEngine `{name}` is never disposed before `{model.function_name(function)}()` returns to "
                    f"`asyncio.run`, which then closes the loop; `await {name}.dispose()` in a `finally`",
                )
                continue
            holder = _application_holder(model, creation, ownership.outcome)
            if holder is None or holder in reported or _disposed(model, creation, holder) or not _has_shutdown_point(model):
                continue
            reported.add(holder)
            yield Finding(
                creation.call,
                f"AsyncEngine `{holder}` is never disposed, although the application has a shutdown point; "
                f"`await {holder}.dispose()` in the lifespan's `finally` or a shutdown hook",
            )


def _application_holder(model: ModuleModel, creation: Creation, outcome: Outcome) -> str | None:
    """What holds an application-wide engine: a module-level name, or the app's attribute."""
    binding = binding_of(model, creation.call)
    holder = dotted_name(binding.target) if binding is not None else None
    if holder is None:
        return None
    if creation.function is None:
        return holder
    if outcome in _APPLICATION_WIDE and ("state" in holder.split(".") or holder.split(".")[0] == "app" or "." not in holder):
        return holder
    return None


def _disposed(model: ModuleModel, creation: Creation, holder: str) -> bool:
    if disposed_in_module(model, holder):
        return True
    return model.disposed_in_project(holder, creation.call)


def _has_shutdown_point(model: ModuleModel) -> bool:
    if has_shutdown_point(model):
        return True
    return model.project_has_shutdown_point()
