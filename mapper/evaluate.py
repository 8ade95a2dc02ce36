"""One design point → one result row: lower, count, price; attention alone or end to end.

A point's ``seq_len`` is the key/value length M and its ``query_len`` the queries P (0: P = M;
a decode step is P = 1 against an M-token cache). End to end adds a layer's linear GEMMs (Q, K,
V and output projections, two FFN layers) for the ``batch × P`` new tokens (a cache's K/V were
projected when their tokens were), each mapped once by the GEMM search on the configuration's
architecture; they run before and after attention, so their cycles add.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import einsum
from einsum.errors import InputError

from . import masks
from .count import Actions, count, count_gemm
from .gemm import Gemm, search_gemm
from .lower import Mapping, Workload, lower
from .price import Cost, price
from .spec import Architecture, Array1D, Array2D, Design, Model, decode_mask


@dataclass(frozen=True, slots=True)
class Point:
    """One evaluated point of a sweep; ``array_dim`` 0 keeps the architecture's arrays;
    ``seq_len`` is the keys M, ``query_len`` the queries P (0: P = M)."""

    model: str
    seq_len: int
    config: str
    scope: str
    array_dim: int = 0
    query_len: int = 0

    @property
    def queries(self) -> int:
        """P: the query length, or the sequence length when none is given."""
        return self.query_len or self.seq_len


def points(design: Design) -> list[Point]:
    """Every point of the design's sweep, in a stable order."""
    sweep = design.sweep
    dims, queries = sweep.array_dims or (0,), sweep.query_lens or (0,)
    return [Point(m, n, c, s, d, q) for d in dims for m in sweep.models for n in sweep.seq_lens
            for q in queries for c in sweep.configs for s in sweep.scopes]


def architecture(design: Design, point: Point) -> Architecture:
    """The point's architecture: its config's, resized to a square array if the sweep says so
    (the buffer scales with the array: see `mapper.spec.Sweep`)."""
    arch = design.architectures[design.configs[point.config].architecture]
    d = point.array_dim
    if not d:
        return arch
    ref, buf = design.sweep.buffer_reference_dim or arch.array_2d.rows, arch.buffer
    buffer = dataclasses.replace(buf, buffer_bytes=buf.buffer_bytes * d // ref,
                                 row_bits=max(8 * arch.word_bytes, buf.row_bits * d // ref),
                                 banks=max(1, buf.banks * d // ref))
    return dataclasses.replace(
        arch, array_2d=Array2D(d, d, arch.array_2d.pe), array_1d=Array1D(d, arch.array_1d.pe),
        buffer=buffer)


def workload(design: Design, point: Point) -> Workload:
    """The attention workload of a point (E = F = the model's head dimension; P queries over
    M = seq_len keys; query heads grouped by the model's K/V heads)."""
    model = design.models[point.model]
    group = model.heads // (model.kv_heads or model.heads)  # no kv_heads: one K/V head each
    keys = point.seq_len if point.queries != point.seq_len else 0  # 0: M = P
    return Workload(design.sweep.batch, model.heads, model.head_dim, model.head_dim,
                    point.queries, keys=keys, group=group)


def map_attention(design: Design, point: Point) -> Mapping:
    """The point's cascade lowered onto its architecture; raises InputError (also for a masked
    cascade at P != M: its filter compares p and m as positions of one sequence)."""
    config = design.configs[point.config]
    cascade = einsum.library.get(config.cascade, **config.params)
    masks.check_form(cascade)  # a filter that is no key/query mask: refused for what it is
    mask = decode_mask(config)
    if mask and point.queries != point.seq_len:
        raise InputError(f"config {point.config}'s cascade {config.cascade} has a mask ({mask}) "
                         f"that assumes P = M (query p at key position p), not P = "
                         f"{point.queries}, M = {point.seq_len}")
    return lower(cascade, architecture(design, point), config, workload(design, point),
                 design.gemm_search, point.config)


def linear_gemms(model: Model, tokens: int) -> dict[str, Gemm]:
    """The layer's linear GEMMs for ``tokens`` tokens (rows = tokens)."""
    inner = model.heads * model.head_dim
    kv = (model.kv_heads or model.heads) * model.head_dim  # GQA: fewer K/V heads
    return {"Q_proj": Gemm(tokens, inner, model.d_model), "K_proj": Gemm(tokens, kv,
            model.d_model), "V_proj": Gemm(tokens, kv, model.d_model),
            "O_proj": Gemm(tokens, model.d_model, inner),
            "FFN1": Gemm(tokens, model.ffn, model.d_model),
            "FFN2": Gemm(tokens, model.d_model, model.ffn)}


def linear_actions(design: Design, point: Point, arch: Architecture) -> Actions | None:
    """Actions of the layer's linear GEMMs (None for attention-only points)."""
    if point.scope != "end_to_end":
        return None
    tokens = design.sweep.batch * point.queries
    total = None
    for name, gemm in linear_gemms(design.models[point.model], tokens).items():
        found = count_gemm(search_gemm(gemm, arch, design.gemm_search), arch, name)
        total = found if total is None else total + found
    return total


def evaluate(design: Design, point: Point) -> tuple[Mapping, Actions, Cost]:
    """Lower, count and price one point."""
    mapping = map_attention(design, point)
    actions = count(mapping)
    extra = linear_actions(design, point, mapping.arch)
    if extra is not None:
        actions = actions + extra
    return mapping, actions, price(actions, mapping.arch, design.cost_table)


def row(design: Design, point: Point) -> dict[str, object]:
    """The CSV row of one point."""
    mapping, _, cost = evaluate(design, point)
    out: dict[str, object] = {
        "model": point.model, "seq_len": point.seq_len,
        **({"query_len": point.queries} if design.sweep.query_lens else {}),
        "config": point.config, "scope": point.scope, "array_dim": point.array_dim or mapping.arch.array_2d.rows,
        "latency_s": cost.latency_s, "energy_j": cost.energy_j,
        "traffic_bytes": cost.traffic_bytes, "util_2d": cost.util["2d"],
        "util_1d": cost.util["1d"], "area_mm2": cost.area_mm2,
        "buffer_need_bytes": max(p.buffer_need_bytes for p in mapping.phases),
        "spill_fraction": max(p.spill_fraction for p in mapping.phases),
        "mac_energy_share_2d": cost.energy_by_component_j["2d mac"] / cost.energy_j,
    }
    out.update({f"util_2d_{k}": v for k, v in sorted(cost.util_2d_by_einsum.items())})
    return out
