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
from contextlib import contextmanager
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
    exclusions = _exclusions(tuple(patterns))
    return any(exclusions.part(part) for part in path.parts) or exclusions.whole(path.as_posix())


class _Exclusions:
    """``fnmatch`` semantics for a set of exclude patterns, fast enough to ask per path.

    A pattern matches a component of a path, or (as ``P``, ``*/P`` or ``*/P/*``) the whole
    path relative to where the walk started. A plain name (``.venv``, no ``/`` and no
    wildcard) can only match the whole path where it also matches a component, so it is
    a set lookup per component and left out of the whole-path expression. The rest are
    compiled into one expression each: one call per pattern cost half a second on three
    thousand files, and the whole-path forms of the default names as much again.
    """

    def __init__(self, patterns: tuple[str, ...]) -> None:
        normalised = [os.path.normcase(pattern) for pattern in patterns]
        self.names = frozenset(p for p in normalised if "/" not in p and not _WILDCARD.search(p))
        globs = [p for p in normalised if p not in self.names]
        self._part = _union(globs)
        self._whole = _union([form for p in globs for form in (p, f"*/{p}", f"*/{p}/*")])

    def part(self, name: str) -> bool:
        name = os.path.normcase(name)
        return name in self.names or self._part.match(name) is not None

    def whole(self, relative: str) -> bool:
        return self._whole.match(os.path.normcase(relative)) is not None


_WILDCARD = re.compile(r"[*?[]")


def _union(globs: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs) or "(?!)")


@lru_cache(maxsize=32)
def _exclusions(patterns: tuple[str, ...]) -> _Exclusions:
    return _Exclusions(patterns)


def discover(paths: Iterable[str], excludes: tuple[str, ...], force_exclude: bool) -> Iterator[Discovered]:
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if _is_directory(raw):
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


def _is_directory(raw: str) -> bool:
    """One ``stat`` per path named (a run can name thousands). A path that exists only as
    a link (broken, or a loop) or cannot be examined is a file: reading it says why."""
    try:
        return stat.S_ISDIR(os.stat(raw).st_mode)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR) and not os.path.lexists(raw):
            raise PathError(f"{raw}: No such file or directory") from None
        return False


def walk_directory(root: Path, excludes: tuple[str, ...]) -> Iterator[Path]:
    """The ``.py`` files under ``root`` that are neither ignored nor excluded, in order."""
    for relative in relative_files(root, excludes):
        yield Path(root, relative)


def relative_files(root: Path, excludes: tuple[str, ...]) -> list[str]:
    """:func:`walk_directory`'s files as text relative to ``root``, separated by ``/``."""
    key = (os.path.realpath(root), tuple(excludes))
    relatives = _remembered.get(key) if _remembered is not None else None
    if relatives is None:
        relatives = _walk(root, excludes)
        if _remembered is not None:
            _remembered[key] = relatives
    return relatives


_remembered: dict[tuple[str, tuple[str, ...]], list[str]] | None = None


@contextmanager
def one_walk_per_folder() -> Iterator[None]:
    """Within one command, walk each folder once: the CLI walks the paths it is given, and
    each project index walks its project root, which is usually the same folder. Off
    for library callers, who may change the tree between calls."""
    global _remembered
    _remembered = {}
    try:
        yield
    finally:
        _remembered = None


def _walk(root: Path, excludes: tuple[str, ...]) -> list[str]:
    """Paths are tested as text relative to ``root`` (what :func:`is_excluded` does with
    ``Path`` objects, without building one per path and part): a folder is tested when
    the walk reaches it, so a file is left with its own name and its whole relative path.
    """
    exclusions = _exclusions(tuple(excludes))

    def excluded(name: str, relative: str) -> bool:
        return exclusions.part(name) or exclusions.whole(relative)

    tracked = _git_files(root)
    if tracked is not None:
        return [
            relative
            for relative in sorted(tracked, key=lambda relative: relative.split("/"))  # as Path sorts
            if not any(exclusions.part(part) for part in relative.split("/")[:-1])
            and not excluded(relative.rpartition("/")[2], relative)
        ]
    found = []
    top = os.fspath(root)
    prefix = os.path.join(top, "")
    for directory, subdirectories, files in os.walk(top):
        relative_directory = "" if directory == top else directory[len(prefix) :].replace(os.sep, "/") + "/"
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not excluded(name, name) and not os.path.exists(os.path.join(directory, name, "pyvenv.cfg"))
        )
        found.extend(
            relative_directory + name
            for name in sorted(files)
            if name.endswith(".py") and not excluded(name, relative_directory + name)
        )
    return found


def _git_files(root: Path) -> list[str] | None:
    """``.py`` files git tracks or would track (not ignored) under ``root``, relative to it
    with ``/``; None outside git."""
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
            relative = os.fsdecode(entry)
            path = os.path.join(root, relative)
            if os.path.isfile(path) or os.path.islink(path):  # a broken link is reported, a deleted file is not
                files.append(relative)
    return files
