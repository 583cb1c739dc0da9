from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from ..diagnostics import Applicability
from ..semantic.symbols import Kind
from .base import Finding, Rule, RuleContext, leak_message
from .rewrites import with_rewrite


class ConnectionNotClosed(Rule):
    """
    ## What it does
    Finds `engine.connect()`, `engine.begin()` and `engine.raw_connection()` (and the
    `AsyncEngine` versions) called outside `with` / `async with`, where the connection is
    not closed on every path. The engine is recognised by what it is: a name bound to
    `create_engine(...)` / `create_async_engine(...)`, annotated `Engine` / `AsyncEngine`,
    or returned by a project function or by a method of an object whose class is known
    (`backend.get_write_engine().connect()`, where `backend` is bound to `Backend(...)`,
    annotated `Backend`, or set so on `self`); never guessed from a method's name.

    It also finds two connections without a name of their own:

    - SQLAlchemy 1.x connectionless execution, `engine.execute(...)`. Its result checks
      a connection out of the pool and holds it until the result is read to its end
      (`fetchall()`, `all()`, `first()`, `scalar()`, a loop over it) or closed, so an
      unclosed result is an unclosed connection. A result that is dropped at once (a
      statement of its own, or one chained read) gives the connection back as it goes; so
      does the result of a statement that returns no rows (SQL text starting with
      `UPDATE`, `INSERT`, DDL..., `insert()` / `update()` / `delete()` without
      `returning()`, or a result read only for `rowcount`); and one returned to the
      caller is the caller's to close.
    - `engine.connect()` handed straight to a library call that uses a connection
      without closing it (`MigrationContext.configure(engine.connect())`,
      `pandas.read_sql(query, engine.connect())`), when what that call returns is not
      closed or handed on either.

    ## Why is this bad?
    A connection is checked out of the engine's pool until it is closed. One that leaks on
    an exception path is never returned; after `pool_size + max_overflow` of them every
    request waits `pool_timeout` seconds and fails with `QueuePool limit ... reached`. A
    connection left inside `begin()` holds its transaction open (`idle in transaction`).
    See "Working with Engines and Connections"
    (https://docs.sqlalchemy.org/en/20/core/connections.html).

    ## When to ignore it
    When the connection is handed to an object that closes it in a way the analysis cannot
    see. Say so next to a `# noqa: SQA503`.

    ## Fix safety
    Offered where the connection is a local whose uses all follow it in the same block:
    it is rewritten to `with engine.connect() as conn:` (`async with` for an
    `AsyncEngine`). Only `connect()` is rewritten: `begin()` as a context manager also
    commits, and `raw_connection()` is not a context manager.

    The fix is **unsafe** where a lazy `Result` read from the connection outlives the
    block (returned, stored, handed on): it would read a cursor whose connection the
    block has given back, which fails with a server-side cursor (`stream_results`,
    `yield_per`) or a pool that closes connections as they come back (`NullPool`, an
    overflow connection). Rows, scalars and `rowcount` read inside the block are plain
    values, so the fix is safe there.
    """

    CODE = "SQA503"
    NAME = "connection-not-closed"
    SUMMARY = "A connection from engine.connect()/begin()/raw_connection() is not closed on every path."
    FIX = Applicability.SAFE
    FIX_SOMETIMES_UNSAFE = True
    EXAMPLE_FIRES = """\
from sqlalchemy import create_engine, text

engine = create_engine("sqlite://")

def ping():
    conn = engine.connect()
    conn.execute(text("select 1"))
    conn.close()
"""
    EXAMPLE_SILENT = """\
from sqlalchemy import create_engine, text

engine = create_engine("sqlite://")

def ping():
    with engine.connect() as conn:
        conn.execute(text("select 1"))
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for creation in context.model.creations:
            result = creation.kind is Kind.ENGINE_RESULT
            if not (creation.kind.is_connection or result):
                continue
            ownership = context.reported_leak(creation)
            if ownership is not None:
                noun = "Result" if result else "AsyncConnection" if creation.kind.is_async else "Connection"
                fix = with_rewrite(context.model, creation, keep_await=False) if _is_connect(creation.call) else None
                message = leak_message(context, creation, ownership, noun)
                if result:
                    message += "; a result of connectionless `engine.execute()` holds a pooled connection until it is read to its end or closed"
                yield Finding(creation.call, message, fix)


def _is_connect(call: cst.Call) -> bool:
    return isinstance(call.func, cst.Attribute) and call.func.attr.value == "connect"
