"""The library API both front ends call: lint (or fix) a source text, or paths.

Files are read as bytes (encoding is the parser's business, per PEP 263), linted in
worker processes when there are enough of them, and returned in path order. A file that
cannot be read becomes a result with an error, and the run goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from .diagnostics import FileResult
from .discovery import discover
from .engine import lint_source
from .fixer import FileFix, fix_file, fix_source
from .settings import Settings

__all__ = ["fix_paths", "fix_source", "lint_file", "lint_paths", "lint_source"]

T = TypeVar("T")

_PARALLEL_THRESHOLD = 16


def lint_file(path: Path, settings: Settings) -> FileResult:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        return FileResult(str(path), error="is a directory")
    except OSError as error:
        return FileResult(str(path), error=f"cannot read file: {error.strerror or error}")
    return lint_source(data, str(path), settings)


def _lint_batch(paths: list[Path], settings: Settings) -> list[FileResult]:
    return [lint_file(path, settings) for path in paths]


def _fix_batch(paths: list[Path], settings: Settings, unsafe: bool, write: bool) -> list[FileFix]:
    return [fix_file(path, settings, unsafe=unsafe, write=write) for path in paths]


def lint_paths(
    paths: Iterable[str],
    settings: Settings,
    *,
    force_exclude: bool = False,
    jobs: int | None = None,
) -> Iterator[FileResult]:
    files = [found.path for found in discover(paths, settings.exclude, force_exclude)]
    yield from _in_batches(files, partial(_lint_batch, settings=settings), jobs)


def fix_paths(
    paths: Iterable[str],
    settings: Settings,
    *,
    unsafe: bool = False,
    write: bool = True,
    force_exclude: bool = False,
    jobs: int | None = None,
) -> Iterator[FileFix]:
    """Fix every file, writing those that change unless ``write`` is off (``--diff``)."""
    files = [found.path for found in discover(paths, settings.exclude, force_exclude)]
    yield from _in_batches(files, partial(_fix_batch, settings=settings, unsafe=unsafe, write=write), jobs)


def _in_batches(files: list[Path], work: Callable[[list[Path]], list[T]], jobs: int | None) -> Iterator[T]:
    """``work`` over the files, in worker processes when there are enough of them, in order."""
    workers = jobs or os.cpu_count() or 1
    if workers <= 1 or len(files) < _PARALLEL_THRESHOLD:
        yield from work(files)
        return
    batch_size = max(4, min(64, len(files) // (workers * 8) or 1))
    batches = [files[i : i + batch_size] for i in range(0, len(files), batch_size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for results in pool.map(work, batches):
            yield from results
