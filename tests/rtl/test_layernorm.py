"""LayerNorm unit (rtl/layernorm.py): parameter validation, ports, the golden model against
float64 with bounds derived from the formats and hand-worked cases, the rsqrt recurrence against
its definition, Amaranth simulation (timing and bit-exact words) and the emitted Verilog on
Icarus and Verilator, each output word checked against fpga.golden.layernorm."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from attnforge.specload import SpecError, load_spec
from fpga.golden.layernorm import (
    LayerNormFormat,
    error_bound,
    layernorm_error,
    layernorm_row,
    normalise,
    rsqrt_mantissa,
    rsqrt_recurrence,
)
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.layernorm import LayerNormUnit, first_output_delay, row_period
from rtl.runner import missing_tools, run_cocotb
from rtl.spec import LayerNormParams, RtlDesign
from rtl.tb.amsim import handshakes, run_stream
from rtl.tb.vectors import stimulus
from rtl.units import build_unit, check_unit, toplevel, variant_key
from tests.conftest import sims_required

# Some tests build a unit only for its config(); Amaranth would warn that it was never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SMALL = {"d": 16, "lanes": 4}
# 10-bit Q4.6 activations, Q4.4 parameters: outputs saturate at +-8 (the extreme gamma/beta set)
NARROW = {"d": 8, "lanes": 2, "total_bits": 10, "frac_bits": 6, "param_bits": 8,
          "param_frac": 4, "rsqrt_bits": 12, "eps": 1e-3}

BAD = [
    ({"d": 1}, "d must be an integer in 2..4096, not 1"),
    ({"d": 16.0}, "d must be an integer in 2..4096, not 16.0"),
    ({"lanes": 0}, "lanes must be an integer in 1..64, not 0"),
    ({"lanes": 7}, "lanes must divide d (192), not 7"),
    ({"total_bits": 41}, "total_bits must be an integer in 4..40, not 41"),
    ({"frac_bits": 31}, "frac_bits must be an integer in 1..30, not 31"),
    ({"param_bits": 1}, "param_bits must be an integer in 2..32, not 1"),
    ({"param_frac": 16}, "param_frac must be an integer in 0..15, not 16"),
    ({"eps": 0.0}, "eps must be a number in (0, 1], not 0.0"),
    ({"eps": "1e-6"}, "eps must be a number in (0, 1], not '1e-6'"),
    # E = round(eps d^2 4^frac_bits) >= 1 needs eps >= 2**-(2 frac_bits + 1) / d**2: at d 192,
    # frac_bits 22: 2**-45 / 36864 = 7.71e-19
    ({"eps": 1e-30}, "eps must be at least 2**-45 / d**2 = 7.71e-19 (below, eps * d**2 * "
                     "2**(2 * frac_bits) rounds to 0 and a constant row would divide by 0), "
                     "not 1e-30"),
    ({"rsqrt_bits": 26}, "rsqrt_bits must be an integer in 27..48, not 26"),
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_parameter_one_message(params, message):
    with pytest.raises(RtlParamError) as err:
        LayerNormUnit(**params)
    assert str(err.value) == message


def test_defaults_are_edge_moe_formats():
    """d_model 192, 8 lanes, Q10.22 activations, Q5.11 LayerNorm parameters, eps 1e-6
    (edgemoe.md §1-§3); design-file dataclass, golden format and unit config agree."""
    config = LayerNormUnit().config()
    assert config == {"unit": "layernorm", "d": 192, "lanes": 8, "total_bits": 32,
                      "frac_bits": 22, "param_bits": 16, "param_frac": 11, "eps": 1e-6,
                      "rsqrt_bits": 30}
    assert dataclasses.asdict(LayerNormParams()) == dataclasses.asdict(LayerNormFormat())
    assert dataclasses.asdict(LayerNormFormat()) == {k: v for k, v in config.items()
                                                     if k != "unit"}


@pytest.mark.parametrize(("params", "ports"), [
    ({}, ["input [256:0] i__payload;", "output [256:0] o__payload;"]),  # 8 x 32 + flag
    (SMALL, ["input [128:0] i__payload;", "output [128:0] o__payload;"]),
    # 2 x 20-bit parameters need 40-bit lane fields on the input; outputs stay 32 bits
    ({"param_bits": 20, "param_frac": 11, "rsqrt_bits": 31},
     ["input [320:0] i__payload;", "output [256:0] o__payload;"]),
])
def test_ports_in_the_verilog(params, ports):
    verilog = verilog_text(LayerNormUnit(**params), "layernorm")
    for port in [*ports, "input i__valid;", "output i__ready;", "output o__valid;",
                 "input o__ready;", "input clk;", "input rst;"]:
        assert port in verilog
    assert "src =" not in verilog and "/work" not in verilog


def test_verilog_is_deterministic():
    assert verilog_text(LayerNormUnit(**SMALL), "layernorm") == \
        verilog_text(LayerNormUnit(**SMALL), "layernorm")


# ---- golden model ---------------------------------------------------------------------------

# Q4.4 activations and parameters, d 4; eps = 2**-12 makes E = eps * 16 * 2**8 = 1 exactly
HAND = LayerNormFormat(d=4, lanes=2, total_bits=8, frac_bits=4, param_bits=8, param_frac=4,
                       eps=2.0 ** -12, rsqrt_bits=8)


def test_golden_hand_worked():
    """x = (0, 0, 0, 1/16): S1 = 1, S2 = 1, V = 4*1 - 1 + 1 = 4, sqrt 2 exactly, so
    n = (4 X - 1) / 2 = (-0.5, -0.5, -0.5, 1.5) with no rounding. gamma 1, beta 0 gives
    (-8, -8, -8, 24)/16; gamma 1.25, beta -0.25 gives -0.875, 1.625 = -14/16, 26/16."""
    x = np.array([0, 0, 0, 1])
    assert HAND.eps_fixed == 1
    assert list(layernorm_row(x, np.full(4, 16), np.zeros(4, dtype=np.int64), HAND)) == \
        [-8, -8, -8, 24]
    assert list(layernorm_row(x, np.full(4, 20), np.full(4, -4), HAND)) == [-14, -14, -14, 26]


def test_golden_rounds_half_up_and_saturates():
    """gamma 127/16: 1.5 * 7.9375 = 11.9 saturates to 127/16; -0.5 * 7.9375 * 16 = -63.5
    rounds half up to -63 (floor would give -64). Mirrored row (n = 0.5, 0.5, 0.5, -1.5) with
    beta -8: 0.5 * 7.9375 * 16 = 63.5 rounds to 64, minus 128 is -64; -1.5 * 7.9375 - 8 =
    -19.9 saturates to -128/16."""
    x = np.array([0, 0, 0, 1])
    y = layernorm_row(x, np.full(4, 127), np.zeros(4, dtype=np.int64), HAND)
    assert list(y) == [-63, -63, -63, 127]
    low = layernorm_row(-x, np.full(4, 127), np.full(4, -128), HAND)
    assert list(low) == [-64, -64, -64, -128]


def test_golden_constant_row_gives_beta():
    """Variance 0: D = 0 for every element, y = beta exactly (eps keeps V >= 1)."""
    fmt = LayerNormFormat()
    beta = np.arange(-96, 96) * 37
    y = layernorm_row(np.full(192, 123456789), np.full(192, 2048), beta, fmt)
    assert list(y) == list(beta << (22 - 11))


def test_normalise_and_rsqrt_definition():
    """M in [2^(P-2), 2^P) with s even; r = floor(2^F / sqrt(M)) checked against
    r^2 M <= 2^(2F) < (r+1)^2 M, and the circuit's recurrence equals it, including the
    end points M = 2^(P-2) (r = 2^(R+1)) and 2^P - 1."""
    fmt = LayerNormFormat()
    p, f = fmt.norm_bits, fmt.rsqrt_shift
    rng = np.random.default_rng(3)
    values = [1, 2, 3, fmt.eps_fixed, (1 << 78) - 1, 1 << (p - 2), (1 << p) - 1]
    values += [int(v) << int(k) for v, k in zip(rng.integers(1, 1 << 62, 300),
                                               rng.integers(0, 17, 300), strict=True)]
    for v in values:
        m, s = normalise(v, fmt)
        assert s % 2 == 0 and (1 << (p - 2)) <= m < (1 << p)
        assert m == (v >> s if s >= 0 else v << -s)
        r = rsqrt_mantissa(m, fmt)
        assert r * r * m <= 1 << (2 * f) < (r + 1) * (r + 1) * m
        assert rsqrt_recurrence(m, fmt) == r
    assert rsqrt_mantissa(1 << (p - 2), fmt) == 1 << (fmt.rsqrt_bits + 1)


def _rows(kind: str, rng: np.random.Generator) -> np.ndarray:
    return {"n01": lambda: rng.normal(0, 1, (40, 192)),
            "n030": lambda: rng.normal(0, 30, (40, 192)),
            "mean400": lambda: rng.normal(400, 1, (40, 192)),
            "near-constant": lambda: rng.normal(3, 1e-4, (40, 192)),
            "below-eps": lambda: rng.normal(-100, 1e-6, (40, 192)),
            "spike": lambda: np.where(np.arange(192) == 7, 500.0, 0.0)[None, :]}[kind]()


@pytest.mark.parametrize("kind", ["n01", "n030", "mean400", "near-constant", "below-eps",
                                  "spike"])
def test_golden_against_float64_within_the_stated_bound(kind):
    """Realistic gamma ~ N(1, 0.2), beta ~ N(0, 0.1). The bound (error_bound) is from the
    formats: |n| |g| (2^-30 + 2^-61 + 1/(2E)) + |g| 2^-28 + 2^-23. With |g| < 2 and
    |n| <= sqrt(191) it is below 2^-23 + 2 * 14 * 1e-9 + 2^-27 < 1.6e-7 (0.67 LSB): the output
    is within one LSB of exact LayerNorm. The last rounding alone makes errors near half an LSB
    appear, so the bound is not loose."""
    rng = np.random.default_rng(11)
    gamma, beta = rng.normal(1, 0.2, 192), rng.normal(0, 0.1, 192)
    report = layernorm_error(_rows(kind, rng), gamma, beta)
    assert report.saturated == 0
    assert report.max_over_bound <= 1.0
    assert report.max_abs < 1.6e-7
    assert report.max_abs > 0.4 * 2.0 ** -22  # the half-LSB rounding shows up


def test_golden_large_gamma_bound_and_sign():
    """gamma up to 16 (Q5.11's range): n's rounding (2^-28 * 16 = 2^-24) stays below the last
    rounding; still within the bound. A wrong sign or scale would be off by >> 1e-6."""
    rng = np.random.default_rng(5)
    gamma = rng.uniform(-15.9, 15.9, 192)
    report = layernorm_error(rng.normal(0, 2, (30, 192)), gamma, rng.normal(0, 3, 192))
    assert report.max_over_bound <= 1.0 and report.max_abs < 3e-7
    fmt = LayerNormFormat()
    x = rng.normal(0, 1, (1, 192))
    assert np.all(error_bound(x, gamma, fmt) < 16 * 14 * 1e-9 + 2.0 ** -23 + 16 * 2.0 ** -28)


def test_golden_rejects_bad_rows():
    fmt = LayerNormFormat()
    ones = np.ones(192, dtype=np.int64)
    with pytest.raises(ValueError, match="x must have d = 192 elements, not 3"):
        layernorm_row(np.ones(3, dtype=np.int64), ones, ones, fmt)
    with pytest.raises(ValueError, match="gamma must lie in the signed 16-bit"):
        layernorm_row(ones, ones << 15, ones, fmt)
    with pytest.raises(ValueError, match="integer array"):
        layernorm_row(ones * 0.5, ones, ones, fmt)


# ---- simulation -----------------------------------------------------------------------------


def test_stimulus_covers_saturation_and_both_parameter_sets():
    """NARROW: 2 lanes of max(10, 2 * 8) = 16 bits, the load flag at bit 32; d/lanes = 4
    beats per parameter set; 10-bit outputs reach both limits 0x1FF and 0x200."""
    unit = LayerNormUnit(**NARROW)
    inputs, expected = stimulus(unit.config(), 300, seed=1)
    assert sum(w >> 32 & 1 for w in inputs) == 2 * 4
    outs = [(w >> (10 * k)) & 0x3FF for w in expected for k in range(2)]
    assert 0x1FF in outs and 0x200 in outs
    assert sum(w >> 20 & 1 for w in expected) == len(expected) // 4  # one last beat per row


@pytest.mark.timeout(120)
@pytest.mark.parametrize("params", [SMALL, NARROW, {"d": 4, "lanes": 4}, {"d": 6, "lanes": 1},
                                    {}], ids=["small", "narrow", "one-beat", "one-lane",
                                              "default"])
def test_amaranth_sim_bit_exact(params):
    unit = LayerNormUnit(**params)
    inputs, expected = stimulus(unit.config(), 800, seed=7)
    out = run_stream(unit, inputs, expected, p_valid=0.7, p_ready=0.6, seed=2,
                     max_cycles=100 * len(inputs) + 1000)
    assert out == expected


def test_timing_one_beat_per_cycle_and_stated_delay():
    """d 16, 4 lanes (4 beats a row), rsqrt_bits 30: parameter beats then rows back to back;
    input and output beats one per cycle; first output 4 + 32 + 1 + 6 = 43 cycles after the
    row's last input beat (phases SUM, SQUARE, VAR, NORM; the recurrence; the read issue; six
    output registers); a row every 3 + 43 + 3 + 1 = 50 cycles."""
    unit = LayerNormUnit(**SMALL)
    inputs, _ = stimulus(unit.config(), 16, seed=1)
    ins, outs = handshakes(unit, inputs[:4 + 3 * 4], 200)
    assert first_output_delay(30) == 43 and row_period(16, 4, 30) == 50
    assert ins[:4] == [0, 1, 2, 3]  # parameter beats
    rows = [ins[4 + 4 * k:8 + 4 * k] for k in range(3)]
    for k, row in enumerate(rows):
        assert row == list(range(row[0], row[0] + 4))
        assert outs[4 * k:4 * k + 4] == list(range(row[-1] + 43, row[-1] + 47))
    assert rows[1][0] - rows[0][0] == rows[2][0] - rows[1][0] == 50


@pytest.mark.parametrize("params", [SMALL, {}], ids=["small", "default"])
def test_verilog_bit_exact(params, hdl_sim_ready, hdl_build_dir):
    unit = LayerNormUnit(**params)
    result = check_unit(unit, hdl_sim_ready,
                        hdl_build_dir(toplevel(unit), hdl_sim_ready, variant_key(unit)))
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 3


@pytest.mark.rtl
def test_verilog_tier_detects_a_mismatch(hdl_build_dir):
    """The cocotb scoreboard fails when the model disagrees with the emitted unit: the Verilog
    has frac_bits 22, the testbench is told 21 (Icarus only: one run)."""
    reason = missing_tools("icarus")
    if reason is not None:
        if sims_required():
            pytest.fail(reason)
        pytest.skip(reason)
    unit, other = LayerNormUnit(**SMALL), LayerNormUnit(**SMALL, frac_bits=21)
    other._MustUse__silence = True
    build = hdl_build_dir("layernorm", "icarus", "mismatch")
    result = run_cocotb("icarus", verilog_text(unit, "layernorm"), "layernorm",
                        "rtl.tb.stream_tb", build, json.dumps(other.config()))
    assert result.tests == 3 and result.failed == 3


# ---- registry, design files, CLI, synthesis -------------------------------------------------


def config_of(unit: LayerNormUnit) -> dict:
    unit._MustUse__silence = True
    return unit.config()


def test_registry_builds_the_unit():
    assert config_of(build_unit("layernorm", {"d": 64, "lanes": 16}))["lanes"] == 16
    with pytest.raises(RtlParamError, match="has no parameter 'lane'.*did you mean 'lanes'"):
        build_unit("layernorm", {"lane": 4})


def test_design_file_selects_and_locates(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nkind: rtl\nname: x\nlayernorm: {d: 16, lanes: 4}\n")
    [(module, unit, params)] = load_spec(path, RtlDesign).selected()
    assert (module, unit) == ("layernorm", "layernorm")
    assert config_of(build_unit(unit, params)) == config_of(LayerNormUnit(**SMALL))
    path.write_text("version: 1\nkind: rtl\nname: x\nlayernorm: {lanes: 7}\n")
    with pytest.raises(SpecError) as err:
        load_spec(path, RtlDesign)
    assert "layernorm.lanes: must divide d (192), not 7" in str(err.value)


def test_cli_verilog_same_bytes_twice(tmp_path, capsys):
    from attnforge.cli import main

    texts = []
    for out in (tmp_path / "a", tmp_path / "b"):
        with pytest.raises(SystemExit) as exited:
            main(["verilog", "--unit", "layernorm", "--param", "d=16", "--param", "lanes=4",
                  "--out", str(out)])
        assert exited.value.code == 0
        texts.append((out / "layernorm.v").read_text())
    capsys.readouterr()
    assert texts[0] == texts[1] and "module layernorm(" in texts[0]
    assert "input [128:0] i__payload;" in texts[0]


def test_cli_bad_param_one_line_exit_2(tmp_path, capsys):
    from attnforge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verilog", "--unit", "layernorm", "--param", "lanes=5", "--out", str(tmp_path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "lanes must divide d (192), not 5" in err and "Traceback" not in err


@pytest.mark.slow
def test_yosys_synth_check_assert(tmp_path):
    from rtl.synth import yosys_check

    result = yosys_check(LayerNormUnit(**SMALL), "layernorm", tmp_path)
    assert result.passed, result.log.read_text()[-3000:]


@pytest.mark.slow
def test_xcup_dsp_count_small(tmp_path):
    """d 16, 4 lanes at Q10.22: each lane's square (32 x 32) alone needs more than one
    DSP48E2 (27 x 18); the sums, V and the recurrence's t are registers (flip-flops)."""
    from rtl.synth import estimate

    fmt = LayerNormFormat(d=16, lanes=4)
    est = estimate(LayerNormUnit(**SMALL), None, "layernorm", tmp_path, family="xcup")
    assert est.dsps >= 2 * 4
    assert est.ffs >= fmt.s1_bits + fmt.s2_bits + fmt.v_bits + 2 * fmt.rsqrt_shift + 1
