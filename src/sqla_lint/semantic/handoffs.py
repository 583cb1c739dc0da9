"""Where a created engine or session goes instead of being given back, when that is no leak:
a memo that keeps it, project code that keeps or disposes what it is handed, a thin factory
that hands it back inside what it returns, a cache keyed per URL. Part of
:class:`.model.ModuleModel` (a mixin)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import libcst as cst

from .names import dotted_name
from .symbols import (
    CONNECTION_METHODS,
    SAME_CONNECTION_METHODS,
    Kind,
)
from .syntax import (
    assigned_names,
    assigned_targets,
    not_in_guard,
)

if TYPE_CHECKING:
    from .creations import Creation


# What holds the engine it is built with: a session factory or registry (``bind=engine``).
_ENGINE_BINDING_KINDS = frozenset({Kind.SESSION_FACTORY, Kind.ASYNC_SESSION_FACTORY, Kind.SCOPED_REGISTRY})
_INSPECTORS = frozenset({"sqlalchemy.inspect", "sqlalchemy.inspection.inspect"})


class HandoffJudgements:
    """Hand-offs that keep or give back a resource (mixed into :class:`.model.ModuleModel`)."""

    def made_by_a_memo(self, creation: Creation) -> bool:
        """Whether the helper that made ``creation`` keeps what it returns (a dict or global
        memo): the caller then shares it and has nothing of its own to dispose."""
        if creation.via_helper is None or self.index is None:
            return False
        function = self.function_called(creation.call)
        qualified = (
            f"{self.module_name}.{self.function_name(function)}" if function is not None else self.qualified_name(creation.call.func)
        )
        facts = self.index.function(qualified) if qualified is not None else None
        return facts is not None and facts.keeps_result

    def handed_to_a_keeper(self, creation: Creation, holder: str | None) -> bool:
        """Whether the function hands what it made (as ``holder``) to project code that
        keeps it for good: an object that keeps it and disposes it (see
        ``ProjectIndex.disposes_what_it_keeps``), or a function that stores it for the
        process (``init_model(engine)``, see ``ProjectIndex.keeps_for_the_process``). A
        class picked from a registry (``ENGINES[dialect](engine=engine)``) counts when
        every class the registry holds does."""
        if self.index is None or holder is None or creation.function is None:
            return False
        for call in self.tree.calls:
            if self.tree.enclosing_function.get(call) is not creation.function:
                continue
            callees = self.callee_candidates(call)
            if not callees:
                continue
            position = 0
            for arg in call.args:
                if arg.star:
                    break
                if isinstance(arg.value, cst.Name) and arg.value.value == holder:
                    keyword = arg.keyword.value if arg.keyword is not None else None
                    at = None if keyword else position
                    if all(
                        self.index.disposes_what_it_keeps(callee, keyword, at) or self.index.keeps_for_the_process(callee, keyword, at)
                        for callee in callees
                    ):
                        return True
                if arg.keyword is None:
                    position += 1
        return False

    def hands_back(self, creation: Creation, holder: str | None) -> bool:
        """Whether the function returns what it made inside what it returns: a session
        factory or session bound to it (``return sessionmaker(bind=engine)``), a connection
        of it, or an ``inspect()`` of either (``return inspect(engine.connect())``), directly
        or through a local it returns. A thin factory: the engine lives on with its result,
        and whether that is per call is its callers' question (``per_call_reason``)."""
        function = creation.function
        if holder is None or not isinstance(function, cst.FunctionDef):
            return False
        locals_: dict[str, list[cst.BaseExpression]] = defaultdict(list)
        for assignment in self.tree.assignments_in.get(function, ()):
            for name, value in assigned_names(assignment):
                locals_[name].append(value)
        for returned in self.tree.returns_in.get(function, ()):
            value = returned.value
            values = locals_.get(value.value, []) if isinstance(value, cst.Name) else [value] if value is not None else []
            if any(self._carries(candidate, holder) for candidate in values):
                return True
        return False

    def _carries(self, expression: cst.BaseExpression, holder: str, depth: int = 0) -> bool:
        """Whether ``expression`` is a SQLAlchemy object that holds the engine ``holder``."""
        if depth > 4 or not isinstance(expression, cst.Call):
            return False
        func = expression.func
        if isinstance(func, cst.Attribute) and func.attr.value in CONNECTION_METHODS | SAME_CONNECTION_METHODS:
            receiver = func.value
            return (isinstance(receiver, cst.Name) and receiver.value == holder) or self._carries(receiver, holder, depth + 1)
        kind = self.kind_of(expression)
        binds = kind is not None and (kind.is_session or kind in _ENGINE_BINDING_KINDS)
        if not binds and (self.qualified_name(func) or "") not in _INSPECTORS:
            return False
        return any(
            (isinstance(arg.value, cst.Name) and arg.value.value == holder) or self._carries(arg.value, holder, depth + 1)
            for arg in expression.args
        )

    def memoised_per_key(self, creation: Creation, holder: str | None) -> bool:
        """Whether the engine is made under ``if key not in cache:`` and kept there, itself
        or through a connection of it (``cache[key] = engine.connect()``, or a local bound
        so): one engine per key for as long as ``cache`` lives, as a connection manager
        keeps one connection per URL."""
        if holder is None or creation.function is None:
            return False
        carried = {holder}
        for assignment in self.tree.assignments_in.get(creation.function, ()):
            for name, value in assigned_names(assignment):
                if self._carries_connection(value, holder):
                    carried.add(name)
        for ancestor in self.tree.ancestors(creation.call):
            if ancestor is creation.function:
                return False
            if not isinstance(ancestor, cst.If) or not self.tree.contains(ancestor.body, creation.call):
                continue
            guard = not_in_guard(ancestor.test)
            if guard is None:
                continue
            key, cache = (self.source_of(part) for part in guard)
            for assignment in self.tree.assignments_in.get(creation.function, ()):
                if not self.tree.contains(ancestor.body, assignment):
                    continue
                for target, value in assigned_targets(assignment):
                    if (
                        isinstance(target, cst.Subscript)
                        and self.source_of(target.value) == cache
                        and len(target.slice) == 1
                        and self.source_of(target.slice[0].slice) == key
                        and ((isinstance(value, cst.Name) and value.value in carried) or self._carries_connection(value, holder))
                    ):
                        return True
        return False

    def _carries_connection(self, value: cst.BaseExpression, holder: str) -> bool:
        """``engine.connect()`` / ``engine.begin()`` of the engine ``holder``."""
        return (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value in CONNECTION_METHODS
            and isinstance(value.func.value, cst.Name)
            and value.func.value.value == holder
        )

    def callee_candidates(self, call: cst.Call) -> list[str]:
        """The qualified project names a call may run: what its callee names, or, for a
        local bound to a lookup in a module-level registry (``cls = ENGINES[name]``), every
        class or function that registry holds (``dict.fromkeys(names, A)``, ``{k: A}``,
        ``ENGINES[k] = B``). Empty where any of them is unknown."""
        func = call.func
        callee = self.qualified_name(func)
        if callee is None and isinstance(func, cst.Name) and (func.value in self.classes or func.value in self.module_functions):
            callee = f"{self.module_name}.{func.value}"
        if callee is not None:
            return [callee]
        if not isinstance(func, cst.Name):
            return []
        function = self.tree.function_of(func)
        values = [
            value
            for assignment in self.tree.assignments_in.get(function, ())
            for assigned, value in assigned_names(assignment)
            if assigned == func.value
        ]
        if len(values) != 1 or not isinstance(values[0], cst.Subscript) or not isinstance(values[0].value, cst.Name):
            return []
        registry = values[0].value.value
        if any(registry == name for a in self.tree.assignments_in.get(function, ()) for name, _ in assigned_names(a)):
            return []  # a local of the same name
        return self._registry_members(registry)

    def _registry_members(self, registry: str) -> list[str]:
        members: list[cst.BaseExpression] = []
        for value in self.module_bindings.get(registry, ()):
            if isinstance(value, cst.Dict):
                members += [element.value for element in value.elements if isinstance(element, cst.DictElement)]
            elif (
                isinstance(value, cst.Call)
                and (dotted_name(value.func) or "") in ("dict.fromkeys", "builtins.dict.fromkeys")
                and len(value.args) == 2
            ):
                members.append(value.args[1].value)
            else:
                return []
        for assignment in self.tree.module_assignments:
            for target, value in assigned_targets(assignment):
                if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name) and target.value.value == registry:
                    members.append(value)
        names = []
        for member in members:
            qualified = self.qualified_name(member)
            if qualified is None and isinstance(member, cst.Name) and (member.value in self.classes or member.value in self.module_functions):
                qualified = f"{self.module_name}.{member.value}"
            if qualified is None:
                return []
            names.append(qualified)
        return list(dict.fromkeys(names))

