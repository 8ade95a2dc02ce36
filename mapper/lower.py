"""Lowering a library cascade onto an architecture: tiles, binding, phases, buffer, spills, DRAM.

``lower(cascade, arch, config, workload) -> Mapping``. Everything is per attention head (one
(b, h) instance); ``Mapping.instances`` = batch × heads. The score tile is the 2D array: the
inner M rank (M0 = array columns) across the columns, P0 = array rows across the rows; the 1D
array holds one PE per query row of the tile.

Fused: every Einsum runs under one nest ``p2 -> m-tiles -> p1 -> spatial p0, m0``. A block of R
query rows (R = P1·P0) stays on chip: its query inputs, running state and outputs, plus the M
fiber of every tensor that a later pass re-reads (from `einsum.passes`). R is the largest block
that fits; when even one tile row (R = P0) does not fit, the part of the held fibers that does not
fit spills to DRAM and is re-read once per later pass. Inputs without P (K, V) stream through the
buffer one tile at a time, once per block and per pass that reads them.

Unfused: each contraction that reuses an operand across query rows (one operand without p) is a
GEMM phase (searched by `mapper.gemm`; a chunk rank both operands keep makes a batch; under a
mask, block-sparse GEMMs over the admitted score tiles, `mapper.sparse`), each run of other
Einsums (per-row contractions such as the 2-pass SD and SNV included) is a vector phase over
blocks of query rows; tensors cross phases through DRAM.

The per-head analysis the rules read is `mapper.context`; which words live in the buffer and
what moves through it, `mapper.traffic`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from einsum import Cascade
from einsum.errors import InputError
from einsum.ir import expr_refs

from . import context as cx
from . import masks, sparse, startup, traffic
from .binding import is_contraction
from .context import Context, EinsumWork, Workload
from .gemm import Gemm, GemmMapping, search_gemm
from .spec import Architecture, Config, GemmSearch


@dataclass(frozen=True, slots=True)
class Phase:
    """A loop nest run to completion before the next phase; all counts are per head."""

    name: str
    kind: str
    work: tuple[EinsumWork, ...]
    loop_nest: tuple[str, ...]
    rows_per_block: int
    blocks: int
    held: tuple[str, ...]
    buffer_need_bytes: int
    spill_fraction: float
    dram_read_words: int
    dram_write_words: int
    spill_words: int
    buffer_read_words: int
    buffer_write_words: int
    rf_reads: dict[str, int]
    rf_writes: dict[str, int]
    cycles: dict[str, int]
    stall_cycles: int
    compute_cycles: int
    gemm: GemmMapping | None = None
    """A GEMM phase's mapping (of its full-chunk GEMMs when `gemm_parts` has two)."""
    gemm_parts: tuple[GemmMapping, ...] = ()
    """Every GEMM shape a GEMM phase runs, each ``gemm.count`` times: one, or the full-chunk
    GEMMs and the last, partial chunk's (`_gemm_shapes`)."""
    bypassed: tuple[str, ...] = ()
    """Tensors (wholly or, when spilled, partly) moving between DRAM and the PEs past the
    buffer: each of their words is used once (`_kept`)."""


@dataclass(frozen=True, slots=True)
class Mapping:
    """A cascade lowered onto an architecture for one workload and configuration."""

    config_name: str
    config: Config
    arch: Architecture
    workload: Workload
    cascade: str
    m_passes: int
    phases: tuple[Phase, ...]
    instances: int
    fill_drain_cycles: int
    params: tuple[tuple[str, int], ...] = ()
    """The cascade's parameter values as lowered (M0 = array columns; a window's W)."""
    mask: masks.TileCounts | None = None
    """A masked cascade's admitted score tiles per head (None: unmasked, every tile runs)."""
    band: int = 1
    """A masked unfused mapping's band height in p-tiles (`mapper.sparse`; 1 otherwise)."""


def dram_cycles(arch: Architecture, words: int) -> float:
    """Cycles to move ``words`` array words over the DRAM interface."""
    return words * arch.word_bytes * arch.clock_mhz * 1e6 / arch.dram.bandwidth_bytes_per_s


