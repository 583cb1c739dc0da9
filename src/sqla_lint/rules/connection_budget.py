from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from ..semantic import Kind, ModuleModel
from ..semantic.budget import ConnectionBudget
from ..semantic.pools import PoolSite
from .base import Finding, Rule, RuleContext


class ConnectionBudgetExceeded(Rule):
    """
    ## What it does
    Adds up the connections the project can hold open at once and compares them with the
    database's budget. Per process: every engine's `pool_size + max_overflow` (5 + 10 by
    default, for `QueuePool` and `AsyncAdaptedQueuePool`), every psycopg pool's
    `max_size` (which defaults to `min_size`, 4), every asyncpg pool's `max_size` (10).
    Times the worker processes, read from the repository's own `gunicorn.conf.py`,
    `Dockerfile`, `Procfile`, `docker-compose*.yml`, `*.sh` or `Makefile` (`workers =`,
    `-w N`, `--workers N`, `WEB_CONCURRENCY`), or `workers` in `[tool.sqla-lint]`. Against
    `max-connections` (default 100, PostgreSQL's default) minus `reserved-connections`
    (default 3). Reported once per project, at the engine or pool with the largest share;
    the message shows the sum and where each number came from. `sqla-lint budget` prints
    the whole table.

    An engine or pool made in a function counts when that function runs once per process
    (a lifespan or startup hook, `main`, a cached factory, a function called only from
    such code) or keeps it in a per-key cache. One made per call (SQA501 reports those),
    or in a function nothing shows to run once (a library's reader class, a job), is
    listed but not counted: whether a process builds it, and how often, would be a guess.
    `NullPool` keeps no pool (one connection per checkout) and SQLite uses no server
    connections, and test code, alembic's `env.py` and `__main__` blocks run apart from
    the deployed processes, so they are listed but not counted too. A cache of engines
    keyed by URL or tenant counts one engine, and of engines and pools made in different
    branches of one `if` or `match` (SQLite or PostgreSQL, pooled or not) the branch that
    holds the most counts. A limit read from settings or the
    environment counts the library's default, and the table says it is a default.
    Without a deployment file that states a worker count, one process is assumed and the
    message says so. Every counted engine and pool counts in every process: a
    `Procfile`'s web and worker process types are not told apart.

    ## Why is this bad?
    Each worker process builds its own pools. Four gunicorn workers with two default
    engines may open 4 x 2 x 15 = 120 connections, past PostgreSQL's default of 100:
    under load the last ones fail with `FATAL: remaining connection slots are reserved for
    non-replication superuser connections` or `sorry, too many clients already`, and the
    pools behind them with `QueuePool limit of size 5 overflow 10 reached`. See "Connection
    Pooling" (https://docs.sqlalchemy.org/en/20/core/pooling.html) and "Using Connection
    Pools with Multiprocessing or os.fork()".

    ## When to ignore it
    When a connection pooler (PgBouncer) sits between the application and the database:
    set `max-connections` to the pooler's client limit instead. When the worker count is
    set outside the repository, set `workers` in `[tool.sqla-lint]`.

    ## Fix safety
    No fix is offered: the right sizes depend on the workload.
    """

    CODE = "SQA506"
    NAME = "connection-budget"
    SUMMARY = "The connections the project's engines and pools can open exceed the database's budget."
    EXAMPLE_FIRES = """\
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_engine(DATABASE_URL, pool_size=40, max_overflow=20)
async_engine = create_async_engine(DATABASE_URL, pool_size=20, max_overflow=20)
"""
    EXAMPLE_SILENT = """\
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_engine(DATABASE_URL, pool_size=10, max_overflow=5)
async_engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=10)
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        model = context.model
        candidates = [c.call for c in model.creations if (c.kind.is_engine or c.kind is Kind.POOL) and not c.via_helper]
        if not candidates:
            return
        budget = _budget(model)
        if budget is None:
            return
        largest = budget.largest
        if not budget.exceeded or largest is None or largest.site.module != model.module_name:
            return
        node = _node_at(context, candidates, largest.site)
        if node is None:
            return
        site = largest.site
        what = f"`{site.holder}`" if site.holder else f"`{site.constructor.rpartition('.')[2]}(...)`"
        defaults = sorted({note for line in budget.counted for note in line.notes if "not a literal" in note})
        caveat = f"; defaults counted where limits are not literals ({len(defaults)})" if defaults else ""
        yield Finding(
            node,
            f"connections exceed the database's budget: {budget.arithmetic()}; {what} holds the largest share "
            f"({largest.most} per process: {largest.formula}){caveat}; lower the pool sizes or workers, "
            "or raise max-connections (`sqla-lint budget` shows the table)",
        )


def _budget(model: ModuleModel) -> ConnectionBudget | None:
    """The project's budget, from the index (a file linted alone has a one-module index of
    its own facts; only one CPython cannot read at all has none, and no budget)."""
    return model.connection_budget()


def _node_at(context: RuleContext, candidates: list[cst.Call], site: PoolSite) -> cst.Call | None:
    """The libcst call CPython placed at ``site``'s line and column."""
    positions = context.positions_of(candidates)
    for call in candidates:
        start = positions[call].start
        if start.line == site.line and start.column == site.column:
            return call
    return next((call for call in candidates if positions[call].start.line == site.line), None)
