"""Tile-by-tile, cycle-level simulation of a fused attention mapping (the 1-pass cascades —
plain, masked, grouped-query — the 2-pass and FLAT's 3-pass) as `mapper` maps it.

Input: a `mapper.lower.Mapping` whose single phase is the fused nest
``p2 → m-tiles → p1 → spatial p0 × m0`` (FuseMax, +Architecture, +Cascade; the 2-pass and
FLAT's 3-pass run their passes per block). The tile is P0 × M0 = the 2D array's rows ×
columns; each Einsum runs on the array the mapper bound it to. An instance of a GQA cascade
is a group of S query heads over one K/V head: ``p2 → m-tiles → s, p1``, each K/V tile
fetched once per block and shared by the S heads' query tiles.

Per tile, each bound body Einsum is one *task* on its array, timed by a cycle-level kernel:

- 2D contraction over e (BQK): an output-stationary fold (`sim.systolic.os_fold`, T = E);
- 2D contraction over m0 (SLNV): the tile already sits in the PEs, V streams along the columns
  and partial sums flow along the rows (`stationary_fold` on the transposed view, no preload);
- 2D reduction over m0 (LM, SLD): a token per row hops along the links (`row_chain`), then
  the per-point work;
- 2D elementwise with a per-row operand (SLN needs RM): the operand hops along the row
  (`row_chain`, broadcast), then cycles_per_point;
- 1D Einsums: one PE per query row does its points one after another (cycles_per_point each).

Each task has a *latency* (first input to last output) and an *occupancy* (cycles before its
array accepts the next task). ``serial`` schedule (+Architecture): tasks run one at a time in
program order, occupancy = latency. ``pipelined`` (FuseMax): a 2D fold occupies the array only
for its stream length (the next wavefront enters right behind it, i.e. work of different
Einsums/tiles interleaves in the PEs), chains and elementwise tasks for their per-point cycles;
each array issues its next ready task among a window of the following ones (epoch pipelining:
the 2D array starts later tiles' BQK while the 1D array still works on earlier tiles; the
window holds enough tiles to cover the longest latency, `epoch_window`).
Dependencies come from the cascade: a body Einsum reading state ``X[m1,p]`` depends on the
previous m-tile's writer of X, anything else on the same tile's writer.

A masked cascade (a ``where`` filter over m and p, e.g. causal) skips every tile whose points
the filter all excludes (`sim.attention_mask`, evaluated point by point): it has no tasks, and
the next tile of its p-tile depends on the last tile that ran. A multi-pass cascade skips it in
every pass (its accumulations over the M tiles chain from the last tile that ran), and a block
of rows fetches a K/V tile in a pass only if one of its tiles runs there.

With values (Q, K, V of one head), the kernels compute the numbers they move and the result
equals `einsum.execute` of the cascade (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from einsum.ir import Ref, expr_refs, index_ranks

from .attention_mask import ScoreMask, score_mask
from .schedule import list_schedule, serial_schedule
from .spec import SimInputError
from .systolic import os_fold, row_chain, stationary_fold

ARRAY_IDS = {"2d": 0, "1d": 1}


@dataclass(frozen=True, slots=True)
class TaskKind:
    """How one bound Einsum (or a run of them) runs on one tile: its array, latency and
    occupancy in cycles. ``stream``: cycles its wavefront holds the array's inputs; the wavefront
    of the next 2D Einsum of the tile may enter right behind it."""

    name: str
    array: str
    latency: int
    occupancy: int
    stream: int = 0


@dataclass(frozen=True, slots=True)
class AttentionResult:
    """`heads` instances simulated back to back; ``cycles`` is their elapsed time, ``tiles``
    and ``tasks`` count all of them; ``total_cycles`` scales the time to all instances."""

    cycles: int
    instances: int
    total_cycles: int
    tasks: int
    tiles: int
    busy: dict[str, int]
    utilization: dict[str, float]
    mapper_cycles: int
    av: np.ndarray | None = None
    timeline: np.ndarray | None = None
    heads: int = 1
    streamed_words: int = 0
    query_heads: int = 1

    def to_json(self) -> dict[str, object]:
        """The CLI's JSON object."""
        return {k: getattr(self, k) for k in ("cycles", "instances", "total_cycles", "tasks",
                                              "tiles", "busy", "utilization", "mapper_cycles",
                                              "heads", "query_heads", "streamed_words")}


