"""Which files cannot produce a finding, decided without libcst.

A libcst parse costs about ten times CPython's own parser, and most files of a real project
never create a session, engine, connection or pool: they do not mention SQLAlchemy at all, or
only annotate parameters with ``Session``. This module proves that cheaply, so only the other
files pay for libcst. It is conservative: a file is skipped only when the full analysis
provably finds nothing in it. ``tests/test_prefilter.py`` checks that on the fixtures and on
generated programs.

Why skipping is sound: every kind the semantic model infers (:mod:`.semantic.model`) starts
at a *seed*:

1. a call to a configured factory, or to a name the caller passes as ``extra_names`` (the
   hook for a project index that knows what other modules export);
2. a call whose callee resolves through imports to a known API
   (:data:`.semantic.symbols.CALL_RESULT_LEAVES`);
3. a parameter or return annotation that resolves to a known type
   (:data:`.semantic.symbols.ANNOTATION_LEAVES`).

From a seed, kinds only move (assignments, ``with ... as``, returns, attributes), except that
calling a session factory gives a session and ``connect()``/``begin()`` on an engine gives a
connection. A qualified name's last segment is always written in the file, in the import or
in the attribute chain, and its root package is written too unless a relative import reaches
it. So:

- Text stage: a file with no known name, or with neither a known root package nor a relative
  import, has no seed of kind 2 or 3; one with no configured or extra name has none of kind 1.
- Tree stage (CPython's ``ast``): a known symbol used anywhere but an annotation (a call, an
  alias, an attribute) makes the file worth analysing, except ``sessionmaker``: a factory
  creates nothing until it is called. What is left are resources that only come from
  annotations or factories, and for each a finding needs one more step, which the stage
  looks for with the values that may hold the resource over-approximated by name,
  regardless of scope:

  - a session from an annotated parameter must be returned, yielded or entered in a
    ``with`` (SQA401 at a helper's call site, SQA402, SQA404), or appear in the arguments
    of a call that may run things at once (``gather``, ``create_task``; SQA406);
  - an engine from an annotation must have ``connect()``, ``begin()`` or
    ``raw_connection()`` called (SQA503); engines a helper returns are exempt from
    SQA501 and SQA502;
  - a session factory must be called or have ``begin()`` called.

A skipped file has still been parsed by CPython, or its rewrite when it is newer Python
than the interpreter's (:mod:`.semantic.downlevel`). A file neither parses is analysed in
full, so its SQA001 comes from the full path exactly as without the prefilter.

A new way for the model to infer a kind must be mirrored here; add its shape to the program
generator in ``tests/test_prefilter.py``, which compares both paths.
"""

from __future__ import annotations

import ast
import codecs
import re
import symtable
import warnings
from collections.abc import Callable, Iterable
from functools import cached_property

from .semantic.facts import AST_FIELDS, RELATIVE_IMPORT
from .semantic.parsing import cpython_tree, newer_syntax_tree
from .semantic.symbols import (
    ANNOTATION_LEAVES,
    CALL_RESULT_LEAVES,
    CLOSING_WRAPPERS,
    CONCURRENCY_LEAVES,
    CONNECTION_METHODS,
    CONNECTIONLESS_EXECUTE,
    KNOWN_ROOTS,
    Kind,
)

__all__ = ["RELATIVE_IMPORT", "Prefilter", "may_use_known_api"]

_KNOWN_LEAVES = frozenset(CALL_RESULT_LEAVES) | frozenset(ANNOTATION_LEAVES)
# The shortest spellings that every known name contains (``Session`` is in ``AsyncSession``):
# a fast substring test first, the exact identifier test only on files that pass it.
_KNOWN_SUBSTRINGS = tuple(
    leaf.encode()
    for leaf in _KNOWN_LEAVES
    if not any(other != leaf and other in leaf for other in _KNOWN_LEAVES)
)
_ROOT_SUBSTRINGS = tuple(root.encode() for root in sorted(KNOWN_ROOTS))


