"""One attention head end to end (rtl/attention_head.py): the golden chain (Q·K → per-slot
single-pass softmax in arrival order → A·V) against float64 softmax(Q·K/sqrt(d))·V within the
parts' propagated bound; the memory layout against what the A·V core reads; parameters and
ports; Amaranth simulation and the emitted Verilog on Icarus and Verilator (every memory write,
read-after-write through one memory, every output, random stalls); measured cycles against the
two cores' closed forms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attnforge.specload import load_spec
from fpga.golden import attention as qk
from fpga.golden import attention_av as av
from fpga.golden.attention_head import (
    EXP_STAGES,
    HeadFormat,
    arrival_order,
    chain,
    cores_cycles,
    cycles,
    divider_cycles,
    error_bound,
    hand_over,
    memory_map,
    score_writes,
)
from fpga.golden.exp import reciprocal_fixed
from fpga.golden.softmax import softmax_row_state, softmax_step
from rtl.attention_head import AttentionHead, head_format
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.exp_core import EXP_LATENCY
from rtl.reciprocal import ReciprocalUnit
from rtl.spec import AttentionHeadParams, RtlDesign
from rtl.tb.attention_head_vectors import HeadBench, fmt_of, operands, run_amaranth, run_limit
from rtl.units import build_unit, check_unit, toplevel, variant_key

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SMALL = {"n": 9, "d": 16, "lanes": 4}  # 4 blocks per token, scale 1/4
U = 2.0 ** -22


def config_of(unit) -> dict:
    unit._MustUse__silence = True
    return unit.config()


# ---- golden chain ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "p"), [(9, 1), (9, 2), (9, 4), (10, 4), (17, 16), (129, 4)])
def test_arrival_order_is_each_row_rotated_by_its_slot(n, p):
    """Query q sits in slot q mod p and meets keys q mod p .. n-1, then 0 .. q mod p - 1
    (edgemoe.md §3.5's stagger); a slot's rows arrive one after another."""
    fmt = head_format(p=p, lanes=max(p, 2), d=max(p, 2) * 4 if p != 16 else 16, n=n,
                      scale_shift=1)
    for q, keys in enumerate(arrival_order(fmt)):
        s = q % p
        assert keys == list(range(s, n)) + list(range(s)), q
    for s in range(p):
        slot_rows = [q for q, _ in qk.score_order(fmt.qk) if q % p == s]
        assert slot_rows == sorted(slot_rows)


def test_row_state_is_the_slot_stream_through_softmax_step():
    """Each slot's scores, streamed through softmax_step in the order they leave the Q·K core
    (resetting at each row's last key), give the chain's (recip, b); the natural key order
    gives a different 1/sum in some rows (the running sum rounds at each rescale), so the
    order is not a detail."""
    fmt = head_format(p=4, lanes=8, d=64, n=40)
    q, k, v = operands(fmt, seed=4)
    y, recip, b, _ = chain(q, k, v, fmt)
    lo = -(1 << 31)
    state = {s: (np.int64(lo), np.int64(0)) for s in range(4)}
    seen = {i: 0 for i in range(40)}
    for i, j in qk.score_order(fmt.qk):
        bb, total = softmax_step(*state[i % 4], np.int64(y[i, j]), fmt.av.softmax)
        state[i % 4] = (bb, total)
        seen[i] += 1
        if seen[i] == 40:
            assert bb == b[i]
            assert reciprocal_fixed(np.array([total]), fmt.av.softmax.recip)[0] == recip[i]
            state[i % 4] = (np.int64(lo), np.int64(0))
    natural, _ = softmax_row_state(y, fmt.av.softmax)
    assert 0 < np.count_nonzero(natural != recip) < 40


@pytest.mark.parametrize(("params", "near"), [({"p": 4, "lanes": 8, "d": 64, "n": 40}, 4.0),
                                              ({**SMALL, "p": 2}, 4.0),
                                              ({"p": 3, "lanes": 4, "d": 64, "n": 23}, 8.0)])
def test_golden_chain_against_float64_attention(params, near):
    """O against float64 softmax(Q K^T / sqrt(d)) V within the bound propagated from the Q·K
    floor (2**-22 per score), the exp's and 1/sum's documented errors and the roundings; the
    bound is informative (< 1e-3 on values below 4-8) and the error is not zero."""
    fmt = head_format(**params)
    q, k, v = operands(fmt, seed=8, near=near)
    *_, o = chain(q, k, v, fmt)
    t = (q * U) @ (k * U).T / 2.0 ** fmt.qk.scale_shift
    e = np.exp(t - t.max(axis=1, keepdims=True))
    want = (e / e.sum(axis=1, keepdims=True)) @ (v * U)
    err, bound = np.abs(o * U - want), error_bound(q, k, v, fmt)
    assert np.all(err <= bound)
    assert bound.max() < 1e-3 and err.max() > U


def test_memory_map_hand_worked():
    """n 3, p 2, d = lanes = 2 (one beat a token): Q 0..2, K 3..5, V 6..8, scores at 9 for
    ceil((3 + 1) / 2) = 2 batches of 3 keys, row states 15..17."""
    fmt = head_format(p=2, lanes=2, d=2, n=3, scale_shift=0)
    assert dataclasses.astuple(memory_map(fmt)) == (0, 3, 6, 9, 15, 18)


@pytest.mark.parametrize(("n", "p"), [(9, 2), (9, 3), (10, 4), (5, 4)])
def test_score_writes_fill_exactly_what_the_av_core_reads(n, p):
    """Every (beat, element) the A·V core reads a score from (a SCORES request, each slot
    holding a query there) is written exactly once, with that query's score for that key."""
    fmt = head_format(p=p, lanes=4, d=8, n=n, scale_shift=1)
    y = np.arange(n * n).reshape(n, n)
    writes = {(a, s): score for a, s, score in score_writes(y, fmt)}
    assert len(writes) == n * n
    mm, read = memory_map(fmt), {}
    for kind, key, _, batch in av.request_order(fmt.av):
        if kind == av.SCORES:
            for s in range(p):
                query = qk.slot_query(n, p, batch * p, key, s)
                if query is not None:
                    read[(mm.scores + batch * n + key, s)] = int(y[query, key])
    assert read == writes


# ---- construction ---------------------------------------------------------------------------

BAD = [
    ({"p": 9}, "p must be at most lanes (8): one beat carries a key position's p scores, not 9"),
    ({"lanes": 6}, "lanes must divide d (64), not 6"),
    ({"d": 32}, "scale_shift must be given when d (32) is not a power of 4 (1/sqrt(d) is then "
                "no power of two)"),
    ({"act_bits": 41}, "act_bits must be an integer in 3..40, not 41"),
    ({"n": 3}, "n must be an integer in 4..65536, not 3"),
    ({"recip_frac": 32}, "recip_frac must be an integer in 1..31, not 32"),
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_parameter_one_message(params, message):
    with pytest.raises(RtlParamError) as err:
        AttentionHead(**params)
    assert str(err.value) == message


def test_defaults_are_edge_moe():
    config = config_of(AttentionHead())
    assert config == {"unit": "attention_head", "p": 4, "lanes": 8, "d": 64, "n": 129,
                      "act_bits": 32, "act_frac": 22, "scale_shift": 3, "const_bits": 30,
                      "t_frac": 24, "table_log2": 8, "entry_frac": 30, "recip_frac": 30}
    assert {**dataclasses.asdict(AttentionHeadParams()), "scale_shift": 3} == \
        {k: v for k, v in config.items() if k != "unit"}
    assert fmt_of(config) == HeadFormat(qk.AttentionFormat(), av.AttentionAVFormat())


def test_ports_in_the_verilog_and_same_bytes():
    """Small, p 2: 36 beats each for Q, K, V, 5 batches x 9 score beats, 9 row states: 162
    beats, 8-bit addresses; wr = addr 8 + strobe 4 + 4 x 32; out = query 4 + block 2 + 4 x 32."""
    text = verilog_text(AttentionHead(**SMALL, p=2), "attention_head")
    for port in ["output [7:0] rd__payload;", "input [127:0] data__payload;",
                 "output [139:0] wr__payload;", "output [133:0] out__payload;", "input start;",
                 "output busy;", "input wr__ready;", "output wr__valid;", "input rd__ready;"]:
        assert port in text, port
    assert "src =" not in text and "/work" not in text
    assert text == verilog_text(AttentionHead(**SMALL, p=2), "attention_head")


# ---- simulation: Amaranth -------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_amaranth_sim_stalls_and_backpressure(p):
    """Two heads back to back (no reset): full-range operands with random read, data and
    write stalls and output back-pressure, then realistic ones with memory latency 3. Every
    write, read-after-write and output checked by the bench."""
    unit = AttentionHead(**SMALL, p=p)
    config = unit.config()
    fmt = fmt_of(config)
    benches = [HeadBench(config, *operands(fmt, 1, near=0), 1, p_rd=0.7, p_data=0.6, p_wr=0.5,
                         p_out=0.5),
               HeadBench(config, *operands(fmt, 2), 2, p_rd=0.9, p_data=0.8, p_wr=0.6,
                         p_out=0.3, mem_latency=3)]
    stats = run_amaranth(unit, benches, run_limit(fmt, 0.3))
    assert all(s.writes == 81 + 9 and s.outputs == 9 * 4 for s in stats)
    assert all(s.beats == qk.beats(fmt.qk) + av.beats(fmt.av) for s in stats)


NARROW = {"act_bits": 16, "act_frac": 8, "const_bits": 16, "t_frac": 12, "table_log2": 4,
          "entry_frac": 12, "recip_frac": 12}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("params", [
    {"p": 4, "lanes": 4, "d": 4, "n": 4},  # n = p: every slot loads in batch 0, one block
    {"p": 4, "lanes": 4, "d": 8, "n": 10, "scale_shift": 1},  # a last batch of one key
    {"p": 2, "lanes": 2, "d": 4, "n": 2},  # the smallest
    {"p": 1, "lanes": 2, "d": 4, "n": 3},
    {"p": 3, "lanes": 4, "d": 16, "n": 7, **NARROW},  # Q8.8, 1/sum Q1.12
], ids=["n-eq-p", "last-batch-1-key", "tiny", "p1", "narrow"])
def test_amaranth_sim_edge_geometries(params):
    """Stalls on full-range operands, then a clean head, with every write and output checked."""
    unit = AttentionHead(**params)
    config = unit.config()
    fmt = fmt_of(config)
    benches = [HeadBench(config, *operands(fmt, 1, near=0), 1, p_rd=0.7, p_data=0.6,
                         p_wr=0.5, p_out=0.5), HeadBench(config, *operands(fmt, 2), 2)]
    stats = run_amaranth(unit, benches, run_limit(fmt, 0.5))
    assert all(s.writes == fmt.n * fmt.n + fmt.n for s in stats)
    assert stats[1].cycles >= cycles(fmt)


def test_hand_over_from_the_units_latencies():
    """3 + the softmax's exp stages + the divider's quotient bits: 3 + 7 + 55 = 65."""
    fmt = head_format()
    assert EXP_STAGES == EXP_LATENCY
    recip = ReciprocalUnit(22, 30, 32)
    recip._MustUse__silence = True
    assert divider_cycles(fmt) == recip.num_bits == 22 + 30 + 2 + 1
    assert hand_over(fmt) == 65


@pytest.mark.timeout(120)
@pytest.mark.parametrize("p", [2, 4])
def test_amaranth_sim_cycles_equal_cores_plus_hand_over(p):
    """n 33, d 64 on 8 lanes, no stalls: a slot's rows end >= 264 cycles apart, so no softmax
    holds the scores; the head takes the Q·K core's closed form, the hand-over, then the A·V
    core's closed form."""
    unit = AttentionHead(p=p, lanes=8, d=64, n=33)
    config = unit.config()
    fmt = fmt_of(config)
    [stats] = run_amaranth(unit, [HeadBench(config, *operands(fmt, 1), 1)], run_limit(fmt, 1))
    assert stats.cycles == cycles(fmt) == cores_cycles(fmt) + 65
    assert stats.phase2 - stats.first_request == qk.cycles(fmt.qk) + 65


@pytest.mark.timeout(120)
def test_amaranth_sim_small_head_pays_softmax_stalls():
    """n 9, d 16, 4 lanes, p 2: a slot's row lasts ~40 cycles, less than the divider's 55, so
    the softmax holds the scores at row ends: phase 1 takes longer than the Q·K core plus the
    hand-over; phase 2 is the A·V core's closed form exactly."""
    unit = AttentionHead(**SMALL, p=2)
    config = unit.config()
    fmt = fmt_of(config)
    [stats] = run_amaranth(unit, [HeadBench(config, *operands(fmt, 1), 1)], run_limit(fmt, 1))
    phase1 = stats.phase2 - stats.first_request
    assert phase1 > qk.cycles(fmt.qk) + hand_over(fmt)
    assert stats.cycles - phase1 == av.cycles(fmt.av)


# ---- simulation: emitted Verilog on Icarus and Verilator ------------------------------------


@pytest.mark.parametrize("params", [{**SMALL, "p": 2}, {**SMALL, "p": 4}], ids=["p2", "p4"])
def test_verilog_every_write_and_output(params, hdl_sim_ready, hdl_build_dir):
    """Both cocotb tests: no stalls (beats, cycles >= the closed form) and random stalls with
    back-pressure over two heads."""
    unit = AttentionHead(**params)
    result = check_unit(unit, hdl_sim_ready,
                        hdl_build_dir(toplevel(unit), hdl_sim_ready, variant_key(unit)))
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 2


# ---- registry, design files, CLI ------------------------------------------------------------


def test_registry_and_design_file(tmp_path):
    assert config_of(build_unit("attention_head", {"p": 2}))["p"] == 2
    with pytest.raises(RtlParamError, match="has no parameter 'slots'"):
        build_unit("attention_head", {"slots": 2})
    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nkind: rtl\nname: x\n"
                    "attention_head: {p: 2, n: 9, d: 16, lanes: 4}\n")
    [(module, unit, params)] = load_spec(path, RtlDesign).selected()
    assert (module, unit) == ("attention_head", "attention_head")
    assert config_of(build_unit(unit, params)) == config_of(AttentionHead(p=2, **SMALL))


def test_cli_verilog_same_bytes_twice(tmp_path, capsys):
    from attnforge.cli import main

    texts = []
    for out in (tmp_path / "a", tmp_path / "b"):
        with pytest.raises(SystemExit) as exited:
            main(["verilog", "--unit", "attention_head", "--param", "n=9", "--param", "d=16",
                  "--param", "lanes=4", "--out", str(out)])
        assert exited.value.code == 0
        texts.append((out / "attention_head.v").read_text())
    capsys.readouterr()
    assert texts[0] == texts[1] and "module attention_head(" in texts[0]


def test_cli_bad_parameter_exits_2(tmp_path, capsys):
    from attnforge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verilog", "--unit", "attention_head", "--param", "p=9", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "p must be at most lanes (8)" in capsys.readouterr().err


@pytest.mark.rtl
def test_cli_verify_small(tmp_path, capsys):
    from attnforge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verify", "--unit", "attention_head", "--param", "p=2", "--param", "n=9",
              "--param", "d=16", "--param", "lanes=4", "--sim", "icarus",
              "--build-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    assert "attention_head" in out and "icarus" in out
