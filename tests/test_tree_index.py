"""The index's own walk records the nodes libcst's visitor would, in the same order."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from sqla_lint.semantic.tree import _TRIVIA, build_index

from .conftest import FIXTURES, REPO


class _Reference(cst.CSTVisitor):
    """What the index recorded when it was a CSTVisitor: every node in visiting order with
    its parent, imports not entered; trivia left out, as the index leaves it out."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[cst.CSTNode] = []
        self.parent: dict[cst.CSTNode, cst.CSTNode] = {}
        self._stack: list[cst.CSTNode] = []
        self._inside_trivia = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._inside_trivia or isinstance(node, _TRIVIA):
            self._inside_trivia += 1
            return True
        if self._stack:
            self.parent[node] = self._stack[-1]
        self.order.append(node)
        self._stack.append(node)
        return not isinstance(node, (cst.Import, cst.ImportFrom))

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self._inside_trivia:
            self._inside_trivia -= 1
        else:
            self._stack.pop()


SOURCES = sorted((FIXTURES / "rules").rglob("*.py")) + sorted((REPO / "examples").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_walk_matches_libcst_visiting_order(path: Path):
    module = cst.parse_module(path.read_bytes())
    index = build_index(module)
    reference = _Reference()
    module.visit(reference)
    assert sorted(index._start, key=index._start.__getitem__) == reference.order
    assert all(index.parent.get(node) is reference.parent.get(node) for node in reference.order)


def test_conditionally_visited_fields_keep_their_place():
    module = cst.parse_module('x = f"{a!r:>{width}} {b=} {c:{d}.{e}}"\nfrom . import y\n')
    reference = _Reference()
    module.visit(reference)
    index = build_index(module)
    assert sorted(index._start, key=index._start.__getitem__) == reference.order
