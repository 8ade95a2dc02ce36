"""Simulate a GEMM C[M,N] = A[M,K]·B[K,N] on a systolic array with double-buffered SRAMs and DRAM.

Folding (the same order as SCALE-Sim 3.0): the extent mapped on the array rows is cut into
``ceil(rows_extent / R)`` row folds and the one on the columns into ``ceil(cols_extent / C)``
column folds (`sim.systolic.fold_extents`); folds run column fold outer, row fold inner. Each
fold is simulated cycle by cycle by `sim.systolic.run_fold` (with values: every fold; timing
only: each distinct fold shape once, since a fold's timing depends only on its shape), then the
folds are placed in time by `sim.memory.schedule`.

Reported numbers (`GemmResult`):

- ``compute_cycles`` = Σ fold lengths − 1: the cycle (counted from 0, the first operand entering
  the array) in which the last result is produced. This is SCALE-Sim 3.0's "compute cycles"
  convention: SCALE-Sim reports the largest cycle stamp of its OFMAP SRAM write trace, whose
  first line is stamped 0, and adds its memory stall cycles; without stalls that is
  (number of demand lines) − 1 = Σ fold lengths − 1.
- ``stall_cycles``: cycles of the run in which the array is not running a fold because it waits
  for DRAM — the first fetch, waits between folds and the final write-back.
- ``total_cycles`` = compute_cycles + stall_cycles (same "last cycle stamp" convention, cycle 0
  being the first DRAM request).
- ``utilization`` = MACs / (R · C · (total_cycles + 1)): the fraction of PE-cycles that do a MAC.
- SRAM reads/writes: words the array reads from / writes to each operand SRAM (C reads are the
  partial sums read back when WS/IS accumulate over K folds). DRAM reads/writes per operand as in
  `sim.memory`.
"""

import math
from dataclasses import dataclass

import numpy as np

from .memory import schedule
from .spec import Dataflow, Gemm, Memory, SimInputError, SystolicArray
from .systolic import FoldRun, fold_buffers, fold_extents, run_fold

MAX_FOLDS = 2**22
"""Most folds one run plans (its per-fold arrays take ~200 bytes a fold)."""
MAX_PE_CYCLES = 2**34
"""Most PE-cycles a run may simulate (R · C · fold length per simulated fold; ~35 s at the
~5e8 PE-cycles/s measured on one core)."""
MAX_FOLD_BUFFER_WORDS = 2**26
"""Most words of one fold's operand and output buffers ((R + C) · T + R · C; 512 MiB)."""
MAX_TIMELINE_CYCLES = 2**24
"""Longest run a ``timeline`` may cover (one int64 per cycle, then plotted)."""
MAX_DRAM_CYCLES = 2**60
"""Most cycles the DRAM transfers may take (cycle stamps are int64)."""


@dataclass(frozen=True, slots=True)
class GemmResult:
    """Counts of one simulated GEMM (see the module docstring for each definition)."""

    compute_cycles: int
    stall_cycles: int
    total_cycles: int
    utilization: float
    macs: int
    folds: int
    sram_reads: dict[str, int]
    sram_writes: dict[str, int]
    dram_reads: dict[str, int]
    dram_writes: dict[str, int]
    timeline: np.ndarray | None = None
    c: np.ndarray | None = None

    def to_json(self) -> dict[str, object]:
        """The CLI's JSON object."""
        return {key: getattr(self, key) for key in (
            "compute_cycles", "stall_cycles", "total_cycles", "utilization", "macs", "folds",
            "sram_reads", "sram_writes", "dram_reads", "dram_writes")}


@dataclass(frozen=True, slots=True)
class FoldPlan:
    """Per-fold arrays in execution order (all int64, one entry per fold)."""

    used_rows: np.ndarray
    used_cols: np.ndarray
    a_tile: np.ndarray
    a_words: np.ndarray
    b_tile: np.ndarray
    b_words: np.ndarray
    c_tile: np.ndarray
    c_words: np.ndarray


