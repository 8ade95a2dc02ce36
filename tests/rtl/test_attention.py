"""Attention core (rtl/attention.py): parameter validation, ports, the golden model against
float64 and hand-worked cases, the reordered request and score order, Amaranth simulation and
the emitted Verilog on Icarus and Verilator (every request and score checked, random stalls and
back-pressure), and the measured cycle count against the closed form and the FPGA model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attnforge.specload import load_spec
from fpga.golden.attention import (
    AttentionFormat,
    K,
    Q,
    batches,
    beats,
    cycles,
    key_positions,
    request_order,
    score_order,
    scores,
)
from fpga.spec import Units
from fpga.units import Memory, attention_call
from fpga.workload import ViTSpec
from rtl.attention import AttentionUnit
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.spec import AttentionParams, RtlDesign
from rtl.tb.attention_vectors import AttentionBench, attention_format, operands, run_amaranth
from rtl.units import build_unit, check_unit, toplevel, variant_key

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SMALL = {"n": 9, "d": 16, "lanes": 4}  # 4 blocks per token, scale 1/4

BAD = [
    ({"p": 0}, "p must be an integer in 1..16, not 0"),
    ({"p": 17}, "p must be an integer in 1..16, not 17"),
    ({"lanes": 0}, "lanes must be an integer in 1..64, not 0"),
    ({"d": 0}, "d must be an integer in 1..4096, not 0"),
    ({"lanes": 6}, "lanes must divide d (64), not 6"),
    ({"n": 3}, "n must be an integer in 4..65536, not 3"),
    ({"p": 1, "n": 1}, "n must be an integer in 2..65536, not 1"),
    ({"act_bits": 1}, "act_bits must be an integer in 2..64, not 1"),
    ({"act_frac": 32}, "act_frac must be an integer in 0..31, not 32"),
    ({"d": 32}, "scale_shift must be given when d (32) is not a power of 4 (1/sqrt(d) is then "
                "no power of two)"),
    ({"scale_shift": -1}, "scale_shift must be an integer in 0..64, not -1"),
    ({"p": True}, "p must be an integer in 1..16, not True"),
    ({"n": "129"}, "n must be an integer in 4..65536, not '129'"),
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_parameter_one_message(params, message):
    with pytest.raises(RtlParamError) as err:
        AttentionUnit(**params)
    assert str(err.value) == message


def config_of(unit: AttentionUnit) -> dict:
    unit._MustUse__silence = True
    return unit.config()


def test_defaults_are_edge_moe():
    """p = 4 slots of 8 lanes, heads of 64 with scale 1/8, N = 129, Q10.22 (edgemoe.md §1-3)."""
    config = config_of(AttentionUnit())
    assert config == {"unit": "attention", "p": 4, "lanes": 8, "d": 64, "n": 129,
                      "act_bits": 32, "act_frac": 22, "scale_shift": 3}
    assert dataclasses.asdict(AttentionParams()) == {**dataclasses.asdict(AttentionFormat()),
                                                     "scale_shift": None}
    assert attention_format(config) == AttentionFormat()
    assert config_of(AttentionUnit(d=32, scale_shift=2))["scale_shift"] == 2
    assert config_of(AttentionUnit(d=16, lanes=4))["scale_shift"] == 2  # 1/sqrt(16)


@pytest.mark.parametrize(("params", "ports"), [
    ({**SMALL, "p": 2}, ["input [127:0] data__payload;", "output [6:0] req__payload;",
                         "output [39:0] score__payload;"]),
    # req: 1 + 8 (token < 129) + 3 (block < 8); score: 8 + 8 + 32
    ({}, ["input [255:0] data__payload;", "output [11:0] req__payload;",
          "output [47:0] score__payload;"]),
])
def test_ports_in_the_verilog(params, ports):
    verilog = verilog_text(AttentionUnit(**params), "attention")
    for port in [*ports, "input start;", "output busy;", "output req__valid;",
                 "input req__ready;", "input data__valid;", "output data__ready;",
                 "output score__valid;", "input score__ready;", "input clk;", "input rst;"]:
        assert port in verilog, port
    assert "src =" not in verilog and "/work" not in verilog


def test_verilog_is_deterministic():
    one = verilog_text(AttentionUnit(**SMALL), "attention")
    assert one == verilog_text(AttentionUnit(**SMALL), "attention")


# ---- golden model: arithmetic ---------------------------------------------------------------

HAND = AttentionFormat(p=1, lanes=1, d=2, n=2, act_bits=8, act_frac=4, scale_shift=1)


def test_golden_hand_worked_floor():
    """Q = (1.5, -0.25), (2.0, 0.0625); K = (0.5, 1.25), (-1.0, 0.0625), Q.4 (x16); scale 1/2:
    S00 = 0.4375/2 = 3.5/16 -> 3; S01 = -1.515625/2 = -12.125/16 -> -13 (floor, not
    truncation); S10 = 1.078125/2 = 8.625/16 -> 8; S11 = -1.99609375/2 = -15.97/16 -> -16."""
    q, k = np.array([[24, -4], [32, 1]]), np.array([[8, 20], [-16, 1]])
    assert scores(q, k, HAND).tolist() == [[3, -13], [8, -16]]


def test_golden_saturates_not_wraps():
    """(-8, -8)·(-8, -8)/2 = 64 > 7.9375 -> 127; (-8, -8)·(7.9375, 7.9375)/2 = -63.5 -> -128."""
    q = np.array([[-128, -128], [0, 0]])
    k = np.array([[-128, -128], [127, 127]])
    assert scores(q, k, HAND).tolist() == [[127, -128], [0, 0]]


def test_golden_against_float64():
    """|q|, |k| < 4 at d = 64: |Q·K/8| < 128, no saturation; real - y lies in [0, 2**-22) (one
    floor of the exact value), widened by float64's own error d 2**-53 sum|q k| / 8."""
    fmt = AttentionFormat(n=40)
    rng = np.random.default_rng(8)
    lsb = 2.0 ** -fmt.act_frac
    q = rng.integers(-(4 << 22) + 1, 4 << 22, size=(fmt.n, fmt.d))
    k = rng.integers(-(4 << 22) + 1, 4 << 22, size=(fmt.n, fmt.d))
    qf, kf = q / 2.0 ** 22, k / 2.0 ** 22
    real = qf @ kf.T / 8
    tol = fmt.d * 2.0 ** -53 * (np.abs(qf) @ np.abs(kf).T) / 8 * 1.01
    err = real - scores(q, k, fmt).astype(np.float64) * lsb
    assert np.all(err >= -tol) and np.all(err < lsb + tol)
    assert err.max() / lsb > 0.9 and err.min() / lsb < 0.1  # floor: the bound is tight


