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
    one branch only, or yielded by a dependency with no close after the `yield`. A session
    comes from a session class, a factory, or a project function or method that returns
    a new one: `factory.create_session()` counts where `factory`'s class is known (bound
    to `SessionFactory(...)`, annotated, or set so on `self`) and that method returns a
    new session.

    `commit()` and `rollback()` are not `close()`, but SQLAlchemy gives the connection
    back to the pool when the transaction ends. So a session whose every path, exceptions
    included, ends its transaction as its last act holds nothing: `commit()` at the end
    of a `try` whose `except` (catching everything) calls `rollback()`, or `rollback()` in
    a `finally`, with nothing touching the session or what it loaded afterwards. A
    session committed only on the success path, or whose loaded object is read after
    `commit()` (`session.commit(); return user.id`: the expired attribute begins a new
    transaction), still holds a connection and is reported.

    Sessions that cannot hold a connection of their own are not reported: one bound to a
    connection someone else owns (`Session(bind=other_session.connection())`, alembic's
    `op.get_bind()`, or a parameter that every call in the project fills with such a
    connection or with alembic's `op`), and a session with no bind (`Session()`, or a
    `sessionmaker()` with none that is never configured) used only for bookkeeping (`add`,
    `expunge`, `is_modified`, `merge(obj, load=False)`). Nor is a session closed under an
    ownership flag (`if session is None: session = Session(); own = True` ... `finally: if
    own: session.close()`), or one put in a mapping handed to a call that keeps it (an
    interactive shell's namespace: `start_ipython(user_ns={"db": db})`).

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
    Offered where the session is a local whose uses all follow it in the same block: it
    is rewritten to `with` / `async with` around those statements, and a trailing
    `close()` is removed. No fix is offered where the session itself outlives the block:
    an alias, a closure, or an object or task it is handed to.

    The fix is **unsafe** where something read from the session outlives the block: an
    ORM instance or a list of them, or a lazy `Result` or `Query`, that is returned,
    yielded, stored on an object, in a container or a global, handed to a constructor or
    a scheduler, raised, or read after the block; or an object from outside the block
    that is added to the session. The leaked session has a transaction open, which refers
    back to it, so it lives until the garbage collector runs and its instances keep
    lazy-loading through it. After the fix `close()` detaches them: an attribute not
    loaded yet raises `DetachedInstanceError`, a `Result` of ORM rows can no longer be
    read, and a `Query` quietly opens the session again. The fix message names the value.

    It is **safe** where nothing of the kind escapes: nothing is returned, or a count, a
    string, a comparison, a column of a class mapped in the same module, the rows of
    `text()` or of a `select` of columns. It is also safe where the session's last act is
    `commit()`, `rollback()`, `close()` or a `with session.begin():` block right before
    the function returns: the original session then has no transaction, nothing refers
    to it, and it is freed on return, so its instances are detached either way. A value
    that cannot be told apart from an ORM instance (an attribute of a model imported from
    another module, what a helper returns) counts as one.

    A session that is itself `yield`ed (a FastAPI dependency, a `@contextmanager`
    factory) is closed when the consumer resumes the generator. The fix is safe there, as
    that is what such generators promise, but instances the consumer keeps past that
    point are detached.
    """

    CODE = "SQA401"
    NAME = "session-not-closed"
    SUMMARY = "A Session or AsyncSession can reach the end of its scope without being closed."
    FIX = Applicability.SAFE
    FIX_SOMETIMES_UNSAFE = True
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
            if not creation.kind.is_session or context.model.holds_no_connection_of_its_own(creation.call):
                continue
            ownership = context.reported_leak(creation)
            if ownership is not None:
                noun = "AsyncSession" if creation.kind.is_async else "Session"
                fix = with_rewrite(context.model, creation, keep_await=True)
                yield Finding(creation.call, leak_message(context, creation, ownership, noun), fix)
