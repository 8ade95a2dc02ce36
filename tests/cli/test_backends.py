"""The local process pool's worker invariant: a worker is never killed while the pool runs.

A worker that died while sending its result left half a message in the pool's result pipe and
the parent waited for the rest for ever (CI hung on Ctrl-C). Workers therefore ignore SIGINT,
and the parent stops them through a shared event between two points.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

from attnforge.backends import BackendChoice, run_chunks
from attnforge.kinds import get_kind

PAPER = Path(__file__).parents[2] / "designs" / "fusemax-paper.yaml"


def _new_children(before) -> list:
    """This process's children started since ``before`` (the pool's workers)."""
    return [c for c in multiprocessing.active_children() if c not in before]


def _chunks(count: int):
    kind = get_kind("accelerator")
    design = kind.load(PAPER)
    items = list(enumerate(((), point) for point in kind.points(design)))[:count]
    return design, [items[i:i + 2] for i in range(0, len(items), 2)]


def test_workers_survive_sigint_and_finish_every_chunk():
    design, chunks = _chunks(16)
    before = multiprocessing.active_children()
    results = run_chunks(BackendChoice("process", 2), "accelerator", design, chunks)
    first = next(results)
    workers = _new_children(before)
    assert workers
    for worker in workers:
        os.kill(worker.pid, signal.SIGINT)
    rest = list(results)
    done = sorted(position for chunk in [first, *rest] for position, _ in chunk)
    assert done == list(range(16))
    assert all(not worker.is_alive() for worker in workers)  # the pool shut down cleanly


def test_closing_the_run_early_stops_the_pool():
    design, chunks = _chunks(40)
    before = multiprocessing.active_children()
    results = run_chunks(BackendChoice("process", 2), "accelerator", design, chunks)
    next(results)
    workers = _new_children(before)
    assert workers
    results.close()  # what an interruption in the consumer does (explorer uses closing())
    assert all(not worker.is_alive() for worker in workers)
