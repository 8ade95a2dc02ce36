"""Metamorphic relations of the FPGA model, each derived by algebra from the paper's design
(edgemoe.md §3) or hardware first principles, checked over a seeded set of varied designs
built from designs/edge-moe-zcu102.yaml by ``dataclasses.replace``.

A model that is right at the paper's point and wrong elsewhere breaks one of these: each test's
docstring states the relation and why it must hold.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from attnforge.kinds.fpga import KIND
from fpga import area
from fpga import units as un
from fpga.board import BOARDS, Board, get_board
from fpga.explain import explain
from fpga.explore import Point, row
from fpga.model import evaluate
from fpga.schedule import image_timing, layer_calls, linear_shapes, plan
from fpga.spec import TECHNIQUES, FpgaDesign, Techniques, Units
from fpga.workload import Routing, ViTSpec, route

DESIGN_FILE = Path(__file__).parents[2] / "designs" / "edge-moe-zcu102.yaml"
BASE: FpgaDesign = KIND.load(DESIGN_FILE)
ALL_ON = Techniques()


def _valid(d: FpgaDesign) -> bool:
    return not (d.problems() or d.workload.problems() or d.routing.problems()
                or d.sweep is not None and d.sweep.problems())


def _design(rng: random.Random) -> FpgaDesign:
    """One random design near M3ViT's scale: a few layers, small images (N from 2 to 129)."""
    heads = rng.choice((1, 2, 3, 4, 6))
    head_dim = rng.choice((8, 16, 24, 32, 64))
    experts = rng.choice((1, 2, 4, 8, 16))
    side = rng.choice(((16, 16), (32, 32), (32, 64), (64, 64), (128, 256), (48, 80)))
    w = ViTSpec(image_h=side[0], image_w=side[1], d_model=heads * head_dim, heads=heads,
                layers=rng.randint(1, 4), mlp_hidden=rng.choice((64, 96, 384, 768)),
                experts=experts, expert_hidden=rng.choice((32, 100, 384)),
                top_k=rng.randint(1, experts), moe_every=rng.randint(1, 3))
    u = replace(BASE.units, attn_p=rng.randint(1, min(16, w.tokens)),
                attn_lanes=rng.choice([x for x in (1, 3, 8, 16, head_dim) if x <= w.d_model]),
                linear_in_par=rng.choice((4, 8, 16, 32)), linear_out_par=rng.choice((4, 16, 32)),
                clock_mhz=rng.choice((150.0, 300.0, 450.0)), axi_bits=rng.choice((64, 256, 512)),
                ping_pong=rng.random() < 0.7, gate_macs=rng.choice((16, 128)))
    hits: tuple[float, ...] = ()
    if rng.random() < 0.4:
        hits = tuple(float(rng.randint(0, 3)) for _ in range(experts))
        if sum(h > 0 for h in hits) < w.top_k:
            hits = ()
    return replace(BASE, board=rng.choice(("zcu102", "zcu104", "u280")), workload=w, units=u,
                   routing=Routing(seed=rng.randint(0, 9), hits=hits), sweep=None)


def _designs(count: int, seed: int) -> list[FpgaDesign]:
    rng = random.Random(seed)
    out: list[FpgaDesign] = []
    while len(out) < count:
        d = _design(rng)
        if _valid(d):
            out.append(d)
    return out


DESIGNS = [BASE, *_designs(11, seed=7)]
IDS = [f"d{i}" for i in range(len(DESIGNS))]


def _techniques(rng: random.Random) -> Techniques:
    return Techniques(*(rng.random() < 0.5 for _ in TECHNIQUES))


TECHS = [ALL_ON, Techniques(False, False, False, False, False), *(
    _techniques(random.Random(s)) for s in range(3))]

# A memory path that never binds: every transfer takes under a cycle, no first-beat latency.
FREE = un.Memory(port_bytes=float(1 << 40), ddr_bytes=float(1 << 40), latency=0)


def _free_board(board: Board) -> Board:
    return replace(board, ddr_gbps=1e12, host_port_bits=1 << 40, host_port_mhz=1e9,
                   ddr_latency_ns=0.0)


