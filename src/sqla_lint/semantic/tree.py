"""One traversal of a module that records what every later question needs.

libcst's ParentNodeProvider, ScopeProvider and QualifiedNameProvider each cost a full extra
pass and allocate per node. The rules only need parents, "is A inside B", the enclosing
function and class, imports, and a handful of node lists, so one hand-written pass records
exactly those. Nodes hash by identity, so dictionaries keyed by node are safe.

The pass does not use ``CSTNode.visit``: a libcst visitor rebuilds (and re-validates) every
node it passes, which costs more than parsing. It reads each node's children in the order
libcst visits them, learned once per node type, and skips whitespace, comments and
punctuation, which no question is ever asked about.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterator

import libcst as cst

FunctionNode = cst.FunctionDef | cst.Lambda
LOOP_TYPES = (cst.For, cst.While)
COMPREHENSION_TYPES = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


# Nodes that are only spelling: no question is asked about them or anything inside them.
_TRIVIA: tuple[type[cst.CSTNode], ...] = (
    cst.BaseParenthesizableWhitespace,
    cst.TrailingWhitespace,
    cst.EmptyLine,
    cst.Newline,
    cst.Comment,
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
    cst.Comma,
    cst.Dot,
    cst.Semicolon,
    cst.Colon,
    cst.AssignEqual,
    cst.Asynchronous,
    cst.BaseBinaryOp,
    cst.BaseBooleanOp,
    cst.BaseCompOp,
    cst.BaseUnaryOp,
    cst.BaseAugOp,
)


class _FieldOrder(cst.CSTVisitor):
    """Records the fields libcst visits on one node, in visiting order, without descending."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.fields.append(attribute)


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
# type -> whether the walk enters values of that type (syntax nodes, not trivia or scalars)
_ENTERED: dict[type, bool] = {}


def _child_fields(node: cst.CSTNode) -> tuple[str, ...]:
    """The fields of ``type(node)`` in libcst's visiting order. A few node types visit a
    field only when it is set (an f-string's ``format_spec``, always their last child), so
    fields the recorder did not see go last."""
    recorder = _FieldOrder()
    node._visit_and_replace_children(recorder)
    seen = dict.fromkeys(recorder.fields)
    fields = (*seen, *(field.name for field in dataclasses.fields(node) if field.name not in seen))
    _CHILD_FIELDS[type(node)] = fields
    return fields


def _entered(kind: type) -> bool:
    entered = issubclass(kind, cst.CSTNode) and not issubclass(kind, _TRIVIA)
    _ENTERED[kind] = entered
    return entered


