"""Shapes a fix can rewrite in place.

A leak fix moves code: it opens a resource with ``with`` around the statements that use
it, or wraps a lifespan's ``yield`` in ``try``/``finally``. That is only possible in some
shapes. The resource is bound by a plain assignment alone on its line. Every use comes
after that line, in the same block. The resource itself does not outlive the block: it
is not aliased, captured by a closure, or handed to an object or task that keeps it.
Whether something *read* from it outlives the block, which makes the fix change what the
program does, is ``escapes.py``'s question. Each rule that offers a fix asks here; none
re-derives the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libcst as cst

from .model import ModuleModel
from .names import dotted_name, last_segment
from .symbols import DEFERRING_CALLS
from .tree import FunctionNode, TreeIndex

# Nodes a value passes through unchanged on its way into a call's arguments.
_PASS_THROUGH = (
    cst.Await,
    cst.Arg,
    cst.Element,
    cst.StarredElement,
    cst.Tuple,
    cst.List,
    cst.Set,
    cst.DictElement,
    cst.StarredDictElement,
    cst.Dict,
)


@dataclass(frozen=True)
class Binding:
    """``target = value`` or ``target: T = value``, alone on its line, binding a resource."""

    line: cst.SimpleStatementLine
    target: cst.BaseAssignTargetExpression
    value: cst.BaseExpression  # the creating call, or ``await`` of it


@dataclass(frozen=True)
class LocalTail:
    """A local whose every use lies in the statements after its binding, in the same block."""

    binding: Binding
    name: str
    block: cst.IndentedBlock
    following: tuple[cst.BaseStatement, ...]


def binding_of(model: ModuleModel, call: cst.Call) -> Binding | None:
    """Where the resource ``call`` creates is stored, when that is a one-line assignment."""
    tree = model.tree
    value: cst.CSTNode = call
    parent = tree.parent.get(call)
    if isinstance(parent, cst.Await):
        value, parent = parent, tree.parent.get(parent)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and parent.value is value:
        target = parent.targets[0].target
    elif isinstance(parent, cst.AnnAssign) and parent.value is value:
        target = parent.target
    else:
        return None
    line = tree.parent.get(parent)
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    assert isinstance(value, cst.BaseExpression)
    return Binding(line, target, value)


def following_statements(model: ModuleModel, call: cst.Call) -> LocalTail | None:
    """The local of a function that ``call``'s resource is bound to on a line of its own,
    and the statements after that line in its block, whatever they do with it."""
    binding = binding_of(model, call)
    if binding is None or not isinstance(binding.target, cst.Name):
        return None
    tree = model.tree
    function = tree.enclosing_function.get(call)
    if not isinstance(function, cst.FunctionDef):
        return None
    name = binding.target.value
    if name in tree.globals_declared.get(function, ()) or name in tree.nonlocals_declared.get(function, ()):
        return None
    block = tree.parent.get(binding.line)
    following = _statements_after(tree, binding)
    if not isinstance(block, cst.IndentedBlock) or following is None:
        return None
    return LocalTail(binding, name, block, following)


def local_tail(model: ModuleModel, call: cst.Call) -> LocalTail | None:
    """The local that ``call``'s resource is bound to, if it can be opened with ``with``
    around the rest of its block: every use follows it there and the resource itself
    does not escape."""
    found = following_statements(model, call)
    if found is None:
        return None
    tree = model.tree
    function = tree.enclosing_function.get(call)
    assert function is not None
    binding, name, block, following = found.binding, found.name, found.block, found.following
    references = [ref for ref in tree.names_in.get(function, {}).get(name, ()) if ref is not binding.target]
    if not following or not all(_within(tree, following, ref) for ref in references):
        return None
    if any(tree.names_in.get(nested, {}).get(name) for nested in tree.nested_functions.get(function, ())):
        return None
    if not all(_plain_use(tree, ref) for ref in references):
        return None
    return LocalTail(binding, name, block, following)


def yield_after(model: ModuleModel, binding: Binding, function: FunctionNode) -> cst.SimpleStatementLine | None:
    """The line holding ``function``'s only ``yield``, when it can run only after ``binding``:
    later in the binding's block, or nested in a later statement of it."""
    tree = model.tree
    yields = tree.yields_in.get(function, ())
    if len(yields) != 1:
        return None
    line = tree.parent.get(tree.statement_of(yields[0]))
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    if not isinstance(tree.parent.get(line), cst.IndentedBlock):
        return None
    return line if _within(tree, _statements_after(tree, binding) or (), line) else None


