"""Qualified-name resolution through every import form and alias.

``from sqlalchemy.orm import Session as S``, ``import sqlalchemy.orm as orm`` and plain
``import sqlalchemy`` all make a call resolve to ``sqlalchemy.orm.Session``. Names are
resolved by what they are bound to, never by how they are spelled.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

import libcst as cst


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain; subscripts by string key (``app['db']``)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        index = node.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            base = dotted_name(node.value)
            key = index.value.evaluated_value
            if base is not None and isinstance(key, str):
                return f"{base}.{key}"
    if isinstance(node, cst.Call):
        base = dotted_name(node.func)
        return None if base is None else f"{base}()"
    return None


def last_segment(dotted: str) -> str:
    return dotted.rpartition(".")[2]


def mentions(expression: cst.CSTNode, names: set[str] | frozenset[str]) -> bool:
    """Whether ``expression`` refers to any of ``names`` (``if s is not None``, ``if s:``)."""
    if isinstance(expression, cst.Name):
        return expression.value in names
    return any(mentions(child, names) for child in expression.children)


def _module_path(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    return dotted_name(node) or ""


class ImportMap:
    """Local name -> qualified name, for every import in a module."""

    def __init__(
        self, imports: Iterable[cst.Import | cst.ImportFrom], module_name: str = "", is_package: bool = False
    ) -> None:
        self.bindings: dict[str, str] = {}
        # Relative imports in ``pkg/__init__.py`` are relative to ``pkg`` itself.
        self._package = module_name if is_package else module_name.rpartition(".")[0]
        for statement in imports:
            if isinstance(statement, cst.Import):
                self._add_import(statement)
            else:
                self._add_import_from(statement)

    def _add_import(self, statement: cst.Import) -> None:
        for alias in statement.names:
            full = _module_path(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bindings[alias.asname.name.value] = full
            else:
                root = full.partition(".")[0]
                self.bindings[root] = root

    def _add_import_from(self, statement: cst.ImportFrom) -> None:
        if isinstance(statement.names, cst.ImportStar):
            return
        module = _module_path(statement.module)
        if statement.relative:
            module = self._resolve_relative(len(statement.relative), module)
        for alias in statement.names:
            imported = _module_path(alias.name)
            local = imported
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.bindings[local] = f"{module}.{imported}" if module else imported

    def _resolve_relative(self, level: int, module: str) -> str:
        """``from ..db import x`` inside ``app.api.routes`` -> ``app.db``; '.'-prefixed when unknown."""
        parts = self._package.split(".") if self._package else []
        if parts and level - 1 <= len(parts):
            base = parts[: len(parts) - (level - 1)]
            return ".".join([*base, module] if module else base)
        return "." * level + module

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The qualified name an expression refers to through imports, or None if local."""
        dotted = dotted_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
        return self.resolve_dotted(dotted) if dotted is not None else None

    def resolve_dotted(self, dotted: str) -> str | None:
        head, _, rest = dotted.partition(".")
        target = self.bindings.get(head)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target



def references(tree: ast.Module, module_name: str = "", is_package: bool = False) -> set[str]:
    """What every name and attribute chain of CPython's tree resolves to through the
    module's imports, as :class:`ImportMap` resolves libcst's: the prefilter asks this
    before libcst parses. A chain's prefixes are chains too (``app.db.SessionLocal.begin``
    gives ``app.db``, ``app.db.SessionLocal`` and itself), and ``app['db']`` reads as
    ``app.db``, as :func:`dotted_name` reads it. What each import names is included: a
    module that only re-exports a name uses it too."""
    imports = ImportMap((), module_name, is_package)
    chains: set[str] = set()
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        kind = type(node)
        fields = AST_FIELDS.get(kind)
        if fields is None:
            continue
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                stack.extend(value)
            elif value is not None:
                stack.append(value)
        if kind is ast.Name or kind is ast.Attribute:
            dotted = _ast_dotted(node)  # type: ignore[arg-type]
            if dotted is not None:
                chains.add(dotted)
        elif kind is ast.Import:
            for alias in node.names:  # type: ignore[attr-defined]
                root = alias.name.partition(".")[0]
                imports.bindings[alias.asname or root] = alias.name if alias.asname else root
        elif kind is ast.ImportFrom:
            module = node.module or ""  # type: ignore[attr-defined]
            if node.level:  # type: ignore[attr-defined]
                module = imports._resolve_relative(node.level, module)  # type: ignore[attr-defined]
            for alias in node.names:  # type: ignore[attr-defined]
                if alias.name != "*":
                    imports.bindings[alias.asname or alias.name] = f"{module}.{alias.name}" if module else alias.name
    resolved = {imports.resolve_dotted(chain) for chain in chains}
    resolved.update(imports.bindings.values())  # an import alone re-exports what it names
    resolved.discard(None)
    return resolved  # type: ignore[return-value]


def _node_types(base: type) -> list[type]:
    return [base, *(kind for sub in base.__subclasses__() for kind in _node_types(sub))]


# Node type -> the fields that can hold nodes: a plain loop over these walks a tree in half
# the time ``ast.walk`` takes.
AST_FIELDS: dict[type, tuple[str, ...]] = {
    kind: kind._fields
    for kind in _node_types(ast.AST)
    if kind._fields and not issubclass(kind, (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop))
}


def _ast_dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _ast_dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, ast.Subscript):
        key = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) and len(node.slice.elts) == 1 else node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):  # ``x["a",]`` too, as libcst reads it
            base = _ast_dotted(node.value)
            return None if base is None else f"{base}.{key.value}"
    return None
