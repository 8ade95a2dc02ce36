"""Masked unfused phases: block-sparse GEMMs over the score tiles a mask admits.

An unfused configuration runs each contraction as GEMM phases through DRAM (`mapper.lower`).
With a key/query mask (`mapper.masks`) only the admitted P0 × M0 score tiles exist, so a GEMM
over scores computes (QK, BQK) or reads (AV, SLNV) those tiles only. The model, the simplest
honest one over the mapper's dense GEMM search:

- **Bands**: h consecutive p-tiles (P0 query rows each) form a band, one dense GEMM over the
  union of the key tiles its p-tiles admit (rows and key tiles gathered; bands running the
  same key tiles are one GEMM). Causal at h = 1: p-tile i is a GEMM of P0 rows over
  M0 (i + 1) keys, K (V) re-read per p-tile as by a block-sparse kernel walking row bands;
  h = all p-tiles: the dense GEMM (a mask admitting every tile prices exactly as unmasked at
  every h). A taller band reads K/V fewer times but computes the excluded scores inside it.
  `mapper.lower` searches h = 1, 2, 4, ... and all p-tiles (`bands`) for the whole mapping by
  the GEMM search's objective (cycles, then DRAM words, then the lower h), every phase running
  the bands' full extent (`band_counts`): the vector phase reads and holds the band's
  excluded scores and writes their probabilities as 0 for AV/SLNV, which read the band's
  keys. Where DRAM bounds the GEMMs this keeps a masked phase from pricing above the dense
  one: 16 × 16 arrays, 1 MiB buffer, 4 GB/s, batch 1 × 4 heads of 64 at 4K tokens, causal
  3-pass 0.203 s / 0.757 GiB at h = 1 against 0.137 s / 0.510 GiB unmasked; h = 16 prices
  0.0813 s / 0.303 GiB (docs/mapper.md "Masks").
- **Chunk batches** (``SLNV[f,m1,p] = SLN[m1,m0,p] * BV[f,m1,m0]``: a GEMM per key chunk
  m1): chunk j's GEMM runs over the query rows of the bands that run it.

Each distinct shape is searched once (`mapper.gemm.search_gemm`, memoised) and counted as many
times as it occurs. Partly masked tiles run in full, as in the fused model.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from einsum.errors import InputError

from . import context as cx
from . import masks
from .context import Context
from .gemm import Gemm


def bands(ctx: Context) -> tuple[int, ...]:
    """Band heights searched, in p-tiles: 1, 2, 4, ... below the p-tile count, and all of them."""
    p_tiles = -(-ctx.ext["p"] // ctx.arch.array_2d.rows)
    out, h = [], 1
    while h < p_tiles:
        out.append(h)
        h *= 2
    return (*out, p_tiles)


@functools.lru_cache(maxsize=4)
def _admitted(mask: masks.Mask, p: int, m: int, rows: int, cols: int) -> np.ndarray:
    """The mask's admitted [p-tile, m-tile] grid (memoised, read-only: every band reads it)."""
    grid = masks.admitted_grid(mask, p, m, rows, cols)
    grid.flags.writeable = False
    return grid