@dataclass(frozen=True, slots=True)
class _Geometry:
    p: int
    m: int
    e: int
    f: int
    rows: int
    cols: int
    pes: int
    block: int
    heads: int = 1  # query heads sharing one K/V head (a GQA group's S), else 1

    def query_tiles(self, first: int, stop: int) -> list[tuple[int, int]]:
        """(query head, p-tile) pairs of p-tiles first..stop-1 in the mapper's order
        ``for s, p1``: each query head's tiles of the block in turn."""
        return [(s, i) for s in range(self.heads) for i in range(first, stop)]


def _geometry(mapping) -> _Geometry:
    if len(mapping.phases) != 1 or mapping.phases[0].kind != "fused":
        raise SimInputError(f"simulate: configuration {mapping.config_name!r} is not fused; the "
                            "attention simulator runs fused mappings only (1-pass, 2-pass or "
                            "FLAT's 3-pass)")
    ext = mapping.workload.extents()
    a2 = mapping.arch.array_2d
    # a workload with K/V groups gives every cascade the extents g, s; only a GQA cascade
    # (ranks g, s) runs a group's query heads in one instance
    ranks = {k for w in mapping.phases[0].work for k in w.ranks}
    heads = math.prod(ext[k] for k in ("g", "s") if k in ranks)
    return _Geometry(ext["p"], ext["m"], ext["e"], ext["f"], a2.rows, a2.cols,
                     mapping.arch.array_1d.pes, mapping.phases[0].rows_per_block, heads)


# the inputs of one instance: one head, or a GQA group's S query heads over one K/V head
INPUT_RANKS = ({"Q": ("e", "p"), "K": ("e", "m"), "V": ("f", "m")},
               {"Q": ("e", "g", "s", "p"), "K": ("e", "g", "m"), "V": ("f", "g", "m")})


def _cascade(mapping):
    """The mapped cascade (M0 = array columns); SimInputError if the simulator cannot run it."""
    from einsum import library

    cascade = library.get(mapping.cascade, **dict(getattr(mapping, "params", ())))
    inputs = {d.name: tuple(d.ranks) for d in cascade.inputs}
    if inputs not in INPUT_RANKS:
        raise SimInputError(f"simulate: cascade {cascade.name} has inputs other than "
                            "Q[e,p], K[e,m], V[f,m] (or a GQA group's Q[e,g,s,p], K[e,g,m], "
                            "V[f,g,m]); the attention simulator runs attention cascades only")
    score_mask(cascade, {})
    problem = _unsupported(cascade)
    if problem:
        raise SimInputError(f"simulate: cascade {cascade.name}: {problem}; the attention "
                            "simulator runs the 1-pass (plain, masked, GQA), 2-pass and 3-pass "
                            "cascades")
    return cascade.with_params(M0=mapping.arch.array_2d.cols) if "M0" in cascade.params \
        else cascade


def query_heads(mapping) -> int:
    """Query heads in one instance of `mapping`: a GQA group's S, else 1 (its tiles are S
    times a head's)."""
    if not mapping.config.fused:
        return 1
    return _geometry(mapping).heads


def check_supported(mapping) -> None:
    """Raise SimInputError naming why `simulate_attention` cannot run `mapping`; build
    nothing (the CLI picks a default configuration and rejects one before simulating)."""
    if not mapping.config.fused:
        from .unfused import check_unfused

        _unfused_unmasked(mapping)
        check_unfused(mapping)
        return
    _geometry(mapping)
    _cascade(mapping)


