"""``--changed-since REF``: which lines a pull request added or changed, according to git.

The diff is taken from the merge-base of ``REF`` and ``HEAD`` to the working tree, so
commits that landed on the target branch after the PR branched off do not count, and
uncommitted edits do. Untracked files count as entirely new. Renames are followed, so a
moved file's old findings stay hidden. Lines are those of the new side of each hunk.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .settings import ConfigError

_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(?P<start>\d+)(?:,(?P<count>\d+))? @@")
_GIT_CONFIG = ("-c", "core.quotePath=false", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false")


@dataclass(frozen=True)
class ChangedLines:
    """Changed rows per file, by absolute path; ``None`` means the whole file is new."""

    root: Path
    files: dict[str, frozenset[int] | None]

    def contains(self, path: str, row: int) -> bool:
        key = os.path.realpath(path)
        if key not in self.files:
            return False
        rows = self.files[key]
        return rows is None or row in rows


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *_GIT_CONFIG, *args], cwd=cwd, capture_output=True, timeout=300)
    except FileNotFoundError:
        raise ConfigError("--changed-since needs git, and git is not installed") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"--changed-since: `git {' '.join(args)}` did not finish in 300 s") from None


def _first_line(output: bytes) -> str:
    lines = output.decode("utf-8", errors="replace").strip().splitlines()
    return lines[0] if lines else "no output"


def changed_lines(ref: str, cwd: Path) -> ChangedLines:
    toplevel = _git(["rev-parse", "--show-toplevel"], cwd)
    if toplevel.returncode != 0:
        raise ConfigError(f"--changed-since needs a git repository, and {cwd} is not in one")
    root = Path(toplevel.stdout.decode().strip())
    if ref.startswith("-"):
        raise ConfigError(f"--changed-since: {ref!r} is not a git revision")
    base = _git(["merge-base", ref, "HEAD"], root)
    if base.returncode != 0:
        known = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
        if known.returncode != 0:
            raise ConfigError(f"--changed-since: unknown git revision {ref!r}")
        raise ConfigError(f"--changed-since: {ref!r} and HEAD have no common ancestor ({_first_line(base.stderr)})")
    merge_base = base.stdout.decode().strip()
    diff = _git(["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames", "--unified=0", "--src-prefix=a/", "--dst-prefix=b/", merge_base, "--"], root)
    if diff.returncode != 0:
        raise ConfigError(f"--changed-since: git diff failed: {_first_line(diff.stderr)}")
    files = parse_diff(diff.stdout, root)
    untracked = _git(["ls-files", "-z", "--others", "--exclude-standard"], root)
    for entry in untracked.stdout.split(b"\0"):
        if entry:
            files[os.path.realpath(root / os.fsdecode(entry))] = None
    return ChangedLines(root, files)


def parse_diff(diff: bytes, root: Path) -> dict[str, frozenset[int] | None]:
    """Added rows per new-side file of a ``--unified=0`` diff."""
    files: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in diff.split(b"\n"):
        if line.startswith(b"+++ "):
            name = _unquote(line[4:].rstrip(b"\r"))
            if name is None:
                current = None  # the file was deleted
            else:
                current = files.setdefault(os.path.realpath(root / name), set())
        elif current is not None and line.startswith(b"@@"):
            match = _HUNK.match(line)
            if match:
                start = int(match.group("start"))
                count = int(match.group("count")) if match.group("count") is not None else 1
                current.update(range(start, start + count))
    return {path: frozenset(rows) for path, rows in files.items()}


def _unquote(name: bytes) -> str | None:
    """``b/path`` (or git's C-quoted ``"b/pa\\th"``) -> ``path``; ``/dev/null`` -> None."""
    if name == b"/dev/null":
        return None
    if name.startswith(b'"') and name.endswith(b'"'):
        name = name[1:-1].decode("unicode_escape").encode("latin-1")
    return os.fsdecode(name[2:] if name.startswith(b"b/") else name)
