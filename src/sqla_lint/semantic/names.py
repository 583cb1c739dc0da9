"""Qualified-name resolution through every import form and alias.

``from sqlalchemy.orm import Session as S``, ``import sqlalchemy.orm as orm`` and plain
``import sqlalchemy`` all make a call resolve to ``sqlalchemy.orm.Session``. Names are
resolved by what they are bound to, never by how they are spelled.
"""

from __future__ import annotations

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
