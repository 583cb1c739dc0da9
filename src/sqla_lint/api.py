"""The library API both front ends call: lint a source text, or lint paths.

Files are read as bytes (encoding is the parser's business, per PEP 263), looked up in the
result cache when there is one, linted in worker processes when enough are left, and
returned in path order. A file that cannot be read becomes a result with an error, and the
run goes on.

Workers are forked where that is safe (Linux, no other threads), so they start with
everything imported; settings travel once per worker, not once per batch. The largest files
are handed out first, so no worker is left with a big file while the others idle at the end.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .cache import ResultCache, content_hash
from .diagnostics import FileResult
from .discovery import discover
from .engine import lint_source, module_name_for
from .settings import Settings

__all__ = ["lint_file", "lint_paths", "lint_source"]

_PARALLEL_THRESHOLD = 16
_BATCH_BYTES = 256 * 1024


def lint_file(path: Path, settings: Settings, cache: ResultCache | None = None) -> FileResult:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        return FileResult(str(path), error="is a directory")
    except OSError as error:
        return FileResult(str(path), error=f"cannot read file: {error.strerror or error}")
    if cache is None:
        return lint_source(data, str(path), settings)
    key = cache.key(str(path), module_name_for(str(path)))
    digest = content_hash(data)
    result = cache.get(key, digest)
    if result is None:
        result = lint_source(data, str(path), settings)
        cache.put(key, digest, result)
    return result


def lint_paths(
    paths: Iterable[str],
    settings: Settings,
    *,
    force_exclude: bool = False,
    jobs: int | None = None,
    cache: ResultCache | None = None,
) -> Iterator[FileResult]:
    files = [found.path for found in discover(paths, settings.exclude, force_exclude)]
    results: dict[int, FileResult] = {}
    if cache is not None:
        results = _cached_results(files, cache)
    todo = [index for index in range(len(files)) if index not in results]
    workers = min(jobs or os.cpu_count() or 1, len(todo) // _PARALLEL_THRESHOLD or 1)
    if workers <= 1:
        for index, path in enumerate(files):
            yield results[index] if index in results else lint_file(path, settings, cache)
        return
    yield from _lint_in_workers(files, results, todo, settings, cache, workers)


def _cached_results(files: list[Path], cache: ResultCache) -> dict[int, FileResult]:
    found = {}
    for index, path in enumerate(files):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        result = cache.get(cache.key(str(path), module_name_for(str(path))), content_hash(data))
        if result is not None:
            found[index] = result
    return found


def _lint_in_workers(
    files: list[Path],
    results: dict[int, FileResult],
    todo: list[int],
    settings: Settings,
    cache: ResultCache | None,
    workers: int,
) -> Iterator[FileResult]:
    batches = _batches_by_size(files, todo, workers)
    # Forking a process that runs other threads can deadlock the child (a library caller
    # may have some); the CLI has none.
    forkable = sys.platform == "linux" and threading.active_count() == 1
    context = multiprocessing.get_context("fork") if forkable else None
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(settings, cache)
    ) as pool:
        pending = {pool.submit(_lint_batch, [files[i] for i in batch]): batch for batch in batches}
        next_index = 0
        for future in as_completed(pending):
            for index, result in zip(pending[future], future.result()):
                results[index] = result
            while next_index in results:
                yield results.pop(next_index)
                next_index += 1
    while next_index < len(files):
        yield results.pop(next_index)
        next_index += 1


def _batches_by_size(files: list[Path], todo: list[int], workers: int) -> list[list[int]]:
    """Batches of about ``_BATCH_BYTES``, largest files first (longest-processing-time
    first): the big files start early and the small ones fill in the gaps at the end."""
    sizes = {}
    for index in todo:
        try:
            sizes[index] = files[index].stat().st_size
        except OSError:
            sizes[index] = 0
    ordered = sorted(todo, key=lambda index: -sizes[index])
    limit = max(1, min(_BATCH_BYTES, sum(sizes.values()) // (workers * 8) or 1))
    batches: list[list[int]] = []
    current: list[int] = []
    current_size = 0
    for index in ordered:
        current.append(index)
        current_size += sizes[index]
        if current_size >= limit:
            batches.append(current)
            current, current_size = [], 0
    if current:
        batches.append(current)
    return batches


_worker_settings: Settings | None = None
_worker_cache: ResultCache | None = None


def _start_worker(settings: Settings, cache: ResultCache | None) -> None:
    """Runs once per worker. Linting allocates millions of short-lived nodes; collecting
    less often, and never scanning what was imported, saves about a tenth of the time."""
    global _worker_settings, _worker_cache
    _worker_settings, _worker_cache = settings, cache
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _lint_batch(paths: list[Path]) -> list[FileResult]:
    assert _worker_settings is not None
    return [lint_file(path, _worker_settings, _worker_cache) for path in paths]
