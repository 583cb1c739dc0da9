"""The screen's tree stage: whether a module's facts leave any way for a rule to fire.

:mod:`sqla_lint.prefilter` rules out most files from their text; for the rest this stage
reads the facts of CPython's parse (:class:`.facts.ModuleFacts`, the same parse and walk
that summarise the module for the project index) and answers the argument of the
prefilter's docstring: a known symbol used anywhere but an annotation needs the full
analysis, and a resource that only comes from an annotation or a factory needs one more
step (returned, connected, called) before a rule can report it. Only files it cannot rule
out are parsed with libcst.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from functools import cached_property

from .facts import KNOWN_LEAVES, ModuleFacts
from .symbols import (
    ANNOTATION_LEAVES,
    CALL_RESULT_LEAVES,
    CLOSING_WRAPPERS,
    CONCURRENCY_LEAVES,
    CONNECTION_METHODS,
    CONNECTIONLESS_EXECUTE,
    KNOWN_ROOTS,
    Kind,
)

__all__ = ["needs_analysis"]

_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_CLOSING_LEAVES = frozenset(name.rpartition(".")[2] for name in CLOSING_WRAPPERS)
# Sessions and connections a parameter's annotation gives: the caller's, so only what
# escapes (returned, yielded, entered, shared by tasks) can matter.
_SESSION_KINDS = frozenset({Kind.SESSION, Kind.ASYNC_SESSION, Kind.CONNECTION, Kind.ASYNC_CONNECTION, Kind.BORROWED_CONNECTION})
_ENGINE_KINDS = frozenset({Kind.ENGINE, Kind.ASYNC_ENGINE})
_FACTORY_KINDS = frozenset({Kind.SESSION_FACTORY, Kind.ASYNC_SESSION_FACTORY})
# ``sessionmaker`` and friends: calling one makes a factory, which creates nothing until called.
_FACTORY_MAKERS = frozenset(leaf for leaf, kinds in CALL_RESULT_LEAVES.items() if kinds <= _FACTORY_KINDS)


def needs_analysis(facts: ModuleFacts) -> bool:
    """False only when no rule can fire on the module these facts describe (whatever
    configured factories or project names aside: the caller tests those first)."""
    try:
        return _Screen(facts).needs_analysis()
    except RecursionError:
        return True


class _Screen:
    """The tree stage of the prefilter's argument, over one module's facts.

    Names resolve as the model resolves them: through imports anywhere in the
    file, by the head of an attribute chain. A name that no import binds under a known root
    package (or through a relative import) never resolves to a known symbol.
    """

    def __init__(self, facts: ModuleFacts) -> None:
        self._facts = facts
        self.names = facts.name_counts
        self.known_attributes = facts.known_attributes
        self.imports = facts.import_statements
        self.functions = facts.function_defs
        self.annotations = facts.assignment_annotations  # of assignments: the model reads no kind there
        self.assignments = facts.all_assignments
        self.withs = facts.with_items
        self.results = facts.results  # values of return, yield and yield from
        self.callees = [call.func for call in facts.calls]
        # callees ``x.connect`` / ``x.begin`` / ...; calls that may run things at once
        self.connects = [
            func
            for func in self.callees
            if type(func) is ast.Attribute and (func.attr in CONNECTION_METHODS or func.attr == CONNECTIONLESS_EXECUTE)
        ]
        self.concurrent_calls = [call for call in facts.calls if _leaf(call.func) in CONCURRENCY_LEAVES]
        self.rooted: set[str] = set()  # local names bound under a known root package
        self.symbols: dict[str, str] = {}  # local name -> the known name it is bound to
        self.closers = set(_CLOSING_LEAVES)  # names that may be contextlib.closing
        self._bind_imports()

    def _bind_imports(self) -> None:
        for statement in self.imports:
            if isinstance(statement, ast.ImportFrom):
                module = statement.module or ""
                rooted = statement.level > 0 or module.partition(".")[0] in KNOWN_ROOTS
                bound = [(alias.asname or alias.name, alias.name) for alias in statement.names if alias.name != "*"]
            else:
                rooted = True
                bound = [
                    (alias.asname, alias.name) if alias.asname else (alias.name.partition(".")[0], "")
                    for alias in statement.names
                    if alias.name.partition(".")[0] in KNOWN_ROOTS
                ]
            for local, imported in bound:
                leaf = imported.rpartition(".")[2]
                if leaf in _CLOSING_LEAVES:
                    self.closers.add(local)
                if rooted:
                    self.rooted.add(local)
                    if leaf in KNOWN_LEAVES:
                        self.symbols[local] = leaf

    def _resolves(self, attribute: ast.Attribute) -> bool:
        """Whether ``a.b.Session`` may resolve through an import under a known root."""
        node: ast.expr = attribute.value
        while True:
            if isinstance(node, (ast.Attribute, ast.Subscript)):
                node = node.value
            elif isinstance(node, ast.Call):
                node = node.func
            else:
                return isinstance(node, ast.Name) and node.id in self.rooted

    def needs_analysis(self) -> bool:
        in_annotations: dict[str, int] = {}
        annotated_attributes: set[int] = set()
        sessions: set[str] = set()
        engines: set[str] = set()
        factories: set[str] = set()
        for function in self.functions:
            arguments = function.args
            for argument in (
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                *((arguments.vararg,) if arguments.vararg else ()),
                *((arguments.kwarg,) if arguments.kwarg else ()),
            ):
                if argument.annotation is None:
                    continue
                kinds = self._annotation_kinds(argument.annotation, in_annotations, annotated_attributes)
                if kinds - _SESSION_KINDS - _ENGINE_KINDS - _FACTORY_KINDS:
                    return True  # a kind this stage does not follow
                for holders, wanted in ((sessions, _SESSION_KINDS), (engines, _ENGINE_KINDS), (factories, _FACTORY_KINDS)):
                    if kinds & wanted:
                        holders.add(argument.arg)
            if function.returns is not None:
                # The model reads only an engine from a return annotation.
                if self._annotation_kinds(function.returns, in_annotations, annotated_attributes) & _ENGINE_KINDS:
                    engines.add(function.name)
        for annotation in self.annotations:
            self._annotation_kinds(annotation, in_annotations, annotated_attributes)

        # A known symbol used outside annotations: a call to a known API, or an alias of one.
        # Factory makers are followed instead: a factory nobody calls creates nothing.
        makers = False
        for name, leaf in self.symbols.items():
            if self.names.get(name, 0) > in_annotations.get(name, 0):
                if leaf not in _FACTORY_MAKERS:
                    return True
                makers = True
        for attribute in self.known_attributes:
            if id(attribute) not in annotated_attributes and self._resolves(attribute):
                if attribute.attr not in _FACTORY_MAKERS:
                    return True
                makers = True
        return (
            (bool(sessions) and self._session_escapes(sessions))
            or (bool(engines) and self._engine_connects(engines))
            or ((makers or bool(factories)) and self._factory_called(factories))
        )

    def _annotation_kinds(self, annotation: ast.expr, names: dict[str, int], attributes: set[int]) -> frozenset[Kind]:
        """Kinds an annotation may name; records the names and known attributes it uses.

        A callee inside an annotation (``Annotated[S, Depends(f)]``) is not recorded: the
        model sees a call there, not an annotation. A string annotation may name anything.
        """
        kinds: set[Kind] = set()
        stack: list[ast.AST] = [annotation]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Name):
                names[node.id] = names.get(node.id, 0) + 1
                kinds |= ANNOTATION_LEAVES.get(self.symbols.get(node.id, ""), frozenset())
            elif isinstance(node, ast.Attribute):
                if node.attr in KNOWN_LEAVES:
                    attributes.add(id(node))
                    if self._resolves(node):
                        kinds |= ANNOTATION_LEAVES.get(node.attr, frozenset())
                stack.append(node.value)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                for word in _IDENTIFIER.findall(node.value):
                    kinds |= ANNOTATION_LEAVES.get(self.symbols.get(word, word), frozenset())
            elif isinstance(node, ast.Call):
                stack.extend(node.args)
                stack.extend(keyword.value for keyword in node.keywords)
            else:
                stack.extend(ast.iter_child_nodes(node))
        return frozenset(kinds)

    def _session_escapes(self, holders: set[str]) -> bool:
        """Whether a value that may hold an annotated session is returned, yielded or
        entered: only then can a rule fire (SQA401 at a helper's call site, SQA402, SQA404)."""
        changed = True
        while changed:
            changed = self._propagate(holders)
            for item in self.withs:
                if item.optional_vars is not None and self._may_open(item.context_expr, holders):
                    changed |= _add_targets([item.optional_vars], holders)
        return (
            any(_may_hold(value, holders) for value in self.results)
            or any(self._may_open(item.context_expr, holders) for item in self.withs)
            or any(self._shares(call, holders) for call in self.concurrent_calls)
        )

    def _shares(self, call: ast.Call, holders: set[str]) -> bool:
        """Whether a value that may hold a session appears anywhere in the arguments of a
        call that may run operations at once, or in a list a ``gather(*tasks)`` may read."""
        for argument in (*call.args, *(keyword.value for keyword in call.keywords)):
            for node in ast.walk(argument):
                if _leaf(node) in holders:  # type: ignore[arg-type]
                    return True
                if isinstance(node, ast.Starred) and isinstance(node.value, ast.Name):
                    return True  # `gather(*tasks)`: what the list holds is not followed here
        return False

    def _engine_connects(self, holders: set[str]) -> bool:
        """Whether ``connect()``, ``begin()``, ``raw_connection()`` or 1.x ``execute()`` is called on a value that
        may hold an annotated engine. An engine that only comes from an annotation creates
        nothing else a rule reports: engines a helper returns are exempt from SQA501/SQA502."""
        self._propagate_through_returns(holders, _may_hold)
        return any(_may_hold(callee.value, holders) for callee in self.connects)

    def _factory_called(self, holders: set[str]) -> bool:
        """Whether a value that may hold a session factory is called (a session) or has
        ``begin()`` called (a session in a ``with``). Until then a factory creates nothing."""
        self._propagate_through_returns(holders, self._may_hold_factory)
        return any(
            self._may_hold_factory(callee, holders)
            or (isinstance(callee, ast.Attribute) and callee.attr == "begin" and self._may_hold_factory(callee.value, holders))
            for callee in self.callees
        )

    def _may_hold_factory(self, node: ast.expr, holders: set[str]) -> bool:
        """``_may_hold``, where a call of ``sessionmaker`` (however imported) also holds one."""
        while isinstance(node, ast.Await):
            node = node.value
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and self.symbols.get(func.id) in _FACTORY_MAKERS:
                return True
            if isinstance(func, ast.Attribute) and func.attr in _FACTORY_MAKERS and self._resolves(func):
                return True
            node = func
        return _leaf(node) in holders

    @cached_property
    def _returns_by_function(self) -> dict[str, list[ast.expr]]:
        """Returned values by function name; a nested function's count for the outer too."""
        returns: dict[str, list[ast.expr]] = {function.name: [] for function in self.functions}
        for owner, statements in self._facts.returns_in.items():
            values = [statement.value for statement in statements if statement.value is not None]
            function: ast.AST | None = owner
            while function is not None:
                if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    returns[function.name].extend(values)
                function = self._facts.function_of.get(function)
        return returns

    def _propagate_through_returns(self, holders: set[str], may_hold: Callable[[ast.expr, set[str]], bool]) -> None:
        """Holders through assignments, and a function whose return may hold one (its call
        sites then may: the model's return kind)."""
        returns = self._returns_by_function
        changed = True
        while changed:
            changed = self._propagate(holders, may_hold)
            for name, values in returns.items():
                if name not in holders and any(may_hold(value, holders) for value in values):
                    holders.add(name)
                    changed = True

    def _propagate(self, holders: set[str], may_hold: Callable[[ast.expr, set[str]], bool] | None = None) -> bool:
        may_hold = may_hold or _may_hold
        changed = False
        for assignment in self.assignments:
            if assignment.value is not None and may_hold(assignment.value, holders):
                targets = assignment.targets if isinstance(assignment, ast.Assign) else [assignment.target]
                changed |= _add_targets(targets, holders)
        return changed

    def _may_open(self, node: ast.expr, holders: set[str]) -> bool:
        """A ``with`` item that may open a session, also through ``contextlib.closing``."""
        if _may_hold(node, holders):
            return True
        if isinstance(node, ast.Call) and _leaf(node.func) in self.closers:
            return any(self._may_open(arg, holders) for arg in (*node.args, *(k.value for k in node.keywords)))
        return False


def _leaf(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _may_hold(node: ast.expr, holders: set[str]) -> bool:
    """Over-approximates "the model may give this expression a held kind": it only ever does
    for awaits, calls (through the callee), names and attributes."""
    while isinstance(node, ast.Await):
        node = node.value
    if isinstance(node, ast.Call):
        node = node.func
    return _leaf(node) in holders


def _add_targets(targets: Iterable[ast.expr], holders: set[str]) -> bool:
    added = False
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            added |= _add_targets(target.elts, holders)
        elif isinstance(target, ast.Starred):
            added |= _add_targets([target.value], holders)
        else:
            name = _leaf(target)
            if name is not None and name not in holders:
                holders.add(name)
                added = True
    return added
