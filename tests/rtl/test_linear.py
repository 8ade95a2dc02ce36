"""Linear MAC block (rtl/linear.py): parameter validation, ports, the golden model against
float64 and hand-worked cases, Amaranth simulation and the emitted Verilog on Icarus and
Verilator, each word checked at the stated latency against fpga.golden.linear."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from amaranth.hdl import Value

from attnforge.specload import SpecError, load_spec
from fpga.golden.linear import LinearFormat, accumulate, linear_block, no_wrap_terms
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.linear import LATENCY, LinearUnit
from rtl.runner import missing_tools, run_cocotb
from rtl.spec import LinearParams, RtlDesign
from rtl.tb.amsim import run_schedule
from rtl.tb.linear_vectors import Scoreboard, linear_tokens, schedule
from rtl.tb.systolic_vectors import pack_vector
from rtl.units import build_unit, check_unit, toplevel, variant_key
from tests.conftest import sims_required

# Some tests build a unit only for its config(); Amaranth would warn that it was never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

NARROW = {"in_par": 4, "out_par": 3, "act_bits": 8, "act_frac": 4, "weight_bits": 6,
          "weight_frac": 4, "acc_bits": 12}  # the smallest accumulator: act_bits + weight_frac
SLOT = {"in_par": 8, "out_par": 1, "weight_bits": 32, "weight_frac": 22}  # attention slot

BAD = [
    ({"in_par": 0}, "in_par must be an integer in 1..64, not 0"),
    ({"out_par": 65}, "out_par must be an integer in 1..64, not 65"),
    ({"act_bits": 1}, "act_bits must be an integer in 2..64, not 1"),
    ({"act_frac": 32}, "act_frac must be an integer in 0..31, not 32"),
    ({"weight_bits": 65}, "weight_bits must be an integer in 2..64, not 65"),
    ({"weight_frac": -1}, "weight_frac must be an integer in 0..15, not -1"),
    ({"acc_bits": 45}, "acc_bits must be an integer in 46..112, not 45"),
    ({"acc_bits": 113}, "acc_bits must be an integer in 46..112, not 113"),
    ({"in_par": True}, "in_par must be an integer in 1..64, not True"),
    ({"out_par": "16"}, "out_par must be an integer in 1..64, not '16'"),
    ({"in_par": 64, "out_par": 64},
     "in_par 64 is too large for out_par 64, act_bits 32 and weight_bits 16: x and w would "
     "have 67584 bits (in_par * (act_bits + out_par * weight_bits)), at most 65531"),
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_parameter_one_message(params, message):
    with pytest.raises(RtlParamError) as err:
        LinearUnit(**params)
    assert str(err.value) == message


def test_defaults_are_edge_moe_and_match_the_golden_format():
    """16 x 16, Q10.22 activations, Q2.14 weights, 32 + 16 + 10 accumulator bits (edgemoe.md
    §2, §4); the design-file dataclass and the golden format agree."""
    config = LinearUnit().config()
    assert config == {"unit": "linear", "in_par": 16, "out_par": 16, "act_bits": 32,
                      "act_frac": 22, "weight_bits": 16, "weight_frac": 14, "acc_bits": 58}
    spec = dataclasses.asdict(LinearParams())
    assert spec == {**dataclasses.asdict(LinearFormat()), "acc_bits": None}
    assert dataclasses.asdict(LinearFormat()) == {k: v for k, v in config.items() if k != "unit"}


def test_latency_is_three_registers():
    assert LATENCY == 3  # products, tree sums, accumulator (the module docstring's pipeline)


@pytest.mark.parametrize(("params", "ports"), [
    ({"in_par": 4, "out_par": 3},
     ["input [127:0] x;", "input [191:0] w;", "output [95:0] y;", "output y_valid;"]),
    (SLOT, ["input [255:0] x;", "input [255:0] w;", "output [31:0] y;"]),
    ({}, ["input [511:0] x;", "input [4095:0] w;", "output [511:0] y;"]),
])
def test_port_widths_in_the_verilog(params, ports):
    verilog = verilog_text(LinearUnit(**params), "linear")
    for port in [*ports, "input valid;", "input first;", "input last;", "input clk;",
                 "input rst;"]:
        assert port in verilog
    assert "src =" not in verilog and "/work" not in verilog


def test_verilog_is_deterministic():
    assert verilog_text(LinearUnit(**SLOT), "linear") == verilog_text(LinearUnit(**SLOT), "linear")


# ---- golden model ---------------------------------------------------------------------------

HAND = LinearFormat(in_par=2, out_par=2, act_bits=8, act_frac=4, weight_bits=6, weight_frac=4,
                    acc_bits=14)


def test_golden_hand_worked_two_blocks():
    """x = (1.5, -0.25 | 2.0, 0.0625), w columns (0.5, 1.25 | -0.5, -1.0) and
    (-1.0, 0.0625 | 1.5, -0.0625), all Q.4 (x16): column 0 = 0.75 - 0.3125 - 1.0 - 0.0625 =
    -0.625 = -10/16 exactly; column 1 = -1.5 - 0.015625 + 3.0 - 0.00390625 = 1.48046875 =
    379/256, floored to 23/16 = 1.4375."""
    x = np.array([24, -4, 32, 1])
    w = np.array([[8, -16], [20, 1], [-8, 24], [-16, -1]])
    assert list(linear_block(x, w, HAND)) == [-10, 23]
    assert list(accumulate(x, w, HAND)) == [-160, 379]


def test_golden_floors_and_wraps_the_output():
    one = LinearFormat(**{**dataclasses.asdict(HAND), "in_par": 1, "out_par": 1})
    # -1/16 * 1/16 = -1/256: floor to -1/16 (rounding would give 0)
    assert list(linear_block([-1], [[1]], one)) == [-1]
    # 127/16 * 31/16 * 2 = 7874/256 -> 492/16, beyond 8 bits: 492 - 512 = -20
    two = LinearFormat(**{**dataclasses.asdict(HAND), "out_par": 1})
    assert list(linear_block([127, 127], [[31], [31]], two)) == [-20]


def test_golden_accumulator_wraps_exactly_beyond_the_stated_bound():
    """acc = a + w + g bits: K = 2**(g+1) - 1 largest products (-2**(a-1))**... = 2**(a+w-2)
    each fit; one more reaches 2**(acc-1) and wraps to -2**(acc-1)."""
    fmt = LinearFormat(in_par=1, out_par=1, act_bits=4, act_frac=2, weight_bits=4,
                       weight_frac=2, acc_bits=4 + 4 + 2)
    assert no_wrap_terms(fmt) == 7
    assert list(accumulate(np.full(7, -8), np.full((7, 1), -8), fmt)) == [7 * 64]
    assert list(accumulate(np.full(8, -8), np.full((8, 1), -8), fmt)) == [-512]
    assert no_wrap_terms(LinearFormat()) == 2047  # beyond Edge-MoE's largest K, 768
    assert no_wrap_terms(LinearFormat(acc_bits=32 + 14)) == 0


def test_golden_output_does_not_depend_on_accumulator_width():
    """y is bits [weight_frac, weight_frac + act_bits) of the sum modulo 2**acc_bits: every
    acc_bits >= act_bits + weight_frac gives the same y, on operands that wrap everything."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        x = rng.integers(-(2**31), 2**31, size=48)
        w = rng.integers(-(2**15), 2**15, size=(48, 5))
        outs = {tuple(linear_block(x, w, LinearFormat(out_par=5, acc_bits=acc)))
                for acc in (46, 47, 48, 58, 80)}
        assert len(outs) == 1


