"""Worker processes, made one way for the whole tool (linting, fixing, indexing).

Workers are forked where that is safe (Linux, no other threads: forking a process that
runs other threads can deadlock the child, and a library caller may have some), so they
start with everything imported. A forked worker's resident memory counts every page it
shares with its parent, so the parent first hands back what it has freed: the file
contents of an index build are large allocations that glibc otherwise keeps, and each
worker would carry them again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import multiprocessing
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def worker_pool(workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    forkable = sys.platform == "linux" and threading.active_count() == 1
    if forkable:
        release_freed_memory()
    context = multiprocessing.get_context("fork") if forkable else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=initializer, initargs=initargs)


BATCH_BYTES = 256 * 1024
# A libcst tree and its model take about 300 times the source: two workers each holding a
# 500 kB module would need 300 MB. Files over this size go to one worker, one at a time.
LARGE_FILE_BYTES = 128 * 1024


def batches_by_size(sizes: list[int], workers: int) -> list[list[int]]:
    """Positions in ``sizes``, in batches of about ``BATCH_BYTES``, largest first
    (longest-processing-time first: the big files start early and the small ones fill in
    the gaps at the end). The large files form the first batch together, so no two
    workers hold a large tree at once."""
    ordered = sorted(range(len(sizes)), key=lambda position: -sizes[position])
    large = [position for position in ordered if sizes[position] > LARGE_FILE_BYTES]
    batches: list[list[int]] = [large] if large else []
    limit = max(1, min(BATCH_BYTES, sum(sizes) // (workers * 8) or 1))
    current: list[int] = []
    current_size = 0
    for position in ordered[len(large) :]:
        current.append(position)
        current_size += sizes[position]
        if current_size >= limit:
            batches.append(current)
            current, current_size = [], 0
    if current:
        batches.append(current)
    return batches


def release_freed_memory() -> None:
    """Collect garbage, and ask glibc to return free heap pages to the system."""
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # musl has none
    except OSError:
        return None


_libc = _load_libc()
