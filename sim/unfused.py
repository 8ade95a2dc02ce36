"""Phase-by-phase simulation of an unfused attention mapping (fusemax.md §6, the Unfused
baseline) as `mapper` maps it: the 3-pass, 2-pass and 1-pass cascades, one head at a time.

Input: a `mapper.lower.Mapping` of an unfused configuration, a sequence of phases through DRAM
(``mapping.phases``): GEMM phases (QK, AV; BQK, SLNV batched over the chunks m1) and vector
phases (the Einsums between them). Phases run one after another; heads follow each other.

GEMM phase (`sim.gemm.simulate_gemm`, SCALE-Sim-exact): the mapper's GEMM ``(m × k)·(k × n)``
(m = query rows, n = keys or F, k = the reduced rank) on the same R × C array,
output stationary as the mapper maps it (m on rows, n on columns, k in time), with three
double-buffered SRAMs of a third of the mapper's global buffer each and the architecture's DRAM
bandwidth in words per cycle. What differs from the mapper's mapping:

- the fold order: sim/gemm runs R × C output folds, column fold outer, each streaming all of
  k (an A row-fold tile R·k, a B column-fold tile k·C); the mapper's buffer tile
  (tm, tn, tk) and DRAM loop order are not used. An operand whose whole matrix fits its SRAM
  is fetched once (the mapper's traffic when everything fits); otherwise A is re-fetched for
  every column fold (sim/gemm's rule), where the mapper's tile may re-read less;
- each fold takes k + R + C − 2 cycles (SCALE-Sim: the diagonal fill and the drain of the
  outputs are not overlapped with the next fold); the mapper charges tk cycles per R × C pass
  (the next pass's wavefront right behind the previous one) and one fill per mapping;
- the M1 GEMMs of a batch (SLNV) run back to back, each simulated as its own GEMM.

``chained_cycles`` also times each GEMM phase with its folds chained (a fold's wavefront right
behind the previous one's, across the GEMMs of a batch too: k cycles a fold, one R + C − 2
fill a phase; same tiles, fetches and DRAM channel), which is how the fused simulator chains
a tile's 2D wavefronts and what the mapper's tk per pass assumes.

Vector phase, element by element: every bound Einsum's points are assigned to PEs — on the
1D array query row p to PE p mod P1 (one M fiber per PE, walked key by key: a partial last
chunk only its keys), on the 2D array point (p, key column) to PE (p mod R, column mod C) —
each point costs the Einsum's cycles per point on its PE (the binding's: exp as the
architecture says). Rows stream in groups of one row per 1D PE: a group's time is, per array,
its busiest PE's work; the two arrays overlap (pipelined) or add (serial, plus one diagonal
fill R + C − 2 per 2D run and 2D tile). Groups are placed by `sim.memory.schedule` (the DRAM
channel of sim/gemm: a group's input fibers fetched before it, double-buffered, its outputs
written after). DRAM words are counted from the tensors the phase actually reads (made by an
earlier phase, or the cascade's inputs) and writes (read by a later phase, or an output).

Values (`gemm_values`, API only): each GEMM phase computed by the simulated array from the
cascade's operands as `einsum.execute` makes them, for the 3- and 2-pass cascades (the 3-pass
AV is a GEMM phase's output). The vector phases' values are the executor's own arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .gemm import check_fits, fetch_words, plan_folds, simulate_gemm
from .memory import schedule
from .spec import SimInputError, gemm, memory, systolic_array


@dataclass(frozen=True, slots=True)
class PhaseRun:
    """One simulated phase of one head. ``cycles``: elapsed (first DRAM request to the last
    write); ``compute_cycles``: cycles the arrays work (GEMM: Σ fold lengths; vector: Σ over
    row groups); ``units``: GEMM folds or vector row groups; the ``mapper_*`` fields are the
    analytical model's numbers for the same phase (its cycles = max(compute, DRAM))."""

    name: str
    kind: str
    cycles: int
    compute_cycles: int
    dram_read_words: int
    dram_write_words: int
    units: int
    mapper_cycles: float
    mapper_compute_cycles: int
    mapper_dram_words: int
    chained_cycles: int
    """GEMM: elapsed with each fold's wavefront entering right behind the previous one's
    (k cycles a fold, one fill and drain R + C − 2 a phase), as the fused simulator chains a
    tile's 2D wavefronts; vector: ``cycles``."""

    def to_json(self) -> dict[str, object]:
        """One phase of the CLI's JSON object."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class UnfusedResult:
    """``heads`` instances simulated one after another (``cycles``); ``total_cycles`` scales
    that to all instances; ``mapper_cycles`` = heads × Σ the mapper's phase cycles + its
    one fill."""

    phases: tuple[PhaseRun, ...]
    cycles: int
    instances: int
    total_cycles: int
    mapper_cycles: int
    chained_cycles: int
    heads: int = 1
    query_heads: int = 1
    av: np.ndarray | None = None
    timeline: np.ndarray | None = None

    def to_json(self) -> dict[str, object]:
        """The CLI's JSON object (the fused result's keys where they have a meaning)."""
        return {"cycles": self.cycles, "instances": self.instances,
                "total_cycles": self.total_cycles, "mapper_cycles": self.mapper_cycles,
                "chained_cycles": self.chained_cycles,
                "heads": self.heads, "query_heads": self.query_heads,
                "phases": [p.to_json() for p in self.phases]}


def check_unfused(mapping) -> None:
    """SimInputError naming why `simulate_unfused` cannot run ``mapping`` (builds nothing)."""
    if any(p.kind not in ("gemm", "vector") for p in mapping.phases):
        raise SimInputError(f"simulate: configuration {mapping.config_name!r} has phases of "
                            "kinds other than gemm and vector")
    cascade = _cascade(mapping)
    inputs = {d.name: tuple(d.ranks) for d in cascade.inputs}
    if inputs != {"Q": ("e", "p"), "K": ("e", "m"), "V": ("f", "m")}:
        raise SimInputError(f"simulate: cascade {cascade.name} unfused: the simulator runs "
                            "unfused cascades over Q[e,p], K[e,m], V[f,m] of one head only "
                            "(the 1-, 2- and 3-pass attention cascades)")
    for phase in mapping.phases:
        if phase.spill_fraction > 0:
            raise SimInputError(f"simulate: {mapping.config_name!r}: phase {phase.name} "
                                f"spills {phase.spill_fraction:.0%} of its held fibers; the "
                                "unfused simulator runs phases whose fibers fit the buffer")


def simulate_unfused(mapping, heads: int = 1) -> UnfusedResult:
    """Simulate ``heads`` heads of an unfused ``mapping`` phase by phase (module docstring).

    Raises SimInputError for a mapping it does not cover (`check_unfused`) or a GEMM
    `sim.gemm.simulate_gemm` refuses (a fold tile larger than half its SRAM, too many folds).
    """
    check_unfused(mapping)
    if heads < 1:
        raise SimInputError(f"simulate: heads must be at least 1, not {heads}")
    cascade = _cascade(mapping)
    ext = _extents(mapping, cascade)
    made = {e.name: i for i, ph in enumerate(mapping.phases) for w in ph.work
            for e in cascade.einsums if e.name == w.bound.name}
    runs = tuple(_gemm_run(mapping, ph) if ph.kind == "gemm" else
                 _vector_run(mapping, cascade, ext, made, i)
                 for i, ph in enumerate(mapping.phases))
    per_head = sum(r.cycles for r in runs)
    mapper = heads * sum(r.mapper_cycles for r in runs) + mapping.fill_drain_cycles
    chained = heads * sum(r.chained_cycles for r in runs)
    return UnfusedResult(runs, heads * per_head, mapping.instances,
                         per_head * mapping.instances, round(mapper), chained, heads)


def _cascade(mapping):
    from einsum import library

    return library.get(mapping.cascade, **dict(getattr(mapping, "params", ())))


def _extents(mapping, cascade) -> dict[str, int]:
    """Every rank's extent per head; a split's outer rank counts its chunks."""
    ext = dict(mapping.workload.extents())
    for split in cascade.splits:
        chunk = mapping.arch.array_2d.cols  # the mapper lowers with M0 = array columns
        ext[split.inner] = chunk
        ext[split.outer] = -(-ext[split.parent] // chunk)
    return ext


def _memory(arch):
    """Three SRAMs of a third of the global buffer each; the DRAM in words per cycle."""
    words_per_cycle = (arch.dram.bandwidth_bytes_per_s / (arch.clock_mhz * 1e6)
                       / arch.word_bytes)
    return memory(arch.buffer.buffer_bytes / 3 / 1024, words_per_cycle, arch.word_bytes)


def _mapper_cycles(arch, phase) -> float:
    """The analytical model's phase cycles: compute and DRAM overlap (`mapper.count`)."""
    words = phase.dram_read_words + phase.dram_write_words
    dram = words * arch.word_bytes * arch.clock_mhz * 1e6 / arch.dram.bandwidth_bytes_per_s
    return max(float(phase.compute_cycles), dram)


