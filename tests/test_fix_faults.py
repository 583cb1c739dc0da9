"""``--fix`` under faults: killed mid-run, a file it may not write, a file edited while it
was being fixed.

What the fixer guarantees (``fixer.write_atomically``): a file is replaced by a rename of a
finished, fsynced temporary file, only if it still holds the bytes that were read and this
process may write it; otherwise it is left alone and reported on one line naming it, and
the other files are still fixed. Exit code 1: the findings in the files left alone remain.

So a run killed at any instant (SIGKILL: no handler, no cleanup) leaves every file wholly
the original or wholly fixed. What it can leave behind is the temporary file of a write it
was in the middle of, at most one per writing process: ``.NAME.py.XXXXXXXX.sqla-lint.tmp``
beside ``NAME.py``. It is hidden, does not end in ``.py``, so it is never linted or fixed,
and no later run renames it over anything (each write makes its own).
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqla_lint import cli, fixer

from .test_autofix_cli import FIXED, LEAK

ERROR = "sqla-lint: error: {}: cannot write fixed file: Permission denied"


def _temporary_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.sqla-lint.tmp"))


# -- SIGKILL in the middle of --fix ---------------------------------------------------------

FILES = 300
# (fraction of files fixed when the kill comes, --jobs): early, middle, late; one process
# writing, and two worker processes writing. Tried in order until at least one kill landed
# mid-way (some files fixed, some not) and at least MIN_KILLS runs were killed.
KILL_POINTS = [(0.05, 1), (0.5, 2), (0.95, 1), (0.3, 2), (0.7, 1), (0.5, 2), (0.2, 1), (0.6, 2)]
MIN_KILLS = 3
TEMPORARY = re.compile(r"\.m\d{3}\.py\.[^/.]+\.sqla-lint\.tmp")


def _leaks() -> dict[str, tuple[bytes, bytes]]:
    """name -> (original, fixed); every file differs, so a mix-up between files shows."""
    return {
        f"m{i:03}.py": (
            LEAK.replace("def f(", f"def f{i}(").replace("query(1)", f"query({i})").encode(),
            FIXED.replace("def f(", f"def f{i}(").replace("query(1)", f"query({i})").encode(),
        )
        for i in range(FILES)
    }


def _changed(root: Path, leaks: dict[str, tuple[bytes, bytes]]) -> int:
    count = 0
    for name, (original, _) in leaks.items():
        try:
            count += (root / name).read_bytes() != original
        except FileNotFoundError:  # never: a rename replaces, it does not remove first
            count += 1
    return count


def _wait_until_group_is_gone(group: int) -> None:
    """SIGKILL is delivered asynchronously, and orphaned workers are reaped by init (or not
    at all in some containers): wait until no live process is left in the group."""
    for _ in range(6000):
        alive = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] not in ("Z", "X"):
                alive.append(entry.name)
        if not alive:
            return
        time.sleep(0.01)
    raise AssertionError(f"processes of the killed group {group} still alive: {alive}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="waits for the killed process group through /proc")
def test_sigkill_mid_fix_leaves_every_file_whole(tmp_path: Path):
    leaks = _leaks()
    kills: list[tuple[float, int, int, list[str]]] = []  # (aimed at, jobs, files fixed, leftovers)
    for attempt, (fraction, jobs) in enumerate(KILL_POINTS):
        root = tmp_path / f"run{attempt}"
        root.mkdir()
        for name, (original, _) in leaks.items():
            (root / name).write_bytes(original)
        process = subprocess.Popen(
            [sys.executable, "-m", "sqla_lint", "check", "--fix", "--no-cache", "--isolated", "--jobs", str(jobs), str(root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        threshold = max(1, int(FILES * fraction))
        while process.poll() is None and _changed(root, leaks) < threshold:
            time.sleep(0.002)
        finished = process.poll() is not None
        if not finished:
            os.killpg(process.pid, signal.SIGKILL)  # the workers too, as a CI timeout does
        process.wait()
        _wait_until_group_is_gone(process.pid)

        fixed = 0
        for name, (original, after) in leaks.items():
            data = (root / name).read_bytes()
            assert data in (original, after), f"{name} is neither the original nor the fixed file: {data!r}"
            fixed += data == after
        leftovers = [p.name for p in root.iterdir() if p.name not in leaks]
        assert all(TEMPORARY.fullmatch(name) for name in leftovers), leftovers
        assert len(leftovers) <= jobs, leftovers
        if finished:
            assert fixed == FILES and leftovers == []
            continue
        kills.append((fraction, jobs, fixed, leftovers))
        if len([k for k in kills if 0 < k[2] < FILES]) == 1 and 0 < fixed < FILES:
            # The next run picks up where the killed one stopped, and ignores its leftovers.
            again = subprocess.run(
                [sys.executable, "-m", "sqla_lint", "check", "--fix", "--no-cache", "--isolated", str(root)],
                capture_output=True, text=True, timeout=300,
            )
            assert again.returncode == 0, again.stdout + again.stderr
            left = FILES - fixed
            assert again.stdout == f"Found {left} error{'s' if left != 1 else ''} ({left} fixed, 0 remaining).\n"
            assert all((root / name).read_bytes() == after for name, (_, after) in leaks.items())
            assert [p.name for p in root.iterdir() if p.name not in leaks] == leftovers
        if len(kills) >= MIN_KILLS and any(0 < k[2] < FILES for k in kills):
            break
    assert any(0 < fixed < FILES for _, _, fixed, _ in kills), f"no run was killed mid-way: {kills}"


# -- a file this process may not write, for real (see ``unprivileged`` in conftest.py) ---------


def test_read_only_files_and_directories_are_reported_and_others_fixed(unprivileged):
    root, run, identity = unprivileged
    owner = root.stat().st_uid
    (root / "ok.py").write_text(LEAK)
    (root / "readonly.py").write_text(LEAK)
    (root / "locked").mkdir()
    (root / "locked" / "inner.py").write_text(LEAK)
    for path in (root / "ok.py", root / "readonly.py", root / "locked", root / "locked" / "inner.py"):
        os.chown(path, owner, -1)
    (root / "readonly.py").chmod(0o444)
    (root / "locked").chmod(0o555)

    result = run("check", "--fix", "--no-cache", "--isolated", ".")

    assert result.returncode == 1, (identity, result.stdout + result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert sorted(result.stderr.splitlines()) == [ERROR.format(os.path.join("locked", "inner.py")), ERROR.format("readonly.py")]
    assert (root / "ok.py").read_text() == FIXED
    assert (root / "readonly.py").read_text() == LEAK
    assert stat.S_IMODE((root / "readonly.py").stat().st_mode) == 0o444
    assert (root / "locked" / "inner.py").read_text() == LEAK
    assert "readonly.py:4:9: SQA401" in result.stdout
    assert "locked/inner.py:4:9: SQA401" in result.stdout
    assert result.stdout.rstrip().endswith("Found 3 errors (1 fixed, 2 remaining).")
    assert _temporary_files(root) == []


# -- a file edited between being read and being written, through the CLI -------------------


@pytest.mark.parametrize("meanwhile", ["edited", "deleted"])
def test_a_file_changed_while_it_was_fixed_keeps_the_change_and_is_reported(tmp_path: Path, monkeypatch, capsys, meanwhile):
    """The fix of ``b.py`` is computed from what was read; before it is written, someone
    saves the file (or deletes it). Their change wins; the others are fixed."""
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text(LEAK)
    edited = LEAK + "# saved by the user while sqla-lint ran\n"
    real_fix_source = fixer.fix_source

    def fix_source_then_someone_saves(data, path, *args, **kwargs):
        outcome = real_fix_source(data, path, *args, **kwargs)
        if Path(path).name == "b.py":
            if meanwhile == "edited":
                Path(path).write_text(edited)
            else:
                Path(path).unlink()
        return outcome

    monkeypatch.setattr(fixer, "fix_source", fix_source_then_someone_saves)
    code = cli.main(["check", "--fix", "--no-cache", "--isolated", "--jobs", "1", str(tmp_path)])
    out, err = capsys.readouterr()

    assert code == 1
    assert (tmp_path / "a.py").read_text() == FIXED
    assert (tmp_path / "c.py").read_text() == FIXED
    target = tmp_path / "b.py"
    if meanwhile == "edited":
        assert target.read_text() == edited
        assert err == f"sqla-lint: error: {target}: changed on disk while it was being fixed; not overwritten\n"
    else:
        assert not target.exists()
        assert err == f"sqla-lint: error: {target}: cannot write fixed file: No such file or directory\n"
    assert f"{target}:4:9: SQA401" in out
    assert out.rstrip().endswith("Found 3 errors (2 fixed, 1 remaining).")
    assert _temporary_files(tmp_path) == []
