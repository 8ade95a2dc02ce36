"""exp unit (z <= 0): validation, Amaranth simulation and emitted Verilog, bit-exact against
fpga.golden.exp.exp_fixed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fpga.golden.exp import exp_fixed
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.exp import ExpUnit
from rtl.tb.amsim import run_stream
from rtl.tb.vectors import pack, stimulus
from rtl.units import check_unit, toplevel, variant_key

BAD = [
    ({"total_bits": 0}, "total_bits must be an integer in 2..40, not 0"),
    ({"in_frac": 32}, "in_frac must be an integer in 0..31, not 32"),
    ({"const_bits": 40}, "const_bits must be an integer in 1..30, not 40"),
    ({"table_log2": 0}, "table_log2 must be an integer in 1..12, not 0"),
    # at most in_frac + const_bits = 52, and 8 + 62 - 22 = 48 (test_format_limits.py)
    ({"t_frac": 4}, "t_frac must be an integer in 8..48, not 4"),
    ({"out_frac": 31}, "out_frac must be an integer in 1..30, not 31"),
    ({"entry_frac": 0.5}, "entry_frac must be an integer in 1..32, not 0.5"),
]

# Some tests build a unit only for its config(); Amaranth would warn that it was never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_parameter_one_message(params, message):
    with pytest.raises(RtlParamError, match=None) as err:
        ExpUnit(**params)
    assert message == str(err.value)


def test_ports():
    verilog = verilog_text(ExpUnit(), "exp")
    for port in ("input [31:0] i__payload", "output [22:0] o__payload", "input o__ready"):
        assert port in verilog


def test_stimulus_covers_zero_underflow_and_positive():
    inputs, expected = stimulus(ExpUnit().config(), 400, seed=0)
    one = 1 << 22
    assert pack(0, 32) in inputs and pack(-(1 << 31), 32) in inputs and pack(one, 32) in inputs
    assert one in expected  # exp(0) = exp(clamped positive) = 1.0
    assert 0 in expected    # underflow
    # the golden words approximate exp within its proven bound (the check is meaningful)
    z = np.array([-one, -3 * one])
    assert np.allclose(exp_fixed(z) / one, [math.exp(-1), math.exp(-3)], atol=1e-6)


FORMATS = [
    {},
    {"total_bits": 16, "in_frac": 10, "out_frac": 12, "const_bits": 20, "t_frac": 14,
     "table_log2": 5, "entry_frac": 16},
]


@pytest.mark.parametrize("params", FORMATS, ids=["default", "small"])
def test_amaranth_sim_bit_exact(params):
    unit = ExpUnit(**params)
    inputs, expected = stimulus(unit.config(), 3000, seed=7)
    assert run_stream(unit, inputs, expected, p_valid=0.7, p_ready=0.6, seed=2) == expected


def test_verilog_bit_exact(hdl_sim_ready, hdl_build_dir):
    unit = ExpUnit()
    result = check_unit(unit, hdl_sim_ready,
                        hdl_build_dir(toplevel(unit), hdl_sim_ready, variant_key(unit)))
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 3