def _grid(ctx: Context, band: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(run [band, m-tile] grid, query rows of each band, p-tiles of each band, m-tile widths)
    of one head: a band of ``band`` consecutive p-tiles (the last may have fewer) runs the
    union of its p-tiles' admitted key tiles (band 1: the admitted grid itself)."""
    a2 = ctx.arch.array_2d
    p, m = ctx.ext["p"], ctx.ext["m"]
    grid = _admitted(ctx.mask, p, m, a2.rows, a2.cols)
    p_tiles = grid.shape[0]
    tiles = np.minimum(band, p_tiles - np.arange(0, p_tiles, band))
    if band > 1:
        pad = -p_tiles % band
        padded = np.concatenate([grid, np.zeros((pad, grid.shape[1]), dtype=bool)])
        grid = padded.reshape(-1, band, grid.shape[1]).any(axis=1)
    heights = np.minimum(np.arange(1, p_tiles + 1) * a2.rows, p) - np.arange(p_tiles) * a2.rows
    rows = np.add.reduceat(heights, np.arange(0, p_tiles, band))
    widths = np.minimum(np.arange(1, grid.shape[1] + 1) * a2.cols, m) - np.arange(
        grid.shape[1]) * a2.cols
    return grid, rows, tiles, widths


def band_counts(ctx: Context, band: int) -> masks.TileCounts:
    """The tiles that run with bands of ``band`` p-tiles, as `masks.TileCounts` (the mask's
    own counts at band 1): a band's every p-tile runs the band's key tiles in every phase."""
    if band == 1:
        return ctx.tile_counts
    grid, rows, tiles, widths = _grid(ctx, band)
    p, m = ctx.ext["p"], ctx.ext["m"]
    p_tiles, m_tiles = int(tiles.sum()), grid.shape[1]
    admitted = int(tiles @ grid.sum(axis=1))
    keys = grid @ widths
    return masks.TileCounts(p_tiles, m_tiles, admitted, admitted / (p_tiles * m_tiles),
                            int(rows @ keys) / (p * m), int(tiles @ keys) / (p_tiles * m))


def row_groups(ctx: Context, band: int = 1) -> list[tuple[int, int]]:
    """(query rows, keys) of each group of p-tiles running the same key tiles (bands of
    ``band`` p-tiles), in order of first appearance; groups without a key are left out."""
    grid, heights, _, widths = _grid(ctx, band)
    rows: dict[bytes, int] = {}
    keys: dict[bytes, int] = {}
    for i, admitted in enumerate(grid):
        if admitted.any():
            key = np.packbits(admitted).tobytes()
            rows[key] = rows.get(key, 0) + int(heights[i])
            keys[key] = int(widths[admitted].sum())
    return [(rows[k], keys[k]) for k in rows]


def chunk_rows(ctx: Context, band: int = 1) -> list[tuple[int, int]]:
    """(query rows running it, keys) of each key chunk (m-tile) that some band runs."""
    grid, heights, _, widths = _grid(ctx, band)
    rows = heights @ grid
    return [(int(r), int(w)) for r, w in zip(rows, widths, strict=True) if r]


def gemm_shapes(ctx: Context, einsum, rows: list[str], cols: list[str], reduced: tuple[str, ...],
                batch: tuple[str, ...], band: int = 1) -> tuple[Gemm, ...]:
    """The block-sparse GEMMs of a masked contraction whose output rows are ``rows`` (with
    the query rank p), columns ``cols``, reduction ``reduced`` and batch ``batch`` (ranks both
    operands keep), in bands of ``band`` p-tiles; see the module docstring. Raises InputError for a key rank elsewhere."""
    keys = ctx.m_family
    other = {dim: cx.present(ctx, [r for r in ranks if r not in keys])
             for dim, ranks in (("m", [r for r in rows if r != "p"]), ("n", cols),
                                ("k", list(reduced)), ("b", list(batch)))}
    where = {dim for dim, ranks in (("m", rows), ("n", cols), ("k", reduced), ("b", batch))
             if set(ranks) & keys}
    shapes: Counter = Counter()
    if where in ({"n"}, {"k"}):
        dim = next(iter(where))
        for height, width in row_groups(ctx, band):
            dims = {"m": height * other["m"], "n": other["n"], "k": other["k"]}
            dims[dim] *= width
            shapes[(dims["m"], dims["n"], dims["k"])] += other["b"]
    elif where == {"b", "k"}:
        for height, width in chunk_rows(ctx, band):
            shapes[(height * other["m"], other["n"], width * other["k"])] += other["b"]
    else:
        raise InputError(f"Einsum {einsum.name}: the mapper's block-sparse GEMM model of a "
                         f"masked unfused contraction needs the key rank in the columns (QK), "
                         f"the reduction (AV) or a chunk batch with the reduction (SLNV), not "
                         f"in {', '.join(sorted(where)) or 'none'} of its ranks")
    return tuple(Gemm(m, n, k, count) for (m, n, k), count in shapes.items())


def row_keys(ctx: Context, band: int = 1) -> np.ndarray:
    """Keys each query row runs (its p-tile's run tiles' widths, bands of ``band`` p-tiles),
    length P."""
    a2 = ctx.arch.array_2d
    if band == 1:
        heights, keys = masks.row_keys(ctx.mask, ctx.ext["p"], ctx.ext["m"], a2.rows, a2.cols)
    else:
        grid, heights, _, widths = _grid(ctx, band)
        keys = grid @ widths
    return np.repeat(keys, heights)
