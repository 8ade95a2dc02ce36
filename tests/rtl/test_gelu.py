"""GELU unit: parameter validation, Amaranth simulation and emitted Verilog (Icarus, Verilator),
each bit-exact against fpga.golden.gelu.gelu_fixed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fpga.golden.gelu import GeluFormat, gelu_fixed
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.gelu import GeluUnit
from rtl.runner import missing_tools, run_cocotb
from rtl.tb.amsim import run_stream
from rtl.tb.vectors import pack, stimulus
from rtl.units import check_unit, toplevel, variant_key
from tests.conftest import sims_required

BAD = [
    ({"total_bits": 0}, "total_bits must be an integer in 2..48, not 0"),
    ({"frac_bits": 32}, "frac_bits must be an integer in 0..31, not 32"),
    ({"step_log2": -1}, "step_log2 must be an integer in 0..22, not -1"),
    ({"entry_bits": 0}, "entry_bits must be an integer in 1..40, not 0"),
    ({"range_max": 0}, "range_max must be a positive number, not 0"),
    ({"range_max": 5.51}, "the table cannot cover the range"),
    ({"range_max": 600.0}, "range_max must be below 2**9 (the largest Q10.22 input), not 600.0"),
    ({"entry_bits": True}, "entry_bits must be an integer in 1..40, not True"),
    ({"total_bits": "32"}, "total_bits must be an integer in 2..48, not '32'"),
]

# Some tests build a unit only for its config(); Amaranth would warn that it was never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_parameter_one_message(params, message):
    with pytest.raises(RtlParamError) as err:
        GeluUnit(**params)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_ports_follow_the_stream_convention():
    verilog = verilog_text(GeluUnit(), "gelu")
    for port in ("input [31:0] i__payload", "input i__valid", "output i__ready",
                 "output [31:0] o__payload", "output o__valid", "input o__ready",
                 "input clk", "input rst"):
        assert port in verilog
    assert "/work" not in verilog and "src =" not in verilog


def test_verilog_is_deterministic():
    assert verilog_text(GeluUnit(), "gelu") == verilog_text(GeluUnit(), "gelu")


def test_stimulus_covers_edges_and_saturation():
    """The vectors include both extremes, zero, the range edges, and outputs that equal ReLU."""
    fmt = GeluFormat()
    inputs, expected = stimulus(GeluUnit().config(), 500, seed=0)
    words = set(inputs)
    for value in (-(1 << 31), (1 << 31) - 1, 0, fmt.range_fixed, -fmt.range_fixed):
        assert pack(value, 32) in words
    assert pack((1 << 31) - 1, 32) in expected  # hi passes through unchanged (beyond range)


FORMATS = [
    {},
    {"total_bits": 16, "frac_bits": 10, "step_log2": 3, "range_max": 4.0, "entry_bits": 12},
    {"total_bits": 24, "frac_bits": 12, "step_log2": 4, "range_max": 5.5, "entry_bits": 16},
]


@pytest.mark.parametrize("params", FORMATS, ids=["default", "q6.10", "q12.12"])
def test_amaranth_sim_bit_exact(params):
    unit = GeluUnit(**params)
    inputs, expected = stimulus(unit.config(), 3000, seed=5)
    assert run_stream(unit, inputs, expected, p_valid=0.7, p_ready=0.6, seed=1) == expected


def test_golden_words_differ_from_relu():
    """The check is not vacuous: inside the range the output is ReLU minus a nonzero delta."""
    x = np.array([1 << 22, -(1 << 22)], dtype=np.int64)
    assert np.all(gelu_fixed(x) != np.maximum(x, 0))


def test_amaranth_sim_detects_a_wrong_word():
    unit = GeluUnit()
    inputs, expected = stimulus(unit.config(), 50, seed=5)
    expected[20] ^= 1
    with pytest.raises(AssertionError, match="output #20"):
        run_stream(unit, inputs, expected)


def test_verilog_bit_exact(hdl_sim_ready, hdl_build_dir):
    unit = GeluUnit()
    result = check_unit(unit, hdl_sim_ready,
                        hdl_build_dir(toplevel(unit), hdl_sim_ready, variant_key(unit)))
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 3


@pytest.mark.rtl
def test_verilog_tier_detects_a_mismatch(hdl_build_dir):
    """The cocotb scoreboard fails when the golden model disagrees with the emitted unit: the
    Verilog is built with 1/32 steps but the testbench is told 1/16 (Icarus only: one run)."""
    reason = missing_tools("icarus")
    if reason is not None:
        if sims_required():
            pytest.fail(reason)
        pytest.skip(reason)
    unit, other = GeluUnit(), GeluUnit(step_log2=4)
    other._MustUse__silence = True
    build = hdl_build_dir("gelu", "icarus", "mismatch")
    result = run_cocotb("icarus", verilog_text(unit, "gelu"), "gelu", "rtl.tb.stream_tb", build,
                        json.dumps(other.config()))
    assert result.tests == 3 and result.failed == 3
