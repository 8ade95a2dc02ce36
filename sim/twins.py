"""Plain-Python twins of the numba hot loops, written differently on purpose, for differential
tests on small cases (never on the hot path).

- `os_fold_py`, `stationary_fold_py` move explicit operand and partial-sum *packets* through the
  array, one hop per cycle, and match them by position (the kernels shift register arrays).
- `schedule_per_cycle` steps the array and the DRAM channel one cycle at a time (the kernel
  jumps from event to event).

Each returns the same tuple as its kernel twin.
"""

import math
from collections import deque


def os_fold_py(rows, cols, r, c, t_len, a, b, out, timeline):
    """Twin of `sim.systolic.os_fold`."""
    a_packets: list[list] = []  # [row, col, stream step, carries data]
    b_packets: list[list] = []
    length = macs = a_reads = b_reads = 0
    t = 0
    while t < t_len + rows or a_packets or b_packets:
        a_packets = [[i, j + 1, s, d] for i, j, s, d in a_packets if j + 1 < cols]
        b_packets = [[i + 1, j, s, d] for i, j, s, d in b_packets if i + 1 < rows]
        for i in range(rows):
            if 0 <= t - i < t_len:
                a_packets.append([i, 0, t - i, i < r])
                a_reads += i < r
        for j in range(cols):
            if 0 <= t - j < t_len:
                b_packets.append([0, j, t - j, j < c])
                b_reads += j < c
        at = {(i, j): (s, d) for i, j, s, d in a_packets}
        for i, j, s, d in b_packets:
            if (i, j) not in at:
                continue
            s_a, d_a = at[(i, j)]
            if s_a != s:
                raise AssertionError(f"operands of steps {s_a} and {s} met at PE({i},{j})")
            length = t + 1
            if d and d_a:
                out[i, j] += a[i, s] * b[s, j]
                macs += 1
                timeline[t] += 1
        t += 1
    return length, macs, a_reads, b_reads


def stationary_fold_py(rows, cols, r, c, t_len, w, x, out, timeline, preload=True):
    """Twin of `sim.systolic.stationary_fold`."""
    weights: list[list] = []  # [row, col, source row, carries data]
    w_reads = 0
    lead = rows if preload else 0
    if not preload:
        weights = [[i, j, i, i < r and j < c] for i in range(rows) for j in range(cols)]
    for t in range(lead):
        weights = [[i + 1, j, k, d] for i, j, k, d in weights]
        for j in range(cols):
            src = rows - 1 - t
            weights.append([0, j, src, src < r and j < c])
            w_reads += src < r and j < c
    held = {(i, j): (k, d) for i, j, k, d in weights}
    if any(k != i for (i, _), (k, _) in held.items()):
        raise AssertionError("a stationary row ended in the wrong PE row")
    x_packets: list[list] = []
    sums: list[list] = []  # [row, col, stream step, value]
    length = lead
    macs = x_reads = 0
    t = lead
    while t < lead + t_len + rows or x_packets or sums:
        x_packets = [[i, j + 1, s, d] for i, j, s, d in x_packets if j + 1 < cols]
        for i in range(rows):
            if 0 <= t - lead - i < t_len:
                x_packets.append([i, 0, t - lead - i, i < r])
                x_reads += i < r
        at = {(i, j): (s, d) for i, j, s, d in x_packets}
        sums = [[i + 1, j, s, v] for i, j, s, v in sums]
        sums += [[0, j, s, 0.0] for (i, j), (s, _) in at.items() if i == 0]
        for p in sums:
            s_x, d_x = at[(p[0], p[1])]
            if s_x != p[2]:
                raise AssertionError(f"sum of step {p[2]} met input of step {s_x}")
            if d_x and held[(p[0], p[1])][1]:
                p[3] += x[p[2], p[0]] * w[p[0], p[1]]
                macs += 1
                timeline[t] += 1
        for i, j, s, v in sums:
            if i == rows - 1:
                length = t + 1
                if j < c:
                    out[s, j] += v
        sums = [p for p in sums if p[0] < rows - 1]
        t += 1
    return length, macs, x_reads, w_reads


def schedule_per_cycle(lengths, fetch_words, c_tile, write_words, bw, start):
    """Twin of `sim.memory.schedule`, one cycle at a time (bw may be ``math.inf``)."""
    n = len(lengths)
    queue: deque = deque()  # FIFO of [words left, ("fetch", fold) | ("write", C tile)]
    done: dict[tuple[str, int], int] = {}
    busy = 0

    def issue(kind: str, tag: int, words: int, t: int) -> None:
        if words == 0 or bw == math.inf:
            done[(kind, tag)] = t
        else:
            queue.append([words, (kind, tag)])

    for f in range(min(n, 2)):
        issue("fetch", f, int(fetch_words[f]), 0)
    f, end, t = 0, None, 0
    while f < n or queue:
        if end is not None and t == end:
            if write_words[f]:
                issue("write", int(c_tile[f]), int(write_words[f]), t)
            if f + 2 < n:
                issue("fetch", f + 2, int(fetch_words[f + 2]), t)
            f, end = f + 1, None
        if end is None and f < n and _may_start(f, t, c_tile, done):
            start[f] = t
            end = t + int(lengths[f])
            if end == t:
                continue
        if queue:
            queue[0][0] -= bw
            busy += 1
            if queue[0][0] <= 1e-9:
                done[queue.popleft()[1]] = t + 1
        t += 1
    last = max([int(start[n - 1]) + int(lengths[n - 1])] + list(done.values()))
    return last, busy


def _may_start(f, t, c_tile, done) -> bool:
    """Fold f's tiles are in SRAM and, if it opens C tile q ≥ 2, tile q−2 has been written."""
    if done.get(("fetch", f), t + 1) > t:
        return False
    q = int(c_tile[f])
    opens = f == 0 or int(c_tile[f - 1]) != q
    return not (opens and q >= 2 and done.get(("write", q - 2), t + 1) > t)


def row_chain_py(rows, cols, r, c, x, seed, mode, out_row, out_grid):
    """Twin of `sim.systolic.row_chain`: explicit tokens [row, column, value] hopping right."""
    tokens = [[i, 0, -math.inf if mode == 0 else (seed[i] if mode == 2 else 0.0)]
              for i in range(rows)]
    length = 0
    t = 0
    while tokens:
        for token in tokens:
            i, j, value = token
            if i < r and j < c:
                if mode == 0:
                    token[2] = max(value, x[i, j])
                elif mode == 1:
                    token[2] = value + x[i, j]
                else:
                    out_grid[i, j] = value
        length = t + 1
        for i, j, value in tokens:
            if j == cols - 1 and i < r and mode != 2:
                out_row[i] = value
        tokens = [[i, j + 1, v] for i, j, v in tokens if j + 1 < cols]
        t += 1
    return length


def list_schedule_py(array, latency, occupancy, deps, window, start):
    """Twin of `sim.schedule.list_schedule`, stepping one cycle at a time."""
    n = len(array)
    finish: dict[int, int] = {}
    free = [0, 0]
    queues = [[i for i in range(n) if array[i] == q] for q in range(2)]
    t = 0
    while len(finish) < n:
        for q in range(2):
            if free[q] > t:
                continue
            pending = [i for i in queues[q] if i not in finish][:window]
            for task in pending:
                preds = [int(d) for d in deps[task] if d >= 0]
                if all(d in finish and finish[d] <= t for d in preds):
                    start[task] = t
                    finish[task] = t + int(latency[task])
                    free[q] = t + int(occupancy[task])
                    break
        t += 1
    return max(finish.values())
