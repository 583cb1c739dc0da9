"""Source positions of a few nodes, without recording a position for every node.

libcst's PositionProvider records a range for every node while it generates the whole
module's code: seven times the cost of generating the code alone, and the main cost the
engine paid per file with findings. Findings need positions for a handful of nodes, so this
records them only inside the top-level statements that hold those nodes, and counts the
lines before each such statement from plain generated code. The ranges are the ones
PositionProvider gives (``tests/test_positions.py`` compares them node by node).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from .semantic.tree import TreeIndex

# How PositionProvider counts lines (libcst.metadata.position_provider.NEWLINE_RE).
_NEWLINE = re.compile(r"\r\n?|\n")


def positions_of(module: cst.Module, tree: TreeIndex, nodes: Iterable[cst.CSTNode]) -> dict[cst.CSTNode, CodeRange]:
    wanted = list(dict.fromkeys(nodes))
    by_statement: dict[cst.CSTNode, list[cst.CSTNode]] = {}
    for node in wanted:
        statement = _top_level_statement(module, tree, node)
        if statement is None:
            return _all_positions(module)
        by_statement.setdefault(statement, []).append(node)

    found: dict[cst.CSTNode, CodeRange] = {}
    lines_before = sum(len(_NEWLINE.findall(module.code_for_node(line))) for line in module.header)
    for statement in module.body:
        if statement in by_statement:
            single = module.with_changes(header=(), body=(statement,), footer=())
            ranges = MetadataWrapper(single, unsafe_skip_copy=True).resolve(PositionProvider)
            for node in by_statement.pop(statement):
                found[node] = _shifted(ranges[node], lines_before)
            if not by_statement:
                break
        lines_before += len(_NEWLINE.findall(module.code_for_node(statement)))
    return found


def _top_level_statement(module: cst.Module, tree: TreeIndex, node: cst.CSTNode) -> cst.CSTNode | None:
    current = node
    for ancestor in tree.ancestors(node):
        if ancestor is module:
            return current
        current = ancestor
    return None


def _shifted(span: CodeRange, lines: int) -> CodeRange:
    return CodeRange(
        (span.start.line + lines, span.start.column),
        (span.end.line + lines, span.end.column),
    )


def _all_positions(module: cst.Module) -> dict[cst.CSTNode, CodeRange]:
    return dict(MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider))
