"""Cycle-level model of one fold on a systolic array: operands move one PE per cycle.

Timing model (the one the whole simulator uses; `fold_latency` exposes it)
----------------------------------------------------------------------------
The array is R × C PEs. A *fold* is one tile of the GEMM that occupies the array; its used part
is r × c (r ≤ R, c ≤ C) and its streamed rank has length T. The controller runs a **static
schedule over the whole array**: every row and column receives a skewed token stream; rows and
columns beyond r, c carry bubbles, so a fold's length does not depend on r and c (this is also
what SCALE-Sim does by padding its demand matrices with null requests).

- **OS** (cycle 0 = first operands enter PE(0,0)): A[i, s] enters row i at cycle s + i and moves
  right, B[s, j] enters column j at cycle s + j and moves down, so PE(i,j) performs MAC s at
  cycle s + i + j. Each result leaves its accumulator as the wavefront passes it (bottom row
  first, as in SCALE-Sim), so the last result leaves at the last MAC, cycle T + R + C − 3:
  fold length L = T + R + C − 2.
- **WS / IS**: the stationary tile is shifted in from the top, one row per cycle, for R cycles
  (cycles 0 … R−1). Then X[s, i] enters row i at cycle R + s + i and moves right; partial sums
  move down; PE(i,j) adds X[s,i]·W[i,j] at cycle R + s + i + j and the finished sum of stream
  step s, column j leaves the bottom edge after PE(R−1, j), at cycle 2R + s + j − 1.
  The last one leaves at cycle 2R + T + C − 3: L = 2R + T + C − 2.

Folds run back to back: fold f+1's first operands enter in the cycle after fold f's L cycles.
The lengths above are *measured* by the kernels below (the last cycle with a token event), not
assumed; `closed_form_length` states them for tests and documentation.

Hot loops are numba kernels (``cache=True``); `sim.twins` holds plain-Python twins used in
differential tests.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit

from .spec import Dataflow, SimInputError, SystolicArray

EMPTY, BUBBLE, DATA = 0, 1, 2


@dataclass(frozen=True, slots=True)
class FoldRun:
    """What one fold did: its length in cycles, MACs done, words read from SRAM at the array
    edges (``edge_reads[0]``: the row-injected operand, ``[1]``: the other one) and MACs per cycle.
    """

    length: int
    macs: int
    edge_reads: tuple[int, int]
    timeline: np.ndarray


@njit(cache=True)
def os_fold(rows, cols, r, c, t_len, a, b, out, timeline):
    """Output-stationary fold. a[r, T] streams into rows, b[T, c] into columns; out[r, c] += a·b.

    Returns (length, macs, a_words_read, b_words_read); timeline[cycle] += MACs in that cycle.
    """
    h_tok = np.zeros((rows, cols), np.int8)
    v_tok = np.zeros((rows, cols), np.int8)
    h_val = np.zeros((rows, cols))
    v_val = np.zeros((rows, cols))
    length = macs = a_reads = b_reads = 0
    for t in range(t_len + rows + cols):
        for i in range(rows - 1, -1, -1):
            for j in range(cols - 1, -1, -1):
                if j > 0:
                    h_tok[i, j] = h_tok[i, j - 1]
                    h_val[i, j] = h_val[i, j - 1]
                else:
                    s = t - i
                    h_tok[i, 0] = EMPTY if s < 0 or s >= t_len else (DATA if i < r else BUBBLE)
                    h_val[i, 0] = a[i, s] if h_tok[i, 0] == DATA else 0.0
                    a_reads += h_tok[i, 0] == DATA
                if i > 0:
                    v_tok[i, j] = v_tok[i - 1, j]
                    v_val[i, j] = v_val[i - 1, j]
                else:
                    s = t - j
                    v_tok[0, j] = EMPTY if s < 0 or s >= t_len else (DATA if j < c else BUBBLE)
                    v_val[0, j] = b[s, j] if v_tok[0, j] == DATA else 0.0
                    b_reads += v_tok[0, j] == DATA
                if h_tok[i, j] != EMPTY and v_tok[i, j] != EMPTY:
                    length = t + 1
                    if h_tok[i, j] == DATA and v_tok[i, j] == DATA:
                        out[i, j] += h_val[i, j] * v_val[i, j]
                        macs += 1
                        timeline[t] += 1
    return length, macs, a_reads, b_reads


@njit(cache=True)
def stationary_fold(rows, cols, r, c, t_len, w, x, out, timeline, preload=True):
    """Weight/input-stationary fold. w[r, c] is shifted in from the top (R cycles; with
    ``preload=False`` it is already in the PEs, e.g. produced there), x[T, r] streams into rows,
    partial sums flow down; out[T, c] += x·w as the sums leave the bottom edge.

    Returns (length, macs, x_words_read, w_words_read); timeline[cycle] += MACs in that cycle.
    """
    w_tok = np.zeros((rows, cols), np.int8)
    w_val = np.zeros((rows, cols))
    w_reads = 0
    lead = rows if preload else 0
    for t in range(lead):  # preload: shift down, the top row receives stationary row R-1-t
        for i in range(rows - 1, -1, -1):
            for j in range(cols):
                if i > 0:
                    w_tok[i, j] = w_tok[i - 1, j]
                    w_val[i, j] = w_val[i - 1, j]
                else:
                    row = rows - 1 - t
                    w_tok[0, j] = DATA if row < r and j < c else BUBBLE
                    w_val[0, j] = w[row, j] if w_tok[0, j] == DATA else 0.0
                    w_reads += w_tok[0, j] == DATA
    x_tok = np.zeros((rows, cols), np.int8)
    x_val = np.zeros((rows, cols))
    p_tok = np.zeros((rows, cols), np.int8)
    p_val = np.zeros((rows, cols))
    if not preload:
        for i in range(rows):
            for j in range(cols):
                w_tok[i, j] = DATA if i < r and j < c else BUBBLE
                w_val[i, j] = w[i, j] if i < r and j < c else 0.0
    length = lead
    macs = x_reads = 0
    for t in range(lead, lead + rows + t_len + cols):
        for i in range(rows - 1, -1, -1):
            for j in range(cols - 1, -1, -1):
                if j > 0:
                    x_tok[i, j] = x_tok[i, j - 1]
                    x_val[i, j] = x_val[i, j - 1]
                else:
                    s = t - lead - i
                    x_tok[i, 0] = EMPTY if s < 0 or s >= t_len else (DATA if i < r else BUBBLE)
                    x_val[i, 0] = x[s, i] if x_tok[i, 0] == DATA else 0.0
                    x_reads += x_tok[i, 0] == DATA
                above = p_val[i - 1, j] if i > 0 else 0.0
                p_tok[i, j] = x_tok[i, j]
                p_val[i, j] = above
                if x_tok[i, j] == DATA and w_tok[i, j] == DATA:
                    p_val[i, j] = above + x_val[i, j] * w_val[i, j]
                    macs += 1
                    timeline[t] += 1
        for j in range(cols):  # sums leaving the bottom edge this cycle
            if p_tok[rows - 1, j] != EMPTY:
                length = t + 1
                s = t - lead - rows - j + 1
                if j < c:
                    out[s, j] += p_val[rows - 1, j]
    return length, macs, x_reads, w_reads


def timeline_size(array: SystolicArray, t_len: int) -> int:
    """Cycles a timeline buffer must hold for a fold with stream length `t_len`."""
    return 2 * array.rows + t_len + array.cols


def run_fold(array: SystolicArray, r: int, c: int, t_len: int, row_op: np.ndarray,
             col_op: np.ndarray, out: np.ndarray) -> FoldRun:
    """Simulate one fold cycle by cycle; `out` is accumulated in place.

    OS: row_op = A tile [r, T], col_op = B tile [T, c], out [r, c].
    WS/IS: row_op = streamed tile [T, r], col_op = stationary tile [r, c], out [T, c].
    """
    timeline = np.zeros(timeline_size(array, t_len), np.int64)
    if array.dataflow is Dataflow.OS:
        res = os_fold(array.rows, array.cols, r, c, t_len, row_op, col_op, out, timeline)
    else:
        res = stationary_fold(array.rows, array.cols, r, c, t_len, col_op, row_op, out, timeline)
    length, macs, row_reads, col_reads = res
    return FoldRun(int(length), int(macs), (int(row_reads), int(col_reads)), timeline[:length])


def closed_form_length(array: SystolicArray, t_len: int) -> int:
    """Fold length L in cycles from the timing model in the module docstring."""
    rows, cols = array.rows, array.cols
    if array.dataflow is Dataflow.OS:
        return t_len + rows + cols - 2
    return 2 * rows + t_len + cols - 2


def fold_extents(dataflow: Dataflow, m: int, n: int, k: int) -> tuple[int, int, int]:
    """(extent mapped on array rows, on array columns, streamed extent T) for C[M,N]=A[M,K]·B[K,N].

    OS: (M, N, K); WS: (K, N, M); IS: (K, M, N).
    """
    return {Dataflow.OS: (m, n, k), Dataflow.WS: (k, n, m), Dataflow.IS: (k, m, n)}[dataflow]


def fold_latency(rows: int, cols: int, dataflow: str | Dataflow, m: int, n: int, k: int) -> int:
    """Cycles from the first operand entering the array to the last result leaving it, for a
    GEMM C[M,N] = A[M,K]·B[K,N] that fits in one fold of a rows × cols array.

    Counted as a number of cycles: cycle 0 is the first cycle in which an operand word enters
    the array (for WS/IS that is the first row of the stationary tile being shifted in; for OS
    the first A and B words entering PE(0,0)); the count ends with the cycle in which the last
    result leaves (WS/IS: the last column's sum exits the bottom edge after passing all `rows`
    rows; OS: the last accumulator, PE(rows−1, cols−1), completes and is read out). Because the
    controller's schedule spans the whole array, unused rows and columns still cost their
    pipeline cycles:

    - OS: K + rows + cols − 2            (the fold fits when M ≤ rows and N ≤ cols)
    - WS: 2·rows + M + cols − 2          (fits when K ≤ rows and N ≤ cols)
    - IS: 2·rows + N + cols − 2          (fits when K ≤ rows and M ≤ cols)

    The value is measured by the same cycle-level kernel the simulator runs (not a formula).
    SCALE-Sim 3.0's "compute cycles" for such a one-fold GEMM is this number minus one.
    Raises SimInputError if the GEMM does not fit in one fold or an argument is bad.
    """
    from .spec import gemm, systolic_array

    array = systolic_array(rows, cols, dataflow)
    shape = gemm(m, n, k)
    r, c, t_len = fold_extents(array.dataflow, shape.m, shape.n, shape.k)
    if r > array.rows or c > array.cols:
        raise SimInputError(
            f"a {shape.m}x{shape.n}x{shape.k} GEMM ({array.dataflow.value}) needs {r}x{c} PEs "
            f"and does not fit one fold of a {array.rows}x{array.cols} array")
    row_op, col_op, out = fold_buffers(array, r, c, t_len)
    return run_fold(array, r, c, t_len, row_op, col_op, out).length


def fold_buffers(array: SystolicArray, r: int, c: int, t_len: int):
    """Zero operand and output buffers of the shapes `run_fold` takes (timing-only runs)."""
    if array.dataflow is Dataflow.OS:
        return np.zeros((r, t_len)), np.zeros((t_len, c)), np.zeros((r, c))
    return np.zeros((t_len, r)), np.zeros((r, c)), np.zeros((t_len, c))


@njit(cache=True)
def row_chain(rows, cols, r, c, x, seed, mode, out_row, out_grid):
    """A token per array row moves right one PE per cycle (all rows start at column 0 in cycle 0).

    mode 0: max-reduce x[i, :c] into out_row[i]; mode 1: sum-reduce; mode 2: deliver seed[i] to
    every PE of row i (out_grid[i, j] = seed[i], a per-row operand broadcast along the links).
    Rows ≥ r and columns ≥ c carry bubbles. Returns the length: the cycle after the tokens leave
    the last column.
    """
    acc = np.zeros(rows)
    for i in range(r):
        acc[i] = -np.inf if mode == 0 else 0.0
    length = 0
    for t in range(cols + 1):
        for i in range(rows):
            if t >= cols:
                if i < r and mode != 2:
                    out_row[i] = acc[i]
                continue
            length = t + 1
            if i >= r or t >= c:
                continue
            if mode == 0:
                acc[i] = max(acc[i], x[i, t])
            elif mode == 1:
                acc[i] += x[i, t]
            else:
                out_grid[i, t] = seed[i]
    return length
