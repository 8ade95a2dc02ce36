"""Buffer traffic of a lowered phase: which tensors live in the global buffer, and the words
the arrays and DRAM move through it.

A word used once needs no buffer (`kept`): a DRAM input read no more often than it is fetched
streams into the PEs, an output no Einsum of the phase reads streams out, the spilled part of a
held M fiber goes PEs → DRAM → PEs. Kept tensors are read once per tile that needs them
(`onchip`) and DRAM traffic of kept tensors passes through the buffer (`staging`).
"""

from __future__ import annotations

import math

from . import context as cx
from .context import Context, EinsumWork


def again(ctx: Context, name: str) -> int:
    """Times a tile-consumer re-reads ``name`` across the tiles: across the M tiles if it has
    no M rank, across the P tiles if it has no P rank, across a GQA group's query heads if
    it has no query-head rank (K and V: shared by the group)."""
    m_tiles, p_tiles = cx.tiles(ctx)
    ranks = set(ctx.tensor_ranks[name])
    heads = math.prod(ctx.ext.get(r, 1) for r in cx.HEAD_RANKS if r not in ranks)
    return (1 if ranks & ctx.m_family else m_tiles) * (1 if "p" in ranks else p_tiles) * heads


def in_the_pe(ctx: Context, work: tuple[EinsumWork, ...], reader: EinsumWork, name: str) -> bool:
    """Whether ``reader`` takes ``name`` straight from the PEs that make it: a value made in
    the same pass on the same array is consumed as it is produced (``SD`` sums ``SN`` in the
    PE that computed it), whatever else re-reads it later. Running state is not: it outlives
    a tile and sits in the buffer (fusemax.md §4)."""
    if name in ctx.state:
        return False
    return any(w.bound.name == name and w is not reader and w.bound.array == reader.bound.array
               and w.pass_index == reader.pass_index for w in work)


def tile_reads(ctx: Context, work: tuple[EinsumWork, ...], name: str) -> int:
    """Words of ``name`` the Einsums of ``work`` read from the buffer (not `in_the_pe`),
    counting re-reads across tiles."""
    words = sum(cx.read_size(ctx, einsum, op) * w.share for w in work
                for einsum in (ctx.cascade.einsums[w.bound.index],) for op in einsum.operands
                if ctx.alias.get(op, op) == name and (op != w.bound.name or
                                                      w.bound.phase == "init")
                and not in_the_pe(ctx, work, w, name))
    return words * again(ctx, name)


def kept(ctx: Context, work: tuple[EinsumWork, ...], dram_reads: dict[str, int],
          outputs: list[str], held: dict[str, int], spill: float,
          crossing: set[str]) -> dict[str, float]:
    """Fraction of each tensor's words that live in the buffer; the rest bypass it.

    A word used once needs no buffer (storing it costs a write and a read and saves nothing):
    a DRAM input read no more often than it is fetched streams from DRAM into the PEs; an
    output no Einsum of the phase reads streams from the PEs to DRAM; the spilled fraction of
    a held M fiber goes from the PEs to DRAM and back into the PEs that re-read it. Everything
    else (re-read inputs, state, held fibers, tiles crossing between the arrays) is kept.
    """
    found = {t: 1.0 for t in (*ctx.state, *crossing)}
    for tensor, fetched in dram_reads.items():
        found[tensor] = 1.0 if tile_reads(ctx, work, tensor) > fetched else 0.0
    for tensor in outputs:
        found.setdefault(tensor, 1.0 if tile_reads(ctx, work, tensor) else 0.0)
    for tensor in held:
        found[tensor] = 1.0 - spill
    return found


def bypassed(kept: dict[str, float]) -> tuple[str, ...]:
    """Tensors not wholly kept: they (or their spilled part) go past the buffer."""
    return tuple(sorted(t for t, share in kept.items() if share < 1))


def onchip(ctx: Context, work: tuple[EinsumWork, ...], kept: dict[str, float]
            ) -> tuple[int, int, dict[str, int], dict[str, int]]:
    """Buffer reads/writes by the arrays and RF reads/writes per array, per head.

    The kept fraction of an operand (`kept`) is read from the buffer once per tile that needs
    it (`again`), unless the reader takes it `in_the_pe`; the rest is a value the array
    produced and kept in its PEs' register files, or a stream that bypasses the buffer, and is
    counted as register-file traffic. A masked cascade's body Einsum reads and writes on the
    admitted tiles only (`EinsumWork.share`).
    """
    buf_r = buf_w = 0.0
    rf_r, rf_w = {"2d": 0, "1d": 0}, {"2d": 0, "1d": 0}
    for w in work:
        einsum = ctx.cascade.einsums[w.bound.index]
        for op in einsum.operands:
            name = ctx.alias.get(op, op)
            share, words = kept.get(name, 0.0), cx.read_size(ctx, einsum, op) * w.share
            if in_the_pe(ctx, work, w, name):
                share = 0.0
            buf_r += share * words * again(ctx, name)
            rf_r[w.bound.array] += round((1 - share) * words)
        # a reduction over all keys (3-pass GM[p]) still writes each row's result once
        out = cx.present(ctx, einsum.output_ranks) * (
            w.share if set(einsum.output_ranks) & ctx.m_family else 1.0)
        share = kept.get(w.bound.name, 0.0)
        buf_w += share * out
        rf_w[w.bound.array] += round((1 - share) * out)
    return round(buf_r), round(buf_w), rf_r, rf_w


def staging(kept: dict[str, float], dram_reads: dict[str, int], dram_writes: dict[str, int]
             ) -> tuple[int, int]:
    """(buffer reads, buffer writes) moving kept DRAM traffic through the buffer: a fetched
    word is written into it, a word bound for DRAM is read out of it."""
    writes = sum(kept.get(t, 0.0) * n for t, n in dram_reads.items())
    reads = sum(kept.get(t, 0.0) * n for t, n in dram_writes.items())
    return round(reads), round(writes)


def crossing(ctx: Context, work: tuple[EinsumWork, ...]) -> set[str]:
    """Tile-sized tensors produced on one array and read on the other: they pass through the
    buffer (per-row values cross directly, the 1D PEs sit at the 2D array's edge)."""
    made_on = {w.bound.name: w.bound.array for w in work}
    found = set()
    for w in work:
        for op in ctx.cascade.einsums[w.bound.index].operands:
            other = made_on.get(op)
            if other and other != w.bound.array and set(ctx.tile) <= set(ctx.tensor_ranks[op]):
                found.add(op)
    return found
