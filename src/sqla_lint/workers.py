"""Worker processes, made one way for the whole tool (linting, fixing, indexing).

What bounds memory is the resident set of the whole process tree, and the largest file
decides its peak: libcst's tree of a module takes about 300 times its source (130 MB
for mlflow's 486 kB ``sqlalchemy_store.py``). So:

- This process works too. :func:`run_batches` with ``workers`` starts ``workers - 1``
  worker processes and takes the first batch (the large files, see
  :func:`batches_by_size`) itself. The largest tree then sits on a heap that is counted
  anyway, rather than on one more process's; as many processes work as before.
- Workers are spawned, so each holds its imports (about 33 MB) and not a copy of this
  process's heap: a forked worker's resident set counts every page it shares with its
  parent (the project's sources and indexes, 60 MB during the benchmark), once per
  worker. Spawning costs about half a second of CPU, so the workers are kept from one
  call to the next (a run builds one index per project, then lints); what a call's
  workers must know (the indexes) reaches each once, through a file. A worker imports
  the main script again (:mod:`multiprocessing` does so for spawned workers); where that
  would run more than imports and definitions (an unguarded script), workers are forked
  as before.
- While this process holds the large files, the workers take the smallest batches; the
  two ends meet in the middle. Every process hands freed memory back after each batch
  (``malloc_trim``: glibc keeps it otherwise, and a process that once held a large tree
  would go on counting its size).

On the benchmark (three projects, 740k lines, two jobs) the tree peaked at 358 MB with
two forked workers, and at about 270 MB so, in the same time.
"""

from __future__ import annotations

import ast
import atexit
import ctypes
import ctypes.util
import gc
import multiprocessing
import os
import pickle
import queue
import sys
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

BATCH_BYTES = 256 * 1024
# A libcst tree and its model take about 300 times the source: two processes each
# holding a 500 kB module would need 300 MB. Files over this size go to one process,
# one at a time.
LARGE_FILE_BYTES = 128 * 1024


def batches_by_size(sizes: list[int], workers: int) -> list[list[int]]:
    """Positions in ``sizes``, in batches of about ``BATCH_BYTES``, largest first
    (longest-processing-time first: the big files start early and the small ones fill in
    the gaps at the end). The large files form the first batch together, so no two
    processes hold a large tree at once."""
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


State = tuple[Callable[..., None], tuple[Any, ...]]  # a module-level setter and its arguments


def run_batches(
    function: Callable[..., T],
    batches: list[list[Any]],
    args: tuple[Any, ...],
    workers: int,
    state: State | None = None,
    *,
    keep: bool = False,
) -> Iterator[tuple[int, T]]:
    """``function(batch, *args)`` for every batch, in this process and ``workers - 1``
    workers: (position of the batch, its result), as each is done.

    ``batches`` come from :func:`batches_by_size`, largest first: this process takes the
    first and then the largest left, the workers the smallest left. ``function`` must be
    importable by name (a module-level function, or a ``partial`` of one). ``state`` is
    called before any batch, here and once in each worker: ``setter(*arguments)``.
    ``keep`` leaves the workers running for the next call (the caller knows one comes);
    otherwise they stop at the end.
    """
    if state is not None:
        state[0](*state[1])
    if workers <= 1 or len(batches) <= 1:
        for position, batch in enumerate(batches):
            yield position, _run_here(function, batch, args)
        return
    shared = _SharedState(state) if state is not None else None
    lease = _Lease(workers - 1)
    feeder = _Feeder(lease, workers - 1, function, batches, args, shared)
    finished = False
    try:
        local: int | None = 0
        while local is not None:
            yield local, _run_here(function, batches[local], args)
            yield from feeder.done()
            local = feeder.take_largest()
        yield from feeder.done(wait=True)
        finished = True
    finally:
        feeder.stop()
        lease.end(keep=keep and finished)
        if shared is not None:
            shared.remove()


