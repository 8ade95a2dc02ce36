"""How one bound Einsum (or a run of 2D Einsums) runs on one r × c tile of a fused attention
mapping: its array, latency and occupancy in cycles, measured by the `sim.systolic` kernels
(see the module docstring of `sim.attention` for the per-Einsum tile programs)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from einsum.ir import expr_refs

from .attention_geometry import Geometry, local_extent, norm, ref_ranks
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


def task_kind(einsum, bound, geo: Geometry, r: int, c: int, pipelined: bool,
              where: dict[str, str]) -> TaskKind:
    """Latency and occupancy of one Einsum on an r × c tile, measured by the kernels.

    `where` maps tensors to the array that produced them: a stationary tile produced on the 1D
    array must first be shifted into the 2D PEs.
    """
    cpp = max(1, bound.cycles_per_point)
    ranks = norm(einsum.ranks)
    if bound.array == "1d":
        points = math.prod(local_extent(k, geo, r, c) for k in ranks if k != "p")
        cycles = cpp * points * -(-r // geo.pes)
        return TaskKind(einsum.name, "1d", cycles, cycles)
    reduced = set(norm(einsum.reduced_ranks))
    if "mul" in einsum.map_ops and einsum.reduce_op == "sum" and reduced == {"e"}:
        length = _os_length(geo.rows, geo.cols, r, c, geo.e)
        return TaskKind(einsum.name, "2d", length, geo.e if pipelined else length, geo.e)
    if "mul" in einsum.map_ops and einsum.reduce_op == "sum" and reduced == {"m0"}:
        in_place = all(where.get(ref.tensor) == "2d" for ref in expr_refs(einsum.expr)
                       if "p" in ref_ranks(ref))
        length = _stationary_length(geo.cols, geo.rows, c, r, geo.f, preload=not in_place)
        return TaskKind(einsum.name, "2d", length, geo.f if pipelined else length, geo.f)
    tile_wide = {"m0", "p"} <= set(ranks)
    per_row_operand = reduced == {"m0"} or any(
        "m0" not in ref_ranks(ref) for ref in expr_refs(einsum.expr))
    if tile_wide and per_row_operand:
        hop = row_chain(geo.rows, geo.cols, r, c, np.zeros((r, c)), np.zeros(r), 2,
                        np.zeros(r), np.zeros((r, c)))
        latency = hop + cpp - 1
        return TaskKind(einsum.name, "2d", latency, cpp if pipelined else latency, cpp)
    points = math.prod(local_extent(k, geo, r, c) for k in ranks if k not in ("p", "m0"))
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


def cached_run_kind(cache, run, geo, r, c, pipelined, where) -> TaskKind:
    """`run_kind` of a run on an r × c tile, memoised in `cache` by (names, r, c)."""
    key = (tuple(e.name for e, _ in run), r, c)
    if key not in cache:
        cache[key] = run_kind([cached_kind(cache, e, b, geo, r, c, pipelined, where)
                               for e, b in run], pipelined)
    return cache[key]


def cached_kind(cache, e, b, geo, r, c, pipelined, where) -> TaskKind:
    """`task_kind` of one Einsum on an r × c tile, memoised in `cache` by (name, r, c)."""
    key = (e.name, r, c)
    if key not in cache:
        cache[key] = task_kind(e, b, geo, r, c, pipelined, where)
    return cache[key]


def _os_length(rows, cols, r, c, t_len) -> int:
    timeline = np.zeros(rows + cols + t_len, np.int64)
    return int(os_fold(rows, cols, r, c, t_len, np.zeros((r, t_len)), np.zeros((t_len, c)),
                       np.zeros((r, c)), timeline)[0])


def _stationary_length(rows, cols, r, c, t_len, preload) -> int:
    timeline = np.zeros(2 * rows + cols + t_len, np.int64)
    return int(stationary_fold(rows, cols, r, c, t_len, np.zeros((r, c)), np.zeros((t_len, r)),
                               np.zeros((t_len, c)), timeline, preload)[0])
