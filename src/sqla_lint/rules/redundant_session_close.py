from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from ..diagnostics import Applicability
from ..semantic.blocks import close_call
from .base import Finding, Rule, RuleContext, Rewrite
from .rewrites import without_trailing_close


class RedundantSessionClose(Rule):
    """
    ## What it does
    Finds `session.close()` / `await session.close()` as the last thing executed in the
    `with` / `async with` block that opened that session, including the
    `try: yield s` / `finally: await s.close()` shape inside `async with`.

    ## Why is this bad?
    The block's exit already closes the session, so the explicit call is noise that
    suggests the `with` does not. Worse, it teaches readers that the `with` is not enough,
    and the `try`/`finally` copy of it is often pasted into code that has no `with`. See
    "Opening and Closing a Session"
    (https://docs.sqlalchemy.org/en/20/orm/session_basics.html#opening-and-closing-a-session).

    ## When to ignore it
    Never needed for correctness; ignore it only if a custom session class does extra
    work in `close()` that its `__exit__` skips.

    ## Fix safety
    Safe: the call is deleted, and a `try` left with an empty `finally` and no `except` is
    unwrapped.
    """

    CODE = "SQA404"
    NAME = "redundant-session-close"
    SUMMARY = "session.close() is the last statement of the with block that already closes it."
    FIX = Applicability.SAFE
    EXAMPLE_FIRES = """\
from sqlalchemy.orm import Session

def save(user):
    with Session(engine) as session:
        session.add(user)
        session.commit()
        session.close()
"""
    EXAMPLE_SILENT = """\
from sqlalchemy.orm import Session

def save(user):
    with Session(engine) as session:
        session.add(user)
        session.commit()
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        model = context.model
        for statement in model.with_statements:
            for name in model.sessions_closed_by(statement):
                close = _trailing_close(statement.body, name)
                if close is not None:
                    opener = "async with" if statement.asynchronous else "with"
                    fix = Rewrite(
                        f"Remove the redundant `{name}.close()`",
                        ((statement.body, without_trailing_close(statement.body)),),
                    )
                    yield Finding(
                        close,
                        f"`{name}.close()` is redundant: the `{opener}` block that opened `{name}` "
                        "already closes it on exit",
                        fix,
                    )


def _trailing_close(body: cst.BaseSuite, name: str) -> cst.BaseExpression | None:
    """The close of ``name`` that is the last statement run in ``body``, if any."""
    if not body.body:
        return None
    last = body.body[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return close_call(last.body[-1], name)
    if isinstance(body, cst.SimpleStatementSuite):
        return close_call(last, name) if isinstance(last, cst.BaseSmallStatement) else None
    if isinstance(last, cst.Try) and last.finalbody is not None:
        return _trailing_close(last.finalbody.body, name)
    return None

