"""The one-time start-up of a fused multi-pass phase: one block's passes in turn.

A query tile's pass k + 1 needs that tile's pass k over all of its admitted key tiles (its GM
before its CF), so within a block the passes follow each other query tile by query tile;
blocks overlap (the next block's first pass runs during this block's later passes), so one
block's pass-by-pass time is exposed once per mapping, less the block's share of the steady
state (the busier array's work).

Each pass runs the block's admitted tiles in the nest's order (m-tiles outer, query tiles
inner) at the rate of its busier array. Inside a tile the pass is a chain of *units* (a run of
consecutive 2D Einsums, or one 1D Einsum) joined by what they read of each other: a unit
starts when the units it reads are done, a 2D unit's result appears its stream plus the
diagonal fill R + C - 2 after it starts, plus C when it contracts over the keys a tile made on
the 1D array (the tile is shifted into the PEs along the M0 columns first). So array a is busy
for its work W_a between the first tile's chain up to a's first unit (head) and the last
tile's chain after a's last unit (tail): a pass takes max_a(head_a + W_a + tail_a).
Inside, an array fills a wait of one tile with other tiles' work (the epoch pipeline).

Query tile i's pass k is done when the pass reaches its last admitted key tile, step n_i of
the block's N tile-steps (unmasked: the last round, n_i = (J - 1)·T + i + 1; under a mask its
last admitted m-tile, `mapper.masks`). From then on each array idles, per remaining step, the
step less its own share, and there it may run tile i's work of pass k + 1 that needs nothing
pass k + 1 makes on the other array (`_unblocked`): a queue over the query tiles in the order
they finish (`_ahead`). Pass k + 1 then ends when each array has done the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import context as cx
from . import masks
from .context import Context, EinsumWork

ARRAYS = ("2d", "1d")


@dataclass(frozen=True, slots=True)
class Unit:
    """A run of consecutive 2D Einsums, or one 1D Einsum, of a pass on one tile.

    ``stream``: cycles its array is occupied per tile; ``extra``: cycles from the end of its
    stream to its result (2D: the diagonal fill, plus C when a 1D-made tile is shifted in);
    ``per_tile``: True for work per score tile, False per query tile (no key rank)."""

    array: str
    names: frozenset[str]
    reads: frozenset[str]
    stream: float
    extra: float
    per_tile: bool


def multipass_fill(ctx: Context, phase, fill: int) -> int:
    """Cycles one block's passes in turn take beyond the block's share of the busier array's
    work (``fill``: the diagonal fill R + C - 2). Passes 1, 2, ... then pass 0 (per query row,
    after the last pass)."""
    rows, cols = ctx.arch.array_2d.rows, ctx.arch.array_2d.cols
    m_tiles, p_tiles = cx.tiles(ctx)
    t = max(1, min(p_tiles, phase.rows_per_block // rows))
    finish, keys = _finish_steps(ctx, t, m_tiles)
    found = {w.pass_index for w in phase.work}
    order = sorted(k for k in found if k) + [0] * (0 in found)
    serial, before = 0.0, None
    for k in order:
        units = _units(ctx, [w for w in phase.work if w.pass_index == k], fill, cols)
        now = {a: sum(w.array_cycles for w in phase.work
                      if w.pass_index == k and w.bound.array == a) / phase.blocks
               for a in ARRAYS}
        head, tail = _chain(units)
        ahead = dict.fromkeys(ARRAYS, 0.0)
        if before is not None:
            ahead = _ahead(before, _unblocked(units), finish, keys)
        # (the first block's early work may exceed the mean block's: never below none left)
        serial += max((max(0.0, head[a] - ahead[b]) + max(0.0, now[a] - ahead[a]) + tail[a]
                       for a, b in zip(ARRAYS, ARRAYS[::-1], strict=True) if now[a]),
                      default=0.0)
        before = {a: sum(u.stream for u in units if u.array == a) for a in ARRAYS}
    return round(serial - max(phase.cycles.values()) / phase.blocks)


def _finish_steps(ctx: Context, t: int, m_tiles: int) -> tuple[np.ndarray, np.ndarray]:
    """(step after which each query tile of the first block has done a pass, 0 for a tile
    with no admitted key tile; its admitted key tiles), over the block's tile-steps in the
    nest's order, m-tiles outer, query tiles inner."""
    if ctx.mask is None:
        return (m_tiles - 1) * t + np.arange(1, t + 1), np.full(t, m_tiles)
    a2 = ctx.arch.array_2d
    grid = masks.admitted_grid(ctx.mask, ctx.ext["p"], ctx.ext["m"], a2.rows, a2.cols, 0, t)
    keys = grid.sum(axis=1)
    last = m_tiles - 1 - np.argmax(grid[:, ::-1], axis=1)  # each query tile's last m-tile
    before = np.cumsum(grid.sum(axis=0)) - grid.sum(axis=0)  # steps before each round
    within = np.cumsum(grid, axis=0)[np.arange(t), last]  # its place in that round
    return np.where(keys > 0, before[last] + within, 0), keys


