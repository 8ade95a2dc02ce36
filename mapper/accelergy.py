"""Register-file and SRAM costs by the Accelergy conventions FuseMax's artifact uses.

FuseMax's artifact (FPSG-UIUC/micro24-fusemax-artifact) prices every PE register file with
Accelergy's ``smartbuffer_RF`` compound class: a ``regfile`` library primitive of
``max(32, width)`` bits × ``max(64, depth)`` rows, scaled down to the real size, plus two
address generators (Neurosim integer adders of ``ceil(log2 depth)`` bits). From the class
(``outputs-2d-*/inputs/input.yaml``)::

    area_scale          = (width / memory_width) · (depth / memory_depth)
    dynamic_energy_scale = (width / memory_width) · (depth / memory_depth) ** 0.78
    static_energy_scale  = area_scale

and from the primitive tables (``outputs-1d-fusemax/ERT_summary_verbose.yaml``,
``outputs-*/ART_summary_verbose.yaml``): a read costs one column read per bit column plus one
compare per row of the primitive, a write one compare per row; each access adds one address
generation. The functions below evaluate that model for any depth; the tests check that it
reproduces the artifact's tables for the 16- and 32-entry 1D RFs and the 4-entry 2D RF. It is
the ``accelergy_smartbuffer`` RF model of a cost table (`mapper.costs`). Every function here
takes a resolved table (no ``None`` field; `mapper.costs.resolve`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .spec import CostTable

DYNAMIC_EXPONENT = 0.78
"""Accelergy smartbuffer: dynamic energy scales with (depth / memory_depth) ** (1.56 / 2)."""


@dataclass(frozen=True, slots=True)
class RegFileCost:
    """Per-access energy (pJ), leakage per cycle (pJ) and area (µm²) of one register file."""

    read_pj: float
    write_pj: float
    leak_pj: float
    area_um2: float


def _addr_bits(depth: int) -> int:
    return max(1, math.ceil(math.log2(depth))) if depth > 1 else 1


def regfile(depth: int, width_bits: int, table: CostTable) -> RegFileCost:
    """Cost of a ``depth`` × ``width_bits`` register file (``smartbuffer_RF``).

    Raises
    ------
    ValueError
        If ``depth`` or ``width_bits`` is not positive (the spec loader rejects such designs).
    """
    if depth < 1 or width_bits < 1:
        raise ValueError(f"register file needs positive depth and width, not {depth}x{width_bits}")
    mem_width, mem_depth = max(32, width_bits), max(64, depth)
    width_scale, depth_scale = width_bits / mem_width, depth / mem_depth
    dynamic = width_scale * depth_scale ** DYNAMIC_EXPONENT
    static = width_scale * depth_scale
    bits = _addr_bits(depth)
    compare = mem_depth * table.rf_row_compare_pj
    read = (mem_width * table.rf_column_read_pj + compare) * dynamic + bits * table.rf_addr_pj_per_bit
    write = compare * dynamic + bits * table.rf_addr_pj_per_bit
    leak = mem_depth * table.rf_row_leak_pj * static + 2 * bits * table.rf_addr_leak_pj_per_bit
    area = (mem_width * mem_depth * table.rf_bit_um2 + mem_depth * table.rf_row_comparator_um2)
    area = area * static + 2 * bits * table.rf_addr_um2_per_bit
    return RegFileCost(read, write, leak, area)


def sram_area_um2(buffer_bytes: int, table: CostTable) -> float:
    """Area of the global buffer's SRAM (CACTI per bit, see `CostTable.sram_um2_per_bit`)."""
    return buffer_bytes * 8 * table.sram_um2_per_bit


def sram_leak_pj(buffer_bytes: int, table: CostTable) -> float:
    """Leakage of the global buffer per cycle, in pJ (CACTI per bit per cycle)."""
    return buffer_bytes * 8 * table.sram_leak_pj_per_bit
