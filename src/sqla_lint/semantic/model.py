"""The semantic model of one module: what each expression is, and who made it.

Rules never walk the tree themselves. They ask this model "what kind of value is this?",
"which calls create a session here?", "is this function a request handler?", and ask
:mod:`sqla_lint.semantic.ownership` whether a created resource is given back.

One object, split by concern into the modules it is made of: :mod:`.kinds` (what kind a
value is, shared with the module facts), :mod:`.execution` (where and how often code runs),
:mod:`.handoffs` (memos, keepers, thin factories), :mod:`.borrowed` (sessions on a
connection they do not own) and :mod:`.instances` (objects of the project's classes). This
module keeps the tree, the names, the creations and the structural questions rules ask.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property
from typing import TYPE_CHECKING, Any

import libcst as cst

from .borrowed import BorrowedConnections
from .creations import Creation, PoolConstructor
from .execution import ExecutionJudgements
from .handoffs import HandoffJudgements
from .instances import InstanceJudgements
from .kinds import ATTRIBUTE, AWAIT, CALL, NAME, KindResolver
from .names import ImportMap, dotted_name
from .project import FactoryConfig
from .symbols import (
    CONTEXT_ENTERING_METHODS,
    CONTEXT_MANAGER_DECORATORS,
    OWNED_KINDS,
    Kind,
    constructor_opened_pool,
    is_cache_decorator,
)
from .syntax import (
    all_params,
    assigned_names,
    assigned_targets,
    call_label,
    empty_mapping,
    is_none_literal,
    unpacked_position,
)
from .tree import FunctionNode, TreeIndex, build_index

if TYPE_CHECKING:
    from .budget import ConnectionBudget
    from .index import ProjectIndex









# What the kind resolver (:mod:`.kinds`) reads of an expression, by node type.
CST_SHAPES = {
    cst.Name: lambda node: (NAME, node.value),
    cst.Attribute: lambda node: (ATTRIBUTE, node.value, node.attr.value),
    cst.Call: lambda node: (CALL, node.func),
    cst.Await: lambda node: (AWAIT, node.expression),
}


class ModuleModel(ExecutionJudgements, HandoffJudgements, BorrowedConnections, InstanceJudgements, KindResolver):
    """The model of one libcst module, with the project index when there is one."""

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
                position = unpacked_position(target, name)
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
        if not initial or not all(empty_mapping(value) for value in initial):
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
                elif dotted_name(target) == written and not empty_mapping(value):
                    return []  # the container itself rebound to something else
        return stored








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
        return is_none_literal(node)

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
                    source=call_label(call),
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










    def is_removed(self, holder: str, site: cst.CSTNode) -> bool:
        """Whether anything in the project calls ``.remove()`` on the registry ``holder``
        (as written at ``site``) names: the index matches qualified receivers, so a
        ``remove()`` on another class's attribute of the same name does not count."""
        if self.index is not None:
            return self.index.is_removed(self.qualified_receiver(holder, self.module_name, site))
        return any(receiver == holder for receiver, _ in self.attribute_references("remove"))




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
