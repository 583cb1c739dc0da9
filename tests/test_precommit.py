"""Both pre-commit hooks, installed and run for real by `pre-commit try-repo`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

LEAK = "from sqlalchemy.orm import Session\n\n\ndef f(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or subprocess.run([sys.executable, "-m", "pre_commit", "--version"], capture_output=True).returncode != 0,
    reason="pre-commit or git is not installed (pip install -e '.[test]' installs pre-commit)",
)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("hook", ["sqla-lint", "sqla-lint-flake8"])
def test_try_repo_hook_blocks_a_leak(hook: str, tmp_path: Path, pre_commit_home: Path):
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / "leak.py").write_text(LEAK)
    (project / "clean.py").write_text("x = 1\n")
    _git(project, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), hook, "--all-files", "--color", "never"],
        cwd=project, capture_output=True, text=True, env=env, timeout=900,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "leak.py:5:9: SQA401" in result.stdout, result.stdout
    assert "clean.py" not in result.stdout.split("Failed")[-1]


UNFIXABLE = (
    "from sqlalchemy.orm import Session\n\n\ndef g(engine, flag):\n    if flag:\n"
    "        s = Session(engine)\n    return s.query(1).all()\n"
)


def test_try_repo_fix_hook_rewrites_and_reports_what_remains(tmp_path: Path, pre_commit_home: Path):
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / "leak.py").write_text(LEAK)
    (project / "unfixable.py").write_text(UNFIXABLE)
    (project / "clean.py").write_text("x = 1\n")
    _git(project, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home)}
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "sqla-lint-fix", "--all-files", "--color", "never"],
        cwd=project, capture_output=True, text=True, env=env, timeout=900,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "files were modified by this hook" in result.stdout
    assert "with Session(engine) as s:\n        return s.query(1).all()\n" in (project / "leak.py").read_text()
    assert (project / "unfixable.py").read_text() == UNFIXABLE
    assert "unfixable.py:6:13: SQA401" in result.stdout
    assert "Found 2 errors (1 fixed, 1 remaining)." in result.stdout
    assert (project / "clean.py").read_text() == "x = 1\n"
