"""Packages a project imports from the running interpreter's installation, and their files.

``from company_db.sessions import SessionLocal`` names a factory that lives outside the
project, in a shared package installed beside it. As pylint (astroid's spec finder) and
mypy (its module finder over the interpreter's site-packages) do, such a name is looked
up where ``import`` would find it: :class:`importlib.machinery.PathFinder`, the import
system's own search of ``sys.path``, asked for the top-level name. Nothing is imported or
executed, and no installed file is ever written or linted: the index reads the relevant
ones to learn what their names are, as it reads project modules.

What is searched, and why:

- only top-level names that project modules import, that are neither the project's own,
  nor a library the model knows by name (``MODELLED_ROOTS``: SQLAlchemy's API, alembic's
  ``get_bind``; reading alembic would only make every migration look like it needs the
  full analysis), nor the standard library;
- ``sys.path`` without the working directory and the project's folder: ``python -m
  sqla_lint`` puts the working directory first, which the ``sqla-lint`` command and
  flake8 do not, and the project's own files are the project walk's (a virtual
  environment inside the project, ``.venv``, is searched: the walk leaves it out);
- a regular package (its folder), a single module (``company_db.py``), or an implicit
  namespace package (PEP 420: every portion's folder, as ``import`` would merge them,
  because a company's shared code is often ``acme.db`` under a namespace ``acme``); not
  an extension module (no Python source to read), and nothing an import hook other than
  the path finder provides (such as a setuptools editable finder without a ``.pth`` path);
- at most :data:`MAX_FILES_PER_PACKAGE` source files per package, with a note when a
  package has more: the relevance search then reads only the first ones, in walk order.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path

MAX_FILES_PER_PACKAGE = 3000

# ``import a.b as c, d`` and ``from a.b import c``, at the start of a line (indented too):
# a text test, so a line of a docstring may add a name; looking it up costs a few stats.
_IMPORT_LINE = re.compile(rb"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)|import[ \t]+([A-Za-z_][\w. \t,]*))", re.MULTILINE)
_STANDARD_LIBRARY = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)


@dataclass(frozen=True)
class InstalledPackage:
    """Where one top-level name is installed, and the source files the index may read."""

    name: str
    locations: tuple[str, ...]  # the package's folders (several for a namespace package), or its one module file
    files: tuple[tuple[str, str], ...]  # (absolute path, module name), in walk order
    truncated: bool  # more source files than MAX_FILES_PER_PACKAGE: the rest are not read

    def note(self) -> str:
        return (
            f"installed package `{self.name}` ({self.locations[0]}) has more than {MAX_FILES_PER_PACKAGE} "
            f"source files; only the first {MAX_FILES_PER_PACKAGE} were searched for factories"
        )


def imported_names(source: bytes) -> set[str]:
    """The top-level names ``source``'s import lines name (a relative import names none)."""
    names: set[str] = set()
    for module, imported in _IMPORT_LINE.findall(source):
        if module:
            names.add(module.decode("ascii"))
            continue
        for part in imported.split(b","):
            head = part.strip().split(b".", 1)[0].split(None, 1)
            if head and head[0].decode("ascii").isidentifier():
                names.add(head[0].decode("ascii"))
    return names


def candidates(imported: set[str], project_names: frozenset[str], modelled_roots: frozenset[str]) -> list[str]:
    """Imported names that may be installed packages worth looking up."""
    return sorted(imported - project_names - modelled_roots - _STANDARD_LIBRARY)


def search_path(root: Path) -> list[str]:
    """``sys.path`` as the installation: without the working directory (``""`` or spelled
    out) and the project's own folder. A folder inside the project stays: a virtual
    environment is often kept there (``.venv``), and a project package found through
    another (``src/`` of an editable install) is left out by its name."""
    project = os.path.realpath(root)
    working = os.path.realpath(os.getcwd())
    found: list[str] = []
    for entry in sys.path:
        if not entry or not isinstance(entry, str):
            continue
        real = os.path.realpath(entry)
        if real in (working, project):
            continue
        if real not in found:
            found.append(real)
    return found


def find_installed(names: list[str], path: list[str]) -> dict[str, InstalledPackage]:
    """Where each name is installed on ``path``, as ``import`` would find it; names that
    resolve nowhere, or only to an extension module, are left out: they stay unknown."""
    found: dict[str, InstalledPackage] = {}
    for name in names:
        try:
            spec = PathFinder.find_spec(name, path)
        except (ImportError, OSError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations is None:
            origin = spec.origin or ""
            if origin.endswith(".py") and os.path.isfile(origin):
                found[name] = InstalledPackage(name, (origin,), ((origin, name),), False)
            continue
        folders = tuple(str(folder) for folder in spec.submodule_search_locations)
        if not folders:
            continue
        files, truncated = _package_files(name, folders)
        found[name] = InstalledPackage(name, folders, tuple(files), truncated)
    return found


def _package_files(name: str, folders: tuple[str, ...]) -> tuple[list[tuple[str, str]], bool]:
    """A package's ``.py`` files and their module names, named from the package's folder:
    a subfolder without ``__init__.py`` is a namespace subpackage, as ``import`` sees it.
    Folders whose names no import can spell (``__pycache__``, ``test-data``) are skipped."""
    files: list[tuple[str, str]] = []
    for folder in folders:
        for current, subfolders, filenames in os.walk(folder):
            subfolders[:] = sorted(d for d in subfolders if d.isidentifier() and d != "__pycache__")
            relative = os.path.relpath(current, folder)
            package = name if relative == "." else f"{name}.{relative.replace(os.sep, '.')}"
            for filename in sorted(filenames):
                stem, extension = os.path.splitext(filename)
                if extension != ".py" or not stem.isidentifier():
                    continue
                if len(files) >= MAX_FILES_PER_PACKAGE:
                    return files, True
                files.append((os.path.join(current, filename), package if stem == "__init__" else f"{package}.{stem}"))
    return files, False


def resolution_key(installed: dict[str, InstalledPackage]) -> str:
    """Which names resolved, and where: a name newly installed (or gone, or moved) changes
    what project modules' imports mean, so every cached summary is read again."""
    payload = json.dumps({name: [list(p.locations), p.truncated] for name, p in sorted(installed.items())})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def stat_digest(status: os.stat_result) -> str:
    """An installed file's fingerprint: its size, times and inode. Installing or upgrading
    a package rewrites its files, and none is read again merely to be hashed."""
    return f"stat:{status.st_size}:{status.st_mtime_ns}:{status.st_ctime_ns}:{status.st_ino}"