@pytest.mark.parametrize("fmt", [LinearFormat(), LinearFormat(
    in_par=8, out_par=1, weight_bits=32, weight_frac=22)], ids=["default", "slot"])
def test_golden_against_float64(fmt):
    """No wrap (|x| < 4, |w| < 1, K = 64: |sum| < 256 < 512): real - y lies in [0, 2**-act_frac)
    (one floor at the end), widened by float64's own summation error K * 2**-53 * sum|x w|."""
    rng = np.random.default_rng(7)
    lsb = 2.0 ** -fmt.act_frac
    errors = []
    for _ in range(60):
        x = rng.integers(-(4 << fmt.act_frac) + 1, 4 << fmt.act_frac, size=64)
        w = rng.integers(-(1 << fmt.weight_frac) + 1, 1 << fmt.weight_frac,
                         size=(64, fmt.out_par))
        xf, wf = x / 2.0 ** fmt.act_frac, w / 2.0 ** fmt.weight_frac
        real = xf @ wf
        tol = 64 * 2.0 ** -53 * (np.abs(xf) @ np.abs(wf)) * 1.01
        err = real - linear_block(x, w, fmt) * lsb
        assert np.all(err >= -tol) and np.all(err < lsb + tol)
        errors.extend(err / lsb)
    assert max(errors) > 0.9 and min(errors) < 0.1  # floor, not rounding: the bound is tight