class TreeIndex:
    """Parents, pre-order intervals and the node lists the semantic model asks about."""

    def __init__(self) -> None:
        self.parent: dict[cst.CSTNode, cst.CSTNode] = {}
        self._start: dict[cst.CSTNode, int] = {}
        self._end: dict[cst.CSTNode, int] = {}
        self._counter = 0
        self._stack: list[cst.CSTNode] = []
        self._functions: list[FunctionNode] = []
        self._classes: list[cst.ClassDef] = []

        self.imports: list[cst.Import | cst.ImportFrom] = []
        self.calls: list[cst.Call] = []
        self.function_defs: list[cst.FunctionDef] = []
        self.class_defs: list[cst.ClassDef] = []
        self.withs: list[cst.With] = []
        self.withs_in: dict[FunctionNode, list[cst.With]] = defaultdict(list)
        self.attributes_named: dict[str, list[cst.Attribute]] = defaultdict(list)
        # name -> reference nodes (loads and stores), per innermost function (None = module).
        self.names_in: dict[FunctionNode | None, dict[str, list[cst.Name]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.enclosing_function: dict[cst.CSTNode, FunctionNode | None] = {}
        self.enclosing_class: dict[cst.CSTNode, cst.ClassDef | None] = {}
        # Functions nested inside a function (directly or deeper), for closure checks.
        self.nested_functions: dict[FunctionNode, list[FunctionNode]] = defaultdict(list)
        self.globals_declared: dict[FunctionNode, set[str]] = defaultdict(set)
        self.nonlocals_declared: dict[FunctionNode, set[str]] = defaultdict(set)
        self.yields_in: dict[FunctionNode, list[cst.Yield]] = defaultdict(list)
        self.returns_in: dict[FunctionNode, list[cst.Return]] = defaultdict(list)
        self.module_assignments: list[cst.Assign | cst.AnnAssign] = []
        self.assignments_in: dict[FunctionNode, list[cst.Assign | cst.AnnAssign | cst.NamedExpr]] = (
            defaultdict(list)
        )
        self.class_body_assignments: dict[cst.ClassDef, list[cst.Assign | cst.AnnAssign]] = (
            defaultdict(list)
        )

    # -- the walk ----------------------------------------------------------------------

    def build(self, module: cst.Module) -> None:
        self._walk(module)

    def _walk(self, node: cst.CSTNode) -> None:
        """Enter ``node``: bookkeeping, its handler, its children unless the handler
        returns False, then leave. The same contract as ``CSTVisitor``."""
        stack = self._stack
        if stack:
            self.parent[node] = stack[-1]
        self._counter += 1
        self._start[node] = self._counter
        stack.append(node)
        kind = type(node)
        if kind is cst.FunctionDef or kind is cst.Lambda:
            self.enclosing_function[node] = self._functions[-1] if self._functions else None
            self.enclosing_class[node] = self._classes[-1] if self._classes else None
            for outer in self._functions:
                self.nested_functions[outer].append(node)  # type: ignore[arg-type]
            self._functions.append(node)  # type: ignore[arg-type]
        elif kind is cst.ClassDef:
            self.enclosing_function[node] = self._functions[-1] if self._functions else None
            self.enclosing_class[node] = self._classes[-1] if self._classes else None
            self._classes.append(node)  # type: ignore[arg-type]
        handler = _HANDLERS.get(kind)
        if handler is None or handler(self, node) is not False:
            fields = _CHILD_FIELDS.get(kind) or _child_fields(node)
            entered = _ENTERED
            for field in fields:
                value = getattr(node, field)
                value_kind = type(value)
                if value_kind is tuple or value_kind is list:
                    for child in value:
                        child_kind = type(child)
                        if entered[child_kind] if child_kind in entered else _entered(child_kind):
                            self._walk(child)
                elif entered[value_kind] if value_kind in entered else _entered(value_kind):
                    self._walk(value)
        self._end[node] = self._counter
        stack.pop()
        if self._functions and self._functions[-1] is node:
            self._functions.pop()
        elif self._classes and self._classes[-1] is node:
            self._classes.pop()

    # -- what the model asks about -------------------------------------------------------

    def visit_Import(self, node: cst.Import) -> bool:
        self.imports.append(node)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        self.imports.append(node)
        return False

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)
        self.enclosing_function[node] = self._current_function()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.function_defs.append(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.attributes_named[node.attr.value].append(node)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.class_defs.append(node)

    def visit_With(self, node: cst.With) -> None:
        self.withs.append(node)
        function = self._current_function()
        self.enclosing_function[node] = function
        if function is not None:
            self.withs_in[function].append(node)

    def visit_Global(self, node: cst.Global) -> None:
        function = self._current_function()
        if function is not None:
            self.globals_declared[function].update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        function = self._current_function()
        if function is not None:
            self.nonlocals_declared[function].update(item.name.value for item in node.names)

    def visit_Yield(self, node: cst.Yield) -> None:
        function = self._current_function()
        if function is not None:
            self.yields_in[function].append(node)

    def visit_Return(self, node: cst.Return) -> None:
        function = self._current_function()
        if function is not None:
            self.returns_in[function].append(node)

    def visit_Assign(self, node: cst.Assign) -> None:
        self._record_assignment(node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._record_assignment(node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        function = self._current_function()
        if function is not None:
            self.assignments_in[function].append(node)

    def visit_Name(self, node: cst.Name) -> None:
        parent = self._stack[-2] if len(self._stack) > 1 else None
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            return
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            return
        if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Param, cst.ImportAlias)):
            return
        if isinstance(parent, (cst.Global, cst.Nonlocal, cst.NameItem)):
            return
        function = self._current_function()
        self.names_in[function][node.value].append(node)
        self.enclosing_function[node] = function

    def _record_assignment(self, node: cst.Assign | cst.AnnAssign) -> None:
        function = self._current_function()
        if function is not None:
            self.assignments_in[function].append(node)
            return
        in_class = self._classes[-1] if self._classes else None
        if in_class is not None:
            self.class_body_assignments[in_class].append(node)
        else:
            self.module_assignments.append(node)

    def _current_function(self) -> FunctionNode | None:
        return self._functions[-1] if self._functions else None

    # -- queries -------------------------------------------------------------------------

    def contains(self, outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
        """Whether ``inner`` is ``outer`` or lies inside it."""
        start = self._start.get(inner)
        return start is not None and self._start[outer] <= start <= self._end[outer]

    def order(self, node: cst.CSTNode) -> int:
        """Position in source order (pre-order); later code has a larger number."""
        return self._start[node]

    def end_order(self, node: cst.CSTNode) -> int:
        return self._end[node]

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parent.get(node)
        while current is not None:
            yield current
            current = self.parent.get(current)

    def function_of(self, node: cst.CSTNode) -> FunctionNode | None:
        """The innermost function or lambda that contains ``node``."""
        if node in self.enclosing_function:
            return self.enclosing_function[node]
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
                return ancestor
        return None

    def class_of_function(self, function: FunctionNode) -> cst.ClassDef | None:
        """The class whose body defines ``function`` directly (so it is a method)."""
        owner = self.enclosing_class.get(function)
        if owner is None:
            return None
        return owner if self.enclosing_function.get(function) is self.enclosing_function.get(owner) else None

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """The statement (simple or compound) that contains ``node``."""
        current: cst.CSTNode = node
        for ancestor in self.ancestors(node):
            if isinstance(current, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                return current
            current = ancestor
        return current

    def class_body_of(self, node: cst.CSTNode) -> cst.ClassDef | None:
        """The class whose body runs ``node`` directly (outside any method), if any."""
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
                return None
            if isinstance(ancestor, cst.ClassDef):
                return ancestor
        return None

    def in_loop(self, node: cst.CSTNode, within: cst.CSTNode | None) -> bool:
        """Whether ``node`` runs repeatedly: in a loop body or comprehension inside ``within``."""
        for ancestor in self.ancestors(node):
            if ancestor is within:
                return False
            if isinstance(ancestor, LOOP_TYPES):
                if isinstance(ancestor, cst.For) and self.contains(ancestor.iter, node):
                    continue
                return True
            if isinstance(ancestor, COMPREHENSION_TYPES):
                return True
        return False


_HANDLERS: dict[type, Callable[[TreeIndex, cst.CSTNode], bool | None]] = {
    getattr(cst, name.removeprefix("visit_")): handler
    for name, handler in vars(TreeIndex).items()
    if name.startswith("visit_")
}


def build_index(module: cst.Module) -> TreeIndex:
    """The one traversal of ``module``."""
    index = TreeIndex()
    index.build(module)
    return index
