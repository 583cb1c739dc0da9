"""Who owns a created resource, and does the owner give it back on every path?

This is the one place that decides whether a session, connection, engine or pool is
context-managed, closed in a ``finally`` that covers its uses, closed only on the success
path, returned or yielded to someone else, or stored where some other code must close it.
Every leak rule asks this module; none re-derives the answer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from .blocks import following_statements
from .escapes import ends_transaction, passive_return, transaction_flow
from .model import ModuleModel
from .names import dotted_name, last_segment, mentions
from .symbols import (
    CLEANUP_REGISTRARS,
    CLOSING_WRAPPERS,
    DML_CONSTRUCTS,
    ENGINE_DESCRIPTION_ATTRIBUTES,
    MATERIALIZING_BUILTINS,
    RESULT_EXHAUSTING_METHODS,
    RESULT_PLAIN_ATTRIBUTES,
    SAME_CONNECTION_METHODS,
    Kind,
)
from .syntax import all_params, assigned_targets
from .tree import FunctionNode

_CONTAINER_METHODS = frozenset(
    {"append", "appendleft", "add", "extend", "insert", "put", "put_nowait", "setdefault", "update", "register", "set"}
)
_BRANCH_TYPES = (
    cst.If,
    cst.For,
    cst.While,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Match,
    cst.IfExp,
    cst.BooleanOperation,
)
_CONTAINER_TYPES = (cst.Element, cst.DictElement, cst.List, cst.Tuple, cst.Set, cst.Dict, cst.StarredElement)
_BROAD_EXCEPTIONS = frozenset({"Exception", "BaseException"})
# The first words of SQL statements that return no rows (unless they say RETURNING).
_ROWLESS_SQL = frozenset(
    {"insert", "update", "delete", "create", "drop", "alter", "truncate", "grant", "revoke", "set", "vacuum", "analyze", "comment", "lock"}
)


class Outcome(enum.Enum):
    # Given back, or ownership handed on: not a leak where it was created.
    CONTEXT_MANAGED = "context-managed"
    CLOSED = "closed on every path"
    RETURNED = "returned to the caller"
    STORED_AND_CLOSED = "stored where its owner closes it"
    STORED_GLOBALLY = "stored in a module global"
    STORED_IN_CONTAINER = "stored in a container"
    STORED_ON_INSTANCE = "stored on an instance"
    PASSED_ON = "passed to another call"
    HANDED_IN_NAMESPACE = "handed to a call in a mapping it keeps (a namespace or context)"
    CAPTURED = "captured by a nested function"
    MODULE_LEVEL = "module level"
    # A session whose last act on every path (exceptions included) ends its transaction:
    # SQLAlchemy gives the connection back to the pool at commit and rollback.
    TRANSACTION_ENDED = "ends its transaction as its last act on every path"
    # A result of connectionless ``engine.execute()`` dropped (or read through) at once:
    # nothing keeps it, so its connection goes back as it goes.
    DISCARDED = "dropped at once"
    # A result of ``engine.execute()`` for a statement that returns no rows (an ``UPDATE``,
    # DDL): SQLAlchemy closes its cursor and gives the connection back straight away.
    NO_ROWS = "returns no rows"
    # An engine only read for what describes it (``engine.dialect``, ``engine.url``): it
    # connects lazily, so its pool never opens a connection and there is nothing to give back.
    NEVER_CONNECTS = "never checks out a connection"
    UNKNOWN = "used in a way the analysis does not follow"
    # Leaks.
    ANONYMOUS = "never bound to a name, so nobody can close it"
    NEVER_CLOSED = "never closed"
    SUCCESS_PATH_ONLY = "closed only on the success path"
    SOME_PATHS = "not closed on every path"
    USED_OUTSIDE_TRY = "used outside the try whose finally closes it"
    YIELDED_NOT_CLOSED = "yielded and never closed after the yield"
    YIELDED_SUCCESS_PATH = "closed after the yield only on the success path"
    SELF_NEVER_CLOSED = "stored on self by a class that never closes it"
    ATTRIBUTE_NEVER_CLOSED = "stored on an attribute that this module never closes"
    PASSED_UNCLOSED = "passed straight into a call, and nothing closes it"

    @property
    def leaks(self) -> bool:
        return self in _LEAKS

    @property
    def leaks_only_when_something_raises(self) -> bool:
        """Given back on every path that does not raise: only an exception leaves it open."""
        return self in (Outcome.SUCCESS_PATH_ONLY, Outcome.USED_OUTSIDE_TRY, Outcome.YIELDED_SUCCESS_PATH)


_LEAKS = frozenset(
    {
        Outcome.ANONYMOUS,
        Outcome.NEVER_CLOSED,
        Outcome.SUCCESS_PATH_ONLY,
        Outcome.SOME_PATHS,
        Outcome.USED_OUTSIDE_TRY,
        Outcome.YIELDED_NOT_CLOSED,
        Outcome.YIELDED_SUCCESS_PATH,
        Outcome.SELF_NEVER_CLOSED,
        Outcome.ATTRIBUTE_NEVER_CLOSED,
        Outcome.PASSED_UNCLOSED,
    }
)


@dataclass(frozen=True)
class Ownership:
    outcome: Outcome
    holder: str | None = None  # what holds it: "db", "self.session", "request.state.db"
    closes: tuple[cst.CSTNode, ...] = ()  # the close calls (or loops reading a result to its end) found, for messages and fixes

    @property
    def leaks(self) -> bool:
        return self.outcome.leaks


class _Use(enum.Enum):
    CLOSE = enum.auto()
    MANAGED = enum.auto()
    RETURNED = enum.auto()
    YIELDED = enum.auto()
    ALIAS = enum.auto()
    STORED_GLOBAL = enum.auto()
    STORED_CONTAINER = enum.auto()
    STORED_SELF = enum.auto()
    STORED_ATTRIBUTE = enum.auto()
    STORED_WRAPPED = enum.auto()
    CAPTURED = enum.auto()
    HANDED_IN_NAMESPACE = enum.auto()
    NAMESPACE = enum.auto()  # ``ns = {"db": db}``: a local mapping that holds it
    PLAIN = enum.auto()


@dataclass(frozen=True)
class _Reference:
    use: _Use
    node: cst.CSTNode  # the Name, or the close Call
    detail: str | None = None  # alias name, or stored attribute


class OwnershipAnalysis:
    """Answers ownership questions for resources created in one module."""

    def __init__(self, model: ModuleModel) -> None:
        self.model = model
        self.tree = model.tree

    def of(self, call: cst.Call, closers: frozenset[str]) -> Ownership:
        """The ownership of the resource that ``call`` creates, closed by ``closers`` methods."""
        function = self.tree.enclosing_function.get(call)
        if function is None and self.tree.class_body_of(call) is not None:
            return Ownership(Outcome.MODULE_LEVEL)
        kind = self.model.kind_of(call)
        if kind is Kind.ENGINE_RESULT and _returns_no_rows(self.model, call):
            return Ownership(Outcome.NO_ROWS)
        node, early = self._climb_wrappers(call)
        if early is Outcome.PASSED_ON and kind is not None and kind.is_connection:
            return Ownership(self._passed_straight_on(node))
        if early is not None:
            return Ownership(early)
        parent = self.tree.parent.get(node)
        if isinstance(parent, cst.WithItem) and parent.item is node:
            return Ownership(Outcome.CONTEXT_MANAGED)
        # A result nothing keeps is freed at once, and its connection goes back with it.
        dropped = Outcome.DISCARDED if kind is Kind.ENGINE_RESULT else Outcome.ANONYMOUS
        if isinstance(parent, cst.Attribute) and parent.value is node:
            if parent.attr.value in closers:  # `engine.connect().close()`: given back at once
                return Ownership(Outcome.CLOSED)
            return Ownership(dropped)
        if isinstance(parent, cst.Expr):
            return Ownership(dropped)
        if kind is Kind.ENGINE_RESULT and isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is node:
            return Ownership(Outcome.CLOSED)  # read to its end
        if isinstance(parent, (cst.Return, cst.Lambda)):
            return Ownership(Outcome.RETURNED)
        if isinstance(parent, cst.Yield):
            return Ownership(Outcome.YIELDED_NOT_CLOSED)
        if isinstance(parent, (cst.Assign, cst.AnnAssign, cst.NamedExpr)) and parent.value is node:
            return self._assigned(parent, function, call, closers)
        if isinstance(parent, cst.AssignTarget):
            return Ownership(Outcome.UNKNOWN)
        return Ownership(Outcome.UNKNOWN)

    def _climb_wrappers(self, call: cst.Call) -> tuple[cst.CSTNode, Outcome | None]:
        """Step out through ``await``, ``closing(...)`` and ``.execution_options(...)``
        (which returns the same connection); stop at an ownership hand-off."""
        node: cst.CSTNode = call
        while True:
            parent = self.tree.parent.get(node)
            if isinstance(parent, cst.Await):
                node = parent
                continue
            if isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value in SAME_CONNECTION_METHODS:
                chained = self.tree.parent.get(parent)
                if isinstance(chained, cst.Call) and chained.func is parent:
                    node = chained
                    continue
            if isinstance(parent, cst.Arg):
                outer = self.tree.parent.get(parent)
                if not isinstance(outer, cst.Call):
                    return node, Outcome.UNKNOWN
                if self.model.qualified_name(outer.func) in CLOSING_WRAPPERS:
                    node = outer
                    continue
                if isinstance(outer.func, cst.Attribute) and outer.func.attr.value in CLEANUP_REGISTRARS:
                    return node, Outcome.CONTEXT_MANAGED
                return node, Outcome.PASSED_ON
            return node, None

    def _passed_straight_on(self, argument: cst.CSTNode) -> Outcome:
        """A new connection handed straight to a library call, ``MigrationContext.configure(
        engine.connect())`` or ``pd.read_sql(q, engine.connect())``: such calls use the
        connection they are given and never close it, so it leaks unless what the call
        returns is closed, kept or handed on. A call into the project (or one that cannot be
        resolved) may close its argument, so it is not judged here."""
        outer = self.tree.parent.get(self.tree.parent.get(argument))
        assert isinstance(outer, cst.Call)
        if not self._library_call(outer):
            return Outcome.PASSED_ON
        node, early = self._climb_wrappers(outer)
        if early is not None:
            return Outcome.PASSED_ON
        parent = self.tree.parent.get(node)
        if isinstance(parent, cst.Expr) or (isinstance(parent, cst.Attribute) and parent.value is node):
            return Outcome.PASSED_UNCLOSED
        if isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is node:
            target = parent.targets[0].target if isinstance(parent, cst.Assign) else parent.target
            function = self.tree.enclosing_function.get(outer)
            if (
                isinstance(target, cst.Name)
                and function is not None
                and target.value not in self.tree.globals_declared.get(function, ())
                and not self._holder_closed_or_kept(function, target.value, outer)
            ):
                return Outcome.PASSED_UNCLOSED
        return Outcome.PASSED_ON

    def _library_call(self, call: cst.Call) -> bool:
        """Whether ``call`` resolves through imports to code outside the project. Without a
        project index, only this module's own package counts as the project."""
        if self.model.function_called(call) is not None:
            return False
        qualified = self.model.qualified_name(call.func)
        if qualified is None or qualified.startswith("."):
            return False  # local, or a relative import: the project's own
        own_root = self.model.module_name.partition(".")[0]
        if own_root and qualified.partition(".")[0] == own_root:
            return False
        index = self.model.index
        if index is None:
            return True
        parts = qualified.split(".")
        project = getattr(index, "modules", {})
        return index.function(qualified) is None and not any(".".join(parts[:cut]) in project for cut in range(1, len(parts)))

    def _holder_closed_or_kept(self, function: FunctionNode, name: str, created: cst.Call) -> bool:
        """Whether the local holding what a call made of the connection closes it (``ctx.close()``,
        ``ctx.connection.close()``), or hands it on, so the connection may be closed with it."""
        for reference in self._references(function, name, created, frozenset()):
            if reference.use is not _Use.PLAIN:
                return True
            attribute = self.tree.parent.get(reference.node)
            while isinstance(attribute, cst.Attribute):
                if attribute.attr.value in ("close", "dispose", "__exit__", "invalidate"):
                    return True
                attribute = self.tree.parent.get(attribute)
        return False

    def _assigned(
        self,
        assignment: cst.Assign | cst.AnnAssign | cst.NamedExpr,
        function: FunctionNode | None,
        call: cst.Call,
        closers: frozenset[str],
    ) -> Ownership:
        if isinstance(assignment, cst.Assign):
            target = assignment.targets[0].target
        else:
            target = assignment.target
        if isinstance(target, cst.Name):
            if function is None:
                return self._module_global(target.value, closers)
            if target.value in self.tree.globals_declared.get(function, ()):
                return Ownership(Outcome.STORED_GLOBALLY, target.value)
            return self._local(function, target.value, call, closers)
        if isinstance(target, cst.Attribute):
            return self._stored_on_attribute(target, call, closers)
        if isinstance(target, cst.Subscript):
            return Ownership(Outcome.STORED_IN_CONTAINER, dotted_name(target))
        return Ownership(Outcome.UNKNOWN)

    def _module_global(self, name: str, closers: frozenset[str]) -> Ownership:
        """A module-level resource lives for the process: a leak only if nothing ever closes it."""
        closes = tuple(call for receiver, call in self.model.closing_receivers(closers) if receiver == name)
        if closes or self._handed_to_cleanup({name}):
            return Ownership(Outcome.CLOSED, name, closes)
        return Ownership(Outcome.NEVER_CLOSED, name)

    # -- attributes ----------------------------------------------------------------------

    def _stored_on_attribute(self, target: cst.Attribute, site: cst.CSTNode, closers: frozenset[str]) -> Ownership:
        holder = dotted_name(target) or target.attr.value
        attribute = target.attr.value
        if isinstance(target.value, cst.Name) and target.value.value in ("self", "cls"):
            owner = self.model.class_for_receiver(target.value, site)
            if owner is not None and self.class_closes(owner, attribute, closers):
                return Ownership(Outcome.STORED_AND_CLOSED, holder)
            if owner is None:
                return Ownership(Outcome.STORED_ON_INSTANCE, holder)
            return Ownership(Outcome.SELF_NEVER_CLOSED, holder)
        if self.module_closes_attribute(attribute, closers):
            return Ownership(Outcome.STORED_AND_CLOSED, holder)
        return Ownership(Outcome.ATTRIBUTE_NEVER_CLOSED, holder)

    def class_closes(self, owner: cst.ClassDef, attribute: str, closers: frozenset[str]) -> bool:
        """Whether some method of ``owner`` closes ``self.<attribute>``."""
        receivers = {f"self.{attribute}", f"cls.{attribute}", f"{owner.name.value}.{attribute}"}
        for receiver, call in self.model.closing_receivers(closers):
            if receiver not in receivers:
                continue
            function = self.tree.function_of(call)
            while function is not None:
                if self.tree.class_of_function(function) is owner:
                    return True
                function = self.tree.enclosing_function.get(function)
        return self._handed_to_cleanup(receivers)

    def _handed_to_cleanup(self, receivers: set[str]) -> bool:
        """``stack.enter_context(self.x)``, ``closing(self.x)``, ``stack.callback(self.x.close)``."""
        for call in self.tree.calls:
            func = call.func
            registrar = isinstance(func, cst.Attribute) and func.attr.value in CLEANUP_REGISTRARS
            wrapper = self.model.qualified_name(func) in CLOSING_WRAPPERS
            if not (registrar or wrapper):
                continue
            for arg in call.args:
                written = dotted_name(arg.value) or ""
                if written in receivers or written.rpartition(".")[0] in receivers:
                    return True
        return False

    def module_closes_attribute(self, attribute: str, closers: frozenset[str]) -> bool:
        """Whether this module closes ``<anything>.<attribute>`` (middleware, teardown hooks)."""
        closing_functions: set[FunctionNode | None] = set()
        for receiver, call in self.model.closing_receivers(closers):
            if last_segment(receiver) == attribute:
                return True
            closing_functions.add(self.tree.function_of(call))
        # ``db = g.pop("db", None); db.close()`` and ``getattr(request.state, "db")``.
        for call in self.tree.calls:
            func = call.func
            key_arg = None
            if isinstance(func, cst.Attribute) and func.attr.value in ("pop", "get") and call.args:
                key_arg = call.args[0].value
            elif isinstance(func, cst.Name) and func.value == "getattr" and len(call.args) >= 2:
                key_arg = call.args[1].value
            if isinstance(key_arg, cst.SimpleString) and key_arg.evaluated_value == attribute:
                if self.tree.function_of(call) in closing_functions:
                    return True
        return False

    # -- locals --------------------------------------------------------------------------

    def _local(self, function: FunctionNode, name: str, call: cst.Call, closers: frozenset[str]) -> Ownership:
        references = self._references(function, name, call, closers)
        close_calls = tuple(r.node for r in references if r.use is _Use.CLOSE)
        others = [r for r in references if r.use is not _Use.CLOSE]
        names = {name} | {r.detail for r in references if r.use is _Use.ALIAS and r.detail}
        guard = self._covering_finally(close_calls, others, function, names, call)
        if guard is not None:
            return Ownership(Outcome.CLOSED, name, close_calls)

        uses = {reference.use for reference in references}
        # Kept for good beats returned: ``_engines[url] = engine; return engine`` is a
        # memoised factory, and its callers do not own what it hands them.
        for handed_on, outcome in (
            (_Use.MANAGED, Outcome.CONTEXT_MANAGED),
            (_Use.STORED_GLOBAL, Outcome.STORED_GLOBALLY),
            (_Use.STORED_CONTAINER, Outcome.STORED_IN_CONTAINER),
            (_Use.RETURNED, Outcome.RETURNED),
            (_Use.STORED_WRAPPED, Outcome.STORED_ON_INSTANCE),
            (_Use.HANDED_IN_NAMESPACE, Outcome.HANDED_IN_NAMESPACE),
            (_Use.CAPTURED, Outcome.CAPTURED),
        ):
            if handed_on in uses:
                return Ownership(outcome, name, close_calls)

        holder = name
        for reference in references:
            if reference.use in (_Use.STORED_SELF, _Use.STORED_ATTRIBUTE):
                stored = self._stored_reference(reference, closers)
                if not stored.leaks:
                    return Ownership(stored.outcome, stored.holder, close_calls)
                holder = stored.holder or name
                if not close_calls:
                    return Ownership(stored.outcome, holder)

        yields = [r.node for r in references if r.use is _Use.YIELDED]
        if yields:
            return self._yielded(function, name, yields, close_calls, names, call)
        kind = self.model.kind_of(call)
        if kind is not None and kind.is_engine and references and all(self._describes_engine_only(r) for r in references):
            return Ownership(Outcome.NEVER_CONNECTS, holder)
        if kind is Kind.ENGINE_RESULT and references and all(self._counts_rows_only(r) for r in references):
            return Ownership(Outcome.NO_ROWS, holder)  # only ``rowcount`` read: a statement without rows
        if kind is not None and kind.is_session and self._ends_transaction_on_every_path(function, name, call, references):
            return Ownership(Outcome.TRANSACTION_ENDED, holder, close_calls)
        if not close_calls:
            return Ownership(Outcome.NEVER_CLOSED, holder)
        if self._closed_in_fixture_teardown(function, call, close_calls, names):
            return Ownership(Outcome.CLOSED, holder, close_calls)
        if any(self._finally_try(close, function) is not None for close in close_calls):
            if all(self._unconditional_in_finally(c, function, names, call) for c in close_calls if self._finally_try(c, function)):
                return Ownership(Outcome.USED_OUTSIDE_TRY, holder, close_calls)
            return Ownership(Outcome.SOME_PATHS, holder, close_calls)
        if self._closed_in_handler_and_after(call, close_calls, function):
            return Ownership(Outcome.CLOSED, holder, close_calls)
        if kind is Kind.ENGINE_RESULT and any(self._next_statement(call, close) for close in close_calls):
            # Read to its end straight away: an error while reading closes it too.
            return Ownership(Outcome.CLOSED, holder, close_calls)
        if any(
            self._next_statement(call, close) and all(self.tree.order(r.node) > self.tree.order(close) for r in others)
            for close in close_calls
        ):
            # Opened and closed in the next statement, unused between (a connectivity
            # probe): no statement can raise in between, so no path skips the close.
            return Ownership(Outcome.CLOSED, holder, close_calls)
        if any(self._straight_line(close, call, function) for close in close_calls):
            return Ownership(Outcome.SUCCESS_PATH_ONLY, holder, close_calls)
        return Ownership(Outcome.SOME_PATHS, holder, close_calls)

    def _covering_finally(
        self,
        closes: tuple[cst.CSTNode, ...],
        others: list[_Reference],
        function: FunctionNode,
        names: set[str],
        created: cst.Call,
    ) -> cst.CSTNode | None:
        """A ``try`` whose ``finally`` always closes the resource and contains every other use."""
        for close in closes:
            guard = self._finally_try(close, function)
            if (
                guard is not None
                and self._unconditional_in_finally(close, function, names, created)
                and all(self.tree.contains(guard, r.node) for r in others)
            ):
                return guard
        return None

    def _unconditional_in_finally(self, close: cst.CSTNode, function: FunctionNode, names: set[str], created: cst.Call) -> bool:
        """False for ``finally: if succeeded: s.close()``; fine where the test holds whenever
        the resource was created (see ``_holds_once_created``)."""
        for ancestor in self.tree.ancestors(close):
            if isinstance(ancestor, cst.Finally) or ancestor is function:
                return True
            if isinstance(ancestor, _BRANCH_TYPES):
                test = getattr(ancestor, "test", None)
                if test is None or not self._holds_once_created(test, created, function, names):
                    return False
        return True

    # -- the ownership flag ----------------------------------------------------------------

    def _holds_once_created(self, test: cst.BaseExpression, created: cst.Call, function: FunctionNode, names: set[str]) -> bool:
        """Whether ``test`` is true whenever ``created`` ran, so a close it guards always runs:

        - it mentions the resource (``if s is not None:``);
        - it repeats the test that chose to create it, whose names nothing assigns again
          (``own = session is None`` / ``if own: session = Session()`` / ``finally: if own:``);
        - it reads a flag set to ``True`` next to the creation, in its block with no call
          between, and only ever set to literals (``session = Session(); own = True`` /
          ``finally: if own:``).
        """
        if mentions(test, names):
            return True
        if isinstance(test, cst.BooleanOperation):
            left = self._holds_once_created(test.left, created, function, names)
            right = self._holds_once_created(test.right, created, function, names)
            return (left and right) if isinstance(test.operator, cst.And) else (left or right)
        if self._repeats_creating_test(test, created, function):
            return True
        return isinstance(test, cst.Name) and self._flag_set_on_creation(test.value, created, function)

    def _repeats_creating_test(self, test: cst.BaseExpression, created: cst.Call, function: FunctionNode) -> bool:
        """Whether ``test`` asks what the condition that chose to create the resource asked,
        with nothing assigned since to change the answer. A flag assigned once stands for its
        value (``own = session is None``), and "``X`` is absent" reads the same however it is
        spelled (``X is None``, ``not X``, or ``X or Session()``: a session is always true)."""
        flag = self._single_value(test, function) if isinstance(test, cst.Name) else None
        meaning = self._condition_meaning(test, function)
        for condition, anchor in self._creating_conditions(created, function):
            if self._condition_meaning(condition, function) != meaning:
                continue
            anchored = self.tree.order(anchor)
            if flag is not None:
                if self.tree.order(flag[0]) < anchored:
                    return True
            elif not any(self._assigned_after(node.value, anchored, function) for node in _names_in(test)):
                return True
        return False

    def _creating_conditions(self, created: cst.Call, function: FunctionNode) -> Iterator[tuple[cst.BaseExpression, cst.CSTNode]]:
        """The conditions under which ``created`` runs, each with the node that tests it:
        ``if C:`` around it, and ``X or <created>`` (which runs it when ``X`` is absent)."""
        previous: cst.CSTNode = created
        for ancestor in self.tree.ancestors(created):
            if ancestor is function:
                return
            if isinstance(ancestor, cst.If) and ancestor.body is previous:
                yield ancestor.test, ancestor
            elif (
                isinstance(ancestor, cst.BooleanOperation)
                and isinstance(ancestor.operator, cst.Or)
                and ancestor.right is previous
                and isinstance(ancestor.left, cst.Name)
            ):
                yield cst.UnaryOperation(operator=cst.Not(), expression=ancestor.left), ancestor
            previous = ancestor

    def _single_value(self, name: cst.Name, function: FunctionNode) -> tuple[cst.CSTNode, cst.BaseExpression] | None:
        """The assignment and value of a local (not a parameter) assigned exactly once."""
        if isinstance(function, cst.FunctionDef) and any(param.name.value == name.value for param in all_params(function.params)):
            return None
        found = [
            (assignment, value)
            for assignment in self.tree.assignments_in.get(function, ())
            for target, value in assigned_targets(assignment)
            if isinstance(target, cst.Name) and target.value == name.value
        ]
        return found[0] if len(found) == 1 else None

    def _condition_meaning(self, condition: cst.BaseExpression, function: FunctionNode) -> str:
        if isinstance(condition, cst.Name) and (flag := self._single_value(condition, function)) is not None:
            condition = flag[1]
        absent = _absent_name(condition)
        return f"absent:{absent}" if absent is not None else self.model.source_of(condition).strip()

    def _assigned_after(self, name: str, after: int, function: FunctionNode) -> bool:
        return any(
            self.tree.order(node) > after
            for assignment in self.tree.assignments_in.get(function, ())
            for target, _ in assigned_targets(assignment)
            for node in _names_in(target)
            if node.value == name
        )

    def _flag_set_on_creation(self, flag: str, created: cst.Call, function: FunctionNode) -> bool:
        values = [
            (assignment, value)
            for assignment in self.tree.assignments_in.get(function, ())
            for target, value in assigned_targets(assignment)
            if isinstance(target, cst.Name) and target.value == flag
        ]
        if not values or not all(isinstance(value, cst.Name) and value.value in ("True", "False", "None") for _, value in values):
            return False
        sequence = self._straight_sequence(self.tree.statement_of(created))
        if sequence is None:
            return False
        made = sequence.index(self.tree.statement_of(created))
        for assignment, value in values:
            statement = self.tree.statement_of(assignment)
            if not (isinstance(value, cst.Name) and value.value == "True") or statement not in sequence:
                continue
            start, end = sorted((made, sequence.index(statement)))
            if not any(_has_call(between) for between in sequence[start + 1 : end]):
                return True  # just before (nothing exists yet if the creation raises) or just after
        return False

    def _straight_sequence(self, statement: cst.CSTNode) -> list[cst.CSTNode] | None:
        """The statements run one after another around ``statement``: its block's, with
        each line's small statements in turn (``session = Session(); own = True``)."""
        container = self.tree.parent.get(statement)
        if isinstance(container, cst.SimpleStatementSuite):
            return list(container.body)
        block = self.tree.parent.get(container) if isinstance(container, cst.SimpleStatementLine) else None
        if block is None:
            return None
        sequence: list[cst.CSTNode] = []
        for line in getattr(block, "body", ()):
            sequence.extend(line.body if isinstance(line, cst.SimpleStatementLine) else [line])
        return sequence

    def _line_of(self, node: cst.CSTNode) -> cst.SimpleStatementLine | None:
        for ancestor in self.tree.ancestors(node):
            if isinstance(ancestor, cst.SimpleStatementLine):
                return ancestor
        return None

    # -- pytest fixtures ---------------------------------------------------------------------

    def _closed_in_fixture_teardown(
        self, function: FunctionNode, created: cst.Call, closes: tuple[cst.CSTNode, ...], names: set[str]
    ) -> bool:
        """A resource a pytest fixture makes, and closes after its ``yield``: pytest resumes
        the fixture for its teardown even when the test failed (``connection = engine.connect();
        session = Session(bind=connection); yield session; ...; connection.close()``)."""
        if not self.model.is_pytest_fixture(function):
            return False
        made = self.tree.order(created)
        yields = [y for y in self.tree.yields_in.get(function, ()) if self.tree.order(y) > made]
        for close in closes:
            for yielded in yields:
                if self.tree.order(close) <= self.tree.order(yielded):
                    continue
                guard = self._finally_try(close, function)
                if guard is not None:
                    if self.tree.contains(guard, yielded) and self._unconditional_in_finally(close, function, names, created):
                        return True
                elif self._straight_line(close, created, function) and self._straight_line(yielded, created, function):
                    return True
        return False

    def _stored_reference(self, reference: _Reference, closers: frozenset[str]) -> Ownership:
        assignment = self.tree.parent.get(reference.node)
        target: cst.BaseExpression | None = None
        if isinstance(assignment, cst.Assign):
            target = assignment.targets[0].target
        elif isinstance(assignment, (cst.AnnAssign, cst.NamedExpr)):
            target = assignment.target
        if isinstance(target, cst.Attribute):
            return self._stored_on_attribute(target, reference.node, closers)
        return Ownership(Outcome.UNKNOWN)

    def _yielded(
        self,
        function: FunctionNode,
        name: str,
        yields: list[cst.CSTNode],
        closes: tuple[cst.CSTNode, ...],
        names: set[str],
        created: cst.Call,
    ) -> Ownership:
        # pytest resumes a fixture after its yield even when the test failed.
        teardown_always_runs = self.model.is_pytest_fixture(function)
        for yielded in yields:
            protected = any(
                (guard := self._finally_try(close, function)) is not None and self.tree.contains(guard, yielded)
                for close in closes
            )
            if protected:
                continue
            if any(self.tree.order(close) > self.tree.order(yielded) for close in closes):
                if teardown_always_runs:
                    continue
                return Ownership(Outcome.YIELDED_SUCCESS_PATH, name, closes)
            return Ownership(Outcome.YIELDED_NOT_CLOSED, name, closes)
        return Ownership(Outcome.CLOSED, name, closes)

    def _references(
        self, function: FunctionNode, name: str, call: cst.Call, closers: frozenset[str]
    ) -> list[_Reference]:
        """Every later reference to ``name`` (and its aliases) in ``function``, classified."""
        created_at = self.tree.order(call)
        references: list[_Reference] = []
        pending, seen = [(name, False)], {name}
        while pending:
            current, in_namespace = pending.pop()
            for ref in self.tree.names_in.get(function, {}).get(current, ()):
                if self.tree.order(ref) <= created_at:
                    continue
                reference = self._classify(ref, function, closers, in_namespace)
                if reference.use is _Use.NAMESPACE and reference.detail in seen:
                    continue  # ``ns = {**ns, ...}``: the mapping again
                references.append(reference)
                if reference.use in (_Use.ALIAS, _Use.NAMESPACE) and reference.detail and reference.detail not in seen:
                    seen.add(reference.detail)
                    pending.append((reference.detail, in_namespace or reference.use is _Use.NAMESPACE))
            for nested in self.tree.nested_functions.get(function, ()):
                if self.tree.names_in.get(nested, {}).get(current):
                    references.append(_Reference(_Use.CAPTURED, nested))
        return references

    def _classify(self, ref: cst.Name, function: FunctionNode, closers: frozenset[str], in_namespace: bool = False) -> _Reference:
        """How one reference to the resource (or, with ``in_namespace``, to a local mapping
        that holds it) uses it. This is the one classifier of escapes of the resource itself.

        A mapping display that holds the resource (``{"db": db}``), handed to a call,
        directly or through a local, is a namespace or a context the callee keeps: IPython's
        ``start_ipython(user_ns=...)``, ``code.interact(local=...)``, a thread's ``kwargs``.
        Ownership goes with it, as it does for ``ns["db"] = db``. The resource itself passed
        to a call (``helper(db)``) is only used by it."""
        parent = self.tree.parent.get(ref)
        node: cst.CSTNode = ref
        if in_namespace:
            if isinstance(parent, (cst.Attribute, cst.Subscript)) and parent.value is ref:
                return _Reference(_Use.PLAIN, ref)  # ``ns["db"]``, ``ns.get("db")``: read, not handed on
        elif isinstance(parent, cst.Attribute) and parent.value is ref:
            method = parent.attr.value
            grandparent = self.tree.parent.get(parent)
            called = isinstance(grandparent, cst.Call) and grandparent.func is parent
            if method in closers or method in ("__exit__", "__aexit__"):
                if called and isinstance(grandparent, cst.Call):
                    return _Reference(_Use.CLOSE, grandparent)
                return _Reference(_Use.MANAGED, ref)  # a close handed over as a callback
            if not (called and method in SAME_CONNECTION_METHODS):
                return _Reference(_Use.PLAIN, ref)
            assert isinstance(grandparent, cst.Call)
            node = grandparent  # ``conn.execution_options(...)`` is ``conn`` again
        if closers >= RESULT_EXHAUSTING_METHODS and self._reads_to_the_end(ref):
            return _Reference(_Use.CLOSE, self.tree.parent.get(ref) or ref)  # a result read to its end

        wrapped = False
        called = False  # passed through a call's arguments, so what comes out is its result
        namespace = in_namespace  # in a mapping display (or a local holding one), not yet through a call
        while True:
            parent = self.tree.parent.get(node)
            if isinstance(parent, cst.Await) or isinstance(parent, _CONTAINER_TYPES):
                namespace = namespace or (isinstance(parent, cst.DictElement) and parent.value is node)
                node = parent
                wrapped = wrapped or not isinstance(parent, cst.Await)
                continue
            if isinstance(parent, cst.Arg):
                outer = self.tree.parent.get(parent)
                if not isinstance(outer, cst.Call):
                    return _Reference(_Use.PLAIN, ref)
                if namespace and not called and not parent.star:
                    return _Reference(_Use.HANDED_IN_NAMESPACE, ref)
                if self.model.qualified_name(outer.func) in CLOSING_WRAPPERS:
                    return _Reference(_Use.MANAGED, ref)
                if isinstance(outer.func, cst.Attribute):
                    method = outer.func.attr.value
                    if method in CLEANUP_REGISTRARS:
                        return _Reference(_Use.MANAGED, ref)
                    if method in _CONTAINER_METHODS:
                        return _Reference(_Use.STORED_CONTAINER, ref)
                node = outer
                wrapped = called = True
                continue
            break

        if isinstance(parent, cst.WithItem) and parent.item is node:
            return _Reference(_Use.MANAGED, ref)
        if isinstance(parent, cst.Return):
            return _Reference(_Use.RETURNED, ref)
        if isinstance(parent, cst.Yield):
            return _Reference(_Use.YIELDED, parent)
        if isinstance(parent, (cst.Assign, cst.AnnAssign, cst.NamedExpr)) and parent.value is node:
            target = parent.targets[0].target if isinstance(parent, cst.Assign) else parent.target
            if isinstance(target, cst.Name):
                if target.value in self.tree.globals_declared.get(function, ()):
                    return _Reference(_Use.STORED_GLOBAL, ref)
                if namespace and not called:
                    return _Reference(_Use.NAMESPACE, ref, target.value)
                return _Reference(_Use.PLAIN if wrapped else _Use.ALIAS, ref, target.value)
            if isinstance(target, cst.Subscript):
                return _Reference(_Use.STORED_CONTAINER, ref)
            if isinstance(target, cst.Attribute):
                if wrapped:
                    return _Reference(_Use.STORED_WRAPPED, ref)
                is_self = isinstance(target.value, cst.Name) and target.value.value in ("self", "cls")
                return _Reference(_Use.STORED_SELF if is_self else _Use.STORED_ATTRIBUTE, ref, target.attr.value)
            if called and isinstance(target, (cst.Tuple, cst.List)):
                return _Reference(_Use.PLAIN, ref)  # ``a, b = helper(conn)`` unpacks what the call returned
            return _Reference(_Use.STORED_CONTAINER, ref)
        return _Reference(_Use.PLAIN, ref)

    # -- a transaction ended on every path ---------------------------------------------------

    def _ends_transaction_on_every_path(
        self, function: FunctionNode, name: str, created: cst.Call, references: list[_Reference]
    ) -> bool:
        """Whether the session's last act on every path, exceptions included, ends its
        transaction, so its connection is back in the pool without ``close()``:

        - ``s = Session(); try: ...; s.commit()`` with every ``except`` (one of them broad)
          calling ``s.rollback()``, and nothing after; or
        - ``try: ... finally: s.rollback()``;

        the ``try`` right after the session, or as the body of a loop there (one unit of
        work per iteration);

        every use inside that ``try``, and after each end nothing touches the session or
        anything read from it (an expired instance's attribute begins a new transaction,
        ``s.commit(); return user.id``). A ``return`` that passes names on reads nothing.
        """
        if self.tree.yields_in.get(function):
            return False
        tail = following_statements(self.model, created)
        if tail is None or tail.name != name:
            return False
        attempt = next(
            (
                statement
                for top in tail.following
                for statement in _tries_run_in_turn(top)
                if all(self.tree.contains(statement, r.node) for r in references)
            ),
            None,
        )
        if attempt is None:
            return False
        regions = self._before_each_end(attempt, name)
        if regions is None:
            return False
        tainted = transaction_flow(self.model, tail)
        made = self.tree.order(created)
        for nested in self.tree.nested_functions.get(function, ()):
            if any(self.tree.names_in.get(nested, {}).get(held) for held in tainted):
                return False
        for held in tainted:
            for ref in self.tree.names_in.get(function, {}).get(held, ()):
                order = self.tree.order(ref)
                if order <= made or any(start <= order < end for start, end in regions):
                    continue
                if self._in_an_end(ref, name):
                    continue
                return False
        return True

    def _in_an_end(self, ref: cst.Name, name: str) -> bool:
        """Whether ``ref`` is in a statement that ends the transaction (a second
        ``rollback()`` or a ``close()`` reads nothing) or passes names on (``return user``)."""
        small = self.tree.statement_of(ref)
        if not isinstance(small, cst.BaseSmallStatement):
            return False
        line = cst.SimpleStatementLine(body=[small])
        return ends_transaction(line, name) or passive_return(line)

    def _before_each_end(self, attempt: cst.Try, name: str) -> list[tuple[int, int]] | None:
        """The spans of ``attempt`` that run before the transaction's end on their path, or
        None where some path can leave the ``try`` without ending it."""
        if attempt.finalbody is not None:
            end = _last_end(attempt.finalbody.body, name)
            if end is not None:
                return [(self.tree.order(attempt), self.tree.order(end))]
        end = _last_end(attempt.body, name)
        if end is None or not attempt.handlers or not any(_is_broad(h) for h in attempt.handlers):
            return None
        if not self._every_exit_ended(attempt.body, end, name):
            return None
        regions = [(self.tree.order(attempt.body), self.tree.order(end))]
        for handler in attempt.handlers:
            handled = _last_end(handler.body, name)
            if handled is None or not self._every_exit_ended(handler.body, handled, name):
                return None
            regions.append((self.tree.order(handler), self.tree.order(handled)))
        return regions

    def _every_exit_ended(self, block: cst.BaseSuite, end: cst.CSTNode, name: str) -> bool:
        """Whether each ``return`` / ``break`` / ``continue`` in ``block`` before ``end``
        directly follows a line that ends the transaction."""
        limit = self.tree.order(end)
        for node in _walk_scope(block):
            if not isinstance(node, (cst.Return, cst.Break, cst.Continue)) or self.tree.order(node) > limit:
                continue
            if isinstance(node, (cst.Break, cst.Continue)) and any(
                isinstance(a, (cst.For, cst.While)) and self.tree.contains(block, a) for a in self.tree.ancestors(node)
            ):
                continue  # it leaves a loop inside the block, not the block
            line = self._line_of(node)
            body = self.tree.parent.get(line) if line is not None else None
            siblings = list(getattr(body, "body", ()))
            index = siblings.index(line) if line in siblings else 0
            if index == 0 or not ends_transaction(siblings[index - 1], name):
                return False
        return True

    def _next_statement(self, created: cst.Call, close: cst.CSTNode) -> bool:
        """Whether ``close`` is on the line that creates, or is the statement right after it."""
        line = self._line_of(created)
        if line is None:
            return False
        if self.tree.contains(line, close):
            return True
        siblings = list(getattr(self.tree.parent.get(line), "body", ()))
        index = siblings.index(line) + 1 if line in siblings else len(siblings)
        return index < len(siblings) and (siblings[index] is close or self._line_of(close) is siblings[index])

    def _counts_rows_only(self, reference: _Reference) -> bool:
        """``result.rowcount``, ``result.inserted_primary_key``: what a result of a statement
        that returns no rows is read for."""
        attribute = self.tree.parent.get(reference.node)
        return (
            reference.use is _Use.PLAIN
            and isinstance(attribute, cst.Attribute)
            and attribute.value is reference.node
            and attribute.attr.value in RESULT_PLAIN_ATTRIBUTES
        )

    def _describes_engine_only(self, reference: _Reference) -> bool:
        """``engine.dialect``, ``engine.url.database``, ``engine.name``: a read of what
        describes an engine, which never checks out a connection. Anything else (a call on
        it, ``engine.pool``, passing it on, another name for it) may connect."""
        attribute = self.tree.parent.get(reference.node)
        if not (
            reference.use is _Use.PLAIN
            and isinstance(attribute, cst.Attribute)
            and attribute.value is reference.node
            and attribute.attr.value in ENGINE_DESCRIPTION_ATTRIBUTES
        ):
            return False
        outer = self.tree.parent.get(attribute)
        return not (isinstance(outer, cst.Call) and outer.func is attribute)

    def _reads_to_the_end(self, ref: cst.Name) -> bool:
        """``for row in result``, ``[r.id for r in result]``, ``list(result)``: iteration that
        reads a result to its end (which gives a connectionless result's connection back)."""
        parent = self.tree.parent.get(ref)
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is ref:
            return True
        call = self.tree.parent.get(parent) if isinstance(parent, cst.Arg) else None
        return (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Name)
            and call.func.value in MATERIALIZING_BUILTINS
            and len(call.args) == 1
            and self.model.qualified_name(call.func) is None
        )

    # -- paths ---------------------------------------------------------------------------

    def _finally_try(self, node: cst.CSTNode, function: FunctionNode) -> cst.CSTNode | None:
        """The ``try`` statement whose ``finally`` contains ``node``, within ``function``."""
        previous: cst.CSTNode = node
        for ancestor in self.tree.ancestors(node):
            if ancestor is function:
                return None
            if isinstance(ancestor, (cst.Try, cst.TryStar)) and ancestor.finalbody is previous:
                return ancestor
            previous = ancestor
        return None

    def _straight_line(self, node: cst.CSTNode, created: cst.CSTNode, function: FunctionNode) -> bool:
        """Whether ``node`` runs whenever ``created`` ran and nothing raised in between."""
        for ancestor in self.tree.ancestors(node):
            if ancestor is function:
                return True
            if isinstance(ancestor, _BRANCH_TYPES) and not self.tree.contains(ancestor, created):
                return False
        return True

    def _closed_in_handler_and_after(
        self, created: cst.Call, closes: tuple[cst.CSTNode, ...], function: FunctionNode
    ) -> bool:
        """``try: ... except: s.close(); raise`` followed by ``s.close()`` closes on every path."""
        for close in closes:
            handler = next(
                (a for a in self.tree.ancestors(close) if isinstance(a, cst.ExceptHandler)), None
            )
            if handler is None or not self.tree.contains(function, handler) or not _is_broad(handler):
                continue
            statement = self.tree.parent.get(handler)
            if statement is None:
                continue
            after = self.tree.end_order(statement)
            if any(
                self.tree.order(other) > after and self._straight_line(other, created, function)
                for other in closes
            ):
                return True
        return False