@pytest.mark.parametrize(("x", "w", "error"), [
    (np.zeros(3, dtype=np.int64), np.zeros((3, 2), dtype=np.int64), "multiple of in_par 2"),
    (np.zeros(4, dtype=np.int64), np.zeros((4, 3), dtype=np.int64), "w must have shape (4, 2)"),
    (np.array([128, 0]), np.zeros((2, 2), dtype=np.int64), "x must lie in the signed 8-bit"),
    (np.zeros(2, dtype=np.int64), np.full((2, 2), -33), "w must lie in the signed 6-bit"),
])
def test_golden_rejects_bad_operands(x, w, error):
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        linear_block(x, w, HAND)


# ---- scoreboard and simulation --------------------------------------------------------------


def test_scoreboard_rejects_wrong_word_and_wrong_cycle():
    config = {"unit": "linear", **dataclasses.asdict(HAND)}
    x, w = np.array([24, -4, 32, 1]), np.array([[8, -16], [20, 1], [-8, 24], [-16, -1]])
    board = Scoreboard(config, [(x, w)], last=[1], latency=3)
    with pytest.raises(AssertionError, match="y_valid high in cycle 3"):
        board.observe(3, pack_vector([-10, 23], 8), 1)
    with pytest.raises(AssertionError, match="y_valid low in cycle 4"):
        board.observe(4, 0, 0)
    with pytest.raises(AssertionError, match=r"y\[1\]: got 24, expected 23"):
        board.observe(4, pack_vector([-10, 24], 8), 1)
    with pytest.raises(AssertionError, match="never produced"):
        board.finish()
    board.observe(4, pack_vector([-10, 23], 8), 1)
    board.finish()


