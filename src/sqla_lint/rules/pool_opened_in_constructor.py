from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from ..diagnostics import Applicability
from ..semantic import ModuleModel
from ..semantic.creations import PoolConstructor
from ..semantic.names import dotted_name, last_segment
from .base import Finding, Rewrite, Rule, RuleContext


class PoolOpenedInConstructor(Rule):
    """
    ## What it does
    Finds a psycopg_pool `AsyncConnectionPool(...)` (or `AsyncNullConnectionPool`) that
    its constructor opens: built without `open=False` outside `async with`, or with an
    explicit `open=True` anywhere. And a sync `ConnectionPool(...)` (or
    `NullConnectionPool`) outside `with` that relies on the implicit `open` default,
    written with no `open=` at all. Classes are recognised by what they are, however
    imported (`from psycopg_pool import AsyncConnectionPool as Pool`).

    ## Why is this bad?
    Opening an async pool starts its worker tasks and connections on the running event
    loop, so a pool opened in its constructor is bound to whatever loop (or none) exists
    where it is built: at import time, or in a sync `__init__`. psycopg_pool 3.2 warns
    "opening the async pool AsyncConnectionPool in the constructor is deprecated and will
    not be supported anymore in a future release" (a `RuntimeWarning` since 3.2.2); the
    constructor cannot be awaited, so an error while connecting surfaces later, in the
    first request. A pool opened this way and never closed keeps its connections until the
    process dies, outliving the worker that used it. For sync pools psycopg_pool 3.2 warns
    when the implicit `open=True` is relied on without `with`: "In the future the default
    will become False", and the same code will then borrow from a pool that was never
    opened and get `PoolClosed`.

    See the psycopg_pool release notes, 3.2.0 and 3.2.2
    (https://psycopg.org/psycopg3/docs/news_pool.html), the `open` parameter of
    `ConnectionPool` (https://psycopg.org/psycopg3/docs/api/pool.html) and "Pool life
    cycle" (https://psycopg.org/psycopg3/docs/advanced/pool.html). When SQLAlchemy
    draws its connections from such a pool (`create_engine(..., creator=...,
    poolclass=NullPool)`, see "Switching Pool Implementations" in
    https://docs.sqlalchemy.org/en/20/core/pooling.html), the engine inherits the
    problem.

    An explicit `open=True` on a *sync* pool is not reported: it no longer relies on the
    default that is changing, and psycopg_pool does not warn about it. On an async pool
    it is reported even inside `async with`, because psycopg_pool warns about it there too.

    ## When to ignore it
    With psycopg_pool older than 3.1, which has no `open` parameter.

    ## Fix safety
    Unsafe: `open=False` is added (or an explicit `open=True` on an async pool becomes
    `open=False`). Where the pool is assigned to a name or attribute by a statement of its
    own, the fix opens it right after: `await pool.open()` in a coroutine,
    `pool.open()` for a sync pool. An async pool built at module level or in a sync
    function cannot be awaited there, so only the keyword is added and the fix message
    says to `await pool.open()` where the application starts (a lifespan or startup hook);
    until then the pool hands out no connections.
    """

    CODE = "SQA504"
    NAME = "pool-opened-in-constructor"
    SUMMARY = "A psycopg_pool pool is opened by its constructor (async), or relies on the implicit open default (sync)."
    FIX = Applicability.UNSAFE
    EXAMPLE_FIRES = """\
from psycopg_pool import AsyncConnectionPool

async def startup(app):
    app.state.pool = AsyncConnectionPool(DATABASE_URL)
"""
    EXAMPLE_SILENT = """\
from psycopg_pool import AsyncConnectionPool

async def startup(app):
    app.state.pool = AsyncConnectionPool(DATABASE_URL, open=False)
    await app.state.pool.open()
"""

    def check(self, context: RuleContext) -> Iterator[Finding]:
        model = context.model
        for call in model.calls:
            constructor = model.psycopg_pool_constructor(call)
            if constructor is None or not _reported(model, call, constructor):
                continue
            holder = _holder(model, call)
            class_name = last_segment(constructor.qualified_name)
            subject = f"{class_name} `{holder}`" if holder else f"`{model.source_of(call.func)}(...)`"
            if model.entered_as_context(call):
                message = (
                    f"{subject} is opened in its constructor by `open=True`, which psycopg_pool deprecates, "
                    "although `async with` opens it; pass `open=False`"
                )
            elif constructor.is_async:
                message = (
                    f"{subject} is opened in its constructor, which psycopg_pool deprecates and which cannot "
                    "be awaited; pass `open=False` and `await pool.open()` at startup, or use "
                    f"`async with {model.source_of(call.func)}(...) as pool:`"
                )
            else:
                message = (
                    f"{subject} relies on the implicit `open=True`, whose default psycopg_pool is changing to "
                    "`False`; pass `open=` explicitly (`open=False` and `pool.open()` at startup), or use "
                    f"`with {model.source_of(call.func)}(...) as pool:`"
                )
            yield Finding(call, message, _fix(model, call, constructor, holder))


