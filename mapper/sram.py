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


def _missing(key: Key) -> str:
    tech, bits, banks, ports = key
    table = _table()
    if tech not in {k[0] for k in table}:
        return f"technology {tech} nm is not tabulated (tabulated: {_choices({k[0] for k in table})})"
    if ports not in {k[3] for k in table}:
        return f"{ports} ports are not tabulated (tabulated: {_choices({k[3] for k in table})})"
    if bits not in {k[1] for k in table if k[0] == tech}:
        return (f"an access width of {bits} bits is not tabulated (tabulated: "
                f"{_choices({k[1] for k in table if k[0] == tech})})")
    return (f"{banks} banks with {bits}-bit accesses are not tabulated (tabulated: "
            f"{_choices({k[2] for k in table if k[:2] == (tech, bits)})})")


def _interpolate(lo: SramCost, hi: SramCost, t: float) -> SramCost:
    def mix(a: float, b: float) -> float:
        return math.exp((1 - t) * math.log(a) + t * math.log(b)) if a > 0 and b > 0 else a + t * (b - a)
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
    key = (tech_nm, access_bits, banks, ports)
    if key not in _table():
        raise InputError(f"CACTI SRAM table ({TABLE}): {_missing(key)}")
    capacities, costs = _table()[key]
    if not capacities[0] <= capacity_bytes <= capacities[-1]:
        raise InputError(f"CACTI SRAM table ({TABLE}): a {capacity_bytes}-byte buffer of "
                         f"{banks} banks read {access_bits} bits at a time is outside the "
                         f"tabulated {capacities[0]}..{capacities[-1]} bytes")
    i = bisect.bisect_left(capacities, capacity_bytes)
    if capacities[i] == capacity_bytes:
        return costs[i]
    lo, hi = capacities[i - 1], capacities[i]
    t = math.log(capacity_bytes / lo) / math.log(hi / lo)
    return _interpolate(costs[i - 1], costs[i], t)
