"""Which files a run lints: directories are walked, ignored and excluded paths are skipped.

Inside a git work tree, ``git ls-files`` answers what ``.gitignore`` ignores exactly as git
does (nested ignore files, negations, global excludes), which no re-implementation matches.
Outside one, a plain walk skips the usual tool and virtualenv folders.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".env",
    "env",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".sqla_lint_cache",
    ".pytest_cache",
    "__pycache__",
    "node_modules",
    "site-packages",
    "build",
    "dist",
    "_build",
    "buck-out",
    ".eggs",
)


class PathError(Exception):
    """A path given on the command line that does not exist."""


@dataclass(frozen=True)
class Discovered:
    path: Path
    explicit: bool  # named on the command line rather than found by walking
    root: Path  # the directory argument it was found under (the file's folder if named)


class UnreadableError(Exception):
    """A file that cannot be linted: the message says why, for a one-line report."""


def read_source(path: Path) -> bytes:
    """The bytes of a regular file; raises UnreadableError with a reason a user can act on.

    A FIFO, socket or device named ``*.py`` is refused rather than read: reading would block
    forever (a FIFO) or never end (``/dev/zero``).
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        if error.errno == errno.ENOENT and path.is_symlink():
            raise UnreadableError(f"broken symbolic link to {os.readlink(path)}") from None
        raise UnreadableError(f"cannot read file: {error.strerror or error}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise UnreadableError("is a directory")
        if not stat.S_ISREG(mode):
            raise UnreadableError("not a regular file (a FIFO, socket or device)")
        with open(descriptor, "rb", closefd=False) as stream:
            return stream.read()
    except OSError as error:
        raise UnreadableError(f"cannot read file: {error.strerror or error}") from None
    finally:
        os.close(descriptor)


def is_excluded(path: Path, patterns: Iterable[str]) -> bool:
    """Whether any component of ``path``, or the path itself, matches an exclude pattern."""
    any_part, whole = _exclusion_patterns(tuple(patterns))
    if any(any_part.match(os.path.normcase(part)) for part in path.parts):
        return True
    return whole.match(os.path.normcase(path.as_posix())) is not None


@lru_cache(maxsize=32)
def _exclusion_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """``fnmatch`` semantics, with every pattern compiled into one expression: discovery
    tests each path against each pattern, and one call per pattern cost half a second on
    three thousand files."""
    def union(globs: Iterable[str]) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{fnmatch.translate(os.path.normcase(glob))})" for glob in globs) or "(?!)")

    return union(patterns), union(form for pattern in patterns for form in (pattern, f"*/{pattern}", f"*/{pattern}/*"))


def discover(paths: Iterable[str], excludes: tuple[str, ...], force_exclude: bool) -> Iterator[Discovered]:
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            raise PathError(f"{raw}: No such file or directory")
        if path.is_dir():
            for found in walk_directory(path, excludes):
                if found not in seen:
                    seen.add(found)
                    yield Discovered(found, explicit=False, root=path)
        else:
            if force_exclude and is_excluded(path, excludes):
                continue
            if path not in seen:
                seen.add(path)
                yield Discovered(path, explicit=True, root=path.parent)


def walk_directory(root: Path, excludes: tuple[str, ...]) -> Iterator[Path]:
    tracked = _git_files(root)
    if tracked is not None:
        for path in sorted(tracked):
            relative = path.relative_to(root) if path.is_relative_to(root) else path
            if not is_excluded(relative, excludes):
                yield path
        return
    for directory, subdirectories, files in os.walk(root):
        current = Path(directory)
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not is_excluded(Path(name), excludes) and not (current / name / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            if name.endswith(".py"):
                candidate = current / name
                if not is_excluded(candidate.relative_to(root), excludes):
                    yield candidate


def _git_files(root: Path) -> list[Path] | None:
    """``.py`` files git tracks or would track (not ignored) under ``root``; None outside git."""
    try:
        completed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    files = []
    for entry in completed.stdout.split(b"\0"):
        if entry.endswith(b".py"):
            path = root / os.fsdecode(entry)
            if path.is_file() or path.is_symlink():  # a broken link is reported, a deleted file is not
                files.append(path)
    return files