def test_schedule_idles_and_streams_back_to_back():
    config = LinearUnit(**NARROW).config()
    tokens = linear_tokens(config, seed=1, count=6)
    blocks = sum(len(x) // NARROW["in_par"] for x, _ in tokens)
    dense, last = schedule(config, tokens, seed=1, p_idle=0.0, drain=0)
    assert len(dense) == blocks and all(c["valid"] for c in dense)
    assert [c["first"] for c in dense].count(1) == len(tokens) == len(last)
    sparse, _ = schedule(config, tokens, seed=1, p_idle=0.5, drain=0)
    assert len(sparse) > blocks and sum(c["valid"] for c in sparse) == blocks


def run_amaranth(unit: LinearUnit, seed: int, p_idle: float, **token_args) -> int:
    """The schedule and scoreboard under Amaranth's simulator; returns the cycles run."""
    config = unit.config()
    tokens = linear_tokens(config, seed, **token_args)
    cycles, last = schedule(config, tokens, seed, p_idle)
    board = Scoreboard(config, tokens, last, LATENCY)

    run_schedule(unit, cycles, lambda ctx, cycle: board.observe(
        cycle, ctx.get(Value.cast(unit.y)), ctx.get(unit.y_valid)))
    board.finish()
    return len(cycles)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("params", [NARROW, {"in_par": 4, "out_par": 3}, SLOT, {}],
                         ids=["narrow", "4x3", "slot", "default"])
@pytest.mark.parametrize("p_idle", [0.0, 0.4], ids=["back-to-back", "idle"])
def test_amaranth_sim_bit_exact_at_latency(params, p_idle):
    assert run_amaranth(LinearUnit(**params), seed=5, p_idle=p_idle) > 60


@pytest.mark.parametrize("params", [NARROW, {}], ids=["narrow", "default"])
def test_verilog_bit_exact_at_latency(params, hdl_sim_ready, hdl_build_dir):
    unit = LinearUnit(**params)
    result = check_unit(unit, hdl_sim_ready,
                        hdl_build_dir(toplevel(unit), hdl_sim_ready, variant_key(unit)))
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 2


@pytest.mark.rtl
def test_verilog_tier_detects_a_mismatch(hdl_build_dir):
    """The cocotb scoreboard fails when the model disagrees with the emitted unit: the Verilog
    shifts by weight_frac 4, the testbench is told 3 (Icarus only: one run)."""
    reason = missing_tools("icarus")
    if reason is not None:
        if sims_required():
            pytest.fail(reason)
        pytest.skip(reason)
    unit, other = LinearUnit(**NARROW), LinearUnit(**{**NARROW, "weight_frac": 3})
    other._MustUse__silence = True
    build = hdl_build_dir("linear", "icarus", "mismatch")
    result = run_cocotb("icarus", verilog_text(unit, "linear"), "linear", "rtl.tb.linear_tb",
                        build, json.dumps(other.config()))
    assert result.tests == 2 and result.failed == 2


# ---- registry and design files --------------------------------------------------------------


def config_of(unit: LinearUnit) -> dict:
    """The unit's config; the unit is not elaborated (no unused-elaboratable warning)."""
    unit._MustUse__silence = True
    return unit.config()


def test_registry_builds_the_unit_and_derives_acc_bits():
    assert config_of(build_unit("linear", {"act_bits": 24, "act_frac": 16}))["acc_bits"] == 50
    with pytest.raises(RtlParamError, match="has no parameter 'in_pars'.*did you mean 'in_par'"):
        build_unit("linear", {"in_pars": 4})


def test_design_file_selects_the_unit(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nkind: rtl\nname: x\n"
                    "linear: {in_par: 8, out_par: 1, weight_bits: 32, weight_frac: 22}\n")
    [(module, unit, params)] = load_spec(path, RtlDesign).selected()
    assert (module, unit) == ("linear", "linear")
    assert config_of(build_unit(unit, params)) == config_of(LinearUnit(**SLOT))


def test_design_file_locates_a_bad_parameter(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nkind: rtl\nname: x\nlinear: {act_bits: 16}\n")
    with pytest.raises(SpecError) as err:
        load_spec(path, RtlDesign)
    assert ("linear.act_frac: must be an integer in 0..15, not 22 (22 is the default; it does "
            "not fit the other parameters)") in str(err.value)


def test_cli_verilog_same_bytes_twice(tmp_path, capsys):
    from attnforge.cli import main

    texts = []
    for out in (tmp_path / "a", tmp_path / "b"):
        with pytest.raises(SystemExit) as exited:
            main(["verilog", "--unit", "linear", "--param", "in_par=8", "--param", "out_par=1",
                  "--param", "weight_bits=32", "--param", "weight_frac=22", "--out", str(out)])
        assert exited.value.code == 0
        texts.append((out / "linear.v").read_text())
    capsys.readouterr()
    assert texts[0] == texts[1] and "module linear(" in texts[0]
    assert "input [255:0] w;" in texts[0]  # 8 x 1 weights of 32 bits


# ---- synthesis (UltraScale+, yosys) ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("act_bits", "dsps_per_product"), [(24, 1), (32, 2)])
def test_xcup_one_lane_dsp_count(act_bits, dsps_per_product, tmp_path):
    """16 products per lane; a DSP48E2 multiplies 27 x 18 signed, so a 24 x 16 product takes one
    and a 32 x 16 product two (the 32-bit operand is split); adders and the accumulator are
    fabric, and at least the accumulator and tree-sum registers are flip-flops."""
    from rtl.synth import estimate

    unit = LinearUnit(in_par=16, out_par=1, act_bits=act_bits, act_frac=act_bits - 10)
    est = estimate(unit, None, "linear", tmp_path, family="xcup")
    assert est.dsps == 16 * dsps_per_product
    assert est.ffs >= unit.acc_bits + act_bits + 16 and est.brams == 0


# Found by QA: `verify --unit linear --param act_bits=64 --param act_frac=63 ...` failed both
# simulators before any cycle ran: the operands near one (8 << act_frac) overflowed NumPy's int64.
@pytest.mark.parametrize(("act_frac", "weight_frac"), [(63, 63), (61, 0), (0, 63), (59, 0)])
def test_widest_fraction_formats_are_driven_and_bit_exact(act_frac, weight_frac):
    params = {"in_par": 2, "out_par": 2, "act_bits": 64, "act_frac": act_frac,
              "weight_bits": 64, "weight_frac": weight_frac}
    unit = LinearUnit(**params)
    tokens = linear_tokens(unit.config(), seed=3)
    lo, hi = -(1 << 63), (1 << 63) - 1
    assert all(lo <= int(v) <= hi for xs, ws in tokens for v in (*xs, *ws.flat))
    # half of the random tokens are the near-one ones: |x| < 8 in Q0.63 is the whole range
    assert len({int(v) for xs, _ in tokens for v in xs}) > 40
    assert run_amaranth(unit, seed=6, p_idle=0.4) > 60
