"""Objects of the project's classes and what their methods return: the class a receiver is an
instance of, read only from what binds it (a constructor call, an annotation, a declared
attribute, an imported instance), never from a method's name. Part of
:class:`.model.ModuleModel` (a mixin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import libcst as cst

from .symbols import (
    Kind,
)
from .syntax import (
    all_params,
    assigned_names,
    is_none_literal,
)
from .tree import FunctionNode

if TYPE_CHECKING:
    pass


_MAX_INSTANCE_DEPTH = 8  # bases of bases, and cycles among them


class InstanceJudgements:
    """The classes of receivers and what their methods give (mixed into :class:`.model.ModuleModel`)."""

    def method_result_kind(self, call: cst.Call) -> Kind | None:
        """The kind ``receiver.method()`` returns when the receiver is an instance of a
        project class whose ``method`` returns that kind: ``backend.get_write_engine()``,
        ``factory.create_session()``. Only what a binding says the receiver is counts; a
        method's name alone never does."""
        func = call.func
        if not isinstance(func, cst.Attribute):
            return None
        owner = self.instance_class(func.value)
        method = self._method_run(owner, func.attr.value) if owner is not None else None
        if owner is not None and method is None and self.index is not None:
            return self._overriding_methods_kind(owner, func.attr.value)
        if isinstance(method, cst.FunctionDef):
            if self.is_cached(method):
                return None
            borrowed = self.borrowed_session_param(method)
            if borrowed is not None and self.passes(call, borrowed):
                return None
            return self.return_kind(method)
        if method is None or self.index is None:
            return None
        summary = self.index.function(method)
        if summary is None or (summary.borrowed_param and self.passes(call, summary.borrowed_param)):
            return None
        return self.index.call_kind(method)

    def _overriding_methods_kind(self, owner: str, name: str) -> Kind | None:
        """A method the receiver's class does not have but the project's subclasses of it
        define (``backend._get_write_engine()`` on the ``DatastoreBackend`` chosen at run
        time): the kind they all return, when every one returns the same known kind."""
        assert self.index is not None
        kinds = {self.index.call_kind(method) for method in self.index.overriding_methods(owner, name)}
        return kinds.pop() if len(kinds) == 1 else None

    def _method_run(self, owner: str, name: str, depth: int = 0) -> cst.FunctionDef | str | None:
        """The method ``owner.name`` runs, the class's own or its bases' in order: this
        module's definition, or the qualified name of one the project index knows."""
        module, _, local = owner.rpartition(".")
        if module != self.module_name or local not in self.classes:
            return self.index.method(owner, name) if self.index is not None else None
        class_def = self.classes[local]
        own = self.methods.get(class_def, {}).get(name)
        if own is not None or depth > _MAX_INSTANCE_DEPTH:
            return own
        for base in class_def.bases:
            base_class = self._class_named(base.value)
            found = self._method_run(base_class, name, depth + 1) if base_class is not None else None
            if found is not None:
                return found
        return None

    def instance_class(self, receiver: cst.BaseExpression) -> str | None:
        """The qualified name of the class ``receiver`` is an instance of, when its bindings
        agree on one: a name bound to ``Cls(...)`` (in a function or at module level), a
        parameter annotated ``Cls`` (or ``Cls | None``, ``Optional[Cls]``, ``"Cls"``),
        ``self.attr`` that the class declares or binds to one of these, or a project name
        the index knows is bound to ``Cls(...)`` in its module. Remembered per binding."""
        if isinstance(receiver, cst.Name):
            function = self.tree.function_of(receiver)
            while function is not None:
                if receiver.value in self._instance_bindings(function):
                    return self._remembered_class((function, receiver.value), self._bound_class)
                function = self.tree.enclosing_function.get(function)
            if receiver.value in self.module_bindings:
                return self._remembered_class((None, receiver.value), self._bound_class)
        elif isinstance(receiver, cst.Attribute):
            if isinstance(receiver.value, cst.Name) and receiver.value.value in ("self", "cls"):
                owner = self.class_for_receiver(receiver.value, receiver)
                return self._remembered_class((owner, receiver.attr.value), self._attribute_class) if owner is not None else None
        else:
            return None
        qualified = self.qualified_name(receiver)
        return self.index.instance_class(qualified) if qualified is not None and self.index is not None else None

    def _remembered_class(self, key: Any, compute: Callable[[Any], str | None]) -> str | None:
        """Cached per binding; None while the binding is being computed, which ends cycles
        such as ``df = df.merge(...)``."""
        if key in self._class_cache:
            return self._class_cache[key]
        if key in self._class_in_progress:
            return None
        self._class_in_progress.add(key)
        try:
            found = compute(key)
        finally:
            self._class_in_progress.discard(key)
        self._class_cache[key] = found
        return found

    def _instance_bindings(self, function: FunctionNode) -> dict[str, list[cst.BaseExpression] | cst.Param]:
        """What a function binds each name to: its parameter, or the values assigned."""
        known = self._bindings_cache.get(function)
        if known is None:
            known = {}
            for assignment in self.tree.assignments_in.get(function, ()):
                for name, value in assigned_names(assignment):
                    values = known.setdefault(name, [])
                    if isinstance(values, list):
                        values.append(value)
            if isinstance(function, cst.FunctionDef):
                known.update((param.name.value, param) for param in all_params(function.params))
            self._bindings_cache[function] = known
        return known

    def _bound_class(self, key: tuple[FunctionNode | None, str]) -> str | None:
        function, name = key
        bound = self.module_bindings[name] if function is None else self._instance_bindings(function)[name]
        if isinstance(bound, cst.Param):
            return self.annotated_class(bound.annotation.annotation) if bound.annotation is not None else None
        return self._agreed_class(bound)

    def _attribute_class(self, key: tuple[cst.ClassDef, str]) -> str | None:
        owner, attribute = key
        declared = self._declared_attribute_class(owner, attribute)
        if declared is not None:
            return declared
        return self._agreed_class(self.class_attributes.get(owner, {}).get(attribute, []))

    def _declared_attribute_class(self, owner: cst.ClassDef, attribute: str) -> str | None:
        """The class an annotation declares for an attribute: ``backend: Backend`` in the
        class body (a dataclass field) or ``self.backend: Backend = ...`` in a method."""
        declarations = [
            assignment.annotation.annotation
            for assignment in self.tree.class_body_assignments.get(owner, ())
            if isinstance(assignment, cst.AnnAssign) and isinstance(assignment.target, cst.Name) and assignment.target.value == attribute
        ]
        declarations += [
            assignment.annotation.annotation
            for method in self.methods.get(owner, {}).values()
            for assignment in self.tree.assignments_in.get(method, ())
            if isinstance(assignment, cst.AnnAssign)
            and isinstance(assignment.target, cst.Attribute)
            and isinstance(assignment.target.value, cst.Name)
            and assignment.target.value.value in ("self", "cls")
            and assignment.target.attr.value == attribute
        ]
        found = {self.annotated_class(annotation) for annotation in declarations}
        return found.pop() if len(found) == 1 else None

    def _agreed_class(self, values: list[cst.BaseExpression]) -> str | None:
        """The one class every value (``None`` aside) is an instance of, or None."""
        found: set[str | None] = set()
        for value in values:
            if isinstance(value, cst.Call):
                found.add(self._remembered_class(value, self._call_instance_class))
            elif isinstance(value, (cst.Name, cst.Attribute)) and not is_none_literal(value):
                found.add(self.instance_class(value))
            elif not is_none_literal(value):
                return None
            if len(found) > 1 or None in found:
                return None
        return found.pop() if len(found) == 1 else None

    def _call_instance_class(self, call: cst.Call) -> str | None:
        """The class of what ``call`` gives: the class it constructs, or the class of what
        the function or method it runs returns (``DatastoreBackend.get_active_backend()``)."""
        function = self.function_called(call)
        func = call.func
        if function is None and isinstance(func, cst.Attribute):
            owner = self.instance_class(func.value) or self._class_named(func.value)
            method = self._method_run(owner, func.attr.value) if owner is not None else None
            if isinstance(method, str):
                return self.index.returned_instance(method) if self.index is not None else None
            function = method
        if function is not None:
            return None if self.is_cached(function) else self._remembered_class(function, self._returned_class)
        qualified = self.qualified_name(func)
        if qualified is not None and self.index is not None and self.index.function(qualified) is not None:
            return self.index.returned_instance(qualified)
        return self._class_named(func)

    def _returned_class(self, function: cst.FunctionDef) -> str | None:
        return self._agreed_class(self.returned_values(function))

    def annotated_class(self, annotation: cst.BaseExpression) -> str | None:
        """The class an annotation names: ``Cls``, ``Cls | None``, ``Optional[Cls]``, ``"Cls"``."""
        if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
            if is_none_literal(annotation.right):
                return self.annotated_class(annotation.left)
            return self.annotated_class(annotation.right) if is_none_literal(annotation.left) else None
        if isinstance(annotation, cst.Subscript):
            if self.qualified_name(annotation.value) != "typing.Optional" or len(annotation.slice) != 1:
                return None
            element = annotation.slice[0].slice
            return self.annotated_class(element.value) if isinstance(element, cst.Index) else None
        if isinstance(annotation, cst.SimpleString):
            text = annotation.evaluated_value
            try:
                return self.annotated_class(cst.parse_expression(text)) if isinstance(text, str) else None
            except cst.ParserSyntaxError:
                return None
        return self._class_named(annotation)

    def _class_named(self, node: cst.BaseExpression) -> str | None:
        """The qualified name ``node`` gives a class it may name: this module's class, or
        what an import resolves it to (the index then says whether the project defines it)."""
        if isinstance(node, cst.Name) and node.value in self.classes:
            return f"{self.module_name}.{node.value}"
        return self.qualified_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None