def phase_cycles(arch: Architecture, phase: Phase) -> tuple[float, str]:
    """(cycles, bottleneck) of one phase per head: compute and DRAM overlap."""
    dram = dram_cycles(arch, phase.dram_read_words + phase.dram_write_words)
    if dram > phase.compute_cycles:
        return dram, "dram"
    if phase.stall_cycles:
        return float(phase.compute_cycles), "fill/drain stalls + serial arrays"
    return float(phase.compute_cycles), max(phase.cycles, key=phase.cycles.get) + " array"


def fill_drain(arch: Architecture) -> int:
    """Cycles a wavefront needs to cross the 2D array diagonally: PE (r, c) receives its first
    operands r + c cycles after PE (0, 0), so the last PE starts R + C - 2 cycles after the first
    (results stay in the PEs for the next Einsum of the run: no separate output drain)."""
    return arch.array_2d.rows + arch.array_2d.cols - 2


def lower(cascade: Cascade, arch: Architecture, config: Config, workload: Workload,
          search: GemmSearch, config_name: str = "") -> Mapping:
    """Lower ``cascade`` (with M0 = array columns if it has that parameter); raise InputError.

    A key/query mask (a ``where`` filter over m and p on a body Einsum: causal, sliding
    window, on the 1-pass or a multi-pass cascade; `mapper.masks`) is modelled in a fused
    configuration: the score tiles without an admitted point are skipped in every pass (their
    body Einsums' work, buffer traffic and K/V reads), and a multi-pass cascade holds and
    spills the M fibers of the admitted tiles only (`_masked_block`). In an unfused one the
    GEMM phases are block-sparse over the admitted tiles (`mapper.sparse`) and the vector
    phases move and hold only the admitted scores. Other filters (lean-decode's split over
    compute units) are refused.
    """
    masks.check_form(cascade)
    ctx = cx.make_context(cascade, arch, config, workload)
    phases, band = ((_fused_phase(ctx),), 1) if config.fused else _unfused_phases(ctx, search)
    # the first wavefront's fill: a serial fused schedule pays it in every tile's stalls; the
    # GEMM phases of an unfused one have none, so it is paid once whatever the schedule
    pays_once = config.schedule == "pipelined" or not config.fused
    once = _pipeline_fill(ctx, phases[0]) if pays_once else 0
    params = tuple((k, v) for k, v in ctx.cascade.params.items() if v is not None)
    # a GQA cascade's instance is a group of query heads sharing K/V; otherwise one head
    per_instance = cx.query_heads(ctx)
    if workload.heads % per_instance:
        raise InputError(f"{cascade.name}: groups of {per_instance} query heads do not divide "
                         f"{workload.heads} heads")
    return Mapping(config_name or cascade.name, config, arch, workload, cascade.name,
                   ctx.m_passes, phases, workload.batch * workload.heads // per_instance,
                   once, params, ctx.tile_counts, band)


