"""Metamorphic relations of the FPGA model's compute and schedule, each derived by algebra from
the paper's design (edgemoe.md §3) or hardware first principles, checked over a seeded set of
varied designs (`tests.fpga.varied`).

A model that is right at the paper's point and wrong elsewhere breaks one of these: each test's
docstring states the relation and why it must hold. The memory path's relations are in
test_metamorphic_memory.py, the resources' in test_metamorphic_area.py.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import replace

import numpy as np
import pytest

from fpga import area
from fpga import units as un
from fpga.board import BOARDS, get_board
from fpga.model import evaluate
from fpga.schedule import layer_calls, linear_shapes, plan
from fpga.spec import FpgaDesign, Techniques, Units
from fpga.workload import Routing, ViTSpec, route
from tests.fpga.varied import (
    ALL_ON,
    BASE,
    DESIGNS,
    FREE,
    IDS,
    TECHS,
    free_board,
    staggered_key_positions,
    timing_of,
)

# ---- attention ----------------------------------------------------------------------------


@pytest.mark.parametrize("n, p", [(n, p) for n in (2, 3, 5, 16, 17, 33, 129, 130)
                                  for p in (1, 2, 3, 4, 7, 8, 16) if p <= n])  # p > N: refused
def test_reordered_attention_compute_is_the_staggered_key_count_times_blocks(n, p):
    """Q·K compute cycles = key positions of the staggered schedule x ceil(d / lanes); with
    p = 1 that is N x N (every query streams every key once), and each query of the schedule
    meets each key once: positions >= N^2 / p."""
    for d, lanes in ((64, 8), (192, 7), (12, 16)):
        w = ViTSpec(image_h=16, image_w=16 * (n - 1), patch=16, d_model=d, heads=1)
        assert w.tokens == n
        u = Units(attn_p=p, attn_lanes=lanes)
        call = un.attention_call(u, FREE, w, "qk", reorder=True, fused_softmax=True)
        positions = staggered_key_positions(n, p)
        assert call.cycles == positions * math.ceil(d / lanes)
        assert positions * p >= n * n
    assert staggered_key_positions(n, 1) == n * n


def test_attention_qk_and_av_are_symmetric_and_heads_double_time():
    """With E = F (value width = key width) A·V walks the same staggered order as Q·K: equal
    cycles and bytes. Doubling the heads at a fixed head dim doubles d = heads x e, so with
    lanes dividing e the compute doubles; with a free memory so do the cycles."""
    for d in DESIGNS:
        w, u = d.workload, d.units
        mem = un.memory(get_board(d.board), u)
        for reorder in (True, False):
            qk = un.attention_call(u, mem, w, "qk", reorder, True)
            av = un.attention_call(u, mem, w, "av", reorder, True)
            assert (qk.cycles, qk.ddr_bytes) == (av.cycles, av.ddr_bytes)
            lanes = math.gcd(w.head_dim, u.attn_lanes)
            u1 = replace(u, attn_lanes=lanes)
            one = un.attention_call(u1, FREE, w, "qk", reorder, True).cycles
            two = un.attention_call(u1, FREE, replace(w, heads=2 * w.heads,
                                                      d_model=2 * w.d_model), "qk", reorder,
                                    True).cycles
            assert two == 2 * one


# ---- linear unit ---------------------------------------------------------------------------

def test_linear_cycles_are_tokens_times_output_and_input_blocks():
    """Output-stationary unit (edgemoe.md §3.4): per token, ceil(out/out_par) output blocks x
    ceil(in/in_par) input blocks, one per cycle, for every layer shape and engine."""
    rng = random.Random(3)
    u = Units()
    for _ in range(200):
        tokens, k, n = rng.randint(1, 300), rng.randint(1, 1000), rng.randint(1, 1000)
        engine = (rng.randint(1, 64), rng.randint(1, 64))
        call = un.linear_call(u, FREE, tokens, k, n, engine)
        assert call.cycles == tokens * -(-n // engine[1]) * -(-k // engine[0])
        assert call.load_bytes == (k * n + n) * u.weight_bits // 8 + (
            (k * n + n) * u.weight_bits % 8 > 0)


def _expected_linear_cycles(d: FpgaDesign, t: Techniques) -> int:
    """Every linear call of the image on a free memory, from the layer shapes: Q, K, V and
    projection (d x d), the dense MLP (d -> h -> d) or every (token, expert) pair's expert
    (d -> h_e -> d), on the unified unit or each shape's dedicated engine: the largest power
    of two of MACs within the unified budget's share per distinct shape (docs/fpga.md,
    'Ablation'; the split into in_par x out_par is the model's)."""
    w, u = d.workload, d.units
    engines = plan(w, u, t, d.math).engines
    shapes = {(w.d_model, w.d_model)} | {
        s for layer in range(w.layers) for s in (
            ((w.d_model, w.expert_hidden), (w.expert_hidden, w.d_model)) if w.is_moe(layer)
            else ((w.d_model, w.mlp_hidden), (w.mlp_hidden, w.d_model)))}
    assert set(engines) == shapes
    if t.unified_linear:
        assert set(engines.values()) == {(u.linear_in_par, u.linear_out_par)}
    else:
        share = max(1, u.linear_in_par * u.linear_out_par // len(shapes))
        assert {i * o for i, o in engines.values()} == {2 ** int(math.log2(share))}

    def cyc(tokens: int, k: int, n: int) -> int:
        i, o = engines[(k, n)]
        return tokens * -(-n // o) * -(-k // i)

    total = 0
    for layer in range(w.layers):
        total += 4 * cyc(w.tokens, w.d_model, w.d_model)
        if w.is_moe(layer):
            counts = np.array(route(w, d.routing, layer))
            groups = counts[counts > 0] if t.patch_reorder else np.ones(counts.sum(), int)
            total += sum(cyc(int(g), w.d_model, w.expert_hidden)
                         + cyc(int(g), w.expert_hidden, w.d_model) for g in groups)
        else:
            total += cyc(w.tokens, w.d_model, w.mlp_hidden) + cyc(w.tokens, w.mlp_hidden,
                                                                  w.d_model)
    return total


@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_image_linear_time_is_the_sum_over_layer_shapes(i):
    """On a free memory the ``linear`` column is the sum of every layer's linear shapes, with
    GELU fused at initiation interval 1 (the approximation) and nothing else in it."""
    d = DESIGNS[i]
    board = free_board(get_board(d.board))
    u = replace(d.units, axi_bits=1 << 30)
    for t in TECHS:
        t = replace(t, gelu_approx=True)
        assert timing_of(d, t, u, board).cycles["linear"] == _expected_linear_cycles(
            replace(d, units=u), t)


# ---- MoE with patch reordering ------------------------------------------------------------

def _moe_design(experts: int, top_k: int, hits: tuple[float, ...], seed: int = 0) -> FpgaDesign:
    w = replace(BASE.workload, experts=experts, top_k=top_k, layers=2)
    return replace(BASE, workload=w, routing=Routing(seed=seed, hits=hits))


def _expert_bytes(d: FpgaDesign) -> int:
    w, bits = d.workload, d.units.weight_bits
    return (2 * w.d_model * w.expert_hidden + w.expert_hidden + w.d_model) * bits // 8


ROUTINGS = {"uniform 16": (16, 2, ()), "one expert": (16, 1, (1.0,) + (0.0,) * 15),
            "two of 16": (16, 2, (0.0,) * 7 + (1.0, 2.0) + (0.0,) * 7),
            "skewed": (16, 2, tuple(float(1 + e % 4) for e in range(16))),
            "top_k = experts": (4, 4, ()), "top-1 of 8": (8, 1, ()), "top-3 of 8": (8, 3, ())}


@pytest.mark.parametrize("name", list(ROUTINGS))
def test_moe_compute_is_independent_of_routing_and_weights_follow_distinct_experts(name):
    """Patch reordering (edgemoe.md §3.1): the experts' compute is that of tokens x top_k
    token-expert pairs whatever the routing (on a free memory, linear cycles of the MoE layer
    = its four d x d projections + pairs x (FC1 + FC2 blocks), also without reordering); each
    expert hit is loaded once, so the layer's weight traffic = the projections' + distinct
    experts x expert bytes (distinct counted with NumPy from the routing's queues); without
    reordering every pair loads its expert."""
    experts, top_k, hits = ROUTINGS[name]
    d = _moe_design(experts, top_k, hits, seed=5)
    w, u = d.workload, d.units
    counts = np.array(route(w, d.routing, 1))
    assert counts.sum() == w.tokens * top_k
    if hits:
        assert set(np.flatnonzero(counts)) <= set(np.flatnonzero(hits))
    pairs = w.tokens * top_k
    per_pair = (-(-w.expert_hidden // 16) * -(-w.d_model // 16)) * 2
    p = plan(w, u, ALL_ON, d.math)
    dense = 4 * (w.d_model * w.d_model + w.d_model) * u.weight_bits // 8
    for reorder in (True, False):
        t = replace(ALL_ON, patch_reorder=reorder)
        calls = layer_calls(u, FREE, w, p, t, d.math, d.routing, 1)
        linear = sum(c.cycles for c in calls if c.unit == "linear")
        assert linear == 4 * w.tokens * (w.d_model // 16) ** 2 + pairs * per_pair
        loaded = sum(c.load_bytes for c in calls)
        expected = np.count_nonzero(counts) if reorder else pairs
        assert loaded == dense + expected * _expert_bytes(d)


def test_all_tokens_on_top_k_experts_loads_fewest_weights_and_top_k_scales_pairs():
    """Every token on the same top_k experts loads top_k experts' weights; spread uniformly
    over 16 experts with 129 tokens all 16 are hit (with overwhelming probability, checked on
    the drawn queues). The experts' compute on a free memory scales with top_k exactly."""
    focused = _moe_design(16, 2, (1.0, 1.0) + (0.0,) * 14)
    spread = _moe_design(16, 2, ())
    assert np.count_nonzero(route(spread.workload, spread.routing, 1)) == 16
    fast = evaluate(focused, ALL_ON)
    slow = evaluate(spread, ALL_ON)
    assert fast.ddr_mb < slow.ddr_mb and fast.latency_ms < slow.latency_ms
    assert slow.ddr_mb - fast.ddr_mb == pytest.approx(14 * _expert_bytes(spread) / 1e6)
    w = BASE.workload
    p = plan(w, BASE.units, ALL_ON, BASE.math)

    def expert_cycles(top_k: int) -> int:
        wk = replace(w, top_k=top_k)
        calls = layer_calls(BASE.units, FREE, wk, p, ALL_ON, BASE.math, Routing(), 1)
        return sum(c.cycles for c in calls if c.unit == "linear") - 4 * w.tokens * 12 * 12

    assert [expert_cycles(k) for k in (1, 2, 4, 8)] == [expert_cycles(1) * k for k in (1, 2, 4, 8)]


# ---- pricing -------------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_energy_breakdown_and_stages_add_up(i):
    """energy = power x latency; the categories sum to the latency; the stages (patch
    embedding, then each layer) sum to the categories and the DDR bytes."""
    d = DESIGNS[i]
    for t in TECHS:
        r = evaluate(d, t)
        assert r.energy_j == pytest.approx(r.power_w * r.latency_ms / 1e3, rel=1e-12)
        assert sum(r.breakdown_ms.values()) == pytest.approx(r.latency_ms, rel=1e-12)
        timing = timing_of(d, t)
        assert sum(s.total for s in timing.stages) == timing.total
        assert sum(s.ddr_bytes for s in timing.stages) == timing.ddr_bytes
        assert r.ddr_mb == pytest.approx(timing.ddr_bytes / 1e6)


@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_layers_are_a_prefix_and_alternate_as_the_spec_says(i):
    """A design of L layers is the patch embedding plus its L layer stages; layer i is MoE
    exactly when i mod moe_every = moe_every - 1; adding layers leaves the first ones'
    stages unchanged (a layer's schedule depends on the layers before it only) unless it
    adds a linear shape: without the unified unit each shape has its own engine, so the
    engines share the MAC budget differently."""
    d = DESIGNS[i]
    w = d.workload
    longer = replace(w, layers=w.layers + 2)
    for t in TECHS:
        short = timing_of(d, t)
        long = timing_of(replace(d, workload=longer), t)
        assert len(short.stages) == w.layers + 1
        assert sum(s.total for s in short.stages) == short.total
        if t.unified_linear or linear_shapes(w) == linear_shapes(longer):
            assert long.stages[:w.layers + 1] == short.stages
        for layer, stage in enumerate(long.stages[1:]):
            assert ("MoE" in stage.name) == (layer % w.moe_every == w.moe_every - 1)
            assert stage.name.startswith(f"layer {layer} ")


# ---- units timed as the area prices them ---------------------------------------------------

@pytest.mark.parametrize("experts", [1, 3, 16])
@pytest.mark.parametrize("gate_macs", [1, 5, 16, 100, 128, 136, 200, 3072])
def test_the_gate_is_timed_as_the_columns_it_is_priced_as(gate_macs, experts):
    """The gate is one adder-tree column per expert, its gate_macs inputs dealt among them as
    evenly as they go (`fpga.area`; fewer MACs than experts: single-input columns serving
    ceil(experts / gate_macs) experts in turn). Every column must finish the token's d inputs,
    so a token takes (experts per column) x ceil(d / the narrowest column's inputs) cycles,
    then 2 x experts for the softmax and top-k: not ceil(d x experts / gate_macs), which
    assumes the extra input of a wider column can serve a narrower one."""
    w = replace(BASE.workload, experts=experts, top_k=1)
    u = replace(BASE.units, gate_macs=gate_macs)
    columns = min(experts, gate_macs)
    narrowest = gate_macs // columns
    per_token = -(-experts // columns) * -(-w.d_model // narrowest) + 2 * experts
    assert un.gate_call(u, FREE, w).cycles == w.tokens * per_token
    label = area.unit_items(replace(BASE, workload=w, units=u), ALL_ON)["gate"][0].label
    assert re.search(rf"\({narrowest} inputs? x |\+ {narrowest} x ", label), label
    assert not re.search(r"(^|\D)1 (MACs|experts|columns|inputs)\b", label), label


@pytest.mark.parametrize("macs", [1, 8, 16, 24, 100, 256, 300, 1024])
def test_the_patch_embedding_is_timed_as_the_columns_it_is_priced_as(macs):
    """The patch embedding's MACs are min(16, macs) output columns sharing each cycle's block
    of pixel inputs, as many as the narrowest column has (`fpga.area.patch_macs`): a patch
    takes ceil(d / columns) output blocks x ceil(c p^2 / inputs) cycles."""
    w = BASE.workload
    u = replace(BASE.units, patch_embed_macs=macs)
    columns = min(16, macs)
    inputs = macs // columns
    k = w.image_c * w.patch ** 2
    expected = w.patches * -(-w.d_model // columns) * -(-k // inputs)
    assert un.patch_embed_call(u, FREE, w).cycles == expected
    label = area.patch_macs(u).label
    assert re.search(rf"\({inputs} inputs? x {columns} columns?|\+ {inputs} x ", label), label
    assert not re.search(r"(^|\D)1 (MACs|columns|inputs)\b", label), label


def test_the_residual_add_is_one_block_of_lanes_a_cycle():
    """Edge-MoE's residual add (src/add.cpp) is one pipelined loop, initiation interval 1, over
    tokens x feature blocks of ``add_lanes`` elements: on a free memory tokens x ceil(d /
    lanes) cycles (a token's last, partial block still takes its cycle), reading two
    activation tensors and writing one."""
    rng = random.Random(6)
    for _ in range(200):
        tokens, d, lanes = rng.randint(2, 300), rng.randint(1, 800), rng.randint(1, 64)
        u = Units(add_lanes=lanes)
        w = ViTSpec(image_h=16, image_w=16 * (tokens - 1), d_model=d, heads=1)
        assert w.tokens == tokens  # the patches and the class token
        call = un.add_call(u, FREE, w)
        assert call.cycles == tokens * -(-d // lanes)
        assert call.ddr_bytes == 3 * -(-tokens * d * u.act_bits // 8)


# ---- what a parameter may and may not change ----------------------------------------------

SPEEDUPS = (("attn_p", (1, 2, 3, 4, 8, 16)), ("attn_lanes", (1, 2, 5, 8, 16, 64)),
            ("linear_in_par", (1, 3, 8, 16, 32)), ("linear_out_par", (1, 4, 8, 17, 32)),
            ("gate_macs", (1, 5, 16, 100, 128, 256)), ("layernorm_lanes", (1, 3, 8, 16)),
            ("add_lanes", (1, 8, 32)), ("patch_embed_macs", (1, 24, 100, 256, 1024)))
# Categories each unit parameter may change (weight_load: a faster call hides less of the
# next load behind it); every other category must stay the same cycle for cycle.
TOUCHES = {"attn_p": {"qk", "av"}, "attn_lanes": {"qk", "av"},
           "linear_in_par": {"linear", "gelu"}, "linear_out_par": {"linear", "gelu"},
           "gate_macs": {"gate"}, "layernorm_lanes": {"layernorm"}, "add_lanes": {"add"},
           "patch_embed_macs": {"patch_embed"}}


@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_more_parallelism_is_never_slower_and_touches_only_its_unit(i):
    """More query slots, lanes or MACs in one unit never lengthen the image, move no more DDR
    bytes (more query slots fewer: the keys are streamed once per batch), and change only
    that unit's category (and the exposed weight loads, which hide behind the calls before
    them): the other units' calls are untouched."""
    from fpga.spec import parallelism_limits

    d = DESIGNS[i]
    limits = parallelism_limits(d.workload)
    for t in TECHS[:3]:
        for name, values in SPEEDUPS:
            ok = [v for v in values if name not in limits or v <= limits[name][0]]
            timings = [timing_of(d, t, replace(d.units, **{name: v})) for v in ok]
            totals = [x.total for x in timings]
            assert totals == sorted(totals, reverse=True), (name, ok, totals)
            traffic = [x.ddr_bytes for x in timings]
            if name == "attn_p":  # reordered keys are streamed once per batch of p queries
                assert traffic == sorted(traffic, reverse=True)
            else:
                assert len(set(traffic)) == 1, name
            fixed = set(timings[0].cycles) - TOUCHES[name] - {"weight_load"}
            for x in timings[1:]:
                assert {c: x.cycles[c] for c in fixed} == {c: timings[0].cycles[c]
                                                           for c in fixed}, name


@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_traffic_does_not_depend_on_clock_or_board_and_ping_pong_never_slows(i):
    """The bytes an image moves are fixed by the workload, formats and techniques: the
    clock and the board's memory move none. Ping/pong weight buffers only hide loads."""
    d = DESIGNS[i]
    for t in TECHS[:3]:
        ref = timing_of(d, t)
        for board in BOARDS.values():
            for clock in (100.0, 300.0):
                other = timing_of(d, t, replace(d.units, clock_mhz=clock), board)
                assert other.ddr_bytes == ref.ddr_bytes
        on = timing_of(d, t, replace(d.units, ping_pong=True)).total
        off = timing_of(d, t, replace(d.units, ping_pong=False)).total
        assert on <= off


def test_parameters_of_absent_blocks_change_nothing():
    """A workload without MoE layers (moe_every > layers) has no experts, gate or routing:
    their parameters change neither latency nor resources; one whose every layer is MoE has
    no dense MLP: mlp_hidden changes nothing."""
    def figures(d: FpgaDesign, t: Techniques):
        r = evaluate(d, t)
        return r.latency_ms, r.resources, r.ddr_mb

    dense = replace(BASE, workload=replace(BASE.workload, moe_every=13))
    moe = replace(BASE, workload=replace(BASE.workload, moe_every=1))
    for t in TECHS:
        ref = figures(dense, t)
        for w in (replace(dense.workload, experts=4, top_k=4, expert_hidden=999),
                  replace(dense.workload, experts=1, top_k=1)):
            assert figures(replace(dense, workload=w, routing=Routing(seed=3)), t) == ref
        assert figures(replace(dense, units=replace(dense.units, gate_macs=7)), t) == ref
        ref = figures(moe, t)
        assert figures(replace(moe, workload=replace(moe.workload, mlp_hidden=100)), t) == ref


# ---- rooflines -----------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_no_unit_beats_its_macs_or_the_ddr(i):
    """No unit does more multiply-accumulates a cycle than it has MACs (the work counted from
    the workload's Einsums, `fpga.workload.layers`): on a free memory, linear cycles x
    in_par x out_par >= the linear layers' MACs, Q·K and A·V cycles x p x lanes >= their MACs,
    the gate's cycles x gate_macs >= its MACs, the patch embedding's likewise. And no image
    moves its bytes faster than the DDR's peak."""
    from fpga.workload import layers

    d = DESIGNS[i]
    w, u = d.workload, d.units
    ops = layers(w, d.routing)
    macs = {"linear": sum(op.macs for op in ops if op.cascade == "linear"
                          and op.name not in ("gate", "patch_embed")),
            "attention": sum(op.macs for op in ops if op.name == "attention"),
            "gate": sum(op.macs for op in ops if op.name == "gate"),
            "patch_embed": sum(op.macs for op in ops if op.name == "patch_embed")}
    board = free_board(get_board(d.board))
    free = timing_of(d, ALL_ON, replace(u, axi_bits=1 << 30), board).cycles
    assert free["linear"] * u.linear_in_par * u.linear_out_par >= macs["linear"]
    assert (free["qk"] + free["av"]) * u.attn_p * u.attn_lanes >= macs["attention"]
    assert free["gate"] * u.gate_macs >= macs["gate"]
    assert free["patch_embed"] * u.patch_embed_macs >= macs["patch_embed"]
    mem = un.memory(get_board(d.board), u)
    for t in TECHS:
        timing = timing_of(d, t)
        assert timing.total * mem.ddr_bytes >= timing.ddr_bytes


def test_routing_weights_are_relative():
    """``routing.hits`` are relative weights: scaling them all draws the same queues, and
    equal weights draw the uniform routing's."""
    w = BASE.workload
    hits = tuple(float(1 + e % 5) for e in range(w.experts))
    for layer in (1, 3):
        ref = route(w, Routing(seed=1, hits=hits), layer)
        for scale in (2.0, 3.0, 0.1, 7.7):
            assert route(w, Routing(seed=1, hits=tuple(scale * h for h in hits)), layer) == ref
        assert route(w, Routing(seed=1, hits=(1.0,) * w.experts), layer) == route(
            w, Routing(seed=1), layer)