def test_golden_rejects_bad_operands():
    with pytest.raises(ValueError, match=r"q must have shape \(2, 2\)"):
        scores(np.zeros((2, 3), dtype=np.int64), np.zeros((2, 2), dtype=np.int64), HAND)
    with pytest.raises(ValueError, match="k must lie in the signed 8-bit"):
        scores(np.zeros((2, 2), dtype=np.int64), np.full((2, 2), 128), HAND)
    with pytest.raises(TypeError, match="must hold integers"):
        scores(np.zeros((2, 2)), np.zeros((2, 2), dtype=np.int64), HAND)


# ---- golden model: the reordered schedule ---------------------------------------------------


def test_request_and_score_order_hand_worked():
    """n = 3, p = 2, one block per token: 2 batches. Batch 0 (queries 0, 1): Q0 K0, Q1 K1, K2.
    Batch 1 (query 2 in slot 0; slot 1 still holds query 1 for key 0): Q2 K0, K1, K2."""
    fmt = AttentionFormat(p=2, lanes=1, d=1, n=3)
    assert request_order(fmt) == [(Q, 0, 0), (K, 0, 0), (Q, 1, 0), (K, 1, 0), (K, 2, 0),
                                  (Q, 2, 0), (K, 0, 0), (K, 1, 0), (K, 2, 0)]
    assert score_order(fmt) == [(0, 0), (0, 1), (1, 1), (0, 2), (1, 2),
                                (2, 0), (1, 0), (2, 1), (2, 2)]