def _reported(model: ModuleModel, call: cst.Call, constructor: PoolConstructor) -> bool:
    if constructor.is_async:
        if constructor.opens is not True:
            return False
        # `async with` opens it properly, unless `open=True` was written: psycopg_pool
        # warns about an explicit open in the constructor wherever it is.
        return constructor.open_argument is not None or not model.entered_as_context(call)
    return constructor.implicit_open and not model.entered_as_context(call)


def _assignment_line(model: ModuleModel, call: cst.Call) -> tuple[cst.SimpleStatementLine, cst.BaseExpression] | None:
    """The line ``target = call`` (alone on it) and its target, if the pool is bound so."""
    parent = model.parent_of(call)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and parent.value is call:
        target: cst.BaseExpression = parent.targets[0].target
    elif isinstance(parent, cst.AnnAssign) and parent.value is call:
        target = parent.target
    else:
        return None
    line = model.parent_of(parent)
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    return line, target


def _holder(model: ModuleModel, call: cst.Call) -> str | None:
    bound = _assignment_line(model, call)
    if bound is None:
        return None
    target = bound[1]
    return model.source_of(target) if dotted_name(target) is not None else None


def _fix(model: ModuleModel, call: cst.Call, constructor: PoolConstructor, holder: str | None) -> Rewrite:
    closed = _with_open_false(call, constructor)
    if model.entered_as_context(call):
        return Rewrite("Pass `open=False`: `async with` opens the pool", ((call, closed),), Applicability.UNSAFE)
    bound = _assignment_line(model, call)
    function = model.enclosing_function_of(call)
    in_coroutine = isinstance(function, cst.FunctionDef) and function.asynchronous is not None
    if bound is not None and holder is not None and (in_coroutine or not constructor.is_async):
        line, target = bound
        opener = cst.Call(func=cst.Attribute(value=target.deep_clone(), attr=cst.Name("open")))
        opening: cst.BaseExpression = cst.Await(expression=opener) if constructor.is_async else opener
        opened_line = cst.SimpleStatementLine(body=[cst.Expr(value=opening)])
        new_line = line.deep_replace(call, closed)
        assert isinstance(new_line, cst.SimpleStatementLine)
        statement = f"{'await ' if constructor.is_async else ''}{holder}.open()"
        return Rewrite(
            f"Pass `open=False` and open the pool with `{statement}` after it is built",
            ((line, cst.FlattenSentinel([new_line, opened_line])),),
            Applicability.UNSAFE,
        )
    later = "`await pool.open()` where the application starts" if constructor.is_async else "`pool.open()` where the application starts"
    return Rewrite(
        f"Pass `open=False` (then open the pool with {later}: the fix cannot do that here)",
        ((call, closed),),
        Applicability.UNSAFE,
    )


def _with_open_false(call: cst.Call, constructor: PoolConstructor) -> cst.Call:
    """``call`` with ``open=False``: an explicit ``open=True`` is turned, else the keyword is
    appended, keeping a trailing comma and the layout of a call written one argument a line."""
    false = cst.Name("False")
    if constructor.open_argument is not None:
        return call.with_changes(
            args=[arg.with_changes(value=false) if arg.value is constructor.open_argument else arg for arg in call.args]
        )
    keyword = cst.Arg(
        keyword=cst.Name("open"),
        value=false,
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )
    args = list(call.args)
    if not args:
        return call.with_changes(args=[keyword])
    last = args[-1]
    if isinstance(last.comma, cst.Comma):
        # A trailing comma: the new argument takes it, the old last one gets the separator
        # the others use (or, alone, one that starts a line like its own).
        if len(args) > 1 and isinstance(args[-2].comma, cst.Comma):
            separator = args[-2].comma
        elif isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
            separator = cst.Comma(whitespace_after=call.whitespace_before_args)
        else:
            separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        args[-1] = last.with_changes(comma=separator)
        keyword = keyword.with_changes(comma=last.comma)
    else:
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, keyword])