def _units(ctx: Context, ws: list[EinsumWork], fill: int, cols: int) -> list[Unit]:
    """The pass's units in program order, their per-tile streams and latencies."""
    made_on = {b.name: b.array for b in ctx.bound}
    per_tiles, per_rows = cx.admitted_tiles(ctx), cx.tiles(ctx)[1] * cx.query_heads(ctx)
    units: list[Unit] = []
    for w in ws:
        einsum = ctx.cascade.einsums[w.bound.index]
        per_tile = bool(set(w.ranks) & ctx.m_family)
        stream = w.array_cycles / (per_tiles if per_tile else per_rows)
        reads = frozenset(ctx.alias.get(o, o) for o in einsum.operands) - {w.bound.name}
        extra = 0.0
        if w.bound.array == "2d":
            # a tile over the columns' keys (M0) it sums, made on the 1D array, is first
            # shifted into the PEs along those C columns (the 3-pass A before AV)
            shifted = ctx.tile[0] in einsum.reduced_ranks and any(
                made_on.get(r) == "1d" and {"p", ctx.tile[0]} <= set(ctx.tensor_ranks.get(r, ()))
                for r in reads)
            extra = fill + (cols if shifted else 0)
        last = units[-1] if units else None
        if w.bound.array == "2d" and last is not None and last.array == "2d":
            # a run: each wavefront enters behind the previous one, one fill (and shift) in all
            units[-1] = Unit("2d", last.names | {w.bound.name}, last.reads | reads,
                             last.stream + stream, max(last.extra, extra),
                             last.per_tile or per_tile)
        else:
            units.append(Unit(w.bound.array, frozenset({w.bound.name}), reads, stream, extra,
                              per_tile))
    return units


def _chain(units: list[Unit]) -> tuple[dict[str, float], dict[str, float]]:
    """(head, tail) per array: the first tile's chain before the array's first unit, the last
    tile's from the end of the array's last unit's stream to the pass's last result. (Between
    them the array fills any wait inside a tile with other tiles' work: the epoch pipeline.)"""
    n = len(units)
    deps = [[v for v in range(u) if units[u].reads & units[v].names] for u in range(n)]
    pre, post = [0.0] * n, [0.0] * n
    for u in range(n):
        pre[u] = max((pre[v] + units[v].stream + units[v].extra for v in deps[u]), default=0.0)
    for u in reversed(range(n)):
        post[u] = max((units[s].stream + units[s].extra + post[s]
                       for s in range(u + 1, n) if u in deps[s]), default=0.0)
    head, tail = dict.fromkeys(ARRAYS, 0.0), dict.fromkeys(ARRAYS, 0.0)
    for a in ARRAYS:
        mine = [u for u in range(n) if units[u].array == a]
        if mine:
            head[a] = pre[mine[0]]
            tail[a] = units[mine[-1]].extra + post[mine[-1]]
    return head, tail


def _unblocked(units: list[Unit]) -> dict[str, tuple[float, float]]:
    """Per array, (per score tile, per query tile) cycles of the pass's units that need
    nothing the pass makes on the other array (directly or through another such unit): they
    may start as soon as their query tile's previous pass is done (the 3-pass AV waits for A
    on the 1D array; the 2-pass CF, SD, SNV do not)."""
    blocked: list[bool] = []
    found = {a: [0.0, 0.0] for a in ARRAYS}
    for i, u in enumerate(units):
        waits = any(u.reads & v.names and (v.array != u.array or blocked[j])
                    for j, v in enumerate(units[:i]))
        blocked.append(waits)
        if not waits:
            found[u.array][0 if u.per_tile else 1] += u.stream
    return {a: (tile, row) for a, (tile, row) in found.items()}


def _ahead(before: dict[str, float], early: dict[str, tuple[float, float]],
           finish: np.ndarray, keys: np.ndarray) -> dict[str, float]:
    """Cycles of the next pass each array runs before the pass ``before`` (per-tile cycles
    per array) ends: query tile i's early work joins the array's queue at the step it is
    done with ``before``; each later step leaves the array the step (the busier array's
    per-tile cycles) less its own share idle, in which the queue runs."""
    step = max(before.values())
    order = np.argsort(finish, kind="stable")
    total = int(finish.max()) if len(finish) else 0
    stops = np.append(finish[order][1:], total)
    out = {}
    for a in ARRAYS:
        idle = step - before[a]
        per_tile, per_row = early[a]
        done = backlog = 0.0
        for i, stop in zip(order, stops, strict=True):
            backlog += per_tile * keys[i] + per_row
            run = min(backlog, (stop - finish[i]) * idle)
            done, backlog = done + run, backlog - run
        out[a] = done
    return out
