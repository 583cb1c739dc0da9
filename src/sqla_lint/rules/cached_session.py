from __future__ import annotations

from collections.abc import Iterator


from .base import Finding, Rule, RuleContext


class CachedSession(Rule):
    """
    ## What it does
    Finds `functools.lru_cache`, `functools.cache`, `cachetools` or `async_lru` caching on
    a function or method that returns or yields a session.

    ## Why is this bad?
    The cache hands the *same* `Session` to every caller for the life of the process. A
    session is not thread-safe and not meant to outlive a unit of work: requests interleave
    their transactions on it, its identity map grows without bound, one failed flush leaves
    it in `PendingRollbackError` for everyone, and its connection is never given back. See
    "Is the Session thread-safe?" in
    https://docs.sqlalchemy.org/en/20/orm/session_basics.html.

    ## When to ignore it
    Almost never. Cache the engine or the `sessionmaker` instead, and open a session per
    unit of work.

    ## Fix safety
    No fix is offered: the right shape depends on how callers use the session.
    """

    CODE = "SQA402"
    NAME = "cached-session"
    SUMMARY = "A cached function returns or yields a session, so every caller shares one."
    EXAMPLE_FIRES = """\
from functools import lru_cache
from sqlalchemy.orm import Session

@lru_cache
def get_session():
    return Session(engine)
"""
    EXAMPLE_SILENT = """\
from functools import lru_cache
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

@lru_cache
def get_sessionmaker():
    return sessionmaker(bind=create_engine(URL))
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        model = context.model
        for function in model.function_defs:
            decorator = model.cache_decorator(function)
            if decorator is None:
                continue
            if any(kind.is_session for kind in model.handed_out_kinds(function)):
                decorator_name = model.source_of(decorator.decorator).split("(")[0]
                yield Finding(
                    decorator,
                    f"`@{decorator_name}` on `{model.function_name(function)}` caches a session, so every "
                    "caller shares one; keep the sessionmaker at module level and open a session per unit of work",
                )
