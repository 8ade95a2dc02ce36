"""One evaluation of the FPGA model: latency, breakdown, resources, power, energy, bandwidth.

``evaluate(design, techniques, units)`` → :class:`Result`. Counting (cycles, bytes, resources)
stays in schedule/units/area; this module prices them (ms, W, J) and checks the board fit.
Power = board static power + resource-proportional dynamic power at the clock + DDR energy over
the run (coefficients in ``design.power``, estimates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from einsum.errors import InputError
from fpga import area
from fpga.board import Board, get_board
from fpga.fit import overflow
from fpga.resources import Resources, total
from fpga.schedule import CATEGORIES, cycles_to_ms, image_timing
from fpga.spec import FpgaDesign, Techniques, Units


@dataclass(frozen=True, slots=True)
class Result:
    """Per-image figures of one design point."""

    latency_ms: float
    breakdown_ms: dict[str, float]
    resources: Resources
    unit_resources: dict[str, Resources]
    power_w: float
    energy_j: float
    ddr_mb: float
    ddr_gbps: float
    attn_demand_gbps: float
    fits: bool


def fits(board: Board, r: Resources) -> bool:
    """Whether ``r`` fits ``board``: no resource overflows (`fpga.fit.overflow`)."""
    return not overflow(r, board)


def power_w(design: FpgaDesign, board: Board, r: Resources, ddr_bytes: int,
            seconds: float) -> float:
    """Static + dynamic + DDR power (W)."""
    c = design.power
    dynamic = (r.dsp * c.dsp_mw + r.bram18 * c.bram18_mw + r.uram * c.uram_mw) * 1e-3 + (
        r.lut * c.lut_uw + r.ff * c.ff_uw) * 1e-6
    dynamic *= design.units.clock_mhz / 300.0  # coefficients are stated at 300 MHz
    ddr = ddr_bytes * c.ddr_pj_per_byte * 1e-12 / seconds
    return board.static_w + dynamic + ddr


def evaluate(design: FpgaDesign, techniques: Techniques, units: Units | None = None) -> Result:
    """Model one image of ``design.workload`` with ``techniques`` on ``units`` (default the
    design's)."""
    u = units or design.units
    board = get_board(design.board)
    spec, m = design.workload, design.math
    timing = image_timing(spec, board, u, techniques, m, design.routing)
    latency_ms = cycles_to_ms(timing.total, u.clock_mhz)
    parts = area.unit_resources(design, techniques, u)
    res = total(parts.values())
    seconds = latency_ms / 1e3
    power = power_w(design, board, res, timing.ddr_bytes, seconds)
    return Result(
        latency_ms=latency_ms,
        breakdown_ms={k: cycles_to_ms(timing.cycles[k], u.clock_mhz) for k in CATEGORIES},
        resources=res, unit_resources=parts, power_w=power, energy_j=power * seconds,
        ddr_mb=timing.ddr_bytes / 1e6, ddr_gbps=timing.ddr_bytes / seconds / 1e9,
        attn_demand_gbps=timing.attn_demand_bytes_per_cycle * u.clock_mhz * 1e6 / 1e9,
        fits=fits(board, res),
    )


FINITE = ("latency_ms", "power_w", "energy_j")
"""The figures of a `Result` that must be finite numbers (the rest follow from them)."""


def check_finite(r: Result, what: str, u: Units) -> None:
    """Raise InputError (one line, starting ``what: ``) when a figure of ``r`` left float64: a
    clock hundreds of orders of magnitude below a real one, or a power coefficient near
    float64's largest, would otherwise print ``inf`` and ``nan`` as results."""
    for name in FINITE:
        value = getattr(r, name)
        if not math.isfinite(value):
            raise InputError(f"{what}: {name} comes out {value}, beyond float64: the clock "
                             f"(units.clock_mhz {u.clock_mhz:g}) or a power coefficient is "
                             f"far outside the model's range")