def plan_folds(array: SystolicArray, shape: Gemm) -> FoldPlan:
    """Cut the GEMM into folds, column fold outer, and name each fold's A, B and C tiles."""
    rows_ext, cols_ext, t_len = fold_extents(array.dataflow, shape.m, shape.n, shape.k)
    n_fr, n_fc = math.ceil(rows_ext / array.rows), math.ceil(cols_ext / array.cols)
    fc, fr = np.divmod(np.arange(n_fr * n_fc, dtype=np.int64), n_fr)
    r = np.minimum(array.rows, rows_ext - fr * array.rows)
    c = np.minimum(array.cols, cols_ext - fc * array.cols)
    fold = fc * n_fr + fr
    if array.dataflow is Dataflow.OS:  # A[M-fold, :], B[:, N-fold], C[M-fold, N-fold]
        tiles = (fr, r * t_len, fc, t_len * c, fold, r * c)
    elif array.dataflow is Dataflow.WS:  # A[:, K-fold], B[K-fold, N-fold], C[:, N-fold]
        tiles = (fr, t_len * r, fold, r * c, fc, t_len * c)
    else:  # IS: A[M-fold, K-fold], B[K-fold, :], C[M-fold, :]
        tiles = (fold, r * c, fr, t_len * r, fc, t_len * c)
    return FoldPlan(r, c, *(np.asarray(t, dtype=np.int64) for t in tiles))


def fetch_words(tile: np.ndarray, words: np.ndarray, resident: bool) -> np.ndarray:
    """Words fetched before each fold: a resident operand fetches each tile once, at first use;
    otherwise whenever the tile differs from the previous fold's."""
    if resident:
        first = np.zeros(tile.shape, bool)
        first[np.unique(tile, return_index=True)[1]] = True
    else:
        first = np.ones(tile.shape, bool)
        first[1:] = tile[1:] != tile[:-1]
    return np.where(first, words, 0)


def check_fits(plan: FoldPlan, memory: Memory) -> None:
    """Every tile must fit in half of its SRAM (double buffering); SimInputError otherwise."""
    half = memory.sram_words // 2
    for name, words in (("A", plan.a_words), ("B", plan.b_words), ("C", plan.c_words)):
        need = int(words.max())
        if need > half:
            raise SimInputError(
                f"the mapping cannot fit: a tile of {name} has {need} words but one half of "
                f"the double-buffered {name} SRAM ({memory.sram_kb:g} KiB of "
                f"{memory.word_bytes}-byte words) holds {half}; raise --sram-kb")


def simulate_gemm(array: SystolicArray, shape: Gemm, memory: Memory,
                  a: np.ndarray | None = None, b: np.ndarray | None = None,
                  timeline: bool = False) -> GemmResult:
    """Simulate the GEMM; with `a` [M,K] and `b` [K,N] the array computes C from the values it
    moves (returned as ``result.c``). With `timeline`, ``result.timeline[cycle]`` is the number
    of PEs doing a MAC in that cycle (cycle 0: first fold starts; stall gaps included).

    Raises SimInputError if a tile does not fit its SRAM half or the operands' shapes are wrong.
    """
    check_size(array, shape, timeline, values=a is not None or b is not None)
    plan = plan_folds(array, shape)
    check_fits(plan, memory)
    _, _, t_len = fold_extents(array.dataflow, shape.m, shape.n, shape.k)
    check_dram_time(memory, plan)
    runs, out = _run_folds(array, shape, plan, t_len, a, b)
    lengths = np.array([run.length for run in runs], dtype=np.int64)
    resident_a = shape.m * shape.k <= memory.sram_words
    resident_b = shape.k * shape.n <= memory.sram_words
    fetch_a = fetch_words(plan.a_tile, plan.a_words, resident_a)
    fetch_b = fetch_words(plan.b_tile, plan.b_words, resident_b)
    c_seq, writes = _c_tiles(plan)
    bw = np.inf if memory.dram_words_per_cycle is None else memory.dram_words_per_cycle
    start = np.zeros(len(runs), np.int64)
    end, _ = schedule(lengths, fetch_a + fetch_b, c_seq, writes, float(bw), start)
    busy = int(lengths.sum())
    if timeline and int(end) > MAX_TIMELINE_CYCLES:
        raise SimInputError(f"the run takes {int(end)} cycles with its DRAM stalls; a timeline "
                            f"covers at most {MAX_TIMELINE_CYCLES}: drop --timeline or raise "
                            f"--dram-bw")
    macs = sum(run.macs for run in runs)
    total = int(end) - 1
    row_reads = sum(run.edge_reads[0] for run in runs)
    col_reads = sum(run.edge_reads[1] for run in runs)
    return GemmResult(
        compute_cycles=busy - 1, stall_cycles=int(end) - busy, total_cycles=total,
        utilization=macs / (array.rows * array.cols * int(end)), macs=macs, folds=len(runs),
        sram_reads={**_edge_reads(array.dataflow, row_reads, col_reads),
                    "C": _psum_reads(array.dataflow, plan, t_len)},
        sram_writes={"A": 0, "B": 0, "C": int(_out_words(array.dataflow, plan, t_len).sum())},
        dram_reads={"A": int(fetch_a.sum()), "B": int(fetch_b.sum()), "C": 0},
        dram_writes={"A": 0, "B": 0, "C": int(writes.sum())},
        timeline=_timeline(runs, start, int(end)) if timeline else None,
        c=None if out is None else (out.T.copy() if array.dataflow is Dataflow.IS else out))


