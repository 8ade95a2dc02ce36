"""Every unit synthesizes with yosys and passes ``check -assert``; the ECP5 flow parses reports.

Slow (the first YoWASP call on a fresh machine compiles the WebAssembly, ~90 s) but part of the
default run. Tools run with cwd = the work dir and relative paths (YoWASP remaps /tmp).
"""

from __future__ import annotations

import math

import pytest

from rtl.synth import ecp5_estimate, shim, yosys_check
from rtl.units import build_unit

UNITS = [("gelu", {}), ("exp", {}), ("softmax", {}), ("normalise", {}), ("reciprocal", {}),
         ("systolic", {"rows": 4, "cols": 4, "dataflow": "os"}),
         ("systolic", {"rows": 4, "cols": 4, "dataflow": "ws"})]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "params"), UNITS,
                         ids=[f"{n}-{p.get('dataflow', '')}".rstrip("-") for n, p in UNITS])
def test_yosys_synth_check_assert(name, params, tmp_path):
    result = yosys_check(build_unit(name, params), name, tmp_path)
    assert result.passed, result.log.read_text()[-3000:]


@pytest.mark.slow
def test_ecp5_estimate_counts_one_multiplier_per_pe(tmp_path):
    """A 2×3 int8 OS array needs 6 products, each fits one 18×18 DSP; the divider needs none."""
    params = {"rows": 2, "cols": 3, "dataflow": "os"}
    est = ecp5_estimate(build_unit("systolic", params), shim(build_unit("systolic", params)),
                        "systolic", tmp_path)
    assert est.dsps == 6
    assert est.ffs >= 6 * 32  # every PE's accumulator is a register
    assert est.brams == 0
    assert math.isfinite(est.fmax_mhz) and est.fmax_mhz > 10
