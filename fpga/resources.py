"""Resource counts (DSP, BRAM18, LUT, FF, URAM288) and the primitive costs they are built from.

Every on-chip memory is implemented by one rule of its shape (`memory`: registers, LUT-RAM or
block RAM, as yosys's memory_libmap chooses for UltraScale+), except the buffers a design binds
to UltraRAM explicitly (`uram_memory`, as Vitis HLS's BIND_STORAGE impl=uram does; no automatic
choice ever picks URAM).

Primitive costs are stated once here. Facts: a DSP48E2 multiplies 27 x 18 signed bits; a BRAM18
holds 18 Kib and reads up to 36 bits per port per cycle. Estimates (typical post-synthesis
figures for UltraScale+ at ~300 MHz, not measurements of Edge-MoE): LUTs and FFs per adder bit,
per MAC pipeline and per AXI master.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

DSP_A_BITS = 27  # DSP48E2 multiplier port widths (fact)
DSP_B_BITS = 18
BRAM18_BITS = 18 * 1024  # capacity (fact)
BRAM18_PORT_BITS = 36  # widest read port (fact)
URAM_WORDS = 4096  # a URAM288 is 4K words of 72 bits, one fixed shape (fact, UG573)
URAM_BITS = 72
LUT_PER_ADD_BIT = 1.0  # carry-chain adder: one LUT per bit (estimate)
FF_PER_MAC_BIT = 2.0  # operand + accumulator registers per bit (estimate)
AXI_MASTER_LUT = 2500  # one AXI master's burst logic and width converter (estimate)
AXI_MASTER_FF = 4000


@dataclass(frozen=True, slots=True)
class Resources:
    """FPGA resources; BRAM in BRAM18 units (``bram36`` halves it), UltraRAM in URAM288
    blocks."""

    dsp: int = 0
    bram18: int = 0
    lut: int = 0
    ff: int = 0
    uram: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.dsp + other.dsp, self.bram18 + other.bram18,
                         self.lut + other.lut, self.ff + other.ff, self.uram + other.uram)

    def scaled(self, k: int) -> Resources:
        """``k`` copies."""
        return Resources(self.dsp * k, self.bram18 * k, self.lut * k, self.ff * k,
                         self.uram * k)

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


# ---- one mapping rule for every on-chip memory ------------------------------------------
#
# Invariant: a memory's implementation depends only on its shape (depth, bits read a cycle,
# read ports), never on the unit it sits in. The rule is yosys's `memory_libmap` (the pass
# that mapped the synthesized units of fpga/data/) with the costs of its UltraScale
# libraries: techlibs/xilinx/lutrams_xcu.txt (every LUT-RAM option "cost 16", i.e. 2 per
# LUT of its cell), brams_xc4v.txt (a RAMB18 "cost 129"), and the pass's own terms
# (passes/memory/memory_libmap.cc: a bit in registers costs 1, `-logic-cost-ram`; a LUT-RAM
# split in banks 0.5 a bit per extra bank for the read multiplexer and 0.5 per bank for the
# write-enable decoder).
# The cheapest of registers, LUT-RAM and block RAM is taken (registers first, then LUT-RAM,
# on a tie: the pass's order). yosys scales a LUT-RAM cell's cost by the bits it uses
# ("widthscale") but places the whole RAM32M16 / RAM64M8, so the cost follows yosys and the
# LUTs count whole cells: at a width that fills no cell a deeper memory can take fewer LUTs
# (96 x 1 bits: 3 RAM32M16, 24 LUTs; 97 x 1: 2 RAM64M8, 16), as yosys maps them; its cost
# never falls. Vivado's RAM_STYLE "auto" and Vitis HLS's BIND_STORAGE impl=auto are
# documented only as heuristics (UG901, UG1399), so yosys's written rule is the one used.

LUTRAM_SDP = (("RAM32M16", 32, 14, 8), ("RAM64M8", 64, 7, 8), ("RAM128X1D", 128, 1, 4),
              ("RAM256X1D", 256, 1, 8))
"""UltraScale+ LUT-RAM cells for one synchronous write port and one read port (name, depth,
bits, LUTs; UG574 / UG974), as yosys maps them (lutrams_xcu.txt options "ABITS" 5 and 6 of
the simple-dual-port cell, 7 and 8 of the dual-port one; lutrams_xc5v_map.v, which places a
dual-port cell per bit used): a 32 x 14 RAM32M16 and a 64 x 7 RAM64M8 in 8 LUTs, a 128 x 1
RAM128X1D in 4, a 256 x 1 RAM256X1D in 8. A synchronous read is the cell's asynchronous read
and an output register the pass does not cost."""
LUTRAM_COST_PER_LUT = 2.0  # yosys: cost 16 per 8-LUT option, scaled by bits used
BRAM18_COST = 129  # yosys cost of one RAMB18 (brams_xc4v.txt, "MODE" "HALF")
REGISTER_BIT_COST = 1.0  # yosys cost of a bit of memory in registers (-logic-cost-ram)
MUX_COST = 0.5  # yosys cost of a read-multiplexer bit and of a write-enable decoder output


@dataclass(frozen=True, slots=True)
class MemoryMapping:
    """How one memory is implemented: ``kind`` "registers", "LUT-RAM", "block RAM" or
    "UltraRAM", its ``resources`` (FF, LUT, BRAM18 or URAM288, all read ports included), the
    yosys ``cost`` it won with (0 for UltraRAM, which is bound, not chosen), and its
    ``tiling``: (columns, banks, bits, depth) of one cell (``primitive`` names a LUT-RAM cell; a
    BRAM18 configuration for block RAM; 72 x 4,096 for UltraRAM). The multiplexers joining banks are
    not counted (for either kind)."""

    kind: Literal["registers", "LUT-RAM", "block RAM", "UltraRAM"]
    resources: Resources
    cost: float
    tiling: tuple[int, int, int, int] = (0, 0, 0, 0)
    primitive: str = ""


def _banked_cost(cells: float, banks: int, width: int, read_ports: int) -> float:
    """yosys's cost of ``cells`` per read port in ``banks`` banks of ``width`` bits: a
    read multiplexer bit per extra bank and read port, a write-enable decoder per bank."""
    decode = MUX_COST * banks if banks > 1 else 0.0
    return read_ports * (cells + MUX_COST * (banks - 1) * width) + decode


def lutram_memory(depth: int, width: int, read_ports: int = 1) -> MemoryMapping:
    """The cheapest LUT-RAM tiling (by yosys's cost) of a ``depth x width`` memory: for a
    cell of ``bits x deep`` in ``luts`` LUTs, ceil(width / bits) x ceil(depth / deep) cells,
    one copy per read port (each cell has one read port besides its write port); the cost
    counts ``width / bits`` cells a bank (yosys's widthscale), the LUTs whole cells."""
    def option(name: str, deep: int, bits: int, luts: int) -> MemoryMapping:
        columns, banks = math.ceil(width / bits), math.ceil(depth / deep)
        total = read_ports * columns * banks * luts
        cost = _banked_cost(LUTRAM_COST_PER_LUT * luts * banks * width / bits, banks, width,
                            read_ports)
        return MemoryMapping("LUT-RAM", Resources(lut=total), cost,
                             (columns, banks, bits, deep), name)
    return min((option(*cell) for cell in LUTRAM_SDP), key=lambda m: m.cost)


def bram_memory(depth: int, width: int, read_ports: int = 1) -> MemoryMapping:
    """A ``depth x width`` memory as block RAM: `bram_shape`'s cheapest tiling by one BRAM18
    configuration (at least `bram18_lower_bound` in tests/fpga), one copy per read port (the
    write takes one of a BRAM's two ports). Its cost is 129 a BRAM18; the multiplexer of a
    tiling more than one BRAM deep is left out (yosys tiles it its own way, and where it is
    needed, beyond 512 words, block RAM is already several times cheaper than LUT-RAM), so
    the cost never falls with depth."""
    columns, rows, bits, deep = bram_shape(depth * width, 1, width)
    count = columns * rows
    return MemoryMapping("block RAM", Resources(bram18=read_ports * count),
                         read_ports * BRAM18_COST * count, (columns, rows, bits, deep))


def uram_memory(depth: int, width: int, read_ports: int = 1) -> MemoryMapping:
    """A ``depth x width`` memory bound to UltraRAM: URAM288 blocks of 4,096 x 72 bits (their
    one shape, UG573), ceil(width / 72) columns side by side by ceil(depth / 4,096) rows
    cascaded, one copy per read port. Port rule (UG573): a URAM288's two ports share one clock
    and each reads or writes once a cycle; in the simple-dual-port use Vitis HLS makes of a
    buffer written while it is read, port A writes and port B reads, so a second read port a
    cycle takes a second copy. A 576 x 4,096-bit weight buffer takes 57 x 1 = 57 URAM288
    (its 4,096 bits a cycle need 57 ports of 72 bits, whatever the depth).

    Raises ValueError for a depth, width or read-port count below 1 (a model defect)."""
    if depth < 1 or width < 1 or read_ports < 1:
        raise ValueError(f"a memory needs depth, width and read ports >= 1, not "
                         f"{(depth, width, read_ports)!r}")
    columns, rows = math.ceil(width / URAM_BITS), math.ceil(depth / URAM_WORDS)
    return MemoryMapping("UltraRAM", Resources(uram=read_ports * columns * rows), 0.0,
                         (columns, rows, URAM_BITS, URAM_WORDS))


def memory(depth: int, width: int, read_ports: int = 1) -> MemoryMapping:
    """How the FPGA model implements a memory of ``depth`` words of ``width`` bits with one
    synchronous write port and ``read_ports`` read ports (each reading one word a cycle):
    the cheapest by yosys's cost of registers (depth x width FF), LUT-RAM (`lutram_memory`)
    and block RAM (`bram_memory`); see the rule above. 24 words of 256 bits (an attention
    token cache, rtl layernorm's row memory) cost 16 x 256 / 14 = 293 as 19 RAM32M16
    (152 LUT) against 129 x 8 = 1,032 as 8 BRAM18 and 6,144 as registers: LUT-RAM.

    Raises ValueError for a depth, width or read-port count below 1 (a model defect, not
    user input)."""
    if depth < 1 or width < 1 or read_ports < 1:
        raise ValueError(f"a memory needs depth, width and read ports >= 1, not "
                         f"{(depth, width, read_ports)!r}")
    registers = MemoryMapping("registers", Resources(ff=depth * width),
                              REGISTER_BIT_COST * depth * width)
    candidates = (registers, lutram_memory(depth, width, read_ports),
                  bram_memory(depth, width, read_ports))
    return min(candidates, key=lambda m: m.cost)  # the first of equal costs


def axi_adapter_logic(count: int) -> Resources:
    """``count`` AXI master adapters' burst logic and width converters (estimates)."""
    return Resources(lut=AXI_MASTER_LUT * count, ff=AXI_MASTER_FF * count)


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


def buffer_item(label: str, count: int, words: int, word_bits: int, words_per_cycle: int,
                ultra_ram: bool = False) -> Item:
    """``count`` copies of a buffer of ``words`` read ``words_per_cycle`` a cycle, each a
    memory of ceil(words / words_per_cycle) rows of ``words_per_cycle x word_bits`` bits
    implemented as `memory` decides, or bound to UltraRAM (`uram_memory`) if ``ultra_ram``,
    labelled with the tiling that sizes it."""
    depth, width = math.ceil(words / words_per_cycle), words_per_cycle * word_bits
    mem = uram_memory(depth, width) if ultra_ram else memory(depth, width)
    each = " each" if count > 1 else ""
    shape = f"{depth:,} x {width:,} b"
    if mem.kind == "UltraRAM":
        columns, rows, bits, deep = mem.tiling
        why = f"{shape} as {columns:,} x {rows:,} of {deep:,} x {bits} b"
        what = f"{mem.resources.uram:,} URAM288{each}"
    elif mem.kind == "block RAM":
        columns, rows, bits, deep = mem.tiling
        why = f"{shape} as {columns:,} x {rows:,} of {deep:,} x {bits} b"
        what = f"{mem.resources.bram18:,} BRAM18{each}"
    elif mem.kind == "LUT-RAM":
        columns, banks, bits, deep = mem.tiling
        why = (f"{shape} as {columns:,} x {banks:,} {mem.primitive} of {deep} x {bits} b, "
               f"{mem.resources.lut // (columns * banks)} LUT each")
        what = f"{mem.resources.lut:,} LUT{each} of LUT-RAM"
    else:
        why = shape
        what = f"{mem.resources.ff:,} FF{each} in registers"
    return Item(f"{label}: {what} ({why})", mem.resources.scaled(count))
