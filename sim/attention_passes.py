"""Tasks of a cascade without an iterative rank (FLAT's 3-pass, the 2-pass): per block of
rows, pass by pass over the m-tiles. A tensor reduced over the M tiles (3-pass GM, SD, AV;
2-pass GM, SD, SNV) accumulates tile after tile; later passes read its last partial; per-tile
tensors (QK, SN; LM, SLD, SLNV) are held per tile (the mapper's buffer plan) for later passes.
Einsums without an M rank (the 2-pass AV: the mapper's pass 0) run once per query tile after
the block's last pass. A tile the mask excludes runs in no pass (the accumulations over the M
tiles chain from the last tile that ran), and a block fetches a K/V tile in a pass only if one
of its tiles runs there."""

from __future__ import annotations

from dataclasses import dataclass, field

from einsum.ir import expr_refs

from .attention_geometry import Geometry, mask_of, runs_tile
from .attention_graph import TaskGraph, across_tiles, pack, streamed_reads, tile_words
from .attention_kinds import ARRAY_IDS, TaskKind, cached_run_kind, runs

QueryTile = tuple[int, int]  # (query head, p-tile)


@dataclass(frozen=True, slots=True)
class PassPlan:
    """The passes of a multi-pass cascade: ``passes`` over the M tiles in order (1, 2, ...);
    ``runs[k]``: pass k's runs of bound Einsums (k = 0: the Einsums without M, after the last
    pass); ``reads[k]``: the streamed inputs (K, V) pass k reads; ``accumulated``: the Einsums
    reduced over the M tiles; ``where``: Einsum → its array."""

    passes: tuple[int, ...]
    runs: dict[int, list]
    reads: dict[int, set[str]]
    accumulated: frozenset[str]
    where: dict[str, str]


def pass_plan(mapping, cascade, einsums) -> PassPlan:
    """The PassPlan of `einsums` (bound, in cascade order) as the mapper assigned passes."""
    pass_of = {w.bound.name: w.pass_index for w in mapping.phases[0].work}
    reads = streamed_reads(cascade, einsums)
    passes = tuple(sorted(k for k in set(pass_of.values()) if k))
    return PassPlan(
        passes,
        {k: runs([(e, b) for e, b in einsums if pass_of[e.name] == k])
         for k in set(pass_of.values())},
        {k: set().union(*(reads[e.name] for e, _ in einsums if pass_of[e.name] == k))
         for k in passes},
        frozenset(e.name for e, _ in einsums if across_tiles(e)),
        {e.name: b.array for e, b in einsums})


@dataclass(slots=True)
class _Tasks:
    """The task rows under construction (array id, latency, occupancy, predecessors) and the
    memo of task kinds by (names, r, c)."""

    geo: Geometry
    pipelined: bool
    plan: PassPlan
    rows: list[tuple[int, int, int, tuple[int, ...]]] = field(default_factory=list)
    kinds: dict[tuple[str, int, int], TaskKind] = field(default_factory=dict)


@dataclass(slots=True)
class _Writers:
    """Latest writer task of a block: ``tile[(query tile, m-tile, tensor)]`` of a per-tile
    tensor, ``acc[(query tile, tensor)]`` of an accumulated one."""

    tile: dict[tuple[QueryTile, int, str], int] = field(default_factory=dict)
    acc: dict[tuple[QueryTile, str], int] = field(default_factory=dict)


def multipass_tasks(mapping, cascade, geo: Geometry, einsums, pipelined: bool,
                    progress) -> TaskGraph:
    """Tasks of one instance of a multi-pass cascade: p-blocks → passes → m-tiles →
    (query head, p-tile), then the Einsums without M (see the module docstring)."""
    out = _Tasks(geo, pipelined, pass_plan(mapping, cascade, einsums))
    m_tiles, p_tiles = -(-geo.m // geo.cols), -(-geo.p // geo.rows)
    per_block = max(1, geo.block // geo.rows)
    mask = mask_of(mapping, cascade)
    block_tasks, words = 0, 0
    for p2 in range(0, p_tiles, per_block):
        first = len(out.rows)
        words += _block(out, cascade, mask, p2, per_block, progress)
        # the largest block (a causal mask's last): the look-ahead must span one block
        block_tasks = max(block_tasks, len(out.rows) - first)
    tiles = sum(runs_tile(mask, geo, i, j) for i in range(p_tiles) for j in range(m_tiles))
    return pack(out.rows, tiles * geo.heads, block_tasks, words)


def _block(out: _Tasks, cascade, mask, p2: int, per_block: int, progress) -> int:
    """Add the tasks of the block of p-tiles starting at p2: every pass over the m-tiles, then
    the Einsums without M per query tile. Returns the K/V words the block fetches."""
    geo, plan = out.geo, out.plan
    m_tiles, p_tiles = -(-geo.m // geo.cols), -(-geo.p // geo.rows)
    tiles_here = geo.query_tiles(p2, min(p_tiles, p2 + per_block))
    writers = _Writers()
    words = 0
    for k in plan.passes:
        for j in range(m_tiles):
            if progress is not None and k == plan.passes[-1]:
                progress(p2 * m_tiles + j * (len(tiles_here) // geo.heads), p_tiles * m_tiles)
            words += _pass_tile(out, cascade, k, j, [qt for qt in tiles_here
                                                     if runs_tile(mask, geo, qt[1], j)], writers)
    for qt in tiles_here:
        r = min(geo.rows, geo.p - qt[1] * geo.rows)
        for run in plan.runs.get(0, []):
            _add(out, run, qt, -1, r, geo.cols, writers)
    return words


def _pass_tile(out: _Tasks, cascade, k: int, j: int, ran: list[QueryTile],
               writers: _Writers) -> int:
    """Add pass k's tasks on m-tile j of the query tiles `ran` (those the mask admits there; a
    skipped tile runs in no pass, accumulations skip it). Returns the K/V words fetched."""
    geo = out.geo
    c = min(geo.cols, geo.m - j * geo.cols)
    for qt in ran:
        r = min(geo.rows, geo.p - qt[1] * geo.rows)
        for run in out.plan.runs[k]:
            _add(out, run, qt, j, r, c, writers)
    return tile_words(cascade, geo, out.plan.reads[k], c) if ran else 0


def _add(out: _Tasks, run, qt: QueryTile, j: int, r: int, c: int, writers: _Writers) -> None:
    """Add one task for `run` on query tile qt, m-tile j (−1: no M), r × c: it depends on the
    writers of what it reads (this tile's, else the accumulated partial) and, for an
    accumulated result, on its previous partial."""
    task, deps = len(out.rows), []
    for e, _ in run:
        deps += [writers.tile.get((qt, j, ref.tensor), writers.acc.get((qt, ref.tensor), -1))
                 for ref in expr_refs(e.expr)]
        if e.name in out.plan.accumulated:
            deps.append(writers.acc.get((qt, e.name), -1))
            writers.acc[(qt, e.name)] = task
        else:
            writers.tile[(qt, j, e.name)] = task
    kind = cached_run_kind(out.kinds, run, out.geo, r, c, out.pipelined, out.plan.where)
    out.rows.append((ARRAY_IDS[kind.array], kind.latency, kind.occupancy,
                     tuple(dict.fromkeys(d for d in deps if 0 <= d != task))))