def test_last_batch_only_completes_the_previous_queries():
    """n = 4, p = 2: 3 batches; query 3 (slot 1 of batch 1) still needs key 0, so batch 2
    streams one key token and loads nothing."""
    fmt = AttentionFormat(p=2, lanes=1, d=1, n=4)
    order = request_order(fmt)
    assert batches(4, 2) == 3 and key_positions(4, 2) == 9
    assert order[-2:] == [(K, 3, 0), (K, 0, 0)] and score_order(fmt)[-1] == (3, 0)


@pytest.mark.parametrize(("n", "p", "blocks"), [(9, 1, 4), (9, 2, 4), (9, 3, 2), (9, 4, 4),
                                                (10, 4, 1), (129, 4, 8), (17, 16, 2)])
def test_schedule_invariants(n, p, blocks):
    """Every (query, key) pair once; every query loaded once, blocks in order, right before
    the same block of key token (query mod p); each key token once per batch position."""
    fmt = AttentionFormat(p=p, lanes=1, d=blocks, n=n)
    assert sorted(score_order(fmt)) == [(i, j) for i in range(n) for j in range(n)]
    order = request_order(fmt)
    loads = [(i, r) for i, r in enumerate(order) if r[0] == Q]
    assert [r[1:] for _, r in loads] == [(t, e) for t in range(n) for e in range(blocks)]
    for i, (_, token, block) in loads:
        assert order[i + 1] == (K, token % p, block)
    keys = [r for r in order if r[0] == K]
    assert len(keys) == key_positions(n, p) * blocks == (beats(fmt) - n * blocks)
    # ceil((n + p - 1) / p) batches of n key tokens, less the keys a last batch skips
    assert key_positions(n, p) <= -(-(n + p - 1) // p) * n
    assert (key_positions(n, p) == -(-(n + p - 1) // p) * n) == ((n - 1) % p == 0)


def edge_moe_hls_order(n: int, p: int, blocks: int) -> list[tuple[int, int, int]]:
    """The loop nest of Edge-MoE's HLS ``compute_q_matmul_k`` (sharc-lab/Edge-MoE
    src/attention.cpp), written out independently: q_patch from 0 to n + p - 1 step p, k_patch
    over n, dim blocks; stop once ``q_patch_base >= n and k_patch >= (n + p - 1) % p`` (when
    that remainder is nonzero); a query block is read when ``k_patch < p and q_patch_base +
    k_patch < n``, then the key block."""
    order, overflow = [], (n + p - 1) % p
    for base in range(0, n + p - 1, p):
        for k in range(n):
            if overflow > 0 and base >= n and k >= overflow:
                return order
            for e in range(blocks):
                if k < p and base + k < n:
                    order.append((Q, base + k, e))
                order.append((K, k, e))
    return order


@pytest.mark.parametrize(("n", "p"), [(9, 1), (9, 2), (9, 3), (9, 4), (10, 4), (129, 4),
                                      (129, 3), (17, 16), (2, 2)])
def test_request_order_is_edge_moe_hls_loop_nest(n, p):
    fmt = AttentionFormat(p=p, lanes=1, d=2, n=n)
    assert request_order(fmt) == edge_moe_hls_order(n, p, 2)


# ---- simulation: Amaranth -------------------------------------------------------------------


def run_heads(params: dict, stalls: bool) -> list:
    unit = AttentionUnit(**params)
    config = unit.config()
    fmt = attention_format(config)
    q1, k1 = operands(fmt, seed=1, full_range=not stalls)
    q2, k2 = operands(fmt, seed=2, full_range=stalls)
    if stalls:
        benches = [AttentionBench(config, q1, k1, 1, p_req=0.7, p_data=0.6, p_score=0.5),
                   AttentionBench(config, q2, k2, 2, p_req=0.9, p_data=0.8, p_score=0.3,
                                  mem_latency=3)]
    else:
        benches = [AttentionBench(config, q1, k1, 1), AttentionBench(config, q2, k2, 2)]
    return run_amaranth(unit, benches, limit=20 * beats(fmt) + 200)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_amaranth_sim_stalls_and_backpressure(p):
    """Two heads back to back (no reset between), every request and score checked."""
    stats = run_heads({**SMALL, "p": p}, stalls=True)
    fmt = AttentionFormat(p=p, scale_shift=2, **SMALL)
    assert all(s.beats == beats(fmt) and s.scores == 81 for s in stats)
    assert all(s.cycles > cycles(fmt) for s in stats)  # the stalls cost cycles


@pytest.mark.timeout(120)
@pytest.mark.parametrize("params", [
    {**SMALL, "p": 3}, {"p": 4, "lanes": 2, "d": 16, "n": 10},  # a last batch of 1 key
    {"p": 3, "lanes": 3, "d": 9, "n": 7, "act_bits": 8, "act_frac": 4, "scale_shift": 0},
    {"p": 4, "lanes": 4, "d": 4, "n": 4, "scale_shift": 1},  # one block per token, n = p
    {"p": 1, "lanes": 1, "d": 1, "n": 2, "act_bits": 4, "act_frac": 1, "scale_shift": 0},
    {**SMALL, "p": 8}, {"p": 16, "lanes": 2, "d": 16, "n": 17},
], ids=["small-p3", "last-batch-1-key", "narrow", "one-block", "tiny", "p8-4-blocks",
        "p16-8-blocks"])
def test_amaranth_sim_cycles_equal_the_closed_form(params):
    """No stalls: beats = every request once; cycles = memory latency 1 + beats + 4 while
    p <= d / lanes, more (the golden sum) when a key position's live queries outnumber its
    beats and the score port sets the pace."""
    fmt = attention_format(config_of(AttentionUnit(**params)))
    for stats in run_heads(params, stalls=False):
        assert stats.beats == beats(fmt) == len(request_order(fmt))
        assert stats.cycles == cycles(fmt)
        if fmt.p <= fmt.blocks:
            assert stats.cycles == 1 + len(request_order(fmt)) + 4
        else:
            assert stats.cycles > 1 + len(request_order(fmt)) + 4


@pytest.mark.timeout(120)
def test_amaranth_sim_more_slots_than_blocks_stalls_but_is_exact():
    """p = 8 slots, 4 blocks per token: the score port sets the pace, results stay exact."""
    stats = run_heads({**SMALL, "p": 8}, stalls=True)
    assert all(s.scores == 81 for s in stats)


def model_compute(n: int, p: int, d: int, lanes: int) -> int:
    """fpga.units.attention_call's compute cycles for one head (d_model = d, heads = 1) on a
    memory too fast to matter: the call's cycles are then its compute term."""
    spec = ViTSpec(image_h=16, image_w=16 * (n - 1), d_model=d, heads=1)
    call = attention_call(Units(attn_p=p, attn_lanes=lanes), Memory(1e12, 1e12, 0), spec,
                          "qk", reorder=True, fused_softmax=False)
    return call.cycles


@pytest.mark.timeout(300)
@pytest.mark.parametrize("p", [1, 2, 3, 4, 8])
def test_measured_cycles_against_closed_form_and_fpga_model(p):
    """One head, n = 33, d = 64 on 8 lanes, no stalls. Measured = closed form; one beat per
    cycle whatever p; against the model's key positions x d/lanes (ceil((n + p - 1)/p) n,
    less n - (n - 1) mod p for a last batch that only completes earlier queries): the query
    loads (n d/lanes beats on the unit's one port; the model reads Q on its own port) and the
    pipeline (memory latency 1 + 4) come on top."""
    n, d, lanes = 33, 64, 8
    fmt = AttentionFormat(p=p, lanes=lanes, d=d, n=n)
    [stats, _] = run_heads({"p": p, "lanes": lanes, "d": d, "n": n}, stalls=False)
    assert stats.cycles == cycles(fmt)
    assert stats.beats / stats.cycles > 1 - 6 / stats.cycles  # one beat per cycle
    model = model_compute(n, p, d, lanes)
    skipped = 0 if (n - 1) % p == 0 else n - (n - 1) % p
    assert model == (-(-(n + p - 1) // p) * n - skipped) * (d // lanes)
    assert stats.cycles - model == n * (d // lanes) + 5


# ---- simulation: emitted Verilog on Icarus and Verilator ------------------------------------


# one-block: d = lanes (a 1-word slot memory had a 0-bit address: Verilator ASCRANGE) and n = p
@pytest.mark.parametrize("params", [{**SMALL, "p": p} for p in (1, 2, 3, 4)] + [
    {"p": 4, "lanes": 4, "d": 4, "n": 4, "scale_shift": 1},
    pytest.param({}, marks=pytest.mark.slow)],  # 35k cycles a head: ~90 s on Icarus
    ids=["p1", "p2", "p3", "p4", "one-block", "default"])
def test_verilog_every_request_and_score(params, hdl_sim_ready, hdl_build_dir):
    """Both cocotb tests: no stalls (cycles and beats equal the closed form) and random
    stalls with back-pressure over two heads."""
    unit = AttentionUnit(**params)
    result = check_unit(unit, hdl_sim_ready,
                        hdl_build_dir(toplevel(unit), hdl_sim_ready, variant_key(unit)))
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 2


# ---- registry, design files, CLI ------------------------------------------------------------


def test_registry_and_design_file(tmp_path):
    assert config_of(build_unit("attention", {"p": 2}))["p"] == 2
    with pytest.raises(RtlParamError, match="has no parameter 'slots'"):
        build_unit("attention", {"slots": 2})
    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nkind: rtl\nname: x\nattention: {p: 2, n: 9, d: 16, lanes: 4}\n")
    [(module, unit, params)] = load_spec(path, RtlDesign).selected()
    assert (module, unit) == ("attention", "attention")
    assert config_of(build_unit(unit, params)) == config_of(AttentionUnit(p=2, **SMALL))


def test_cli_verilog_same_bytes_twice(tmp_path, capsys):
    from attnforge.cli import main

    texts = []
    for out in (tmp_path / "a", tmp_path / "b"):
        with pytest.raises(SystemExit) as exited:
            main(["verilog", "--unit", "attention", "--out", str(out)])
        assert exited.value.code == 0
        texts.append((out / "attention.v").read_text())
    capsys.readouterr()
    assert texts[0] == texts[1] and "module attention(" in texts[0]


def test_cli_bad_parameter_exits_2(tmp_path, capsys):
    from attnforge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verilog", "--unit", "attention", "--param", "lanes=6", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "lanes must divide d (64), not 6" in capsys.readouterr().err


@pytest.mark.rtl
def test_cli_verify_small(tmp_path, capsys):
    from attnforge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verify", "--unit", "attention", "--param", "p=2", "--param", "n=9",
              "--param", "d=16", "--param", "lanes=4", "--sim", "icarus",
              "--build-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    assert "attention" in out and "icarus" in out


# ---- synthesis (yosys) ----------------------------------------------------------------------


@pytest.mark.slow
def test_synthesis_check_and_xcup_dsp_count(tmp_path, capsys):
    """p 2 x 4 lanes: 8 products of 32 x 32 bits (the only multipliers); a DSP48E2 multiplies
    27 x 18 signed, so each product takes four (both operands split in two); the product
    registers (8 x 64 bits) at least are flip-flops; the slot memories are not block RAM.
    Through ``attnforge synth --unit attention --family xcup``."""
    from attnforge.cli import main
    from rtl.synth import multiplier_lower_bound, yosys_check

    params = {**SMALL, "p": 2}
    check = yosys_check(AttentionUnit(**params), "attention", tmp_path / "check")
    assert check.passed, check.log.read_text()[-3000:]
    assert multiplier_lower_bound(AttentionUnit(**params), "attention") == 8
    args = [arg for key, value in params.items() for arg in ("--param", f"{key}={value}")]
    with pytest.raises(SystemExit) as exited:
        main(["synth", "--unit", "attention", *args, "--family", "xcup",
              "--work-dir", str(tmp_path / "xcup")])
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    [row] = [line.split() for line in out.splitlines() if line.startswith("attention ")]
    lut, carry, ff, dsp, ramb = (int(v) for v in row[1:6])
    assert dsp == 8 * 4 and ff >= 8 * 64 and ramb == 0 and lut > 0