def _gemm_run(mapping, phase) -> PhaseRun:
    """Every GEMM of the phase (each part ``count`` times, back to back) on sim/gemm."""
    arch = mapping.arch
    array = systolic_array(arch.array_2d.rows, arch.array_2d.cols, "os")
    mem = _memory(arch)
    cycles = compute = reads = writes = folds = 0
    for part in phase.gemm_parts:
        g = part.gemm
        shape = gemm(g.m, g.n, g.k)
        result = simulate_gemm(array, shape, mem)
        cycles += g.count * (result.total_cycles + 1)
        compute += g.count * (result.compute_cycles + 1)
        reads += g.count * sum(result.dram_reads.values())
        writes += g.count * sum(result.dram_writes.values())
        folds += g.count * result.folds
    return PhaseRun(phase.name, "gemm", cycles, compute, reads, writes, folds,
                    _mapper_cycles(arch, phase), phase.compute_cycles,
                    phase.dram_read_words + phase.dram_write_words,
                    _chained(array, phase.gemm_parts, mem))


def _chained(array, parts, mem) -> int:
    """Elapsed cycles of a GEMM phase whose folds chain: a fold's operands enter the array
    edges for k cycles (sim.systolic.os_fold: row i takes A[i, s] at cycle s + i) and the next
    fold's — of the same GEMM or the batch's next one — enter right behind them
    (double-buffered accumulators: the results drain while the next fold computes), so a fold
    occupies the array k cycles and the phase's last result leaves R + C − 2 cycles after
    the last stream. Same folds, tiles, fetches and DRAM channel as
    `sim.gemm.simulate_gemm`, GEMM after GEMM (a fold's C tile is written when its stream
    ends)."""
    lengths, fetch, writes = [], [], []
    for part in parts:
        shape = gemm(part.gemm.m, part.gemm.n, part.gemm.k)
        plan = plan_folds(array, shape)
        check_fits(plan, mem)
        one = (fetch_words(plan.a_tile, plan.a_words, shape.m * shape.k <= mem.sram_words)
               + fetch_words(plan.b_tile, plan.b_words, shape.k * shape.n <= mem.sram_words))
        lengths.append(np.full(len(one) * part.gemm.count, shape.k, np.int64))
        fetch.append(np.tile(one, part.gemm.count))
        writes.append(np.tile(plan.c_words.astype(np.int64), part.gemm.count))
    lengths, fetch, writes = (np.concatenate(x) for x in (lengths, fetch, writes))
    start = np.zeros(len(lengths), np.int64)
    end, _ = schedule(lengths, fetch, np.arange(len(lengths), dtype=np.int64), writes,
                      float(mem.dram_words_per_cycle), start)
    return max(int(end), int(start[-1] + lengths[-1]) + array.rows + array.cols - 2)


