"""Single-pass softmax (row state), normalisation and reciprocal units: validation, Amaranth
simulation and emitted Verilog, bit-exact against fpga.golden.softmax / fpga.golden.exp."""

from __future__ import annotations

import numpy as np
import pytest

from fpga.golden.softmax import SoftmaxFormat, softmax_fixed
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.normalise import NormaliseUnit
from rtl.reciprocal import ReciprocalUnit
from rtl.softmax import SoftmaxUnit
from rtl.tb.amsim import run_stream
from rtl.tb.vectors import softmax_rows, stimulus
from rtl.units import check_unit, toplevel, variant_key

SMALL = {"total_bits": 24, "frac_bits": 12, "const_bits": 20, "t_frac": 14, "table_log2": 6,
         "entry_frac": 16, "recip_frac": 20}

BAD = [
    (SoftmaxUnit, {"total_bits": 1}, "total_bits must be an integer in 3..40, not 1"),
    # the running sum must hold exp(0) = 1.0: at most total_bits - 2 fraction bits
    (SoftmaxUnit, {"total_bits": 23}, "frac_bits must be an integer in 1..21, not 22"),
    (SoftmaxUnit, {"frac_bits": 0}, "frac_bits must be an integer in 1..30, not 0"),
    (SoftmaxUnit, {"recip_frac": 0}, "recip_frac must be an integer in 1..31, not 0"),
    (SoftmaxUnit, {"table_log2": 13}, "table_log2 must be an integer in 1..12, not 13"),
    # the exp's out_frac is frac_bits (22), which no user sets: the message names entry_frac
    (NormaliseUnit, {"entry_frac": 10}, "entry_frac must be an integer in 22..32, not 10"),
    (ReciprocalUnit, {"in_bits": 0}, "in_bits must be an integer in 1..40, not 0"),
    (ReciprocalUnit, {"out_frac": 32}, "out_frac must be an integer in 1..31, not 32"),
]

# Some tests build a unit only for its config(); Amaranth would warn that it was never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize(("cls", "params", "message"), BAD)
def test_bad_parameter_one_message(cls, params, message):
    with pytest.raises(RtlParamError) as err:
        cls(**params)
    assert str(err.value) == message


def test_softmax_ports():
    verilog = verilog_text(SoftmaxUnit(), "softmax")
    assert "input [32:0] i__payload" in verilog  # score + last
    assert "output [62:0] o__payload" in verilog  # recip (31) + max (32)


def test_rows_exercise_rescale_ties_and_extremes():
    rows = softmax_rows(SoftmaxUnit().config(), 300, seed=0)
    flat = np.concatenate(rows)
    assert flat.min() == -(1 << 31) and flat.max() == (1 << 31) - 1
    assert any(len(r) == 1 for r in rows)
    assert any(np.all(np.diff(r) > 0) and len(r) > 2 for r in rows)  # rescale every step
    assert any(len(set(r.tolist())) == 1 and len(r) > 1 for r in rows)  # ties
    # the golden probabilities are a softmax (the words checked are meaningful): against
    # exp(x_j) / sum_k exp(x_k) written here, on a row with distinct values
    row = rows[5]
    assert len(set(row.tolist())) > 2
    x = row / float(1 << 22)
    ref = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    p = softmax_fixed(row[None, :])[0] / float(1 << 22)
    np.testing.assert_allclose(p, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cls", [SoftmaxUnit, NormaliseUnit, ReciprocalUnit])
@pytest.mark.parametrize("small", [False, True], ids=["default", "small"])
def test_amaranth_sim_bit_exact(cls, small):
    params = {}
    if small:
        params = dict(SMALL) if cls is not ReciprocalUnit else {"in_frac": 12, "out_frac": 20,
                                                                "in_bits": 24}
    unit = cls(**params)
    count = 300 if cls is ReciprocalUnit else 2500
    inputs, expected = stimulus(unit.config(), count, seed=9)
    out = run_stream(unit, inputs, expected, p_valid=0.7, p_ready=0.6, seed=4,
                     max_cycles=80 * len(inputs) + 1000)
    assert out == expected


def test_softmax_format_matches_golden_default():
    assert SoftmaxUnit().fmt == SoftmaxFormat()


@pytest.mark.parametrize("name", ["softmax", "normalise", "reciprocal"])
def test_verilog_bit_exact(name, hdl_sim_ready, hdl_build_dir):
    unit = {"softmax": SoftmaxUnit, "normalise": NormaliseUnit, "reciprocal": ReciprocalUnit}[name]()
    result = check_unit(unit, hdl_sim_ready,
                        hdl_build_dir(toplevel(unit), hdl_sim_ready, variant_key(unit)))
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 3