def _block(ctx: Context, per_row: int, held_row: int, fixed: int, step: int
           ) -> tuple[int, float, int]:
    """(rows per block, spill fraction, need in bytes at that block) for the buffer.

    Blocks are ``step`` · 2^i query rows (or all of P); the smallest block is ``step`` rows.
    """
    wb, cap = ctx.arch.word_bytes, ctx.arch.buffer.buffer_bytes
    top = -(-ctx.ext["p"] // step) * step
    rows = step
    while rows * 2 <= top and (2 * rows * (per_row + held_row) + fixed) * wb <= cap:
        rows *= 2
    if rows < top and (top * (per_row + held_row) + fixed) * wb <= cap:
        rows = top
    need = (rows * (per_row + held_row) + fixed) * wb
    if need <= cap:
        return rows, 0.0, need
    room = cap / wb - rows * per_row - fixed
    if held_row == 0 or room < 0:
        raise InputError(f"buffer of {cap} bytes is too small for any mapping of "
                         f"{ctx.cascade.name}: one block of {rows} query rows needs {need} bytes")
    return rows, min(1.0, 1.0 - room / (rows * held_row)), need


def _masked_block(ctx: Context, per_row: int, held_row: int, fixed: int, step: int,
                  band: int = 1) -> tuple[int, float, int]:
    """`_block` for a masked cascade holding M fibers: (rows per block, spilled share of the
    held words, need in bytes of the fullest block).

    A query row of p-tile i holds its M fibers' words of the keys of its admitted tiles only
    (``held_row`` · keys_i / M; `masks.row_keys`): the tiles the mask skips are never made.
    Blocks are sized for the widest p-tile (every block then fits wherever the widest one
    does: causal's last p-tile sees every key, so its blocks are the unmasked ones; a window's
    are larger). A block spills what of its held words exceeds the room beside its query
    rows and K/V tiles; the share returned is the spilled words over all blocks' held words,
    the same for every held tensor (each is spread over the keys alike). In bands of
    ``band`` p-tiles (a masked unfused mapping, `mapper.sparse`) a row holds its band's keys.
    """
    m = ctx.ext["m"]
    keys = sparse.row_keys(ctx, band)  # per query row
    rows, _, need = _block(ctx, per_row, -(-held_row * int(keys.max()) // m), fixed, step)
    per_block = np.append(keys, np.zeros(-len(keys) % rows, np.int64)).reshape(-1, rows).sum(1)
    room = ctx.arch.buffer.buffer_bytes / ctx.arch.word_bytes - rows * per_row - fixed
    spilled = np.maximum(0.0, per_block * (held_row / m) - room).sum()
    return rows, float(spilled / (keys.sum() * (held_row / m))), need


def _admitted_words(ctx: Context, tensor: str) -> int:
    """Words of ``tensor`` per head that a mask leaves: a tensor over query rows and keys
    (QK[m,p], LM[m1,p], SLNV[f,m1,p]) exists on the admitted score tiles only."""
    ranks = set(ctx.tensor_ranks[ctx.alias.get(tensor, tensor)])
    if "p" in ranks and ranks & ctx.m_family:
        return round(cx.size(ctx, tensor) * ctx.tile_counts.point_share)
    return cx.size(ctx, tensor)


def _runs_2d(work: tuple[EinsumWork, ...]) -> int:
    """Number of runs of consecutive 2D Einsums in a tile's body (each ends in a drain)."""
    arrays = [w.bound.array for w in work if w.bound.phase == "body"]
    return sum(1 for i, a in enumerate(arrays) if a == "2d" and (i == 0 or arrays[i - 1] != "2d"))


def _pipeline_fill(ctx: Context, phase) -> int:
    """Prologue/epilogue of a pipelined fused phase over its compute (max of the arrays):
    the 1D array cannot start before the first tile's first 2D run has produced its result
    (its streams + the diagonal fill); the 2D array's last run is followed by the 1D Einsums
    that depend on it. Paid once: heads follow each other through the pipeline."""
    work = [w for w in phase.work if w.bound.phase == "body"]
    if phase.kind != "fused" or not work:
        return fill_drain(ctx.arch)
    p_tiles = cx.tiles(ctx)[1]
    per_tile = [w.array_cycles / cx.admitted_tiles(ctx) for w in work]
    arrays = [w.bound.array for w in work]
    fill = fill_drain(ctx.arch)
    if ctx.m_passes > 1:
        return startup.multipass_fill(ctx, phase, fill)
    head = 0.0
    if arrays[0] == "2d":
        k = 0
        while k < len(arrays) and arrays[k] == "2d":
            head += per_tile[k]
            k += 1
        head += fill
    last = max(i for i, a in enumerate(arrays) if a == "2d")
    k = last
    while k > 0 and arrays[k - 1] == "2d":
        k -= 1
    produced = {work[i].bound.name for i in range(k, last + 1)}
    tail = fill
    for i in range(last + 1, len(work)):
        reads = {ref.tensor for ref in expr_refs(ctx.cascade.einsums[work[i].bound.index].expr)}
        if reads & produced:
            produced.add(work[i].bound.name)
            tail += per_tile[i]
    tail += sum(w.array_cycles / (p_tiles * cx.query_heads(ctx)) for w in phase.work
                if w.bound.phase == "final")
    w2, w1 = phase.cycles["2d"], phase.cycles["1d"]
    return round(max(w2 + tail, w1 + head) - max(w2, w1))


def _compute(ctx: Context, work: tuple[EinsumWork, ...]) -> tuple[dict[str, int], int, int]:
    cycles = {"2d": 0, "1d": 0}
    for w in work:
        cycles[w.bound.array] += w.array_cycles
    if ctx.config.schedule == "pipelined":
        return cycles, 0, max(cycles.values())
    stall = cx.admitted_tiles(ctx) * _runs_2d(work) * fill_drain(ctx.arch)
    return cycles, stall, sum(cycles.values()) + stall


def _fused_phase(ctx: Context) -> Phase:
    work = tuple(cx.work(ctx, b) for b in ctx.bound if b.array != "none")
    held, held_row = cx.held(ctx, work)
    inputs = [d.name for d in ctx.cascade.inputs]
    outputs = [d.name for d in ctx.cascade.outputs]
    with_p = [t for t in inputs + outputs if "p" in ctx.tensor_ranks[t]]
    streamed = [t for t in inputs if "p" not in ctx.tensor_ranks[t]]
    per_row = sum(cx.size(ctx, t, ("p",)) for t in with_p)
    per_row += sum(cx.size(ctx, t, ("p", *ctx.m_family)) for t in ctx.state)
    cols = ctx.arch.array_2d.cols
    tile_words = {t: math.prod(cols if r in ctx.m_family else ctx.ext[r]
                               for r in ctx.tensor_ranks[t]) for t in streamed}
    fixed = 2 * sum(tile_words.values())
    if ctx.mask is not None and held:  # a masked multi-pass cascade holds admitted tiles only
        rows, spill, need = _masked_block(ctx, per_row, held_row, fixed,
                                          ctx.arch.array_2d.rows)
        held_words = {t: cx.size(ctx, t) * ctx.tile_counts.point_share for t in held}
    else:
        rows, spill, need = _block(ctx, per_row, held_row, fixed, ctx.arch.array_2d.rows)
        held_words = {t: cx.size(ctx, t) for t in held}
    blocks = -(-ctx.ext["p"] // rows)
    readers = cx.readers(ctx, work)
    spill_w = sum(round(spill * held_words[t]) for t in held)
    spill_r = sum(round(spill * held_words[t]) * later for t, later in held.items())
    fetched = {t: cx.size(ctx, t) for t in inputs if t not in streamed}
    fetched.update({t: blocks * cx.size(ctx, t) * len(set(readers.get(t, [0])))
                    for t in streamed})
    if ctx.mask is not None:  # a block reads the K/V tiles some query tile of it needs
        a2 = ctx.arch.array_2d
        share = masks.kv_share(ctx.mask, ctx.ext["p"], ctx.ext["m"], a2.rows, a2.cols,
                               rows // a2.rows)
        fetched.update({t: round(fetched[t] * share) for t in streamed})
    stored = {t: cx.size(ctx, t) for t in outputs}
    reads, writes = sum(fetched.values()) + spill_r, sum(stored.values()) + spill_w
    kept = traffic.kept(ctx, work, fetched, outputs, held, spill, traffic.crossing(ctx, work))
    buf_r, buf_w, rf_r, rf_w = traffic.onchip(ctx, work, kept)
    stage_r, stage_w = traffic.staging(kept, fetched, stored)
    cycles, stall, compute = _compute(ctx, work)
    nest = _fused_nest(ctx, work, rows, blocks)
    return Phase("fused", "fused", work, nest, rows, blocks, tuple(held), need, spill,
                 reads, writes, spill_w + spill_r, buf_r + stage_r, buf_w + stage_w, rf_r, rf_w,
                 cycles, stall, compute, bypassed=traffic.bypassed(kept))


def _fused_nest(ctx: Context, work: tuple[EinsumWork, ...], rows: int, blocks: int
                ) -> tuple[str, ...]:
    a2 = ctx.arch.array_2d
    m_tiles, _ = cx.tiles(ctx)
    on = {a: ", ".join(w.bound.name for w in work if w.bound.array == a and
                       w.bound.phase != "final") for a in ("2d", "1d")}
    heads = cx.query_heads(ctx)
    lines = ["for b, h in batch × heads" if heads == 1 else
             f"for b, g in batch × K/V heads   (each shared by {heads} query heads)",
             f"  for p2 in {blocks} blocks of {rows} query rows"
             f"{f' of {heads} heads' if heads > 1 else ''}   (buffer-resident block)",
             f"    for m-tile in {m_tiles} tiles of {a2.cols} keys   (K/V tiles stream from DRAM;"
             f" {ctx.m_passes} pass(es) over the tiles)",
             f"      for {'s, ' if heads > 1 else ''}p1 in "
             f"{f'{heads} × ' if heads > 1 else ''}{rows // a2.rows}",
             f"        spatial p0 × m0 = {a2.rows} × {a2.cols} on the 2D array: {on['2d']}",
             f"        spatial p0 = {ctx.arch.array_1d.pes} on the 1D array: {on['1d']}"]
    if ctx.tile_counts is not None:
        c = ctx.tile_counts
        lines.append(f"      mask {ctx.mask.einsum} where {ctx.mask.text}: "
                     f"{c.admitted} of {c.m_tiles * c.p_tiles} (p-tile, m-tile) pairs run, "
                     f"{c.m_tiles * c.p_tiles - c.admitted} skipped (no admitted point: no "
                     f"body Einsum runs{' in any pass' if ctx.m_passes > 1 else ''}, their "
                     f"K/V tiles are not read unless another query tile of the block needs "
                     f"them)")
    final = [w.bound.name for w in work if w.bound.phase == "final"]
    if final:
        lines += [f"    for p1 in {rows // a2.rows}: spatial p0 on the 1D array: "
                  f"{', '.join(final)}"]
    return tuple(lines)


def _unfused_phases(ctx: Context, search: GemmSearch) -> tuple[tuple[Phase, ...], int]:
    """(phases, band height): unmasked, band 1; masked, the band height (`sparse.bands`)
    whose phases take the fewest cycles per head (`phase_cycles`, as `mapper.count` prices
    them), then move the fewest DRAM words, then the lowest band. One
    height for the whole mapping: a band's every p-tile runs the band's key tiles in every
    phase (its GEMMs compute the excluded scores inside the band; the vector phases make,
    move and, as 0, write them for the next GEMM), so the phases agree on what exists."""
    if ctx.mask is None:
        return _unfused_at(ctx, search, 1), 1
    best = None
    for band in sparse.bands(ctx):
        at = dataclasses.replace(ctx, tile_counts=sparse.band_counts(ctx, band))
        phases = _unfused_at(at, search, band)
        words = sum(ph.dram_read_words + ph.dram_write_words for ph in phases)
        cycles = sum(phase_cycles(ctx.arch, ph)[0] for ph in phases)
        if best is None or (cycles, words) < best[0]:
            best = ((cycles, words), phases, band)
    return best[1], best[2]


def _unfused_at(ctx: Context, search: GemmSearch, band: int) -> tuple[Phase, ...]:
    """The phases of an unfused configuration in bands of ``band`` p-tiles (masked)."""
    work = [cx.work(ctx, b) for b in ctx.bound if b.array != "none"]
    groups: list[list[EinsumWork]] = [[]]
    for w in work:
        if _is_gemm(ctx, w):
            groups += [[w], []]
        else:
            groups[-1].append(w)
    groups = [g for g in groups if g]
    return tuple(_gemm_phase(ctx, g[0], search, band) if _is_gemm(ctx, g[0])
                 else _vector_phase(ctx, tuple(g), work, band) for g in groups)


def _is_gemm(ctx: Context, w: EinsumWork) -> bool:
    """Whether an unfused Einsum runs as a GEMM phase: a contraction some operand of which has
    no query rank p (QK, AV, BQK, SLNV: that operand is reused by every query row). A
    contraction all of whose operands carry p (the 2-pass cascade's ``SD[p] = SLD[m1,p] *
    CF[m1,p]`` and ``SNV[f,p] = SLNV[f,m1,p] * CF[m1,p]``) reuses no word across rows: as a
    GEMM it would be P products with one output column, so it is per-row vector work on its
    bound array (the 1D array, `mapper.binding`), as in a fused configuration."""
    einsum = ctx.cascade.einsums[w.bound.index]
    return is_contraction(einsum) and any(
        "p" not in ctx.tensor_ranks[ctx.alias.get(o, o)] for o in einsum.operands)


def _gemm_phase(ctx: Context, w: EinsumWork, search: GemmSearch, band: int = 1) -> Phase:
    einsum = ctx.cascade.einsums[w.bound.index]
    ops = [ctx.alias.get(o, o) for o in einsum.operands]
    left = [o for o in ops if "p" in ctx.tensor_ranks[o]]
    right = [o for o in ops if "p" not in ctx.tensor_ranks[o]]
    if len(left) != 1 or len(right) != 1:
        raise InputError(f"Einsum {einsum.name}: an unfused GEMM phase needs one operand with "
                         f"rank p and one without, not {ops}")
    # the operands' ranks as the Einsum reads them (BV[f,m1,m0], not the V[f,m] it aliases)
    ranks = {o: ctx.tensor_ranks[o] for o in einsum.operands}
    lhs, rhs = (next(o for o in einsum.operands if ctx.alias.get(o, o) == t)
                for t in (left[0], right[0]))
    sparse_ = cx.masked_work(ctx, einsum)
    shapes = (_sparse_shapes(ctx, einsum, ranks[lhs], ranks[rhs], band) if sparse_ else
              _gemm_shapes(ctx, ranks[lhs], ranks[rhs], einsum.reduced_ranks))
    parts = tuple(search_gemm(g, ctx.arch, search) for g in shapes)
    g, gemm = parts[0], parts[0].gemm

    def total(field: str) -> int:
        return sum(q.gemm.count * getattr(q, field) for q in parts)

    times = f"{gemm.count} × " if gemm.count > 1 else ""
    last = (f" + GEMM ({parts[1].gemm.m} × {parts[1].gemm.k}) · ({parts[1].gemm.k} × "
            f"{parts[1].gemm.n}) over the last, partial chunk" if len(parts) > 1 else "")
    if sparse_:
        times, last = "", (f" and {sum(q.gemm.count for q in parts) - 1} more GEMMs of "
                           f"{len(parts)} shapes in all: block-sparse over the admitted score "
                           f"tiles (mask {ctx.mask.einsum} where {ctx.mask.text}) in bands of "
                           f"{band} p-tile(s) = {band * ctx.arch.array_2d.rows} query rows, "
                           f"each over the union of its p-tiles' admitted key tiles")
    nest = (f"for b, h in batch × heads: {times}GEMM {einsum.name} "
            f"({gemm.m} × {gemm.k}) · ({gemm.k} × {gemm.n}){last} through DRAM",
            f"  DRAM loop order {'→'.join(g.order)}, buffer tile m,n,k = {g.tile}",
            f"  spatial m × n = {ctx.arch.array_2d.rows} × {ctx.arch.array_2d.cols}, k in time")
    rf_w = {"2d": sum(q.gemm.count * q.gemm.m * q.gemm.n for q in parts), "1d": 0}
    compute = total("compute_cycles")
    return Phase(f"gemm {einsum.name}", "gemm", (w,), nest, g.tile[0], -(-gemm.m // g.tile[0]),
                 (), max(q.buffer_words for q in parts) * ctx.arch.word_bytes, 0.0,
                 total("dram_read_words"), total("dram_write_words"), 0,
                 total("buffer_read_words"), total("buffer_write_words"),
                 {"2d": 0, "1d": 0}, rf_w, {"2d": compute, "1d": 0}, 0, compute, g,
                 gemm_parts=parts)


def _sparse_shapes(ctx: Context, einsum, lhs: tuple[str, ...], rhs: tuple[str, ...],
                   band: int = 1) -> tuple[Gemm, ...]:
    """A masked contraction's block-sparse GEMMs (`mapper.sparse`), its ranks split as in
    `_gemm_shapes`."""
    reduced = tuple(einsum.reduced_ranks)
    batch = tuple(r for r in lhs if r in rhs and r not in reduced)
    return sparse.gemm_shapes(ctx, einsum, [r for r in lhs if r not in reduced + batch],
                              [r for r in rhs if r not in reduced + batch], reduced, batch,
                              band)


def _gemm_shapes(ctx: Context, lhs: tuple[str, ...], rhs: tuple[str, ...],
                 reduced: tuple[str, ...]) -> tuple[Gemm, ...]:
    """The GEMMs of a contraction ``lhs · rhs`` summed over ``reduced``: rows from the ranks
    only ``lhs`` keeps, columns from those only ``rhs`` keeps, k over ``reduced``. A rank both
    operands keep in the output (SLNV's chunk m1) makes a batch of independent GEMMs, not one
    GEMM multiplying every chunk by every chunk. When that batch runs over a split's chunks and
    the last chunk is partial (M0 does not divide M), its GEMM is over the keys it has (its
    missing points are absent, `einsum.execute`): M1 - 1 full-chunk GEMMs and one smaller."""
    reduced = tuple(reduced)
    batch = tuple(r for r in lhs if r in rhs and r not in reduced)
    gemm = Gemm(cx.present(ctx, [r for r in lhs if r not in reduced + batch]),
                cx.present(ctx, [r for r in rhs if r not in reduced + batch]),
                math.prod(ctx.ext[r] for r in reduced), math.prod(ctx.ext[r] for r in batch))
    for split in ctx.cascade.splits:
        chunk, outer = ctx.ext[split.inner], ctx.ext[split.outer]
        keys = ctx.ext[split.parent] - (outer - 1) * chunk
        if (split.outer not in batch or split.inner in batch or keys == chunk
                or split.inner not in (*lhs, *rhs)):
            continue
        dim = "k" if split.inner in reduced else "m" if split.inner in lhs else "n"
        shape = {"m": gemm.m, "n": gemm.n, "k": gemm.k}
        shape[dim] = shape[dim] * keys // chunk  # chunk is a factor of that dimension
        others = gemm.count // outer
        last = Gemm(shape["m"], shape["n"], shape["k"], others)
        return (Gemm(gemm.m, gemm.n, gemm.k, others * (outer - 1)), last) if outer > 1 else (
            last,)
    return (gemm,)


def _vector_phase(ctx: Context, ws: tuple[EinsumWork, ...], every: list[EinsumWork],
                  band: int = 1) -> Phase:
    names = {w.bound.name for w in ws}
    outside = cx.readers(ctx, tuple(w for w in every if w.bound.name not in names))
    # running state another phase updates went to DRAM (its initial value is a constant)
    elsewhere = {w.bound.name for w in every} - names
    inputs = sorted(t for t in cx.readers(ctx, ws) if t not in names
                    and (t not in ctx.state or t in elsewhere))
    outputs = sorted(t for t in names if t in outside or t in {d.name for d in
                                                               ctx.cascade.outputs})
    held, held_row = cx.held(ctx, ws)
    fixed = 2 * ctx.arch.array_1d.pes * ctx.arch.array_2d.cols * (len(inputs) + len(outputs))
    # one M fiber (query row) at a time at least: the fiber spreads over the 1D PEs
    if ctx.mask is None:
        rows, spill, need = _block(ctx, 0, held_row, fixed, 1)
        words = {t: cx.size(ctx, t) for t in {*inputs, *outputs, *held}}
    else:  # tensors over scores exist on the bands' tiles only (`mapper.sparse`)
        rows, spill, need = (_masked_block(ctx, 0, held_row, fixed, 1, band) if held else
                             _block(ctx, 0, held_row, fixed, 1))
        words = {t: _admitted_words(ctx, t) for t in {*inputs, *outputs, *held}}
    fetched = {t: words[t] for t in inputs}
    stored = {t: words[t] for t in outputs}
    spill_r = sum(round(spill * words[t]) * later for t, later in held.items())
    spill_w = sum(round(spill * words[t]) for t in held if t in names)
    reads, writes = sum(fetched.values()) + spill_r, sum(stored.values()) + spill_w
    kept = traffic.kept(ctx, ws, fetched, outputs, held, spill, traffic.crossing(ctx, ws))
    buf_r, buf_w, rf_r, rf_w = traffic.onchip(ctx, ws, kept)
    stage_r, stage_w = traffic.staging(kept, fetched, stored)
    cycles, stall, compute = _compute(ctx, ws)
    nest = (f"for b, h in batch × heads: vector phase {', '.join(w.bound.name for w in ws)}",
            f"  for p-block in {-(-ctx.ext['p'] // rows)} blocks of {rows} rows "
            f"(M fibers of {', '.join(held) or 'none'} held; reads {', '.join(inputs)} "
            f"from DRAM, writes {', '.join(outputs)})",)
    if ctx.mask is not None:
        nest += (f"  over the score tiles of bands of {band} p-tile(s) (mask "
                 f"{ctx.mask.einsum} where {ctx.mask.text}; a band's excluded points as 0)",)
    return Phase(f"vector {'+'.join(w.bound.name for w in ws)}", "vector", ws, nest, rows,
                 -(-ctx.ext["p"] // rows), tuple(held), need, spill, reads, writes,
                 spill_r + spill_w, buf_r + stage_r, buf_w + stage_w, rf_r, rf_w, cycles, stall,
                 compute, bypassed=traffic.bypassed(kept))
