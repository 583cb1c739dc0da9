from __future__ import annotations

import atexit
import ctypes
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# -- files this process may not read or write, for real -------------------------------------
#
# chmod does not stop root, and test suites often run as root. Then the CLI runs as
# someone file modes do apply to: the user `nobody` if it can run this interpreter, else
# root without the capabilities that override file modes (CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH, dropped from the bounding set before exec). A probe checks that the
# chosen identity can import sqla_lint and cannot write a 0444 file; only if no identity
# passes is the test skipped.

_PR_CAPBSET_DROP = 24
_FILE_MODE_CAPABILITIES = (1, 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


def _without_file_mode_capabilities() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for capability in _FILE_MODE_CAPABILITIES:
            if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return drop


def _identities() -> Iterator[tuple[str, dict[str, Any], int | None]]:
    """(description, subprocess.run keyword arguments, uid to own the tree or None)."""
    if os.geteuid() != 0:
        yield f"uid {os.geteuid()}", {}, None
        return
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pass
    else:
        yield "user nobody", {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}, nobody.pw_uid
    if sys.platform == "linux":
        yield "root without CAP_DAC_OVERRIDE", {"preexec_fn": _without_file_mode_capabilities()}, None


@pytest.fixture
def unprivileged() -> Iterator[tuple[Path, Any, str]]:
    """A directory, and a way to run the CLI in it as an identity that file modes bind."""
    tried = []
    for description, how, owner in _identities():
        root = Path(tempfile.mkdtemp(prefix="sqla-lint-readonly-"))  # not under pytest's 0700 root
        root.chmod(0o755)
        if owner is not None:
            os.chown(root, owner, -1)
        probe = root / "probe"
        probe.write_text("")
        probe.chmod(0o444)
        try:
            checked = subprocess.run(
                [sys.executable, "-c", "import sys, sqla_lint; open(sys.argv[1], 'ab')", str(probe)],
                capture_output=True, text=True, timeout=60, cwd=root, **how,
            )
        except OSError as error:  # e.g. the interpreter is not readable by that user
            checked = subprocess.CompletedProcess([], -1, "", str(error))
        probe.unlink()
        if checked.returncode != 0 and "PermissionError" in checked.stderr and str(probe) in checked.stderr:

            def run(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [sys.executable, "-m", "sqla_lint", *args],
                    capture_output=True, text=True, timeout=300, cwd=root,
                    env={**os.environ, "PYTHONIOENCODING": "utf-8"}, **how,
                )

            try:
                yield root, run, description
            finally:
                for path in [root, *root.rglob("*")]:
                    if path.is_dir():
                        path.chmod(0o755)
                shutil.rmtree(root)
            return
        tried.append(f"{description}: {checked.stderr.strip().splitlines()[-1:] or checked.returncode}")
        shutil.rmtree(root)
    pytest.skip("no identity here is bound by file modes (" + "; ".join(tried) + ")")
