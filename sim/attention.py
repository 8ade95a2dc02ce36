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

Layout: `sim.attention_geometry` (the instance's geometry, the checked cascade, its mask),
`sim.attention_kinds` (a task's latency and occupancy on a tile), `sim.attention_graph` (the
task graph; the 1-pass cascades' tasks), `sim.attention_passes` (the multi-pass cascades'
tasks), `sim.attention_values` (the numbers); this module schedules the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .attention_geometry import INPUT_RANKS, mask_of, norm, runs_tile
from .attention_geometry import bound_einsums as _einsums
from .attention_geometry import checked_cascade as _cascade
from .attention_geometry import geometry as _geometry
from .attention_graph import TaskGraph, across_tiles, onepass_tasks, streamed_reads
from .attention_kinds import ARRAY_IDS, TaskKind, run_kind, runs, task_kind
from .attention_passes import multipass_tasks
from .schedule import list_schedule, serial_schedule
from .spec import SimInputError

# re-exported: sim.attention_values, tests and the CLI import these from here
__all__ = ["ARRAY_IDS", "INPUT_RANKS", "AttentionResult", "TaskGraph", "TaskKind", "across_tiles",
           "build_tasks", "check_supported", "epoch_window", "mask_of", "norm",
           "occupancy_timeline", "query_heads", "repeat_heads", "run_kind", "runs", "runs_tile",
           "simulate_attention", "streamed_reads", "task_kind"]


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


def build_tasks(mapping, pipelined: bool, progress=None) -> TaskGraph:
    """The task graph of one instance (a head, or a GQA group's S query heads over one K/V
    head): p-blocks → m-tiles → (query head, p-tile) → body Einsums, then finals (iterative
    1-pass cascades, `sim.attention_graph.onepass_tasks`); p-blocks → passes → m-tiles →
    (query head, p-tile), then the Einsums without M (multi-pass cascades,
    `sim.attention_passes.multipass_tasks`)."""
    geo = _geometry(mapping)
    cascade = _cascade(mapping)
    einsums = _einsums(mapping, cascade)
    if cascade.iteration is None:
        return multipass_tasks(mapping, cascade, geo, einsums, pipelined, progress)
    return onepass_tasks(mapping, cascade, geo, einsums, pipelined, progress)


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

