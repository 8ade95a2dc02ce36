"""A·V core with fused normalisation (rtl/attention_av.py): the golden model against float64
softmax(Q·K/8)·V within a derived bound, against the existing fused model and hand-worked
cases; the reordered request and output order (against Edge-MoE's HLS loop nest); parameter
validation, ports; Amaranth simulation and the emitted Verilog on Icarus and Verilator (every
request and output checked, random stalls and back-pressure); the measured cycle count against
the closed form and the FPGA model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attnforge.specload import load_spec
from fpga.golden import attention as qk
from fpga.golden.attention_av import (
    PIPELINE,
    SCORES,
    STATE,
    AttentionAVFormat,
    V,
    beats,
    cycles,
    error_bound,
    finishing,
    output_order,
    output_stream,
    outputs,
    request_order,
)
from fpga.golden.softmax import SoftmaxFormat, attention_av_fixed, softmax_row_state
from fpga.spec import Units
from fpga.units import Memory, attention_call
from fpga.workload import ViTSpec
from rtl.attention_av import AttentionAVUnit
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.exp_core import EXP_LATENCY
from rtl.spec import AttentionAVParams, RtlDesign
from rtl.tb.attention_av_vectors import AttentionAVBench, av_format, operands, run_amaranth
from rtl.units import build_unit, check_unit, toplevel, variant_key

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SMALL = {"n": 9, "d": 16, "lanes": 4}  # 4 blocks per token

# ---- golden model: arithmetic ---------------------------------------------------------------

ONE = 1 << 22


def test_golden_hand_worked_half_and_rounding():
    """Two equal scores: exp(0) = 1.0 each, sum 2, recip 2**30 / 2 = 2**29 (Q1.30), so
    P = 1.0 * 0.5 = 2**21 each. O = (v0 + v1) / 2 in LSBs, rounded half up: (3 + 0)/2 = 1.5
    -> 2; (-3 + 0)/2 = -1.5 -> -1; (5 + 2)/2 = 3.5 -> 4; (-4 + 2)/2 = -1 exactly."""
    fmt = AttentionAVFormat(p=1, lanes=2, d=4, n=2)
    s = np.full((2, 2), 7 * ONE)
    recip, b = np.full(2, 1 << 29), np.full(2, 7 * ONE)
    v = np.array([[3, -3, 5, -4], [0, 0, 2, 2]])
    assert outputs(s, recip, b, v, fmt).tolist() == [[2, -1, 4, -1]] * 2


def test_golden_saturates_not_wraps():
    """recip = 2**31 - 1 (~2.0, beyond a real softmax's <= 1) and scores above b (exp clamps
    to 1.0): P = round(2**22 (2**31 - 1) / 2**30) = 2**23 (2.0) for both keys; V = +-512-ish
    gives sum 2 * 2 * 511.99 > 512: saturated to the largest/smallest Q10.22."""
    fmt = AttentionAVFormat(p=1, lanes=2, d=2, n=2)
    hi, lo = (1 << 31) - 1, -(1 << 31)
    s = np.full((2, 2), ONE)
    recip, b = np.full(2, (1 << 31) - 1), np.zeros(2, dtype=np.int64)
    v = np.array([[hi, lo], [hi, lo]])
    assert outputs(s, recip, b, v, fmt).tolist() == [[hi, lo], [hi, lo]]


def test_golden_equals_the_fused_softmax_model():
    """With the row state the golden softmax computes, O equals
    fpga.golden.softmax.attention_av_fixed (softmax_fixed, int64 p @ v, one rounding)."""
    fmt = AttentionAVFormat(p=3, lanes=4, d=8, n=11)
    rng = np.random.default_rng(5)
    s = rng.integers(-(40 << 22), 40 << 22, size=(11, 11))
    v = rng.integers(-(1 << 31), 1 << 31, size=(11, 8))
    recip, b = softmax_row_state(s)
    assert np.array_equal(outputs(s, recip, b, v, fmt), attention_av_fixed(s, v))


def test_golden_against_float64_softmax_qk_v():
    """Q, K, V with |x| < 4 at d = 64: scores by the Q·K golden model (floor of Q·K/8), row
    state by the golden single-pass softmax, O against float64 softmax(Q·K/8)·V within
    error_bound (exp's and 1/sum's documented errors propagated; the scores' floor adds
    2**-22). The bound is informative (< 1e-3 on values < 4) and the error is not zero."""
    n, d = 40, 64
    rng = np.random.default_rng(8)
    q, k, v = (rng.integers(-(4 << 22) + 1, 4 << 22, size=(n, d)) for _ in range(3))
    y = qk.scores(q, k, qk.AttentionFormat(n=n)).astype(np.int64)
    fmt = AttentionAVFormat(n=n)
    recip, b = softmax_row_state(y)
    got = outputs(y, recip, b, v, fmt) / 2.0 ** 22
    t = (q / 2.0 ** 22) @ (k / 2.0 ** 22).T / 8
    e = np.exp(t - t.max(axis=1, keepdims=True))
    want = (e / e.sum(axis=1, keepdims=True)) @ (v / 2.0 ** 22)
    bound = error_bound(y, v, fmt, score_error=2.0 ** -22)
    err = np.abs(got - want)
    assert np.all(err <= bound)
    assert bound.max() < 1e-3 and err.max() > 2.0 ** -22


def test_golden_rejects_bad_inputs():
    fmt = AttentionAVFormat(p=1, lanes=2, d=2, n=2)
    z = np.zeros((2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match=r"v must have shape \(2, 2\)"):
        outputs(z, np.ones(2, dtype=np.int64), np.zeros(2, dtype=np.int64), np.zeros((2, 3),
                dtype=np.int64), fmt)
    with pytest.raises(ValueError, match="recip must lie in the unsigned 31-bit range"):
        outputs(z, np.full(2, 1 << 31), np.zeros(2, dtype=np.int64), z, fmt)
    with pytest.raises(TypeError, match="must hold integers"):
        outputs(z.astype(float), np.ones(2, dtype=np.int64), np.zeros(2, dtype=np.int64), z, fmt)


# ---- golden model: the reordered schedule ---------------------------------------------------


def test_request_and_output_order_hand_worked():
    """n = 3, p = 2, one block per token: batch 0 loads rows 0 and 1 at keys 0 and 1; query 0
    completes at key 2. Batch 1 loads row 2 at key 0 (slot 0); slot 1 still holds query 1,
    which completes at key 0; query 2 completes at key 2."""
    fmt = AttentionAVFormat(p=2, lanes=2, d=2, n=3)
    assert request_order(fmt) == [
        (STATE, 0, 0, 0), (SCORES, 0, 0, 0), (V, 0, 0, 0),
        (STATE, 1, 0, 0), (SCORES, 1, 0, 0), (V, 1, 0, 0),
        (SCORES, 2, 0, 0), (V, 2, 0, 0),
        (STATE, 2, 0, 1), (SCORES, 0, 0, 1), (V, 0, 0, 1),
        (SCORES, 1, 0, 1), (V, 1, 0, 1), (SCORES, 2, 0, 1), (V, 2, 0, 1)]
    assert output_order(fmt) == [(0, 0), (1, 0), (2, 0)]


@pytest.mark.parametrize(("n", "p", "blocks"), [(9, 1, 4), (9, 2, 4), (9, 3, 2), (9, 4, 4),
                                                (10, 4, 1), (129, 4, 8), (17, 16, 2)])
def test_schedule_invariants(n, p, blocks):
    """Every row state once, in query order, right before its position's scores; one score beat
    and d/lanes value beats per position; each query completes at the last position a slot
    holds it, and every (query, block) leaves once."""
    fmt = AttentionAVFormat(p=p, lanes=max(p, 2), d=max(p, 2) * blocks, n=n)
    order = request_order(fmt)
    assert len(order) == beats(fmt)
    states = [i for i, r in enumerate(order) if r[0] == STATE]
    assert [order[i][1] for i in states] == list(range(n))
    assert all(order[i + 1][0] == SCORES for i in states)
    assert sum(r[0] == SCORES for r in order) == qk.key_positions(n, p)
    assert sum(r[0] == V for r in order) == qk.key_positions(n, p) * blocks
    last = {}
    for base, k in qk.positions(fmt):
        for s in range(p):
            q = qk.slot_query(n, p, base, k, s)
            if q is not None:
                last[q] = (base, k, s)
    done = {finishing(fmt, base, k): (base, k) for base, k in qk.positions(fmt)}
    done.pop(None, None)
    assert {q: (b, k, s) for (s, q), (b, k) in done.items()} == last
    assert sorted(output_order(fmt)) == [(q, e) for q in range(n) for e in range(blocks)]


def edge_moe_hls_av(n: int, p: int, blocks: int):
    """The loop nest of Edge-MoE's HLS ``compute_attn_matmul_v`` (sharc-lab/Edge-MoE
    src/attention.cpp), written out independently: attn_patch from 0 to n + p - 1 step p,
    v_patch over n, dim blocks; stop once ``base >= n and v_patch >= (n + p - 1) % p``; at
    block 0 a softmax-info row is read when ``v_patch < p and base + v_patch < n`` and the
    position's p scores are read; then the value block. Output: slot 0's block when
    ``v_patch == n - 1``, else slot ``v_patch + 1``'s when ``v_patch < p - 1`` and the batch
    is not the first. Returns (reads, outputs as (slot, block))."""
    reads, outs, overflow = [], [], (n + p - 1) % p
    for batch, base in enumerate(range(0, n + p - 1, p)):
        for vp in range(n):
            if overflow > 0 and base >= n and vp >= overflow:
                return reads, outs
            for e in range(blocks):
                if e == 0:
                    if vp < p and base + vp < n:
                        reads.append((STATE, base + vp, 0, batch))
                    reads.append((SCORES, vp, 0, batch))
                reads.append((V, vp, e, batch))
                if vp == n - 1:
                    outs.append((0, e))
                elif vp < p - 1 and batch > 0:
                    outs.append((vp + 1, e))
    return reads, outs


@pytest.mark.parametrize(("n", "p"), [(9, 1), (9, 2), (9, 3), (9, 4), (10, 4), (129, 4),
                                      (129, 3), (17, 16), (2, 2)])
def test_order_is_edge_moe_hls_loop_nest(n, p):
    fmt = AttentionAVFormat(p=p, lanes=max(p, 2), d=2 * max(p, 2), n=n)
    reads, outs = edge_moe_hls_av(n, p, 2)
    assert request_order(fmt) == reads
    slots = [finishing(fmt, base, k)[0] for base, k in qk.positions(fmt)
             if finishing(fmt, base, k) is not None]
    assert [(s, e) for s in slots for e in range(2)] == outs


# ---- construction: parameters, ports, Verilog ------------------------------------------------

BAD = [
    ({"p": 0}, "p must be an integer in 1..16, not 0"),
    ({"lanes": 1}, "lanes must be an integer in 2..64, not 1"),
    ({"d": 0}, "d must be an integer in 1..4096, not 0"),
    ({"lanes": 6}, "lanes must divide d (64), not 6"),
    ({"p": 9}, "p must be at most lanes (8): one beat carries a key position's p scores, not 9"),
    ({"n": 3}, "n must be an integer in 4..65536, not 3"),
    ({"p": 1, "n": 1}, "n must be an integer in 2..65536, not 1"),
    ({"act_bits": 41}, "act_bits must be an integer in 3..40, not 41"),
    ({"act_frac": 31}, "act_frac must be an integer in 1..30, not 31"),
    ({"recip_frac": 32}, "recip_frac must be an integer in 1..31, not 32"),
    ({"act_bits": 16, "act_frac": 8}, "recip_frac must be an integer in 1..15, not 30"),
    ({"table_log2": 0}, "table_log2 must be an integer in 1..12, not 0"),
    ({"p": True}, "p must be an integer in 1..16, not True"),
    ({"n": "129"}, "n must be an integer in 4..65536, not '129'"),
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_parameter_one_message(params, message):
    with pytest.raises(RtlParamError) as err:
        AttentionAVUnit(**params)
    assert str(err.value) == message


def config_of(unit: AttentionAVUnit) -> dict:
    unit._MustUse__silence = True
    return unit.config()


def test_defaults_are_edge_moe():
    """p = 4 slots of 8 lanes, heads of 64, N = 129, Q10.22, the softmax unit's exp and 1/sum
    (Q1.30) formats (edgemoe.md §1-3)."""
    config = config_of(AttentionAVUnit())
    assert config == {"unit": "attention_av", "p": 4, "lanes": 8, "d": 64, "n": 129,
                      "act_bits": 32, "act_frac": 22, "const_bits": 30, "t_frac": 24,
                      "table_log2": 8, "entry_frac": 30, "recip_frac": 30}
    assert av_format(config) == AttentionAVFormat()
    assert AttentionAVFormat().softmax == SoftmaxFormat()
    assert {k: v for k, v in config.items() if k != "unit"} == \
        dataclasses.asdict(AttentionAVParams())


@pytest.mark.parametrize(("params", "ports"), [
    ({**SMALL, "p": 2}, ["input [127:0] data__payload;", "output [10:0] req__payload;",
                         "output [133:0] out__payload;"]),
    # req: kind 2 + token 8 (< 129) + block 3 (< 8) + batch 6 (< 33); out: 8 + 3 + 8 x 32
    ({}, ["input [255:0] data__payload;", "output [18:0] req__payload;",
          "output [266:0] out__payload;"]),
])
def test_ports_in_the_verilog(params, ports):
    """Small: req = kind 2 + token 4 (< 9) + block 2 (< 4) + batch 3 (< 5 batches), out =
    query 4 + block 2 + 4 x 32."""
    verilog = verilog_text(AttentionAVUnit(**params), "attention_av")
    for port in [*ports, "input start;", "output busy;", "output req__valid;",
                 "input req__ready;", "input data__valid;", "output data__ready;",
                 "output out__valid;", "input out__ready;", "input clk;", "input rst;"]:
        assert port in verilog, port
    assert "src =" not in verilog and "/work" not in verilog


def test_verilog_is_deterministic():
    one = verilog_text(AttentionAVUnit(**SMALL), "attention_av")
    assert one == verilog_text(AttentionAVUnit(**SMALL), "attention_av")


# ---- simulation: Amaranth -------------------------------------------------------------------


def run_heads(params: dict, stalls: bool) -> list:
    unit = AttentionAVUnit(**params)
    config = unit.config()
    fmt = av_format(config)
    one, two = operands(fmt, 1, stress=stalls), operands(fmt, 2, stress=not stalls)
    if stalls:
        benches = [AttentionAVBench(config, one, 1, p_req=0.7, p_data=0.6, p_out=0.5),
                   AttentionAVBench(config, two, 2, p_req=0.9, p_data=0.8, p_out=0.3,
                                    mem_latency=3)]
    else:
        benches = [AttentionAVBench(config, one, 1), AttentionAVBench(config, two, 2)]
    return run_amaranth(unit, benches, limit=20 * beats(fmt) + 200)


def test_stress_operands_saturate_and_realistic_ones_do_not():
    """The vectors exercise what they claim: stress outputs hit both Q10.22 limits, the
    realistic ones stay inside and are not all zero."""
    fmt = AttentionAVFormat(p=2, **SMALL)
    hi, lo = (1 << 31) - 1, -(1 << 31)
    stress = [x for *_, blk in output_stream(*vars(operands(fmt, 1, True)).values(), fmt)
              for x in blk]
    real = [x for *_, blk in output_stream(*vars(operands(fmt, 2, False)).values(), fmt)
            for x in blk]
    assert hi in stress and lo in stress
    assert max(map(abs, real)) < 4 << 22 and len(set(real)) > len(real) // 2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_amaranth_sim_stalls_and_backpressure(p):
    """Two heads back to back (no reset between), every request and output checked."""
    stats = run_heads({**SMALL, "p": p}, stalls=True)
    fmt = AttentionAVFormat(p=p, **SMALL)
    assert all(s.beats == beats(fmt) and s.outputs == 9 * 4 for s in stats)
    assert all(s.cycles > cycles(fmt) for s in stats)  # the stalls cost cycles


NARROW = {"act_bits": 16, "act_frac": 8, "const_bits": 16, "t_frac": 12, "table_log2": 4,
          "entry_frac": 12, "recip_frac": 12}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("params", [
    {**SMALL, "p": 3}, {"p": 4, "lanes": 4, "d": 8, "n": 10},  # a last batch of 1 key
    {"p": 4, "lanes": 4, "d": 4, "n": 4},  # one block per token, n = p
    {"p": 2, "lanes": 2, "d": 2, "n": 2},  # the smallest
    {"p": 3, "lanes": 3, "d": 9, "n": 7, **NARROW},
], ids=["small-p3", "last-batch-1-key", "one-block", "tiny", "narrow"])
def test_amaranth_sim_cycles_equal_the_closed_form(params):
    """No stalls: beats = every request once; cycles = memory latency 1 + beats + PIPELINE
    (the beat, EXP_LATENCY exp stages, products, accumulators/output) whatever p."""
    fmt = av_format(config_of(AttentionAVUnit(**params)))
    assert PIPELINE == 1 + EXP_LATENCY + 2
    for stats in run_heads(params, stalls=False):
        assert stats.beats == beats(fmt) == len(request_order(fmt))
        assert stats.cycles == cycles(fmt) == 1 + len(request_order(fmt)) + PIPELINE


def model_compute(n: int, p: int, d: int, lanes: int) -> int:
    """fpga.units.attention_call's A·V cycles for one head (d_model = d, heads = 1) on a
    memory too fast to matter: the call's cycles are then its compute term."""
    spec = ViTSpec(image_h=16, image_w=16 * (n - 1), d_model=d, heads=1)
    call = attention_call(Units(attn_p=p, attn_lanes=lanes), Memory(1e12, 1e12, 0), spec,
                          "av", reorder=True, fused_softmax=True)
    return call.cycles


