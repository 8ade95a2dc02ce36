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
from fpga.resources import dsp_per_mult
from fpga.spec import ConventionalMath, Units
from fpga.synthesized import mac_block_lut_ff, mac_blocks, table
from fpga.workload import ViTSpec

ROOT = Path(__file__).parents[2]
M3VIT = ViTSpec()


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
@pytest.mark.timeout(1800)
def test_the_shipped_table_is_a_fresh_synthesis():
    # about 6 minutes on an idle 2-core machine, over 10 when other jobs share it
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "xcup_units.py"), "--check"],
                            capture_output=True, text=True, timeout=1500, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches a fresh synthesis" in result.stdout


def test_every_mac_block_row_has_the_tiling_count_of_dsps():
    # yosys infers the DSP48E2s from rtl `linear`; the model tiles each product on 27 x 18
    blocks = mac_blocks().values()
    assert {(b.act_bits, b.weight_bits) for b in blocks} == {(32, 16), (32, 32), (9, 16)}
    for b in blocks:
        assert b.dsp == b.in_par * b.out_par * dsp_per_mult(b.act_bits, b.weight_bits), b


def test_arrays_are_priced_from_the_synthesized_blocks():
    # 16 x 16 unified unit: 16 columns of the 16-input block; Q·K at p = 4: 4 slots of 8 lanes;
    # A·V: per slot one 1-input block per lane (8 columns), 4 slots.
    u = Units()
    linear = area.linear_engine(u, (16, 16), [(192, 768)], 2, 0, None)[0]
    qk, _, av, _ = area.attention(u, M3VIT)
    blocks = mac_blocks()

    def columns(in_par, out_par, bits):
        one, two = blocks[(in_par, 1, 32, bits)], blocks[(in_par, 2, 32, bits)]
        return tuple(2 * a - b + out_par * (b - a) for a, b in ((one.lut, two.lut),
                                                                 (one.ff, two.ff)))

    assert (linear.resources.lut, linear.resources.ff) == columns(16, 16, 16)
    assert (qk.resources.lut, qk.resources.ff) == columns(8, 4, 32)
    assert (av.resources.lut, av.resources.ff) == tuple(4 * v for v in columns(1, 8, 32))
    assert {linear.source, qk.source, av.source} == {area.SYNTHESIZED}
    assert (linear.resources.dsp, qk.resources.dsp, av.resources.dsp) == (512, 128, 128)
    # the gate's 128 MACs: 8 inputs x one column per expert (16)
    gate = area.others(u, M3VIT)["gate"][0]
    assert (gate.resources.lut, gate.resources.ff) == columns(8, 16, 16)
    assert gate.resources.dsp == 256 and gate.source == area.SYNTHESIZED


def test_untabulated_widths_fall_back_to_the_per_bit_estimate():
    # 32 x 8-bit operands were not synthesized at any input count: 3 x 5 MACs at 32 LUT (one
    # per accumulator bit) and 2 x (32 + 32) FF each
    item = area.mac_block_item("x", 3, 5, 32, 8)
    assert (item.resources.lut, item.resources.ff, item.source) == (15 * 32, 15 * 128, "")


@pytest.mark.slow
def test_columns_predict_a_wider_block_synthesized_on_its_own(tmp_path):
    # the block is its columns plus a shared part: 8 inputs x 4 outputs from widths 1 and 2,
    # against yosys on the 8 x 4 block itself
    from rtl.synth import estimate
    from rtl.units import build_unit

    est = estimate(build_unit("linear", {"in_par": 8, "out_par": 4}), None, "linear",
                   tmp_path, family="xcup")
    lut, ff = mac_block_lut_ff(8, 4, 32, 16)
    assert (8, 4, 32, 16) not in mac_blocks()
    assert abs(lut - est.luts) <= 0.02 * est.luts and abs(ff - est.ffs) <= 0.02 * est.ffs
    assert est.dsps == 32 * dsp_per_mult(32, 16)


