"""Whether something read from a session or connection outlives the block a fix opens.

SQA401 and SQA503 fix a leak by opening the resource with ``with`` around the rest of its
block, so it is closed when the block ends. Whatever was read from it and is still
reachable after that can tell the difference. In the leaky original, a session with a
transaction open sits in a reference cycle (the transaction points back at it), so it
outlives the function until the garbage collector runs, and its instances can still
lazy-load. After the fix, ``close()`` has expunged them, and touching an attribute that
is not loaded yet raises ``DetachedInstanceError``. A lazy ``Result`` or ``Query`` needs
the closed session or connection, which a closed ``Session`` silently opens again. (Each
of these is shown on a real engine in ``tests/test_autofix_oracle.py``.)

So a fix is unsafe when a value that may be an ORM instance, or may still need the
resource, escapes the block: it is returned, yielded, stored on an object, in a
container or a global, handed to a constructor or a scheduler, raised, or read after the
block. A value known to be plain is not: a count, a literal, a string, a column of a
class mapped in this module, the rows of ``text()`` or of a ``select`` of columns. What
cannot be told apart from an ORM instance counts as one.

One shape is the same before and after: the session's last act is ``commit()``,
``rollback()`` or ``close()`` and the function returns straight after. The original
session then has no transaction, nothing refers to it, and CPython frees it on return,
so the instances it loaded are detached either way.

A value passed to a plain function call (``send(user)``) is taken not to be kept, as a
session passed to one is (see ``blocks.py``); constructors and schedulers keep theirs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from .blocks import LocalTail, retains_arguments
from .model import ModuleModel
from .names import dotted_name, last_segment
from .symbols import (
    ATTACHING_METHODS,
    COLUMN_MAPPERS,
    CONTAINER_METHODS,
    COUNTING_METHODS,
    DEFERRING_CALLS,
    DML_CONSTRUCTS,
    INSTANCE_METHODS,
    MATERIALIZING_BUILTINS,
    MATERIALIZING_METHODS,
    PLAIN_BUILTINS,
    PLAIN_SQL_CONSTRUCTS,
    RESOURCE_PLAIN_METHODS,
    RESULT_METHODS,
    RESULT_PLAIN_ATTRIBUTES,
    SCALAR_METHODS,
    SCALAR_TYPE_NAMES,
    SELECT_CONSTRUCTS,
    SINGLE_ROW_METHODS,
    STATEMENT_COLUMN_METHODS,
    STATEMENT_REFINING_METHODS,
    STATEMENT_REPLACING_METHODS,
)
from .syntax import assigned_targets
from .tree import FunctionNode

_TRANSACTION_ENDS = frozenset({"commit", "rollback", "close"})
# Methods whose rows are the selected entity itself, not a row holding it.
_ENTITY_METHODS = frozenset({"scalar", "scalars", "stream_scalars", "exec"})
_PLAIN_LITERALS = (
    cst.Integer,
    cst.Float,
    cst.Imaginary,
    cst.SimpleString,
    cst.ConcatenatedString,
    cst.FormattedString,
    cst.Comparison,
    cst.UnaryOperation,
)
_SQL_PACKAGES = ("sqlalchemy", "sqlmodel")


@dataclass(frozen=True)
class Derived:
    """What a value read from the resource may be."""

    lazy: bool = False  # may still need the resource: a Result, Query, iterator, or unknown
    orm: bool = False  # may be or hold ORM instances
    entity: str | None = None  # exactly one instance of this class (defined in the module)

    @property
    def escapes(self) -> bool:
        return self.lazy or self.orm

    def __or__(self, other: Derived) -> Derived:
        entities = {d.entity for d in (self, other) if d.escapes or d.entity}
        entity = entities.pop() if len(entities) == 1 else None
        return Derived(self.lazy or other.lazy, self.orm or other.orm, entity)

    def without_entity(self) -> Derived:
        return Derived(self.lazy, self.orm)


PLAIN = Derived()


class Route(enum.Enum):
    RETURNED = "is returned"
    YIELDED = "is yielded"
    STORED = "is stored in {}"
    ADDED = "is added to {}"
    ATTACHED = "comes from outside the block and is added to the session"
    HANDED = "is handed to {}"
    RAISED = "is raised"
    READ_AFTER = "is read after the block"


@dataclass(frozen=True)
class Escape:
    """A value read from the resource that outlives the block, and how."""

    node: cst.CSTNode
    text: str
    route: Route
    where: str
    value: Derived

    def reason(self, session: bool) -> str:
        how = self.route.value.format(f"`{self.where}`")
        if self.value.lazy:
            held = "the session (a lazy `Result` or `Query`)" if session else "the connection (a lazy `Result`)"
            return f"`{self.text}` {how}; it may still need {held}, which the `with` block closes"
        return (
            f"`{self.text}` {how}; it may hold ORM instances, which the `with` block detaches, "
            "so attributes not loaded yet raise `DetachedInstanceError`"
        )


def escape_from_block(model: ModuleModel, tail: LocalTail, *, session: bool) -> Escape | None:
    """The first value read from ``tail``'s resource that outlives its block in a way
    closing the resource there would change; None where closing it changes nothing the
    rest of the program can see. ``session`` is False for a Core connection, whose rows
    never hold ORM instances."""
    flow = _Flow(model, tail, session)
    escapes = flow.escapes()
    if not escapes or flow.ended_before_return(escapes):
        return None
    return min(escapes, key=lambda escape: model.tree.order(escape.node))


def transaction_flow(model: ModuleModel, tail: LocalTail) -> set[str]:
    """The session ``tail`` binds and the names after it that may hold something read from
    it (an ORM instance, a lazy ``Result`` or ``Query``, or what cannot be told apart):
    touching one after the transaction ended may begin a new one."""
    return set(_Flow(model, tail, session=True).tainted)


def ends_transaction(statement: cst.BaseStatement, name: str) -> bool:
    """A line holding only ``name.commit()``, ``.rollback()`` or ``.close()`` (awaited or not)."""
    return _ends_transaction(statement, name) and not isinstance(statement, cst.With)


def passive_return(statement: cst.BaseStatement) -> bool:
    """``return a`` / ``return a, b``: names passed on, nothing read from them."""
    return _passive_return(statement)


# -- the flow of values through the block ----------------------------------------------


class _Flow:
    """Which names in the block hold something read from the resource (flow-insensitive:
    a name assigned twice holds either value), and where such values leave the block."""

    def __init__(self, model: ModuleModel, tail: LocalTail, session: bool) -> None:
        self.model = model
        self.tree = model.tree
        self.tail = tail
        self.session = session
        self.resource = tail.name
        function = self.tree.function_of(tail.binding.line)
        assert isinstance(function, cst.FunctionDef)
        self.function: cst.FunctionDef = function
        self.declared = self.tree.globals_declared.get(function, set()) | self.tree.nonlocals_declared.get(function, set())
        self.nodes = [node for statement in tail.following for node in _walk(statement)]
        self.env: dict[str, Derived] = {}
        self._tainted = {self.resource}
        following = tail.following
        self._span = (self.tree.order(following[0]), self.tree.end_order(following[-1])) if following else (0, -1)
        self.bindings: list[tuple[cst.BaseExpression, Callable[[], Derived]]] = []
        # Names assigned in the block: what they hold is made there, unless read after it.
        self.fresh: set[str] = set()
        for node in self.nodes:
            self._collect(node)
        self.fresh -= self.declared
        self._settle()

    # -- bindings ----------------------------------------------------------------------

    def _collect(self, node: cst.CSTNode) -> None:
        add = self.bindings.append
        if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.NamedExpr, cst.For, cst.CompFor)):
            self.fresh.update(name.value for target in _targets(node) for name in _bound_names(target))
        elif isinstance(node, cst.WithItem) and node.asname is not None and isinstance(node.asname.name, cst.BaseExpression):
            self.fresh.update(name.value for name in _bound_names(node.asname.name))
        elif isinstance(node, cst.FunctionDef):
            self.fresh.add(node.name.value)
        if isinstance(node, cst.Assign):
            for target in node.targets:
                self._collect_assignment(target.target, node.value)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and node.value is not None:
            self._collect_assignment(node.target, node.value)
        elif isinstance(node, cst.NamedExpr):
            self._collect_assignment(node.target, node.value)
        elif isinstance(node, (cst.For, cst.CompFor)):
            iterable = node.iter
            add((node.target, lambda: _element(self.classify(iterable))))
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            item, bound = node.item, node.asname.name
            if isinstance(bound, cst.BaseExpression):
                add((bound, lambda: self.classify(item)))
        elif isinstance(node, cst.FunctionDef):
            add((node.name, lambda: Derived(True, self.session) if self._reads(node) else PLAIN))
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            receiver, method = node.func.value, node.func.attr.value
            values = [arg.value for arg in node.args]
            if _is_name(receiver, self.resource):
                if self.session and method in ATTACHING_METHODS:
                    for value in values:
                        for name in _names_in_display(value):
                            add((name, self._attached(name.value)))
            elif method in CONTAINER_METHODS and isinstance(receiver, cst.Name):
                add((receiver, lambda: self._join(values)))

    def _attached(self, name: str) -> Callable[[], Derived]:
        """What ``name`` holds once it is added to the session: an instance of its class."""
        return lambda: Derived(orm=True, entity=self._constructed_class(name))

    def _collect_assignment(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)):
            targets, values = target.elements, value.elements
            if len(targets) == len(values) and not any(isinstance(e, cst.StarredElement) for e in (*targets, *values)):
                for element, item in zip(targets, values):
                    self._collect_assignment(element.value, item.value)
                return
        self.bindings.append((target, lambda: self.classify(value)))

    def _settle(self) -> None:
        for _ in range(50):
            before = dict(self.env)
            for target, value in self.bindings:
                self._bind(target, value())
            if self.env == before:
                return

    def _bind(self, target: cst.BaseExpression, value: Derived) -> None:
        if not value.escapes:
            return
        if isinstance(target, cst.Name):
            name = target.value
            if name != self.resource:
                self.env[name] = self.env[name] | value if name in self.env else value
                if self.env[name].escapes:
                    self._tainted.add(name)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind(element.value, value.without_entity())
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value, value.without_entity())
        elif isinstance(target, (cst.Attribute, cst.Subscript)):
            root = _root(target)
            if root is not None and root.value in self.fresh and root.value != self.resource:
                self._bind(root, value.without_entity())

    def _constructed_class(self, name: str) -> str | None:
        """The module class that every assignment of ``name`` in the block constructs, if one."""
        values = [
            value
            for assignment in self.tree.assignments_in.get(self.function, ())
            if self._within(assignment)
            for target, value in assigned_targets(assignment)
            if _is_name(target, name)
        ]
        classes = {value.func.value if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) else None for value in values}
        found = classes.pop() if len(classes) == 1 else None
        return found if found in self.model.classes else None

    # -- what a value may be -----------------------------------------------------------

    @property
    def tainted(self) -> set[str]:
        """The resource and the names that may hold something read from it."""
        return self._tainted

    def _reads(self, node: cst.CSTNode) -> bool:
        return _reads(node, self.tainted)

    def _join(self, nodes: list[cst.BaseExpression]) -> Derived:
        result = PLAIN
        for node in nodes:
            result = result | self.classify(node)
        return result

    def classify(self, node: cst.BaseExpression) -> Derived:
        if not self._reads(node):
            return PLAIN
        if isinstance(node, cst.Name):
            return Derived(True, self.session) if node.value == self.resource else self.env.get(node.value, PLAIN)
        if isinstance(node, (cst.Await, cst.NamedExpr, cst.StarredElement)):
            inner = node.expression if isinstance(node, cst.Await) else node.value
            return self.classify(inner)
        if isinstance(node, cst.Call):
            return self._classify_call(node)
        if isinstance(node, cst.Attribute):
            return self._classify_attribute(node)
        if isinstance(node, cst.Subscript):
            return self.classify(node.value).without_entity()
        if isinstance(node, _PLAIN_LITERALS):
            return PLAIN
        if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
            return self._join([element.value for element in node.elements]).without_entity()
        if isinstance(node, cst.Dict):
            parts = [p for e in node.elements for p in ((e.key, e.value) if isinstance(e, cst.DictElement) else (e.value,))]
            return self._join(parts).without_entity()
        if isinstance(node, (cst.BinaryOperation, cst.BooleanOperation)):
            return self._join([node.left, node.right]).without_entity()
        if isinstance(node, cst.IfExp):
            return self._join([node.body, node.orelse])
        if isinstance(node, (cst.ListComp, cst.SetComp)):
            return self.classify(node.elt).without_entity()
        if isinstance(node, cst.DictComp):
            return self._join([node.key, node.value]).without_entity()
        return Derived(True, self.session)  # a generator, a lambda, or something unknown

    def _classify_attribute(self, node: cst.Attribute) -> Derived:
        base = self.classify(node.value)
        attribute = node.attr.value
        if base.lazy and attribute in RESULT_PLAIN_ATTRIBUTES:
            return PLAIN
        if base.entity is not None and not base.lazy and self._is_column(base.entity, attribute):
            return PLAIN
        return base.without_entity()

    def _classify_call(self, call: cst.Call) -> Derived:
        func = call.func
        if isinstance(func, cst.Attribute) and self._reads(func.value):
            if _is_name(func.value, self.resource):
                return self._resource_method(func.attr.value, call)
            return self._result_method(self.classify(func.value), func.attr.value, call)
        if self._reads(func):
            return Derived(True, self.session)
        arguments = self._join([arg.value for arg in call.args]).without_entity()
        if isinstance(func, cst.Name) and func.value in PLAIN_BUILTINS:
            return PLAIN
        if isinstance(func, cst.Name) and func.value in MATERIALIZING_BUILTINS:
            return Derived(orm=arguments.orm)
        return arguments  # whatever the callee returns may hold what it was given

    def _resource_method(self, method: str, call: cst.Call) -> Derived:
        if method in RESOURCE_PLAIN_METHODS:
            return PLAIN
        statement = _first_argument(call)
        if method in INSTANCE_METHODS:
            entity = self._class_named(statement) if method != "merge" else None
            return Derived(orm=self.session, entity=entity)
        if method in SCALAR_METHODS or method in RESULT_METHODS:
            orm = self.session and self._statement_orm(statement)
            entity = self._statement_entity(statement) if method in _ENTITY_METHODS else None
            return Derived(lazy=method in RESULT_METHODS, orm=orm, entity=entity if orm else None)
        if method == "query":
            orm = self.session and self._columns_orm(call.args)
            entity = self._class_named(statement) if len(call.args) == 1 else None
            return Derived(True, orm, entity if orm else None)
        if method == "connection":
            return Derived(lazy=True)
        return Derived(True, self.session)

    def _result_method(self, base: Derived, method: str, call: cst.Call) -> Derived:
        if not base.lazy:
            return Derived(orm=base.orm)
        if method in COUNTING_METHODS:
            return PLAIN
        if method in MATERIALIZING_METHODS:
            return Derived(orm=base.orm, entity=base.entity if method in SINGLE_ROW_METHODS else None)
        if method in STATEMENT_REPLACING_METHODS:
            return Derived(True, self.session and self._columns_orm(call.args))
        if method in STATEMENT_COLUMN_METHODS:
            return Derived(True, base.orm or (self.session and self._columns_orm(call.args)))
        if method in STATEMENT_REFINING_METHODS or method == "unique":
            return base
        return base.without_entity()

    # -- what a statement selects ------------------------------------------------------

    def _statement_orm(self, statement: cst.BaseExpression | None, depth: int = 0) -> bool:
        """Whether running ``statement`` through a Session may load mapped instances."""
        if statement is None or depth > 5:
            return True
        if isinstance(statement, cst.Name):
            values = self._local_values(statement.value)
            return len(values) != 1 or self._statement_orm(values[0], depth + 1)
        if not isinstance(statement, cst.Call):
            return True
        func = statement.func
        if isinstance(func, cst.Attribute) and not self._is_sql(func):
            method = func.attr.value
            if method in STATEMENT_REFINING_METHODS:
                return self._statement_orm(func.value, depth + 1)
            if method in STATEMENT_COLUMN_METHODS:
                return self._statement_orm(func.value, depth + 1) or self._columns_orm(statement.args)
            if method in STATEMENT_REPLACING_METHODS:
                return self._columns_orm(statement.args)
            return True
        if self._plain_sql(func):
            return False
        leaf = self._sql_construct(func)
        if leaf in DML_CONSTRUCTS:
            return False
        if leaf in SELECT_CONSTRUCTS:
            return self._columns_orm(statement.args)
        return True

    def _statement_entity(self, statement: cst.BaseExpression | None) -> str | None:
        """The module class ``select(Cls)`` (refined) selects alone."""
        while isinstance(statement, cst.Call) and isinstance(statement.func, cst.Attribute):
            if statement.func.attr.value not in STATEMENT_REFINING_METHODS:
                return None
            statement = statement.func.value
        if isinstance(statement, cst.Call) and self._sql_construct(statement.func) in SELECT_CONSTRUCTS and len(statement.args) == 1:
            return self._class_named(statement.args[0].value)
        return None

    def _columns_orm(self, args: Sequence[cst.Arg]) -> bool:
        return any(arg.star or self._may_be_entity(arg.value) for arg in args if arg.keyword is None)

    def _may_be_entity(self, column: cst.BaseExpression) -> bool:
        """Whether selecting ``column`` may load mapped instances. Literals, SQL functions
        and ``Cls.attribute`` (a column, or a relationship's comparison) do not."""
        if isinstance(column, (*_PLAIN_LITERALS, cst.BinaryOperation, cst.BooleanOperation)):
            return False
        if isinstance(column, cst.Name):
            return column.value not in ("True", "False", "None")
        if isinstance(column, cst.Attribute):
            base = column.value
            if isinstance(base, cst.Attribute) and base.attr.value == "c":
                return False  # table.c.column
            return not (isinstance(base, cst.Name) and base.value[:1].isupper() and not column.attr.value[:1].isupper())
        if isinstance(column, cst.Call):
            if self._plain_sql(column.func):
                return False
            return not (isinstance(column.func, cst.Attribute) and not self._may_be_entity(column.func.value))
        return True

    def _plain_sql(self, func: cst.BaseExpression) -> bool:
        """Whether calling ``func`` builds SQL that is never a mapped entity: ``text()``,
        ``literal()``, ``cast()``, a ``func.*`` SQL function."""
        qualified = self.model.qualified_name(func) or ""
        return qualified.startswith(_SQL_PACKAGES) and (".func." in qualified or last_segment(qualified) in PLAIN_SQL_CONSTRUCTS)

    def _sql_construct(self, func: cst.BaseExpression) -> str | None:
        qualified = self.model.qualified_name(func) or ""
        return last_segment(qualified) if qualified.startswith(_SQL_PACKAGES) else None

    def _is_sql(self, func: cst.BaseExpression) -> bool:
        return self._sql_construct(func) is not None

    def _local_values(self, name: str) -> list[cst.BaseExpression]:
        return [
            value
            for assignment in self.tree.assignments_in.get(self.function, ())
            for target, value in assigned_targets(assignment)
            if isinstance(target, cst.Name) and target.value == name
        ]

    def _class_named(self, node: cst.BaseExpression | None) -> str | None:
        return node.value if isinstance(node, cst.Name) and node.value in self.model.classes else None

    def _is_column(self, class_name: str, attribute: str, depth: int = 0) -> bool:
        """Whether ``class_name`` (defined in this module) maps ``attribute`` as a column."""
        class_def = self.model.classes.get(class_name)
        if class_def is None or depth > 5:
            return False
        for statement in class_def.body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.Assign) and any(_is_name(t.target, attribute) for t in small.targets):
                    return _maps_column(small.value)
                if isinstance(small, cst.AnnAssign) and _is_name(small.target, attribute):
                    if isinstance(small.value, cst.Call):
                        return _maps_column(small.value)
                    return _scalar_annotation(small.annotation.annotation)
        return any(
            isinstance(base.value, cst.Name) and self._is_column(base.value.value, attribute, depth + 1) for base in class_def.bases
        )

    # -- where values leave the block ----------------------------------------------------

    def _within(self, node: cst.CSTNode) -> bool:
        """Whether ``node`` is in the statements after the binding (consecutive siblings)."""
        first, last = self._span
        return first <= self.tree.order(node) <= last

    def _escape(self, node: cst.CSTNode, route: Route, value: Derived, where: str = "") -> Escape:
        text = self.model.source_of(node).strip()
        if "\n" in text or len(text) > 40:
            text = text.split("\n")[0][:37].rstrip() + "..."
        return Escape(node, text, route, where, value)

    def escapes(self) -> list[Escape]:
        found: list[Escape] = []
        for statement in self.tree.returns_in.get(self.function, ()):
            if statement.value is not None and self._within(statement):
                value = self.classify(statement.value)
                if value.escapes:
                    found.append(self._escape(statement.value, Route.RETURNED, value))
        for expression in self.tree.yields_in.get(self.function, ()):
            yielded = expression.value.item if isinstance(expression.value, cst.From) else expression.value
            if yielded is None or _is_name(yielded, self.resource) or not self._within(expression):
                continue  # a yielded session is used while the generator waits: a dependency's contract
            value = self.classify(yielded)
            if value.escapes:
                found.append(self._escape(yielded, Route.YIELDED, value))
        for node in self.nodes:
            found += self._escapes_at(node)
        found += self._read_after_block()
        return found

    def _escapes_at(self, node: cst.CSTNode) -> Iterator[Escape]:
        if isinstance(node, cst.Raise) and node.exc is not None:
            value = self.classify(node.exc)
            if value.escapes:
                yield self._escape(node.exc, Route.RAISED, value)
        elif isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.NamedExpr)) and node.value is not None:
            value = self.classify(node.value)
            if value.escapes:
                for target in _targets(node):
                    for kept in self._outer_targets(target):
                        yield self._escape(node.value, Route.STORED, value, self.model.source_of(kept))
        elif isinstance(node, cst.Call):
            yield from self._escapes_through_call(node)
        elif isinstance(node, cst.FunctionDef) and node.decorators and self._reads(node):
            yield self._escape(node.name, Route.HANDED, Derived(True, self.session), self.model.source_of(node.decorators[0].decorator))

    def _outer_targets(self, target: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
        """The parts of an assignment target that outlive the block."""
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                yield from self._outer_targets(element.value)
        elif isinstance(target, cst.StarredElement):
            yield from self._outer_targets(target.value)
        elif isinstance(target, cst.Name):
            if target.value in self.declared:
                yield target
        else:
            root = _root(target)
            if root is None or root.value not in self.fresh:
                yield target

    def _escapes_through_call(self, call: cst.Call) -> Iterator[Escape]:
        func = call.func
        values = [arg.value for arg in call.args]
        if isinstance(func, cst.Attribute) and _is_name(func.value, self.resource):
            if self.session and func.attr.value in ATTACHING_METHODS:
                for value in values:
                    for item in _display_items(value):
                        if isinstance(item, (cst.Attribute, cst.Subscript)) or (
                            isinstance(item, cst.Name) and item.value not in self.fresh
                        ):
                            yield self._escape(item, Route.ATTACHED, Derived(orm=True))
            return
        if isinstance(func, cst.Attribute) and func.attr.value in CONTAINER_METHODS:
            root = _root(func.value)
            if root is None or root.value not in self.fresh:
                for value in values:
                    derived = self.classify(value)
                    if derived.escapes:
                        yield self._escape(value, Route.ADDED, derived, self.model.source_of(func.value))
            return
        deferring = last_segment(dotted_name(func) or "") in DEFERRING_CALLS
        if deferring or (retains_arguments(call) and self._discarded(call)):
            for value in values:
                derived = self.classify(value)
                if derived.escapes:
                    yield self._escape(value, Route.HANDED, derived, dotted_name(func) or "a call")

    def _discarded(self, call: cst.Call) -> bool:
        """Whether nothing keeps ``call``'s value: ``Thread(...).start()`` on a line of its own."""
        parent = self.tree.parent.get(call)
        if isinstance(parent, cst.Attribute):
            parent = self.tree.parent.get(parent)
            parent = self.tree.parent.get(parent) if isinstance(parent, cst.Call) else parent
        return isinstance(parent, cst.Expr)

    def _read_after_block(self) -> Iterator[Escape]:
        """A name holding something read from the resource, read outside the block."""
        functions: list[FunctionNode] = [self.function, *self.tree.nested_functions.get(self.function, ())]
        for name in sorted(self.tainted - {self.resource}):
            for function in functions:
                for reference in self.tree.names_in.get(function, {}).get(name, ()):
                    if not self._within(reference):
                        yield self._escape(reference, Route.READ_AFTER, self.env[name])
                        break

    # -- the one shape that is the same before and after ---------------------------------

    def ended_before_return(self, escapes: list[Escape]) -> bool:
        """Whether the session's last act ends its transaction, the function returns right
        after, and every value has escaped by then: the original frees the session on
        return too (without a transaction no reference cycle keeps it), which detaches
        its instances just as closing it does."""
        if not self.session or any(escape.value.lazy for escape in escapes):
            return False
        if self.tree.yields_in.get(self.function) or self.tail.block is not self.function.body:
            return False
        following = self.tail.following
        ends = [i for i, statement in enumerate(following) if _ends_transaction(statement, self.resource)]
        if not ends:
            return False
        end = following[ends[-1]]
        if not all(_passive_return(statement) or not self._reads(statement) for statement in following[ends[-1] + 1 :]):
            return False
        exits = [node for node in self.nodes if isinstance(node, (cst.Return, cst.Raise))]
        if not all(self._ended_before(exit) for exit in exits if self.tree.order(exit) < self.tree.order(end)):
            return False
        early = (Route.STORED, Route.ADDED, Route.ATTACHED, Route.HANDED)
        return all(
            escape.route in early or escape.route in (Route.RETURNED, Route.RAISED) for escape in escapes
        )

    def _ended_before(self, exit: cst.Return | cst.Raise) -> bool:
        """Whether ``exit`` (before the last end) passes nothing but names on, and follows
        a ``commit()`` / ``rollback()`` / ``close()`` in its block with no use between."""
        line = self.tree.parent.get(exit)
        block = self.tree.parent.get(line) if line is not None else None
        if not (isinstance(line, cst.SimpleStatementLine) and _passive_return(line)) and self._reads(exit):
            return False
        if not isinstance(block, cst.IndentedBlock):
            return False
        index = next(i for i, statement in enumerate(block.body) if statement is line)
        for statement in reversed(block.body[:index]):
            if _ends_transaction(statement, self.resource):
                return True
            if self._reads(statement):
                return False
        return False

# -- syntax helpers ----------------------------------------------------------------------


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and everything inside it that runs in the same scope (a nested function or
    class is yielded, its body is not), in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            stack.extend(reversed(current.children))


def _reads(node: cst.CSTNode, names: set[str]) -> bool:
    """Whether ``node`` reads any of ``names`` (attribute names and keywords are not reads)."""
    if isinstance(node, cst.Name):
        return node.value in names
    if isinstance(node, cst.Attribute):
        return _reads(node.value, names)
    if isinstance(node, cst.Arg):
        return _reads(node.value, names)
    return any(_reads(child, names) for child in node.children)


def _is_name(node: cst.CSTNode | None, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _root(node: cst.BaseExpression) -> cst.Name | None:
    """``a`` of ``a.b[c].d``."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node if isinstance(node, cst.Name) else None


def _targets(node: cst.Assign | cst.AnnAssign | cst.AugAssign | cst.NamedExpr | cst.For | cst.CompFor) -> list[cst.BaseExpression]:
    return [target.target for target in node.targets] if isinstance(node, cst.Assign) else [node.target]


def _bound_names(target: cst.BaseExpression) -> Iterator[cst.Name]:
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _bound_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _bound_names(target.value)


def _display_items(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The items of ``[a, b]`` / ``(a, b)``, or the value itself."""
    if isinstance(value, (cst.List, cst.Tuple, cst.Set)):
        return [element.value for element in value.elements]
    return [value]


def _names_in_display(value: cst.BaseExpression) -> list[cst.Name]:
    return [item for item in _display_items(value) if isinstance(item, cst.Name)]


def _element(value: Derived) -> Derived:
    """What iterating ``value`` gives: its rows or instances."""
    return Derived(orm=value.orm)


def _first_argument(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in ("statement", "entity"):
            return arg.value
    return None


def _maps_column(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.Call) and last_segment(dotted_name(value.func) or "") in COLUMN_MAPPERS


def _scalar_annotation(annotation: cst.BaseExpression) -> bool:
    """``Mapped[int]``, ``Mapped[str | None]``, ``Mapped[Optional[datetime]]``, or (a
    SQLModel field) ``int | None``."""
    if isinstance(annotation, cst.Subscript) and last_segment(dotted_name(annotation.value) or "") == "Mapped":
        return len(annotation.slice) == 1 and _scalar_type(annotation.slice[0].slice)
    return _scalar_type(annotation)


def _scalar_type(node: cst.BaseSlice | cst.BaseExpression) -> bool:
    if isinstance(node, cst.Index):
        return _scalar_type(node.value)
    if isinstance(node, (cst.Name, cst.Attribute)):
        return last_segment(dotted_name(node) or "") in SCALAR_TYPE_NAMES or _is_name(node, "None")
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return _scalar_type(node.left) and _scalar_type(node.right)
    if isinstance(node, cst.Subscript) and last_segment(dotted_name(node.value) or "") == "Optional":
        return all(_scalar_type(element.slice) for element in node.slice)
    return False


def _ends_transaction(statement: cst.BaseStatement, name: str) -> bool:
    """A line holding only ``name.commit()``, ``.rollback()`` or ``.close()`` (awaited or
    not), or a ``with name.begin():`` block, which commits or rolls back as it ends."""
    if isinstance(statement, cst.With):
        return any(_calls(item.item, name, "begin") for item in statement.items)
    if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1):
        return False
    expression = statement.body[0]
    if not isinstance(expression, cst.Expr):
        return False
    return any(_calls(expression.value, name, method) for method in _TRANSACTION_ENDS)


def _calls(expression: cst.BaseExpression, name: str, method: str) -> bool:
    """Whether ``expression`` is ``name.method()`` or ``await name.method()``."""
    call = expression.expression if isinstance(expression, cst.Await) else expression
    return (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == method
        and _is_name(call.func.value, name)
        and not call.args
    )


def _passive_return(statement: cst.BaseStatement) -> bool:
    """``return a`` / ``return a, b`` / ``return {"a": a}``: names passed on, nothing read
    from them (reading an expired attribute would start a new transaction)."""
    if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1):
        return False
    returned = statement.body[0]
    return isinstance(returned, cst.Return) and (returned.value is None or _passive(returned.value))


def _passive(node: cst.BaseExpression) -> bool:
    if isinstance(node, (cst.Name, *_PLAIN_LITERALS)):
        return True
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("list", "tuple"):
        return len(node.args) == 1 and not node.args[0].keyword and _passive(node.args[0].value)
    if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
        return all(_passive(element.value) for element in node.elements)
    if isinstance(node, cst.Dict):
        return all(
            isinstance(element, cst.DictElement) and _passive(element.key) and _passive(element.value)
            for element in node.elements
        )
    return False
