"""Where and how often a module's code runs: request handlers and FastAPI dependencies,
lifespans and startup hooks, entry points, code run per iteration of a loop, and whether an
exception there ends the process. Part of :class:`.model.ModuleModel` (a mixin: the model's
tree, index and names are its own); the project-wide answers come from the index."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from .names import dotted_name, last_segment
from .symbols import (
    MAIN_FUNCTION_NAMES,
    ROUTE_DECORATOR_METHODS,
)
from .syntax import (
    assigned_names,
    assigned_targets,
    string_value,
)
from .tree import FunctionNode

if TYPE_CHECKING:
    pass


@dataclass
class _Hooks:
    lifespans: set[FunctionNode] = field(default_factory=set)
    startup: set[FunctionNode] = field(default_factory=set)
    shutdown: set[FunctionNode] = field(default_factory=set)


class ExecutionJudgements:
    """When and how often a function runs (mixed into :class:`.model.ModuleModel`)."""

    @cached_property
    def request_handlers(self) -> set[FunctionNode]:
        """Route handlers (``@app.get``, ``@bp.route``...) and FastAPI dependencies."""
        handlers: set[FunctionNode] = set()
        for function in self.tree.function_defs:
            for decorator in function.decorators:
                expression = decorator.decorator
                if isinstance(expression, cst.Call):
                    expression = expression.func
                if (
                    isinstance(expression, cst.Attribute)
                    and expression.attr.value in ROUTE_DECORATOR_METHODS
                    and self.qualified_name(expression) is None
                ):
                    handlers.add(function)
        for call in self.tree.calls:
            qualified = self.qualified_name(call.func) or ""
            if last_segment(qualified) in ("Depends", "Security") and call.args:
                target = self._function_for_reference(call.args[0].value)
                if target is not None:
                    handlers.add(target)
        return handlers

    @cached_property
    def hooks(self) -> _Hooks:
        """Lifespans, startup and shutdown hooks of FastAPI/Starlette/aiohttp/Quart apps."""
        hooks = _Hooks()
        for function in self.tree.function_defs:
            for decorator in function.decorators:
                expression = decorator.decorator
                event = None
                if isinstance(expression, cst.Call) and isinstance(expression.func, cst.Attribute):
                    if expression.func.attr.value == "on_event" and expression.args:
                        event = string_value(expression.args[0].value)
                elif isinstance(expression, cst.Attribute):
                    event = {"before_serving": "startup", "after_serving": "shutdown"}.get(
                        expression.attr.value
                    )
                if event == "startup":
                    hooks.startup.add(function)
                elif event == "shutdown":
                    hooks.shutdown.add(function)
        for call in self.tree.calls:
            self._hooks_from_call(call, hooks)
        for function in self.tree.function_defs:
            for assignment in self.tree.assignments_in.get(function, ()):
                self._hooks_from_assignment(assignment, hooks)
        for assignment in self.tree.module_assignments:
            self._hooks_from_assignment(assignment, hooks)
        return hooks

    def _hooks_from_call(self, call: cst.Call, hooks: _Hooks) -> None:
        for arg in call.args:
            if arg.keyword is None:
                continue
            keyword = arg.keyword.value
            if keyword in ("lifespan", "lifespan_context"):
                target = self._function_for_reference(arg.value)
                if target is not None:
                    hooks.lifespans.add(target)
            elif keyword in ("on_startup", "on_shutdown") and isinstance(arg.value, (cst.List, cst.Tuple)):
                bucket = hooks.startup if keyword == "on_startup" else hooks.shutdown
                for element in arg.value.elements:
                    target = self._function_for_reference(element.value)
                    if target is not None:
                        bucket.add(target)
        func = call.func
        if not isinstance(func, cst.Attribute) or not call.args:
            return
        if func.attr.value == "add_event_handler" and len(call.args) >= 2:
            event = string_value(call.args[0].value)
            target = self._function_for_reference(call.args[1].value)
            if target is not None and event in ("startup", "shutdown"):
                (hooks.startup if event == "startup" else hooks.shutdown).add(target)
        elif func.attr.value in ("append", "insert") and isinstance(func.value, cst.Attribute):
            registry = func.value.attr.value
            target = self._function_for_reference(call.args[-1].value)
            if target is None:
                return
            if registry == "on_startup":
                hooks.startup.add(target)
            elif registry in ("on_shutdown", "on_cleanup"):
                hooks.shutdown.add(target)
            elif registry == "cleanup_ctx":
                hooks.lifespans.add(target)

    def _hooks_from_assignment(self, assignment: cst.CSTNode, hooks: _Hooks) -> None:
        if not isinstance(assignment, (cst.Assign, cst.AnnAssign)):
            return
        for target, value in assigned_targets(assignment):
            written = dotted_name(target) or ""
            if last_segment(written) == "lifespan_context":
                function = self._function_for_reference(value)
                if function is not None:
                    hooks.lifespans.add(function)

    def _function_for_reference(self, node: cst.BaseExpression) -> cst.FunctionDef | None:
        if isinstance(node, cst.Name):
            return self.module_functions.get(node.value)
        if isinstance(node, cst.Attribute):
            owner = self.class_for_receiver(node.value, node)
            if owner is not None:
                return self.methods.get(owner, {}).get(node.attr.value)
        return None

    def is_startup_code(self, function: FunctionNode) -> bool:
        hooks = self.hooks
        return function in hooks.lifespans or function in hooks.startup

    def is_once_per_process(self, function: FunctionNode) -> bool:
        """Entry points and hooks that run once: ``main()``, lifespans, cached functions,
        and functions the user declared ``called-once``."""
        if self.is_startup_code(function) or self.is_cached(function):
            return True
        if not isinstance(function, cst.FunctionDef):
            return False
        if self.index is not None and self.tree.enclosing_function.get(function) is None:
            facts = self.index.function(f"{self.module_name}.{self.function_name(function)}")
            if facts is not None and facts.is_once:
                return True  # the module facts' judgement (a CLI command, an entry point...)
        if function.name.value in MAIN_FUNCTION_NAMES:
            return True
        declared = self.factories.called_once
        if declared:
            local = self.function_name(function)
            return bool({local, function.name.value, f"{self.module_name}.{local}"} & declared)
        return False

    def failure_ends_the_process(self, function: FunctionNode | None) -> bool:
        """Whether an exception that escapes this code ends the process: module-level code,
        ``main()``, a CLI command, a lifespan or startup hook, or a function only module
        level calls (alembic's ``run_migrations_online()``). A resource that leaks only on
        such an exception goes with the process. Not a cached or memoised function (the
        next call runs it again), nor one declared ``called-once`` (nothing says what its
        failure does)."""
        if function is None:
            return True
        if self.is_startup_code(function):
            return True
        if not isinstance(function, cst.FunctionDef) or self.is_cached(function):
            return False
        if function.name.value in MAIN_FUNCTION_NAMES:
            return True
        if self.index is None or self.tree.enclosing_function.get(function) is not None:
            return False
        qualified = f"{self.module_name}.{self.function_name(function)}"
        facts = self.index.function(qualified)
        if facts is None or facts.keeps_result or facts.is_cached:
            return False
        local = self.function_name(function)
        declared = bool({local, function.name.value, qualified} & self.factories.called_once)
        if facts.is_once and not declared:
            return True  # an entry point or a CLI command (the module facts' judgement)
        sites = self.index.callers(qualified)
        return bool(sites) and all(site.caller is None and not site.per_iteration for site in sites)

    def may_run_more_than_once(self, function: FunctionNode) -> bool:
        """Whether nothing shows ``function`` runs only once: it has no caller the project
        can see, or one that is not once-per-process code (the index's judgement for a
        module-level function or method; this module's own calls for a nested one)."""
        if self.index is not None and isinstance(function, cst.FunctionDef) and self.tree.enclosing_function.get(function) is None:
            qualified = f"{self.module_name}.{self.function_name(function)}"
            if self.index.callers(qualified):
                return not self.index.called_only_once(qualified)
        sites = self.call_sites.get(function, []) if isinstance(function, cst.FunctionDef) else []
        return not sites or any(
            (caller := self.tree.enclosing_function.get(site)) is not None and not self.is_once_per_process(caller)
            for site in sites
        )

    def per_call_reason(self, function: FunctionNode, _seen: frozenset[FunctionNode] = frozenset()) -> str | None:
        """Why ``function`` runs once per request or iteration, or None if it may run once.

        A request handler runs per request; a function called from a loop, or from
        another per-call function, runs per call. Module level, ``main()``, lifespans and
        cached functions run once.
        """
        if self.is_once_per_process(function):
            return None
        if function in self.request_handlers:
            return f"request handler `{self.function_name(function)}`"
        if function in _seen or not isinstance(function, cst.FunctionDef):
            return None
        if self.index is not None and self.tree.enclosing_function.get(function) is None:
            return self.index.per_call_reason(f"{self.module_name}.{self.function_name(function)}")
        for site in self.call_sites.get(function, ()):
            caller = self.tree.enclosing_function.get(site)
            if caller is None or self.is_once_per_process(caller):
                continue
            if self.runs_per_iteration(site, caller):
                return f"a loop in `{self.function_name(caller)}`"
            reason = self.per_call_reason(caller, _seen | {function})
            if reason is not None:
                return reason
        return None

    def runs_per_iteration(self, node: cst.CSTNode, function: FunctionNode) -> bool:
        """Whether ``node`` runs on every iteration of a loop in ``function``.

        A retry loop (``while True: engine = make(); ...; return engine``) leaves on the
        first success, so what it makes is made once, not per iteration.
        """
        if not self.tree.in_loop(node, function):
            return False
        loop = next((a for a in self.tree.ancestors(node) if isinstance(a, (cst.For, cst.While))), None)
        statement = self.tree.statement_of(node)
        if loop is None or not isinstance(statement, (cst.Assign, cst.AnnAssign)):
            return True
        names = {name for name, _ in assigned_names(statement)}
        return not any(
            isinstance(returned.value, cst.Name) and returned.value.value in names and self.tree.contains(loop, returned)
            for returned in self.tree.returns_in.get(function, ())
        )

    @cached_property
    def call_sites(self) -> dict[cst.FunctionDef, list[cst.Call]]:
        sites: dict[cst.FunctionDef, list[cst.Call]] = defaultdict(list)
        for call in self.tree.calls:
            function = self.function_called(call)
            if function is not None:
                sites[function].append(call)
        return sites