# Found by QA: an input count between the synthesized ones fell back to the per-bit estimate
# (32 LUT per MAC against ~100 synthesized), so a 17 x 16 unified unit priced 8,704 LUT and
# the 16 x 16 one 26,612: more MACs, a third of the LUTs.
@pytest.mark.parametrize("a_bits, b_bits, out_par", [(32, 16, 1), (32, 16, 16), (32, 32, 4)])
def test_more_inputs_or_columns_never_cost_fewer_luts_or_ffs(a_bits, b_bits, out_par):
    def cost(in_par, out):
        item = area.mac_block_item("x", in_par, out, a_bits, b_bits)
        return item.resources.lut, item.resources.ff

    for in_par in range(1, 64):
        narrow, wide = cost(in_par, out_par), cost(in_par + 1, out_par)
        assert wide[0] >= narrow[0] and wide[1] >= narrow[1], (in_par, narrow, wide)
        assert cost(in_par, out_par + 1)[0] >= narrow[0], in_par


def test_an_input_count_between_synthesized_ones_is_interpolated_by_hand():
    # 12 inputs x 2 columns of 32 x 16 b from the CSV rows at 8 and 16 inputs (1 and 2 columns):
    # column LUT (1550 - 776 = 774, 3330 - 1667 = 1663) -> 1218.5, shared (2, 4) -> 3;
    # column FF (480, 864) -> 672, shared (7, 7) -> 7. yosys on the 12 x 2 block: 2427 / 1351.
    assert mac_block_lut_ff(12, 2, 32, 16) == (3 + 2 * 1218.5, 7 + 2 * 672)
    item = area.mac_block_item("x", 12, 2, 32, 16)
    assert item.source == area.SYNTHESIZED and item.resources.dsp == 24 * 2
    # beyond the largest (32): on along the line through 16 and 32 inputs, column LUT (1663,
    # 3423) -> 3423 + 1760 = 5183 at 48, shared LUT (4, 0) -> -4: 5179 (yosys: 5124)
    assert mac_block_lut_ff(48, 1, 32, 16)[0] == 1663 + 2 * 1760 - 4
    # below the smallest (2 at 32 x 16): through 2 and 4 inputs, column LUT 158 - 161 / 2
    assert mac_block_lut_ff(1, 1, 32, 16)[0] == round(1 + 158 - 161 / 2)


@pytest.mark.slow
@pytest.mark.parametrize("in_par, out_par", [(12, 2), (48, 1)])
def test_interpolated_input_counts_predict_the_block_synthesized_on_its_own(tmp_path, in_par,
                                                                            out_par):
    from rtl.synth import estimate
    from rtl.units import build_unit

    est = estimate(build_unit("linear", {"in_par": in_par, "out_par": out_par}), None,
                   "linear", tmp_path, family="xcup")
    lut, ff = mac_block_lut_ff(in_par, out_par, 32, 16)
    assert in_par not in {n for n, *_ in mac_blocks()}
    assert abs(lut - est.luts) <= 0.02 * est.luts and abs(ff - est.ffs) <= 0.02 * est.ffs


# Found by QA: a gate whose MACs the experts do not divide fell back to the per-bit estimate, so
# 129 MACs priced 4,128 LUT against 12,386 for 128.
@pytest.mark.parametrize("experts", [16, 12])
def test_more_gate_macs_never_cost_fewer_luts_or_ffs(experts):
    def gate(macs):
        item = area._gate_macs(Units(gate_macs=macs), ViTSpec(experts=experts))
        return item.resources.lut, item.resources.ff, item.resources.dsp

    for macs in range(1, 300):
        fewer, more = gate(macs), gate(macs + 1)
        assert all(m >= f for f, m in zip(fewer, more, strict=True)), (macs, fewer, more)
        assert more[2] == (macs + 1) * dsp_per_mult(32, 16)


def test_a_gate_of_uneven_columns_is_priced_column_by_column_by_hand():
    # 100 MACs over 16 experts: 4 columns of 7 inputs and 12 of 6. From the 4- and 8-input rows
    # (32 x 16 b): column LUT 319 at 4, 774 at 8 (+113.75 per input), shared 1 and 2; column FF
    # 288 and 480 (+48 per input), shared 7 and 7. Shared part at the mean 6.25 inputs.
    lut = 4 * (319 + 3 * 113.75) + 12 * (319 + 2 * 113.75) + (1 + 2.25 / 4)
    ff = 4 * (288 + 3 * 48) + 12 * (288 + 2 * 48) + 7
    item = area._gate_macs(Units(gate_macs=100), M3VIT)
    assert (item.resources.lut, item.resources.ff) == (round(lut), ff)
    assert item.source == area.SYNTHESIZED and item.resources.dsp == 200
    assert "7 inputs x 4 + 6 x 12 experts" in item.label
