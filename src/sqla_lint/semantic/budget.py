"""The connection budget (SQA506): pools per process, times processes, against the server.

``QueuePool limit of size 5 overflow 10 reached`` and PostgreSQL's ``remaining connection
slots are reserved`` come from a sum nobody did: every engine's ``pool_size +
max_overflow``, every psycopg or asyncpg pool's ``max_size``, times every gunicorn or
uvicorn worker. This module does that sum from facts handed to it (pool sites from the
code, the worker count and limits from the deployment); it reads nothing itself.

What does not hold a steady number of connections in the deployed processes is listed
with the reason and left out of the sum: engines made per call (SQA501 reports those),
``NullPool`` (no pool: one connection per checkout), SQLite, test code, alembic's
migration environment and ``__main__`` blocks. A per-key cache of engines counts one engine,
and of pools made in different branches of one ``if`` / ``match`` the larger branch counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the front ends build a Deployment on every run, which must not import libcst
    from .pools import PoolSite

DEFAULT_MAX_CONNECTIONS = 100  # PostgreSQL's max_connections default
DEFAULT_RESERVED_CONNECTIONS = 3  # PostgreSQL's superuser_reserved_connections default

# (family, keyword) -> the library's default.
_DEFAULTS = {
    ("sqlalchemy", "pool_size"): 5,
    ("sqlalchemy", "max_overflow"): 10,
    ("asyncpg", "max_size"): 10,
    ("aiopg", "maxsize"): 10,
    ("psycopg", "min_size"): 4,
}


@dataclass(frozen=True)
class WorkerCount:
    """How many processes build the pools, and where that number was read."""

    number: int
    source: str  # ``gunicorn.conf.py:3``, ``[tool.sqla-lint] workers in pyproject.toml``
    assumed: bool = False

    @classmethod
    def assume_one(cls) -> WorkerCount:
        return cls(1, "no deployment file states a worker count: 1 process assumed", assumed=True)


@dataclass(frozen=True)
class BudgetLimits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    reserved_connections: int = DEFAULT_RESERVED_CONNECTIONS

    @property
    def available(self) -> int:
        return self.max_connections - self.reserved_connections


@dataclass(frozen=True)
class Deployment:
    """What the budget needs beyond the code: found in deployment files and configuration
    by the layer that reads files, and handed to the index."""

    workers: WorkerCount = WorkerCount.assume_one()
    limits: BudgetLimits = BudgetLimits()


@dataclass(frozen=True)
class BudgetLine:
    """One engine or pool: what it may hold per process, or why it is not counted."""

    site: PoolSite
    most: int | None  # connections per process; None: not part of the sum
    formula: str  # ``pool_size=10 + max_overflow=10 (default)``
    notes: tuple[str, ...] = ()
    unbounded: bool = False


@dataclass(frozen=True)
class ConnectionBudget:
    lines: tuple[BudgetLine, ...]
    deployment: Deployment

    @property
    def counted(self) -> list[BudgetLine]:
        return [line for line in self.lines if line.most is not None]

    @property
    def per_process(self) -> int:
        return sum(line.most or 0 for line in self.counted)

    @property
    def total(self) -> int:
        return self.per_process * self.deployment.workers.number

    @property
    def available(self) -> int:
        return self.deployment.limits.available

    @property
    def exceeded(self) -> bool:
        return self.total > self.available

    @property
    def largest(self) -> BudgetLine | None:
        """The engine or pool holding the largest share; the first of equals."""
        best: BudgetLine | None = None
        for line in self.counted:
            if best is None or (line.most or 0) > (best.most or 0):
                best = line
        return best

    def arithmetic(self) -> str:
        """``15 (app.db:12) + 20 (app.db:14) = 35 per process x 4 workers (Procfile:1) = 140 > 97 (...)``"""
        workers = self.deployment.workers
        limits = self.deployment.limits
        terms = " + ".join(f"{line.most} ({line.site.label})" for line in self.counted) or "0"
        relation = ">" if self.exceeded else "<="
        process = "process" if workers.number == 1 else "processes"
        return (
            f"{terms} = {self.per_process} per process x {workers.number} {process} ({workers.source}) = {self.total} "
            f"{relation} {self.available} (max-connections {limits.max_connections} - reserved-connections "
            f"{limits.reserved_connections})"
        )


def connection_budget(
    sites: Iterable[PoolSite],
    deployment: Deployment,
    left_out: Callable[[PoolSite], str | None] = lambda site: None,
) -> ConnectionBudget:
    """Each site's line, in the order given. ``left_out`` says why a site made in a function
    is not part of the steady-state sum (the index's judgement: :func:`per_call_note`,
    :func:`not_once_note`)."""
    lines = [budget_line(site, left_out(site)) for site in sites]
    return ConnectionBudget(tuple(_one_of_each_alternative(lines)), deployment)


def _one_of_each_alternative(lines: list[BudgetLine]) -> list[BudgetLine]:
    """Of pools made in different branches of one ``if`` / ``match`` (the same function or
    module level), a process makes those of one branch: the branch holding the most counts,
    the others are listed as its alternatives and left out of the sum."""
    dropped: dict[int, BudgetLine] = {}
    scopes: dict[tuple[str, str | None], list[BudgetLine]] = {}
    for line in lines:
        if line.most is not None and line.site.branches:
            scopes.setdefault((line.site.module, line.site.function), []).append(line)
    for scope in scopes.values():
        if len(scope) > 1:
            _heaviest_branches(scope, 0, dropped)
    return [
        BudgetLine(line.site, None, line.formula, (*line.notes, f"an alternative to {dropped[id(line)].site.label} (another branch of the same `if` or `match`): the larger counts"), line.unbounded)
        if id(line) in dropped
        else line
        for line in lines
    ]


def _heaviest_branches(lines: list[BudgetLine], depth: int, dropped: dict[int, BudgetLine]) -> tuple[int, BudgetLine | None]:
    """The most ``lines`` can hold at once, with the heaviest of the chosen lines; the
    lines of the lighter branches go into ``dropped`` (line -> the heavier alternative)."""
    total, heaviest = 0, None
    by_statement: dict[int, dict[int, list[BudgetLine]]] = {}
    for line in lines:
        branches = line.site.branches
        if len(branches) <= depth:
            total += line.most or 0
            heaviest = line if heaviest is None or (line.most or 0) > (heaviest.most or 0) else heaviest
        else:
            statement, branch = branches[depth]
            by_statement.setdefault(statement, {}).setdefault(branch, []).append(line)
    for branches in by_statement.values():
        weighed = {branch: _heaviest_branches(chosen, depth + 1, dropped) for branch, chosen in branches.items()}
        best = max(weighed, key=lambda branch: weighed[branch][0])
        best_total, best_line = weighed[best]
        for branch, chosen in branches.items():
            if branch != best:
                for line in chosen:
                    if id(line) not in dropped:  # an inner branch may have dropped it already
                        dropped[id(line)] = best_line or line
        total += best_total
        if best_line is not None and (heaviest is None or (best_line.most or 0) > (heaviest.most or 0)):
            heaviest = best_line
    return total, heaviest



def per_call_note(reason: str) -> str:
    return f"made per call ({reason}; SQA501): not part of the steady-state sum"


def not_once_note(function: str) -> str:
    """An engine made in a function nothing shows to run once per process: a library's
    engine for each source it reads, a job's engine, may never be built in a web process,
    or be built in several. Counting it would be a guess."""
    return f"made in `{function}`, which is not known to run once per process: not counted"


def budget_line(site: PoolSite, left_out: str | None = None) -> BudgetLine:
    most, formula, notes, unbounded = _most_connections(site)
    notes = list(notes)
    if site.passes_kwargs:
        notes.append("`**` keyword arguments may set other limits")
    if site.per_key_cache:
        notes.append("one per key of a cache: counted once")
    if left_out is not None:
        notes.append(left_out)
        most = None
    if site.sqlite:
        notes.append("SQLite: no server connections")
        most = None
    if site.apart is not None:
        notes.append(f"{site.apart}: runs apart from the deployed processes")
        most = None
    return BudgetLine(site, most, formula, tuple(notes), unbounded)


def _limit(site: PoolSite, name: str, notes: list[str]) -> tuple[int | None, str]:
    """A limit's value and how it reads in the formula: ``pool_size=10`` or
    ``pool_size=5 (default)``."""
    setting = site.setting(name)
    if setting.value is not None:
        return setting.value, f"{name}={setting.value}"
    default = _DEFAULTS.get((site.family, name))
    if setting.written is not None:
        notes.append(f"`{name}={setting.written}` is not a literal: read as the default")
    return default, f"{name}={default} (default)" if default is not None else name


def _most_connections(site: PoolSite) -> tuple[int | None, str, list[str], bool]:
    notes: list[str] = []
    if site.family == "sqlalchemy":
        poolclass = site.poolclass
        if poolclass == "NullPool":
            return None, "NullPool", ["NullPool keeps no pool: it opens one connection per checkout, unbounded"], False
        if poolclass in ("StaticPool", "AssertionPool"):
            return 1, poolclass, notes, False
        if poolclass == "SingletonThreadPool":
            return None, poolclass, ["SingletonThreadPool: one connection per thread, not bounded by a pool"], False
        size, size_text = _limit(site, "pool_size", notes)
        overflow, overflow_text = _limit(site, "max_overflow", notes)
        formula = f"{size_text} + {overflow_text}"
        if poolclass not in (None, "QueuePool", "AsyncAdaptedQueuePool"):
            notes.append(f"poolclass `{poolclass}` is read as a QueuePool")
        if size == 0 or (overflow is not None and overflow < 0):
            return None, formula, [*notes, "unbounded: pool_size=0 or max_overflow=-1 sets no limit"], True
        return (size or 0) + (overflow or 0), formula, notes, False
    if site.family == "psycopg":
        most = site.setting("max_size")
        if most.value is not None:
            return most.value, f"max_size={most.value}", notes, False
        if most.written is not None:
            notes.append(f"`max_size={most.written}` is not a literal: read as min_size, its default")
        size, size_text = _limit(site, "min_size", notes)
        return size, f"max_size=min_size, {size_text}", notes, False
    if site.family == "psycopg-null":
        most = site.setting("max_size")
        if most.value is not None:
            return most.value, f"max_size={most.value}", notes, False
        return None, "max_size=None", ["a null pool without max_size opens a connection per request, unbounded"], True
    name = "max_size" if site.family == "asyncpg" else "maxsize"
    value, text = _limit(site, name, notes)
    return value, text, notes, False
