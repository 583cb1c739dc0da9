from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
# CLI runs share one result cache per test session, never the user's or the work tree's.
_CACHE_DIR = tempfile.mkdtemp(prefix="sqla-lint-test-cache-")
atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)


def run_cli(*args: str, cwd: Path | str | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, as a user or CI runs it."""
    env = {"SQLA_LINT_CACHE_DIR": _CACHE_DIR, **os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [sys.executable, "-m", "sqla_lint", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def cli():
    return run_cli