def phase_tensors(cascade, made: dict[str, int], index: int) -> tuple[list[str], list[str]]:
    """(tensors phase ``index`` reads from DRAM, tensors it writes to DRAM): reads are operands
    made by an earlier phase or cascade inputs; writes are its Einsums' outputs read by a later
    phase or declared outputs (running state made and read inside the phase stays on chip)."""
    inputs = {d.name for d in cascade.inputs}
    alias = {e.name: e.operands[0] for e in cascade.einsums
             if e.phase == "init" and len(e.operands) == 1}
    mine = {n for n, i in made.items() if i == index}
    reads: set[str] = set()
    later: set[str] = set()
    for e in cascade.einsums:
        if e.name not in made:
            continue
        for op in e.operands:
            op = alias.get(op, op)
            if made.get(e.name) == index and op not in mine and (op in inputs or
                                                                 made.get(op, index) < index):
                reads.add(op)
            if made[e.name] > index and op in mine:
                later.add(op)
    outputs = {d.name for d in cascade.outputs}
    return sorted(reads), sorted(later | (mine & outputs))


def tensor_words(cascade, ext: dict[str, int], name: str, drop_p: bool = False) -> int:
    """Words of a tensor per head (a split's partial last chunk holds only its keys); with
    ``drop_p`` the words of one query row."""
    ranks = [r for r in cascade.tensor_ranks()[name] if not (drop_p and r == "p")]
    words = 1
    for split in cascade.splits:
        if split.outer in ranks and split.inner in ranks:
            ranks.remove(split.outer)
            ranks.remove(split.inner)
            words *= ext[split.parent]
    return words * math.prod(ext[r] for r in ranks)


