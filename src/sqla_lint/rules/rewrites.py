"""The replacement nodes fixes are made of: open with ``with``, drop a redundant close,
guard a ``yield`` with ``finally``.

They never lose a comment. A removed statement's own-line comments, and the comments on
a removed ``try:`` or ``finally:`` line, move to the end of the enclosing block; the
comment trailing a rewritten line stays on the line that replaces it. New blocks indent
by the enclosing block's own unit, so tabs stay tabs.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from ..diagnostics import Applicability
from ..semantic import Creation, ModuleModel
from ..semantic.blocks import LocalTail, is_close_line, local_tail
from ..semantic.escapes import escape_from_block
from ..semantic.names import mentions
from .base import Replacement, Rewrite

Replacements = tuple[tuple[cst.CSTNode, Replacement], ...]


def with_rewrite(model: ModuleModel, creation: Creation, *, keep_await: bool) -> Rewrite | None:
    """The fix for a leaked local session or connection: open it with ``with`` (``async
    with``) around the rest of its block. None where that shape does not hold; unsafe
    where something read from the resource outlives the block, which it then closes.

    ``keep_await`` keeps ``await helper()`` as the item (a coroutine that returns a
    session); otherwise ``await engine.connect()`` becomes ``engine.connect()``, which
    ``async with`` enters itself.
    """
    tail = local_tail(model, creation.call)
    if tail is None:
        return None
    asynchronous = creation.kind.is_async
    function = creation.function
    if asynchronous and not (isinstance(function, cst.FunctionDef) and function.asynchronous is not None):
        return None
    awaited = isinstance(tail.binding.value, cst.Await)
    if awaited and not asynchronous:
        return None
    item = tail.binding.value if keep_await else creation.call
    opener = "async with" if asynchronous else "with"
    title = f"Open `{tail.name}` with `{opener} {creation.source} as {tail.name}:`"
    replacements = open_with(tail, item, asynchronous=asynchronous)
    escape = escape_from_block(model, tail, session=creation.kind.is_session)
    if escape is None:
        return Rewrite(title, replacements)
    return Rewrite(f"{title} (unsafe: {escape.reason(creation.kind.is_session)})", replacements, Applicability.UNSAFE)


def open_with(tail: LocalTail, item: cst.BaseExpression, *, asynchronous: bool) -> Replacements:
    """``name = item`` and the statements after it become ``with item as name:`` around
    them. A trailing ``name.close()`` goes, since the block now closes it: the last
    statement, or the one before a final ``return`` that does not mention ``name``."""
    following = list(tail.following)
    footer: list[cst.EmptyLine] = []
    close_at = len(following) - 1
    if close_at > 0 and _returns_without(following[-1], tail.name):
        close_at -= 1
    if close_at > 0 and is_close_line(following[close_at], tail.name):
        removed = following.pop(close_at)
        if close_at == len(following):
            footer = _comments(removed.leading_lines)
        else:
            following[close_at] = _with_leading(following[close_at], _comments(removed.leading_lines))
    line = tail.binding.line
    opened = cst.With(
        items=[cst.WithItem(item=item, asname=cst.AsName(name=cst.Name(tail.name)))],
        body=cst.IndentedBlock(body=following, header=line.trailing_whitespace, indent=tail.block.indent, footer=footer),
        asynchronous=cst.Asynchronous() if asynchronous else None,
        leading_lines=line.leading_lines,
    )
    index = next(i for i, statement in enumerate(tail.block.body) if statement is line)
    return ((tail.block, tail.block.with_changes(body=[*tail.block.body[:index], opened])),)


def without_trailing_close(suite: cst.BaseSuite) -> cst.BaseSuite:
    """``suite`` without the close call that is the last thing it runs (found by SQA404):
    the last statement, or the end of a trailing ``try``'s ``finally``. A ``finally`` left
    empty goes; a ``try`` left with neither ``except`` nor ``finally`` is unwrapped."""
    dropped, orphans = _drop_last(suite)
    if isinstance(dropped, cst.IndentedBlock) and not dropped.body:
        dropped = dropped.with_changes(body=[cst.SimpleStatementLine([cst.Pass()], leading_lines=orphans)])
    elif orphans and isinstance(dropped, cst.IndentedBlock):
        dropped = dropped.with_changes(footer=[*orphans, *dropped.footer])
    return dropped


def guard_with_finally(line: cst.SimpleStatementLine, block: cst.IndentedBlock, cleanup: Sequence[cst.BaseStatement]) -> Replacements:
    """``line`` becomes ``try: line`` / ``finally: cleanup``."""
    guarded = cst.Try(
        body=cst.IndentedBlock(body=[line.with_changes(leading_lines=())], indent=block.indent),
        finalbody=cst.Finally(body=cst.IndentedBlock(body=cleanup, indent=block.indent)),
        leading_lines=line.leading_lines,
    )
    return ((line, guarded),)


def extend_finally(statement: cst.Try, cleanup: Sequence[cst.BaseStatement]) -> Replacements:
    """``cleanup`` appended to the ``finally`` of ``statement``: after the cleanup already
    there, so a failing new step cannot skip it."""
    assert statement.finalbody is not None
    body = statement.finalbody.body
    if isinstance(body, cst.SimpleStatementSuite):
        body = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=body.body, trailing_whitespace=body.trailing_whitespace)])
    assert isinstance(body, cst.IndentedBlock)
    return ((statement.finalbody.body, body.with_changes(body=[*body.body, *cleanup])),)


def _drop_last(suite: cst.BaseSuite) -> tuple[cst.BaseSuite, list[cst.EmptyLine]]:
    """``suite`` without its trailing close, and the comments that removal orphaned."""
    if isinstance(suite, cst.SimpleStatementSuite):
        return suite.with_changes(body=_without_last_small(suite.body) or [cst.Pass()]), []
    assert isinstance(suite, cst.IndentedBlock)
    last = suite.body[-1]
    head = list(suite.body[:-1])
    if isinstance(last, cst.SimpleStatementLine):
        if len(last.body) > 1:
            return suite.with_changes(body=[*head, last.with_changes(body=_without_last_small(last.body))]), []
        return suite.with_changes(body=head), _comments(last.leading_lines)
    assert isinstance(last, cst.Try) and last.finalbody is not None
    finalbody, orphans = _drop_last(last.finalbody.body)
    if finalbody.body:
        kept = last.with_changes(finalbody=last.finalbody.with_changes(body=finalbody))
        return suite.with_changes(body=[*head, kept]), orphans
    orphans = [
        *_comments(last.finalbody.leading_lines),
        *_header_comment(last.finalbody.body),
        *orphans,
        *(finalbody.footer if isinstance(finalbody, cst.IndentedBlock) else ()),
    ]
    if last.handlers:
        return suite.with_changes(body=[*head, last.with_changes(finalbody=None)]), orphans
    unwrapped = _statements_of(last.body)
    unwrapped[0] = unwrapped[0].with_changes(
        leading_lines=[*last.leading_lines, *_header_comment(last.body), *unwrapped[0].leading_lines]
    )
    if isinstance(last.body, cst.IndentedBlock):
        orphans = [*last.body.footer, *orphans]
    return suite.with_changes(body=[*head, *unwrapped]), orphans


def _returns_without(statement: cst.BaseStatement, name: str) -> bool:
    """``return <value>`` where the value does not mention ``name``."""
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Return)
        and not mentions(statement.body[0], {name})
    )


def _with_leading(statement: cst.BaseStatement, lines: list[cst.EmptyLine]) -> cst.BaseStatement:
    return statement.with_changes(leading_lines=[*lines, *statement.leading_lines]) if lines else statement


def _statements_of(suite: cst.BaseSuite) -> list[cst.BaseStatement]:
    if isinstance(suite, cst.SimpleStatementSuite):
        return [cst.SimpleStatementLine(body=suite.body, trailing_whitespace=suite.trailing_whitespace)]
    assert isinstance(suite, cst.IndentedBlock)
    return list(suite.body)


def _without_last_small(body: Sequence[cst.BaseSmallStatement]) -> list[cst.BaseSmallStatement]:
    """``a; b; close()`` -> ``a; b`` (the semicolon before the dropped statement goes too)."""
    kept = list(body[:-1])
    if kept:
        kept[-1] = kept[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
    return kept


def _comments(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """Own-line comments (with the blank lines among them); nothing if there is no comment."""
    return list(lines) if any(line.comment is not None for line in lines) else []


def _header_comment(suite: cst.BaseSuite) -> list[cst.EmptyLine]:
    """The comment after a ``try:`` / ``finally:`` colon, as a line of its own. (A one-line
    suite's comment belongs to the statement on that line and travels with it.)"""
    if isinstance(suite, cst.IndentedBlock) and suite.header.comment is not None:
        return [cst.EmptyLine(comment=suite.header.comment)]
    return []
