"""positions_of gives every node the range libcst's PositionProvider gives it."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from sqla_lint.positions import positions_of
from sqla_lint.semantic.tree import build_index

from .conftest import FIXTURES, REPO

SOURCES = sorted((FIXTURES / "rules").rglob("*.py")) + sorted((REPO / "examples").rglob("*.py"))

SHAPES = {
    "crlf": "# header\r\n\r\nimport os\r\n\r\n@dec\r\ndef f(x):\r\n    return g(x)\r\n",
    "cr": "import os\rx = f(1)\r\rdef g():\r    return h(2)\r",
    "mixed": "a = f(1)\r\n# c\nb = g(2)\n\r\nclass C:\n    def m(self):\n        return k(3)\n",
    "no_trailing_newline": "x = 1\ndef f():\n    return g(\n        1,\n    )",
    "tabs": "if x:\n\tdef f():\n\t\treturn g('''a\nb''')\n",
    "semicolons": "a = f(1); b = g(2)\nc = [\n  h(3) for _ in range(2)\n]  # trailing\n",
    "bom": "\ufeff# coding: utf-8\nimport os\nx = os.path.join('a', 'b')\n",
    "continuation": "x = f(1) + \\\n    g(2)\nwith open('f') as a, \\\n     open('g') as b:\n    pass\n",
}


def _assert_same_positions(source: bytes) -> None:
    module = cst.parse_module(source)
    index = build_index(module)
    nodes = [node for node in index._start if node is not module]
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert positions_of(module, index, nodes) == {node: expected[node] for node in nodes}
    for node in nodes[:: max(1, len(nodes) // 7)]:  # and for a few nodes asked about alone
        assert positions_of(module, index, [node]) == {node: expected[node]}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_fixture_positions(path: Path):
    _assert_same_positions(path.read_bytes())


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_position_shapes(name: str):
    _assert_same_positions(SHAPES[name].encode("utf-8"))
