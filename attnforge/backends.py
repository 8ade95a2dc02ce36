"""Where points are evaluated: in process, on a local process pool, or on a Dask cluster.

Every backend runs the same pure function on chunks of points and yields each finished chunk,
so the results are identical whichever backend ran them; only the order of completion differs,
and the explorer sorts rows back into point order.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from einsum.errors import InputError

BACKENDS = ("serial", "process", "dask")
MAX_WORKERS_PER_CORE = 4  # local worker processes; a remote Dask cluster has its own

Chunk = Sequence[tuple[int, Any]]
ChunkResult = list[tuple[int, dict[str, object]]]


class BackendError(InputError):
    """A backend cannot be used as asked (bad worker count, unreachable scheduler...)."""


class Interrupted(Exception):
    """A worker stopped its chunk between two points because the run was interrupted."""


# In a pool worker: set by the parent when the run is interrupted (see _run_process_pool).
_stop: Any = None


def evaluate_chunk(kind_name: str, design: Any, chunk: Chunk) -> ChunkResult:
    """Evaluate (position, (grid overrides, point)) items with the named kind, in the worker.

    A row starts with the overrides (dotted key → value), then the kind's columns. In a pool
    worker whose run was interrupted, stops between two points with :class:`Interrupted`.
    """
    from attnforge.kinds import get_kind
    from attnforge.sweep import apply_overrides

    kind = get_kind(kind_name)
    variants: dict[Any, Any] = {}
    results = []
    for position, (overrides, point) in chunk:
        if _stop is not None and _stop.is_set():
            raise Interrupted
        if overrides not in variants:
            variants[overrides] = apply_overrides(design, overrides)
        row = dict(overrides)
        row.update(kind.evaluate(variants[overrides], point))
        results.append((position, row))
    return results


@dataclass(frozen=True, slots=True)
class BackendChoice:
    """How to run: ``name`` in BACKENDS, ``workers`` (None: all cores), Dask ``scheduler``."""

    name: str = "process"
    workers: int | None = None
    scheduler: str | None = None

    def worker_count(self) -> int:
        cores = os.cpu_count() or 1
        if self.workers is not None and not 1 <= self.workers <= MAX_WORKERS_PER_CORE * cores:
            raise BackendError(f"--workers must be between 1 and {MAX_WORKERS_PER_CORE * cores} "
                               f"({MAX_WORKERS_PER_CORE} per core), not {self.workers}")
        return self.workers or cores


def run_chunks(
    choice: BackendChoice, kind_name: str, design: Any, chunks: Sequence[Chunk]
) -> Iterator[ChunkResult]:
    """Yield each chunk's results as it finishes; pending work is cancelled on exit."""
    runners: dict[str, Callable[..., Iterator[ChunkResult]]] = {
        "serial": _run_serial,
        "process": _run_process_pool,
        "dask": _run_dask,
    }
    if choice.name not in runners:
        raise BackendError(f"unknown backend {choice.name!r} (valid: {', '.join(BACKENDS)})")
    return runners[choice.name](choice, kind_name, design, chunks)


def _run_serial(choice, kind_name, design, chunks) -> Iterator[ChunkResult]:
    for chunk in chunks:
        yield evaluate_chunk(kind_name, design, chunk)


def _run_process_pool(choice, kind_name, design, chunks) -> Iterator[ChunkResult]:
    """Chunks on a local process pool. On Ctrl-C (or any exit before the end) the parent sets
    the shared stop event, so running chunks end at their next point, and joins the pool.

    Invariant: no worker dies while the pool runs. One killed while sending its result leaves
    half a message in the result pipe, and the pool's reader thread waits for the rest for
    ever; so workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group) and
    the parent alone decides to stop.
    """
    workers = choice.worker_count()
    if workers == 1:
        yield from _run_serial(choice, kind_name, design, chunks)
        return
    stop = multiprocessing.get_context().Event()
    # no process starts before the first submit
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_join_the_run, initargs=(stop,))
    try:
        # a worker forked here starts with SIGINT held until it ignores it; a Ctrl-C held
        # meanwhile is raised on leaving the block, inside this try
        with _sigint_held():
            pending = {pool.submit(evaluate_chunk, kind_name, design, chunk) for chunk in chunks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold SIGINT in this thread (delivered on exit) where the platform can."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _join_the_run(stop: Any) -> None:
    """Pool worker initialiser: keep the run's stop event and ignore Ctrl-C (see above)."""
    global _stop
    _stop = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _run_dask(choice, kind_name, design, chunks) -> Iterator[ChunkResult]:
    """Chunks on a Dask cluster: the one at ``choice.scheduler`` or a local one."""
    from distributed import as_completed

    with _dask_client(choice) as client:
        design_future = client.scatter(design, broadcast=True)
        futures = [client.submit(evaluate_chunk, kind_name, design_future, chunk, pure=False)
                   for chunk in chunks]
        for future in as_completed(futures):
            yield future.result()


@contextmanager
def _dask_client(choice: BackendChoice) -> Iterator[Any]:
    """A client of the scheduler at ``choice.scheduler``, or of a local cluster started here;
    both closed on exit. Raises BackendError if the scheduler cannot be reached.

    A local cluster's workers ignore SIGINT (`attnforge.dask_worker`, preloaded), so a
    terminal's Ctrl-C stops only this process, which stops the run and closes the cluster
    (workers hit by it printed tracebacks; one hit while it still starts, before the preload,
    still does). SIGINT is held while the cluster starts: a Ctrl-C then is raised once it has
    started, and it is closed. Its processes log nothing below CRITICAL: closing it cancels
    running chunks, which each worker reported as a warning, and a worker still beating when
    the scheduler has gone logged an error with a traceback; a chunk that fails raises from its
    result here, whatever the logs say. While it runs this process's tornado callbacks do
    not log: an interrupted wait for a result logged the cancelling of that wait as an error
    with its traceback.
    """
    from distributed import Client, LocalCluster

    tornado_log = logging.getLogger("tornado.application")
    level = tornado_log.level
    cluster = client = None
    try:
        try:
            if choice.scheduler:
                client = Client(choice.scheduler, timeout="20s")
            else:
                with _sigint_held():
                    cluster = LocalCluster(
                        n_workers=choice.worker_count(), threads_per_worker=1, processes=True,
                        dashboard_address=":0", silence_logs=logging.CRITICAL,
                        preload=["attnforge.dask_worker"],
                    )
                client = Client(cluster)
        except OSError as error:
            raise BackendError(f"cannot reach the Dask scheduler {choice.scheduler!r}: "
                               f"{error}") from None
        tornado_log.setLevel(logging.CRITICAL)
        yield client
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        tornado_log.setLevel(level)
