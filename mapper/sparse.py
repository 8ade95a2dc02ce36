"""Masked unfused phases: block-sparse GEMMs over the score tiles a mask admits.

An unfused configuration runs each contraction as GEMM phases through DRAM (`mapper.lower`).
With a key/query mask (`mapper.masks`) only the admitted P0 × M0 score tiles exist, so a GEMM
over scores computes (QK, BQK) or reads (AV, SLNV) those tiles only. The model, the simplest
honest one over the mapper's dense GEMM search:

- **Row groups**: query rows whose p-tiles admit the same key tiles form one dense GEMM over
  those keys (rows and key tiles gathered; they are independent rows and K/V tiles). A mask
  admitting every tile gives one group: the dense GEMM, priced exactly as unmasked. A causal
  mask gives one group per p-tile (p-tile i: key tiles 0..i), i.e. a GEMM of P0 rows over
  M0 (i + 1) keys each; across groups nothing is reused (K is re-read per group, as by a
  block-sparse kernel walking row bands), so where DRAM bounds the GEMMs a masked phase can
  price slower than the dense one (no taller bands or dense fallback are searched;
  docs/mapper.md "Masks").
- **Chunk batches** (``SLNV[f,m1,p] = SLN[m1,m0,p] * BV[f,m1,m0]``: a GEMM per key chunk
  m1): chunk j's GEMM runs over the query rows whose p-tiles admit it.

Each distinct shape is searched once (`mapper.gemm.search_gemm`, memoised) and counted as many
times as it occurs. Partly masked tiles run in full, as in the fused model.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from einsum.errors import InputError

from . import context as cx
from . import masks
from .context import Context
from .gemm import Gemm


def _grid(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(admitted [p-tile, m-tile] grid, p-tile heights, m-tile widths) of one head."""
    a2 = ctx.arch.array_2d
    p, m = ctx.ext["p"], ctx.ext["m"]
    grid = masks.admitted_grid(ctx.mask, p, m, a2.rows, a2.cols)
    heights = np.minimum(np.arange(1, grid.shape[0] + 1) * a2.rows, p) - np.arange(
        grid.shape[0]) * a2.rows
    widths = np.minimum(np.arange(1, grid.shape[1] + 1) * a2.cols, m) - np.arange(
        grid.shape[1]) * a2.cols
    return grid, heights, widths


def row_groups(ctx: Context) -> list[tuple[int, int]]:
    """(query rows, admitted keys) of each group of p-tiles admitting the same key tiles, in
    order of first appearance; groups without an admitted key are left out."""
    grid, heights, widths = _grid(ctx)
    rows: dict[bytes, int] = {}
    keys: dict[bytes, int] = {}
    for i, admitted in enumerate(grid):
        if admitted.any():
            key = np.packbits(admitted).tobytes()
            rows[key] = rows.get(key, 0) + int(heights[i])
            keys[key] = int(widths[admitted].sum())
    return [(rows[k], keys[k]) for k in rows]


def chunk_rows(ctx: Context) -> list[tuple[int, int]]:
    """(query rows admitting it, keys) of each key chunk (m-tile) with an admitted tile."""
    grid, heights, widths = _grid(ctx)
    rows = heights @ grid
    return [(int(r), int(w)) for r, w in zip(rows, widths, strict=True) if r]


def gemm_shapes(ctx: Context, einsum, rows: list[str], cols: list[str], reduced: tuple[str, ...],
                batch: tuple[str, ...]) -> tuple[Gemm, ...]:
    """The block-sparse GEMMs of a masked contraction whose output rows are ``rows`` (with
    the query rank p), columns ``cols``, reduction ``reduced`` and batch ``batch`` (ranks both
    operands keep); see the module docstring. Raises InputError for a key rank elsewhere."""
    keys = ctx.m_family
    other = {dim: cx.present(ctx, [r for r in ranks if r not in keys])
             for dim, ranks in (("m", [r for r in rows if r != "p"]), ("n", cols),
                                ("k", list(reduced)), ("b", list(batch)))}
    where = {dim for dim, ranks in (("m", rows), ("n", cols), ("k", reduced), ("b", batch))
             if set(ranks) & keys}
    shapes: Counter = Counter()
    if where in ({"n"}, {"k"}):
        dim = next(iter(where))
        for height, width in row_groups(ctx):
            dims = {"m": height * other["m"], "n": other["n"], "k": other["k"]}
            dims[dim] *= width
            shapes[(dims["m"], dims["n"], dims["k"])] += other["b"]
    elif where == {"b", "k"}:
        for height, width in chunk_rows(ctx):
            shapes[(height * other["m"], other["n"], width * other["k"])] += other["b"]
    else:
        raise InputError(f"Einsum {einsum.name}: the mapper's block-sparse GEMM model of a "
                         f"masked unfused contraction needs the key rank in the columns (QK), "
                         f"the reduction (AV) or a chunk batch with the reduction (SLNV), not "
                         f"in {', '.join(sorted(where)) or 'none'} of its ranks")
    return tuple(Gemm(m, n, k, count) for (m, n, k), count in shapes.items())


def row_keys(ctx: Context) -> np.ndarray:
    """Admitted keys of each query row (its p-tile's admitted tiles' widths), length P."""
    a2 = ctx.arch.array_2d
    heights, keys = masks.row_keys(ctx.mask, ctx.ext["p"], ctx.ext["m"], a2.rows, a2.cols)
    return np.repeat(keys, heights)