def _identifiers(names: Iterable[str]) -> re.Pattern[bytes]:
    """Any of ``names`` as a whole identifier. A non-ASCII neighbour counts as a boundary,
    which can only make the pattern match more often."""
    alternatives = b"|".join(re.escape(name.encode()) for name in sorted(names, key=len, reverse=True))
    return re.compile(b"(?<![A-Za-z0-9_])(?:" + alternatives + b")(?![A-Za-z0-9_])")


_KNOWN_NAMES = _identifiers(_KNOWN_LEAVES)
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_CLOSING_LEAVES = frozenset(name.rpartition(".")[2] for name in CLOSING_WRAPPERS)
_SESSION_KINDS = frozenset({Kind.SESSION, Kind.ASYNC_SESSION})
_ENGINE_KINDS = frozenset({Kind.ENGINE, Kind.ASYNC_ENGINE})
_FACTORY_KINDS = frozenset({Kind.SESSION_FACTORY, Kind.ASYNC_SESSION_FACTORY})
# ``sessionmaker`` and friends: calling one makes a factory, which creates nothing until called.
_FACTORY_MAKERS = frozenset(leaf for leaf, kinds in CALL_RESULT_LEAVES.items() if kinds <= _FACTORY_KINDS)


class Prefilter:
    """Built once per settings; ``needs_analysis`` is called once per file.

    ``factory_names`` are the configured session and engine factories; ``extra_names`` are
    further names whose call may create a resource, such as what a project index knows
    other modules export. A file that mentions any of them is always analysed.
    """

    def __init__(self, factory_names: Iterable[str] = (), extra_names: Iterable[str] = ()) -> None:
        words = {
            word
            for name in (*factory_names, *extra_names)
            for word in _IDENTIFIER.findall(name.rpartition(".")[2])
        }
        self._named = _identifiers(words) if words else None

    def names_a_factory(self, source: bytes) -> bool:
        """Whether ``source`` mentions a configured factory or an extra name."""
        return self._named is not None and self._named.search(source) is not None

    def needs_analysis(self, source: bytes, tree: ast.Module | None = None, *, check_syntax: bool = True) -> bool:
        """False only when the full analysis cannot report anything for ``source``.

        ``tree`` is CPython's parse of ``source`` when the caller has one (flake8 does). A
        file that CPython cannot parse needs analysis when ``check_syntax`` is set, so that it
        gets its SQA001 from the same parser as without the prefilter.
        """
        if not _ascii_transparent(source):
            return True
        if self.names_a_factory(source):
            return True
        if not may_use_known_api(source):
            return check_syntax and tree is None and not _parses(source)
        if tree is None:
            tree = cpython_tree(source)
            if tree is None:
                return True
        try:
            return _TreeScreen(tree).needs_analysis()
        except RecursionError:
            return True


def may_use_known_api(source: bytes) -> bool:
    """The text stage: whether ``source`` may hold a seed of kind 2 or 3 (see above). The
    project index summarises only such modules and those that use what they bind."""
    if not _ascii_transparent(source):
        return True
    return (
        any(name in source for name in _KNOWN_SUBSTRINGS)
        and (any(root in source for root in _ROOT_SUBSTRINGS) or RELATIVE_IMPORT.search(source) is not None)
        and _KNOWN_NAMES.search(source) is not None
    )


_PARSE_ERRORS = (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError)


def _parses(source: bytes) -> bool:
    """Whether CPython parses ``source``, without building the tree: its symbol table pass
    runs the parser and skips turning the tree into Python objects, a quarter of the cost.
    It also rejects a few programs the parser accepts (``nonlocal`` at module level); those
    go to the full path too, where libcst decides, so no finding depends on the difference.
    A source in newer syntax than this interpreter's parses when its rewrite does
    (:func:`.newer_syntax_tree`), as on the full path."""
    # A warning is not an error (as in :mod:`.semantic.parsing`): under ``-W error`` an
    # invalid escape sequence would otherwise send the file down the slow path.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            symtable.symtable(source, "<prefilter>", "exec")  # type: ignore[arg-type]
        except SyntaxError:
            return newer_syntax_tree(source) is not None
        except _PARSE_ERRORS:
            return False
    return True


