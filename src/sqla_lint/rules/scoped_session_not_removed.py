from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from ..semantic import Kind
from ..semantic.names import dotted_name
from .base import Finding, Rule, RuleContext


class ScopedSessionNotRemoved(Rule):
    """
    ## What it does
    Finds a `scoped_session` or `async_scoped_session` registry that is never `.remove()`d,
    or removed on one path only: in one branch of an `if` (a test of the registry itself,
    `if registry is not None:`, is a guard, not a branch), only in an `except` or a `try`'s
    `else`, or after an `if` that may return first. A `.remove()` on another registry
    that shares the name (another class's `registry` attribute) does not count.

    ## Why is this bad?
    A scoped session lives in a thread-local (or task-local) registry until `remove()` is
    called. Web frameworks reuse threads, so without `remove()` at the end of each request
    the next request on that thread inherits the previous one's session, its stale
    objects and, after an error, its failed transaction; the connection it holds is never
    returned to the pool. See "Contextual/Thread-local Sessions"
    (https://docs.sqlalchemy.org/en/20/orm/contextual.html).

    ## When to ignore it
    When `remove()` runs somewhere the analysis cannot see, such as a framework extension
    that is handed the registry. Calls in any module of the project are found.

    ## Fix safety
    No fix is offered: where the request ends depends on the framework.
    """

    CODE = "SQA403"
    NAME = "scoped-session-not-removed"
    SUMMARY = "A scoped_session registry is created and nothing ever calls .remove() on it."
    EXAMPLE_FIRES = """\
from sqlalchemy.orm import scoped_session, sessionmaker

db_session = scoped_session(sessionmaker(bind=engine))
"""
    EXAMPLE_SILENT = """\
from sqlalchemy.orm import scoped_session, sessionmaker

db_session = scoped_session(sessionmaker(bind=engine))

@app.teardown_appcontext
def shutdown_session(exception=None):
    db_session.remove()
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        model = context.model
        for creation in model.creations:
            if creation.kind is not Kind.SCOPED_REGISTRY:
                continue
            holder = _assigned_to(model.parent_of(creation.call), creation.call)
            if holder is None or model.is_removed(holder, creation.call):
                continue
            yield Finding(
                creation.call,
                f"scoped_session registry `{holder}` is never `.remove()`d; call `{holder}.remove()` "
                "when each request or task ends (teardown hook or middleware `finally`)",
            )


def _assigned_to(parent: cst.CSTNode | None, value: cst.CSTNode) -> str | None:
    if isinstance(parent, cst.Assign) and parent.value is value:
        return dotted_name(parent.targets[0].target)
    if isinstance(parent, cst.AnnAssign) and parent.value is value:
        return dotted_name(parent.target)
    return None
