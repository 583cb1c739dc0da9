"""Small readings of libcst syntax the model and its analyses share: a function's parameters,
what an assignment binds, a literal ``None`` or string, how a call is labelled."""

from __future__ import annotations

import libcst as cst

from .names import dotted_name


def not_in_guard(test: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """``(key, cache)`` of ``if key not in cache:``."""
    if (
        isinstance(test, cst.Comparison)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.NotIn)
    ):
        return test.left, test.comparisons[0].comparator
    return None


def all_params(params: cst.Parameters) -> list[cst.Param]:
    result = [*params.posonly_params, *params.params, *params.kwonly_params]
    if isinstance(params.star_arg, cst.Param):
        result.append(params.star_arg)
    if params.star_kwarg is not None:
        result.append(params.star_kwarg)
    return result


def assigned_targets(
    assignment: cst.Assign | cst.AnnAssign | cst.NamedExpr,
) -> list[tuple[cst.BaseExpression, cst.BaseExpression]]:
    if isinstance(assignment, cst.Assign):
        return [(target.target, assignment.value) for target in assignment.targets]
    if assignment.value is None:
        return []
    return [(assignment.target, assignment.value)]


def assigned_names(
    assignment: cst.Assign | cst.AnnAssign | cst.NamedExpr,
) -> list[tuple[str, cst.BaseExpression]]:
    return [
        (target.value, value)
        for target, value in assigned_targets(assignment)
        if isinstance(target, cst.Name)
    ]


def unpacked_position(target: cst.BaseExpression, name: str) -> tuple[int, int] | None:
    """Where ``name`` sits in a tuple target (``_, Session = ...``), and the tuple's size."""
    if not isinstance(target, (cst.Tuple, cst.List)):
        return None
    elements = target.elements
    if any(isinstance(element, cst.StarredElement) for element in elements):
        return None
    for position, element in enumerate(elements):
        if isinstance(element.value, cst.Name) and element.value.value == name:
            return position, len(elements)
    return None


def empty_mapping(value: cst.BaseExpression) -> bool:
    """``{}`` or ``dict()``: a memo that starts empty."""
    if isinstance(value, cst.Dict):
        return not value.elements
    return isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "dict" and not value.args


def binds(call: cst.Call) -> bool:
    """Whether a ``Session(...)`` / ``sessionmaker(...)`` call may be given a bind: a
    positional argument, ``bind=`` / ``binds=``, or ``*args`` / ``**kwargs``."""
    return any(arg.keyword is None or arg.star or arg.keyword.value in ("bind", "binds") for arg in call.args)


def bind_argument(call: cst.Call) -> cst.BaseExpression | None:
    """The ``bind`` of ``Session(bind=...)`` / ``sessionmaker(bind=...)``, or its first positional."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "bind":
            return arg.value
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    return None


def is_none_literal(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def call_label(call: cst.Call) -> str:
    """``SessionLocal()`` or ``Session(engine)``; long argument lists shorten to ``(...)``."""
    written = dotted_name(call.func)
    if not written:
        return "a call"
    arguments = cst.Module(body=[]).code_for_node(call)[len(cst.Module(body=[]).code_for_node(call.func)) :]
    if len(arguments) <= 30 and "\n" not in arguments:
        return written + arguments.strip()
    return f"{written}(...)"

