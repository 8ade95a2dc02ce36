"""The task graph of one instance of a fused attention mapping, and the tasks of an iterative
(1-pass) cascade: p-blocks → m-tiles → (query head, p-tile) → runs of body Einsums, then the
final Einsums per query tile. A body Einsum reading state ``X[m1,p]`` depends on the previous
m-tile's writer of X, anything else on the same tile's writer; a masked-out tile has no tasks.
The multi-pass cascades' tasks are `sim.attention_passes`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from einsum.ir import Ref, expr_refs

from .attention_geometry import Geometry, local_extent, mask_of, runs_tile
from .attention_kinds import ARRAY_IDS, TaskKind, cached_kind, cached_run_kind, runs
from .spec import SimInputError


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


def tile_words(cascade, geo: Geometry, names: set[str], c: int) -> int:
    """Words of the tiles of inputs `names` for an m-tile of c keys."""
    ranks = {d.name: d.ranks for d in cascade.inputs}
    return sum(math.prod(c if k == "m" else local_extent(k, geo, 0, c) for k in ranks[t])
               for t in names)


def pack(rows, tiles, block_tasks=0, streamed_words=0) -> TaskGraph:
    """A TaskGraph of (array id, latency, occupancy, predecessors) rows; SimInputError for a
    task with more than 4 predecessors."""
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


@dataclass(slots=True)
class _OnePass:
    """A 1-pass cascade's task rows under construction (array id, latency, occupancy,
    predecessors), the memo of task kinds and ``last[(query tile, tensor)]``: the latest
    writer task of each tensor of a query tile."""

    geo: Geometry
    pipelined: bool
    state: set[str]
    where: dict[str, str]
    rows: list[tuple[int, int, int, tuple[int, ...]]] = field(default_factory=list)
    kinds: dict[tuple[str, int, int], TaskKind] = field(default_factory=dict)
    last: dict[tuple[tuple[int, int], str], int] = field(default_factory=dict)


def onepass_tasks(mapping, cascade, geo: Geometry, einsums, pipelined: bool,
                  progress) -> TaskGraph:
    """Tasks of an iterative (1-pass) cascade: per block of rows and m-tile, the body Einsums
    of every (query head, p-tile) the mask admits; after the block's last m-tile, the finals."""
    out = _OnePass(geo, pipelined,
                   {e.name for e, b in einsums if any("+1" in str(i) for i in e.lhs)},
                   {e.name: b.array for e, b in einsums})
    body = [(e, b) for e, b in einsums if e.phase == "body"]
    final = [(e, b) for e, b in einsums if e.phase == "final"]
    body_runs = runs(body)
    reads = streamed_reads(cascade, einsums)
    body_reads = set().union(*(reads[e.name] for e, _ in body))
    mask = mask_of(mapping, cascade)
    ran, words = 0, 0
    m_tiles, p_tiles = -(-geo.m // geo.cols), -(-geo.p // geo.rows)
    per_block = max(1, geo.block // geo.rows)
    for p2 in range(0, p_tiles, per_block):
        tiles_here = geo.query_tiles(p2, min(p_tiles, p2 + per_block))
        for j in range(m_tiles):
            c = min(geo.cols, geo.m - j * geo.cols)
            if progress is not None:
                progress(p2 * m_tiles + j * (len(tiles_here) // geo.heads), p_tiles * m_tiles)
            admitted = [qt for qt in tiles_here if runs_tile(mask, geo, qt[1], j)]
            for qt in admitted:
                _body_tasks(out, body_runs, qt, c)
            ran += len(admitted)
            words += tile_words(cascade, geo, body_reads, c) if admitted else 0
        for qt in tiles_here:
            _final_tasks(out, final, qt)
    return pack(out.rows, ran, streamed_words=words)


def _body_tasks(out: _OnePass, body_runs, qt: tuple[int, int], c: int) -> None:
    """One task per run of body Einsums of query tile qt on an m-tile of c keys: a state read
    at m1 depends on the previous m-tile's writer, anything else on this tile's."""
    r = min(out.geo.rows, out.geo.p - qt[1] * out.geo.rows)
    written: dict[str, int] = {}
    for run in body_runs:
        task, deps = len(out.rows), []
        for e, _ in run:
            deps += [d for d in _deps(e, out.state, written, out.last, qt) if d != task]
            written[e.name] = task
        kind = cached_run_kind(out.kinds, run, out.geo, r, c, out.pipelined, out.where)
        out.rows.append((ARRAY_IDS[kind.array], kind.latency, kind.occupancy,
                         tuple(dict.fromkeys(deps))))
    for name, task in written.items():
        out.last[(qt, name)] = task


def _final_tasks(out: _OnePass, final, qt: tuple[int, int]) -> None:
    """One task per final Einsum of query tile qt, after its last m-tile."""
    geo = out.geo
    r = min(geo.rows, geo.p - qt[1] * geo.rows)
    for e, b in final:
        deps = tuple(out.last[(qt, ref.tensor)] for ref in expr_refs(e.expr)
                     if (qt, ref.tensor) in out.last)
        kind = cached_kind(out.kinds, e, b, geo, r, geo.cols, out.pipelined, out.where)
        out.rows.append((ARRAY_IDS[kind.array], kind.latency, kind.occupancy, deps))


def _deps(einsum, state, written, last, i) -> tuple[int, ...]:
    deps = []
    for ref in expr_refs(einsum.expr):
        if _reads_previous(ref, state):
            if (i, ref.tensor) in last:
                deps.append(last[(i, ref.tensor)])
        elif ref.tensor in written:
            deps.append(written[ref.tensor])
    return tuple(dict.fromkeys(deps))


def _reads_previous(ref: Ref, state: set[str]) -> bool:
    """A state tensor read at index m1 (the value before this tile's update)."""
    return ref.tensor in state and any(str(i) == "m1" for i in ref.indices)
