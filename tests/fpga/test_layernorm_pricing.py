"""The FPGA model's LayerNorm priced and timed from rtl ``layernorm``.

Resources: ``fpga/data/xcup_layernorm.csv`` holds yosys ``synth_xilinx -family xcup`` of the
whole unit at d 192 (scripts/xcup_units.py); the model tiles the unit's products on DSP48E2s
(an independent count that must equal yosys's) and takes LUT/FF/BRAM from the table.
Latency: the model's cycles per row, derived from the unit's structure, against the unit itself
run cycle by cycle under Amaranth's simulator.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

from fpga import area
from fpga.resources import Resources, dsp_per_mult
from fpga.spec import Units
from fpga.synthesized import LAYERNORM_TABLE, layernorm_blocks, layernorm_lut_ff, mac_blocks
from fpga.units import Memory, layernorm_call, layernorm_row_cycles
from fpga.workload import ViTSpec
from rtl.layernorm import LayerNormUnit
from rtl.tb.amsim import handshakes

ROOT = Path(__file__).parents[2]
M3VIT = ViTSpec()
UNLIMITED = Memory(port_bytes=1e12, ddr_bytes=1e12, latency=0)  # a call's cycles = compute


def ln_units(lanes: int, **kw) -> Units:
    return Units(layernorm_lanes=lanes, **kw)


# ---- resources --------------------------------------------------------------------------------


def test_table_holds_the_default_and_neighbouring_lane_counts():
    lanes = {lanes for d, lanes, bits in layernorm_blocks() if (d, bits) == (192, 32)}
    assert {4, 8, 16} <= lanes


@pytest.mark.parametrize("a, b, tiles", [
    (27, 18, 1), (28, 18, 2),      # one more bit than the A port: a 17-bit low slice and the top
    (32, 32, 4), (32, 16, 2),      # the MAC blocks' products (2 x 2 and 2 x 1 slices)
    (40, 40, 6),                   # S1²: A 17 + 23, B 17 + 17 + 6 (18 < 23, 40 > 18): 2 x 3
    (71, 9, 4),                    # d·S2: 17 + 17 + 17 + 20 on A; a 27-bit tiling would say 3
])
def test_cascade_tiling_by_hand(a, b, tiles):
    assert dsp_per_mult(a, b) == dsp_per_mult(b, a) == tiles


def test_every_row_has_the_tiling_count_of_dsps():
    # yosys maps the RTL's $mul cells; the model tiles the products it reads off the format
    for (d, lanes, bits), row in layernorm_blocks().items():
        unit = area.layernorm(ln_units(lanes, act_bits=bits), ViTSpec(d_model=d))
        assert sum(i.resources.dsp for i in unit) == row.dsp, (lanes, row)


def test_default_dsps_by_hand():
    # per lane: x² 32 x 32 (4), 192·x 9 x 32 (2), D·r 41 x 33 (4), n·γ 32 x 16 (2) = 12;
    # per row: 192·S2 as 71 x 9 (4; S2 < 192 x 2^62 is 70 bits unsigned), S1² 40 x 40 (6)
    [item] = area.layernorm(Units(), M3VIT)
    assert item.resources.dsp == 8 * (4 + 2 + 4 + 2) + 4 + 6
    assert item.source == area.SYNTHESIZED
    assert item.label.startswith("8-lane single-pass LayerNorm (rtl layernorm)")
    assert item.label.endswith("(synthesized)")


@pytest.mark.slow
def test_tiling_off_the_table_is_yosys_count(tmp_path):
    """d 16 (a power of two: d·x and d·S2 are shifts), 4 lanes: per lane x² 4 + D·r (38 x 33)
    4 + n·γ 2, and S1² (37 x 37: 17 + 20 on A, 17 + 17 + 3 on B) 6 = 46, against yosys."""
    from rtl.synth import estimate

    est = estimate(LayerNormUnit(d=16, lanes=4), None, "layernorm", tmp_path, family="xcup")
    unit = area.layernorm(ln_units(4), ViTSpec(d_model=16, heads=1))
    assert sum(i.resources.dsp for i in unit) == est.dsps == 4 * (4 + 4 + 2) + 6


def test_luts_are_logic_plus_lutram_of_the_row():
    rows = layernorm_blocks()
    for (d, lanes, bits), row in rows.items():
        [item] = area.layernorm(ln_units(lanes, act_bits=bits), ViTSpec(d_model=d))
        res = item.resources
        assert (res.lut, res.ff, res.bram18) == (row.lut + row.lutram, row.ff, row.bram18)
        # the row and the gamma/beta memories (d/lanes words of lanes x 32 b each) are in
        # LUT-RAM or block RAM, never neither
        assert (row.lutram > 0) != (row.bram18 > 0), row


def test_lane_count_between_rows_is_interpolated_by_hand():
    rows = {lanes: r for (d, lanes, bits), r in layernorm_blocks().items()
            if (d, bits) == (192, 32)}
    lo, hi = rows[8], rows[16]
    got = layernorm_lut_ff(192, 12, 32)
    assert got.lut == round((lo.lut + lo.lutram + hi.lut + hi.lutram) / 2)
    assert got.ff == round((lo.ff + hi.ff) / 2)
    assert got.bram18 == lo.bram18 and not got.synthesized
    [item] = area.layernorm(ln_units(12), M3VIT)
    assert "interpolated" in item.label and item.source == area.SYNTHESIZED


def test_between_rows_the_memories_follow_the_memory_rule():
    """Off the table only the logic is interpolated; the two memories are what the memory
    rule makes of their shape. At 10 lanes the logic LUT and FF lie a quarter of the way from
    8 to 16 lanes (LUT-RAM left out), and the memories are 20 beats of 320 b (row 10 x 32,
    γ/β 10 x 2 x 16), at most 32 words: RAM32M16 (32 x 14 b, 8 LUT), ceil(320 / 14) = 23
    each, 368 LUT, not the 304 + (592 - 304) / 4 = 376 of interpolating yosys's LUT-RAM. At
    3 lanes, 64 beats of 96 b: RAM64M8 (64 x 7 b, 8 LUT), ceil(96 / 7) = 14 each (yosys
    cost 16 x 96 / 7 = 219 against 3 BRAM18 x 129 = 387), so no block RAM, though the
    tabulated 2 lanes below use 4 BRAM18."""
    rows = {lanes: r for (d, lanes, bits), r in layernorm_blocks().items()
            if (d, bits) == (192, 32)}
    for lanes, lo, hi, t, memories in ((10, 8, 16, 0.25, 2 * 23 * 8), (3, 2, 4, 0.5, 2 * 14 * 8)):
        lo, hi = rows[lo], rows[hi]
        got = layernorm_lut_ff(192, lanes, 32)
        logic = lo.lut + t * (hi.lut - lo.lut)
        assert abs(got.lut - memories - logic) <= 0.5, (lanes, got)
        assert abs(got.ff - (lo.ff + t * (hi.ff - lo.ff))) <= 0.5, (lanes, got)
        assert got.bram18 == 0 and not got.synthesized
    assert rows[2].bram18 == 4


def test_area_monotone_in_lanes():
    def cost(lanes):
        res = area.layernorm(ln_units(lanes), M3VIT)[0].resources
        return res.dsp, res.lut, res.ff

    previous = cost(1)
    for lanes in range(2, 65):
        now = cost(lanes)
        assert all(b > a for a, b in zip(previous, now, strict=True)), (lanes, previous, now)
        previous = now


@pytest.mark.parametrize("units, spec", [(Units(act_bits=16), M3VIT),
                                         (Units(), ViTSpec(d_model=256, heads=4))])
def test_off_the_table_falls_back_to_the_per_bit_estimate(units, spec):
    unit = area.layernorm(units, spec)
    head = unit[0]
    assert "per-bit estimate" in head.label and head.source == ""
    a, lanes = units.act_bits, units.layernorm_lanes
    assert (head.resources.lut, head.resources.ff) == (lanes * 3 * a + 1500,
                                                       lanes * 6 * a + 2000)
    # the row and γ/β memories: d / lanes rows (24 at 8 lanes, 32 at d 256) of lanes x act_bits
    # and lanes x 2 x 16 bits, at most 32 deep: LUT-RAM of RAM32M16 (32 x 14 b, 8 LUT), yosys
    # cost 16 per 14 bits against 129 per BRAM18 of 36 bits (and a register a bit per row)
    rows = math.ceil(spec.d_model / lanes)
    assert rows <= 32
    for item, width in zip(unit[1:], (lanes * a, lanes * 32), strict=True):
        assert item.resources == Resources(lut=math.ceil(width / 14) * 8), item.label


@pytest.mark.slow
def test_table_row_is_a_fresh_synthesis():
    """One lane (the fastest synthesis) against the shipped row."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "xcup_units.py"),
                             "--layernorm-lanes", "1"], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = list(csv.DictReader(result.stdout.splitlines()))
    with LAYERNORM_TABLE.open(newline="") as f:
        shipped = [r for r in csv.DictReader(f) if r["lanes"] == "1"]
    assert fresh == shipped and len(fresh) == 1


