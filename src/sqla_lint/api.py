"""The library API both front ends call: lint a source text, or lint paths (and fix them).

Files are read as bytes (encoding is the parser's business, per PEP 263), grouped by
project so each project's index is built once, looked up in the result cache when there
is one (keyed by content, settings, tool version and the project index's digest, since a
file's findings depend on what other modules bind), linted in worker processes when
enough are left, and returned in path order. A file that cannot be read becomes a result
with an error, and the run goes on.

Workers (:mod:`.workers`) are kept from the index builds to linting; indexes travel once
per worker, not once per batch; this process takes the largest files itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from .cache import ResultCache, content_hash
from .diagnostics import FileResult
from .discovery import UnreadableError, discover, read_source
from .engine import lint_source
from .fixer import FileFix, fix_file, fix_source
from .semantic.index import ProjectIndex, build_index, find_project_root
from .semantic.model import module_name_for
from .settings import Settings
from .workers import batches_by_size, run_batches

__all__ = ["fix_paths", "fix_source", "lint_file", "lint_paths", "lint_source"]

_PARALLEL_THRESHOLD = 16

Item = tuple[Path, Path | None]  # a file and the root of its project (None: no index)


def lint_file(
    path: Path, settings: Settings, index: ProjectIndex | None = None, cache: ResultCache | None = None
) -> FileResult:
    try:
        data = read_source(path)
    except UnreadableError as error:
        return FileResult(str(path), error=str(error))
    if cache is None:
        return lint_source(data, str(path), settings, index)
    key = _cache_key(cache, path, index)
    digest = content_hash(data)
    result = cache.get(key, digest)
    if result is None:
        result = lint_source(data, str(path), settings, index)
        cache.put(key, digest, result)
    return result


def _cache_key(cache: ResultCache, path: Path, index: ProjectIndex | None) -> str:
    """A file's findings depend on other modules through the index: its digest is in the key."""
    return cache.key(str(path), f"{module_name_for(str(path))}\0{index.digest() if index is not None else ''}")


# Each worker receives the project indexes and the cache once, at start-up, not with every batch.
_worker_indexes: dict[Path, ProjectIndex] = {}
_worker_cache: ResultCache | None = None


def _set_worker_state(indexes: dict[Path, ProjectIndex], cache: ResultCache | None) -> None:
    global _worker_cache
    _worker_indexes.clear()
    _worker_indexes.update(indexes)
    _worker_cache = cache


def _lint_batch(items: list[Item], settings: Settings) -> list[FileResult]:
    return [lint_file(path, settings, _worker_indexes.get(root) if root else None, _worker_cache) for path, root in items]


def _fix_batch(items: list[Item], settings: Settings, unsafe: bool, write: bool) -> list[FileFix]:
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
    cache: ResultCache | None = None,
) -> Iterator[FileResult]:
    """Lint files and directories. ``walk_roots`` says, for files found by an earlier walk,
    which directory that walk started from: the project root when no marker file says so."""
    yield from _run(paths, settings, _lint_batch, force_exclude, jobs, walk_roots, cache)


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
    yield from _run(paths, settings, partial(_fix_batch, unsafe=unsafe, write=write), force_exclude, jobs, walk_roots, None)


def _run(
    paths: Iterable[str],
    settings: Settings,
    batch: Callable[[list[Item], Settings], list[Any]],
    force_exclude: bool,
    jobs: int | None,
    walk_roots: Mapping[str, Path] | None,
    cache: ResultCache | None,
) -> Iterator[Any]:
    discovered = list(discover(paths, settings.exclude, force_exclude))
    files = [found.path for found in discovered]
    workers = jobs or os.cpu_count() or 1
    fallback = {f.path: (walk_roots or {}).get(str(f.path), f.root) for f in discovered}
    indexes, roots = project_indexes(files, fallback, settings, workers)
    items: list[Item] = list(zip(files, roots))
    results: dict[int, Any] = _cached_results(items, indexes, cache) if cache is not None else {}
    todo = [position for position in range(len(items)) if position not in results]
    workers = min(workers, len(todo) // _PARALLEL_THRESHOLD or 1)
    if workers <= 1:
        _set_worker_state(indexes, cache)
        for position, item in enumerate(items):
            yield results[position] if position in results else batch([item], settings)[0]
        return
    yield from _in_workers(items, results, todo, settings, batch, workers, indexes, cache)


def _cached_results(items: list[Item], indexes: dict[Path, ProjectIndex], cache: ResultCache) -> dict[int, FileResult]:
    found = {}
    for position, (path, root) in enumerate(items):
        try:
            data = read_source(path)
        except UnreadableError:
            continue
        result = cache.get(_cache_key(cache, path, indexes.get(root) if root else None), content_hash(data))
        if result is not None:
            found[position] = result
    return found


def _in_workers(
    items: list[Item],
    results: dict[int, Any],
    todo: list[int],
    settings: Settings,
    batch: Callable[[list[Item], Settings], list[Any]],
    workers: int,
    indexes: dict[Path, ProjectIndex],
    cache: ResultCache | None,
) -> Iterator[Any]:
    batches = [[todo[i] for i in batch] for batch in batches_by_size([_size(items[i][0]) for i in todo], workers)]
    chunks = [[items[i] for i in chunk] for chunk in batches]
    next_position = 0
    for done, found in run_batches(batch, chunks, (settings,), workers, (_set_worker_state, (indexes, cache))):
        for position, result in zip(batches[done], found):
            results[position] = result
        while next_position in results:
            yield results.pop(next_position)
            next_position += 1
    while next_position < len(items):
        yield results.pop(next_position)
        next_position += 1


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