def guarding_try(model: ModuleModel, line: cst.SimpleStatementLine, binding: Binding) -> cst.Try | None:
    """The ``try`` with a ``finally`` whose body holds ``line`` directly, when that ``try``
    runs only after ``binding``, so its ``finally`` never meets an unbound name."""
    tree = model.tree
    body = tree.parent.get(line)
    statement = tree.parent.get(body) if body is not None else None
    if not (isinstance(statement, cst.Try) and statement.body is body and statement.finalbody is not None):
        return None
    return statement if _within(tree, _statements_after(tree, binding) or (), statement) else None


def close_call(statement: cst.CSTNode, name: str) -> cst.BaseExpression | None:
    """The ``name.close()`` or ``await name.close()`` expression that ``statement`` is, if any."""
    if not isinstance(statement, cst.Expr):
        return None
    expression = statement.value
    call = expression.expression if isinstance(expression, cst.Await) else expression
    if (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == "close"
        and dotted_name(call.func.value) == name
        and not call.args
    ):
        return expression
    return None


def is_close_line(statement: cst.BaseStatement, name: str) -> bool:
    """Whether ``statement`` is a line holding nothing but ``name.close()``."""
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and close_call(statement.body[0], name) is not None
    )


# -- helpers ---------------------------------------------------------------------------


def _statements_after(tree: TreeIndex, binding: Binding) -> tuple[cst.BaseStatement, ...] | None:
    """The statements after the binding's line in its indented block: the code that runs
    only once the resource is bound. None outside an indented block."""
    block = tree.parent.get(binding.line)
    if not isinstance(block, cst.IndentedBlock):
        return None
    index = next(i for i, statement in enumerate(block.body) if statement is binding.line)
    return tuple(block.body[index + 1 :])


def _within(tree: TreeIndex, statements: Iterable[cst.CSTNode], node: cst.CSTNode) -> bool:
    return any(tree.contains(statement, node) for statement in statements)


def _plain_use(tree: TreeIndex, ref: cst.Name) -> bool:
    """A use that ends with the statement: a method call, a test, a yield, or an argument
    to a call that does not keep it (a constructor or a scheduler may)."""
    if any(isinstance(ancestor, cst.GeneratorExp) for ancestor in tree.ancestors(ref)):
        return False  # evaluated lazily, perhaps after the block
    parent = tree.parent.get(ref)
    if isinstance(parent, cst.Attribute) and parent.value is ref:
        return True
    if isinstance(parent, (cst.Comparison, cst.ComparisonTarget, cst.Yield, cst.UnaryOperation)):
        return True
    if isinstance(parent, (cst.If, cst.While)) and parent.test is ref:
        return True
    node: cst.CSTNode = ref
    handed = False
    while True:
        parent = tree.parent.get(node)
        if isinstance(parent, _PASS_THROUGH):
            node = parent
            continue
        if isinstance(parent, cst.Call) and node is not parent.func:
            if retains_arguments(parent):
                return False
            handed = True
            node = parent
            continue
        return handed


def retains_arguments(call: cst.Call) -> bool:
    """Constructors (``Repo(s)``, ``Thread(args=(s,))``) and schedulers keep what they get."""
    leaf = last_segment(dotted_name(call.func) or "")
    return leaf in DEFERRING_CALLS or leaf.lstrip("_")[:1].isupper()