# ---- latency ---------------------------------------------------------------------------------


def measure(d: int, lanes: int, rows: int) -> tuple[list[int], list[int]]:
    """Cycles of every input and output handshake of rtl ``layernorm``: one set of parameter
    beats, then ``rows`` rows, source always valid, sink always ready (values: zeros; the
    unit's timing does not depend on them)."""
    unit = LayerNormUnit(d=d, lanes=lanes)
    beats = d // lanes
    load = 1 << (lanes * unit.lane_bits)
    words = [load] * beats + [0] * (rows * beats)
    return handshakes(unit, words, 40 * len(words) + 200, outputs=rows * beats)


@pytest.mark.parametrize("d, lanes", [(192, 8), (48, 4), (12, 1), (64, 16)])
def test_model_row_cycles_are_the_rtls(d, lanes):
    rows = 3
    ins, outs = measure(d, lanes, rows)
    beats = d // lanes
    assert len(outs) == rows * beats
    starts = [ins[beats + k * beats] for k in range(rows)]
    periods = {b - a for a, b in zip(starts, starts[1:], strict=False)}
    assert periods == {layernorm_row_cycles(ln_units(lanes), d)}
    # rows do not overlap: a row's first beat enters after the previous row's last output
    for k in range(1, rows):
        assert starts[k] == outs[k * beats - 1] + 1


