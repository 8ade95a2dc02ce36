"""SRAM cost from a CACTI 7 table: energy per access, leakage and area of a global buffer.

``mapper/data/cacti_sram.csv`` is written by ``scripts/cacti_table.py`` (CACTI's sources from the
PyPI wheel of ``hwcomponents-cacti``, one read/write port, ITRS low-standby-power cells; the same
tool Accelergy uses for the FuseMax artifact's buffers). Rows are keyed by technology, capacity,
access width (bits per read or write) and banks. `sram_cost` interpolates between the two
tabulated capacities around the asked one, linearly in log(capacity) on log(value) (CACTI's
costs follow power laws in capacity); the other keys must match a row exactly.

Two rows of the table are facts quoted elsewhere, and the tests check them: a 32 MiB SRAM read
64 bits at a time in one bank costs 484.9 / 451.2 pJ per read / write and 94.176 mm² at 45 nm —
the "485 / 451 pJ" of fusemax.md §5 and the 94 176 000 µm² of the artifact's
``outputs-2d-flat/ART_summary_verbose.yaml``.
"""

from __future__ import annotations

import bisect
import csv
import functools
import math
from dataclasses import dataclass
from importlib import resources

from einsum.errors import InputError

TABLE = "cacti_sram.csv"


@dataclass(frozen=True, slots=True)
class SramCost:
    """One SRAM: energy per access (pJ), total leakage power (mW) and area (µm²)."""

    read_pj: float
    write_pj: float
    leak_mw: float
    area_um2: float

    def leak_pj_per_cycle(self, clock_mhz: float) -> float:
        """Leakage energy per clock cycle, in pJ (mW / MHz = nJ per 1000 cycles)."""
        return self.leak_mw * 1e3 / clock_mhz


Key = tuple[int, int, int, int]
"""(technology in nm, access width in bits, banks, read/write ports)."""


@functools.cache
def _table() -> dict[Key, tuple[tuple[int, ...], tuple[SramCost, ...]]]:
    """Rows grouped by key, each group sorted by capacity."""
    groups: dict[Key, list[tuple[int, SramCost]]] = {}
    text = resources.files("mapper").joinpath("data", TABLE).read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    for r in csv.DictReader(lines):
        key = (int(r["tech_nm"]), int(r["access_bits"]), int(r["banks"]), int(r["ports"]))
        cost = SramCost(float(r["read_pj"]), float(r["write_pj"]), float(r["leak_mw"]),
                        float(r["area_mm2"]) * 1e6)
        groups.setdefault(key, []).append((int(r["capacity_bytes"]), cost))
    return {k: (tuple(c for c, _ in sorted(v, key=lambda x: x[0])),
                tuple(s for _, s in sorted(v, key=lambda x: x[0]))) for k, v in groups.items()}


def _choices(values: set[int]) -> str:
    return ", ".join(str(v) for v in sorted(values))


def sram_problem(capacity_bytes: int, access_bits: int, banks: int = 1, ports: int = 1,
                 tech_nm: int = 45) -> tuple[str, str] | None:
    """Why the table cannot price this SRAM, as (the buffer field at fault, message), or None.

    The field is one of ``ports``, ``row_bits`` (the access width), ``banks`` and
    ``buffer_bytes``: the first that has no tabulated value given the ones before it.
    """
    table = _table()
    techs = {k[0] for k in table}
    if tech_nm not in techs:
        return "tech_nm", f"technology {tech_nm} nm is not tabulated (tabulated: {_choices(techs)})"
    if ports not in {k[3] for k in table}:
        return "ports", (f"the CACTI table ({TABLE}) has single-ported SRAMs only, not {ports} "
                         f"ports (tabulated: {_choices({k[3] for k in table})})")
    widths = {k[1] for k in table if k[0] == tech_nm}
    if access_bits not in widths:
        return "row_bits", (f"the CACTI table ({TABLE}) has no {access_bits}-bit accesses "
                            f"(tabulated: {_choices(widths)})")
    key = (tech_nm, access_bits, banks, ports)
    if key not in table:
        choices = {k[2] for k in table if k[:2] == (tech_nm, access_bits)}
        return "banks", (f"the CACTI table ({TABLE}) has no {banks} banks with {access_bits}-bit "
                         f"accesses (tabulated: {_choices(choices)})")
    capacities = table[key][0]
    if not capacities[0] <= capacity_bytes <= capacities[-1]:
        return "buffer_bytes", (f"the CACTI table ({TABLE}) covers {capacities[0]}.."
                                f"{capacities[-1]} bytes for {banks} banks read {access_bits} "
                                f"bits at a time, not {capacity_bytes}")
    return None


def _interpolate(lo: SramCost, hi: SramCost, t: float) -> SramCost:
    def mix(a: float, b: float) -> float:  # log-log; linear where a value is 0
        if a > 0 and b > 0:
            return math.exp((1 - t) * math.log(a) + t * math.log(b))
        return a + t * (b - a)
    return SramCost(mix(lo.read_pj, hi.read_pj), mix(lo.write_pj, hi.write_pj),
                    mix(lo.leak_mw, hi.leak_mw), mix(lo.area_um2, hi.area_um2))


@functools.lru_cache(maxsize=256)
def sram_cost(capacity_bytes: int, access_bits: int, banks: int = 1, ports: int = 1,
              tech_nm: int = 45) -> SramCost:
    """CACTI's cost of an SRAM of ``capacity_bytes`` read and written ``access_bits`` at a time.

    Raises
    ------
    InputError
        If the technology, ports, access width or bank count is not tabulated, or the capacity
        lies outside the tabulated range for that organisation (the message says what is).
    """
    problem = sram_problem(capacity_bytes, access_bits, banks, ports, tech_nm)
    if problem:
        raise InputError(problem[1])
    capacities, costs = _table()[(tech_nm, access_bits, banks, ports)]
    i = bisect.bisect_left(capacities, capacity_bytes)
    if capacities[i] == capacity_bytes:
        return costs[i]
    lo, hi = capacities[i - 1], capacities[i]
    t = math.log(capacity_bytes / lo) / math.log(hi / lo)
    return _interpolate(costs[i - 1], costs[i], t)