def check_size(array: SystolicArray, shape: Gemm, timeline: bool, values: bool) -> None:
    """SimInputError naming the limit when the run would not finish or not fit in memory:
    more than `MAX_FOLDS` folds, more than `MAX_PE_CYCLES` PE-cycles to simulate (R · C · fold
    length for every fold with values, else for the at most four distinct fold shapes), fold
    buffers of more than `MAX_FOLD_BUFFER_WORDS` words, or a timeline of more than
    `MAX_TIMELINE_CYCLES`."""
    rows_ext, cols_ext, t_len = fold_extents(array.dataflow, shape.m, shape.n, shape.k)
    folds = math.ceil(rows_ext / array.rows) * math.ceil(cols_ext / array.cols)
    size = f"{shape.m}x{shape.n}x{shape.k} on a {array.rows}x{array.cols} array"
    if folds > MAX_FOLDS:
        raise SimInputError(f"the GEMM {size} has {folds} folds; the simulator plans at most "
                            f"{MAX_FOLDS}: use a larger --array or a smaller --m/--n/--k")
    r, c = min(array.rows, rows_ext), min(array.cols, cols_ext)
    length = t_len + array.rows + array.cols - 2 + (array.dataflow is not Dataflow.OS) * array.rows
    pe_cycles = array.rows * array.cols * length * (folds if values else min(folds, 4))
    if pe_cycles > MAX_PE_CYCLES:
        raise SimInputError(f"the GEMM {size} needs {pe_cycles} PE-cycles of cycle-level "
                            f"simulation (folds of {length} cycles); at most {MAX_PE_CYCLES}: "
                            f"use a smaller --array or smaller extents")
    if (r + c) * t_len + array.rows * array.cols > MAX_FOLD_BUFFER_WORDS:
        raise SimInputError(f"the GEMM {size} needs fold buffers of "
                            f"{(r + c) * t_len + array.rows * array.cols} words; at most "
                            f"{MAX_FOLD_BUFFER_WORDS}: use a smaller streamed extent")
    if timeline and folds * length > MAX_TIMELINE_CYCLES:
        raise SimInputError(f"the GEMM {size} runs at least {folds * length} cycles; a "
                            f"timeline covers at most {MAX_TIMELINE_CYCLES}: drop --timeline "
                            f"or simulate a smaller GEMM")


def check_dram_time(memory: Memory, plan: FoldPlan) -> None:
    """SimInputError when moving every tile at ``memory``'s bandwidth would take more than
    `MAX_DRAM_CYCLES` (an int64 cycle stamp would overflow)."""
    bw = memory.dram_words_per_cycle
    words = int(plan.a_words.sum() + plan.b_words.sum() + plan.c_words.sum())
    if bw is not None and words / bw > MAX_DRAM_CYCLES:
        raise SimInputError(f"a DRAM bandwidth of {bw:g} words per cycle is too low: moving "
                            f"up to {words} words would take more than {MAX_DRAM_CYCLES} "
                            f"cycles; raise --dram-bw")


