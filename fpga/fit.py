"""Board fit: which resources a design overflows on its board, and by how much.

``overflow(resources, board)`` lists every resource the design uses beyond the device's total
(DSP, BRAM36, URAM, LUT, FF — in that order); ``overflow_text`` renders them on one line::

    DSP 4,028 > 1,728 (+2,300), BRAM36 698.5 > 312 (+386.5)

An empty overflow means the design fits (the same test as ``fpga.model.fits``). BRAM is compared
in BRAM18 blocks (what the design counts) and shown in BRAM36 equivalents (what a device table
lists), so a half BRAM36 shows as ``.5``. URAM counts URAM288 blocks (only buffers a design binds
to UltraRAM use them): a design asking for them on a board without, ``URAM 114 > 0 (+114)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fpga import area
from fpga.board import Board
from fpga.resources import Resources, total
from fpga.spec import FpgaDesign, Techniques, Units


@dataclass(frozen=True, slots=True)
class Excess:
    """One resource a design uses beyond its board's total.

    Attributes
    ----------
    resource : ``"DSP"``, ``"BRAM36"``, ``"URAM"``, ``"LUT"`` or ``"FF"``.
    used : what the design needs (BRAM36 may be a half: two BRAM18 make one BRAM36).
    available : the device's total.
    """

    resource: str
    used: float
    available: float

    @property
    def excess(self) -> float:
        """``used - available`` (> 0)."""
        return self.used - self.available

    def __str__(self) -> str:
        return (f"{self.resource} {_number(self.used)} > {_number(self.available)} "
                f"(+{_number(self.excess)})")


def overflow(r: Resources, board: Board) -> tuple[Excess, ...]:
    """Every resource of ``r`` beyond ``board``'s totals, in the order DSP, BRAM36, URAM, LUT,
    FF; empty if ``r`` fits."""
    pairs = (("DSP", r.dsp, board.dsp), ("BRAM36", r.bram36, board.bram36),
             ("URAM", r.uram, board.uram), ("LUT", r.lut, board.lut), ("FF", r.ff, board.ff))
    return tuple(Excess(name, used, available) for name, used, available in pairs
                 if used > available)


def overflow_text(excesses: tuple[Excess, ...]) -> str:
    """One line, e.g. ``DSP 4,028 > 1,728 (+2,300), BRAM36 698.5 > 312 (+386.5)``; empty if
    nothing overflows."""
    return ", ".join(map(str, excesses))


def resources_of(design: FpgaDesign, techniques: Techniques, units: Units | None = None
                 ) -> Resources:
    """The resources ``design`` needs with ``techniques`` on ``units`` (default the design's):
    the sum ``fpga.model.evaluate`` reports, without timing the image."""
    return total(area.unit_resources(design, techniques, units).values())


def _number(value: float) -> str:
    """``4,028`` for a whole number, ``698.5`` for a fraction (thousands separated)."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"