def test_model_call_is_the_rtls_parameters_then_rows():
    # 4 tokens (3 patches + class) at d 192 on 8 lanes: the call's compute cycles (no memory
    # limit) = from the first parameter beat to the cycle after the last output beat
    spec = ViTSpec(image_h=16, image_w=48)
    ins, outs = measure(192, 8, spec.tokens)
    assert ins[0] == 0
    assert layernorm_call(Units(), UNLIMITED, spec).cycles == outs[-1] + 1


def test_default_row_by_hand():
    # 24 beats in, 4 statistics + 32 recurrence + 1 read + 6 registers = 43 to the first output,
    # 24 out: 23 + 43 + 23 + 1 = 90 cycles a row; the streams alone would take 48
    assert layernorm_row_cycles(Units(), 192) == 90
    call = layernorm_call(Units(), UNLIMITED, M3VIT)
    assert call.cycles == 24 + 129 * 90
    assert call.ddr_bytes == 2 * 129 * 192 * 4 + 2 * 192 * 2


# ---- patch embedding --------------------------------------------------------------------------


def test_patch_embedding_is_sixteen_synthesized_columns_of_sixteen_pixels():
    # 256 MACs: 16 pixel inputs broadcast to 16 output columns; an unsigned 8-bit pixel is a
    # 9-bit signed operand, 9 x 16 fits one DSP48E2 (27 x 18). LUT/FF: the shared part and one
    # column from the 16-input blocks 1 and 2 columns wide, shared + 16 columns.
    blocks = mac_blocks()
    one, two = blocks[(16, 1, 9, 16)], blocks[(16, 2, 9, 16)]
    item = area.others(Units(), M3VIT)["patch_embed"][0]
    assert item.resources.dsp == 256 and item.source == area.SYNTHESIZED
    assert (item.resources.lut, item.resources.ff) == tuple(
        2 * a - b + 16 * (b - a) for a, b in ((one.lut, two.lut), (one.ff, two.ff)))
    assert "16 inputs x 16 columns; unsigned 8-bit pixels as 9-bit signed" in item.label


def test_patch_embedding_monotone_in_macs():
    def cost(macs):
        res = area.patch_macs(Units(patch_embed_macs=macs)).resources
        return res.dsp, res.lut, res.ff

    for macs in range(1, 600):
        fewer, more = cost(macs), cost(macs + 1)
        assert all(m >= f for f, m in zip(fewer, more, strict=True)), (macs, fewer, more)
        assert more[0] == macs + 1


def test_patch_embedding_other_pixel_widths_fall_back_to_the_per_bit_estimate():
    # 12-bit pixels (13-bit signed) were not synthesized: 256 MACs x 32 accumulator bits of
    # LUT, 2 x (13 + 32) FF each
    item = area.patch_macs(Units(pixel_bits=12))
    assert (item.resources.lut, item.resources.ff, item.source) == (256 * 32, 256 * 90, "")
