"""GEMM mapping search: C[m,n] = Σ_k A[m,k]·B[k,n] on the 2D array, buffer and DRAM.

A mapping is output-stationary on the array (m on rows, n on columns, k in time) with a buffer
tile (tm, tn, tk) and a DRAM-level loop order over the tile indices (a permutation of m, n, k).
Counting is analytical and vectorised over candidates (NumPy): an operand tile stays in the
buffer while the loops inside its innermost relevant loop run, so its DRAM traffic is its size
times the trip counts of the irrelevant loops outside that loop; C's partial sums go back to DRAM
when k is outside C's innermost loop. The buffer holds only what is reused: an operand fetched
once and fed to the array once, and a C written once, stream between DRAM and the array.
`simulate_traffic` is the brute-force loop-nest twin used by the tests.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from einsum.errors import InputError

from .spec import Architecture, GemmSearch

ORDERS: tuple[str, ...] = tuple("".join(p) for p in itertools.permutations("mnk"))
"""DRAM-level loop orders, outermost first."""

RELEVANT = {"A": "mk", "B": "kn", "C": "mn"}


@dataclass(frozen=True, slots=True)
class Gemm:
    """``count`` independent GEMMs of (m × k)·(k × n), inputs in DRAM, output written to DRAM."""

    m: int
    n: int
    k: int
    count: int = 1


@dataclass(frozen=True, slots=True)
class GemmMapping:
    """The best mapping found and its counts (per GEMM instance, words and cycles)."""

    gemm: Gemm
    tile: tuple[int, int, int]
    order: str
    macs: int
    compute_cycles: int
    dram_read_words: int
    dram_write_words: int
    buffer_read_words: int
    buffer_write_words: int
    buffer_words: int
    latency_cycles: float
    util_2d: float
    evaluated: int
    seed: int


def tile_choices(extent: int, step: int) -> np.ndarray:
    """Tile sizes step·2^i below the extent, plus the whole (padded) extent."""
    full = -(-extent // step) * step
    sizes = {full}
    size = step
    while size < full:
        sizes.add(size)
        size *= 2
    return np.array(sorted(sizes), dtype=np.int64)


def candidates(gemm: Gemm, arch: Architecture, search: GemmSearch) -> dict[str, np.ndarray]:
    """Seeded sample (or all, if fewer) of tile × order candidates, as parallel arrays."""
    rows, cols = arch.array_2d.rows, arch.array_2d.cols
    grid = [tile_choices(gemm.m, rows), tile_choices(gemm.n, cols), tile_choices(gemm.k, 1),
            np.arange(len(ORDERS))]
    total = int(np.prod([len(axis) for axis in grid]))
    if total <= search.samples:
        flat = np.arange(total)
    else:
        flat = np.random.default_rng(search.seed).choice(total, search.samples, replace=False)
    index = np.unravel_index(np.sort(flat), [len(axis) for axis in grid])
    return {"tm": grid[0][index[0]], "tn": grid[1][index[1]], "tk": grid[2][index[2]],
            "order": index[3]}


def count_candidates(gemm: Gemm, arch: Architecture, cand: dict[str, np.ndarray]) -> dict:
    """Counts of every candidate (arrays): cycles, DRAM and buffer words, buffer need."""
    rows, cols = arch.array_2d.rows, arch.array_2d.cols
    tm, tn, tk = cand["tm"], cand["tn"], cand["tk"]
    trips = {"m": -(-gemm.m // tm), "n": -(-gemm.n // tn), "k": -(-gemm.k // tk)}
    passes = trips["m"] * trips["n"] * trips["k"] * -(-tm // rows) * -(-tn // cols)
    compute = passes * tk
    order_pos = np.array([[o.index(r) for r in "mnk"] for o in ORDERS])[cand["order"]]
    pos = {r: order_pos[:, i] for i, r in enumerate("mnk")}
    size = {"A": gemm.m * gemm.k, "B": gemm.k * gemm.n, "C": gemm.m * gemm.n}
    traffic = {}
    for operand, relevant in RELEVANT.items():
        live = [np.where(trips[r] > 1, pos[r], -1) for r in relevant]
        inner = np.maximum(live[0], live[1])  # loops of one trip do not evict a tile
        factor = np.ones_like(tm)
        for rank in "mnk":
            if rank not in relevant:
                factor = factor * np.where(pos[rank] < inner, trips[rank], 1)
        traffic[operand] = size[operand] * factor
    reads = traffic["A"] + traffic["B"] + (traffic["C"] - size["C"])
    # every A word is fed to the array once per column pass, every B word once per row pass
    fed = {"A": size["A"] * trips["n"] * -(-tn // cols),
           "B": size["B"] * trips["m"] * -(-tm // rows)}
    buffer_reads = np.zeros_like(tm)
    buffer_writes = np.zeros_like(tm)
    for operand in "AB":  # a word fetched once and fed once streams past the buffer
        kept = (traffic[operand] > size[operand]) | (fed[operand] > size[operand])
        buffer_reads = buffer_reads + np.where(kept, fed[operand], 0)
        buffer_writes = buffer_writes + np.where(kept, traffic[operand], 0)
    partial = traffic["C"] - size["C"]  # C written once drains straight to DRAM
    staged = partial > 0
    buffer_reads = buffer_reads + np.where(staged, traffic["C"] + partial, 0)
    buffer_writes = buffer_writes + np.where(staged, traffic["C"] + partial, 0)
    need = 2 * (tm * tk + tk * tn) + tm * tn
    return {"compute": compute, "reads": reads, "writes": traffic["C"], "need": need,
            "buffer_reads": buffer_reads, "buffer_writes": buffer_writes}


def latency(arch: Architecture, counts: dict) -> np.ndarray:
    """Cycles of each candidate: compute and DRAM transfer overlap (double-buffered tiles)."""
    bytes_per_cycle = arch.dram.bandwidth_bytes_per_s / (arch.clock_mhz * 1e6)
    with np.errstate(over="ignore"):  # an absurd bandwidth gives inf: the explorer names it
        dram = (counts["reads"] + counts["writes"]) * arch.word_bytes / bytes_per_cycle
    return np.maximum(counts["compute"], dram)


@functools.lru_cache(maxsize=4096)
def search_gemm(gemm: Gemm, arch: Architecture, search: GemmSearch) -> GemmMapping:
    """The fastest fitting candidate (ties: fewer DRAM words, then the sampled order).

    Memoised: the result is a pure function of the (frozen, hashable) shape, architecture and
    search settings, so a sweep that meets the same GEMM again pays nothing. The returned
    mapping is immutable and may be shared.
    """
    cand = candidates(gemm, arch, search)
    counts = count_candidates(gemm, arch, cand)
    cycles = latency(arch, counts)
    fits = counts["need"] * arch.word_bytes <= arch.buffer.buffer_bytes
    if not fits.any():
        raise InputError(f"no GEMM mapping of {gemm} fits a {arch.buffer.buffer_bytes}-byte "
                         f"buffer")
    traffic = counts["reads"] + counts["writes"]
    key = np.lexsort((traffic, np.where(fits, cycles, np.inf)))
    best = int(key[0])
    macs = gemm.m * gemm.n * gemm.k
    pes = arch.array_2d.rows * arch.array_2d.cols
    return GemmMapping(
        gemm, (int(cand["tm"][best]), int(cand["tn"][best]), int(cand["tk"][best])),
        ORDERS[int(cand["order"][best])], macs, int(counts["compute"][best]),
        int(counts["reads"][best]), int(counts["writes"][best]),
        int(counts["buffer_reads"][best]), int(counts["buffer_writes"][best]),
        int(counts["need"][best]), float(cycles[best]), macs / (float(cycles[best]) * pes),
        len(cycles), search.seed)


def simulate_traffic(gemm: Gemm, tile: tuple[int, int, int], order: str) -> tuple[int, int]:
    """Brute-force DRAM (read, write) words of one GEMM by walking its tile loop nest.

    The buffer keeps the last tile of each operand; a tile is fetched when its indices change,
    and C's tile is written back when it is evicted (read back first if written before).
    """
    tm, tn, tk = tile
    trips = {"m": -(-gemm.m // tm), "n": -(-gemm.n // tn), "k": -(-gemm.k // tk)}
    extent = {"m": gemm.m, "n": gemm.n, "k": gemm.k}
    step = {"m": tm, "n": tn, "k": tk}

    def words(operand: str, idx: dict[str, int]) -> int:
        dims = RELEVANT[operand]
        return int(np.prod([min(step[r], extent[r] - idx[r] * step[r]) for r in dims]))

    held: dict[str, tuple] = {}
    written: set[tuple] = set()
    reads = writes = 0
    for point in itertools.product(*(range(trips[r]) for r in order)):
        idx = dict(zip(order, point, strict=True))
        for operand in "ABC":
            key = tuple(idx[r] for r in RELEVANT[operand])
            if held.get(operand) == key:
                continue
            if operand == "C" and operand in held:
                old = dict(zip("mn", held["C"], strict=True))
                writes += words("C", old)
                written.add(held["C"])
            if operand != "C" or key in written:
                reads += words(operand, idx)
            held[operand] = key
    writes += words("C", dict(zip("mn", held["C"], strict=True)))
    return reads, writes