def _returns_no_rows(model: ModuleModel, call: cst.Call) -> bool:
    """Whether the statement ``engine.execute(statement)`` runs is written here as one that
    returns no rows: SQL text starting with a DML or DDL keyword and without ``RETURNING``,
    or ``insert()`` / ``update()`` / ``delete()`` (``table.insert()``) without ``returning()``."""
    statement = next((arg.value for arg in call.args if arg.keyword is None and not arg.star), None)
    if isinstance(statement, cst.Call) and last_segment(model.qualified_name(statement.func) or "") == "text" and statement.args:
        statement = statement.args[0].value
    if isinstance(statement, (cst.SimpleString, cst.ConcatenatedString)):
        text = statement.evaluated_value
        if not isinstance(text, str):
            return False
        words = text.lower().split()
        return bool(words) and words[0] in _ROWLESS_SQL and "returning" not in words
    while isinstance(statement, cst.Call) and isinstance(statement.func, cst.Attribute):
        method = statement.func.attr.value
        if method == "returning":
            return False
        if method in DML_CONSTRUCTS:
            return True  # ``users.insert()``
        statement = statement.func.value
    if isinstance(statement, cst.Call):
        qualified = model.qualified_name(statement.func) or ""
        return qualified.startswith(("sqlalchemy.", "sqlmodel.")) and last_segment(qualified) in DML_CONSTRUCTS
    return False


