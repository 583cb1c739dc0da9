"""The library API both front ends call: lint a source text, or lint paths (and fix them).

Files are read as bytes (encoding is the parser's business, per PEP 263), grouped by
project so each project's index is built once, looked up in the result cache when there
is one (by content hash, module name and the project index's digest, since a file's
findings depend on what other modules bind; the index build has hashed every file
already), linted in worker processes when enough are left, and returned in path order.
A file that cannot be read becomes a result with an error, and the run goes on.

Workers (:mod:`.workers`) are kept from the index builds to linting; indexes travel once
per worker, not once per batch; this process takes the largest files itself, and stores
what the workers return in the cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import ResultCache, content_hash
from .diagnostics import FileResult
from .discovery import Discovered, UnreadableError, discover, read_source
from .indexing import build_index
from .semantic.index import ProjectIndex
from .semantic.project import find_project_root, forget_layout, module_name_for
from .settings import Settings

if TYPE_CHECKING:
    import ast

    from .fixer import FileFix, FixedSource

__all__ = ["fix_found", "fix_paths", "fix_source", "lint_file", "lint_found", "lint_paths", "lint_source"]

_PARALLEL_THRESHOLD = 16

Item = tuple[Path, Path | None]  # a file and the root of its project (None: no index)


def lint_source(
    source: bytes | str, path: str, settings: Settings, index: ProjectIndex | None = None, *, tree: ast.Module | None = None
) -> FileResult:
    """:func:`.engine.lint_source`, imported on first use: a run answered from the cache
    never loads the engine, the rules or libcst."""
    from .engine import lint_source as lint

    return lint(source, path, settings, index, tree=tree)


def fix_source(
    data: bytes, path: str, settings: Settings, *, unsafe: bool = False, index: ProjectIndex | None = None
) -> FixedSource:
    """:func:`.fixer.fix_source`, imported on first use (see :func:`lint_source`)."""
    from .fixer import fix_source as fix

    return fix(data, path, settings, unsafe=unsafe, index=index)


def lint_file(path: Path, settings: Settings, index: ProjectIndex | None = None) -> FileResult:
    try:
        data = read_source(path)
    except UnreadableError as error:
        return FileResult(str(path), error=str(error))
    return lint_source(data, str(path), settings, index)


# Each worker receives the project indexes once, at start-up, not with every batch.
_worker_indexes: dict[Path, ProjectIndex] = {}


def _set_worker_state(indexes: dict[Path, ProjectIndex]) -> None:
    _worker_indexes.clear()
    _worker_indexes.update(indexes)


def _lint_batch(items: list[Item], settings: Settings) -> list[FileResult]:
    return [lint_file(path, settings, _worker_indexes.get(root) if root else None) for path, root in items]


def _fix_batch(items: list[Item], settings: Settings, unsafe: bool, write: bool) -> list[FileFix]:
    from .fixer import fix_file

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
    if root is None:
        return None
    from .deployment import attach_deployment

    return attach_deployment(build_index(root, settings.factories, settings.exclude, use_cache=settings.cache), settings)


def project_indexes(
    files: list[Path], fallback_roots: dict[Path, Path], settings: Settings, jobs: int
) -> tuple[dict[Path, ProjectIndex], list[Path | None]]:
    """One index per project root; the root of each file (or None without an index)."""
    roots: list[Path | None] = []
    by_directory: dict[str, Path] = {}
    for path in files:
        directory = os.path.dirname(path)
        if directory not in by_directory:
            by_directory[directory] = find_project_root(Path(directory or ".")) or fallback_roots.get(path, Path(directory)).resolve()
        roots.append(by_directory[directory] if settings.project_index else None)
    from .deployment import attach_deployment

    indexes = {
        root: attach_deployment(build_index(root, settings.factories, settings.exclude, use_cache=settings.cache, jobs=jobs), settings)
        for root in dict.fromkeys(r for r in roots if r is not None)
    }
    return indexes, roots


def lint_paths(
    paths: Iterable[str],
    settings: Settings,
    *,
    force_exclude: bool = False,
    jobs: int | None = None,
    cache: ResultCache | None = None,
) -> Iterator[FileResult]:
    """Lint files and directories (directories are walked)."""
    yield from lint_found(list(discover(paths, settings.exclude, force_exclude)), settings, jobs=jobs, cache=cache)


def lint_found(
    found: list[Discovered], settings: Settings, *, jobs: int | None = None, cache: ResultCache | None = None
) -> Iterator[FileResult]:
    """Lint the files an earlier walk found (the CLI's, which grouped them by configuration).
    Where a walk started is the project root of a file with no marker file above it."""
    yield from _run(found, settings, _lint_batch, jobs, cache)


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
    found = list(discover(paths, settings.exclude, force_exclude))
    yield from fix_found(found, settings, unsafe=unsafe, write=write, jobs=jobs)


def fix_found(
    found: list[Discovered], settings: Settings, *, unsafe: bool = False, write: bool = True, jobs: int | None = None
) -> Iterator[FileFix]:
    """:func:`fix_paths` for the files an earlier walk found."""
    yield from _run(found, settings, partial(_fix_batch, unsafe=unsafe, write=write), jobs, None)


def _run(
    discovered: list[Discovered],
    settings: Settings,
    batch: Callable[[list[Item], Settings], list[Any]],
    jobs: int | None,
    cache: ResultCache | None,
) -> Iterator[Any]:
    forget_layout()
    files = [found.path for found in discovered]
    workers = jobs or os.cpu_count() or 1
    fallback = {found.path: found.root for found in discovered}
    indexes, roots = project_indexes(files, fallback, settings, workers)
    items: list[Item] = list(zip(files, roots))
    cached = _CachedRun(cache, items, indexes) if cache is not None else None
    results: dict[int, Any] = cached.hits() if cached is not None else {}
    todo = [position for position in range(len(items)) if position not in results]
    workers = min(workers, len(todo) // _PARALLEL_THRESHOLD or 1)
    try:
        if workers <= 1:
            _set_worker_state(indexes)
            for position, item in enumerate(items):
                if position not in results:
                    results[position] = batch([item], settings)[0]
                    if cached is not None:
                        cached.store(position, results[position])
                yield results.pop(position)
        else:
            yield from _in_workers(items, results, todo, settings, batch, workers, indexes, cached)
    finally:
        if cached is not None:
            cached.cache.save()


class _CachedRun:
    """The result cache's side of one run: the key of every file, the hits, and what to store.

    A file's content hash comes from its project's index build, which read every file
    already, so a warm run reads each file once; a file outside any index is read here.
    """

    def __init__(self, cache: ResultCache, items: list[Item], indexes: dict[Path, ProjectIndex]) -> None:
        self.cache = cache
        self.keys: list[tuple[str, str, str, str] | None] = []
        cwd = os.getcwd()
        for path, root in items:
            text = str(path)
            absolute = _absolute(text, cwd)
            index = indexes.get(root) if root else None
            content = index.file_hashes.get(absolute) if index is not None else None
            if content is None:
                try:
                    content = content_hash(read_source(path))
                except UnreadableError:
                    self.keys.append(None)  # linting reports it, and nothing is stored
                    continue
            # Named from the absolute path, as the index build names it: one folder lookup each.
            self.keys.append((text, module_name_for(absolute), index.digest() if index is not None else "", content))

    def hits(self) -> dict[int, FileResult]:
        found = {}
        for position, key in enumerate(self.keys):
            result = self.cache.get(*key) if key is not None else None
            if result is not None:
                found[position] = result
        return found

    def store(self, position: int, result: FileResult) -> None:
        key = self.keys[position]
        if key is not None:
            self.cache.put(*key, result)


def _absolute(path: str, cwd: str) -> str:
    """``os.path.abspath`` without asking for the working directory once per file."""
    joined = os.path.join(cwd, path)
    already_normal = os.sep == "/" and "/." not in f"/{path}" and "//" not in path  # no ".", "..", "//"
    return joined if already_normal else os.path.normpath(joined)


def _in_workers(
    items: list[Item],
    results: dict[int, Any],
    todo: list[int],
    settings: Settings,
    batch: Callable[[list[Item], Settings], list[Any]],
    workers: int,
    indexes: dict[Path, ProjectIndex],
    cached: _CachedRun | None,
) -> Iterator[Any]:
    from .workers import batches_by_size, run_batches

    batches = [[todo[i] for i in batch] for batch in batches_by_size([_size(items[i][0]) for i in todo], workers)]
    chunks = [[items[i] for i in chunk] for chunk in batches]
    next_position = 0
    for done, found in run_batches(batch, chunks, (settings,), workers, (_set_worker_state, (indexes,))):
        for position, result in zip(batches[done], found):
            results[position] = result
            if cached is not None:
                cached.store(position, result)
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