def _run_folds(array, shape, plan, t_len, a, b) -> tuple[list[FoldRun], np.ndarray | None]:
    """Each fold's run; with values also the output buffer the folds accumulated into."""
    if a is None and b is None:
        cache: dict[tuple[int, int], FoldRun] = {}
        for r, c in zip(plan.used_rows.tolist(), plan.used_cols.tolist(), strict=True):
            if (r, c) not in cache:
                cache[(r, c)] = run_fold(array, r, c, t_len, *fold_buffers(array, r, c, t_len))
        return [cache[(r, c)] for r, c in
                zip(plan.used_rows.tolist(), plan.used_cols.tolist(), strict=True)], None
    a, b = _check_values(shape, a, b)
    out = _output_buffer(array.dataflow, shape)
    runs = []
    n_fr = math.ceil(fold_extents(array.dataflow, shape.m, shape.n, shape.k)[0] / array.rows)
    for f, (r, c) in enumerate(zip(plan.used_rows.tolist(), plan.used_cols.tolist(),
                                   strict=True)):
        r0, c0 = (f % n_fr) * array.rows, (f // n_fr) * array.cols
        row_op, col_op, tile = _fold_operands(array.dataflow, a, b, out, r0, r, c0, c)
        runs.append(run_fold(array, r, c, t_len, row_op, col_op, tile))
    return runs, out


def _check_values(shape: Gemm, a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != (shape.m, shape.k) or b.shape != (shape.k, shape.n):
        raise SimInputError(f"operands must be A[{shape.m},{shape.k}] and B[{shape.k},"
                            f"{shape.n}], not A{list(a.shape)} and B{list(b.shape)}")
    return a, b


def _output_buffer(dataflow: Dataflow, shape: Gemm) -> np.ndarray:
    """C for OS/WS, Cᵀ for IS (whose folds produce rows of Cᵀ)."""
    if dataflow is Dataflow.IS:
        return np.zeros((shape.n, shape.m))
    return np.zeros((shape.m, shape.n))


def _fold_operands(dataflow, a, b, out, r0, r, c0, c):
    """(row-injected operand, column/stationary operand, output view) of one fold."""
    if dataflow is Dataflow.OS:
        return (np.ascontiguousarray(a[r0:r0 + r, :]), np.ascontiguousarray(b[:, c0:c0 + c]),
                out[r0:r0 + r, c0:c0 + c])
    if dataflow is Dataflow.WS:
        return (np.ascontiguousarray(a[:, r0:r0 + r]), np.ascontiguousarray(b[r0:r0 + r, c0:c0 + c]),
                out[:, c0:c0 + c])
    return (np.ascontiguousarray(b[r0:r0 + r, :].T), np.ascontiguousarray(a[c0:c0 + c, r0:r0 + r].T),
            out[:, c0:c0 + c])


def _c_tiles(plan: FoldPlan) -> tuple[np.ndarray, np.ndarray]:
    """(C tile index in order of first use, C words written when each fold ends)."""
    change = np.ones(plan.c_tile.shape, bool)
    change[1:] = plan.c_tile[1:] != plan.c_tile[:-1]
    seq = np.cumsum(change) - 1
    last = np.ones(plan.c_tile.shape, bool)
    last[:-1] = change[1:]
    return seq.astype(np.int64), np.where(last, plan.c_words, 0).astype(np.int64)


def _edge_reads(dataflow: Dataflow, row_reads: int, col_reads: int) -> dict[str, int]:
    """Map the kernels' edge reads to operands: OS rows ← A, cols ← B; WS rows ← A, stationary
    ← B; IS rows ← B, stationary ← A."""
    if dataflow is Dataflow.IS:
        return {"A": col_reads, "B": row_reads}
    return {"A": row_reads, "B": col_reads}


def _out_words(dataflow: Dataflow, plan: FoldPlan, t_len: int) -> np.ndarray:
    """C words each fold writes to SRAM: its r×c results (OS) or T×c partial sums (WS/IS)."""
    if dataflow is Dataflow.OS:
        return plan.used_rows * plan.used_cols
    return t_len * plan.used_cols


def _psum_reads(dataflow: Dataflow, plan: FoldPlan, t_len: int) -> int:
    """Partial sums read back: WS/IS folds that continue a C tile read its T×c sums first."""
    if dataflow is Dataflow.OS:
        return 0
    cont = np.zeros(plan.c_tile.shape, bool)
    cont[1:] = plan.c_tile[1:] == plan.c_tile[:-1]
    return int((t_len * plan.used_cols)[cont].sum())


def _timeline(runs: list[FoldRun], start: np.ndarray, end: int) -> np.ndarray:
    """MACs per cycle over the run, cycle 0 = first fold's start."""
    t0 = int(start[0])
    line = np.zeros(end - t0, np.int64)
    for run, s in zip(runs, start.tolist(), strict=True):
        line[s - t0:s - t0 + run.length] += run.timeline
    return line