def _absent_name(condition: cst.BaseExpression) -> str | None:
    """``X`` of ``X is None``, ``X == None`` or ``not X``."""
    if isinstance(condition, cst.UnaryOperation) and isinstance(condition.operator, cst.Not):
        return condition.expression.value if isinstance(condition.expression, cst.Name) else None
    if (
        isinstance(condition, cst.Comparison)
        and isinstance(condition.left, cst.Name)
        and len(condition.comparisons) == 1
        and isinstance(condition.comparisons[0].operator, (cst.Is, cst.Equal))
        and isinstance(condition.comparisons[0].comparator, cst.Name)
        and condition.comparisons[0].comparator.value == "None"
    ):
        return condition.left.value
    return None


def _tries_run_in_turn(statement: cst.BaseStatement) -> Iterator[cst.Try]:
    """``statement`` if it is a ``try``, or a ``try`` that is a loop's body statement (at any
    depth of loops): each run of it starts and ends the session's work on its own
    (``for job in jobs: try: ...; s.commit() / except Exception: s.rollback()``)."""
    if isinstance(statement, cst.Try):
        yield statement
    elif isinstance(statement, (cst.For, cst.While)) and statement.orelse is None:
        for inner in statement.body.body:
            if isinstance(inner, cst.BaseCompoundStatement):
                yield from _tries_run_in_turn(inner)


def _last_end(block: cst.BaseSuite, name: str) -> cst.CSTNode | None:
    """The last statement of ``block`` (not nested) that ends ``name``'s transaction; in a
    one-line suite (``except: s.rollback(); raise``), the last such small statement."""
    for statement in reversed(block.body):
        line = cst.SimpleStatementLine(body=[statement]) if isinstance(statement, cst.BaseSmallStatement) else statement
        if ends_transaction(line, name):
            return statement
    return None


def _walk_scope(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and what runs in its scope (nested functions and classes are not entered)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            stack.extend(reversed(current.children))


def _names_in(node: cst.CSTNode) -> list[cst.Name]:
    return [child for child in _walk_scope(node) if isinstance(child, cst.Name)]


def _has_call(node: cst.CSTNode) -> bool:
    return any(isinstance(child, cst.Call) for child in _walk_scope(node))


def _is_broad(handler: cst.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    return isinstance(handler.type, cst.Name) and handler.type.value in _BROAD_EXCEPTIONS