def _unsupported(cascade) -> str:
    """Why the tile programs cannot run `cascade` ('' if they can)."""
    for e in cascade.einsums:
        if {"m0", "m1"} <= set(e.reduced_ranks):
            return f"Einsum {e.name} reduces over both M ranks ({e.text!r})"
        if "m1" in e.reduced_ranks and not (e.reduce_op in ("sum", "max")
                                            and set(e.map_ops) <= {"mul"}):
            return f"Einsum {e.name} reduces over the M tiles with {e.text!r}"
        m_reduced = "m0" in norm(e.reduced_ranks)
        refs = _refs(e.expr)
        if m_reduced and not (
                (not e.map_ops and len(refs) == 1 and e.reduce_op in ("sum", "max"))
                or (e.map_ops == ("mul",) and e.reduce_op == "sum" and len(refs) == 2)):
            return f"Einsum {e.name} reduces over M with {e.text!r}"
        if cascade.iteration is None and any(
                str(i)[:1].isupper() for ref in refs for i in ref.indices):
            return f"Einsum {e.name} reads a pinned index ({e.text!r})"
    return ""


def mask_of(mapping, cascade) -> ScoreMask | None:
    """The mapped cascade's key/query mask with the head's extents bound (None unmasked)."""
    geo = _geometry(mapping)
    m_tiles = -(-geo.m // geo.cols)
    return score_mask(cascade, {"m": geo.m, "p": geo.p, "e": geo.e, "f": geo.f,
                                "m1": m_tiles, "m0": geo.cols})


def runs_tile(mask: ScoreMask | None, geo: _Geometry, i: int, j: int) -> bool:
    """Whether score tile (p-tile i, m-tile j) has an admitted point (always, unmasked)."""
    if mask is None:
        return True
    r, c = min(geo.rows, geo.p - i * geo.rows), min(geo.cols, geo.m - j * geo.cols)
    return bool(mask.points(i * geo.rows, r, j * geo.cols, c).any())


def _einsums(mapping, cascade):
    """(Einsum, Bound) of every Einsum that runs on an array, in cascade order."""
    bound = {w.bound.name: w.bound for w in mapping.phases[0].work}
    return [(e, bound[e.name]) for e in cascade.einsums if e.name in bound]


def norm(ranks) -> tuple[str, ...]:
    """Rank names inside a tile: an unsplit M (multi-pass cascades) is the tile's m0."""
    return tuple("m0" if k == "m" else k for k in ranks)


def _local(rank: str, geo: _Geometry, r: int, c: int) -> int:
    return {"m0": c, "p": r, "e": geo.e, "f": geo.f}.get(rank, 1)


def task_kind(einsum, bound, geo: _Geometry, r: int, c: int, pipelined: bool,
              where: dict[str, str]) -> TaskKind:
    """Latency and occupancy of one Einsum on an r × c tile, measured by the kernels.

    `where` maps tensors to the array that produced them: a stationary tile produced on the 1D
    array must first be shifted into the 2D PEs.
    """
    cpp = max(1, bound.cycles_per_point)
    ranks = norm(einsum.ranks)
    if bound.array == "1d":
        points = math.prod(_local(k, geo, r, c) for k in ranks if k != "p")
        cycles = cpp * points * -(-r // geo.pes)
        return TaskKind(einsum.name, "1d", cycles, cycles)
    reduced = set(norm(einsum.reduced_ranks))
    if "mul" in einsum.map_ops and einsum.reduce_op == "sum" and reduced == {"e"}:
        length = _os_length(geo.rows, geo.cols, r, c, geo.e)
        return TaskKind(einsum.name, "2d", length, geo.e if pipelined else length, geo.e)
    if "mul" in einsum.map_ops and einsum.reduce_op == "sum" and reduced == {"m0"}:
        in_place = all(where.get(ref.tensor) == "2d" for ref in _refs(einsum.expr)
                       if "p" in _ref_ranks(ref))
        length = _stationary_length(geo.cols, geo.rows, c, r, geo.f, preload=not in_place)
        return TaskKind(einsum.name, "2d", length, geo.f if pipelined else length, geo.f)
    tile_wide = {"m0", "p"} <= set(ranks)
    per_row_operand = reduced == {"m0"} or any(
        "m0" not in _ref_ranks(ref) for ref in _refs(einsum.expr))
    if tile_wide and per_row_operand:
        hop = row_chain(geo.rows, geo.cols, r, c, np.zeros((r, c)), np.zeros(r), 2,
                        np.zeros(r), np.zeros((r, c)))
        latency = hop + cpp - 1
        return TaskKind(einsum.name, "2d", latency, cpp if pipelined else latency, cpp)
    points = math.prod(_local(k, geo, r, c) for k in ranks if k not in ("p", "m0"))
    return TaskKind(einsum.name, "2d", cpp * points, cpp * points, cpp * points)


def runs(pairs) -> list[list]:
    """Group (Einsum, Bound) pairs in program order: consecutive Einsums bound to the 2D array
    form one run (the mapper's "run of 2D Einsums", one fill/drain); a 1D Einsum is alone."""
    out: list[list] = []
    for e, b in pairs:
        if out and b.array == "2d" and out[-1][-1][1].array == "2d":
            out[-1].append((e, b))
        else:
            out.append([(e, b)])
    return out


def run_kind(members: list[TaskKind], pipelined: bool) -> TaskKind:
    """One task for a run of 2D Einsums on a tile: each wavefront enters the array right behind
    the previous one (its ``stream`` cycles later; the neighbour links pass each PE's result on
    to the next Einsum's work in that PE or its row neighbour) and finishes no earlier than its
    own stream after the previous one. Latency = the last finish; occupancy = the streams
    (pipelined: the array accepts other work behind the run's last wavefront) or the latency
    (serial: the tile's run holds the array until its last result)."""
    start, finish = 0, members[0].latency
    for prev, kind in zip(members, members[1:], strict=False):
        start += prev.stream
        finish = max(start + kind.latency, finish + kind.stream)
    occupancy = sum(k.occupancy for k in members) if pipelined else finish
    return TaskKind("+".join(k.name for k in members), members[0].array, finish, occupancy,
                    sum(k.stream for k in members))


def _os_length(rows, cols, r, c, t_len) -> int:
    timeline = np.zeros(rows + cols + t_len, np.int64)
    return int(os_fold(rows, cols, r, c, t_len, np.zeros((r, t_len)), np.zeros((t_len, c)),
                       np.zeros((r, c)), timeline)[0])


def _stationary_length(rows, cols, r, c, t_len, preload) -> int:
    timeline = np.zeros(2 * rows + cols + t_len, np.int64)
    return int(stationary_fold(rows, cols, r, c, t_len, np.zeros((r, c)), np.zeros((t_len, r)),
                               np.zeros((t_len, c)), timeline, preload)[0])


def _refs(expr):
    return expr_refs(expr)


def _ref_ranks(ref: Ref) -> set[str]:
    return set(norm(k for index in ref.indices for k in index_ranks(index)))


def _reads_previous(ref: Ref, state: set[str]) -> bool:
    """A state tensor read at index m1 (the value before this tile's update)."""
    return ref.tensor in state and any(str(i) == "m1" for i in ref.indices)


@dataclass(frozen=True, slots=True)
class TaskGraph:
    """Tasks in program order: array id, latency, occupancy, up to 4 predecessors (−1: none);
    ``block_tasks``: tasks of the largest block of query rows of a multi-pass cascade (0:
    1-pass; a mask makes blocks differ);
    ``streamed_words``: words of the inputs without a query rank (K, V) the tiles fetch — one
    tile per block of rows, m-tile and pass that reads it, shared by the block's query tiles
    and a GQA group's query heads."""

    array: np.ndarray
    latency: np.ndarray
    occupancy: np.ndarray
    deps: np.ndarray
    tiles: int
    block_tasks: int = 0
    streamed_words: int = 0


def across_tiles(einsum) -> bool:
    """Whether `einsum` reduces over the M tiles (m of an unsplit cascade, m1 of a split one):
    its result accumulates tile after tile; a reduction over m0 alone ends within the tile."""
    return bool({"m", "m1"} & set(einsum.reduced_ranks))


def streamed_reads(cascade, einsums) -> dict[str, set[str]]:
    """Bound Einsum → the inputs without a query rank (K, V) it reads, through the unbound
    copies that rename them (``BK[e,m1,m0] = K[e,m1*M0+m0]``)."""
    streamed = {d.name for d in cascade.inputs if "p" not in d.ranks}
    alias = {e.name: set(e.operands) & streamed for e in cascade.einsums
             if e.name not in {x.name for x, _ in einsums}}
    return {e.name: set().union(*({t} & streamed | alias.get(t, set()) for t in e.operands))
            for e, _ in einsums}


def _tile_words(cascade, geo: _Geometry, names: set[str], c: int) -> int:
    """Words of the tiles of inputs `names` for an m-tile of c keys."""
    ranks = {d.name: d.ranks for d in cascade.inputs}
    return sum(math.prod(c if k == "m" else _local(k, geo, 0, c) for k in ranks[t])
               for t in names)


def build_tasks(mapping, pipelined: bool, progress=None) -> TaskGraph:
    """The task graph of one instance (a head, or a GQA group's S query heads over one K/V
    head): p-blocks → m-tiles → (query head, p-tile) → body Einsums, then finals (iterative
    1-pass cascades); p-blocks → passes → m-tiles → (query head, p-tile), then the Einsums
    without M (multi-pass cascades)."""
    geo = _geometry(mapping)
    cascade = _cascade(mapping)
    einsums = _einsums(mapping, cascade)
    if cascade.iteration is None:
        return _multipass_tasks(mapping, cascade, geo, einsums, pipelined, progress)
    state = {e.name for e, b in einsums if any("+1" in str(i) for i in e.lhs)}
    body = [(e, b) for e, b in einsums if e.phase == "body"]
    where = {e.name: b.array for e, b in einsums}
    final = [(e, b) for e, b in einsums if e.phase == "final"]
    body_runs = runs(body)
    reads = streamed_reads(cascade, einsums)
    body_reads = set().union(*(reads[e.name] for e, _ in body))
    mask = mask_of(mapping, cascade)
    ran, words = 0, 0
    kinds: dict[tuple[str, int, int], TaskKind] = {}
    rows_out: list[tuple[int, int, int, tuple[int, ...]]] = []
    m_tiles, p_tiles = -(-geo.m // geo.cols), -(-geo.p // geo.rows)
    per_block = max(1, geo.block // geo.rows)
    last: dict[tuple[tuple[int, int], str], int] = {}  # (query tile, tensor) -> latest writer
    for p2 in range(0, p_tiles, per_block):
        tiles_here = geo.query_tiles(p2, min(p_tiles, p2 + per_block))
        for j in range(m_tiles):
            c = min(geo.cols, geo.m - j * geo.cols)
            if progress is not None:
                progress(p2 * m_tiles + j * (len(tiles_here) // geo.heads), p_tiles * m_tiles)
            fetched = False
            for qt in tiles_here:
                i = qt[1]
                if not runs_tile(mask, geo, i, j):
                    continue
                ran += 1
                fetched = True
                r = min(geo.rows, geo.p - i * geo.rows)
                written: dict[str, int] = {}
                for run in body_runs:
                    task, deps = len(rows_out), []
                    for e, _ in run:
                        deps += [d for d in _deps(e, state, written, last, qt) if d != task]
                        written[e.name] = task
                    kind = _run_kind(kinds, run, geo, r, c, pipelined, where)
                    rows_out.append((ARRAY_IDS[kind.array], kind.latency, kind.occupancy,
                                     tuple(dict.fromkeys(deps))))
                for name, task in written.items():
                    last[(qt, name)] = task
            words += _tile_words(cascade, geo, body_reads, c) if fetched else 0
        for qt in tiles_here:
            r = min(geo.rows, geo.p - qt[1] * geo.rows)
            for e, b in final:
                deps = tuple(last[(qt, ref.tensor)] for ref in _refs(e.expr)
                             if (qt, ref.tensor) in last)
                kind = _kind(kinds, e, b, geo, r, geo.cols, pipelined, where)
                rows_out.append((ARRAY_IDS[kind.array], kind.latency, kind.occupancy, deps))
    return _pack(rows_out, ran, streamed_words=words)


def _multipass_tasks(mapping, cascade, geo, einsums, pipelined, progress) -> TaskGraph:
    """Tasks of a cascade without an iterative rank (FLAT's 3-pass, the 2-pass): per block of
    rows, pass by pass over the m-tiles. A tensor reduced over the M tiles (3-pass GM, SD, AV;
    2-pass GM, SD, SNV) accumulates tile after tile; later passes read its last partial;
    per-tile tensors (QK, SN; LM, SLD, SLNV) are held per tile (the mapper's buffer plan) for
    later passes. Einsums without an M rank (the 2-pass AV: the mapper's pass 0) run once per
    query tile after the block's last pass."""
    pass_of = {w.bound.name: w.pass_index for w in mapping.phases[0].work}
    where = {e.name: b.array for e, b in einsums}
    accumulated = {e.name for e, _ in einsums if across_tiles(e)}
    reads = streamed_reads(cascade, einsums)
    block_tasks, words = 0, 0
    passes = sorted(k for k in set(pass_of.values()) if k)
    pass_runs = {k: runs([(e, b) for e, b in einsums if pass_of[e.name] == k])
                 for k in set(pass_of.values())}
    pass_reads = {k: set().union(*(reads[e.name] for e, _ in einsums if pass_of[e.name] == k))
                  for k in passes}
    kinds: dict[tuple[str, int, int], TaskKind] = {}
    rows_out: list[tuple[int, int, int, tuple[int, ...]]] = []
    m_tiles, p_tiles = -(-geo.m // geo.cols), -(-geo.p // geo.rows)
    per_block = max(1, geo.block // geo.rows)
    mask = mask_of(mapping, cascade)

    def add(run, qt, j, r, c, tile_writer, acc_writer):
        task, deps = len(rows_out), []
        for e, _ in run:
            deps += [tile_writer.get((qt, j, ref.tensor), acc_writer.get((qt, ref.tensor), -1))
                     for ref in _refs(e.expr)]
            if e.name in accumulated:
                deps.append(acc_writer.get((qt, e.name), -1))
                acc_writer[(qt, e.name)] = task
            else:
                tile_writer[(qt, j, e.name)] = task
        kind = _run_kind(kinds, run, geo, r, c, pipelined, where)
        rows_out.append((ARRAY_IDS[kind.array], kind.latency, kind.occupancy,
                         tuple(dict.fromkeys(d for d in deps if 0 <= d != task))))

    for p2 in range(0, p_tiles, per_block):
        first = len(rows_out)
        tiles_here = geo.query_tiles(p2, min(p_tiles, p2 + per_block))
        tile_writer: dict[tuple[tuple[int, int], int, str], int] = {}
        acc_writer: dict[tuple[tuple[int, int], str], int] = {}
        for k in passes:
            for j in range(m_tiles):
                c = min(geo.cols, geo.m - j * geo.cols)
                if progress is not None and k == passes[-1]:
                    progress(p2 * m_tiles + j * (len(tiles_here) // geo.heads),
                             p_tiles * m_tiles)
                ran = [qt for qt in tiles_here if runs_tile(mask, geo, qt[1], j)]
                words += _tile_words(cascade, geo, pass_reads[k], c) if ran else 0
                for qt in ran:  # a skipped tile runs in no pass; accumulations skip it
                    r = min(geo.rows, geo.p - qt[1] * geo.rows)
                    for run in pass_runs[k]:
                        add(run, qt, j, r, c, tile_writer, acc_writer)
        for qt in tiles_here:
            r = min(geo.rows, geo.p - qt[1] * geo.rows)
            for run in pass_runs.get(0, []):
                add(run, qt, -1, r, geo.cols, tile_writer, acc_writer)
        # the largest block (a causal mask's last): the look-ahead must span one block
        block_tasks = max(block_tasks, len(rows_out) - first)
    tiles = sum(runs_tile(mask, geo, i, j) for i in range(p_tiles) for j in range(m_tiles))
    return _pack(rows_out, tiles * geo.heads, block_tasks, words)


def _deps(einsum, state, written, last, i) -> tuple[int, ...]:
    deps = []
    for ref in _refs(einsum.expr):
        if _reads_previous(ref, state):
            if (i, ref.tensor) in last:
                deps.append(last[(i, ref.tensor)])
        elif ref.tensor in written:
            deps.append(written[ref.tensor])
    return tuple(dict.fromkeys(deps))


def _run_kind(cache, run, geo, r, c, pipelined, where) -> TaskKind:
    key = (tuple(e.name for e, _ in run), r, c)
    if key not in cache:
        cache[key] = run_kind([_kind(cache, e, b, geo, r, c, pipelined, where) for e, b in run],
                              pipelined)
    return cache[key]


def _kind(cache, e, b, geo, r, c, pipelined, where) -> TaskKind:
    key = (e.name, r, c)
    if key not in cache:
        cache[key] = task_kind(e, b, geo, r, c, pipelined, where)
    return cache[key]


def _pack(rows, tiles, block_tasks=0, streamed_words=0) -> TaskGraph:
    n = len(rows)
    deps = np.full((n, 4), -1, np.int64)
    for t, (_, _, _, d) in enumerate(rows):
        if len(d) > 4:
            raise SimInputError(f"simulate: a task has {len(d)} predecessors; at most 4 supported")
        deps[t, :len(d)] = d
    return TaskGraph(np.array([x[0] for x in rows], np.int64),
                     np.array([x[1] for x in rows], np.int64),
                     np.array([x[2] for x in rows], np.int64), deps, tiles, block_tasks,
                     streamed_words)


def simulate_attention(mapping, q=None, k=None, v=None, window: int | None = None,
                       progress=None, timeline: bool = False, heads: int = 1) -> AttentionResult:
    """Simulate `heads` (batch, head) instances of `mapping` back to back (B and H are the
    outermost loops; a pipelined schedule starts the next head's tiles while the previous head
    drains, which is why the mapper charges its fill once per mapping); with Q[e,p], K[e,m],
    V[f,m] also compute AV[f,p] (of one head). ``cycles`` is the elapsed time of the `heads`
    instances, ``mapper_cycles`` the model's heads × compute + one fill.

    `window`: how many of its queued tasks an array may choose from (pipelined schedule);
    default `epoch_window` (twice that with several heads: at a head boundary an array looks
    past one head's last epoch into the next head's first). `progress(done, total)` is called
    as tiles are built and, with
    values, as they are computed. With `timeline`,
    ``result.timeline[a, cycle]`` is 1 while array a (0: 2D, 1: 1D) is occupied.
    An unfused mapping runs phase by phase (`sim.unfused.simulate_unfused`, timing only).
    Raises SimInputError for mappings the simulator does not cover.
    """
    if not mapping.config.fused:
        return _unfused(mapping, q is not None, timeline, heads)
    pipelined = mapping.config.schedule == "pipelined"
    _cascade(mapping)
    if heads < 1:
        raise SimInputError(f"simulate: heads must be at least 1, not {heads}")
    one = build_tasks(mapping, pipelined, progress)
    graph = repeat_heads(one, heads)
    start = np.zeros(len(graph.array), np.int64)
    if pipelined:
        end = list_schedule(graph.array, graph.latency, graph.occupancy, graph.deps,
                            window or epoch_window(one) * (1 if heads == 1 else 2), start)
    else:
        end = serial_schedule(graph.latency, start)
    busy = {a: int(graph.occupancy[graph.array == i].sum()) for a, i in ARRAY_IDS.items()}
    util = {a: busy[a] / max(1, int(end)) for a in busy}
    av = None
    if q is not None:
        from .attention_values import attention_values

        av = attention_values(mapping, _cascade(mapping), q, k, v, progress)
    mapper = heads * int(mapping.phases[0].compute_cycles) + int(mapping.fill_drain_cycles)
    line = occupancy_timeline(graph, start, int(end)) if timeline else None
    return AttentionResult(int(end), mapping.instances,
                           round(int(end) * mapping.instances / heads),
                           len(graph.array), graph.tiles, busy, util, mapper, av, line, heads,
                           graph.streamed_words, query_heads(mapping))


def _unfused_unmasked(mapping) -> None:
    """SimInputError for a masked unfused mapping: the unfused simulator's vector phases walk
    every point of every score fiber (`sim.unfused`), not the mapper's admitted tiles."""
    if getattr(mapping, "mask", None) is not None:
        raise SimInputError(f"simulate: configuration {mapping.config_name!r} is unfused with a "
                            f"mask ({mapping.cascade}); the unfused simulator does not skip "
                            f"masked tiles: simulate a fused configuration of it")


def _unfused(mapping, values: bool, timeline: bool, heads: int):
    from .unfused import simulate_unfused

    _unfused_unmasked(mapping)
    if values or timeline:
        what = "values (--values)" if values else "occupancy timeline (--timeline)"
        raise SimInputError(f"simulate: configuration {mapping.config_name!r} is unfused; "
                            f"the unfused simulator times its phases and gives no {what}")
    return simulate_unfused(mapping, heads)


def repeat_heads(graph: TaskGraph, heads: int) -> TaskGraph:
    """`heads` copies of one head's task graph in program order (no dependencies between
    heads: each reads its own Q, K, V and state)."""
    if heads == 1:
        return graph
    n = len(graph.array)
    deps = np.concatenate([np.where(graph.deps >= 0, graph.deps + h * n, -1)
                           for h in range(heads)])
    return TaskGraph(np.tile(graph.array, heads), np.tile(graph.latency, heads),
                     np.tile(graph.occupancy, heads), deps, graph.tiles * heads,
                     graph.block_tasks, graph.streamed_words * heads)


def epoch_window(graph: TaskGraph) -> int:
    """Tasks an array may look ahead: enough tiles in flight (epochs) that the longest task's
    latency is covered by the busier array's work on other tiles, plus two — the software
    pipeline depth FuseMax's epoch schedule needs to keep both arrays busy. A multi-pass
    cascade's passes of one block of rows follow each other (a pass needs the previous one's
    full reduction), so an array may look one block ahead: the next block's first pass (QK on
    the 2D array) runs while the 1D array finishes this block's softmax passes (two blocks in
    flight, as FLAT's row-granular pipeline)."""
    tiles = max(1, graph.tiles)
    per_tile = max(int(graph.occupancy[graph.array == a].sum()) for a in range(2)) / tiles
    epochs = math.ceil(int(graph.latency.max()) / max(1.0, per_tile)) + 2
    return max(1, math.ceil(len(graph.array) / tiles * epochs), graph.block_tasks)


def occupancy_timeline(graph: TaskGraph, start: np.ndarray, end: int) -> np.ndarray:
    """[2, end] array: 1 in the cycles each array is occupied by a task."""
    line = np.zeros((2, end + 1), np.int64)
    for a in range(2):
        mine = graph.array == a
        np.add.at(line[a], start[mine], 1)
        np.add.at(line[a], start[mine] + graph.occupancy[mine], -1)
    return np.cumsum(line, axis=1)[:, :end]