def _timing(d: FpgaDesign, t: Techniques, u: Units | None = None, board: Board | None = None):
    return image_timing(d.workload, board or get_board(d.board), u or d.units, t, d.math,
                        d.routing)


# ---- attention ----------------------------------------------------------------------------

def staggered_key_positions(n: int, p: int) -> int:
    """Key positions of the staggered schedule, walked from its description (edgemoe.md §3.5):
    batch b caches queries bp .. bp+p-1, slot s loading its query at key position s; until
    then it still holds query (b-1)p + s, which needs keys 0 .. s-1. A batch walks up to the
    last key a slot it holds still needs; the loop runs ceil((N+p-1)/p) times."""
    total = 0
    for b in range(-(-(n + p - 1) // p)):
        need = 0
        for s in range(p):
            if b * p + s < n:
                need = n  # a new query needs every key
            if 0 <= (b - 1) * p + s < n:
                need = max(need, s)  # the previous query still needs keys 0 .. s-1
        total += need
    return total


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
    (d -> h_e -> d), on the unified unit or each shape's dedicated engine."""
    w = d.workload
    engines = plan(w, d.units, t, d.math).engines

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
    board = _free_board(get_board(d.board))
    u = replace(d.units, axi_bits=1 << 30)
    for t in TECHS:
        t = replace(t, gelu_approx=True)
        assert _timing(d, t, u, board).cycles["linear"] == _expected_linear_cycles(
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
    = pairs x (FC1 + FC2 blocks), also without reordering); each expert hit is loaded once,
    so its weight traffic = distinct experts x expert bytes (distinct counted with NumPy from
    the routing's queues); without reordering every pair loads its expert."""
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


# ---- memory and clock ----------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_less_bandwidth_is_never_faster_and_a_bigger_board_changes_only_fit(i, monkeypatch):
    """Halving the DDR peak, the host port width or the kernel port width never lowers
    latency (every call's cycles are non-decreasing in bytes per cycle, and ping/pong hides a
    load only behind time that is itself no shorter). A board with more DSP/BRAM/LUT/FF and
    the same memory path gives the same latency and resources: only the fit can change."""
    d = DESIGNS[i]
    board = get_board(d.board)
    for t in TECHS[:3]:
        ref = _timing(d, t).total
        for slower in (replace(board, ddr_gbps=board.ddr_gbps / 2),
                       replace(board, host_port_bits=board.host_port_bits // 2),
                       replace(board, ddr_latency_ns=2 * board.ddr_latency_ns)):
            assert _timing(d, t, board=slower).total >= ref
        assert _timing(d, t, replace(d.units, axi_bits=d.units.axi_bits // 2)).total >= ref
        big = replace(board, name="big", dsp=10**6, bram36=10**6, lut=10**8, ff=10**8)
        r = evaluate(d, t)
        monkeypatch.setitem(BOARDS, "big", big)
        r_big = evaluate(replace(d, board="big"), t)
        assert (r_big.latency_ms, r_big.breakdown_ms, r_big.resources, r_big.ddr_mb) == (
            r.latency_ms, r.breakdown_ms, r.resources, r.ddr_mb)
        assert r_big.fits


@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_doubling_the_clock_halves_compute_bound_time_only(i):
    """Cycles are fixed by the design, so on a free memory doubling the clock halves the
    latency exactly. With a real memory the DDR's bytes per second and its nanoseconds of
    latency do not scale: the time at 2f lies between half the time at f and the time at f."""
    d = DESIGNS[i]
    board = get_board(d.board)
    free = _free_board(board)
    f = min(d.units.clock_mhz, board.max_clock_mhz / 2)
    u1 = replace(d.units, clock_mhz=f)
    u2 = replace(d.units, clock_mhz=2 * f)
    for t in TECHS[:3]:
        c1, c2 = _timing(d, t, u1, free).total, _timing(d, t, u2, free).total
        assert c1 == c2
        ms1 = _timing(d, t, u1).total / f
        ms2 = _timing(d, t, u2).total / (2 * f)
        assert ms1 / 2 <= ms2 * (1 + 1e-12) and ms2 <= ms1 * (1 + 1e-12)


# ---- resources -----------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_resources_never_fall_as_parallelism_grows(i):
    """More query slots, lanes or MACs add hardware and never remove any: DSP, LUT and FF
    are non-decreasing in p, attention lanes and the linear unit's in_par and out_par (with
    every technique setting)."""
    d = DESIGNS[i]
    w = d.workload
    from fpga.spec import parallelism_limits

    limits = parallelism_limits(w)
    for t in TECHS:
        for name, values in (("attn_p", (1, 2, 3, 4, 8, 16)), ("attn_lanes", (1, 2, 5, 8, 16, 64)),
                             ("linear_in_par", (1, 4, 8, 16, 32)),
                             ("linear_out_par", (1, 4, 8, 16, 32))):
            ok = [v for v in values if v <= limits[name][0]]
            res = [area.unit_resources(d, t, replace(d.units, **{name: v})) for v in ok]
            tot = [sum((r for r in x.values()), start=type(next(iter(x.values())))()) for x in res]
            for field in ("dsp", "lut", "ff"):
                seq = [getattr(r, field) for r in tot]
                assert seq == sorted(seq), (name, field, ok, seq)


def test_explain_resource_lines_add_up_to_the_total():
    """The DSP (BRAM, LUT, FF) total equals the sum of the unit-by-unit lines explain prints,
    and each BRAM line holds at least its buffer's bits / 18 Kib BRAM18s."""
    for d in DESIGNS[:6]:
        for t in TECHS[:3]:
            text = explain(replace(d, configs={"c": t}), "c", d.units, t)
            section = text[text.index("resources, unit by unit:"):].splitlines()[2:]
            rows, total = [], None
            for line in section:
                cells = line.split()
                if line.startswith("total"):
                    total = [float(c.replace(",", "")) for c in cells[1:5]]
                    break
                first = 0 if re.match(r"^\s", line) else 1
                rows.append([float(c.replace(",", "")) for c in cells[first:first + 4]])
            assert total is not None
            assert [sum(col) for col in zip(*rows, strict=True)] == pytest.approx(total)
            r = evaluate(d, t)
            assert total == [r.resources.dsp, r.resources.bram36, r.resources.lut,
                             r.resources.ff]


def test_bram_buffers_hold_their_bits():
    """A buffer of W words of b bits needs at least ceil(W b / 18 Kib) BRAM18, and one that
    delivers r words a cycle at least ceil(r b / 36) (a BRAM18 reads 36 bits a port)."""
    from fpga.resources import bram_buffer

    rng = random.Random(1)
    for _ in range(300):
        words, bits, rate = rng.randint(1, 10**6), rng.randint(1, 64), rng.randint(1, 512)
        n = bram_buffer(words, bits, rate)
        assert n * 18 * 1024 >= words * bits and n * 36 >= rate * bits


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
        timing = _timing(d, t)
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
        short = _timing(d, t)
        long = _timing(replace(d, workload=longer), t)
        assert len(short.stages) == w.layers + 1
        assert sum(s.total for s in short.stages) == short.total
        if t.unified_linear or linear_shapes(w) == linear_shapes(longer):
            assert long.stages[:w.layers + 1] == short.stages
        for layer, stage in enumerate(long.stages[1:]):
            assert ("MoE" in stage.name) == (layer % w.moe_every == w.moe_every - 1)
            assert stage.name.startswith(f"layer {layer} ")


# ---- explain and explore -------------------------------------------------------------------

def _figures(text: str) -> tuple[float, ...]:
    """latency, power, energy, DDR MB, then DSP, BRAM36, LUT, FF of the total line."""
    head = re.search(r"^latency ([\d.]+) ms per image \(([\d,]+) cycles\), ([\d.]+) W, "
                     r"([\d.]+) J$", text, re.M)
    ddr = re.search(r"^DDR ([\d.]+) MB per image", text, re.M)
    total = next(line for line in text.splitlines() if line.startswith("total ")).split()[1:5]
    return (float(head[1]), float(head[3]), float(head[4]), float(ddr[1]),
            *(float(x.replace(",", "")) for x in total))


@pytest.mark.parametrize("i", range(0, len(DESIGNS), 2), ids=IDS[::2])
def test_explain_prints_explores_row_for_sweep_points(i):
    """explain at a sweep point (p, square linear size, reordering on or off) prints the
    latency, power, energy, DDR traffic and resources of explore's row for the same point."""
    d = DESIGNS[i]
    rng = random.Random(i)
    from fpga.spec import parallelism_limits

    limits = parallelism_limits(d.workload)
    for _ in range(2):
        p = rng.randint(1, limits["attn_p"][0] if limits["attn_p"][0] < 16 else 16)
        size = rng.choice([s for s in (4, 8, 16, 32) if s <= limits["linear_in_par"][0]])
        t = replace(ALL_ON, attention_reorder=rng.random() < 0.5)
        r = row(d, Point("sweep", "c", t, p, (size, size)))
        u = replace(d.units, attn_p=p, linear_in_par=size, linear_out_par=size)
        shown = _figures(explain(replace(d, configs={"c": t}), "c", u, t))
        assert shown[:3] == pytest.approx((r["latency_ms"], r["power_w"], r["energy_j"]),
                                          abs=0.006)
        assert shown[3] == pytest.approx(r["ddr_mb"], abs=0.06)
        assert shown[4:] == (r["dsp"], r["bram36"], r["lut"], r["ff"])


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


# ---- the memory path behind one kernel port ------------------------------------------------

U280_CHANNEL_GBPS = 14.4  # one HBM2 pseudo-channel's AXI port: 256 bits at 450 MHz


@pytest.mark.parametrize("clock_mhz", [100.0, 200.0, 300.0, 450.0, 600.0])
@pytest.mark.parametrize("axi_bits", [64, 128, 256, 512])
def test_a_kernel_port_gets_what_its_bus_and_the_memory_channel_behind_it_give(clock_mhz,
                                                                               axi_bits):
    """One kernel AXI master moves at most its own width per kernel cycle and at most what the
    port in front of the memory moves per second. On the U280 that port is an HBM
    pseudo-channel's, 256 bits at its own 450 MHz clock (14.4 GB/s), whatever the kernel's
    clock: a 512-bit kernel port at 300 MHz (19.2 GB/s) gets 14.4 GB/s, and a 256-bit one at
    600 MHz (15.4 GB/s) too. On the Zynq boards the HP port runs on the kernel's clock (up to
    333 MHz), 128 bits a cycle."""
    u = Units(clock_mhz=clock_mhz, axi_bits=axi_bits)
    hbm = un.memory(get_board("u280"), u).port_bytes * clock_mhz * 1e6 / 1e9
    assert hbm == pytest.approx(min(axi_bits / 8 * clock_mhz * 1e6 / 1e9, U280_CHANNEL_GBPS))
    hp = un.memory(get_board("zcu102"), u).port_bytes * clock_mhz * 1e6 / 1e9
    assert hp == pytest.approx(min(axi_bits * clock_mhz, 128 * min(clock_mhz, 333.0)) / 8e3)


BRAM18_SHAPES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
"""BRAM18 aspect ratios (bits read a cycle, words deep): 18 Kib at 36 and 18 bits wide (the
parity bits used), 16 Kib narrower; a second port reading another word adds nothing, its
words sharing the same depth."""


def bram18_lower_bound(words: int, bits: int, rate: int) -> int:
    """BRAM18s a buffer delivering ``rate`` of its ``words`` a cycle needs at least: each
    cycle's row of ``rate x bits`` bits is spread over BRAMs, one of width w holding at most
    h rows, so each bit of the row costs at least min over shapes of ceil(rows / h) / w."""
    width, rows = rate * bits, -(-words // rate)
    return math.ceil(width * min(Fraction(-(-rows // h), w) for w, h in BRAM18_SHAPES))


@pytest.mark.xfail(strict=True, reason="known defect (reported): fpga.resources.bram_buffer "
                   "counts capacity and read width apart, not the BRAM18 shapes")
def test_bram_buffers_respect_the_bram18_shapes():
    """A BRAM18 read 36 bits a cycle is 512 words deep: Edge-MoE's linear weight buffer, 576
    blocks of 16 x 16 16-bit weights read one block (4,096 bits) a cycle, needs
    ceil(4,096 / 18) = 228 BRAM18 (or 2 x 114 at 36 bits), not max(128 for its bits, 114 for
    its width); so does the patch embedding's. Every buffer the design prices holds at least
    `bram18_lower_bound`."""
    from fpga.resources import bram_buffer

    assert bram18_lower_bound(768 * 192, 16, 256) == 228
    assert bram18_lower_bound(24, 256, 1) == 8 and bram18_lower_bound(16 * 192, 16, 128) == 57
    rng = random.Random(2)
    cases = [(768 * 192, 16, 256), (24, 256, 1), (16 * 192, 16, 128)] + [
        (rng.randint(1, 10**6), rng.randint(1, 64), rng.randint(1, 512)) for _ in range(300)]
    short = [(c, bram_buffer(*c), bram18_lower_bound(*c)) for c in cases
             if bram_buffer(*c) < bram18_lower_bound(*c)]
    assert not short, short[:5]


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
    bytes (more query slots fewer: the keys are streamed once per batch), and change only that unit's category (and the exposed weight loads, which hide
    behind the calls before them): the other units' calls are untouched."""
    from fpga.spec import parallelism_limits

    d = DESIGNS[i]
    limits = parallelism_limits(d.workload)
    for t in TECHS[:3]:
        for name, values in SPEEDUPS:
            ok = [v for v in values if name not in limits or v <= limits[name][0]]
            timings = [_timing(d, t, replace(d.units, **{name: v})) for v in ok]
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
        ref = _timing(d, t)
        for board in BOARDS.values():
            for clock in (100.0, 300.0):
                other = _timing(d, t, replace(d.units, clock_mhz=clock), board)
                assert other.ddr_bytes == ref.ddr_bytes
        on = _timing(d, t, replace(d.units, ping_pong=True)).total
        off = _timing(d, t, replace(d.units, ping_pong=False)).total
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


# ---- ping/pong weight buffers --------------------------------------------------------------

def ping_pong_cycles(calls: list[un.Call]) -> int:
    """Cycle by cycle: the calls run one after another, a linear call once its weights are
    in; the one weight port loads the linear calls' weights in order into two buffers taken
    in turn, each load as soon as the port is idle and its buffer has finished serving the
    linear call two before (whatever runs in between)."""
    linear = [i for i, c in enumerate(calls) if c.load]
    done_calls: set[int] = set()
    loaded: set[int] = set()
    nxt, progress, i, left, t = 0, 0, 0, None, 0
    while i < len(calls):
        free = nxt < len(linear) and (nxt < 2 or linear[nxt - 2] in done_calls)
        runs = not calls[i].load or i in loaded
        if free:  # the port moves one cycle of the next load
            progress += 1
            if progress == calls[linear[nxt]].load:
                loaded.add(linear[nxt])
                nxt, progress = nxt + 1, 0
        if runs:
            left = calls[i].cycles if left is None else left
            left -= 1
            if left == 0:
                done_calls.add(i)
                i, left = i + 1, None
        t += 1
    return t


def test_ping_pong_loads_start_when_the_port_and_their_buffer_are_free():
    """A load waits for the weight port and for its buffer, not for the previous linear call
    to start: behind a long non-linear call (attention between two linear layers) the next
    but one layer's weights already stream in. Checked against a cycle-by-cycle run on small
    random call lists."""
    from fpga.schedule import exposed_loads

    def lin(cycles, load):
        return un.Call("linear", cycles, 0, load=load)

    calls = [lin(100, 10), un.Call("qk", 1000, 0), lin(10, 10), lin(10, 500)]
    # the third call's buffer is free once the first ends (cycle 110); the port is idle from
    # cycle 20: its 500 cycles load while qk runs
    assert ping_pong_cycles(calls) == 10 + 100 + 1000 + 10 + 10
    assert exposed_loads(calls, ping_pong=True) == [10, 0, 0, 0]
    rng = random.Random(4)
    for _ in range(300):
        calls = [lin(rng.randint(1, 30), rng.randint(1, 60)) if rng.random() < 0.6
                 else un.Call("qk", rng.randint(1, 40), 0) for _ in range(rng.randint(1, 8))]
        expected = ping_pong_cycles(calls)
        assert sum(c.cycles for c in calls) + sum(exposed_loads(calls, True)) == expected


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
    board = _free_board(get_board(d.board))
    free = _timing(d, ALL_ON, replace(u, axi_bits=1 << 30), board).cycles
    assert free["linear"] * u.linear_in_par * u.linear_out_par >= macs["linear"]
    assert (free["qk"] + free["av"]) * u.attn_p * u.attn_lanes >= macs["attention"]
    assert free["gate"] * u.gate_macs >= macs["gate"]
    assert free["patch_embed"] * u.patch_embed_macs >= macs["patch_embed"]
    mem = un.memory(get_board(d.board), u)
    for t in TECHS:
        timing = _timing(d, t)
        assert timing.total * mem.ddr_bytes >= timing.ddr_bytes


@pytest.mark.xfail(strict=True, reason="known inconsistency (reported): shallow buffers are "
                   "block RAM in fpga.area, LUT-RAM in the synthesized LayerNorm")
def test_one_memory_shape_is_priced_alike_in_every_unit():
    """At d = 192 on 8 lanes the LayerNorm's row memory and an attention token cache are the
    same memory, 24 words of 256 bits read a word a cycle. Synthesized (rtl layernorm, yosys)
    it is LUT-RAM, no block RAM; the attention's p + 1 caches of each array are priced as
    8 BRAM18 each (80 in all), the gate's 24 x 2,048-bit weights as 57."""
    u, w = BASE.units, BASE.workload
    assert math.ceil(w.d_model / u.layernorm_lanes) == math.ceil(w.d_model / u.attn_lanes) == 24
    assert area.layernorm(u, w)[0].resources.bram18 == 0  # row and γ/β memories in LUT-RAM
    caches = [item for item in area.attention(u, w) if "token caches" in item.label]
    assert len(caches) == 2 and all(item.resources.bram18 == 0 for item in caches)


@pytest.mark.parametrize("widths", [(32, 16), (32, 32), (9, 16)])
def test_a_mac_column_costs_at_least_its_accumulator(widths):
    """Each output column of a MAC block keeps an accumulator of acc_bits (the table's): a
    carry-chain adder of one LUT a bit and a register of one FF a bit, whatever its inputs. A
    column priced from the synthesized blocks by interpolation or extrapolation
    (`fpga.synthesized.mac_block_lut_ff`) never costs less: one 9 x 16 b patch-embedding MAC
    was 0 LUT, extrapolated down from 8 and 16 inputs."""
    from fpga.synthesized import mac_block_lut_ff, mac_blocks

    acc = next(b.acc_bits for b in mac_blocks().values() if (b.act_bits, b.weight_bits) == widths)
    for in_par in (1, 2, 3, 5, 12, 40):
        for out_par in (1, 2, 16):
            lut, ff = mac_block_lut_ff(in_par, out_par, *widths)
            assert lut >= out_par * acc and ff >= out_par * acc, (in_par, out_par, lut, ff)
    if widths == (9, 16):
        assert area.patch_macs(Units(patch_embed_macs=1)).resources.lut >= acc


# ---- the image's DDR traffic from the dataflow ---------------------------------------------

def _dataflow_bytes(d: FpgaDesign) -> int:
    """The bytes one image moves with every technique on, from the dataflow (edgemoe.md §3):
    activations (act_bits) live in DDR between units; each unit reads its operands and writes
    its result once; a linear layer also loads its weights and biases (weight_bits); reordered
    attention streams K (V) once per batch of p queries, reads Q (writes its output) once,
    and writes (reads back) the scores, heads padded to a power of two, with each row's
    (1/sum, max) pair; LayerNorm reads its 16-bit gamma and beta; the gate reads its
    experts x d weights; an expert's FC2 reads and rewrites the rows it accumulates into; the
    patch embedding reads the pixels and the position embeddings and writes the tokens."""
    w, u = d.workload, d.units
    a, wt = u.act_bits, u.weight_bits
    n, dm = w.tokens, w.d_model

    def act(elems: int) -> int:
        return math.ceil(elems * a / 8)

    def weights(k: int, m: int) -> int:
        return math.ceil((k * m + m) * wt / 8)

    def linear(tokens: int, k: int, m: int, accumulate: bool = False) -> int:
        return act(tokens * k) + act(tokens * m) * (2 if accumulate else 1) + weights(k, m)

    heads = 1 << (w.heads - 1).bit_length()
    keys = staggered_key_positions(n, u.attn_p)
    attention = 2 * (act(keys * dm) + act(n * dm) + act(n * n * heads) + act(n * 2 * heads))
    layernorm = 2 * act(n * dm) + math.ceil(2 * dm * 16 / 8)
    total = (math.ceil(w.image_c * w.image_h * w.image_w * u.pixel_bits / 8) + 2 * act(n * dm))
    for layer in range(w.layers):
        total += 2 * layernorm + 4 * linear(n, dm, dm) + attention + 2 * 3 * act(n * dm)
        if w.is_moe(layer):
            total += act(n * dm) + math.ceil(w.experts * dm * wt / 8)
            for g in route(w, d.routing, layer):
                if g:
                    total += (linear(g, dm, w.expert_hidden)
                              + linear(g, w.expert_hidden, dm, accumulate=True))
        else:
            total += linear(n, dm, w.mlp_hidden) + linear(n, w.mlp_hidden, dm)
    return total


@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_image_traffic_is_the_dataflows(i):
    """With every technique on, the DDR bytes of an image are those of the dataflow
    (`_dataflow_bytes`), on every board and clock."""
    d = DESIGNS[i]
    assert _timing(d, ALL_ON).ddr_bytes == _dataflow_bytes(d)


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


@pytest.mark.parametrize("heads", [1, 3, 4, 6])
def test_the_three_softmax_passes_read_the_scores_q_k_wrote(heads):
    """Without the single-pass softmax, Q·K writes the raw scores and A·V reads the
    probabilities in one layout (heads padded to a power of two); the max, exp-and-sum and
    normalise passes in between read that layout three times and write it once. Their
    compute is over the real N x N x heads scores."""
    w = replace(BASE.workload, heads=heads)
    u = BASE.units
    scores = math.ceil(w.tokens ** 2 * (1 << (heads - 1).bit_length()) * u.act_bits / 8)
    qk = un.attention_call(u, FREE, w, "qk", True, fused_softmax=False)
    keys = staggered_key_positions(w.tokens, u.attn_p)
    assert qk.ddr_bytes == (keys + w.tokens) * w.d_model * u.act_bits // 8 + scores
    calls = un.three_pass_softmax_calls(u, FREE, w, BASE.math)
    assert sum(c.ddr_bytes for c in calls) == 4 * scores
    assert calls[0].cycles == w.tokens ** 2 * heads  # one lane, one score a cycle


def test_an_accumulating_call_reads_back_on_the_read_channel():
    """AXI4 gives every master independent read and write data channels (each a port's width a
    cycle): an expert's FC2 that reads back and rewrites the rows it accumulates into moves
    the reads and the writes at the same time, so when the ports bind (a 32 x 32 unit, an
    expert hidden size under twice d_model) it takes the larger of the input, read-back and
    write streams, not the read-back and the writes one after the other."""
    mem = un.Memory(port_bytes=16.0, ddr_bytes=float(1 << 40), latency=0)
    u = BASE.units
    for tokens, k, n, engine in ((10, 100, 192, (32, 32)), (7, 192, 192, (64, 64)),
                                 (16, 384, 192, (32, 32))):
        call = un.linear_call(u, mem, tokens, k, n, engine, accumulate=True)
        compute = tokens * -(-n // engine[1]) * -(-k // engine[0])
        rows_in, rows_out = tokens * k * 4 / 16, tokens * n * 4 / 16
        assert call.cycles == math.ceil(max(compute, rows_in, rows_out))
        assert call.ddr_bytes == tokens * (k + 2 * n) * 4  # the read-back is traffic all the same