@pytest.mark.timeout(300)
@pytest.mark.parametrize("p", [1, 2, 4])
def test_measured_cycles_against_closed_form_and_fpga_model(p):
    """One head, n = 33, d = 64 on 8 lanes, no stalls. Measured = closed form; against the
    model's key positions x d/lanes, the unit's one port adds a score beat per key position and
    a row-state beat per query, and the pipeline (memory latency 1 + 10) comes on top."""
    n, d, lanes = 33, 64, 8
    fmt = AttentionAVFormat(p=p, lanes=lanes, d=d, n=n)
    [stats, _] = run_heads({"p": p, "lanes": lanes, "d": d, "n": n}, stalls=False)
    assert stats.cycles == cycles(fmt)
    assert stats.beats / stats.cycles > 1 - 12 / stats.cycles  # one beat per cycle
    positions = qk.key_positions(n, p)
    assert model_compute(n, p, d, lanes) == positions * (d // lanes)
    assert stats.cycles - model_compute(n, p, d, lanes) == positions + n + 1 + PIPELINE


# ---- simulation: emitted Verilog on Icarus and Verilator ------------------------------------


# larger: Edge-MoE's p 4 x 8 lanes on N 17, d 32 (Icarus 4-8 s; Verilator 5 s with a warm
# ccache, ~40 s cold build); default: 38k cycles a head, Icarus 170 s
@pytest.mark.parametrize("params", [{**SMALL, "p": p} for p in (1, 2, 3)] + [
    {"p": 4, "lanes": 4, "d": 4, "n": 4}, {"p": 4, "lanes": 8, "d": 32, "n": 17},
    pytest.param({}, marks=pytest.mark.slow)],
    ids=["p1", "p2", "p3", "one-block", "larger", "default"])
def test_verilog_every_request_and_output(params, hdl_sim_ready, hdl_build_dir):
    """Both cocotb tests: no stalls (cycles and beats equal the closed form) and random
    stalls with back-pressure over two heads."""
    unit = AttentionAVUnit(**params)
    result = check_unit(unit, hdl_sim_ready,
                        hdl_build_dir(toplevel(unit), hdl_sim_ready, variant_key(unit)))
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 2


# ---- registry, design files, CLI ------------------------------------------------------------


def test_registry_and_design_file(tmp_path):
    assert config_of(build_unit("attention_av", {"p": 2}))["p"] == 2
    with pytest.raises(RtlParamError, match="has no parameter 'slots'"):
        build_unit("attention_av", {"slots": 2})
    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nkind: rtl\nname: x\n"
                    "attention_av: {p: 2, n: 9, d: 16, lanes: 4}\n")
    [(module, unit, params)] = load_spec(path, RtlDesign).selected()
    assert (module, unit) == ("attention_av", "attention_av")
    assert config_of(build_unit(unit, params)) == config_of(AttentionAVUnit(p=2, **SMALL))


