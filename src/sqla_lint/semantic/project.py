"""What the analysis knows about a project before it reads any code: where the project
starts, what each file's module is called, and which names the user declares factories.

Kept apart from the model, and free of libcst, because every run needs these answers for
every file, including a run that reads all its results back from the cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")


@dataclass(frozen=True)
class FactoryConfig:
    """Names the user declares as factories because the analysis cannot see them.

    A dotted entry (``app.db.get_session``) matches the qualified name a call resolves
    to; a bare entry (``get_session``) matches the name as written at the call site.
    """

    session_factories: frozenset[str] = frozenset()
    engine_factories: frozenset[str] = frozenset()
    # Functions that run once per process though nothing shows it (an app factory
    # called by a framework, a plugin entry point).
    called_once: frozenset[str] = frozenset()


def module_name_for(path: str) -> str:
    """``pkg.sub.mod`` for a file inside packages, as Python names it when the project root
    (or its ``src/``) is on ``sys.path``: folders with ``__init__.py`` are regular packages,
    and a folder without one inside the project is a namespace package (PEP 420), as in
    many FastAPI apps (``app/deps.py`` is ``app.deps`` with no ``app/__init__.py``)."""
    directory, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    package = _package_of_directory(directory)
    if stem == "__init__":
        return package
    return f"{package}.{stem}" if package else stem


@lru_cache(maxsize=4096)
def _package_of_directory(directory: str) -> str:
    """Per folder as spelled, so the thousands of files of one folder cost one lookup."""
    regular = _package_of(Path(directory))
    outer = _regular_top(os.path.abspath(directory)) if regular else os.path.abspath(directory)
    namespace = _namespace_package_of(outer)
    return f"{namespace}.{regular}" if namespace and regular else namespace or regular


def _regular_top(directory: str) -> str:
    """The folder that holds the outermost regular package above ``directory``."""
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return directory


def _namespace_package_of(directory: str) -> str:
    """The dotted path of a folder without ``__init__.py`` below its project's root (or the
    root's ``src/``); empty for the root itself, a folder outside any project, or one whose
    path is not made of identifiers (``my-scripts``, ``.venv``), which no import can name."""
    root = _project_root_of(directory)
    if root is None:
        return ""
    relative = os.path.relpath(directory, root)
    if relative == "." or relative.startswith(".."):
        return ""
    parts = relative.split(os.sep)
    if parts[0] == "src":
        parts = parts[1:]
    if not parts or not all(part.isidentifier() for part in parts):
        return ""
    return ".".join(parts)


@lru_cache(maxsize=4096)
def _package_of(directory: Path) -> str:
    """Remembered for the life of the process: a run does not see packages appear."""
    try:
        if directory == directory.parent or not (directory / "__init__.py").is_file():
            return ""
    except OSError:
        return ""
    outer = _package_of(directory.parent)
    return f"{outer}.{directory.name}" if outer else directory.name


def forget_layout() -> None:
    """Forget which folders are packages and project roots. One run never sees them
    change, so they are remembered within it; a library caller that edits the tree
    between two runs must not get the first run's module names in the second."""
    _package_of_directory.cache_clear()
    _package_of.cache_clear()
    _project_root_of.cache_clear()


def find_project_root(path: Path) -> Path | None:
    """The nearest folder with ``pyproject.toml``, ``setup.cfg`` or ``.git`` above ``path``."""
    start = os.path.realpath(path)
    return _project_root_of(start if os.path.isdir(start) else os.path.dirname(start))


@lru_cache(maxsize=4096)
def _project_root_of(directory: str) -> Path | None:
    """Remembered for the life of the process, per folder: siblings share their parents'
    answer, and a run does not see marker files appear."""
    if any(os.path.exists(os.path.join(directory, marker)) for marker in PROJECT_MARKERS):
        return Path(directory)
    parent = os.path.dirname(directory)
    return None if parent == directory else _project_root_of(parent)