def _ascii_transparent(source: bytes) -> bool:
    """Whether ASCII identifiers are spelled with the same bytes as in ASCII: true of UTF-8
    and the single-byte encodings, not of UTF-7, which can spell ``Session`` in base64."""
    first = source.find(b"\n")
    second = source.find(b"\n", first + 1) if first >= 0 else -1
    head = source if second < 0 else source[:second]
    match = _CODING.search(head)
    if match is None:
        return True
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return True  # CPython rejects the file, which is then analysed in full
    return name in ("utf-8", "utf-8-sig", "ascii") or name.startswith(("iso8859", "cp125"))


class _TreeScreen:
    """The tree stage of the argument in the module docstring, over one ``ast`` tree.

    Names resolve as in :class:`.semantic.names.ImportMap`: through imports anywhere in the
    file, by the head of an attribute chain. A name that no import binds under a known root
    package (or through a relative import) never resolves to a known symbol.
    """

    def __init__(self, tree: ast.Module) -> None:
        self.names: dict[str, int] = {}
        self.known_attributes: list[ast.Attribute] = []
        self.imports: list[ast.Import | ast.ImportFrom] = []
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.annotations: list[ast.expr] = []  # of assignments: the model reads no kind there
        self.assignments: list[ast.Assign | ast.AnnAssign | ast.NamedExpr] = []
        self.withs: list[ast.withitem] = []
        self.results: list[ast.expr] = []  # values of return, yield and yield from
        self.connects: list[ast.Attribute] = []  # callees ``x.connect`` / ``x.begin`` / ...
        self.callees: list[ast.expr] = []
        self.concurrent_calls: list[ast.Call] = []  # ``gather(...)``, ``create_task(...)``
        self._collect(tree)
        self.rooted: set[str] = set()  # local names bound under a known root package
        self.symbols: dict[str, str] = {}  # local name -> the known name it is bound to
        self.closers = set(_CLOSING_LEAVES)  # names that may be contextlib.closing
        self._bind_imports()

    def _collect(self, tree: ast.Module) -> None:
        names = self.names
        stack: list[object] = [tree]
        while stack:
            node = stack.pop()
            kind = type(node)
            fields = AST_FIELDS.get(kind)
            if fields is None:
                continue  # None, a str in ``global a, b``, a context
            for field in fields:
                value = getattr(node, field, None)
                if type(value) is list:
                    stack.extend(value)
                elif value is not None:
                    stack.append(value)
            if kind is ast.Name:
                names[node.id] = names.get(node.id, 0) + 1  # type: ignore[attr-defined]
            elif kind is ast.Attribute:
                if node.attr in _KNOWN_LEAVES:  # type: ignore[attr-defined]
                    self.known_attributes.append(node)  # type: ignore[arg-type]
            elif kind is ast.Call:
                func = node.func  # type: ignore[attr-defined]
                self.callees.append(func)
                if type(func) is ast.Attribute and (func.attr in CONNECTION_METHODS or func.attr == CONNECTIONLESS_EXECUTE):
                    self.connects.append(func)
                if _leaf(func) in CONCURRENCY_LEAVES:
                    self.concurrent_calls.append(node)  # type: ignore[arg-type]
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                self.functions.append(node)  # type: ignore[arg-type]
            elif kind is ast.Import or kind is ast.ImportFrom:
                self.imports.append(node)  # type: ignore[arg-type]
            elif kind is ast.Assign or kind is ast.NamedExpr:
                self.assignments.append(node)  # type: ignore[arg-type]
            elif kind is ast.AnnAssign:
                self.assignments.append(node)  # type: ignore[arg-type]
                self.annotations.append(node.annotation)  # type: ignore[attr-defined]
            elif kind is ast.With or kind is ast.AsyncWith:
                self.withs.extend(node.items)  # type: ignore[attr-defined]
            elif kind is ast.Return or kind is ast.Yield or kind is ast.YieldFrom:
                if node.value is not None:  # type: ignore[attr-defined]
                    self.results.append(node.value)  # type: ignore[attr-defined]

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
                    if leaf in _KNOWN_LEAVES:
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
                if node.attr in _KNOWN_LEAVES:
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
        returns: dict[str, list[ast.expr]] = {}
        for function in self.functions:
            values = returns.setdefault(function.name, [])
            values.extend(node.value for node in ast.walk(function) if isinstance(node, ast.Return) and node.value)
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
