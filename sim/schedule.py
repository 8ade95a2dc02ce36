"""Placing tile tasks on the 2D and 1D arrays in time (numba; twins in `sim.twins`).

A task has an array (0 = 2D, 1 = 1D), a latency (cycles from start to its result), an occupancy
(cycles before its array can start another task) and up to four predecessors that must have
finished before it starts.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def serial_schedule(latency, start):
    """One task at a time in program order; returns the end cycle."""
    t = 0
    for i in range(latency.shape[0]):
        start[i] = t
        t += latency[i]
    return t


@njit(cache=True)
def list_schedule(array, latency, occupancy, deps, window, start):
    """Each array starts, as early as possible, a ready task among the next `window` tasks of its
    own program-order queue (ties: program order); returns the end cycle (last finish)."""
    n = array.shape[0]
    issued = np.zeros(n, np.bool_)
    finish = np.zeros(n, np.int64)
    queues = [np.where(array == q)[0] for q in range(2)]
    heads = np.zeros(2, np.int64)
    free = np.zeros(2, np.int64)
    end = 0
    for _ in range(n):
        best, best_t, best_q = -1, np.iinfo(np.int64).max, -1
        for q in range(2):
            queue = queues[q]
            seen = 0
            p = heads[q]
            while p < queue.shape[0] and seen < window:
                task = queue[p]
                p += 1
                if issued[task]:
                    continue
                seen += 1
                est = free[q]
                ready = True
                for d in deps[task]:
                    if d >= 0:
                        if not issued[d]:
                            ready = False
                            break
                        est = max(est, finish[d])
                if ready and (est < best_t or (est == best_t and task < best)):
                    best, best_t, best_q = task, est, q
        start[best] = best_t
        finish[best] = best_t + latency[best]
        free[best_q] = best_t + occupancy[best]
        issued[best] = True
        end = max(end, finish[best])
        queue = queues[best_q]
        while heads[best_q] < queue.shape[0] and issued[queue[heads[best_q]]]:
            heads[best_q] += 1
    return end
