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


def run_cli(
    *args: str, cwd: Path | str | None = None, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, as a user or CI runs it (``env`` adds variables)."""
    base = {"SQLA_LINT_CACHE_DIR": _CACHE_DIR, **os.environ, "PYTHONIOENCODING": "utf-8"}
    base.pop("GITHUB_ACTIONS", None)
    env = {**base, **(env or {})}
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


GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    """Run git in a repository a test built, with a fixed identity and no user config."""
    completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV}, check=True)
    return completed.stdout


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def commit_all(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def copy_project(source: Path, destination: Path) -> None:
    """A fixture project, without any cache a local run of sqla-lint left inside it."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".sqla_lint_cache"))