def test_cli_verilog_same_bytes_twice(tmp_path, capsys):
    from attnforge.cli import main

    texts = []
    for out in (tmp_path / "a", tmp_path / "b"):
        with pytest.raises(SystemExit) as exited:
            main(["verilog", "--unit", "attention_av", "--out", str(out)])
        assert exited.value.code == 0
        texts.append((out / "attention_av.v").read_text())
    capsys.readouterr()
    assert texts[0] == texts[1] and "module attention_av(" in texts[0]


def test_cli_bad_parameter_exits_2(tmp_path, capsys):
    from attnforge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verilog", "--unit", "attention_av", "--param", "p=9", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "p must be at most lanes (8)" in capsys.readouterr().err


@pytest.mark.rtl
def test_cli_verify_small(tmp_path, capsys):
    from attnforge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verify", "--unit", "attention_av", "--param", "p=2", "--param", "n=9",
              "--param", "d=16", "--param", "lanes=4", "--sim", "icarus",
              "--build-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    assert "attention_av" in out and "icarus" in out


# ---- synthesis (yosys) ----------------------------------------------------------------------


@pytest.mark.slow
def test_synthesis_check_and_xcup_dsp_count(tmp_path, capsys):
    """p 2 x 4 lanes. Non-constant products: per slot 4 MAC products (24-bit P x 32-bit V), the
    exp's interpolation product and the probability product exp x 1/sum (the exp's log2(e) is a
    constant): 2 (4 + 2) = 12. None fits one DSP48E2 (27 x 18 signed: each has one operand
    of 23 bits or more and the other of 16 or more, over 18 bits on one side), so at least 24
    DSPs; the accumulator heads (8 x 59 bits) at least are flip-flops; nothing in block RAM.
    Through ``attnforge synth --unit attention_av --family xcup``."""
    from attnforge.cli import main
    from rtl.synth import multiplier_lower_bound, yosys_check

    params = {**SMALL, "p": 2}
    check = yosys_check(AttentionAVUnit(**params), "attention_av", tmp_path / "check")
    assert check.passed, check.log.read_text()[-3000:]
    assert multiplier_lower_bound(AttentionAVUnit(**params), "attention_av") == 12
    args = [arg for key, value in params.items() for arg in ("--param", f"{key}={value}")]
    with pytest.raises(SystemExit) as exited:
        main(["synth", "--unit", "attention_av", *args, "--family", "xcup",
              "--work-dir", str(tmp_path / "xcup")])
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    [row] = [line.split() for line in out.splitlines() if line.startswith("attention_av ")]
    lut, carry, ff, dsp, ramb = (int(v) for v in row[1:6])
    assert dsp >= 2 * 12 and ff >= 8 * (22 + 32 + 1 + 4) and ramb == 0 and lut > 0
