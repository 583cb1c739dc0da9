from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import Applicability
from .base import Finding, Rule, RuleContext, leak_message
from .rewrites import with_rewrite


class SessionNotClosed(Rule):
    """
    ## What it does
    Finds a `Session` or `AsyncSession` that is created and can reach the end of its
    scope without being closed: never closed, closed only on the success path, closed in
    one branch only, or yielded by a dependency with no close after the `yield`.

    ## Why is this bad?
    An open session holds a pooled connection from its first query until it is closed.
    Leak one per request and the pool runs dry: `QueuePool limit of size 5 overflow 10
    reached, connection timed out`. A session that is only committed keeps its
    transaction state, and on PostgreSQL a session left mid-transaction shows up as an
    `idle in transaction` backend holding locks. See SQLAlchemy's "Opening and Closing a
    Session" and "When do I construct a Session, when do I commit it, and when do I close
    it?" (https://docs.sqlalchemy.org/en/20/orm/session_basics.html).

    ## When to ignore it
    When ownership moves somewhere the analysis cannot follow, for example a session
    handed to a framework object that closes it. Suppress with `# noqa: SQA401` and a
    comment saying who closes it.

    ## Fix safety
    Safe where the session is a local whose uses all follow it in the same block: it is
    rewritten to `with` / `async with` around those statements, and a trailing `close()`
    is removed. No fix is offered where something tied to the session outlives the block:
    a lazy `Result` or `Query` returned or stored, an object or task it is handed to, an
    alias, or a closure. Objects loaded by the session and returned are detached when the
    block closes it; attributes not yet loaded can no longer be lazy-loaded.
    """

    CODE = "SQA401"
    NAME = "session-not-closed"
    SUMMARY = "A Session or AsyncSession can reach the end of its scope without being closed."
    FIX = Applicability.SAFE
    EXAMPLE_FIRES = """\
from sqlalchemy.orm import sessionmaker

SessionLocal = sessionmaker()

def count_users():
    db = SessionLocal()
    return db.query(User).count()
"""
    EXAMPLE_SILENT = """\
from sqlalchemy.orm import sessionmaker

SessionLocal = sessionmaker()

def count_users():
    with SessionLocal() as db:
        return db.query(User).count()
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for creation in context.model.creations:
            if not creation.kind.is_session or context.model.borrows_connection(creation.call):
                continue
            ownership = context.ownership_of(creation)
            if ownership.leaks:
                noun = "AsyncSession" if creation.kind.is_async else "Session"
                fix = with_rewrite(context.model, creation, keep_await=True)
                yield Finding(creation.call, leak_message(context, creation, ownership, noun), fix)
