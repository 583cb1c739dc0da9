"""lint_paths with workers returns what one process returns, in path order."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqla_lint import workers
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


# -- workers.run_batches ---------------------------------------------------------------
# Helpers at module level: a spawned worker imports them by name.

_STATE: list[str] = []


def _where(batch: list[int]) -> list[tuple[int, int, tuple[str, ...]]]:
    """Each item, the process that ran it, and the state that process held. A batch takes
    a while, as real ones do, so that the feeder thread runs while this process works."""
    time.sleep(0.01)
    return [(item, os.getpid(), tuple(_STATE)) for item in batch]


def _set_state(*values: str) -> None:
    _STATE[:] = values


def _batches(count: int) -> list[list[int]]:
    return [[2 * position, 2 * position + 1] for position in range(count)]


def test_run_batches_runs_every_batch_once_and_the_first_in_this_process():
    batches = _batches(12)
    results = dict(workers.run_batches(_where, batches, (), 2))
    assert sorted(results) == list(range(12))
    assert all([item for item, _, _ in results[position]] == batches[position] for position in results)
    assert {pid for _, pid, _ in results[0]} == {os.getpid()}  # the large files stay here
    # The feeder hands the smallest batch to the worker at once: this process never takes it.
    assert {pid for _, pid, _ in results[11]} != {os.getpid()}
    assert workers._kept is None  # not kept: stopped at the end


def test_workers_are_kept_between_calls_and_receive_each_call_state():
    first = dict(workers.run_batches(_where, _batches(8), (), 2, (_set_state, ("first",)), keep=True))
    assert workers._kept is not None
    second = dict(workers.run_batches(_where, _batches(8), (), 2, (_set_state, ("second",))))
    assert workers._kept is None
    assert {state for batch in first.values() for _, _, state in batch} == {("first",)}
    assert {state for batch in second.values() for _, _, state in batch} == {("second",)}
    worker_pids = {pid for results in (first, second) for batch in results.values() for _, pid, _ in batch} - {os.getpid()}
    assert len(worker_pids) == 1  # one worker, started once for both calls


def test_a_failing_batch_fails_the_call_and_stops_its_workers():
    def run() -> None:
        list(workers.run_batches(_fail_on_seven, _batches(8), (), 2))

    with pytest.raises(ValueError, match="item 7"):
        run()
    assert workers._kept is None
    assert dict(workers.run_batches(_where, _batches(4), (), 2))  # and the next call starts afresh


def _fail_on_seven(batch: list[int]) -> list[int]:
    if 7 in batch:
        raise ValueError("item 7")
    return batch


@pytest.mark.parametrize(
    ("source", "inert"),
    [
        # what pip writes for a console script
        ("import re\nimport sys\nfrom sqla_lint.cli import main\nif __name__ == '__main__':\n"
         "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit(main())\n", True),
        ('"""Lint."""\nfrom sqla_lint import lint_paths\nJOBS = 2\n\ndef main():\n    lint_paths(["."], jobs=JOBS)\n\n'
         'if __name__ == "__main__":\n    main()\n', True),
        ("from sqla_lint import lint_paths\nlint_paths(['.'], jobs=2)\n", False),
        ("import sys\nsys.path.insert(0, 'src')\nif __name__ == '__main__':\n    pass\n", False),
        ("if __name__ == '__main__':\n    pass\nelse:\n    print('imported')\n", False),
    ],
)
def test_only_a_main_script_that_runs_nothing_when_imported_is_inert(source: str, inert: bool):
    assert all(workers._inert(statement) for statement in ast.parse(source).body) is inert


@pytest.mark.parametrize("guarded", [True, False])
def test_a_script_using_the_api_with_workers_works_guarded_or_not(tmp_path: Path, guarded: bool):
    """A guarded script gets spawned workers; an unguarded one, which a spawned worker
    would run again on import, forked ones (on Linux; elsewhere it must be guarded)."""
    if not guarded and sys.platform != "linux":
        pytest.skip("forking is the fallback on Linux only")
    project = tmp_path / "project"
    project.mkdir()
    for index in range(40):
        (project / f"m{index:02}.py").write_text(LEAK if index % 4 == 0 else "import os\n" * (index + 1))
    body = (
        "from sqla_lint import Settings, lint_paths\n"
        "from sqla_lint import workers\n"
        "def main():\n"
        f"    results = list(lint_paths([{str(project)!r}], Settings(), jobs=2))\n"
        "    print(workers._main_is_inert(), sum(len(r.diagnostics) for r in results), len(results))\n"
    )
    script = tmp_path / "script.py"
    script.write_text(body + ("if __name__ == '__main__':\n    main()\n" if guarded else "main()\n"))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.stderr == ""
    assert result.stdout == f"{guarded} 10 40\n"
