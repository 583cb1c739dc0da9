"""Which uses of one object run at the same time, in asyncio code.

Two shapes make operations overlap: the awaitables of one ``asyncio.gather(...)`` run
concurrently, and a task (``asyncio.create_task``, ``TaskGroup.create_task``, a loop's
``create_task``, anyio / trio ``start_soon``) starts at once and runs until something
awaits it. An object that two of those receive is used by both at the same time; an
object that is only ever awaited on, one operation after another, is not. Calls are resolved through imports by what they are
(:mod:`.symbols`), and what an object *is* comes from the model's ``kind_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import libcst as cst

from .model import ModuleModel
from .names import dotted_name
from .symbols import (
    GATHER_CALLS,
    TASK_SOURCES,
    TASK_SPAWNING_CALLS,
    TASK_SPAWNING_METHODS,
    Kind,
)
from .syntax import assigned_names
from .tree import FunctionNode

_COMPREHENSIONS = (cst.GeneratorExp, cst.ListComp, cst.SetComp)


@dataclass(frozen=True)
class ConcurrentUse:
    """One object used by operations that run at once, reported at ``site``."""

    site: cst.Call  # the gather, or the task-spawning call that starts the overlap
    holder: str  # the object as written: ``session``, ``self.session``
    kind: Kind
    how: str  # how the operations overlap, for messages


def concurrent_uses(model: ModuleModel, wanted: Callable[[Kind], bool]) -> Iterator[ConcurrentUse]:
    """Every object of a ``wanted`` kind that operations running at once both use."""
    spawns_by_function: dict[FunctionNode | None, list[_Spawn]] = {}
    for call in model.tree.calls:
        qualified = model.qualified_name(call.func)
        if qualified in GATHER_CALLS:
            yield from _shared_by_gather(model, call, wanted)
        elif qualified in TASK_SPAWNING_CALLS or _spawns_on_task_source(model, call):
            # The coroutine (`create_task(f(s))`), or a function and its arguments
            # (`start_soon(f, s)`): what the task will use.
            used: dict[str, Kind] = {}
            for argument in call.args:
                if argument.keyword is None:
                    used.update(_objects_used(model, argument.value, wanted))
            function = model.tree.function_of(call)
            spawns_by_function.setdefault(function, []).append(_Spawn(call, used, _bound_name(model, call)))
    for function, spawns in spawns_by_function.items():
        yield from _shared_by_tasks(model, function, spawns)


@dataclass(frozen=True)
class _Spawn:
    call: cst.Call
    used: dict[str, Kind]
    task: str | None  # the name the task is bound to, if any


def _shared_by_gather(model: ModuleModel, call: cst.Call, wanted: Callable[[Kind], bool]) -> Iterator[ConcurrentUse]:
    counts: dict[str, int] = {}
    kinds: dict[str, Kind] = {}
    per_item: set[str] = set()
    for argument in call.args:
        if argument.keyword is not None:
            continue  # return_exceptions=
        if argument.star == "*":
            # `*(fetch(s, i) for i in ids)`, or a list built so: one awaitable per item,
            # all using the object.
            for item in _items_of(model, argument.value):
                used = _objects_used(model, item, wanted)
                per_item.update(used)
                kinds.update(used)
            continue
        used = _objects_used(model, argument.value, wanted)
        kinds.update(used)
        for holder in used:
            counts[holder] = counts.get(holder, 0) + 1
    written = model.source_of(call.func)
    for holder, kind in kinds.items():
        if holder in per_item:
            yield ConcurrentUse(call, holder, kind, f"every awaitable of `{written}(*...)`, which run concurrently")
        elif counts.get(holder, 0) >= 2:
            yield ConcurrentUse(call, holder, kind, f"{counts[holder]} awaitables of one `{written}(...)`, which run concurrently")


def _items_of(model: ModuleModel, expression: cst.BaseExpression) -> list[cst.BaseExpression]:
    """What each item of a starred ``gather`` argument is, where one expression makes them
    all: a comprehension's element, the comprehension a local list was assigned, or what
    a loop appends to it (``tasks.append(fetch(s, i))``)."""
    if isinstance(expression, _COMPREHENSIONS):
        return [expression.elt]
    if not isinstance(expression, cst.Name):
        return []
    function = model.tree.function_of(expression)
    items: list[cst.BaseExpression] = []
    for assignment in model.tree.assignments_in.get(function, ()) if function is not None else ():
        for assigned, value in assigned_names(assignment):
            if assigned == expression.value and isinstance(value, _COMPREHENSIONS):
                items.append(value.elt)
    for reference in model.tree.names_in[function].get(expression.value, ()):
        attribute = model.tree.parent.get(reference)
        call = model.tree.parent.get(attribute) if attribute is not None else None
        if (
            isinstance(attribute, cst.Attribute)
            and attribute.value is reference
            and attribute.attr.value == "append"
            and isinstance(call, cst.Call)
            and call.func is attribute
            and call.args
            and model.tree.in_loop(call, function)
        ):
            items.append(call.args[0].value)
    return items


def _shared_by_tasks(model: ModuleModel, function: FunctionNode | None, spawns: list[_Spawn]) -> Iterator[ConcurrentUse]:
    holders: dict[str, Kind] = {}
    for spawn in spawns:
        holders.update(spawn.used)
    for holder, kind in holders.items():
        sites = [spawn for spawn in spawns if holder in spawn.used]
        reported = False
        for spawn in sites:
            if model.tree.in_loop(spawn.call, function) and not _awaited_in_same_iteration(model, spawn, function):
                written = model.source_of(spawn.call.func)
                yield ConcurrentUse(spawn.call, holder, kind, f"a task started in a loop (`{written}(...)`), so several run at once")
                reported = True
                break
        if reported:
            continue
        for earlier, later in zip(sites, sites[1:]):
            if not _awaited_between(model, earlier, later.call, function) and not _exclusive(model, earlier.call, later.call):
                written = model.source_of(later.call.func)
                yield ConcurrentUse(later.call, holder, kind, f"two tasks that run at once (`{written}(...)` while an earlier task still runs)")
                break


def _objects_used(model: ModuleModel, expression: cst.CSTNode, wanted: Callable[[Kind], bool]) -> dict[str, Kind]:
    """Names and attribute chains in ``expression`` whose value is of a ``wanted`` kind."""
    found: dict[str, Kind] = {}
    stack: list[cst.CSTNode] = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Name, cst.Attribute)) and dotted_name(node) is not None:
            kind = model.kind_of(node)
            if kind is not None and wanted(kind):
                found.setdefault(model.source_of(node), kind)
                continue
            if isinstance(node, cst.Attribute):
                stack.append(node.value)  # never the attribute's own name
            continue
        if isinstance(node, cst.Arg):
            stack.append(node.value)  # never a keyword's name
            continue
        if isinstance(node, (cst.Lambda, cst.FunctionDef)):
            continue
        stack.extend(node.children)
    return found


def _spawns_on_task_source(model: ModuleModel, call: cst.Call) -> bool:
    """``tg.create_task(...)`` on a ``TaskGroup`` or an event loop bound in the function."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value in TASK_SPAWNING_METHODS and isinstance(func.value, cst.Name)):
        return False
    name = func.value.value
    function = model.tree.function_of(call)
    while function is not None:
        for statement in model.tree.withs_in.get(function, ()):
            for item in statement.items:
                if (
                    item.asname is not None
                    and isinstance(item.asname.name, cst.Name)
                    and item.asname.name.value == name
                    and _is_task_source(model, item.item)
                ):
                    return True
        for assignment in model.tree.assignments_in.get(function, ()):
            for assigned, value in assigned_names(assignment):
                if assigned == name and _is_task_source(model, value):
                    return True
        function = model.tree.enclosing_function.get(function)
    return False


