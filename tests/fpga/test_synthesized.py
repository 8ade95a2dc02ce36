"""The FPGA model's per-lane units against the same units synthesized for UltraScale+.

``fpga/data/xcup_units.csv`` holds yosys ``synth_xilinx -family xcup`` of rtl/'s GELU, exp,
single-pass softmax and normalise units (scripts/xcup_units.py). The model counts DSPs by tiling
each multiply on the DSP48E2's 27 x 18 multiplier; yosys infers them from the RTL: two
independent counts that must agree. LUTs and FFs come from the table where the activation width
matches, else from the per-bit estimate.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from fpga import area
from fpga.spec import ConventionalMath, Units
from fpga.synthesized import table

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("unit, lane", [
    ("gelu", lambda u: area.gelu_lane(u, True, ConventionalMath())),
    ("softmax", area.running_softmax_unit),
    ("normalise", area.normalise_unit)])
def test_dsp_tiling_agrees_with_yosys_and_luts_are_the_synthesized(unit, lane):
    synthesized = table()[unit]
    res = lane(Units()).resources
    assert res.dsp == synthesized.dsp
    assert (res.lut, res.ff) == (synthesized.lut, synthesized.ff)
    assert lane(Units()).source == area.SYNTHESIZED


def test_exp_dsp_is_the_synthesized_exp():
    # z * log2(e): 33 x 31 bits (2 x 2 tiles); table interpolation 31 x 16 (2 x 1)
    assert area.exp_dsp(Units()) == 2 * 2 + 2 * 1 == table()["exp"].dsp


def test_another_width_falls_back_to_the_per_bit_estimate():
    # 16-bit activations were not synthesized: the GELU lane is its 177 x 22-bit table in
    # LUT6-RAM (64 bits each) plus three 16-bit adders' LUTs, and four 16-bit registers
    lane = area.gelu_lane(Units(act_bits=16), True, ConventionalMath())
    assert (lane.resources.lut, lane.resources.ff) == (math.ceil(177 * 22 / 64) + 3 * 16, 4 * 16)
    assert lane.source == ""


@pytest.mark.slow
def test_the_shipped_table_is_a_fresh_synthesis():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "xcup_units.py"), "--check"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches a fresh synthesis" in result.stdout