def _run_here(function: Callable[..., T], batch: list[Any], args: tuple[Any, ...]) -> T:
    """A batch in this process, collecting garbage as a worker does (see
    :func:`_start_worker`); freed memory is handed back after."""
    threshold = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0  # else the program manages freezing itself
    if freeze:
        gc.freeze()
    gc.set_threshold(*_GC_THRESHOLD)
    try:
        return function(batch, *args)
    finally:
        gc.set_threshold(*threshold)
        if freeze:
            gc.unfreeze()
        _trim()


class _Feeder:
    """Hands the workers their batches from a thread, smallest first, while this process
    takes the largest; a batch goes out once, to a worker or to this process.

    Each worker has one batch waiting behind the one it runs: the threads that hand out
    work need the GIL, which this process's libcst parse of a large file holds for up to
    a second. Near the end (fewer than ``_TAIL`` batches per worker left), none waits,
    so that this process does not finish first and wait for a queue."""

    def __init__(
        self,
        lease: _Lease,
        workers: int,
        function: Callable[..., Any],
        batches: list[list[Any]],
        args: tuple[Any, ...],
        state: _SharedState | None,
    ) -> None:
        self.lease, self.workers, self.function, self.batches, self.args, self.state = lease, workers, function, batches, args, state
        self.left = deque(range(1, len(batches)))  # the first is this process's
        self.lock = threading.Lock()
        self.finished: queue.SimpleQueue[tuple[int, Future[Any]] | None] = queue.SimpleQueue()
        self.stopping = False
        self.ended = False  # the feeder's last word (None) was read
        self.thread = threading.Thread(target=self._feed, name="sqla-lint-feeder", daemon=True)
        self.thread.start()

    def take_largest(self) -> int | None:
        with self.lock:
            return self.left.popleft() if self.left else None

    def done(self, wait: bool = False) -> Iterator[tuple[int, Any]]:
        """The workers' results so far (``wait``: all of them, once the feeder is done)."""
        while not self.ended:
            try:
                item = self.finished.get() if wait else self.finished.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self.ended = True
                return
            position, future = item
            yield position, future.result()

    def stop(self) -> None:
        """No more batches go out; those out are waited for."""
        with self.lock:
            self.stopping = True
            self.left.clear()
        self.thread.join()

    def _depth(self) -> int:
        return self.workers * (2 if len(self.left) >= _TAIL * self.workers else 1)

    def _feed(self) -> None:
        in_flight: dict[Future[Any], int] = {}
        try:
            while True:
                with self.lock:
                    while self.left and not self.stopping and len(in_flight) < self._depth():
                        position = self.left.pop()
                        in_flight[self.lease.submit(_run_batch, self.function, self.batches[position], self.args, self.state)] = position
                if not in_flight:
                    return
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    self.finished.put((in_flight.pop(future), future))
        except BaseException as error:  # the pool is broken or shut down: say so through a failed future
            failed: Future[Any] = Future()
            failed.set_exception(error)
            self.finished.put((-1, failed))
            wait(in_flight)
        finally:
            self.finished.put(None)


# -- the workers ----------------------------------------------------------------------

_TAIL = 4
_GC_THRESHOLD = (50_000, 20, 100)
_kept: ProcessPoolExecutor | None = None  # the workers kept between calls
_kept_size = 0
_kept_busy = False
_lock = threading.Lock()


