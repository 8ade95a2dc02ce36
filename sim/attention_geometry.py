"""What the attention simulator reads off a fused mapping: the tile geometry of one instance,
the mapped cascade (checked to be one the tile programs run), its score mask and the bound
Einsums, plus the rank bookkeeping of a tile (`norm`, `local_extent`, `ref_ranks`).

Used by `sim.attention` (task graphs, simulation) and `sim.attention_values` (the numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from einsum.ir import Ref, expr_refs, index_ranks

from .attention_mask import ScoreMask, score_mask
from .spec import SimInputError

# the inputs of one instance: one head, or a GQA group's S query heads over one K/V head
INPUT_RANKS = ({"Q": ("e", "p"), "K": ("e", "m"), "V": ("f", "m")},
               {"Q": ("e", "g", "s", "p"), "K": ("e", "g", "m"), "V": ("f", "g", "m")})


@dataclass(frozen=True, slots=True)
class Geometry:
    """Extents of one instance (p query rows, m keys, e and f head dims), the 2D array's rows ×
    columns (the tile P0 × M0), the 1D array's PEs and the mapper's rows per block."""

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


def geometry(mapping) -> Geometry:
    """The geometry of one instance of `mapping`; SimInputError unless it is fused."""
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
    return Geometry(ext["p"], ext["m"], ext["e"], ext["f"], a2.rows, a2.cols,
                    mapping.arch.array_1d.pes, mapping.phases[0].rows_per_block, heads)


def checked_cascade(mapping):
    """The mapped cascade (M0 = array columns); SimInputError if the simulator cannot run it."""
    from einsum import library

    cascade = library.get(mapping.cascade, **dict(getattr(mapping, "params", ())))
    inputs = {d.name: tuple(d.ranks) for d in cascade.inputs}
    if inputs not in INPUT_RANKS:
        raise SimInputError(f"simulate: cascade {cascade.name} has inputs other than "
                            "Q[e,p], K[e,m], V[f,m] (or a GQA group's Q[e,g,s,p], K[e,g,m], "
                            "V[f,g,m]); the attention simulator runs attention cascades only")
    score_mask(cascade, {})
    problem = unsupported(cascade)
    if problem:
        raise SimInputError(f"simulate: cascade {cascade.name}: {problem}; the attention "
                            "simulator runs the 1-pass (plain, masked, GQA), 2-pass and 3-pass "
                            "cascades")
    return cascade.with_params(M0=mapping.arch.array_2d.cols) if "M0" in cascade.params \
        else cascade


def unsupported(cascade) -> str:
    """Why the tile programs cannot run `cascade` ('' if they can)."""
    for e in cascade.einsums:
        if {"m0", "m1"} <= set(e.reduced_ranks):
            return f"Einsum {e.name} reduces over both M ranks ({e.text!r})"
        if "m1" in e.reduced_ranks and not (e.reduce_op in ("sum", "max")
                                            and set(e.map_ops) <= {"mul"}):
            return f"Einsum {e.name} reduces over the M tiles with {e.text!r}"
        m_reduced = "m0" in norm(e.reduced_ranks)
        refs = expr_refs(e.expr)
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
    geo = geometry(mapping)
    m_tiles = -(-geo.m // geo.cols)
    return score_mask(cascade, {"m": geo.m, "p": geo.p, "e": geo.e, "f": geo.f,
                                "m1": m_tiles, "m0": geo.cols})


def runs_tile(mask: ScoreMask | None, geo: Geometry, i: int, j: int) -> bool:
    """Whether score tile (p-tile i, m-tile j) has an admitted point (always, unmasked)."""
    if mask is None:
        return True
    r, c = min(geo.rows, geo.p - i * geo.rows), min(geo.cols, geo.m - j * geo.cols)
    return bool(mask.points(i * geo.rows, r, j * geo.cols, c).any())


def bound_einsums(mapping, cascade):
    """(Einsum, Bound) of every Einsum that runs on an array, in cascade order."""
    bound = {w.bound.name: w.bound for w in mapping.phases[0].work}
    return [(e, bound[e.name]) for e in cascade.einsums if e.name in bound]


def norm(ranks) -> tuple[str, ...]:
    """Rank names inside a tile: an unsplit M (multi-pass cascades) is the tile's m0."""
    return tuple("m0" if k == "m" else k for k in ranks)


def local_extent(rank: str, geo: Geometry, r: int, c: int) -> int:
    """Extent of `rank` inside an r × c tile (1 for a rank the tile does not span)."""
    return {"m0": c, "p": r, "e": geo.e, "f": geo.f}.get(rank, 1)


def ref_ranks(ref: Ref) -> set[str]:
    """The tile ranks a reference's indices use."""
    return set(norm(k for index in ref.indices for k in index_ranks(index)))
