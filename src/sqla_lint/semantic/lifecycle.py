"""When an application's event loop ends, and what is disposed before it does (SQA505).

An ``AsyncEngine`` must be disposed while its loop still runs: afterwards the garbage
collector drops its connections (``RuntimeError: Event loop is closed``) and PostgreSQL
keeps their backends ``idle``. Whether anything disposes it is a project-wide question
(the index asks :func:`disposed_receivers` of every module); whether the loop has an end
the code controls is too (:func:`has_shutdown_point`).
"""

from __future__ import annotations

import libcst as cst

from .model import ModuleModel

_SHUTDOWN_KEYWORDS = frozenset({"lifespan", "lifespan_context", "on_shutdown", "on_cleanup"})
_SHUTDOWN_REGISTRIES = frozenset({"on_shutdown", "on_cleanup", "cleanup_ctx"})


def disposed_receivers(model: ModuleModel, module: str) -> list[str]:
    """Qualified receivers of every ``.dispose`` (called, or handed to a hook). Disposing
    ``engine.sync_engine`` disposes ``engine`` (airflow's ``dispose_orm`` does that)."""
    return [model.qualified_receiver(receiver, module, node) for receiver, node in _dispose_references(model)]


def _dispose_references(model: ModuleModel) -> list[tuple[str, cst.Attribute]]:
    return [(receiver.removesuffix(".sync_engine"), node) for receiver, node in model.attribute_references("dispose")]


def asyncio_run_coroutines(model: ModuleModel) -> set[cst.FunctionDef]:
    """Module functions whose coroutine ``asyncio.run`` (or ``asyncio.Runner().run``) runs:
    ``asyncio.run(main())``. Each runs once, and its loop closes when it returns."""
    found: set[cst.FunctionDef] = set()
    for call in asyncio_run_calls(model):
        argument = call.args[0].value if call.args else None
        if isinstance(argument, cst.Call) and isinstance(argument.func, cst.Name):
            function = model.module_functions.get(argument.func.value)
            if function is not None and function.asynchronous is not None:
                found.add(function)
    return found


def asyncio_run_calls(model: ModuleModel) -> list[cst.Call]:
    return [call for call in model.tree.calls if (model.qualified_name(call.func) or "") in ("asyncio.run", "asyncio.runners.run")]


def has_shutdown_point(model: ModuleModel) -> bool:
    """A lifespan, a shutdown or cleanup hook, or an ``asyncio.run`` entry point: a place
    where the application's loop ends and an engine could be disposed first."""
    hooks = model.hooks
    if hooks.lifespans or hooks.shutdown or asyncio_run_calls(model):
        return True
    for call in model.tree.calls:
        if any(arg.keyword is not None and arg.keyword.value in _SHUTDOWN_KEYWORDS for arg in call.args):
            return True
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "on_event" and call.args:
            argument = call.args[0].value
            if isinstance(argument, cst.SimpleString) and argument.evaluated_value == "shutdown":
                return True
    return any(model.attribute_references(registry) for registry in _SHUTDOWN_REGISTRIES)


def disposed_in_module(model: ModuleModel, holder: str) -> bool:
    """``holder.dispose`` anywhere in this module; an attribute holder (``app.state.engine``)
    also through another spelling of its owner (``request.app.state.engine``)."""
    tail = ".".join(holder.split(".")[-2:]) if "." in holder else None
    for receiver, _ in _dispose_references(model):
        if receiver == holder or (tail is not None and (receiver == tail or receiver.endswith(f".{tail}"))):
            return True
    return False


__all__ = [
    "asyncio_run_calls",
    "asyncio_run_coroutines",
    "disposed_in_module",
    "disposed_receivers",
    "has_shutdown_point",
]
