"""Module facts: what one module binds, returns, calls and removes, read from CPython's tree.

The project index needs, for every module that may matter, the same few answers: which
names are bound to a factory, engine or registry, what each function returns, who calls
whom and from where (a loop, a handler, once), and which registries are removed. libcst
gives exact source for fixes, but its parse costs ten times CPython's, and the index asks
these questions of hundreds of modules where the rules look at a few dozen. So the facts
come from CPython's tree, the same parse that screens each file, and libcst is kept for
what needs it: ownership on every path, escapes and fixes.

A module's facts are symbolic (``"call:app.db.SessionLocal"`` rather than a resolved
kind): they depend on that module's text alone, so they are cached by content hash, and
:class:`.index.ProjectIndex` resolves the chains across modules when it is asked.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Union

from .kinds import ATTRIBUTE, AWAIT, CALL, NAME, KindResolver
from .project import FactoryConfig
from .symbols import (
    ANNOTATION_LEAVES,
    CALL_RESULT_LEAVES,
    CONNECTION_METHODS,
    CONTEXT_MANAGER_DECORATORS,
    KNOWN_ROOTS,
    MAIN_FUNCTION_NAMES,
    ROUTE_DECORATOR_METHODS,
    SESSION_FOR_FACTORY,
)

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda]
_FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_DEF_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
_LOOP_TYPES = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSION_TYPES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_ENGINE_MAKER_LEAVES = frozenset(leaf for leaf, kinds in CALL_RESULT_LEAVES.items() if any(kind.is_engine for kind in kinds))
# Command-line frameworks: a command runs once in the process that runs it.
CLI_ROOTS = frozenset({"click", "typer", "asyncclick", "rich_click", "flask"})
CLI_COMMAND_DECORATORS = frozenset({"command", "group"})
_SHUTDOWN_KEYWORDS = frozenset({"lifespan", "lifespan_context", "on_shutdown", "on_cleanup"})
_SHUTDOWN_REGISTRIES = frozenset({"on_shutdown", "on_cleanup", "cleanup_ctx", "lifespan_context"})
_TRACKED_ATTRIBUTES = frozenset({"remove", "dispose"}) | _SHUTDOWN_REGISTRIES
# Attribute names that may spell a known symbol (``sa.orm.Session``): the screen's seeds.
KNOWN_LEAVES = frozenset(CALL_RESULT_LEAVES) | frozenset(ANNOTATION_LEAVES)
# A module-level ``try:`` whose body imports a modelled library: a compatibility module.
COMPATIBILITY_IMPORT = re.compile(rb"^try:[ \t]*\r?\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]+(?:import|from)[ \t]+(?:sqlalchemy|sqlmodel)\b", re.M)
# ``from . import x`` / ``from .db import x``: a relative import need not write its package.
RELATIVE_IMPORT = re.compile(rb"(?<![A-Za-z0-9_])from[\s\\]+\.")


@dataclass(frozen=True)
class CallSite:
    """A call of a project function: who calls it, and whether it runs per iteration."""

    callee: str
    caller: str | None  # qualified caller function; None at module level
    per_iteration: bool
    # What the call passes, as symbolic values: positional ones in order, then
    # ``keyword=value``; ``?`` for what cannot be told, ``*`` for ``*args`` / ``**kwargs``.
    arguments: tuple[str, ...] = ()
    # ``if self.tables is None: self.tables = load()``: the result is kept, and the call
    # made again only while nothing is kept, so not per call of the caller
    memoised: bool = False
    passes_engine: bool = False  # an engine is one of its arguments (``init_model(engine)``)


@dataclass
class FunctionSummary:
    returns: str | None = None  # a symbolic value
    borrowed_param: tuple[str, int] | None = None  # a caller passing this gets its own session back
    is_handler: bool = False
    is_once: bool = False
    is_cached: bool = False
    creates_engine: bool = False  # SQA501 then asks who calls it, from anywhere in the project
    keeps_result: bool = False  # a memo of its own: callers share what it returns, and own none of it
    # ``__init__`` only: (parameter, position without ``self``, attribute) for ``self.attr = param``
    kept_parameters: tuple[tuple[str, int, str], ...] = ()
    # Parameters a session made here is bound to (``Session(bind=conn)``, ``bind=op.get_bind()``):
    # whether it holds a connection of its own depends on what the callers pass.
    bound_parameters: tuple[str, ...] = ()
    # (parameter, position as a caller passes it) stored for the process: in a ``global``,
    # an attribute of an imported module (``meta.engine = engine``), a module-level container
    kept_globally: tuple[tuple[str, int], ...] = ()


@dataclass
class ModuleSummary:
    """The facts of one module that other modules' questions need."""

    module: str
    bindings: dict[str, str] = field(default_factory=dict)  # name or Cls.attr -> symbolic value
    aliases: dict[str, str] = field(default_factory=dict)  # imported name -> qualified target
    functions: dict[str, FunctionSummary] = field(default_factory=dict)  # f or Cls.f
    calls: list[CallSite] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)  # qualified receivers of `.remove`
    disposes: list[str] = field(default_factory=list)  # qualified receivers of `.dispose` (SQA505)
    pools: list[dict[str, object]] = field(default_factory=list)  # PoolSite.to_json() of each engine and pool (SQA506)
    shutdown_point: bool = False  # a lifespan, shutdown hook or asyncio.run entry point (SQA505)
    bases: dict[str, list[str]] = field(default_factory=dict)  # class -> its qualified project bases

    def to_json(self) -> dict[str, object]:
        """What ``dataclasses.asdict`` gives, built directly: asdict deep-copies every
        value, and a cold run encodes each summary twice (its digest, the cache)."""
        return {
            "module": self.module,
            "bindings": dict(self.bindings),
            "aliases": dict(self.aliases),
            "functions": {
                name: {
                    "returns": f.returns,
                    "borrowed_param": f.borrowed_param,
                    "is_handler": f.is_handler,
                    "is_once": f.is_once,
                    "is_cached": f.is_cached,
                    "creates_engine": f.creates_engine,
                    "keeps_result": f.keeps_result,
                    "kept_parameters": f.kept_parameters,
                    "bound_parameters": f.bound_parameters,
                    "kept_globally": f.kept_globally,
                }
                for name, f in self.functions.items()
            },
            "calls": [
                {
                    "callee": c.callee,
                    "caller": c.caller,
                    "per_iteration": c.per_iteration,
                    "arguments": c.arguments,
                    "memoised": c.memoised,
                    "passes_engine": c.passes_engine,
                }
                for c in self.calls
            ],
            "removes": list(self.removes),
            "disposes": list(self.disposes),
            "pools": [dict(pool) for pool in self.pools],
            "shutdown_point": self.shutdown_point,
            "bases": {name: list(bases) for name, bases in self.bases.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ModuleSummary:
        summary = cls(module=str(data["module"]))
        summary.bindings = dict(data.get("bindings", {}))  # type: ignore[arg-type]
        summary.aliases = dict(data.get("aliases", {}))  # type: ignore[arg-type]
        summary.functions = {
            name: FunctionSummary(
                returns=f.get("returns"),
                borrowed_param=tuple(f["borrowed_param"]) if f.get("borrowed_param") else None,  # type: ignore[arg-type]
                is_handler=bool(f.get("is_handler")),
                is_once=bool(f.get("is_once")),
                is_cached=bool(f.get("is_cached")),
                creates_engine=bool(f.get("creates_engine")),
                keeps_result=bool(f.get("keeps_result")),
                kept_parameters=tuple(tuple(kept) for kept in f.get("kept_parameters", ())),  # type: ignore[misc,union-attr]
                bound_parameters=tuple(f.get("bound_parameters", ())),  # type: ignore[arg-type]
                kept_globally=tuple(tuple(kept) for kept in f.get("kept_globally", ())),  # type: ignore[misc,union-attr]
            )
            for name, f in dict(data.get("functions", {})).items()  # type: ignore[union-attr]
        }
        summary.calls = [
            CallSite(
                c["callee"],  # type: ignore[index]
                c["caller"],  # type: ignore[index]
                c["per_iteration"],  # type: ignore[index]
                tuple(c.get("arguments", ())),  # type: ignore[union-attr]
                memoised=bool(c.get("memoised")),  # type: ignore[union-attr]
                passes_engine=bool(c.get("passes_engine")),  # type: ignore[union-attr]
            )
            for c in data.get("calls", [])  # type: ignore[union-attr]
        ]
        summary.removes = list(data.get("removes", []))  # type: ignore[arg-type]
        summary.disposes = list(data.get("disposes", []))  # type: ignore[arg-type]
        summary.pools = [dict(pool) for pool in data.get("pools", [])]  # type: ignore[union-attr]
        summary.shutdown_point = bool(data.get("shutdown_point"))
        summary.bases = {name: list(bases) for name, bases in dict(data.get("bases", {})).items()}  # type: ignore[union-attr]
        return summary


def _node_types(base: type) -> list[type]:
    return [base, *(kind for sub in base.__subclasses__() for kind in _node_types(sub))]


# Node type -> the fields that can hold nodes: a plain loop over these walks a tree in half
# the time ``ast.walk`` (or ``ast.iter_child_nodes``) takes.
AST_FIELDS: dict[type, tuple[str, ...]] = {
    kind: kind._fields
    for kind in _node_types(ast.AST)
    if kind._fields and not issubclass(kind, (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop))
}


# -- reading the tree ------------------------------------------------------------------


def dotted(node: ast.AST, *, calls: bool = True) -> str | None:
    """``a.b.c`` for a Name/Attribute chain; ``app['db']`` reads as ``app.db``, and a call
    as ``f()`` (as the libcst model writes receivers) unless ``calls`` is off."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value, calls=calls)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, ast.Subscript):
        key = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) and len(node.slice.elts) == 1 else node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            base = dotted(node.value, calls=calls)
            return None if base is None else f"{base}.{key.value}"
        return None
    if calls and isinstance(node, ast.Call):
        base = dotted(node.func)
        return None if base is None else f"{base}()"
    return None


def written_chain(node: ast.AST) -> str | None:
    """A name as written, with no call in it: ``a.b.c``, ``app['db']`` as ``app.db``."""
    return dotted(node, calls=False)


def _mentions(test: ast.AST, receiver: str) -> bool:
    """Whether a condition tests ``receiver`` (or something reached through it)."""
    for node in ast.walk(test):
        written = dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if written is not None and (written == receiver or written.startswith(f"{receiver}.")):
            return True
    return False


def _removes(statement: ast.AST, receiver: str) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == "remove" and dotted(node.value) == receiver for node in ast.walk(statement))


def _may_return(statement: ast.AST) -> bool:
    """Whether ``statement`` may return from its function (nested definitions aside)."""
    pending = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Return):
            return True
        pending.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, (*_FUNCTION_TYPES, ast.ClassDef)))
    return False


def _is_none(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _assigned(statement: ast.AST) -> list[tuple[ast.expr, ast.expr]]:
    """(target, value) of ``a = b = v``, ``a: T = v`` and ``(a := v)``."""
    if isinstance(statement, ast.Assign):
        return [(target, statement.value) for target in statement.targets]
    if isinstance(statement, (ast.AnnAssign, ast.NamedExpr)) and statement.value is not None:
        return [(statement.target, statement.value)]
    return []


def _assigned_names(statement: ast.AST) -> list[tuple[str, ast.expr]]:
    return [(target.id, value) for target, value in _assigned(statement) if isinstance(target, ast.Name)]


def _tests_unset(test: ast.expr, written: str) -> bool:
    """Whether ``test`` holds only while ``written`` (an ``ast.dump``) is None or empty."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_tests_unset(value, written) for value in test.values)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return ast.dump(test.operand, include_attributes=False) == written
    return (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Is)
        and _is_none(test.comparators[0])
        and ast.dump(test.left, include_attributes=False) == written
    )


# What the kind resolver (:mod:`.kinds`) reads of an expression, by node type.
AST_SHAPES = {
    ast.Name: lambda node: (NAME, node.id),
    ast.Attribute: lambda node: (ATTRIBUTE, node.value, node.attr),
    ast.Call: lambda node: (CALL, node.func),
    ast.Await: lambda node: (AWAIT, node.value),
}


class ModuleFacts(KindResolver):
    """One pass over CPython's tree of a module, and the questions the index asks of it."""

    def __init__(self, tree: ast.Module, module: str = "", factories: FactoryConfig = FactoryConfig(), is_package: bool = False) -> None:
        self.module = module
        self.factories = factories
        self._package = module if is_package else module.rpartition(".")[0]
        self.imports: dict[str, str] = {}
        self.parent: dict[ast.AST, ast.AST] = {}
        self.function_of: dict[ast.AST, FunctionNode | None] = {}
        self.enclosing_class: dict[ast.AST, ast.ClassDef | None] = {}
        self.function_defs: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.class_defs: list[ast.ClassDef] = []
        self.calls: list[ast.Call] = []
        # ``x.remove`` / ``x.dispose`` (registries removed, engines disposed) and the
        # shutdown registries of web frameworks, by attribute name.
        self.attributes_named: dict[str, list[ast.Attribute]] = defaultdict(list)
        self.module_assignments: list[ast.stmt] = []
        self.class_body_assignments: dict[ast.ClassDef, list[ast.stmt]] = defaultdict(list)
        self.assignments_in: dict[FunctionNode, list[ast.AST]] = defaultdict(list)
        self.globals_declared: dict[FunctionNode, set[str]] = defaultdict(set)
        self.withs_in: dict[FunctionNode, list[ast.With | ast.AsyncWith]] = defaultdict(list)
        self.returns_in: dict[FunctionNode, list[ast.Return]] = defaultdict(list)
        self.chains: set[str] = set()  # every Name and attribute chain written, as text
        # Names a module-level ``try:`` imports (``try: import sqlalchemy as sa`` / ``except
        # ImportError: sa = None``): a compatibility module the rest of the project imports from.
        self.compatibility_names: set[str] = set()
        # What the screen (:mod:`.screen`) reads: every name written and how often, the
        # attributes that spell a known symbol, the import statements, assignments, ``with``
        # items and returned or yielded values, wherever they are.
        self.name_counts: dict[str, int] = {}
        self.known_attributes: list[ast.Attribute] = []
        self.import_statements: list[ast.Import | ast.ImportFrom] = []
        self.all_assignments: list[ast.Assign | ast.AnnAssign | ast.NamedExpr] = []
        self.assignment_annotations: list[ast.expr] = []
        self.with_items: list[ast.withitem] = []
        self.results: list[ast.expr] = []
        self._walk(tree)
        # In source order, as a reader meets them (CPython's tree puts decorators after
        # the body): the first reason found for a per-call judgement is the one reported.
        self.calls.sort(key=lambda call: (call.lineno, call.col_offset, -(call.end_lineno or 0), -(call.end_col_offset or 0)))

        self.module_functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.methods: dict[ast.ClassDef, dict[str, ast.FunctionDef | ast.AsyncFunctionDef]] = defaultdict(dict)
        self.classes: dict[str, ast.ClassDef] = {}
        for function in self.function_defs:
            owner = self.class_of_function(function)
            if owner is not None:
                self.methods[owner][function.name] = function
            elif self.function_of[function] is None:
                self.module_functions[function.name] = function
        for class_def in self.class_defs:
            if self.function_of[class_def] is None:
                self.classes[class_def.name] = class_def
        self._start_resolving(self.module_assignments, self.globals_declared, self.assignments_in, self.class_body_assignments)
        # Each callee is resolved by several questions (kinds, handlers, pools, calls):
        # once per node.
        self._qualified: dict[ast.AST, str | None] = {}

    # -- the walk ------------------------------------------------------------------------

    def _walk(self, tree: ast.Module) -> None:
        """Iterative, in source order: parents, enclosing function and class, and the node
        lists the questions below need."""
        parent, function_of, enclosing_class, name_counts = self.parent, self.function_of, self.enclosing_class, self.name_counts
        # (node, its parent, innermost function, innermost class)
        stack: list[tuple[ast.AST, ast.AST | None, FunctionNode | None, ast.ClassDef | None]] = [(tree, None, None, None)]
        while stack:
            node, up, function, klass = stack.pop()
            if up is not None:
                parent[node] = up
            kind = type(node)
            inner_function, inner_class = function, klass
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.Lambda:
                function_of[node] = function
                enclosing_class[node] = klass
                if kind is not ast.Lambda:
                    self.function_defs.append(node)  # type: ignore[arg-type]
                inner_function = node  # type: ignore[assignment]
            elif kind is ast.ClassDef:
                function_of[node] = function
                enclosing_class[node] = klass
                self.class_defs.append(node)  # type: ignore[arg-type]
                inner_class = node  # type: ignore[assignment]
            elif kind is ast.Call:
                function_of[node] = function
                self.calls.append(node)  # type: ignore[arg-type]
            elif kind is ast.Name:
                function_of[node] = function
                identifier = node.id  # type: ignore[attr-defined]
                self.chains.add(identifier)
                name_counts[identifier] = name_counts.get(identifier, 0) + 1
            elif kind is ast.Attribute:
                function_of[node] = function
                attribute = node.attr  # type: ignore[attr-defined]
                if attribute in _TRACKED_ATTRIBUTES:
                    self.attributes_named[attribute].append(node)  # type: ignore[arg-type]
                if attribute in KNOWN_LEAVES:
                    self.known_attributes.append(node)  # type: ignore[arg-type]
                written = written_chain(node)
                if written is not None:
                    self.chains.add(written)
            elif kind is ast.Import:
                self.import_statements.append(node)  # type: ignore[arg-type]
                guarded = type(up) is ast.Try and function is None and klass is None
                for alias in node.names:  # type: ignore[attr-defined]
                    local = alias.asname or alias.name.partition(".")[0]
                    self.imports[local] = alias.name if alias.asname else local
                    if guarded:
                        self.compatibility_names.add(local)
                continue
            elif kind is ast.ImportFrom:
                self.import_statements.append(node)  # type: ignore[arg-type]
                guarded = type(up) is ast.Try and function is None and klass is None
                base = node.module or ""  # type: ignore[attr-defined]
                if node.level:  # type: ignore[attr-defined]
                    base = self._relative(node.level, base)  # type: ignore[attr-defined]
                for alias in node.names:  # type: ignore[attr-defined]
                    if alias.name != "*":
                        self.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
                        if guarded:
                            self.compatibility_names.add(alias.asname or alias.name)
                continue
            elif kind is ast.Assign or kind is ast.AnnAssign:
                self.all_assignments.append(node)  # type: ignore[arg-type]
                if kind is ast.AnnAssign:
                    self.assignment_annotations.append(node.annotation)  # type: ignore[attr-defined]
                if function is not None:
                    self.assignments_in[function].append(node)
                elif klass is not None:
                    self.class_body_assignments[klass].append(node)  # type: ignore[arg-type]
                else:
                    self.module_assignments.append(node)  # type: ignore[arg-type]
            elif kind is ast.NamedExpr:
                self.all_assignments.append(node)  # type: ignore[arg-type]
                if function is not None:
                    self.assignments_in[function].append(node)
            elif kind is ast.With or kind is ast.AsyncWith:
                function_of[node] = function
                self.with_items.extend(node.items)  # type: ignore[attr-defined]
                if function is not None:
                    self.withs_in[function].append(node)  # type: ignore[arg-type]
            elif kind is ast.Return:
                if node.value is not None:  # type: ignore[attr-defined]
                    self.results.append(node.value)  # type: ignore[attr-defined]
                if function is not None:
                    self.returns_in[function].append(node)  # type: ignore[arg-type]
            elif kind is ast.Yield or kind is ast.YieldFrom:
                if node.value is not None:  # type: ignore[attr-defined]
                    self.results.append(node.value)  # type: ignore[attr-defined]
            elif kind is ast.Global:
                if function is not None:
                    self.globals_declared[function].update(node.names)  # type: ignore[attr-defined]
            fields = AST_FIELDS.get(kind)
            if fields is None:
                continue
            for name in reversed(fields):
                value = getattr(node, name, None)
                if type(value) is list:
                    for child in reversed(value):
                        if type(child) in AST_FIELDS:
                            stack.append((child, node, inner_function, inner_class))
                elif type(value) in AST_FIELDS:
                    stack.append((value, node, inner_function, inner_class))

    def _relative(self, level: int, module: str) -> str:
        """``from ..db import x`` inside ``app.api.routes`` -> ``app.db``; '.'-prefixed when unknown."""
        parts = self._package.split(".") if self._package else []
        if parts and level - 1 <= len(parts):
            base = parts[: len(parts) - (level - 1)]
            return ".".join([*base, module] if module else base)
        return "." * level + module

    def ancestors(self, node: ast.AST):  # type: ignore[no-untyped-def]
        current = self.parent.get(node)
        while current is not None:
            yield current
            current = self.parent.get(current)

    def on_every_path(self, node: ast.AST, receiver: str) -> bool:
        """Whether ``node`` (``<receiver>.remove``) runs on every path through its function
        (or module), as a teardown hook's or a ``finally``'s does: not in one branch of an
        ``if`` (or ``match``, conditional expression, ``and`` / ``or``), not only in an
        ``except`` or a ``try``'s ``else``, and not after an ``if`` that may return first.
        An ``if`` that tests the receiver itself (``if registry is not None:``) is a guard,
        not a branch, and an ``if`` removing it in both branches removes it on both paths.
        (A ``remove()`` late in a ``try`` body is not judged: it reads as the body's work.)"""
        child = node
        for ancestor in self.ancestors(node):
            block = next(
                (block for field in ("body", "orelse", "finalbody") if isinstance(block := getattr(ancestor, field, None), list) and child in block),
                None,
            )
            if block is not None:
                for earlier in block[: block.index(child)]:
                    if isinstance(earlier, ast.If) and not _mentions(earlier.test, receiver) and _may_return(earlier):
                        return False
            if isinstance(ancestor, (*_FUNCTION_TYPES, ast.ClassDef, ast.Module)):
                return True
            if isinstance(ancestor, ast.If) and child is not ancestor.test:
                other = ancestor.orelse if child in ancestor.body else ancestor.body
                if not (_mentions(ancestor.test, receiver) or any(_removes(statement, receiver) for statement in other)):
                    return False
            elif (
                (isinstance(ancestor, ast.IfExp) and child is not ancestor.test)
                or (isinstance(ancestor, ast.BoolOp) and child is not ancestor.values[0])
                or isinstance(ancestor, (ast.match_case, ast.ExceptHandler))
                or (isinstance(ancestor, (ast.Try, getattr(ast, "TryStar", ast.Try))) and child in ancestor.orelse)
            ):
                return False  # one branch, the error path, or the success path only
            child = ancestor
        return True

    def enclosing_function(self, node: ast.AST) -> FunctionNode | None:
        if node in self.function_of:
            return self.function_of[node]
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, _FUNCTION_TYPES):
                return ancestor  # type: ignore[return-value]
        return None

    def class_of_function(self, function: FunctionNode) -> ast.ClassDef | None:
        """The class whose body defines ``function`` directly (so it is a method)."""
        owner = self.enclosing_class.get(function)
        if owner is None:
            return None
        return owner if self.function_of.get(function) is self.function_of.get(owner) else None

    def class_body_of(self, node: ast.AST) -> ast.ClassDef | None:
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, _FUNCTION_TYPES):
                return None
            if isinstance(ancestor, ast.ClassDef):
                return ancestor
        return None

    # -- names ---------------------------------------------------------------------------

    def resolve_dotted(self, written: str) -> str | None:
        head, _, rest = written.partition(".")
        target = self.imports.get(head)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def qualified_name(self, node: ast.AST) -> str | None:
        """What a Name/Attribute chain refers to through the module's imports."""
        try:
            return self._qualified[node]
        except KeyError:
            pass
        qualified = None
        if isinstance(node, (ast.Name, ast.Attribute)):
            written = dotted(node)
            qualified = self.resolve_dotted(written) if written is not None else None
        self._qualified[node] = qualified
        return qualified

    def references(self) -> set[str]:
        """What every name and attribute chain of the module resolves to through its
        imports, and what each import names (a module that only re-exports a name uses it
        too). A chain's prefixes count (``app.db.SessionLocal.begin`` gives ``app.db``,
        ``app.db.SessionLocal`` and itself): the relevance search and the screen ask this."""
        resolved = {self.resolve_dotted(chain) for chain in self.chains}
        resolved.update(self.imports.values())
        resolved.discard(None)
        return resolved  # type: ignore[return-value]

    # -- CPython's tree, for the kind resolver (:mod:`.kinds`) ----------------------------

    SHAPES = AST_SHAPES

    def written_name(self, node: ast.AST) -> str | None:
        return dotted(node)

    def arguments(self, call: ast.Call) -> list[tuple[str | None, ast.expr]]:
        labelled: list[tuple[str | None, ast.expr]] = [
            ("*", arg.value) if isinstance(arg, ast.Starred) else (None, arg) for arg in call.args
        ]
        labelled += [("**" if keyword.arg is None else keyword.arg, keyword.value) for keyword in call.keywords]
        return labelled

    def is_none(self, node: ast.AST) -> bool:
        return _is_none(node)

    def either_operands(self, node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            return (node.values[0] if len(node.values) == 2 else node, node.values[-1])
        return None

    def annotation_members(self, annotation: ast.AST) -> list[ast.AST] | None:
        if isinstance(annotation, ast.BinOp):
            return [annotation.left, annotation.right]
        if isinstance(annotation, ast.Subscript):
            return list(annotation.slice.elts) if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        if isinstance(annotation, ast.Constant):
            if isinstance(annotation.value, str):
                try:
                    return [ast.parse(annotation.value.strip(), mode="eval").body]
                except (SyntaxError, ValueError, RecursionError):
                    return []
            return []
        return None

    def outer_function(self, function: FunctionNode) -> FunctionNode | None:
        return self.function_of.get(function)

    def is_def(self, function: FunctionNode) -> bool:
        return isinstance(function, _DEF_TYPES)

    def parameter_annotation(self, function: FunctionNode, name: str) -> ast.expr | None:
        if isinstance(function, _DEF_TYPES):
            arguments = function.args
            for param in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg):
                if param is not None and param.arg == name and param.annotation is not None:
                    return param.annotation
        return None

    def assigned(self, statement: ast.AST) -> list[tuple[ast.expr, ast.expr]]:
        return _assigned(statement)

    def with_targets(self, function: FunctionNode) -> list[tuple[str, ast.expr, bool]]:
        return [
            (item.optional_vars.id, item.context_expr, isinstance(statement, ast.AsyncWith))
            for statement in self.withs_in.get(function, ())
            for item in statement.items
            if isinstance(item.optional_vars, ast.Name)
        ]

    def return_statement_values(self, function: FunctionNode) -> list[ast.expr]:
        return [statement.value for statement in self.returns_in.get(function, ()) if statement.value is not None]

    def return_annotation(self, function: FunctionNode) -> ast.expr | None:
        return function.returns if isinstance(function, _DEF_TYPES) else None

    def defaulted_parameters(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, int]]:
        arguments = function.args
        positional = [*arguments.posonlyargs, *arguments.args]
        first_defaulted = len(positional) - len(arguments.defaults)
        defaulted = [(param.arg, position) for position, param in enumerate(positional) if position >= first_defaulted]
        defaulted += [(param.arg, -1) for param, default in zip(arguments.kwonlyargs, arguments.kw_defaults) if default is not None]
        return defaulted

    def decorator_expressions(self, function: FunctionNode) -> list[ast.expr]:
        if not isinstance(function, _DEF_TYPES):
            return []
        return [expression.func if isinstance(expression, ast.Call) else expression for expression in function.decorator_list]

    def kept_parameters(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[tuple[str, int, str], ...]:
        """``self.engine = engine`` in ``__init__``: which parameters the object keeps, where
        a caller passes them (position without ``self``), and under which attribute."""
        arguments = function.args
        positional = [param.arg for param in (*arguments.posonlyargs, *arguments.args)][1:]
        names = set(positional) | {param.arg for param in arguments.kwonlyargs}
        kept = []
        for assignment in self.assignments_in.get(function, ()):
            for target, value in _assigned(assignment):
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                    and isinstance(value, ast.Name)
                    and value.id in names
                ):
                    position = positional.index(value.id) if value.id in positional else -1
                    kept.append((value.id, position, target.attr))
        return tuple(kept)

    def kept_globally(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[tuple[str, int], ...]:
        """Parameters ``function`` stores for the process, and where a caller passes them:
        ``init_model(engine)`` doing ``meta.engine = engine`` (an imported module's
        attribute), ``global _engine; _engine = engine``, or ``_engines[key] = engine``
        (a module-level container). A caller handing its engine over owns it no more."""
        arguments = function.args
        positional = [param.arg for param in (*arguments.posonlyargs, *arguments.args)]
        if self.class_of_function(function) is not None and not self.decorator_names(function) & {"staticmethod"}:
            positional = positional[1:]
        names = set(positional) | {param.arg for param in arguments.kwonlyargs}
        declared = self.globals_declared.get(function, set())
        kept = []
        for assignment in self.assignments_in.get(function, ()):
            for target, value in _assigned(assignment):
                if not (isinstance(value, ast.Name) and value.id in names):
                    continue
                if (
                    (isinstance(target, ast.Name) and target.id in declared)
                    or (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and self._imported_module(target.value.id))
                    or (isinstance(target, ast.Subscript) and self._module_level(target.value, function))
                ):
                    kept.append((value.id, positional.index(value.id) if value.id in positional else -1))
        return tuple(dict.fromkeys(kept))

    def _imported_module(self, name: str) -> bool:
        """``meta`` of ``from app.model import meta`` / ``import app.model.meta as meta``:
        a name imported from the project that no module function or class of this module
        shadows. Whether it is a module or a class, an attribute set on it lives as long."""
        return name in self.imports and name not in self.module_functions and name not in self.classes

    def base_classes(self, class_def: ast.ClassDef) -> list[str]:
        """Qualified names of a class's bases: where it defines no ``__init__``, building it
        runs the first base's (``class SqliteExecutionEngine(SqlAlchemyExecutionEngine): pass``);
        a method it does not define is its bases' (``backend.get_write_engine()``)."""
        bases = []
        for base in class_def.bases:
            qualified = self.qualified_name(base)
            if qualified is None and isinstance(base, ast.Name) and base.id in self.classes:
                qualified = f"{self.module}.{base.id}"
            if qualified is not None:
                bases.append(qualified)
        return bases

    def memoises(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Whether ``function`` keeps what it returns for the process: stored in a module
        dict (``_engines[url] = engine``; ``return cache.setdefault(url, make(url))``) or
        a ``global`` it returns. Every caller then gets the same object and owns none."""
        returned = [r.value for r in self.returns_in.get(function, ()) if r.value is not None and not _is_none(r.value)]
        if not returned:
            return False
        names = {value.id for value in returned if isinstance(value, ast.Name)}
        declared = self.globals_declared.get(function, set())
        if names & declared:
            return True
        for value in returned:
            if isinstance(value, ast.Subscript) and self._module_level(value.value, function):
                return True  # ``return _cache[url]``
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr == "setdefault"
                and self._module_level(value.func.value, function)
            ):
                return True
        for assignment in self.assignments_in.get(function, ()):
            for target, value in _assigned(assignment):
                if (
                    isinstance(target, ast.Subscript)
                    and self._module_level(target.value, function)
                    and isinstance(value, ast.Name)
                    and value.id in names
                ):
                    return True
        return False

    def _module_level(self, node: ast.AST, function: FunctionNode) -> bool:
        """A name that refers to a module-level binding inside ``function`` (or ``cls.x`` / a
        class attribute, which lives as long)."""
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("cls", *self.classes):
            return True
        if not isinstance(node, ast.Name) or node.id not in self.module_bindings:
            return False
        return not any(name == node.id for a in self.assignments_in.get(function, ()) for name, _ in _assigned_names(a))

    def function_name(self, function: FunctionNode) -> str:
        if isinstance(function, _DEF_TYPES):
            owner = self.class_of_function(function)
            return (f"{owner.name}." if owner is not None else "") + function.name
        return "<lambda>"

    def _function_for_reference(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        if isinstance(node, ast.Name):
            return self.module_functions.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = self.class_for_receiver(node.value, node)
            if owner is not None:
                return self.methods.get(owner, {}).get(node.attr)
        return None

    # -- application structure -----------------------------------------------------------

    def request_handlers(self) -> set[FunctionNode]:
        """Route handlers (``@app.get``, ``@bp.route``...) and FastAPI dependencies."""
        handlers: set[FunctionNode] = set()
        for function in self.function_defs:
            for expression in function.decorator_list:
                if isinstance(expression, ast.Call):
                    expression = expression.func
                if isinstance(expression, ast.Attribute) and expression.attr in ROUTE_DECORATOR_METHODS and self.qualified_name(expression) is None:
                    handlers.add(function)
        for call in self.calls:
            qualified = self.qualified_name(call.func) or ""
            if qualified.rpartition(".")[2] in ("Depends", "Security") and (call.args or call.keywords):
                first = call.args[0] if call.args else call.keywords[0].value
                target = self._function_for_reference(first)
                if target is not None:
                    handlers.add(target)
        return handlers

    def startup_functions(self) -> set[FunctionNode]:
        """Lifespans and startup hooks of FastAPI/Starlette/aiohttp/Quart apps: they run once."""
        found: set[FunctionNode] = set()
        for function in self.function_defs:
            for expression in function.decorator_list:
                event = None
                if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Attribute):
                    if expression.func.attr == "on_event" and expression.args:
                        event = _string(expression.args[0])
                elif isinstance(expression, ast.Attribute):
                    event = {"before_serving": "startup"}.get(expression.attr)
                if event == "startup":
                    found.add(function)
        for call in self.calls:
            for keyword in call.keywords:
                if keyword.arg in ("lifespan", "lifespan_context"):
                    target = self._function_for_reference(keyword.value)
                    if target is not None:
                        found.add(target)
                elif keyword.arg == "on_startup" and isinstance(keyword.value, (ast.List, ast.Tuple)):
                    for element in keyword.value.elts:
                        target = self._function_for_reference(element)
                        if target is not None:
                            found.add(target)
            func = call.func
            if not isinstance(func, ast.Attribute) or not call.args:
                continue
            if func.attr == "add_event_handler" and len(call.args) >= 2:
                target = self._function_for_reference(call.args[1])
                if target is not None and _string(call.args[0]) == "startup":
                    found.add(target)
            elif func.attr in ("append", "insert") and isinstance(func.value, ast.Attribute):
                if func.value.attr in ("on_startup", "cleanup_ctx"):
                    target = self._function_for_reference(call.args[-1])
                    if target is not None:
                        found.add(target)
        for assignment in (*self.module_assignments, *(a for assignments in self.assignments_in.values() for a in assignments)):
            if isinstance(assignment, (ast.Assign, ast.AnnAssign)):
                for target, value in _assigned(assignment):
                    if (dotted(target) or "").rpartition(".")[2] == "lifespan_context":
                        function = self._function_for_reference(value)
                        if function is not None:
                            found.add(function)
        return found

    def is_once_per_process(self, function: FunctionNode, startup: set[FunctionNode]) -> bool:
        """Entry points and hooks that run once: ``main()``, lifespans, cached functions,
        and functions the user declared ``called-once``."""
        if function in startup or self.is_cached(function):
            return True
        if not isinstance(function, _DEF_TYPES):
            return False
        if function.name in MAIN_FUNCTION_NAMES or self.is_cli_command(function):
            return True
        declared = self.factories.called_once
        if declared:
            local = self.function_name(function)
            return bool({local, function.name, f"{self.module}.{local}"} & declared)
        return False

    def is_cli_command(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """A click, typer or Flask CLI command (``@click.command()``, ``@cli.command()`` on a
        click group, ``@app.command()`` on a ``typer.Typer``, ``@app.cli.command()``): one
        process runs it once."""
        return any(self._is_cli_decorator(decorator, 0) for decorator in function.decorator_list)

    def _is_cli_decorator(self, expression: ast.AST, depth: int) -> bool:
        if isinstance(expression, ast.Call):
            expression = expression.func
        qualified = self.qualified_name(expression) or ""
        if qualified.partition(".")[0] in CLI_ROOTS and qualified.rpartition(".")[2] in CLI_COMMAND_DECORATORS:
            return True
        if not isinstance(expression, ast.Attribute) or expression.attr not in CLI_COMMAND_DECORATORS or depth > 8:
            return False
        holder = expression.value
        if isinstance(holder, ast.Attribute) and holder.attr == "cli":
            return True  # Flask's ``app.cli`` / ``blueprint.cli``
        if not isinstance(holder, ast.Name):
            return False
        for value in self.module_bindings.get(holder.id, ()):  # ``cli = click.Group()``, ``app = typer.Typer()``
            if isinstance(value, ast.Call) and (self.qualified_name(value.func) or "").partition(".")[0] in CLI_ROOTS:
                return True
        group = self.module_functions.get(holder.id)  # ``@click.group()`` / ``@cli.group()`` over ``def db()``
        return group is not None and any(self._is_cli_decorator(d, depth + 1) for d in group.decorator_list)

    def runs_per_iteration(self, node: ast.AST, function: FunctionNode) -> bool:
        """Whether ``node`` runs on every iteration of a loop in ``function``. A retry loop
        (``while True: engine = make(); ...; return engine``) makes what it returns once."""
        loop: ast.AST | None = None
        child = node
        in_loop = False
        for ancestor in self.ancestors(node):
            if ancestor is function:
                break
            if isinstance(ancestor, _LOOP_TYPES):
                if isinstance(ancestor, (ast.For, ast.AsyncFor)) and child is ancestor.iter:
                    child = ancestor
                    continue
                in_loop, loop = True, ancestor
                break
            if isinstance(ancestor, _COMPREHENSION_TYPES):
                in_loop = True
                break
            child = ancestor
        if not in_loop:
            return False
        if loop is None:
            loop = next((a for a in self.ancestors(node) if isinstance(a, _LOOP_TYPES)), None)
        statement = next((a for a in [node, *self.ancestors(node)] if isinstance(a, ast.stmt)), None)
        if loop is None or not isinstance(statement, (ast.Assign, ast.AnnAssign)):
            return True
        names = {name for name, _ in _assigned_names(statement)}
        return not any(
            isinstance(returned.value, ast.Name) and returned.value.id in names and self._contains(loop, returned)
            for returned in self.returns_in.get(function, ())
        )

    def _passes_engine(self, call: ast.Call) -> bool:
        for argument in (*call.args, *(keyword.value for keyword in call.keywords)):
            if isinstance(argument, ast.Name):
                kind = self.kind_of(argument)
                if kind is not None and kind.is_engine:
                    return True
        return False

    def memoised_call(self, call: ast.Call, function: FunctionNode) -> bool:
        """``if self.tables is None: self.tables = self._load()`` (or ``if not self.tables``,
        also as one operand of an ``and``): the call's result is kept where the guard looks,
        so the call runs again only while nothing is kept there."""
        statement = self.parent.get(call)
        if not isinstance(statement, ast.Assign) or statement.value is not call or len(statement.targets) != 1:
            return False
        target = statement.targets[0]
        if not isinstance(target, (ast.Attribute, ast.Name)):
            return False
        written = ast.dump(target, include_attributes=False).replace("Store()", "Load()")
        child: ast.AST = statement
        for ancestor in self.ancestors(statement):
            if ancestor is function:
                return False
            if isinstance(ancestor, ast.If) and child in ancestor.body and _tests_unset(ancestor.test, written):
                return True
            child = ancestor
        return False

    def _contains(self, outer: ast.AST, inner: ast.AST) -> bool:
        return inner is outer or any(ancestor is outer for ancestor in self.ancestors(inner))

    # -- the summary ---------------------------------------------------------------------

    def symbolic_value(self, node: ast.AST) -> str | None:
        """A value other modules can resolve: ``kind:ENGINE``, ``call:app.db.SessionLocal``."""
        kind = self.kind_of(node)
        if kind is not None:
            return f"kind:{kind.name}"
        if isinstance(node, ast.Await):
            return self.symbolic_value(node.value)
        if isinstance(node, ast.Call):
            func = node.func
            qualified = self.qualified_name(func)
            if qualified is not None:
                return f"call:{qualified}"
            if isinstance(func, ast.Attribute) and func.attr in CONNECTION_METHODS:
                receiver = self.qualified_name(func.value)
                if receiver is not None:
                    return f"connect:{receiver}"
            function = self.function_called(node)
            if function is not None and not self.is_cached(function):
                return self.symbolic_return(function)
            return self._constructed_here(func)
        if isinstance(node, (ast.Name, ast.Attribute)):
            qualified = self.qualified_name(node)
            if qualified is not None:
                return f"ref:{qualified}"
            return self._declared_instance(node)
        return None

    def _constructed_here(self, func: ast.expr) -> str | None:
        """``call:app.state.Backend`` for ``Backend(...)`` of a class this module defines: an
        instance other modules import (``from app.state import backend``) then has a known
        class, whose methods' returns the index knows (``backend.get_write_engine()``)."""
        if isinstance(func, ast.Name) and func.id in self.classes:
            return f"call:{self.module}.{func.id}"
        return None

    def _declared_instance(self, node: ast.expr) -> str | None:
        """``call:app.backend.Backend`` for ``self.backend`` / ``cls.backend`` that the class
        body declares ``backend: Backend`` (or ``"Backend"``, ``Backend | None``): a method
        returning it (``return cls._active_backend``) returns an instance of that class."""
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            return None
        owner = self.class_for_receiver(node.value, node)
        declared = {
            self._annotated_class(statement.annotation)
            for statement in (self.class_body_assignments.get(owner, ()) if owner is not None else ())
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.target.id == node.attr
        }
        named = declared.pop() if len(declared) == 1 else None
        return f"call:{named}" if named is not None else None

    def _annotated_class(self, annotation: ast.expr) -> str | None:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except (SyntaxError, ValueError):
                return None
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            if _is_none(annotation.right):
                return self._annotated_class(annotation.left)
            return self._annotated_class(annotation.right) if _is_none(annotation.left) else None
        if isinstance(annotation, ast.Subscript) and self.qualified_name(annotation.value) == "typing.Optional":
            return self._annotated_class(annotation.slice)
        if isinstance(annotation, ast.Name) and annotation.id in self.classes:
            return f"{self.module}.{annotation.id}"
        return self.qualified_name(annotation) if isinstance(annotation, (ast.Name, ast.Attribute)) else None

    def _bound_parameters(self) -> dict[FunctionNode, set[str]]:
        """For each module-level function, the parameters a session (or session factory) it
        makes is bound to: ``Session(bind=conn)``, ``Session(conn)``, ``Session(bind=op.get_bind())``,
        ``sessionmaker(bind=conn)``."""
        bound: dict[FunctionNode, set[str]] = defaultdict(set)
        for call in self.calls:
            function = self.function_of.get(call)
            if not isinstance(function, _DEF_TYPES) or self.function_of.get(function) is not None or self.class_of_function(function):
                continue
            bind = next((keyword.value for keyword in call.keywords if keyword.arg == "bind"), call.args[0] if call.args else None)
            if isinstance(bind, ast.Call) and isinstance(bind.func, ast.Attribute):
                bind = bind.func.value
            if not isinstance(bind, ast.Name) or isinstance(bind, ast.Starred):
                continue
            arguments = function.args
            if bind.id not in {a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)}:
                continue
            kind = self.kind_of(call)
            if kind is not None and (kind.is_session or kind in SESSION_FOR_FACTORY):
                bound[function].add(bind.id)
        return bound

    def _passed_values(self, call: ast.Call) -> tuple[str, ...]:
        """What a call of a project function passes, for questions about its parameters
        (``get_version(op)`` handing alembic's ``op`` on)."""
        passed = ["*" if isinstance(arg, ast.Starred) else self.symbolic_value(arg) or "?" for arg in call.args]
        passed += ["*" if keyword.arg is None else f"{keyword.arg}={self.symbolic_value(keyword.value) or '?'}" for keyword in call.keywords]
        return tuple(passed)

    def symbolic_return(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
        if function in self._in_progress or self.decorator_names(function) & CONTEXT_MANAGER_DECORATORS:
            return None
        self._in_progress.add(function)
        try:
            values = [self.symbolic_value(value) for value in self.returned_values(function)]
        finally:
            self._in_progress.discard(function)
        if not values or any(value is None for value in values):
            annotated = self.annotated_engine(function)
            return f"kind:{annotated.name}" if annotated is not None else None
        return values[0]

    def _first_symbolic(self, values: list[ast.expr]) -> str | None:
        for value in values:
            symbolic = self.symbolic_value(value)
            if symbolic is not None:
                return symbolic
        return None

    def qualified_receiver(self, receiver: str, site: ast.AST) -> str:
        """``db_session`` -> ``app.database.db_session``; ``self.Session`` -> ``mod.Cls.Session``."""
        head, _, rest = receiver.partition(".")
        owner_class = self.class_body_of(site)
        if owner_class is not None and "." not in receiver:
            return f"{self.module}.{owner_class.name}.{receiver}"
        if head in self.imports:
            target = self.imports[head]
            return f"{target}.{rest}" if rest else target
        if head in ("self", "cls"):
            function = self.enclosing_function(site)
            owner = self.class_of_function(function) if function is not None else None
            if owner is not None:
                return f"{self.module}.{owner.name}.{rest}"
        return f"{self.module}.{receiver}"

    def summary(self, project_packages: frozenset[str]) -> ModuleSummary:
        module = self.module
        summary = ModuleSummary(module=module)
        for local, target in self.imports.items():
            root = target.partition(".")[0]
            # A compatibility module re-exports what its ``try:`` imports from a modelled library.
            if root in project_packages or (local in self.compatibility_names and root in KNOWN_ROOTS):
                summary.aliases[local] = target
        for name, values in self.module_bindings.items():
            symbolic = self._first_symbolic(values)
            if symbolic is not None:
                summary.bindings[name] = symbolic
        for class_def, attributes in self.class_attributes.items():
            if self.function_of.get(class_def) is not None:
                continue
            for attribute, values in attributes.items():
                symbolic = self._first_symbolic(values)
                if symbolic is not None:
                    summary.bindings[f"{class_def.name}.{attribute}"] = symbolic
        creating_engines: set[FunctionNode] = set()
        # Only these callees can give an engine: a known engine maker, a configured one, or
        # a function of this module (its return kind). Asking the kind of every other call
        # costs a third of a module's facts.
        makers = _ENGINE_MAKER_LEAVES | {name.rpartition(".")[2] for name in self.factories.engine_factories}
        may_make_engine = (
            makers
            | {local for local, target in self.imports.items() if target.rpartition(".")[2] in makers}  # aliases
            | set(self.module_functions)
            | {name for methods in self.methods.values() for name in methods}
        )
        for call in self.calls:
            leaf = call.func.id if isinstance(call.func, ast.Name) else call.func.attr if isinstance(call.func, ast.Attribute) else None
            if leaf not in may_make_engine:
                continue
            kind = self.kind_of(call)
            if kind is None or not kind.is_engine:
                continue
            outermost = self.function_of.get(call)
            while outermost is not None and self.function_of.get(outermost) is not None:
                outermost = self.function_of[outermost]
            if outermost is not None:
                creating_engines.add(outermost)
        handlers = self.request_handlers()
        startup = self.startup_functions()
        bound = self._bound_parameters()
        for function in self.function_defs:
            if self.function_of.get(function) is not None:
                continue
            keeps_result = self.memoises(function)
            summary.functions[self.function_name(function)] = FunctionSummary(
                returns=self.symbolic_return(function),
                borrowed_param=self.borrowed_session_param(function),
                is_handler=function in handlers,
                is_once=keeps_result or self.is_once_per_process(function, startup),
                is_cached=self.is_cached(function),
                creates_engine=function in creating_engines,
                keeps_result=keeps_result,
                kept_parameters=self.kept_parameters(function) if function.name == "__init__" else (),
                bound_parameters=tuple(sorted(bound.get(function, ()))),
                kept_globally=self.kept_globally(function),
            )
        for name, class_def in self.classes.items():
            bases = [base for base in self.base_classes(class_def) if base.partition(".")[0] in project_packages]
            if bases:
                summary.bases[name] = bases
        for call in self.calls:
            callee = self.qualified_name(call.func)
            if callee is None:
                target = self.function_called(call)
                callee = f"{module}.{self.function_name(target)}" if target is not None else None
            if callee is None and isinstance(call.func, ast.Name) and call.func.id in self.classes:
                callee = f"{module}.{call.func.id}"  # an instance made here: the index reads it as a call of __init__
            if callee is None or callee.partition(".")[0] not in project_packages:
                continue
            caller_function = self.function_of.get(call)
            caller = None
            per_iteration = memoised = passes_engine = False
            if caller_function is not None:
                caller = f"{module}.{self.function_name(caller_function)}"
                per_iteration = self.runs_per_iteration(call, caller_function)
                memoised = self.memoised_call(call, caller_function)
                passes_engine = caller_function in creating_engines and self._passes_engine(call)
            summary.calls.append(
                CallSite(callee, caller, per_iteration, self._passed_values(call), memoised=memoised, passes_engine=passes_engine)
            )
        for attribute in self.attributes_named.get("remove", ()):
            receiver = dotted(attribute.value)
            if receiver is not None and self.on_every_path(attribute, receiver):
                summary.removes.append(self.qualified_receiver(receiver, attribute))
        for attribute in self.attributes_named.get("dispose", ()):
            receiver = dotted(attribute.value)
            if receiver is not None:  # disposing ``engine.sync_engine`` disposes ``engine``
                summary.disposes.append(self.qualified_receiver(receiver.removesuffix(".sync_engine"), attribute))
        summary.shutdown_point = self.has_shutdown_point()
        return summary

    def has_shutdown_point(self) -> bool:
        """A lifespan, a shutdown or cleanup hook, or an ``asyncio.run`` entry point: a place
        where the application's loop ends and an engine could be disposed first."""
        if any(self.attributes_named.get(name) for name in _SHUTDOWN_REGISTRIES):
            return True
        for call in self.calls:
            if any(keyword.arg in _SHUTDOWN_KEYWORDS for keyword in call.keywords):
                return True
            if (self.qualified_name(call.func) or "") in ("asyncio.run", "asyncio.runners.run"):
                return True
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr in ("on_event", "add_event_handler") and call.args:
                if _string(call.args[0]) == "shutdown":
                    return True
        return any(
            isinstance(decorator, ast.Attribute) and decorator.attr == "after_serving"
            for function in self.function_defs
            for decorator in function.decorator_list
        )
