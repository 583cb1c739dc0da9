"""Sessions that hold no connection of their own: bound to a connection their caller owns
(``Session(bind=conn)``, alembic's ``op.get_bind()``), or unbound and used only for
bookkeeping. Part of :class:`.model.ModuleModel` (a mixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from .names import dotted_name
from .symbols import (
    BOOKKEEPING_SESSION_ATTRIBUTES,
    SESSION_FOR_FACTORY,
    Kind,
    call_result_kind,
)
from .syntax import (
    assigned_names,
    bind_argument,
    binds,
)

if TYPE_CHECKING:
    pass


# What a call passes that is a connection its caller owns (see ``passed_for_parameter``).
_CONNECTION_VALUES = frozenset(f"kind:{kind.name}" for kind in (Kind.CONNECTION, Kind.ASYNC_CONNECTION, Kind.BORROWED_CONNECTION))


class BorrowedConnections:
    """Whether a session rides on a connection it does not own (mixed into :class:`.model.ModuleModel`)."""

    def borrows_connection(self, session_call: cst.Call) -> bool:
        """Whether a new session is bound to a connection it does not own.

        ``Session(bind=op.get_bind())`` in an alembic migration, or a session bound to a
        ``with engine.connect() as conn`` connection, checks nothing out of a pool: the
        connection's owner gives it back, so leaving such a session unclosed leaks nothing.
        """
        bind = bind_argument(session_call)
        if bind is None:
            factory = session_call.func
            for value in self._binding_values(factory):
                if isinstance(value, cst.Call) and (factory_bind := bind_argument(value)) is not None:
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
                and not binds(value)
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
        if binds(call) or not self._unbound_source(call.func):
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

