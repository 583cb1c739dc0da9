"""The library API both front ends call: lint a source text, or lint paths.

Files are read as bytes (encoding is the parser's business, per PEP 263), linted in
worker processes when there are enough of them, and returned in path order. A file that
cannot be read becomes a result with an error, and the run goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from .diagnostics import FileResult
from .discovery import UnreadableError, discover, read_source
from .engine import lint_source
from .fixer import FileFix, fix_file, fix_source
from .semantic.index import ProjectIndex, build_index, find_project_root
from .settings import Settings

__all__ = ["fix_paths", "fix_source", "lint_file", "lint_paths", "lint_source"]

_PARALLEL_THRESHOLD = 16


def lint_file(path: Path, settings: Settings, index: ProjectIndex | None = None) -> FileResult:
    try:
        data = read_source(path)
    except UnreadableError as error:
        return FileResult(str(path), error=str(error))
    return lint_source(data, str(path), settings, index)


# Each worker receives the project indexes once, at start-up, not with every batch.
_worker_indexes: dict[Path, ProjectIndex] = {}


def _init_worker(indexes: dict[Path, ProjectIndex]) -> None:
    _worker_indexes.update(indexes)


def _lint_batch(items: list[tuple[Path, Path | None]], settings: Settings) -> list[FileResult]:
    return [lint_file(path, settings, _worker_indexes.get(root) if root else None) for path, root in items]


def _fix_batch(items: list[tuple[Path, Path | None]], settings: Settings, unsafe: bool, write: bool) -> list[FileFix]:
    return [
        fix_file(path, settings, unsafe=unsafe, write=write, index=_worker_indexes.get(root) if root else None)
        for path, root in items
    ]


def index_for(path: Path, settings: Settings) -> ProjectIndex | None:
    """The index of the project holding ``path`` (for stdin: the file it stands for)."""
    if not settings.project_index:
        return None
    directory = path.parent if path.suffix else path
    root = find_project_root(directory if directory.exists() else Path.cwd())
    return build_index(root, settings.factories, settings.exclude, use_cache=settings.cache) if root else None


def project_indexes(
    files: list[Path], fallback_roots: dict[Path, Path], settings: Settings, jobs: int
) -> tuple[dict[Path, ProjectIndex], list[Path | None]]:
    """One index per project root; the root of each file (or None without an index)."""
    roots: list[Path | None] = []
    by_directory: dict[Path, Path] = {}
    for path in files:
        directory = path.parent
        if directory not in by_directory:
            by_directory[directory] = find_project_root(directory) or fallback_roots.get(path, directory).resolve()
        roots.append(by_directory[directory] if settings.project_index else None)
    indexes = {
        root: build_index(root, settings.factories, settings.exclude, use_cache=settings.cache, jobs=jobs)
        for root in dict.fromkeys(r for r in roots if r is not None)
    }
    return indexes, roots


def lint_paths(
    paths: Iterable[str],
    settings: Settings,
    *,
    force_exclude: bool = False,
    jobs: int | None = None,
    walk_roots: Mapping[str, Path] | None = None,
) -> Iterator[FileResult]:
    """Lint files and directories. ``walk_roots`` says, for files found by an earlier walk,
    which directory that walk started from: the project root when no marker file says so."""
    yield from _run(paths, settings, _lint_batch, force_exclude, jobs, walk_roots)


def fix_paths(
    paths: Iterable[str],
    settings: Settings,
    *,
    unsafe: bool = False,
    write: bool = True,
    force_exclude: bool = False,
    jobs: int | None = None,
    walk_roots: Mapping[str, Path] | None = None,
) -> Iterator[FileFix]:
    """Fix every file, writing those that change unless ``write`` is off (``--diff``)."""
    yield from _run(paths, settings, partial(_fix_batch, unsafe=unsafe, write=write), force_exclude, jobs, walk_roots)


def _run(
    paths: Iterable[str],
    settings: Settings,
    batch: Callable[[list[tuple[Path, Path | None]], Settings], list[Any]],
    force_exclude: bool,
    jobs: int | None,
    walk_roots: Mapping[str, Path] | None,
) -> Iterator[Any]:
    discovered = list(discover(paths, settings.exclude, force_exclude))
    files = [found.path for found in discovered]
    workers = jobs or os.cpu_count() or 1
    fallback = {f.path: (walk_roots or {}).get(str(f.path), f.root) for f in discovered}
    indexes, roots = project_indexes(files, fallback, settings, workers)
    items = list(zip(files, roots))
    if workers <= 1 or len(files) < _PARALLEL_THRESHOLD:
        _init_worker(indexes)
        yield from batch(items, settings)
        return
    batch_size = max(4, min(64, len(files) // (workers * 8) or 1))
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(indexes,)) as pool:
        for results in pool.map(batch, batches, [settings] * len(batches)):
            yield from results
