"""The per-head context of a cascade lowered onto an architecture, and what it implies.

`make_context` gathers what every lowering rule reads (rank extents, the M-rank family, the 2D
tile, the binding, each Einsum's pass, aliases and running state; the analysis is memoised per
workload); the functions below derive sizes, per-Einsum work, tile counts, readers and the M
fibers a later pass re-reads. `mapper.traffic` and `mapper.lower` build on them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from einsum import Cascade, passes, rank_extents
from einsum.errors import InputError
from einsum.ir import Einsum, expr_refs, index_ranks
from einsum.verifier import bind_params

from . import masks
from .binding import Bound, bind
from .spec import Architecture, Config


@dataclass(frozen=True, slots=True)
class Workload:
    """One attention layer: ``batch`` × ``heads`` query heads of P = ``seq_len`` queries over
    M = ``keys`` keys (``keys`` = 0: M = P, self-attention). ``group``: query heads per K/V
    head (grouped-query attention, from a model's ``kv_heads``; 0: none declared). A cascade
    with the query-head ranks g, s (``attention-1pass-gqa``) needs it and runs one instance
    per group; the others run one per query head."""

    batch: int
    heads: int
    e: int
    f: int
    seq_len: int
    keys: int = 0
    group: int = 0

    def extents(self) -> dict[str, int]:
        """Input rank extents of an attention cascade (with a group, g: the instance's one
        K/V head, s: its query heads)."""
        found = {"e": self.e, "f": self.f, "p": self.seq_len, "m": self.keys or self.seq_len}
        return {**found, "g": 1, "s": self.group} if self.group else found


HEAD_RANKS = ("g", "s")
"""Ranks of a GQA cascade over the query heads of one instance (a K/V group)."""


@dataclass(frozen=True, slots=True)
class EinsumWork:
    """One bound Einsum's work per head: points, array cycles (with spatial padding), pass.

    ``share``: the fraction of the Einsum's per-tile work that runs (1; a masked cascade's body
    Einsums skip the tiles without an admitted point: the admitted tiles' share of the score
    matrix's points, `mapper.masks.TileCounts.point_share`); ``points`` and ``array_cycles``
    already include it, the buffer traffic of `mapper.traffic` applies it.
    """

    bound: Bound
    ranks: tuple[str, ...]
    points: int
    array_cycles: int
    pass_index: int
    share: float = 1.0


@dataclass(frozen=True, slots=True)
class Context:
    """A cascade on an architecture for one workload and configuration: what the lowering
    needs per head (rank extents, the M-rank family, the 2D tile, the binding, each Einsum's
    pass, tensor ranks, aliases of init Einsums, running state) and its mask: the filter as
    admitted values (`mapper.masks.Mask`) and the admitted score tiles, or None unmasked."""

    cascade: Cascade
    arch: Architecture
    config: Config
    ext: dict[str, int]
    m_family: frozenset[str]
    tile: tuple[str, str]
    bound: tuple[Bound, ...]
    pass_of: dict[int, int]
    m_passes: int
    tensor_ranks: dict[str, tuple[str, ...]]
    alias: dict[str, str]
    state: frozenset[str]
    mask: masks.Mask | None = None
    tile_counts: masks.TileCounts | None = None


def make_context(cascade: Cascade, arch: Architecture, config: Config, workload: Workload
                 ) -> Context:
    """The context of ``cascade`` on ``arch`` (the analysis is memoised per workload)."""
    fields = _analysis(cascade, arch, tuple(sorted(config.bind.items())), workload)
    return Context(fields[0], arch, config, *fields[1:])


@functools.lru_cache(maxsize=1024)
def _analysis(cascade: Cascade, arch: Architecture, bind_items: tuple[tuple[str, str], ...],
              workload: Workload) -> tuple:
    """The workload-specific analysis of a cascade on an architecture (memoised: a pure function
    of hashable inputs; the dicts it returns are never mutated by the lowering)."""
    if "M0" in cascade.params:
        cascade = cascade.with_params(M0=arch.array_2d.cols)
    given = {k: v for k, v in cascade.params.items() if v is not None}
    if not workload.group and set(HEAD_RANKS) & set(cascade.all_ranks()):
        raise InputError(f"{cascade.name}: extent of rank g (the K/V heads) is missing: "
                         f"give the model kv_heads (K/V heads shared by its query heads)")
    ext = rank_extents(cascade, workload.extents(), given)  # names a parameter left unset
    names = {**bind_params(cascade, given), **{r.upper(): n for r, n in ext.items()}}
    mask = masks.mask_of(cascade, names)
    counts = None if mask is None else masks.counts(mask, ext["p"], ext["m"],
                                                    arch.array_2d.rows, arch.array_2d.cols)
    if counts is not None and counts.admitted == 0:  # every output would be absent (0/0)
        raise InputError(f"{cascade.name}: the mask of Einsum {mask.einsum} (where "
                         f"{mask.text}) admits no (query, key) point at P = {ext['p']}, "
                         f"M = {ext['m']}{_params_text(cascade, given)}: every output is "
                         f"absent, there is nothing to map")
    m_family = passes.rank_family(cascade, "m")
    inner = next((s.inner for s in cascade.splits if s.parent == "m"), "m")
    tile = (inner, "p")
    bound = bind(cascade, arch, Config(cascade.name, "", bind=dict(bind_items)), tile)
    alias, state = {}, set()
    for b, e in zip(bound, cascade.einsums, strict=True):
        if b.array == "none" and e.phase == "init":
            if e.operands:
                alias[e.name] = e.operands[0]
            else:
                state.add(e.name)
    return (cascade, ext, m_family, tile, bound, passes.einsum_passes(cascade, "m"),
            passes.pass_counts(cascade).get("m", 1), cascade.tensor_ranks(), alias,
            frozenset(state), mask, counts)


def present(ctx: Context, ranks) -> int:
    """Points of the iteration space over ``ranks`` that exist: where a split's outer and
    inner ranks (m1, m0) are both among them they span the parent's extent M, not
    ceil(M / M0) · M0 (the partial last chunk's missing points are absent, `einsum.execute`)."""
    rest = list(ranks)
    n = 1
    for split in ctx.cascade.splits:
        if split.outer in rest and split.inner in rest:
            rest.remove(split.outer)
            rest.remove(split.inner)
            n *= ctx.ext[split.parent]
    return n * math.prod(ctx.ext[r] for r in rest)


def size(ctx: Context, tensor: str, drop: tuple[str, ...] = ()) -> int:
    """Words of ``tensor`` per head, without the ranks in ``drop`` (aliases resolved; a
    split's partial last chunk holds only its present words, `present`)."""
    ranks = ctx.tensor_ranks[ctx.alias.get(tensor, tensor)]
    return present(ctx, [r for r in ranks if r not in drop])


def read_size(ctx: Context, einsum: Einsum, operand: str) -> int:
    """Words of ``operand`` that ``einsum`` reads per head: its size, less every axis that each
    of its references pins to a constant (``AV[f,p] = RNV[f,M1,p] / ...`` reads the last slice
    of the iterative rank m1, not all M1 of them)."""
    full = size(ctx, operand)
    refs = [ref for ref in expr_refs(einsum.expr) if ref.tensor == operand]
    ranks = ctx.tensor_ranks.get(operand, ())
    if not refs or any(len(ref.indices) != len(ranks) for ref in refs):
        return full
    pinned = [rank for axis, rank in enumerate(ranks)
              if not any(index_ranks(ref.indices[axis]) for ref in refs)]
    return present(ctx, [r for r in ranks if r not in pinned]) if pinned else full


def work(ctx: Context, b: Bound) -> EinsumWork:
    """A bound Einsum's points and array cycles per head: spatial ranks padded to the array,
    temporal ones over their present points (a 1D PE walks only the keys a partial chunk
    has; `present`); a masked cascade's body Einsum over keys runs on the admitted tiles only
    (`EinsumWork.share`, `masked_work`)."""
    einsum = ctx.cascade.einsums[b.index]
    a2, a1 = ctx.arch.array_2d, ctx.arch.array_1d
    spatial = {ctx.tile[0]: a2.cols, "p": a2.rows} if b.array == "2d" else {"p": a1.pes}
    cycles = b.cycles_per_point * present(ctx, [r for r in einsum.ranks if r not in spatial])
    for rank in einsum.ranks:
        if rank in spatial:  # a partial tile occupies the whole array
            cycles *= -(-ctx.ext[rank] // spatial[rank])
    points = present(ctx, einsum.ranks)
    counts = ctx.tile_counts
    if counts is None or not masked_work(ctx, einsum):
        return EinsumWork(b, einsum.ranks, points, cycles, ctx.pass_of.get(b.index, 0))
    walks_keys = ctx.tile[0] in einsum.ranks and ctx.tile[0] not in spatial
    return EinsumWork(b, einsum.ranks, round(points * counts.point_share),
                      round(cycles * (counts.key_share if walks_keys else counts.tile_share)),
                      ctx.pass_of.get(b.index, 0), counts.point_share)


def masked_work(ctx: Context, einsum: Einsum) -> bool:
    """Whether a mask skips part of ``einsum``'s work: a body Einsum over the key rank (m,
    or a split's m1, m0), which runs per score tile. The final Einsums of a 1-pass cascade
    and a multi-pass cascade's Einsums without a key rank (the 2-pass AV) run once per query
    row whatever the mask."""
    return (ctx.tile_counts is not None and einsum.phase == "body"
            and bool(set(einsum.ranks) & ctx.m_family))


def query_heads(ctx: Context) -> int:
    """Query heads in one instance: S of a GQA cascade's group, else 1."""
    return math.prod(ctx.ext.get(r, 1) for r in HEAD_RANKS)


def admitted_tiles(ctx: Context) -> int:
    """Score tiles of one instance that run: all M tiles × P tiles, or a mask's admitted
    ones, for each of its query heads."""
    m_tiles, p_tiles = tiles(ctx)
    per_head = m_tiles * p_tiles if ctx.tile_counts is None else ctx.tile_counts.admitted
    return per_head * query_heads(ctx)


def tiles(ctx: Context) -> tuple[int, int]:
    """(M tiles, P tiles) of one head on the 2D array."""
    a2 = ctx.arch.array_2d
    return -(-ctx.ext["m"] // a2.cols), -(-ctx.ext["p"] // a2.rows)


def readers(ctx: Context, work: tuple[EinsumWork, ...]) -> dict[str, list[int]]:
    """Tensor → passes of the Einsums in ``work`` that read it (aliases resolved)."""
    found: dict[str, list[int]] = {}
    for w in work:
        for op in ctx.cascade.einsums[w.bound.index].operands:
            if op != w.bound.name or w.bound.phase == "init":
                found.setdefault(ctx.alias.get(op, op), []).append(w.pass_index)
    return found


def held(ctx: Context, work: tuple[EinsumWork, ...]) -> tuple[dict[str, int], int]:
    """Tensors whose M fiber must stay across a pass boundary: {tensor: later reads}, and the
    largest number of words per query row live at any boundary."""
    produced = {w.bound.name: w.pass_index for w in work}
    reads_by = readers(ctx, work)
    live_at: dict[int, int] = {}
    found: dict[str, int] = {}
    for tensor, reads in reads_by.items():
        if not set(ctx.tensor_ranks.get(tensor, ())) & ctx.m_family or tensor in ctx.state:
            continue
        start = produced.get(tensor, min(reads))
        later = sorted({p for p in reads if p > start})
        if not later:
            continue
        found[tensor] = len(later)
        for boundary in range(start, later[-1]):
            row = size(ctx, tensor, ("p",))
            live_at[boundary] = live_at.get(boundary, 0) + row
    return found, max(live_at.values(), default=0)


def _params_text(cascade: Cascade, given: dict[str, int]) -> str:
    """``, W = 0`` for the cascade's parameters other than M0 (set from the array)."""
    return "".join(f", {k} = {v}" for k, v in sorted(given.items()) if k != "M0")