class _Lease:
    """A call's workers: the kept ones, unless another call (in another thread) has them;
    new ones if those broke (a worker died) while they waited."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = self._acquire()

    def _acquire(self) -> ProcessPoolExecutor:
        global _kept, _kept_size, _kept_busy
        stale = kept = None
        with _lock:
            busy = _kept_busy
            if not busy:
                _kept_busy = True
                if _kept is not None and _kept_size != self.workers:
                    stale, _kept = _kept, None
                kept = _kept
        if busy:
            return _new_pool(self.workers)
        if stale is not None:
            stale.shutdown(wait=True)
        if kept is None:  # started outside the lock: a forked worker must not inherit it held
            try:
                kept = _new_pool(self.workers)
            except BaseException:
                with _lock:
                    _kept_busy = False
                raise
            with _lock:
                _kept, _kept_size = kept, self.workers
        return kept

    def submit(self, *call: Any) -> Future[Any]:
        try:
            return self.executor.submit(*call)
        except BrokenProcessPool:
            if self.executor is not _kept:
                raise
            self.end(keep=False)
            self.executor = self._acquire()
            return self.executor.submit(*call)

    def end(self, keep: bool) -> None:
        """Done with the workers: kept for the next call if ``keep``, else stopped."""
        global _kept, _kept_busy
        with _lock:
            if self.executor is _kept:
                _kept_busy = False
                if keep:
                    return
                _kept = None
        self.executor.shutdown(wait=True, cancel_futures=True)


def _stop_kept() -> None:
    global _kept
    with _lock:
        executor, _kept = _kept, None
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


atexit.register(_stop_kept)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_start_worker)
    executor.submit(int)  # starts the workers from this thread, before the feeder's: see _context
    return executor


def _context() -> Any:
    """Spawn where a worker may import the main module again, else fork (Linux, no other
    threads: forking a process that runs other threads can deadlock the child) or the
    platform's default."""
    if _main_is_inert():
        return multiprocessing.get_context("spawn")
    if sys.platform == "linux" and threading.active_count() == 1:
        release_freed_memory()  # a forked worker would count it again
        return multiprocessing.get_context("fork")
    return None


def _main_is_inert() -> bool:
    """Whether importing ``__main__`` again runs nothing but imports and definitions: so
    for ``python -m``, ``-c``, the entry points pip writes and guarded programs
    (``if __name__ == "__main__":``). A spawned worker imports the main script again;
    an unguarded script that lints with several jobs would start workers from its
    workers, and fail."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return True  # python -m: multiprocessing leaves a package's __main__ alone
    path = getattr(main, "__file__", None)
    if path is None:
        return True  # python -c, or interactive: nothing to import again
    try:
        with open(path, "rb") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, ValueError):
        return False
    return all(_inert(statement) for statement in tree.body)


def _inert(statement: ast.stmt) -> bool:
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)):
        return True
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, ast.Constant)  # a docstring
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        return statement.value is None or isinstance(statement.value, ast.Constant)
    if isinstance(statement, ast.If):
        test = statement.test
        guard = (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__"
        )
        return guard and all(_inert(other) for other in statement.orelse)
    return False


class _SharedState:
    """What a call's workers must know, pickled once to a temporary file that each worker
    reads once (the benchmark's three indexes: 1.6 MB)."""

    def __init__(self, state: State) -> None:
        self.key = uuid.uuid4().hex
        handle, self.path = tempfile.mkstemp(prefix="sqla-lint-", suffix=".pickle")
        with os.fdopen(handle, "wb") as file:
            pickle.dump(state, file, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self) -> None:
        global _worker_state
        if _worker_state != self.key:
            with open(self.path, "rb") as file:
                setter, arguments = pickle.load(file)
            setter(*arguments)
            _worker_state = self.key

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass


_worker_state = ""  # in a worker: the key of the state it holds


def _start_worker() -> None:
    """Runs once per worker. Linting allocates millions of short-lived nodes; collecting
    less often, and never scanning what was imported, saves about a tenth of the time."""
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLD)


def _run_batch(function: Callable[..., T], batch: list[Any], args: tuple[Any, ...], state: _SharedState | None) -> T:
    if state is not None:
        state.load()
    try:
        return function(batch, *args)
    finally:
        _trim()


# -- memory ---------------------------------------------------------------------------


def release_freed_memory() -> None:
    """Collect garbage, and ask glibc to return free heap pages to the system."""
    gc.collect()
    _trim()


def _trim() -> None:
    """Ask glibc to return free heap pages to the system (about a millisecond)."""
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