def _vector_run(mapping, cascade, ext, made, index) -> PhaseRun:
    arch = mapping.arch
    phase = mapping.phases[index]
    group = arch.array_1d.pes
    starts = list(range(0, ext["p"], group))
    work = {"2d": np.zeros(len(starts), np.int64), "1d": np.zeros(len(starts), np.int64)}
    einsums = {e.name: e for e in cascade.einsums}
    for w in phase.work:
        per_group = _group_work(einsums[w.bound.name], w.bound, cascade, ext, arch, starts)
        work[w.bound.array] += per_group
    if mapping.config.schedule == "pipelined":
        lengths = np.maximum(work["2d"], work["1d"])
    else:
        fills = _runs_2d(phase) * (arch.array_2d.rows + arch.array_2d.cols - 2)
        tiles = -(-ext.get("m", 1) // arch.array_2d.cols) if _runs_2d(phase) else 0
        lengths = work["2d"] + work["1d"] + _tile_rows(starts, ext["p"], group, arch) * \
            tiles * fills
    reads, writes = phase_tensors(cascade, made, index)
    rows = np.array([min(group, ext["p"] - s) for s in starts], np.int64)
    fetch = _fibers(cascade, ext, reads, rows)
    store = _fibers(cascade, ext, writes, rows)
    lengths = np.maximum(lengths, 1)
    start = np.zeros(len(starts), np.int64)
    bw = _memory(arch).dram_words_per_cycle
    end, _ = schedule(lengths, fetch, np.arange(len(starts), dtype=np.int64), store, float(bw),
                      start)
    return PhaseRun(phase.name, "vector", int(end), int(lengths.sum()), int(fetch.sum()),
                    int(store.sum()), len(starts), _mapper_cycles(arch, phase),
                    phase.compute_cycles, phase.dram_read_words + phase.dram_write_words,
                    int(end))


def _runs_2d(phase) -> int:
    arrays = [w.bound.array for w in phase.work]
    return sum(1 for i, a in enumerate(arrays) if a == "2d" and (i == 0 or arrays[i - 1] != "2d"))


def _tile_rows(starts, p, group, arch) -> np.ndarray:
    """2D tiles of R query rows a row group covers (its first rows open them)."""
    r = arch.array_2d.rows
    return np.array([len(range(-(-s // r) * r, min(p, s + group), r)) for s in starts],
                    np.int64)


def _fibers(cascade, ext, names: list[str], rows: np.ndarray) -> np.ndarray:
    """Words of ``names`` moved for each row group: a query row's fiber per row; a tensor
    without p once, with the first group."""
    words = np.zeros(len(rows), np.int64)
    for name in names:
        if "p" in cascade.tensor_ranks()[name]:
            words += rows * tensor_words(cascade, ext, name, drop_p=True)
        else:
            words[0] += tensor_words(cascade, ext, name)
    return words


def _group_work(einsum, bound, cascade, ext, arch, starts) -> np.ndarray:
    """Cycles of the busiest PE of ``bound``'s array in each row group: every point of the
    Einsum counted on the PE it runs on, ``cycles_per_point`` each."""
    cpp = max(1, bound.cycles_per_point)
    ranks = list(einsum.ranks)
    keys = _key_columns(ranks, cascade, ext)  # column of each present key point
    others = math.prod(ext[r] for r in ranks if r not in ("p", "m", "m0", "m1"))
    p = np.arange(ext["p"])
    group = arch.array_1d.pes
    if bound.array == "1d":
        per_row = np.full(ext["p"], len(keys) * others * cpp, np.int64)
        out = []
        for s in starts:  # PE i of the group walks row s + i
            out.append(int(per_row[s:s + group].max()))
        return np.array(out, np.int64)
    rows, cols = arch.array_2d.rows, arch.array_2d.cols
    per_col = np.bincount(keys % cols, minlength=cols).astype(np.int64)
    out = []
    for s in starts:
        in_group = p[s:s + group]
        per_pe_row = np.bincount(in_group % rows, minlength=rows).astype(np.int64)
        out.append(int((per_pe_row[:, None] * per_col[None, :]).max()) * others * cpp)
    return np.array(out, np.int64)


def _key_columns(ranks: list[str], cascade, ext) -> np.ndarray:
    """The key-rank coordinate of each present point over the Einsum's key ranks (m; m1 and
    m0: the keys there are; m1 alone: one point per chunk in column 0; none: one point)."""
    has = {r for r in ("m", "m0", "m1") if r in ranks}
    if "m" in has:
        return np.arange(ext["m"])
    if {"m0", "m1"} <= has:
        return np.arange(ext["m"]) % ext["m0"]
    if "m0" in has:
        return np.arange(ext["m0"])
    count = ext["m1"] if "m1" in has else 1
    return np.zeros(count, np.int64)


def gemm_values(mapping, q, k, v) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each GEMM phase computed by the simulated array: ``{Einsum: (simulated, executor)}``.

    The operands are the cascade's tensors as `einsum.execute` makes them (Q, K, V of one
    head; every intermediate an output); each of the phase's GEMMs — rows the ranks only the
    operand with p keeps, columns those only the other keeps, k the reduced ranks, one GEMM per
    value of a rank both keep (SLNV's chunk m1), over the points present (a partial chunk's
    keys) — runs on `sim.gemm.simulate_gemm` with values (the array computes C from the words
    it moves); the result is laid out in the Einsum's output ranks (absent points NaN).
    SimInputError for an iterative cascade (the 1-pass: einsum.execute keeps one chunk's
    intermediates, not all of them)."""
    import dataclasses

    from einsum import execute

    cascade = _cascade(mapping)
    if cascade.iteration is not None:
        raise SimInputError(f"simulate: cascade {cascade.name} iterates over the chunks; the "
                            "unfused GEMM values need every chunk's intermediates")
    ranks = cascade.tensor_ranks()
    decl = cascade.outputs[0]
    every = tuple(dataclasses.replace(decl, name=e.name, ranks=ranks[e.name])
                  for e in cascade.einsums)
    tensors = execute(dataclasses.replace(cascade, outputs=every), {"Q": q, "K": k, "V": v},
                      dict(mapping.params))
    tensors.update(Q=q, K=k, V=v)
    ext = _extents(mapping, cascade)
    arch = mapping.arch
    array = systolic_array(arch.array_2d.rows, arch.array_2d.cols, "os")
    found = {}
    for phase in mapping.phases:
        if phase.kind == "gemm":
            e = next(x for x in cascade.einsums if x.name == phase.work[0].bound.name)
            found[e.name] = (_gemm_value(e, ranks, tensors, ext, array, _memory(arch)),
                             tensors[e.name])
    return found


def _gemm_value(e, ranks, tensors, ext, array, mem) -> np.ndarray:
    lhs, rhs = sorted(e.operands[:2], key=lambda t: "p" not in ranks[t])
    red = list(e.reduced_ranks)
    batch = [r for r in ranks[lhs] if r in ranks[rhs] and r not in red]
    rows = [r for r in ranks[lhs] if r not in red + batch]
    cols = [r for r in ranks[rhs] if r not in red + batch]
    out_ranks = ranks[e.name]
    out = np.full(tuple(ext[r] for r in out_ranks), np.nan)
    for fixed in np.ndindex(*(ext[r] for r in batch)):
        at = dict(zip(batch, fixed, strict=True))
        a, a_keep = _matrix(tensors[lhs], ranks[lhs], rows, red, at, ext)
        b, b_keep = _matrix(tensors[rhs], ranks[rhs], red, cols, at, ext)
        a, b = a[np.ix_(a_keep[0], a_keep[1] & b_keep[0])], b[np.ix_(a_keep[1] & b_keep[0],
                                                                     b_keep[1])]
        c = simulate_gemm(array, gemm(a.shape[0], b.shape[1], a.shape[1]), mem, a, b).c
        full = np.full((a_keep[0].size, b_keep[1].size), np.nan)
        full[np.ix_(a_keep[0], b_keep[1])] = c
        grid = full.reshape(tuple(ext[r] for r in rows + cols))
        order = [(rows + cols).index(r) for r in out_ranks if r not in batch]
        index = tuple(at[r] if r in at else slice(None) for r in out_ranks)
        out[index] = grid.transpose(order)
    return out


def _matrix(data, data_ranks, first, second, at, ext):
    """``data`` as a [first ranks, second ranks] matrix at the batch values ``at``, and the
    masks of the present rows and columns (a split's keys past M are absent)."""
    index = tuple(at[r] if r in at else slice(None) for r in data_ranks)
    rest = [r for r in data_ranks if r not in at]
    view = np.asarray(data)[index].transpose([rest.index(r) for r in first + second])
    shape = (math.prod(ext[r] for r in first), math.prod(ext[r] for r in second))
    return view.reshape(shape), (_present(first, at, ext), _present(second, at, ext))


def _present(group, at, ext) -> np.ndarray:
    """Which points of the flattened ranks ``group`` exist: m1 · M0 + m0 < M (m1 may be a
    batch value in ``at``)."""
    grids = np.meshgrid(*(np.arange(ext[r]) for r in group), indexing="ij")
    value = dict(zip(group, (g.ravel() for g in grids), strict=True))
    size = math.prod(ext[r] for r in group)
    if "m0" in value and ("m1" in value or "m1" in at):
        m1 = value["m1"] if "m1" in value else at["m1"]
        return m1 * ext["m0"] + value["m0"] < ext["m"]
    return np.ones(size, bool)
