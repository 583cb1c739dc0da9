"""`--changed-since REF` against real git repositories built in each test."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqla_lint.changes import parse_diff

from .conftest import commit_all, git, init_repo, run_cli

HEADER = "from sqlalchemy.orm import Session\n"


def leak(name: str) -> str:
    return f"\n\ndef {name}(engine):\n    s = Session(engine)\n    return s.query(1).all()\n"


def _reported(result: subprocess.CompletedProcess[str]) -> list[tuple[str, int]]:
    found = []
    for line in result.stdout.splitlines():
        if ": SQA" in line:
            path, row, *_ = line.split(":")
            found.append((path, int(row)))
    return found


def test_only_findings_on_changed_lines(tmp_path: Path):
    repo = init_repo(tmp_path / "repo")
    (repo / "app.py").write_text(HEADER + leak("old"))
    (repo / "untouched.py").write_text(HEADER + leak("legacy"))
    commit_all(repo, "legacy")
    git(repo, "checkout", "-q", "-b", "feature")
    # Lines added above move the old leak down; the diff does not make it new.
    (repo / "app.py").write_text(HEADER + "import os\n" + leak("old") + leak("added"))
    commit_all(repo, "feature work")
    (repo / "wip.py").write_text(HEADER + leak("untracked"))  # never committed
    (repo / "untouched.py").write_text(HEADER + leak("legacy").replace("s.query(1)", "s.query(2)"))  # uncommitted edit, not on the leak's line

    everything = run_cli("check", ".", cwd=repo)
    assert len(_reported(everything)) == 4
    result = run_cli("check", "--changed-since", "main", ".", cwd=repo)
    assert result.returncode == 1
    assert _reported(result) == [("app.py", 11), ("wip.py", 5)]
    assert "2 findings on lines not changed since main not shown" in result.stderr

    # On main itself nothing changed since main.
    git(repo, "stash", "-u", "-q")
    git(repo, "checkout", "-q", "main")
    quiet = run_cli("check", "--changed-since", "main", ".", cwd=repo)
    assert quiet.returncode == 0 and quiet.stdout == ""


def test_merge_base_ignores_later_commits_on_the_target_branch(tmp_path: Path):
    repo = init_repo(tmp_path / "repo")
    (repo / "base.py").write_text("x = 1\n")
    commit_all(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feature.py").write_text(HEADER + leak("mine"))
    commit_all(repo, "feature")
    git(repo, "checkout", "-q", "main")
    (repo / "main_only.py").write_text(HEADER + leak("theirs"))
    commit_all(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")
    (repo / "main_only.py").write_text(HEADER + leak("theirs"))  # same content, untracked here: new for this branch
    git(repo, "add", "main_only.py")
    git(repo, "commit", "-q", "-m", "bring file")
    result = run_cli("check", "--changed-since", "main", ".", cwd=repo)
    assert _reported(result) == [("feature.py", 5), ("main_only.py", 5)]


def test_renamed_file_keeps_old_findings_hidden(tmp_path: Path):
    repo = init_repo(tmp_path / "repo")
    (repo / "old_name.py").write_text(HEADER + leak("a") + leak("b") + "\n" * 3 + "VALUE = 1\n")
    commit_all(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "mv", "old_name.py", "new_name.py")
    (repo / "new_name.py").write_text((repo / "new_name.py").read_text().replace("VALUE = 1", "VALUE = 2"))
    commit_all(repo, "rename")
    result = run_cli("check", "--changed-since", "main", ".", cwd=repo)
    assert result.returncode == 0 and result.stdout == "", result.stdout


def test_errors_outside_git_and_for_unknown_refs(tmp_path: Path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.py").write_text("x = 1\n")
    outside = run_cli("check", "--changed-since", "main", ".", cwd=tmp_path / "plain")
    assert outside.returncode == 2
    assert "--changed-since needs a git repository" in outside.stderr
    repo = init_repo(tmp_path / "repo")
    (repo / "a.py").write_text("x = 1\n")
    commit_all(repo)
    for ref in ("no-such-branch", "--output=/tmp/x"):
        unknown = run_cli("check", f"--changed-since={ref}", ".", cwd=repo)
        assert unknown.returncode == 2, unknown.stderr
        assert "--changed-since" in unknown.stderr and "Traceback" not in unknown.stderr
        assert len(unknown.stderr.strip().splitlines()) == 1
    assert "unknown git revision 'no-such-branch'" in run_cli("check", "--changed-since", "no-such-branch", ".", cwd=repo).stderr


def test_parse_diff_hunks_and_quoted_names(tmp_path: Path):
    diff = (
        b"diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,0 +2,3 @@\n+a\n+b\n+c\n@@ -10 +12 @@\n-old\n+new\n@@ -20,2 +22,0 @@\n-gone\n-gone\n"
        b'diff --git "a/caf\\303\\251 \\"q\\".py" "b/caf\\303\\251 \\"q\\".py"\n--- /dev/null\n+++ "b/caf\\303\\251 \\"q\\".py"\n@@ -0,0 +1 @@\n+x\n'
        b"diff --git a/gone.py b/gone.py\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    )
    files = parse_diff(diff, tmp_path)
    assert files[str((tmp_path / "x.py").resolve())] == frozenset({2, 3, 4, 12})
    assert files[str((tmp_path / 'café "q".py').resolve())] == frozenset({1})
    assert len(files) == 2
