"""Systolic array (PE + rows × cols, OS and WS): validation, Amaranth simulation against the
NumPy matmul, emitted Verilog on Icarus and Verilator, and cycle agreement with sim/."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.pe import ProcessingElement
from rtl.systolic import SystolicArray
from rtl.tb.systolic_amsim import run_gemms
from rtl.tb.systolic_tb import LATENCY_FILE
from rtl.tb.systolic_vectors import Scoreboard, gemm_cases, pack_vector, wrap
from rtl.units import check_unit, toplevel, variant_key
from sim.systolic import fold_latency

BAD = [
    ({"rows": 0}, "rows must be an integer in 1..32, not 0"),
    ({"cols": -2}, "cols must be an integer in 1..32, not -2"),
    ({"dataflow": "xs"}, "dataflow must be one of os, ws, not 'xs'"),
    # 'OS' was accepted and wrote systolic_8x8_OS.v, which a design file refuses
    ({"dataflow": "OS"}, "dataflow must be one of os, ws, not 'OS' (did you mean 'os'?)"),
    ({"in_width": 0}, "in_width must be an integer in 1..32, not 0"),
    ({"acc_width": 8}, "acc_width must be an integer in 16..64, not 8"),
]

# Some tests build a unit only for its config(); Amaranth would warn that it was never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_parameter_one_message(params, message):
    with pytest.raises(RtlParamError) as err:
        SystolicArray(**params)
    assert str(err.value) == message


def test_pe_rejects_bad_width():
    with pytest.raises(RtlParamError, match="in_width must be an integer in 1..32, not 40"):
        ProcessingElement(in_width=40)


def test_ports_scale_with_shape():
    verilog = verilog_text(SystolicArray(3, 2, "os"), "systolic")
    assert "input [23:0] a;" in verilog and "input [15:0] b;" in verilog
    assert "output [191:0] result;" in verilog and "output [5:0] done;" in verilog
    verilog = verilog_text(SystolicArray(3, 2, "ws", in_width=4, acc_width=12), "systolic")
    assert "input [11:0] x;" in verilog and "output [23:0] y;" in verilog


def test_wrap_is_twos_complement():
    assert list(wrap(np.array([2**31, -(2**31) - 1, 5]), 32)) == [-(2**31), 2**31 - 1, 5]
    # 64 bits: `(v + 2**63) % 2**64` overflowed int64 (verify failed for acc_width=64).
    extremes = np.array([2**63 - 1, -(2**63), -1])
    assert list(wrap(extremes, 64)) == [2**63 - 1, -(2**63), -1]


def test_widest_words_wrap_modulo_2_64():
    # (-2**31)**2 * 4 = 2**64 wraps to 0 in a 64-bit accumulator (int64 matmul does the same).
    a = np.full((1, 4), -(2**31), dtype=np.int64)
    assert list(wrap(a @ a.T, 64).ravel()) == [0]


SHAPES = [(4, 3, "os", 8, 32), (4, 3, "ws", 8, 32), (2, 5, "os", 4, 9), (3, 2, "ws", 4, 9),
          (1, 1, "os", 8, 32), (5, 1, "os", 32, 64), (1, 3, "ws", 32, 64)]


def wavefront_cycles(rows: int, cols: int, dataflow: str, m: int, k: int) -> int:
    """First input to last result of one GEMM that fits the array, from the wavefront algebra:
    OS, MAC s of PE (i, j) at cycle s + i + j -> K + R + C - 2; WS, R cycles of weight preload,
    then row s of X reaches PE (i, j) at R + s + i + j and leaves row R - 1 -> 2R + M + C - 2."""
    return k + rows + cols - 2 if dataflow == "os" else 2 * rows + m + cols - 2


@pytest.mark.parametrize(("rows", "cols", "dataflow", "in_width", "acc_width"), SHAPES)
def test_amaranth_sim_matches_numpy_and_sim_cycles(rows, cols, dataflow, in_width, acc_width):
    """Back-to-back GEMMs (including wrap-around for the narrow accumulators) are exact, and
    each single GEMM's first-input→last-result cycles equal sim.systolic.fold_latency."""
    array = SystolicArray(rows, cols, dataflow, in_width, acc_width)
    cases = gemm_cases(array.config(), seed=3)
    run_gemms(array, cases)
    for a, b in cases[3:]:
        measured = run_gemms(SystolicArray(rows, cols, dataflow, in_width, acc_width), [(a, b)])
        m, k = a.shape
        assert measured[0] == wavefront_cycles(rows, cols, dataflow, m, k)
        assert measured[0] == fold_latency(rows, cols, dataflow, m, b.shape[1], k)


def test_scoreboard_rejects_a_wrong_result():
    config = SystolicArray(2, 2, "os").config()
    a, b = np.array([[1, 2], [3, 4]]), np.array([[5, 6], [7, 8]])
    board = Scoreboard(config, [(a, b)])
    board.observe(0, {"result": pack_vector([19, 0, 0, 0], 32), "done": 0b0001})  # C00 = 19
    with pytest.raises(AssertionError, match=r"C\(0, 1\): got 21, expected 22"):
        board.observe(1, {"result": pack_vector([0, 21, 0, 0], 32), "done": 0b0010})
    with pytest.raises(AssertionError, match="never appeared"):
        board.finish()


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_verilog_matches_numpy_and_sim_cycles(dataflow, hdl_sim_ready, hdl_build_dir):
    array = SystolicArray(8, 8, dataflow)  # large enough for Verilator to split its C++
    build = hdl_build_dir(toplevel(array), hdl_sim_ready, variant_key(array))
    (build / LATENCY_FILE).unlink(missing_ok=True)
    result = check_unit(array, hdl_sim_ready, build)
    assert result.passed, f"{result.failed}/{result.tests} failed; see {result.log}"
    assert result.tests == 2
    rows = json.loads((build / LATENCY_FILE).read_text())
    assert len(rows) == 5
    for m, n, k, cycles in rows:
        assert cycles == wavefront_cycles(8, 8, dataflow, m, k), (m, n, k)
        assert cycles == fold_latency(8, 8, dataflow, m, n, k), (m, n, k)
