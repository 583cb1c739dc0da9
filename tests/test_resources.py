"""10,000 small files through the real CLI: bounded memory and a bounded number of open files.

Memory is the peak, over the run, of the summed resident set size of the CLI and every
process under it (its workers, ``git``), sampled from ``/proc``: ``ru_maxrss`` only knows
the largest single process. Summing RSS counts the pages processes share (libraries; a
forked worker's inherited heap) once per process, so the figure errs high. Open files are bounded by running the CLI under a low
``RLIMIT_NOFILE``, where a descriptor leak (one per file linted, say) fails the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="samples the process tree from /proc"),
]

FILES = 10_000
RSS_TARGET_MB = 300
OPEN_FILES_LIMIT = 32

LEAK = "from sqlalchemy.orm import Session\nfrom .db import engine\n\n\ndef handler_{n}(user_id):\n    s = Session(engine)\n    return s.get(User, user_id)\n"
CLEAN = "from sqlalchemy.orm import Session\nfrom .db import engine\n\n\ndef handler_{n}(user_id):\n    with Session(engine) as s:\n        return s.get(User, user_id)\n"
LEAKING_MODULES = sum(1 for n in range(FILES) if n % 100 < 98 and n % 4 == 0)
PLAIN = "import os\n\n\ndef helper_{n}(path):\n    return os.path.join(path, '{n}')\n"


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 packages of 100 modules: a shared engine, then leaks, clean sessions, plain code."""
    root = tmp_path_factory.mktemp("many")
    (root / "pyproject.toml").write_text('[project]\nname = "many"\n')
    for package in range(FILES // 100):
        directory = root / f"app{package}"
        directory.mkdir()
        (directory / "__init__.py").write_text("")
        (directory / "db.py").write_text("from sqlalchemy import create_engine\n\nengine = create_engine('sqlite://')\n")
        for module in range(98):
            n = package * 100 + module
            (directory / f"m{module}.py").write_text((LEAK, CLEAN, PLAIN, PLAIN)[n % 4].format(n=n))
    return root


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
            children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _run_sampled(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], int, int]:
    """Run the CLI under the open-files limit; its result, peak tree RSS (MB), most processes."""
    import resource

    def limit_open_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES_LIMIT, OPEN_FILES_LIMIT))

    process = subprocess.Popen(
        [sys.executable, "-m", "sqla_lint", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit_open_files,
    )
    peak_kb, most_processes = 0, 0

    def sample() -> None:
        nonlocal peak_kb, most_processes
        while process.poll() is None:
            tree = _process_tree(process.pid)
            peak_kb = max(peak_kb, sum(_rss_kb(pid) for pid in tree))
            most_processes = max(most_processes, len(tree))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stdout, stderr = process.communicate(timeout=900)
    sampler.join()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), peak_kb // 1024, most_processes


@pytest.mark.parametrize("jobs", [1, 2])
def test_ten_thousand_files_within_memory_and_open_files(many_files: Path, jobs: int):
    # --no-cache: each run must really lint (the cache would answer the second run), so the
    # memory measured is that of a full parallel lint.
    result, peak_mb, most_processes = _run_sampled(["check", "--isolated", "--no-cache", "--jobs", str(jobs), "."], many_files)
    print(f"\n--jobs {jobs}: peak RSS of the process tree {peak_mb} MB over up to {most_processes} processes, RLIMIT_NOFILE={OPEN_FILES_LIMIT}")
    assert result.stderr == ""
    assert result.returncode == 1
    findings = [line for line in result.stdout.splitlines() if ": SQA" in line]
    assert len(findings) == LEAKING_MODULES
    assert all(": SQA401 Session `s` is never closed" in line for line in findings)
    assert peak_mb > 0 and most_processes >= 1 + (jobs if jobs > 1 else 0)
    assert peak_mb < RSS_TARGET_MB
