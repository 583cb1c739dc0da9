"""lint_paths with workers returns what one process returns, in path order."""

from __future__ import annotations

from pathlib import Path

from sqla_lint.api import lint_paths
from sqla_lint.settings import Settings

LEAK = "from sqlalchemy.orm import Session\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"


def test_workers_return_the_same_results_in_path_order(tmp_path: Path):
    for index in range(60):
        body = LEAK if index % 4 == 0 else "import os\n" * (index * 50 + 1)  # sizes differ: batches reorder
        (tmp_path / f"m{index:02}.py").write_text(body)
    (tmp_path / "broken.py").write_text("def f(:\n")
    serial = list(lint_paths([str(tmp_path)], Settings(), jobs=1))
    parallel = list(lint_paths([str(tmp_path)], Settings(), jobs=2))
    assert [r.path for r in parallel] == [r.path for r in serial] == sorted(r.path for r in serial)
    assert parallel == serial
    assert sum(len(r.diagnostics) for r in parallel) == 16
