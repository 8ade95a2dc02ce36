"""Every unit synthesizes with yosys and passes ``check -assert``; the ECP5 flow parses reports.

Slow (the first YoWASP call on a fresh machine compiles the WebAssembly, ~90 s) but part of the
default run. Tools run with cwd = the work dir and relative paths (YoWASP remaps /tmp).
"""

from __future__ import annotations

import math

import pytest

from rtl import synth
from rtl.synth import ecp5_estimate, multiplier_lower_bound, shim, yosys_check
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
    assert multiplier_lower_bound(build_unit("systolic", params), "systolic") == 6 <= est.dsps
    assert est.ffs >= 6 * 32  # every PE's accumulator is a register
    assert est.brams == 0
    assert math.isfinite(est.fmax_mhz) and est.fmax_mhz > 10


def test_a_unit_needing_more_dsp_blocks_than_the_device_has_is_refused_before_pnr():
    # LFE5U-85F: 156 18x18 multipliers (Lattice ECP5 family datasheet)
    from rtl.synth import FAMILIES, SynthError, _check_dsps

    _check_dsps({"MULT18X18D": 156, "LUT4": 10}, FAMILIES["ecp5"], "linear")  # fits
    with pytest.raises(SynthError, match="^linear does not fit LFE5U-85F: needs 157 of the "
                                         "156 MULT18X18D$"):
        _check_dsps({"MULT18X18D": 157}, FAMILIES["ecp5"], "linear")
    _check_dsps({"DSP48E2": 10**6}, FAMILIES["xcup"], "linear")  # no device: no limit


def test_a_failed_tool_names_its_last_words():
    from rtl.synth import _last_line

    assert _last_line("ok\n\n  wasm trap:   call stack exhausted \n\n") == \
        "wasm trap: call stack exhausted"
    assert _last_line("") == "" and _last_line(None) == ""


@pytest.mark.parametrize(("name", "params", "products"), [
    ("systolic", {"rows": 3, "cols": 5, "dataflow": "os"}, 15),  # one product per PE
    ("systolic", {"rows": 4, "cols": 2, "dataflow": "ws"}, 8),
    ("linear", {"in_par": 3, "out_par": 4}, 12),  # in_par x out_par weight products
    ("reciprocal", {}, 0),  # restoring division: no multiplier
])
def test_the_multiplier_bound_counts_the_units_products(name, params, products):
    assert multiplier_lower_bound(build_unit(name, params), name) == products


def test_a_unit_with_more_multipliers_than_the_device_has_is_refused_before_synthesis(
        tmp_path, monkeypatch):
    def no_yosys(*args, **kwargs):
        raise AssertionError("yosys ran")

    monkeypatch.setattr(synth, "_synth", no_yosys)
    unit = build_unit("linear", {"in_par": 16, "out_par": 10})  # 160 products > 156
    with pytest.raises(synth.SynthError, match=r"^linear does not fit LFE5U-85F: needs at least "
                                               r"160 of the 156 MULT18X18D \(one per multiplier\)$"):
        ecp5_estimate(unit, shim(build_unit("linear", {"in_par": 16, "out_par": 10})), "linear",
                      tmp_path)


def test_ultrascale_lut_count_includes_the_luts_of_distributed_ram():
    # UG574: a RAM32M16 occupies the 8 LUTs of a SLICEM, a RAM64X1D 2; Vivado counts them as LUTs
    est = synth._estimate({"LUT6": 10, "LUT2": 5, "RAM32M16": 2, "RAM64X1D": 3, "FDRE": 7},
                          synth.FAMILIES["xcup"], float("nan"))
    assert (est.luts, est.lutram, est.ffs) == (15 + 16 + 6, 22, 7)
    assert synth._estimate({"LUT4": 3}, synth.FAMILIES["ecp5"], 1.0).lutram == 0


def test_ultrascale_lut_count_includes_shift_register_luts():
    # UG974: an SRL16E or SRLC32E is one SLICEM LUT configured as a shift register; Vivado
    # reports it under "LUT as Shift Register" within CLB LUTs (attention_av has 2,016)
    est = synth._estimate({"LUT3": 4, "SRL16E": 6, "SRLC32E": 2, "FDRE": 1},
                          synth.FAMILIES["xcup"], float("nan"))
    assert (est.luts, est.lutram) == (4 + 8, 8)
