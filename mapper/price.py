"""Pricing: actions × cost table → seconds, joules, mm² and utilisation.

``price(actions, arch, table) -> Cost``. Energy per component is the count times the table's
per-action energy; buffer energy is per row (``row_bits`` wide) spread over the words of a row,
from the table's row energies or from CACTI for the buffer's organisation (`buffer_cost`);
DRAM energy per 64-bit access; register-file energy per access by each array's RF size
(`mapper.costs.regfile_cost`); leakage is every PE's and the buffer's per-cycle leakage over the
latency. Area is the PE arrays (units + register files) plus the buffer. Every function takes a
design's `CostTable` as written and resolves it against its preset (`mapper.costs.resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .accelergy import RegFileCost, sram_area_um2, sram_leak_pj
from .costs import regfile_cost, resolve
from .count import ARRAYS, Actions
from .spec import Architecture, CostTable, PEUnits
from .sram import SramCost, sram_cost, sram_problem


@dataclass(frozen=True, slots=True)
class Cost:
    """Time, energy (J, with a per-component breakdown), area (mm²) and utilisation (0..1)."""

    latency_s: float
    energy_j: float
    energy_by_component_j: dict[str, float]
    area_mm2: float
    util: dict[str, float]
    util_2d_by_einsum: dict[str, float]
    traffic_bytes: int


def rf_cost(pe: PEUnits, arch: Architecture, table: CostTable) -> RegFileCost:
    """The PE's register file (``rf_entries`` words of the architecture's word size)."""
    return regfile_cost(pe.rf_entries, 8 * arch.word_bytes, table)


def pe_area_um2(pe: PEUnits, arch: Architecture, table: CostTable) -> float:
    """Area of one PE: its units plus its register file.

    The fp adder is not counted beside a MAC unit: the MAC's own adder does the PE's additions
    (the artifact's ``collect_area`` skips ``add`` for that reason).
    """
    table = resolve(table)
    area = rf_cost(pe, arch, table).area_um2
    area += table.mac_um2 * pe.mac + table.add_um2 * (pe.add and not pe.mac)
    area += table.max_um2 * pe.max
    area += table.div_um2 * pe.divider + table.exp_unit_um2 * (pe.exp == "unit")
    return area


def pe_leak_pj(pe: PEUnits, arch: Architecture, table: CostTable) -> float:
    """Leakage of one PE per cycle (its units and register file), in pJ."""
    table = resolve(table)
    leak = rf_cost(pe, arch, table).leak_pj
    leak += table.mac_leak_pj * pe.mac + table.add_leak_pj * pe.add + table.max_leak_pj * pe.max
    return leak + table.div_leak_pj * pe.divider + table.exp_unit_leak_pj * (pe.exp == "unit")


def buffer_cost(arch: Architecture, table: CostTable) -> SramCost:
    """The global buffer: energy per row access, leakage (mW) and area, by the table's model.

    ``row_energy``: the table's row energies, per-bit leakage (converted at the clock) and
    per-bit area; ``cacti``: CACTI for the buffer's capacity, row width, banks and ports.
    """
    table = resolve(table)
    buf = arch.buffer
    if table.buffer_model == "cacti":
        return sram_cost(buf.buffer_bytes, buf.row_bits, buf.banks, buf.ports)
    leak_mw = sram_leak_pj(buf.buffer_bytes, table) * arch.clock_mhz / 1e3
    return SramCost(table.buffer_row_read_pj, table.buffer_row_write_pj, leak_mw,
                    sram_area_um2(buf.buffer_bytes, table))


def buffer_problem(arch: Architecture, table: CostTable) -> tuple[str, str] | None:
    """Why ``arch``'s buffer cannot be priced under ``table``, as (``buffer.<field>``, message),
    or None. Only the ``cacti`` model can fail: its table covers some organisations."""
    if resolve(table).buffer_model != "cacti":
        return None
    buf = arch.buffer
    found = sram_problem(buf.buffer_bytes, buf.row_bits, buf.banks, buf.ports)
    return (f"buffer.{found[0]}", found[1]) if found else None


def area_mm2(arch: Architecture, table: CostTable) -> float:
    """Chip area: 2D array, 1D array and the global buffer's SRAM."""
    table = resolve(table)
    a2, a1 = arch.array_2d, arch.array_1d
    um2 = a2.rows * a2.cols * pe_area_um2(a2.pe, arch, table)
    um2 += a1.pes * pe_area_um2(a1.pe, arch, table)
    return (um2 + buffer_cost(arch, table).area_um2) / 1e6


def energy_pj(actions: Actions, arch: Architecture, table: CostTable) -> dict[str, float]:
    """Energy per component in pJ."""
    table = resolve(table)
    unit = {"mac": table.mac_pj, "add": table.add_pj, "max": table.max_pj, "div": table.div_pj,
            "exp": table.exp_unit_pj}
    pes = {"2d": arch.array_2d.pe, "1d": arch.array_1d.pe}
    out = {}
    for array in ARRAYS:
        for action, n in actions.arith[array].items():
            out[f"{array} {action}"] = n * unit[action]
        rf = rf_cost(pes[array], arch, table)
        out[f"{array} rf"] = actions.rf_reads[array] * rf.read_pj + actions.rf_writes[array] * rf.write_pj
    words_per_row = arch.buffer.row_bits / (8 * arch.word_bytes)
    buffer = buffer_cost(arch, table)
    out["buffer"] = (actions.buffer_read_words * buffer.read_pj
                     + actions.buffer_write_words * buffer.write_pj) / words_per_row
    out["dram"] = (actions.dram_read_bytes + actions.dram_write_bytes) / 8 * table.dram_pj_per_64b
    a2, a1 = arch.array_2d, arch.array_1d
    per_cycle = a2.rows * a2.cols * pe_leak_pj(a2.pe, arch, table)
    per_cycle += a1.pes * pe_leak_pj(a1.pe, arch, table)
    out["leakage"] = actions.latency_cycles * per_cycle
    out["buffer leakage"] = actions.latency_cycles * buffer.leak_pj_per_cycle(arch.clock_mhz)
    return out


def price(actions: Actions, arch: Architecture, table: CostTable) -> Cost:
    """Seconds, joules, mm² and utilisation of ``actions`` on ``arch``."""
    seconds = actions.latency_cycles / (arch.clock_mhz * 1e6)
    pes = {"2d": arch.array_2d.rows * arch.array_2d.cols, "1d": arch.array_1d.pes}
    span = max(actions.latency_cycles, 1e-30)
    util = {a: actions.busy[a] / (span * pes[a]) for a in ARRAYS}
    by_einsum = {k: v / (span * pes["2d"]) for k, v in actions.busy_2d_by_einsum.items()}
    breakdown = {k: v * 1e-12 for k, v in energy_pj(actions, arch, table).items()}
    return Cost(seconds, sum(breakdown.values()), breakdown, area_mm2(arch, table), util,
                by_einsum, actions.dram_read_bytes + actions.dram_write_bytes)
