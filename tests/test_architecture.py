"""The rules ask the semantic model; they never reach past it.

Each question (what kind is this, is it removed, what does the project dispose) is answered
once, in :mod:`sqla_lint.semantic`. A rule that reads the model's tree index or the project
index itself answers it a second time, and the copies drift. This test keeps rule modules
to the model's and the rule context's own methods.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sqla_lint.rules

RULES_DIR = Path(sqla_lint.rules.__file__).parent
# The model's internals: its libcst tree index, the project index, the libcst module.
INTERNALS = frozenset({"tree", "index", "module"})


def _reaches_past_the_model(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or node.attr not in INTERNALS:
            continue
        owner = node.value
        is_model = (isinstance(owner, ast.Name) and owner.id == "model") or (
            isinstance(owner, ast.Attribute) and owner.attr == "model"
        )
        if is_model:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    "path", sorted(p for p in RULES_DIR.glob("*.py") if p.name != "base.py"), ids=lambda p: p.name
)
def test_rule_modules_ask_the_model_and_never_read_its_internals(path: Path) -> None:
    assert _reaches_past_the_model(path.read_text(encoding="utf-8")) == []


def test_the_check_sees_a_reach_past_the_model() -> None:
    source = "def check(context):\n    model = context.model\n    model.tree.calls\n    context.model.index.is_removed('x')\n    model.calls\n"
    assert _reaches_past_the_model(source) == ["line 3: model.tree", "line 4: context.model.index"]
