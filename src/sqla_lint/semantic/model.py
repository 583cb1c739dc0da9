"""The semantic model of one module: what each expression is, and who made it.

Rules never walk the tree themselves. They ask this model "what kind of value is this?",
"which calls create a session here?", "is this function a request handler?", and ask
:mod:`sqla_lint.semantic.ownership` whether a created resource is given back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import libcst as cst

from .kinds import ATTRIBUTE, AWAIT, CALL, NAME, KindResolver
from .names import ImportMap, dotted_name, last_segment
from .project import FactoryConfig
from .symbols import (
    BOOKKEEPING_SESSION_ATTRIBUTES,
    CONNECTION_METHODS,
    CONTEXT_ENTERING_METHODS,
    CONTEXT_MANAGER_DECORATORS,
    MAIN_FUNCTION_NAMES,
    OWNED_KINDS,
    ROUTE_DECORATOR_METHODS,
    SAME_CONNECTION_METHODS,
    SESSION_FOR_FACTORY,
    Kind,
    call_result_kind,
    constructor_opened_pool,
    is_cache_decorator,
)
from .tree import FunctionNode, TreeIndex, build_index

if TYPE_CHECKING:
    from .budget import ConnectionBudget
    from .index import ProjectIndex


_MAX_INSTANCE_DEPTH = 8  # bases of bases, and cycles among them

# What a call passes that is a connection its caller owns (see ``passed_for_parameter``).
_CONNECTION_VALUES = frozenset(f"kind:{kind.name}" for kind in (Kind.CONNECTION, Kind.ASYNC_CONNECTION, Kind.BORROWED_CONNECTION))


@dataclass(frozen=True)
class Creation:
    """A call that creates a resource the caller then owns."""

    call: cst.Call
    kind: Kind
    function: FunctionNode | None
    source: str  # how the resource was made, for messages: "SessionLocal()", "get_session()"
    via_helper: str | None = None  # the project function that returned it, if any


@dataclass(frozen=True)
class PoolConstructor:
    """A call of a psycopg_pool pool class, as written."""

    qualified_name: str
    is_async: bool
    open_argument: cst.BaseExpression | None  # the ``open=`` value, if written
    opens: bool | None  # whether the constructor opens the pool; None if it cannot be told

    @property
    def implicit_open(self) -> bool:
        """Opened because ``open=`` was left out (the default psycopg_pool is changing)."""
        return self.opens is True and self.open_argument is None




@dataclass
class _Hooks:
    lifespans: set[FunctionNode] = field(default_factory=set)
    startup: set[FunctionNode] = field(default_factory=set)
    shutdown: set[FunctionNode] = field(default_factory=set)


# What the kind resolver (:mod:`.kinds`) reads of an expression, by node type.
CST_SHAPES = {
    cst.Name: lambda node: (NAME, node.value),
    cst.Attribute: lambda node: (ATTRIBUTE, node.value, node.attr.value),
    cst.Call: lambda node: (CALL, node.func),
    cst.Await: lambda node: (AWAIT, node.expression),
}


class ModuleModel(KindResolver):
    def __init__(
        self,
        module: cst.Module,
        module_name: str = "",
        factories: FactoryConfig = FactoryConfig(),
        index: ProjectIndex | None = None,
        is_package: bool = False,
    ) -> None:
        self.module = module
        self.module_name = module_name
        self.index = index
        self.tree: TreeIndex = build_index(module)
        self.imports = ImportMap(self.tree.imports, module_name, is_package)
        self.factories = factories
        # What :meth:`instance_class` found, by binding: (function or None, name),
        # (class, attribute), a call, a function's returns.
        self._class_cache: dict[Any, str | None] = {}
        self._class_in_progress: set[Any] = set()
        self._bindings_cache: dict[FunctionNode, dict[str, list[cst.BaseExpression] | cst.Param]] = {}

        self.module_functions: dict[str, cst.FunctionDef] = {}
        self.methods: dict[cst.ClassDef, dict[str, cst.FunctionDef]] = defaultdict(dict)
        self.classes: dict[str, cst.ClassDef] = {}
        for function in self.tree.function_defs:
            owner = self.tree.class_of_function(function)
            if owner is not None:
                self.methods[owner][function.name.value] = function
            elif self.tree.enclosing_function.get(function) is None:
                self.module_functions[function.name.value] = function
        for class_def in self.tree.class_defs:
            if self.tree.enclosing_function.get(class_def) is None:
                self.classes[class_def.name.value] = class_def

        tree = self.tree
        self._start_resolving(tree.module_assignments, tree.globals_declared, tree.assignments_in, tree.class_body_assignments)

    # -- the module's structure, as rules may ask it --------------------------------------
    # Rules never read the tree index or the project index themselves (one place per
    # question): these are the structural questions they ask.

    @property
    def function_defs(self) -> list[cst.FunctionDef]:
        return self.tree.function_defs

    @property
    def calls(self) -> list[cst.Call]:
        return self.tree.calls

    @property
    def with_statements(self) -> list[cst.With]:
        return self.tree.withs

    def parent_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.tree.parent.get(node)

    def enclosing_function_of(self, node: cst.CSTNode) -> FunctionNode | None:
        return self.tree.enclosing_function.get(node)

    def class_of_function(self, function: FunctionNode) -> cst.ClassDef | None:
        """The class whose body defines ``function`` directly (so it is a method)."""
        return self.tree.class_of_function(function)

    def parse_statement(self, code: str) -> cst.BaseStatement:
        """``code`` as a statement of this module (its indentation and line endings)."""
        return cst.parse_statement(code, self.module.config_for_parsing)

    # -- the project, as rules may ask it ------------------------------------------------

    def connection_budget(self) -> ConnectionBudget | None:
        """The project's connection budget (a file linted alone has a one-module index of
        its own facts; only one CPython cannot read at all has none)."""
        return self.index.connection_budget() if self.index is not None else None

    def disposed_in_project(self, holder: str, site: cst.CSTNode) -> bool:
        """Whether any module disposes the engine ``holder`` (as written at ``site``) names."""
        return self.index is not None and self.index.is_disposed(self.qualified_receiver(holder, self.module_name, site))

    def project_has_shutdown_point(self) -> bool:
        """Whether any module has a lifespan, a shutdown hook or an ``asyncio.run`` entry."""
        return self.index is not None and self.index.has_shutdown_point()

    # -- names ---------------------------------------------------------------------------

    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        return self.imports.resolve(node)

    def source_of(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    # -- what is this value? -------------------------------------------------------------

    def psycopg_pool_constructor(self, call: cst.Call) -> PoolConstructor | None:
        """``call`` builds a psycopg_pool pool that its constructor opens unless told
        ``open=False``: how it was called, or None for any other call."""
        qualified = self.qualified_name(call.func)
        is_async = constructor_opened_pool(qualified) if qualified is not None else None
        if qualified is None or is_async is None:
            return None
        open_argument: cst.BaseExpression | None = None
        for argument in call.args:
            if argument.star == "**":
                return PoolConstructor(qualified, is_async, None, opens=None)  # ``open`` may be in there
            if argument.keyword is not None and argument.keyword.value == "open":
                open_argument = argument.value
        if open_argument is None:
            opens: bool | None = True
        elif isinstance(open_argument, cst.Name) and open_argument.value in ("True", "False"):
            opens = open_argument.value == "True"
        else:
            opens = None
        return PoolConstructor(qualified, is_async, open_argument, opens)

    def entered_as_context(self, call: cst.Call) -> bool:
        """``call`` is the context expression of ``with`` / ``async with``, or is handed to
        an ``ExitStack``'s ``enter_context`` / ``enter_async_context``, which enters it."""
        parent = self.tree.parent.get(call)
        if isinstance(parent, cst.WithItem) and parent.item is call:
            return True
        if isinstance(parent, cst.Arg):
            outer = self.tree.parent.get(parent)
            return (
                isinstance(outer, cst.Call)
                and isinstance(outer.func, cst.Attribute)
                and outer.func.attr.value in CONTEXT_ENTERING_METHODS
            )
        return False

    def unpacked_kind(self, function: FunctionNode, name: str) -> Kind | None:
        """The kind of ``name`` bound by unpacking a tuple in ``function`` (``_, Session =
        self._open()``), when every way the tuple is made agrees on that element."""
        for assignment in self.tree.assignments_in.get(function, ()):
            for target, value in assigned_targets(assignment):
                position = _unpacked_position(target, name)
                if position is not None:
                    kind = self._element_kind(value, *position)
                    if kind is not None:
                        return kind
        return None

    def _element_kind(self, value: cst.BaseExpression, position: int, size: int, depth: int = 0) -> Kind | None:
        """The kind of element ``position`` of the ``size``-tuple ``value`` gives, when every
        way it can be made agrees: a tuple display, a name bound to one, a function of this
        module whose every return agrees, or an item of a dict that every store in the
        module fills with such tuples (a memo: ``self._engines[url] = engine, Session`` and
        ``_, Session = self._open()`` where ``_open`` returns ``self._engines[url]``)."""
        if depth > 5:
            return None
        if isinstance(value, (cst.Tuple, cst.List)):
            elements = value.elements
            if len(elements) != size or any(isinstance(element, cst.StarredElement) for element in elements):
                return None
            return self.kind_of(elements[position].value)
        if isinstance(value, cst.Name):
            return self._agreed_element_kind(self._binding_values(value), position, size, depth)
        if isinstance(value, cst.Call):
            function = self.function_called(value)
            if function is None or self.is_generator(function) or self.decorator_names(function) & CONTEXT_MANAGER_DECORATORS:
                return None
            returns = self.tree.returns_in.get(function, ())
            if any(statement.value is None for statement in returns):
                return None
            return self._agreed_element_kind([statement.value for statement in returns if statement.value is not None], position, size, depth)
        if isinstance(value, cst.Subscript):
            return self._agreed_element_kind(self._items_stored_in(value.value), position, size, depth)
        return None

    def _agreed_element_kind(self, values: list[cst.BaseExpression], position: int, size: int, depth: int) -> Kind | None:
        kinds = {self._element_kind(value, position, size, depth + 1) for value in values}
        return kinds.pop() if len(kinds) == 1 else None

    def _items_stored_in(self, container: cst.BaseExpression) -> list[cst.BaseExpression]:
        """Every value stored as an item of ``container`` (``self._engines``, a module dict)
        in this module, or [] where that cannot be told: the container starts other than
        empty, or something else fills it (``update``, ``setdefault``, a second name)."""
        written = dotted_name(container)
        if written is None or not isinstance(container, (cst.Name, cst.Attribute)):
            return []
        owner = self.class_for_receiver(container.value, container) if isinstance(container, cst.Attribute) else None
        if isinstance(container, cst.Attribute) and owner is None:
            return []
        initial = self._binding_values(container) if owner is None else list(self.class_attributes.get(owner, {}).get(container.attr.value, ()))
        if not initial or not all(_empty_mapping(value) for value in initial):
            return []

        def same(node: cst.BaseExpression) -> bool:
            if dotted_name(node) != written:
                return False
            return owner is None or self.class_for_receiver(node.value, node) is owner  # type: ignore[attr-defined]

        for filler in ("update", "setdefault", "__setitem__", "fromkeys"):
            if any(same(attribute.value) for attribute in self.tree.attributes_named.get(filler, ())):
                return []
        stored: list[cst.BaseExpression] = []
        assignments = [*self.tree.module_assignments, *(a for function in self.tree.function_defs for a in self.tree.assignments_in.get(function, ()))]
        for assignment in assignments:
            for target, value in assigned_targets(assignment):
                if isinstance(target, cst.Subscript) and same(target.value):
                    stored.append(value)
                elif dotted_name(target) == written and not _empty_mapping(value):
                    return []  # the container itself rebound to something else
        return stored

    def borrows_connection(self, session_call: cst.Call) -> bool:
        """Whether a new session is bound to a connection it does not own.

        ``Session(bind=op.get_bind())`` in an alembic migration, or a session bound to a
        ``with engine.connect() as conn`` connection, checks nothing out of a pool: the
        connection's owner gives it back, so leaving such a session unclosed leaks nothing.
        """
        bind = _bind_argument(session_call)
        if bind is None:
            factory = session_call.func
            for value in self._binding_values(factory):
                if isinstance(value, cst.Call) and (factory_bind := _bind_argument(value)) is not None:
                    return self._is_connection(factory_bind)
            return False
        return self._is_connection(bind)

    def _unbound_source(self, func: cst.BaseExpression) -> bool:
        """Whether calling ``func`` makes a session with no bind: the ``Session`` class, or a
        factory of this module made by ``sessionmaker()`` with no bind."""
        qualified = self.qualified_name(func)
        kind = call_result_kind(qualified) if qualified is not None else None
        if kind is not None:
            return kind.is_session
        values = self._binding_values(func)
        written = dotted_name(func)
        return (
            bool(values)
            and all(
                isinstance(value, cst.Call)
                and (factory := self.qualified_name(value.func)) is not None
                and call_result_kind(factory) in SESSION_FOR_FACTORY
                and not _binds(value)
                for value in values
            )
            # ``Factory.configure(bind=engine)`` binds every session it makes from then on.
            and not any(dotted_name(attribute.value) == written for attribute in self.tree.attributes_named.get("configure", ()))
        )

    def _is_connection(self, node: cst.BaseExpression) -> bool:
        kind = self.kind_of(node)
        if kind is not None:
            return kind.is_connection or kind is Kind.BORROWED_CONNECTION
        # ``Session(bind=other_session.connection())``: what ``connection()`` lends belongs
        # to the session it was asked of, whatever that receiver is (sessions are the only
        # SQLAlchemy objects with that method), and it gives it back.
        inner = node.expression if isinstance(node, cst.Await) else node
        if (
            isinstance(inner, cst.Call)
            and isinstance(inner.func, cst.Attribute)
            and inner.func.attr.value == "connection"
            and self.kind_of(inner.func.value) is None
        ):
            return True
        # ``def f(conn): Session(bind=conn)`` / ``def f(op): Session(bind=op.get_bind())``:
        # what every call in the project passes for the parameter decides.
        if isinstance(inner, cst.Name):
            passed = self.passed_for_parameter(inner)
            return bool(passed) and all(value in _CONNECTION_VALUES for value in passed)
        if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and isinstance(inner.func.value, cst.Name):
            passed = self.passed_for_parameter(inner.func.value)
            method = inner.func.attr.value
            return bool(passed) and all(
                value.startswith("ref:") and call_result_kind(f"{value[4:]}.{method}") is Kind.BORROWED_CONNECTION for value in passed
            )
        return False

    def passed_for_parameter(self, name: cst.Name) -> list[str] | None:
        """What every call in the project passes for the parameter ``name`` reads, as the
        index's symbolic values (``ref:alembic.op``, ``kind:BORROWED_CONNECTION``, ``?``);
        None where that cannot be told: not a parameter a session or factory of a
        module-level function is bound to (only those functions' callers are sure to be in
        the index), or rebound in it, or a call that passes ``*args`` / ``**kwargs`` or
        leaves it to its default, or no call at all. A function also used other than by
        calling it (a callback) is seen through its calls only."""
        function = self.tree.function_of(name)
        if (
            self.index is None
            or not isinstance(function, cst.FunctionDef)
            or self.tree.enclosing_function.get(function) is not None
            or self.tree.class_of_function(function) is not None
        ):
            return None
        positional = [*function.params.posonly_params, *function.params.params]
        names = [param.name.value for param in positional]
        keyword_only = {param.name.value for param in function.params.kwonly_params}
        if name.value not in names and name.value not in keyword_only:
            return None
        if any(assigned == name.value for assignment in self.tree.assignments_in.get(function, ()) for assigned, _ in assigned_names(assignment)):
            return None
        position = names.index(name.value) if name.value in names else None
        qualified = f"{self.module_name}.{function.name.value}"
        summary = self.index.function(qualified)
        if summary is None or name.value not in summary.bound_parameters:
            return None  # its callers were not looked for: the index holds only those of binders
        sites = self.index.callers(qualified)
        if not sites:
            return None
        passed: list[str] = []
        for site in sites:
            keyword = next((value for value in site.arguments if value.startswith(f"{name.value}=")), None)
            positional_values = [value for value in site.arguments if "=" not in value.partition(":")[0]]
            if keyword is not None:
                passed.append(keyword.partition("=")[2])
            elif position is not None and position < len(positional_values) and "*" not in positional_values[: position + 1]:
                passed.append(positional_values[position])
            else:
                return None
        return passed

    def holds_no_connection_of_its_own(self, session_call: cst.Call) -> bool:
        """Whether a new session can never check a connection out of a pool: it borrows one
        (see ``borrows_connection``), or it is a ``Session()`` with no bind at all that is
        used only for bookkeeping (``add``, ``expunge``, ``is_modified``...), which would
        raise ``UnboundExecutionError`` before it could reach a database."""
        return self.borrows_connection(session_call) or self._unbound_bookkeeping_session(session_call)

    def _unbound_bookkeeping_session(self, call: cst.Call) -> bool:
        if _binds(call) or not self._unbound_source(call.func):
            return False
        parent = self.tree.parent.get(call)
        function = self.tree.enclosing_function.get(call)
        if function is None or not isinstance(parent, cst.Assign) or len(parent.targets) != 1:
            return False
        target = parent.targets[0].target
        if not isinstance(target, cst.Name):
            return False
        made = self.tree.order(call)
        for ref in self.tree.names_in.get(function, {}).get(target.value, ()):
            if self.tree.order(ref) <= made:
                continue
            used = self.tree.parent.get(ref)
            if not (isinstance(used, cst.Attribute) and used.value is ref and self._bookkeeping_use(used)):
                return False
            if isinstance(self.tree.parent.get(used), (cst.AssignTarget, cst.AugAssign)):
                return False  # ``s.bind = engine``
        return True

    def _bookkeeping_use(self, used: cst.Attribute) -> bool:
        """Whether ``session.<attr>`` never reaches the database: a bookkeeping attribute,
        or ``merge(obj, load=False)``, which SQLAlchemy documents as emitting no SQL (it
        copies the given state as it is, for objects already known to be clean)."""
        if used.attr.value in BOOKKEEPING_SESSION_ATTRIBUTES:
            return True
        call = self.tree.parent.get(used)
        return (
            used.attr.value == "merge"
            and isinstance(call, cst.Call)
            and call.func is used
            and any(
                arg.keyword is not None and arg.keyword.value == "load" and isinstance(arg.value, cst.Name) and arg.value.value == "False"
                for arg in call.args
            )
        )

    def _binding_values(self, node: cst.BaseExpression) -> list[cst.BaseExpression]:
        if isinstance(node, cst.Name):
            function = self.tree.function_of(node)
            values = [
                value
                for assignment in self.tree.assignments_in.get(function, ())
                for assigned, value in assigned_names(assignment)
                if assigned == node.value
            ]
            return values or list(self.module_bindings.get(node.value, ()))
        if isinstance(node, cst.Attribute):
            owner = self.class_for_receiver(node.value, node)
            if owner is not None:
                return list(self.class_attributes.get(owner, {}).get(node.attr.value, ()))
        return []

    # -- libcst's tree, for the kind resolver (:mod:`.kinds`) ----------------------------

    SHAPES = CST_SHAPES

    def written_name(self, node: cst.BaseExpression) -> str | None:
        return dotted_name(node)

    def arguments(self, call: cst.Call) -> list[tuple[str | None, cst.BaseExpression]]:
        return [(arg.star or (arg.keyword.value if arg.keyword is not None else None), arg.value) for arg in call.args]

    def is_none(self, node: cst.BaseExpression) -> bool:
        return _is_none(node)

    def either_operands(self, node: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
        if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.Or):
            return (node.left, node.right)
        return None

    def annotation_members(self, annotation: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        if isinstance(annotation, cst.BinaryOperation):
            return [annotation.left, annotation.right]
        if isinstance(annotation, cst.Subscript):
            return [element.slice.value for element in annotation.slice if isinstance(element.slice, cst.Index)]
        if isinstance(annotation, cst.SimpleString):
            text = annotation.evaluated_value
            if isinstance(text, str):
                try:
                    return [cst.parse_expression(text)]
                except cst.ParserSyntaxError:
                    return []
            return []
        return None

    def enclosing_function(self, node: cst.CSTNode) -> FunctionNode | None:
        return self.tree.function_of(node)

    def outer_function(self, function: FunctionNode) -> FunctionNode | None:
        return self.tree.enclosing_function.get(function)

    def is_def(self, function: FunctionNode) -> bool:
        return isinstance(function, cst.FunctionDef)

    def parameter_annotation(self, function: FunctionNode, name: str) -> cst.BaseExpression | None:
        if isinstance(function, cst.FunctionDef):
            for param in all_params(function.params):
                if param.name.value == name and param.annotation is not None:
                    return param.annotation.annotation
        return None

    def assigned(self, statement: cst.CSTNode) -> list[tuple[cst.BaseExpression, cst.BaseExpression]]:
        return assigned_targets(statement)  # type: ignore[arg-type]

    def with_targets(self, function: FunctionNode) -> list[tuple[str, cst.BaseExpression, bool]]:
        return [
            (item.asname.name.value, item.item, statement.asynchronous is not None)
            for statement in self.tree.withs_in.get(function, ())
            for item in statement.items
            if item.asname is not None and isinstance(item.asname.name, cst.Name)
        ]

    def return_statement_values(self, function: FunctionNode) -> list[cst.BaseExpression]:
        return [statement.value for statement in self.tree.returns_in.get(function, ()) if statement.value is not None]

    def return_annotation(self, function: FunctionNode) -> cst.BaseExpression | None:
        return function.returns.annotation if isinstance(function, cst.FunctionDef) and function.returns is not None else None

    def defaulted_parameters(self, function: cst.FunctionDef) -> list[tuple[str, int]]:
        params = function.params
        positional = len(params.posonly_params) + len(params.params)
        return [
            (param.name.value, position if position < positional else -1)
            for position, param in enumerate([*params.posonly_params, *params.params, *params.kwonly_params])
            if param.default is not None
        ]

    def decorator_expressions(self, function: FunctionNode) -> list[cst.BaseExpression]:
        if not isinstance(function, cst.FunctionDef):
            return []
        return [d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator for d in function.decorators]

    # The project index answers for other modules' names and functions.

    def imported_kind(self, node: cst.BaseExpression) -> Kind | None:
        if self.index is None:
            return None
        qualified = self.qualified_name(node)
        return self.index.symbol_kind(qualified) if qualified is not None else None

    def imported_call_kind(self, qualified: str) -> Kind | None:
        return self.index.call_kind(qualified) if self.index is not None else None

    def imported_borrowed_param(self, qualified: str) -> tuple[str, int] | None:
        summary = self.index.function(qualified) if self.index is not None else None
        return summary.borrowed_param if summary is not None else None

    # -- methods of objects of known classes ---------------------------------------------

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
            elif isinstance(value, (cst.Name, cst.Attribute)) and not _is_none(value):
                found.add(self.instance_class(value))
            elif not _is_none(value):
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
            if _is_none(annotation.right):
                return self.annotated_class(annotation.left)
            return self.annotated_class(annotation.right) if _is_none(annotation.left) else None
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

    # -- functions -----------------------------------------------------------------------

    def qualified_receiver(self, receiver: str, module: str, site: cst.CSTNode) -> str:
        """``db_session`` -> ``app.database.db_session``; ``self.Session`` -> ``mod.Cls.Session``."""
        head, _, rest = receiver.partition(".")
        owner_class = self.tree.class_body_of(site)
        if owner_class is not None and "." not in receiver:
            return f"{module}.{owner_class.name.value}.{receiver}"
        if head in self.imports.bindings:
            target = self.imports.bindings[head]
            return f"{target}.{rest}" if rest else target
        if head in ("self", "cls"):
            function = self.tree.function_of(site)
            owner = self.tree.class_of_function(function) if function is not None else None
            if owner is not None:
                return f"{module}.{owner.name.value}.{rest}"
        return f"{module}.{receiver}"

    def cache_decorator(self, function: cst.FunctionDef) -> cst.Decorator | None:
        for decorator in function.decorators:
            expression = decorator.decorator
            if isinstance(expression, cst.Call):
                expression = expression.func
            qualified = self.qualified_name(expression)
            if qualified and is_cache_decorator(qualified):
                return decorator
        return None

    def is_pytest_fixture(self, function: FunctionNode) -> bool:
        if not isinstance(function, cst.FunctionDef):
            return False
        return any(name.endswith(".fixture") or name == "fixture" for name in self.decorator_names(function))

    def is_generator(self, function: FunctionNode) -> bool:
        return bool(self.tree.yields_in.get(function))

    def function_name(self, function: FunctionNode) -> str:
        if isinstance(function, cst.FunctionDef):
            owner = self.tree.class_of_function(function)
            prefix = f"{owner.name.value}." if owner is not None else ""
            return prefix + function.name.value
        return "<lambda>"

    # -- creations -----------------------------------------------------------------------

    @cached_property
    def creations(self) -> list[Creation]:
        """Every call that creates an owned resource, in source order."""
        found: list[Creation] = []
        for call in self.tree.calls:
            kind = self.kind_of(call)
            if kind not in OWNED_KINDS:
                continue
            found.append(
                Creation(
                    call=call,
                    kind=kind,
                    function=self.tree.enclosing_function.get(call),
                    source=_call_label(call),
                    via_helper=self._helper_name(call),
                )
            )
        return found

    def _helper_name(self, call: cst.Call) -> str | None:
        """The project function that made the resource, if a helper rather than a factory did."""
        helper = self.function_called(call)
        if helper is not None:
            return self.function_name(helper)
        if self.index is not None:
            qualified = self.qualified_name(call.func)
            if qualified is not None and self.index.function(qualified) is not None:
                return dotted_name(call.func)
        if self.method_result_kind(call) is not None:
            return dotted_name(call.func)
        return None

    # -- application structure -----------------------------------------------------------

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
                        event = _string_value(expression.args[0].value)
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
            event = _string_value(call.args[0].value)
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

    def handed_out_kinds(self, function: cst.FunctionDef) -> set[Kind]:
        """Kinds of what ``function`` returns or yields, as far as they are known."""
        values: list[cst.BaseExpression] = [r.value for r in self.tree.returns_in.get(function, ()) if r.value is not None]
        values += [y.value for y in self.tree.yields_in.get(function, ()) if isinstance(y.value, cst.BaseExpression)]
        return {kind for value in values if (kind := self.kind_of(value)) is not None}

    def sessions_closed_by(self, statement: cst.With) -> list[str]:
        """Names of the sessions a ``with`` opens and closes on exit, leaving out those it
        also runs a transaction on (``Factory.begin()``, ``s.begin()`` beside ``s``): there,
        ``close()`` rolls back what the block would otherwise commit."""
        begun = {
            dotted_name(item.item.func.value)
            for item in statement.items
            if isinstance(item.item, cst.Call) and isinstance(item.item.func, cst.Attribute) and item.item.func.attr.value == "begin"
        }
        names = []
        for item in statement.items:
            if item.asname is None or not isinstance(item.asname.name, cst.Name):
                continue
            name = item.asname.name.value
            opened = item.item
            if isinstance(opened, cst.Call) and isinstance(opened.func, cst.Attribute) and opened.func.attr.value == "begin":
                continue
            if name not in begun and self.opens_session(opened):
                names.append(name)
        return names

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
            guard = _not_in_guard(ancestor.test)
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

    def is_removed(self, holder: str, site: cst.CSTNode) -> bool:
        """Whether anything in the project calls ``.remove()`` on the registry ``holder``
        (as written at ``site``) names: the index matches qualified receivers, so a
        ``remove()`` on another class's attribute of the same name does not count."""
        if self.index is not None:
            return self.index.is_removed(self.qualified_receiver(holder, self.module_name, site))
        return any(receiver == holder for receiver, _ in self.attribute_references("remove"))

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

    def closing_receivers(self, methods: frozenset[str]) -> list[tuple[str, cst.Call]]:
        """``(receiver text, call)`` for every ``x.close()``-like call in the module."""
        found = []
        for method in methods:
            for receiver, attribute in self.attribute_references(method):
                call = self.tree.parent.get(attribute)
                if isinstance(call, cst.Call) and call.func is attribute:
                    found.append((receiver, call))
        return found

    def attribute_references(self, attribute: str) -> list[tuple[str, cst.Attribute]]:
        """``(receiver text, node)`` for every ``<receiver>.<attribute>``, called or not."""
        found = []
        for node in self.tree.attributes_named.get(attribute, ()):
            receiver = dotted_name(node.value)
            if receiver is not None:
                found.append((receiver, node))
        return found


# What holds the engine it is built with: a session factory or registry (``bind=engine``).
_ENGINE_BINDING_KINDS = frozenset({Kind.SESSION_FACTORY, Kind.ASYNC_SESSION_FACTORY, Kind.SCOPED_REGISTRY})
_INSPECTORS = frozenset({"sqlalchemy.inspect", "sqlalchemy.inspection.inspect"})


# -- helpers over syntax ---------------------------------------------------------------


def _not_in_guard(test: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
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


def _unpacked_position(target: cst.BaseExpression, name: str) -> tuple[int, int] | None:
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


def _empty_mapping(value: cst.BaseExpression) -> bool:
    """``{}`` or ``dict()``: a memo that starts empty."""
    if isinstance(value, cst.Dict):
        return not value.elements
    return isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "dict" and not value.args


def _binds(call: cst.Call) -> bool:
    """Whether a ``Session(...)`` / ``sessionmaker(...)`` call may be given a bind: a
    positional argument, ``bind=`` / ``binds=``, or ``*args`` / ``**kwargs``."""
    return any(arg.keyword is None or arg.star or arg.keyword.value in ("bind", "binds") for arg in call.args)


def _bind_argument(call: cst.Call) -> cst.BaseExpression | None:
    """The ``bind`` of ``Session(bind=...)`` / ``sessionmaker(bind=...)``, or its first positional."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "bind":
            return arg.value
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    return None


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _call_label(call: cst.Call) -> str:
    """``SessionLocal()`` or ``Session(engine)``; long argument lists shorten to ``(...)``."""
    written = dotted_name(call.func)
    if not written:
        return "a call"
    arguments = cst.Module(body=[]).code_for_node(call)[len(cst.Module(body=[]).code_for_node(call.func)) :]
    if len(arguments) <= 30 and "\n" not in arguments:
        return written + arguments.strip()
    return f"{written}(...)"

