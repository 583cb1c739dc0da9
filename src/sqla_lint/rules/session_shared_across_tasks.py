from __future__ import annotations

from collections.abc import Iterator

from ..semantic import Kind
from ..semantic.concurrency import concurrent_uses
from .base import Finding, Rule, RuleContext


class SessionSharedAcrossTasks(Rule):
    """
    ## What it does
    Finds one `Session` or `AsyncSession` used by operations that run concurrently: two
    or more of the awaitables of one `asyncio.gather(...)` use it
    (`gather(s.execute(a), s.execute(b))`, `gather(f(s), g(s))`,
    `gather(*(f(s) for x in xs))`), or it is handed to tasks that run at once
    (`asyncio.create_task(f(s))` twice, or in a loop; `TaskGroup.create_task(f(s))` twice,
    or in a loop; a loop's `create_task`; anyio / trio `start_soon(f, s)`). A task awaited
    before the next one starts does not overlap it, nor do tasks started in different
    branches of one `if`. `gather` and the task APIs are recognised by what they are, however
    imported; the session by what the model knows it is (a `sessionmaker` call, an
    `AsyncSession` annotation, `async with factory() as s`).

    ## Why is this bad?
    A session is one transaction on one connection at a time, and it is not safe for
    concurrent use. SQLAlchemy's asyncio documentation describes the `AsyncSession` as a
    mutable, stateful object representing a single database transaction in progress, and
    asks that concurrent tasks (`asyncio.gather()` for example) each use their own
    session. Operations that overlap on one session raise `IllegalStateChangeError`
    ("Method ... can't be called here; method ... is already in progress") or
    `InvalidRequestError`: "This session is provisioning a new connection; concurrent
    operations are not permitted" (https://sqlalche.me/e/20/isce), or interleave on one
    connection and corrupt the transaction. With one request at a time the race rarely
    shows, so tests pass and production fails under load. See "Using AsyncSession with
    Concurrent Tasks" in https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html and
    "Is the Session thread-safe? Is AsyncSession safe to share in concurrent tasks?" in
    https://docs.sqlalchemy.org/en/20/orm/session_basics.html.

    ## When to ignore it
    When the operations cannot overlap for a reason the analysis does not see (a lock
    around each use of the session). Prefer one session per task: a `sessionmaker`
    call inside each task, `async with async_session() as s:`.

    ## Fix safety
    No fix is offered: giving each task its own session changes which transaction each
    write belongs to, and awaiting one after another changes the timing.
    """

    CODE = "SQA406"
    NAME = "session-shared-across-tasks"
    SUMMARY = "One Session or AsyncSession is used by operations that run concurrently (asyncio.gather, tasks)."
    EXAMPLE_FIRES = """\
import asyncio
from sqlalchemy.ext.asyncio import AsyncSession

async def dashboard(session: AsyncSession):
    orders, users = await asyncio.gather(
        session.scalars(select(Order)),
        session.scalars(select(User)),
    )
"""
    EXAMPLE_SILENT = """\
import asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker

async_session = async_sessionmaker(engine)

async def count(model):
    async with async_session() as session:
        return await session.scalar(select(func.count()).select_from(model))

async def dashboard():
    orders, users = await asyncio.gather(count(Order), count(User))
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for use in concurrent_uses(context.model, lambda kind: kind.is_session):
            noun = "AsyncSession" if use.kind is Kind.ASYNC_SESSION else "Session"
            yield Finding(
                use.site,
                f"{noun} `{use.holder}` is used by {use.how}; a session cannot run concurrent operations "
                "(IllegalStateChangeError): give each task its own session, or await the operations one after another",
            )
