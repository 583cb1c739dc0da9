"""Who owns a created resource, and does the owner give it back on every path?

This is the one place that decides whether a session, connection, engine or pool is
context-managed, closed in a ``finally`` that covers its uses, closed only on the success
path, returned or yielded to someone else, or stored where some other code must close it.
Every leak rule asks this module; none re-derives the answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import libcst as cst

from .model import ModuleModel
from .names import dotted_name, last_segment, mentions
from .symbols import CLEANUP_REGISTRARS, CLOSING_WRAPPERS
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
    CAPTURED = "captured by a nested function"
    MODULE_LEVEL = "module level"
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

    @property
    def leaks(self) -> bool:
        return self in _LEAKS


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
    }
)


@dataclass(frozen=True)
class Ownership:
    outcome: Outcome
    holder: str | None = None  # what holds it: "db", "self.session", "request.state.db"
    closes: tuple[cst.Call, ...] = ()  # the close calls found, for messages and fixes

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
        node, early = self._climb_wrappers(call)
        if early is not None:
            return Ownership(early)
        parent = self.tree.parent.get(node)
        if isinstance(parent, cst.WithItem) and parent.item is node:
            return Ownership(Outcome.CONTEXT_MANAGED)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            if parent.attr.value in closers:  # `engine.connect().close()`: given back at once
                return Ownership(Outcome.CLOSED)
            return Ownership(Outcome.ANONYMOUS)
        if isinstance(parent, cst.Expr):
            return Ownership(Outcome.ANONYMOUS)
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
        """Step out through ``await`` and ``closing(...)``; stop at an ownership hand-off."""
        node: cst.CSTNode = call
        while True:
            parent = self.tree.parent.get(node)
            if isinstance(parent, cst.Await):
                node = parent
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
        close_calls = tuple(
            r.node for r in references if r.use is _Use.CLOSE and isinstance(r.node, cst.Call)
        )
        others = [r for r in references if r.use is not _Use.CLOSE]
        names = {name} | {r.detail for r in references if r.use is _Use.ALIAS and r.detail}
        guard = self._covering_finally(close_calls, others, function, names)
        if guard is not None:
            return Ownership(Outcome.CLOSED, name, close_calls)

        uses = {reference.use for reference in references}
        for handed_on, outcome in (
            (_Use.MANAGED, Outcome.CONTEXT_MANAGED),
            (_Use.RETURNED, Outcome.RETURNED),
            (_Use.STORED_GLOBAL, Outcome.STORED_GLOBALLY),
            (_Use.STORED_CONTAINER, Outcome.STORED_IN_CONTAINER),
            (_Use.STORED_WRAPPED, Outcome.STORED_ON_INSTANCE),
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
            return self._yielded(function, name, yields, close_calls, names)
        if not close_calls:
            return Ownership(Outcome.NEVER_CLOSED, holder)
        if any(self._finally_try(close, function) is not None for close in close_calls):
            if all(self._unconditional_in_finally(c, function, names) for c in close_calls if self._finally_try(c, function)):
                return Ownership(Outcome.USED_OUTSIDE_TRY, holder, close_calls)
            return Ownership(Outcome.SOME_PATHS, holder, close_calls)
        if self._closed_in_handler_and_after(call, close_calls, function):
            return Ownership(Outcome.CLOSED, holder, close_calls)
        if any(self._straight_line(close, call, function) for close in close_calls):
            return Ownership(Outcome.SUCCESS_PATH_ONLY, holder, close_calls)
        return Ownership(Outcome.SOME_PATHS, holder, close_calls)

    def _covering_finally(
        self,
        closes: tuple[cst.Call, ...],
        others: list[_Reference],
        function: FunctionNode,
        names: set[str],
    ) -> cst.CSTNode | None:
        """A ``try`` whose ``finally`` always closes the resource and contains every other use."""
        for close in closes:
            guard = self._finally_try(close, function)
            if (
                guard is not None
                and self._unconditional_in_finally(close, function, names)
                and all(self.tree.contains(guard, r.node) for r in others)
            ):
                return guard
        return None

    def _unconditional_in_finally(self, close: cst.Call, function: FunctionNode, names: set[str]) -> bool:
        """False for ``finally: if succeeded: s.close()``; ``if s is not None:`` is fine."""
        for ancestor in self.tree.ancestors(close):
            if isinstance(ancestor, cst.Finally) or ancestor is function:
                return True
            if isinstance(ancestor, _BRANCH_TYPES):
                test = getattr(ancestor, "test", None)
                if test is None or not mentions(test, names):
                    return False
        return True

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
        closes: tuple[cst.Call, ...],
        names: set[str],
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
        pending, seen = [name], {name}
        while pending:
            current = pending.pop()
            for ref in self.tree.names_in.get(function, {}).get(current, ()):
                if self.tree.order(ref) <= created_at:
                    continue
                reference = self._classify(ref, function, closers)
                references.append(reference)
                if reference.use is _Use.ALIAS and reference.detail and reference.detail not in seen:
                    seen.add(reference.detail)
                    pending.append(reference.detail)
            for nested in self.tree.nested_functions.get(function, ()):
                if self.tree.names_in.get(nested, {}).get(current):
                    references.append(_Reference(_Use.CAPTURED, nested))
        return references

    def _classify(self, ref: cst.Name, function: FunctionNode, closers: frozenset[str]) -> _Reference:
        parent = self.tree.parent.get(ref)
        if isinstance(parent, cst.Attribute) and parent.value is ref:
            method = parent.attr.value
            grandparent = self.tree.parent.get(parent)
            called = isinstance(grandparent, cst.Call) and grandparent.func is parent
            if method in closers or method in ("__exit__", "__aexit__"):
                if called and isinstance(grandparent, cst.Call):
                    return _Reference(_Use.CLOSE, grandparent)
                return _Reference(_Use.MANAGED, ref)  # a close handed over as a callback
            return _Reference(_Use.PLAIN, ref)

        node: cst.CSTNode = ref
        wrapped = False
        while True:
            parent = self.tree.parent.get(node)
            if isinstance(parent, cst.Await) or isinstance(parent, _CONTAINER_TYPES):
                node = parent
                wrapped = wrapped or not isinstance(parent, cst.Await)
                continue
            if isinstance(parent, cst.Arg):
                outer = self.tree.parent.get(parent)
                if not isinstance(outer, cst.Call):
                    return _Reference(_Use.PLAIN, ref)
                if self.model.qualified_name(outer.func) in CLOSING_WRAPPERS:
                    return _Reference(_Use.MANAGED, ref)
                if isinstance(outer.func, cst.Attribute):
                    method = outer.func.attr.value
                    if method in CLEANUP_REGISTRARS:
                        return _Reference(_Use.MANAGED, ref)
                    if method in _CONTAINER_METHODS:
                        return _Reference(_Use.STORED_CONTAINER, ref)
                node = outer
                wrapped = True
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
                return _Reference(_Use.PLAIN if wrapped else _Use.ALIAS, ref, target.value)
            if isinstance(target, cst.Subscript):
                return _Reference(_Use.STORED_CONTAINER, ref)
            if isinstance(target, cst.Attribute):
                if wrapped:
                    return _Reference(_Use.STORED_WRAPPED, ref)
                is_self = isinstance(target.value, cst.Name) and target.value.value in ("self", "cls")
                return _Reference(_Use.STORED_SELF if is_self else _Use.STORED_ATTRIBUTE, ref, target.attr.value)
            return _Reference(_Use.STORED_CONTAINER, ref)
        return _Reference(_Use.PLAIN, ref)

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
        self, created: cst.Call, closes: tuple[cst.Call, ...], function: FunctionNode
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


def _is_broad(handler: cst.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    return isinstance(handler.type, cst.Name) and handler.type.value in _BROAD_EXCEPTIONS