def _is_task_source(model: ModuleModel, node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Call) and model.qualified_name(node.func) in TASK_SOURCES


def _bound_name(model: ModuleModel, call: cst.Call) -> str | None:
    parent = model.tree.parent.get(call)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
        return parent.targets[0].target.value
    if isinstance(parent, (cst.AnnAssign, cst.NamedExpr)) and isinstance(parent.target, cst.Name):
        return parent.target.value
    return None


def _task_awaits(model: ModuleModel, spawn: _Spawn, function: FunctionNode | None) -> list[cst.Name]:
    """References to the spawned task inside an ``await`` (``await t``, ``await wait_for(t, 5)``)."""
    if spawn.task is None:
        return []
    awaited = []
    for reference in model.tree.names_in[function].get(spawn.task, ()):
        for ancestor in model.tree.ancestors(reference):
            if isinstance(ancestor, cst.Await):
                awaited.append(reference)
                break
            if isinstance(ancestor, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                break
    return awaited


def _awaited_between(model: ModuleModel, earlier: _Spawn, later: cst.Call, function: FunctionNode | None) -> bool:
    start, end = model.tree.order(earlier.call), model.tree.order(later)
    return any(start < model.tree.order(reference) < end for reference in _task_awaits(model, earlier, function))


def _awaited_in_same_iteration(model: ModuleModel, spawn: _Spawn, function: FunctionNode | None) -> bool:
    """A task started in a loop and awaited later in the same loop body: one at a time."""
    loop = _innermost_loop(model, spawn.call, function)
    if loop is None:
        return False
    start = model.tree.order(spawn.call)
    return any(
        model.tree.order(reference) > start and model.tree.contains(loop.body, reference)
        for reference in _task_awaits(model, spawn, function)
    )


def _exclusive(model: ModuleModel, first: cst.CSTNode, second: cst.CSTNode) -> bool:
    """Whether the two nodes sit in different branches of one ``if``, so one run reaches
    only one of them."""
    enclosing_first = set(model.tree.ancestors(first))
    for ancestor in model.tree.ancestors(second):
        if ancestor not in enclosing_first:
            continue
        if not (isinstance(ancestor, cst.If) and ancestor.orelse is not None):
            return False
        branches = (ancestor.body, ancestor.orelse)
        first_branch = next((i for i, branch in enumerate(branches) if model.tree.contains(branch, first)), None)
        second_branch = next((i for i, branch in enumerate(branches) if model.tree.contains(branch, second)), None)
        return None not in (first_branch, second_branch) and first_branch != second_branch
    return False


def _innermost_loop(model: ModuleModel, node: cst.CSTNode, function: FunctionNode | None) -> cst.For | cst.While | None:
    for ancestor in model.tree.ancestors(node):
        if ancestor is function:
            return None
        if isinstance(ancestor, (cst.For, cst.While)):
            return ancestor
    return None
