"""What kind of value is this? The one decision, over either syntax tree.

The module facts (:mod:`.facts`, CPython's tree, for the project index) and the module model
(:mod:`.model`, libcst, for the rules) ask the same question of their own tree. The answer
is decided here once: configured factories, what a qualified callee returns, connections
from an engine, sessions from a factory, names through their assignments, ``with`` targets
and annotations, attributes through their class, functions through what they return.

A subclass adapts one tree. It answers structural questions only (what shape an expression
has, its parts, what a name resolves to through the imports, what an assignment or a
``with`` binds), plus the hooks below where the two consumers really differ: the
model asks the project index about other modules' functions and names; the facts must stay
symbolic (they depend on the module's own text, and are cached by its hash), so their hooks
answer None.

Nodes are the adapter's own node objects, compared by identity; ``Node`` and ``Function``
below are only names for them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from .project import FactoryConfig
from .symbols import (
    CLOSING_WRAPPERS,
    CONNECTION_FOR_ENGINE,
    CONNECTION_METHODS,
    CONNECTIONLESS_EXECUTE,
    CONTEXT_MANAGER_DECORATORS,
    SESSION_FOR_FACTORY,
    Kind,
    annotation_kind,
    call_result_kind,
    is_cache_decorator,
)

Node = Any  # an expression or statement node of the adapter's tree
Function = Any  # a function definition or lambda of the adapter's tree
ClassNode = Any

# What ``shape`` tells apart.
AWAIT, CALL, NAME, ATTRIBUTE = "await", "call", "name", "attribute"

_ENGINE_KINDS = (Kind.ENGINE, Kind.ASYNC_ENGINE)


class KindResolver:
    """The lifecycle kind of an expression and of what a function returns, memoised per node.

    Subclasses set ``factories``, ``classes``, ``module_functions`` and ``methods`` (class
    -> name -> method), then call ``_start_resolving`` with their tree's assignments, and
    implement the structural methods and hooks below.
    """

    factories: FactoryConfig
    module_bindings: dict[str, list[Node]]
    class_attributes: dict[ClassNode, dict[str, list[Node]]]
    classes: dict[str, ClassNode]
    module_functions: dict[str, Function]
    methods: dict[ClassNode, dict[str, Function]]

    # -- structure: each tree answers these ----------------------------------------------

    # Node type -> its shape: ``(AWAIT, inner)``, ``(CALL, callee)``, ``(NAME, identifier)``
    # or ``(ATTRIBUTE, receiver, attribute)``; every other expression has none.
    SHAPES: ClassVar[dict[type, Callable[[Any], tuple[Any, ...]]]] = {}

    def shape(self, node: Node | None) -> tuple[Any, ...] | None:
        reader = self.SHAPES.get(type(node))
        return reader(node) if reader is not None else None

    def qualified_name(self, node: Node) -> str | None:
        """What a Name/Attribute chain refers to through the module's imports."""
        raise NotImplementedError

    def written_name(self, node: Node) -> str | None:
        """``a.b.c`` as written, a call as ``f()``."""
        raise NotImplementedError

    def arguments(self, call: Node) -> list[tuple[str | None, Node]]:
        """A call's arguments in order, each labelled None (positional), ``"*"``, ``"**"`` or its keyword."""
        raise NotImplementedError

    def is_none(self, node: Node) -> bool:
        raise NotImplementedError

    def either_operands(self, node: Node) -> tuple[Node, Node] | None:
        """For ``a or b``: (``a``, ``b``); for ``a or b or c``: (the whole, ``c``)."""
        raise NotImplementedError

    def annotation_members(self, annotation: Node) -> list[Node] | None:
        """The annotations inside a union, a subscript or a string annotation (in that
        order of preference), or None when ``annotation`` is a name to resolve."""
        raise NotImplementedError

    def enclosing_function(self, node: Node) -> Function | None:
        raise NotImplementedError

    def outer_function(self, function: Function) -> Function | None:
        """The function that defines ``function``, if it is nested."""
        raise NotImplementedError

    def class_of_function(self, function: Function) -> ClassNode | None:
        raise NotImplementedError

    def is_def(self, function: Function) -> bool:
        """A ``def`` (not a lambda)."""
        raise NotImplementedError

    def parameter_annotation(self, function: Function, name: str) -> Node | None:
        """The annotation of the first parameter called ``name`` that has one."""
        raise NotImplementedError

    def assigned(self, statement: Node) -> list[tuple[Node, Node]]:
        """``(target, value)`` of ``a = b = v``, ``a: T = v`` and ``(a := v)``."""
        raise NotImplementedError

    def with_targets(self, function: Function) -> Iterable[tuple[str, Node, bool]]:
        """``(name, context expression, async)`` for each ``with ... as name`` in ``function``."""
        raise NotImplementedError

    def return_statement_values(self, function: Function) -> Iterable[Node]:
        """The values of ``function``'s ``return`` statements that have one."""
        raise NotImplementedError

    def return_annotation(self, function: Function) -> Node | None:
        raise NotImplementedError

    def defaulted_parameters(self, function: Function) -> list[tuple[str, int]]:
        """``(name, position)`` of each parameter with a default, position -1 when keyword-only."""
        raise NotImplementedError

    def decorator_expressions(self, function: Function) -> list[Node]:
        """Each decorator, a call read as its callee (``@cache()`` as ``cache``)."""
        raise NotImplementedError

    # -- hooks: where the facts and the model differ -------------------------------------

    def imported_kind(self, node: Node) -> Kind | None:
        """The kind of a name another module binds (facts: None, they stay symbolic)."""
        return None

    def imported_call_kind(self, qualified: str) -> Kind | None:
        """What another module's function returns (facts: None, they stay symbolic)."""
        return None

    def imported_borrowed_param(self, qualified: str) -> tuple[str, int] | None:
        """The parameter another module's function hands back when given (facts: None)."""
        return None

    def method_result_kind(self, call: Node) -> Kind | None:
        """What a method of an object of a known class returns (``backend.get_write_engine()``):
        the model follows the receiver's class, in this module or through the index; the
        facts record instances symbolically instead (None)."""
        return None

    def unpacked_kind(self, function: Function, name: str) -> Kind | None:
        """The kind of a name a tuple assignment binds (``_, Session = self._open()``): the
        model follows the tuple's makers; the facts do not (None)."""
        return None

    # -- what names are bound to -------------------------------------------------------

    def _start_resolving(
        self,
        module_assignments: Iterable[Node],
        globals_declared: dict[Function, set[str]],
        assignments_in: dict[Function, list[Node]],
        class_body_assignments: dict[ClassNode, list[Node]],
    ) -> None:
        """``module_bindings``: module-level names, including those assigned under ``global``
        in functions. ``class_attributes``: class-body attributes and ``self.x = ...`` /
        ``cls.x = ...`` in the class's methods. Needs ``methods``; ``assignments_in`` maps
        each function to the assignments of its own body."""
        self._kinds: dict[Node, Kind | None] = {}
        self._in_progress: set[Node] = set()
        # Asked of a function at each of its calls, returns or names: once per function.
        self._borrowed: dict[Function, tuple[str, int] | None] = {}
        self._cached: dict[Function, bool] = {}
        self._local_bindings: dict[Function, tuple[dict[str, list[Node]], dict[str, list[tuple[Node, bool]]]]] = {}
        self._assignments_in = assignments_in
        bindings: dict[str, list[Node]] = defaultdict(list)
        for assignment in module_assignments:
            for name, value in self._assigned_names(assignment):
                bindings[name].append(value)
        for function, declared in globals_declared.items():
            for assignment in assignments_in.get(function, ()):
                for name, value in self._assigned_names(assignment):
                    if name in declared:
                        bindings[name].append(value)
        attributes: dict[ClassNode, dict[str, list[Node]]] = defaultdict(lambda: defaultdict(list))
        for class_def, assignments in class_body_assignments.items():
            for assignment in assignments:
                for name, value in self._assigned_names(assignment):
                    attributes[class_def][name].append(value)
        for class_def, methods in self.methods.items():
            for method in methods.values():
                for assignment in assignments_in.get(method, ()):
                    for target, value in self.assigned(assignment):
                        target_shape = self.shape(target)
                        if target_shape is not None and target_shape[0] is ATTRIBUTE:
                            receiver = self.shape(target_shape[1])
                            if receiver is not None and receiver[0] is NAME and receiver[1] in ("self", "cls"):
                                attributes[class_def][target_shape[2]].append(value)
        self.module_bindings = bindings
        self.class_attributes = attributes

    def _assigned_names(self, statement: Node) -> list[tuple[str, Node]]:
        names = []
        for target, value in self.assigned(statement):
            shape = self.shape(target)
            if shape is not None and shape[0] is NAME:
                names.append((shape[1], value))
        return names

    # -- what is this value? -------------------------------------------------------------

    def kind_of(self, node: Node) -> Kind | None:
        """The lifecycle kind of the value an expression evaluates to, if known."""
        return self._memoized(node, self._compute_kind)

    def _memoized(self, node: Node, compute: Callable[[Any], Kind | None]) -> Kind | None:
        """Cached per node; None while the node is being computed, which ends cycles such as
        ``x = f()`` / ``def f(): return x``."""
        kinds = self._kinds
        if node in kinds:
            return kinds[node]
        if node in self._in_progress:
            return None
        self._in_progress.add(node)
        try:
            kind = compute(node)
        finally:
            self._in_progress.discard(node)
        kinds[node] = kind
        return kind

    def _compute_kind(self, node: Node) -> Kind | None:
        shape = self.shape(node)
        if shape is None:
            return None
        what = shape[0]
        if what is CALL:
            return self._call_kind(node, shape[1])
        if what is NAME:
            return self._name_kind(node, shape[1])
        if what is ATTRIBUTE:
            return self._attribute_kind(node, shape[1], shape[2])
        return self.kind_of(shape[1])

    def _call_kind(self, call: Node, func: Node) -> Kind | None:
        configured = self._configured_factory_kind(func)
        if configured is not None:
            return configured
        qualified = self.qualified_name(func)
        if qualified is not None:
            kind = call_result_kind(qualified)
            if kind is None:
                borrowed = self.imported_borrowed_param(qualified)
                if borrowed is not None and self.passes(call, borrowed):
                    return None  # the caller passed its own session and gets it back
                kind = self.imported_call_kind(qualified)
            if kind is not None:
                return kind
        callee = self.shape(func)
        if callee is not None and callee[0] is ATTRIBUTE:
            receiver, method = callee[1], callee[2]
            if method in CONNECTION_METHODS:
                receiver_kind = self.kind_of(receiver)
                if receiver_kind in CONNECTION_FOR_ENGINE:
                    return CONNECTION_FOR_ENGINE[receiver_kind]
            # An AsyncEngine has no execute(): only a sync engine executes without a connection.
            elif method == CONNECTIONLESS_EXECUTE and self.kind_of(receiver) is Kind.ENGINE:
                return Kind.ENGINE_RESULT
            elif method == "connection":
                receiver_kind = self.kind_of(receiver)
                if receiver_kind is not None and receiver_kind.is_session:
                    return Kind.BORROWED_CONNECTION  # the session's own connection, which it gives back
        callee_kind = self.kind_of(func)
        if callee_kind in SESSION_FOR_FACTORY:
            return SESSION_FOR_FACTORY[callee_kind]
        function = self._function_called(call, func, callee)
        if function is not None and not self.is_cached(function):
            # A cached helper hands every caller the same object: callers do not own it.
            borrowed = self.borrowed_session_param(function)
            if borrowed is not None and self.passes(call, borrowed):
                return None  # the caller passed its own session and gets it back
            return self.return_kind(function)
        return self.method_result_kind(call)

    def _configured_factory_kind(self, func: Node) -> Kind | None:
        factories = self.factories
        if not (factories.session_factories or factories.engine_factories):
            return None
        written = self.written_name(func)
        qualified = self.qualified_name(func)
        for names, kind in ((factories.session_factories, Kind.SESSION), (factories.engine_factories, Kind.ENGINE)):
            if written in names or qualified in names:
                return kind
        return None

    def _name_kind(self, node: Node, identifier: str) -> Kind | None:
        function = self.enclosing_function(node)
        while function is not None:
            local = self._local_binding_kind(function, identifier)
            if local is not None:
                return local
            function = self.outer_function(function)
        for value in self.module_bindings.get(identifier, ()):
            kind = self.kind_of(value)
            if kind is not None:
                return kind
        return self.imported_kind(node)

    def _local_binding_kind(self, function: Function, name: str) -> Kind | None:
        annotation = self.parameter_annotation(function, name)
        if annotation is not None:
            return self.annotation_kind(annotation)
        assigned, entered = self._bindings_in(function)
        for value in assigned.get(name, ()):
            kind = self.kind_of(value)
            if kind is not None:
                return kind
        unpacked = self.unpacked_kind(function, name)
        if unpacked is not None:
            return unpacked
        for context, is_async in entered.get(name, ()):
            if self.opens_session(context):
                return Kind.ASYNC_SESSION if is_async else Kind.SESSION
            kind = self.kind_of(context)
            if kind is not None and kind.is_connection:
                return Kind.BORROWED_CONNECTION
            entered_engine = self._engine_a_context_manager_gives(context)
            if entered_engine is not None:
                return entered_engine
        return None

    def _engine_a_context_manager_gives(self, context: Node) -> Kind | None:
        """``with self.get_sqla_engine() as engine:``: a ``@contextmanager`` of this module
        (a function, or a method of the receiver's class) annotated to give an engine
        (``-> Engine``, ``-> Iterator[Engine]``). The block's engine is lent, not made here:
        a connection it opens is this function's to close."""
        shape = self.shape(context)
        if shape is None or shape[0] is not CALL:
            return None
        function = self.function_called(context)
        if function is None or not self.decorator_names(function) & CONTEXT_MANAGER_DECORATORS:
            return None
        return self.annotated_engine(function)

    def _bindings_in(self, function: Function) -> tuple[dict[str, list[Node]], dict[str, list[tuple[Node, bool]]]]:
        """What ``function``'s own body assigns to each name, and the ``with`` items it
        binds with ``as``, in source order: read once per function, not once per name."""
        try:
            return self._local_bindings[function]
        except KeyError:
            pass
        assigned: dict[str, list[Node]] = defaultdict(list)
        for statement in self._assignments_in.get(function, ()):
            for name, value in self._assigned_names(statement):
                assigned[name].append(value)
        entered: dict[str, list[tuple[Node, bool]]] = defaultdict(list)
        for name, context, is_async in self.with_targets(function):
            entered[name].append((context, is_async))
        bindings = self._local_bindings[function] = (assigned, entered)
        return bindings

    def _attribute_kind(self, node: Node, receiver: Node, attribute: str) -> Kind | None:
        owner = self.class_for_receiver(receiver, node)
        if owner is not None:
            for value in self.class_attributes.get(owner, {}).get(attribute, ()):
                kind = self.kind_of(value)
                if kind is not None:
                    return kind
        return self.imported_kind(node)

    def annotation_kind(self, annotation: Node) -> Kind | None:
        """``Engine``, ``Optional[Engine]``, ``Engine | None`` and ``"Engine"`` all mean an engine."""
        members = self.annotation_members(annotation)
        if members is None:
            qualified = self.qualified_name(annotation)
            return annotation_kind(qualified) if qualified else None
        for member in members:
            kind = self.annotation_kind(member)
            if kind is not None:
                return kind
        return None

    def class_for_receiver(self, receiver: Node, site: Node) -> ClassNode | None:
        """The class that ``self``/``cls``/``ClassName`` refers to at ``site``."""
        shape = self.shape(receiver)
        if shape is None or shape[0] is not NAME:
            return None
        if shape[1] in ("self", "cls"):
            function = self.enclosing_function(site)
            while function is not None:
                owner = self.class_of_function(function)
                if owner is not None:
                    return owner
                function = self.outer_function(function)
            return None
        return self.classes.get(shape[1])

    def opens_session(self, expression: Node) -> bool:
        """Whether a ``with`` item yields a session it will close: ``Session()``,
        ``Factory.begin()``, ``closing(Session())``."""
        kind = self.kind_of(expression)
        if kind is not None and kind.is_session:
            return True
        shape = self.shape(expression)
        if shape is None or shape[0] is not CALL:
            return False
        func = shape[1]
        callee = self.shape(func)
        if callee is not None and callee[0] is ATTRIBUTE and callee[2] == "begin":
            return self.kind_of(callee[1]) in SESSION_FOR_FACTORY
        if self.qualified_name(func) in CLOSING_WRAPPERS:
            # ``closing(thing)``: its one parameter, however it is passed.
            wrapped = next((value for label, value in self.arguments(expression) if label in (None, "thing")), None)
            return wrapped is not None and self.opens_session(wrapped)
        return False

    def passes(self, call: Node, parameter: tuple[str, int]) -> bool:
        """Whether ``call`` supplies ``parameter``: by keyword, or positionally at its index.
        ``*args`` / ``**kwargs`` may supply it, unless the keyword is written."""
        name, position = parameter
        arguments = self.arguments(call)
        for label, value in arguments:
            if label == name:
                return not self.is_none(value)
        positional = 0
        for label, value in arguments:
            if label in ("*", "**"):
                return True
            if label is None:
                if positional == position:
                    return not self.is_none(value)
                positional += 1
        return False

    # -- functions -----------------------------------------------------------------------

    def function_called(self, call: Node) -> Function | None:
        """The function of this module that a call invokes: ``f()``, ``self.f()``, ``Cls.f()``."""
        shape = self.shape(call)
        if shape is None or shape[0] is not CALL:
            return None
        return self._function_called(call, shape[1], self.shape(shape[1]))

    def _function_called(self, call: Node, func: Node, callee: tuple[Any, ...] | None) -> Function | None:
        if callee is None:
            return None
        if callee[0] is NAME:
            return None if self.qualified_name(func) is not None else self.module_functions.get(callee[1])
        if callee[0] is ATTRIBUTE:
            owner = self.class_for_receiver(callee[1], call)
            if owner is not None:
                return self.methods.get(owner, {}).get(callee[2])
        return None

    def return_kind(self, function: Function) -> Kind | None:
        """The kind a function returns, when every ``return`` of a value agrees on it."""
        return self._memoized(function, self._compute_return_kind)

    def _compute_return_kind(self, function: Function) -> Kind | None:
        if self.decorator_names(function) & CONTEXT_MANAGER_DECORATORS:
            return None
        kind: Kind | None = None
        for value in self.returned_values(function):
            returned = self.kind_of(value)
            if returned is None:
                return None
            kind = returned
        if kind is None:
            annotated = self.annotated_engine(function)
            if annotated is not None:
                return annotated
        return kind

    def annotated_engine(self, function: Function) -> Kind | None:
        """The engine kind ``function`` is annotated to return, if any."""
        annotation = self.return_annotation(function)
        if annotation is None:
            return None
        annotated = self.annotation_kind(annotation)
        return annotated if annotated in _ENGINE_KINDS else None

    def returned_values(self, function: Function) -> list[Node]:
        """What ``function`` can return, leaving out ``None`` and a borrowed parameter."""
        borrowed = self.borrowed_session_param(function)
        values = []
        for value in self.return_statement_values(function):
            if self.is_none(value):
                continue
            operands = self.either_operands(value)
            if operands is not None:
                value = operands[1]
            if borrowed is not None and self.shape(value) == (NAME, borrowed[0]) and self.kind_of(value) is None:
                continue
            values.append(value)
        return values

    def borrowed_session_param(self, function: Function) -> tuple[str, int] | None:
        """A defaulted parameter the function hands back when given (``session=None``).

        ``def get_session(session=None): return session or Session()`` makes a new session
        only when the caller passes none; a caller passing its own gets it back.
        """
        try:
            return self._borrowed[function]
        except KeyError:
            borrowed = self._borrowed[function] = self._borrowed_session_param(function)
            return borrowed

    def _borrowed_session_param(self, function: Function) -> tuple[str, int] | None:
        returned: set[str] = set()
        for value in self.return_statement_values(function):
            operands = self.either_operands(value)
            if operands is not None:
                value = operands[0]
            shape = self.shape(value)
            if shape is not None and shape[0] is NAME:
                returned.add(shape[1])
        if not returned:
            return None
        for name, index in self.defaulted_parameters(function):
            if name in returned:
                if index > 0 and self.class_of_function(function) is not None:
                    index -= 1  # callers do not pass ``self``
                return (name, index)
        return None

    def decorator_names(self, function: Function) -> set[str]:
        """Qualified (or, failing that, written) names of a function's decorators."""
        names: set[str] = set()
        for expression in self.decorator_expressions(function):
            name = self.qualified_name(expression) or self.written_name(expression)
            if name:
                names.add(name)
        return names

    def is_cached(self, function: Function) -> bool:
        """A memoised function (``functools.cache``, ``cached_property``...): every caller
        shares what it returns."""
        try:
            return self._cached[function]
        except KeyError:
            cached = self._cached[function] = self._is_cached(function)
            return cached

    def _is_cached(self, function: Function) -> bool:
        if not self.is_def(function):
            return False
        for expression in self.decorator_expressions(function):
            qualified = self.qualified_name(expression)
            if qualified and is_cache_decorator(qualified):
                return True
        return any(name.endswith("cached_property") for name in self.decorator_names(function))
