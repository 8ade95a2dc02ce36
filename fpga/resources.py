"""Resource counts (DSP, BRAM18, LUT, FF) and the primitive costs they are built from.

Primitive costs are stated once here. Facts: a DSP48E2 multiplies 27 x 18 signed bits; a BRAM18
holds 18 Kib and reads up to 36 bits per port per cycle. Estimates (typical post-synthesis
figures for UltraScale+ at ~300 MHz, not measurements of Edge-MoE): LUTs and FFs per adder bit,
per MAC pipeline and per AXI master.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DSP_A_BITS = 27  # DSP48E2 multiplier port widths (fact)
DSP_B_BITS = 18
BRAM18_BITS = 18 * 1024  # capacity (fact)
BRAM18_PORT_BITS = 36  # widest read port (fact)
LUT_PER_ADD_BIT = 1.0  # carry-chain adder: one LUT per bit (estimate)
FF_PER_MAC_BIT = 2.0  # operand + accumulator registers per bit (estimate)
AXI_MASTER_LUT = 2500  # one AXI master with burst logic and width converter (estimate)
AXI_MASTER_FF = 4000
AXI_MASTER_BRAM18 = 4


@dataclass(frozen=True, slots=True)
class Resources:
    """FPGA resources; BRAM in BRAM18 units (``bram36`` halves it, rounding up)."""

    dsp: int = 0
    bram18: int = 0
    lut: int = 0
    ff: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.dsp + other.dsp, self.bram18 + other.bram18,
                         self.lut + other.lut, self.ff + other.ff)

    def scaled(self, k: int) -> Resources:
        """``k`` copies."""
        return Resources(self.dsp * k, self.bram18 * k, self.lut * k, self.ff * k)

    @property
    def bram36(self) -> float:
        """BRAM36 equivalents (two BRAM18 per BRAM36)."""
        return self.bram18 / 2


def total(parts) -> Resources:
    """Sum of ``parts`` (an iterable of Resources)."""
    out = Resources()
    for part in parts:
        out = out + part
    return out


DSP_PARTIAL_BITS = 17  # a low slice of a cascaded product: 18-bit B port, zero sign bit


def dsp_per_mult(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for one signed ``a x b`` product cut as a cascade (yosys ``mul2dsp``, as
    ``synth_xilinx -family xcup`` maps it): the wider operand on the 27-bit port; beyond 27
    bits it is cut into low slices of 17 bits (each padded with a zero sign bit, their partial
    products summed along the cascade's 17-bit shift) and a top slice of up to 27 bits, then
    the other operand likewise beyond 18 bits. Up to 44 x 35 bits this is plain 27 x 18
    tiling; wider operands take more slices (71 x 9: 4, not 3)."""
    return _cut(max(a_bits, b_bits), min(a_bits, b_bits))


def _cut(a_bits: int, b_bits: int) -> int:
    """`dsp_per_mult` without putting the wider operand first (the slices keep their ports)."""
    if a_bits > DSP_A_BITS:
        low = math.ceil((a_bits - DSP_A_BITS) / DSP_PARTIAL_BITS)
        return low * _cut(DSP_PARTIAL_BITS + 1, b_bits) + _cut(
            a_bits - low * DSP_PARTIAL_BITS, b_bits)
    if b_bits > DSP_B_BITS:
        low = math.ceil((b_bits - DSP_B_BITS) / DSP_PARTIAL_BITS)
        return low * _cut(a_bits, DSP_PARTIAL_BITS + 1) + _cut(
            a_bits, b_bits - low * DSP_PARTIAL_BITS)
    return 1


def mac_array(macs: int, a_bits: int, b_bits: int, acc_bits: int) -> Resources:
    """``macs`` multiply-accumulators: DSPs for the products, LUT adders, FF pipeline."""
    return Resources(
        dsp=macs * dsp_per_mult(a_bits, b_bits),
        lut=round(macs * acc_bits * LUT_PER_ADD_BIT),
        ff=round(macs * (a_bits + acc_bits) * FF_PER_MAC_BIT),
    )


BRAM18_SHAPES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
"""A BRAM18's (read width, depth) configurations (fact): 36 bits wide it is 512 words deep."""


def bram_shape(words: int, word_bits: int, words_per_cycle: int) -> tuple[int, int, int, int]:
    """(columns, rows, width, depth) of the cheapest tiling of a buffer of ``words`` read
    ``words_per_cycle`` a cycle: rows of ``words_per_cycle x word_bits`` bits,
    ceil(words / words_per_cycle) of them, over BRAM18s of one configuration, columns of
    them side by side for the width and rows of them for the depth."""
    width = words_per_cycle * word_bits
    rows = math.ceil(words / words_per_cycle)
    return min(((math.ceil(width / w), math.ceil(rows / h), w, h) for w, h in BRAM18_SHAPES),
               key=lambda shape: (shape[0] * shape[1], -shape[2]))


def bram_buffer(words: int, word_bits: int, words_per_cycle: int) -> int:
    """BRAM18s for a buffer of ``words`` that must deliver ``words_per_cycle`` each cycle:
    the cheapest tiling by one BRAM18 configuration (`bram_shape`). At least its capacity and
    its read width need (36 bits a cycle a BRAM18), more when the depth a width leaves does
    not fit: 576 rows of 4,096 bits take 2 x 114 BRAM18, not 128."""
    columns, rows, _, _ = bram_shape(words, word_bits, words_per_cycle)
    return columns * rows


def axi_masters(count: int) -> Resources:
    """``count`` AXI master interfaces."""
    return Resources(bram18=AXI_MASTER_BRAM18 * count, lut=AXI_MASTER_LUT * count,
                     ff=AXI_MASTER_FF * count)


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled part of a unit: its resources and how they are counted (``label``);
    ``source`` names where its LUT/FF come from when not the per-bit estimate."""

    label: str
    resources: Resources
    source: str = ""

    def scaled(self, k: int, label: str) -> Item:
        """``k`` copies, labelled ``label x (<this label>)``."""
        return Item(f"{label} x ({self.label})", self.resources.scaled(k), self.source)


def mac_item(label: str, macs: int, a_bits: int, b_bits: int, acc_bits: int) -> Item:
    """`mac_array` labelled with its operand widths and DSPs per multiply."""
    per = dsp_per_mult(a_bits, b_bits)
    return Item(f"{label} of {a_bits} x {b_bits} b, {per} DSP each",
                mac_array(macs, a_bits, b_bits, acc_bits))


def buffer_item(label: str, count: int, words: int, word_bits: int, words_per_cycle: int) -> Item:
    """``count`` copies of `bram_buffer`, labelled with what sizes each: its capacity or the
    read width it must deliver per cycle."""
    columns, rows, width, depth = bram_shape(words, word_bits, words_per_cycle)
    per = columns * rows
    row_count = math.ceil(words / words_per_cycle)
    why = (f"{row_count:,} x {words_per_cycle * word_bits:,} b as {columns:,} x {rows:,} of "
           f"{depth:,} x {width} b")
    each = " each" if count > 1 else ""
    return Item(f"{label}: {per:,} BRAM18{each} ({why})", Resources(bram18=count * per))
