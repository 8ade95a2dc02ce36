"""Key/query masks: which tiles of a fused nest's (p-tile, m-tile) grid have an admitted point.

A cascade masks attention with a ``where`` filter on one body Einsum (``BQK[m1,m0,p] = ... where
m <= p``; ``QK[m,p] = ... where m <= p`` in FLAT's 3-pass). The 2D array computes a whole
P0 × M0 score tile, so a tile with *any* admitted (m, p) point runs in full (the mask sets its
excluded scores to -inf, whose exp is 0); a tile with *none* is skipped: none of the body
Einsums over keys of that (p-tile, m-tile) runs, in any pass, and its K/V tile is not read
unless another query tile of the block needs it (FlashAttention-2 and FuseMax-style hardware). Skipping is exact: a tile whose scores are all -inf leaves the running
max, denominator and numerator unchanged (`tests/sim/test_sim_masks.py` checks the values
against `einsum.execute`).

Supported filters (`mask_of`): a conjunction of comparisons (``< <= > >= == !=``, chains
allowed) between integer expressions that are linear in the key rank ``m`` and the query rank
``p`` with coefficients -1, 0 or 1, optionally inside ``|...|`` on one side of a comparison, all
over the *same* linear form ``d = a·m + b·p`` (``m <= p``, ``p - W < m <= p``, ``|m - p| < W``).
Over a tile, d takes every integer between its extremes (unit coefficients on contiguous
ranges), so a tile has an admitted point iff that range meets the admitted set of d, a union
of intervals (`admitted_grid`; checked against brute-force enumeration in
tests/mapper/test_masks.py). Anything else is refused with an InputError naming the Einsum
and the filter.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from einsum import Cascade, passes
from einsum.errors import InputError
from einsum.ir import Abs, Arith, Compare, Name, Num, index_ranks

BIG = 1 << 40
"""Stands for ±infinity in admitted intervals of d (|d| stays far below it)."""

Intervals = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Mask:
    """The filter of Einsum ``einsum`` as the admitted values of ``d = coef[0]·m + coef[1]·p``.

    ``intervals``: sorted, disjoint, inclusive integer intervals of admitted d (±`BIG` for
    unbounded); ``text``: the filter as written.
    """

    einsum: str
    text: str
    coef: tuple[int, int]
    intervals: Intervals


@dataclass(frozen=True, slots=True)
class TileCounts:
    """A mask on a P × M score matrix cut into ``rows`` × ``cols`` tiles.

    ``admitted``: tiles with an admitted point, of ``p_tiles`` × ``m_tiles``;
    ``tile_share`` = admitted / all tiles (each tile costs the same array cycles);
    ``point_share``: the admitted tiles' share of the score matrix's points (a partial edge
    tile has fewer points), the factor on a body Einsum's points and words;
    ``key_share``: the admitted tiles' keys (a partial last key tile has fewer), summed over
    the p-tiles, of p_tiles × M: the factor on the cycles of an Einsum whose PEs walk a
    tile's keys one by one (the inner M rank in time: a 1D Einsum over m0).
    """

    p_tiles: int
    m_tiles: int
    admitted: int
    tile_share: float
    point_share: float
    key_share: float = 1.0


class _Unsupported(Exception):
    """A filter form `mask_of` does not model (turned into an InputError naming it)."""


def filtered(cascade: Cascade) -> list:
    """The Einsums of ``cascade`` with ``where`` filters."""
    return [e for e in cascade.einsums if e.filters]


def check_form(cascade: Cascade) -> None:
    """Refuse a cascade whose filters are not a key/query mask the mapper models (no values
    needed: run before the extents are known).

    Raises
    ------
    InputError
        Naming the Einsum and its filter: more than one filtered Einsum, a filter on an init
        or final Einsum or on one that does not span the score tile, a body Einsum over keys
        that does not depend on the filtered one, or a filter over ranks
        other than m and p (lean-decode's split filter is a work partition over units, not a
        mask).
    """
    found = filtered(cascade)
    if not found:
        return
    if len(found) > 1:
        raise InputError(f"{cascade.name}: Einsums {found[0].name} and {found[1].name} both have "
                         f"`where` filters; the mapper models one mask per cascade")
    e = found[0]
    where = f"{cascade.name}: Einsum {e.name}'s filter `{_text(e)}`"
    ranks = {r for cmp in e.filters for o in cmp.operands for r in index_ranks(o)}
    if not ranks <= {"m", "p"}:
        raise InputError(f"{where}: the mapper does not model `where` filters over ranks other "
                         f"than the key rank m and the query rank p (it has "
                         f"{', '.join(sorted(ranks - {'m', 'p'}))}): only a key/query mask lets "
                         f"whole score tiles be skipped")
    if e.phase != "body":
        raise InputError(f"{where}: masks are modelled on a body Einsum only (the tile loop "
                         f"skips the tiles the mask excludes), not on an {e.phase} Einsum")
    inner = next((s.inner for s in cascade.splits if s.parent == "m"), "m")
    if not {inner, "p"} <= set(e.ranks):
        raise InputError(f"{where}: the filtered Einsum must span the score tile (ranks "
                         f"{inner} and p), not {', '.join(e.ranks)}")
    free = _independent(cascade, e.name)
    if free:
        raise InputError(f"{where}: body Einsum {free} does not depend on {e.name}, so skipping "
                         f"a tile the mask excludes would skip work the mask does not exclude")


def _independent(cascade: Cascade, masked: str) -> str:
    """The first body Einsum over the key rank that reads nothing derived from ``masked`` in
    the same tile ('' if none): skipping a tile skips every body Einsum of it that iterates
    over keys (m, or a split's m1, m0), which is exact only for Einsums fed by the masked
    scores (all -inf there). Copies without an operator (a multi-pass cascade's
    ``BK[e,m1,m0] = K[e,m1*M0+m0]``, bound to no array) and Einsums without a key rank (the
    2-pass ``AV[f,p] = SNV[f,p] / SD[p]``, run once per query row) are not skipped."""
    keys = passes.rank_family(cascade, "m")
    fed = {masked}
    for e in cascade.einsums:
        if e.phase != "body" or e.name == masked:
            continue
        if set(e.operands) & fed:
            fed.add(e.name)
        elif (e.map_ops or e.reduce_op) and set(e.ranks) & keys:
            return e.name
    return ""


def mask_of(cascade: Cascade, names: dict[str, int]) -> Mask | None:
    """The cascade's mask with parameters/extents ``names`` bound (None without filters).

    Raises
    ------
    InputError
        If `check_form` refuses it, or the filter is not linear in m and p with unit
        coefficients over one linear form (see the module docstring).
    """
    check_form(cascade)
    found = filtered(cascade)
    if not found:
        return None
    e = found[0]
    try:
        coef, intervals = _solve(e.filters, names)
    except _Unsupported as why:
        raise InputError(f"{cascade.name}: Einsum {e.name}'s filter `{_text(e)}`: {why}; the "
                         f"mapper models masks of comparisons between expressions linear in m "
                         f"and p (coefficients -1, 0, 1, e.g. m <= p, p - W < m <= p, "
                         f"|m - p| < W) over one linear form") from None
    return Mask(e.name, _text(e), coef, intervals)


def _text(e) -> str:
    return ", ".join(str(c) for c in e.filters)


# ---- the admitted set of d ----


def _linear(expr, names: dict[str, int]) -> tuple[int, int, int]:
    """(coefficient of m, of p, constant) of an index expression."""
    if isinstance(expr, Num):
        return 0, 0, expr.value
    if isinstance(expr, Name):
        if expr.name == "m":
            return 1, 0, 0
        if expr.name == "p":
            return 0, 1, 0
        if expr.name not in names:
            raise _Unsupported(f"{expr.name} has no value")
        return 0, 0, names[expr.name]
    if isinstance(expr, Arith):
        a, b = _linear(expr.left, names), _linear(expr.right, names)
        if expr.op == "+":
            return tuple(x + y for x, y in zip(a, b, strict=True))
        if expr.op == "-":
            return tuple(x - y for x, y in zip(a, b, strict=True))
        if a[:2] == (0, 0):
            return tuple(a[2] * y for y in b)
        if b[:2] == (0, 0):
            return tuple(b[2] * x for x in a)
        raise _Unsupported(f"{expr} is not linear")
    raise _Unsupported(f"{expr} is not an integer expression of m and p")


FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _plain(op: str, k: int) -> Intervals:
    """Values x with ``x op k``."""
    return {"<": ((-BIG, k - 1),), "<=": ((-BIG, k),), ">": ((k + 1, BIG),),
            ">=": ((k, BIG),), "==": ((k, k),), "!=": ((-BIG, k - 1), (k + 1, BIG))}[op]


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    out = [(max(x[0], y[0]), min(x[1], y[1])) for x in a for y in b]
    return _merge([(lo, hi) for lo, hi in out if lo <= hi])


def _merge(parts) -> Intervals:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(parts):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _atom(left, op: str, right, names: dict[str, int]) -> tuple[tuple[int, int], Intervals]:
    """One comparison as ((a, b), admitted values of d = a·m + b·p); (0, 0) if constant."""
    if isinstance(right, Abs) and not isinstance(left, Abs):
        left, op, right = right, FLIP[op], left
    if isinstance(right, Abs):
        raise _Unsupported("both sides of a comparison are |...|")
    bound = _linear(right, names)
    if isinstance(left, Abs):
        if bound[:2] != (0, 0):
            raise _Unsupported(f"|...| is compared with {right}, which depends on m or p")
        a, b, c = _linear(left.arg, names)
        if (a, b) < (0, 0):
            a, b, c = -a, -b, -c  # |u| = |-u|
        t = _intersect(_plain(op, bound[2]), ((0, BIG),))  # t = |d + c| >= 0
        u = _merge([*t, *((-hi, -lo) for lo, hi in t)])
        return (a, b), _shift(u, -c)
    a, b, c = (x - y for x, y in zip(_linear(left, names), bound, strict=True))
    if (a, b) < (0, 0):
        a, b, c, op = -a, -b, -c, FLIP[op]
    return (a, b), _shift(_plain(op, -c), 0)


def _shift(parts: Intervals, by: int) -> Intervals:
    return tuple((max(-BIG, lo + by) if lo > -BIG else -BIG, min(BIG, hi + by) if hi < BIG
                  else BIG) for lo, hi in parts)


def _solve(filters: tuple[Compare, ...], names: dict[str, int]) -> tuple[tuple[int, int],
                                                                           Intervals]:
    coef, admitted = (0, 0), ((-BIG, BIG),)
    for cmp in filters:
        for left, op, right in zip(cmp.operands, cmp.ops, cmp.operands[1:], strict=False):
            form, values = _atom(left, op, right, names)
            if form == (0, 0):
                values = ((-BIG, BIG),) if any(lo <= 0 <= hi for lo, hi in values) else ()
            elif any(abs(x) > 1 for x in form):
                raise _Unsupported(f"{left} {op} {right} has a coefficient other than -1, 0, 1")
            elif coef != (0, 0) and form != coef:
                raise _Unsupported(f"{left} {op} {right} constrains another linear form of m "
                                   f"and p than the rest of the filter")
            else:
                coef = form
            admitted = _intersect(admitted, values)
    return coef, admitted


# ---- tiles ----


def admitted_grid(mask: Mask, p: int, m: int, rows: int, cols: int, first: int = 0,
                  last: int | None = None) -> np.ndarray:
    """Boolean [p-tile, m-tile] grid of tiles with an admitted point, for p-tiles
    ``first`` ≤ i < ``last`` (default all) of a P = ``p`` × M = ``m`` score matrix cut into
    ``rows`` (query) × ``cols`` (key) tiles; the last tile of each rank may be partial."""
    p_tiles, m_tiles = -(-p // rows), -(-m // cols)
    last = p_tiles if last is None else last
    a, b = mask.coef
    m_lo = np.arange(m_tiles, dtype=np.int64) * cols
    m_hi = np.minimum(m_lo + cols, m) - 1
    p_lo = np.arange(first, last, dtype=np.int64) * rows
    p_hi = np.minimum(p_lo + rows, p) - 1
    d_lo = np.minimum(a * m_lo, a * m_hi)[None, :] + np.minimum(b * p_lo, b * p_hi)[:, None]
    d_hi = np.maximum(a * m_lo, a * m_hi)[None, :] + np.maximum(b * p_lo, b * p_hi)[:, None]
    grid = np.zeros((last - first, m_tiles), dtype=bool)
    for lo, hi in mask.intervals:
        grid |= (d_hi >= lo) & (d_lo <= hi)
    return grid


def _chunks(p_tiles: int, m_tiles: int, step: int):
    """p-tile ranges of at most ~2^20 grid cells, each a multiple of ``step`` p-tiles."""
    size = max(step, (1 << 20) // max(1, m_tiles) // step * step)
    for first in range(0, p_tiles, size):
        yield first, min(p_tiles, first + size)


@functools.lru_cache(maxsize=256)
def counts(mask: Mask, p: int, m: int, rows: int, cols: int) -> TileCounts:
    """Admitted tiles and their shares of tiles and of points."""
    p_tiles, m_tiles = -(-p // rows), -(-m // cols)
    width = np.minimum(np.arange(1, m_tiles + 1) * cols, m) - np.arange(m_tiles) * cols
    admitted, points, keys = 0, 0, 0
    for first, last in _chunks(p_tiles, m_tiles, 1):
        grid = admitted_grid(mask, p, m, rows, cols, first, last)
        height = np.minimum(np.arange(first + 1, last + 1) * rows, p) - np.arange(first, last) * rows
        admitted += int(grid.sum())
        points += int(height @ grid @ width)
        keys += int((grid @ width).sum())
    return TileCounts(p_tiles, m_tiles, admitted, admitted / (p_tiles * m_tiles),
                      points / (p * m), keys / (p_tiles * m))


@functools.lru_cache(maxsize=256)
def kv_share(mask: Mask, p: int, m: int, rows: int, cols: int, block_tiles: int) -> float:
    """Share of the keys a block of ``block_tiles`` p-tiles reads, summed over the blocks, of
    blocks × M: a block reads the K/V tile of key tile j iff one of its p-tiles has an
    admitted point in tile j."""
    p_tiles, m_tiles = -(-p // rows), -(-m // cols)
    width = np.minimum(np.arange(1, m_tiles + 1) * cols, m) - np.arange(m_tiles) * cols
    keys = 0
    for first, last in _chunks(p_tiles, m_tiles, block_tiles):
        grid = admitted_grid(mask, p, m, rows, cols, first, last)
        pad = -len(grid) % block_tiles
        grid = np.concatenate([grid, np.zeros((pad, m_tiles), dtype=bool)])
        keys += int((grid.reshape(-1, block_tiles, m_tiles).any(axis=1) @ width).sum())
    return keys / (math.ceil(p_tiles / block_tiles) * m)


@functools.lru_cache(maxsize=256)
def row_keys(mask: Mask, p: int, m: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(query rows, admitted keys) of each p-tile: its height (the last may be partial) and the
    keys of its admitted tiles (the summed widths of the m-tiles with an admitted point). A
    multi-pass cascade holds, per query row of a p-tile, the M fiber's words of those keys
    only (its skipped tiles are never made)."""
    p_tiles, m_tiles = -(-p // rows), -(-m // cols)
    width = np.minimum(np.arange(1, m_tiles + 1) * cols, m) - np.arange(m_tiles) * cols
    keys = np.zeros(p_tiles, dtype=np.int64)
    for first, last in _chunks(p_tiles, m_tiles, 1):
        keys[first:last] = admitted_grid(mask, p, m, rows, cols, first, last) @ width
    heights = np.minimum(np.arange(1, p_tiles + 1) * rows, p) - np.arange(p_tiles) * rows
    heights.flags.writeable = keys.flags.writeable = False
    return heights, keys
