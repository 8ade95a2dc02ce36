"""The CACTI SRAM table and the ``cacti`` buffer model, against facts quoted elsewhere.

Independent references: fusemax.md §5's global-buffer energies (parsed from the shared file when
it is present, stated literally with the citation otherwise), the FuseMax artifact's CACTI area
of its 32 MiB, 64-bit-wide buffer (``outputs-2d-flat/ART_summary_verbose.yaml``: 94 176 000
µm²), interpolation by algebra, and the physics every SRAM obeys (bigger costs more).
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from einsum.errors import InputError
from mapper import sram
from mapper.evaluate import Point, evaluate
from mapper.price import buffer_cost
from mapper.spec import CostTable
from mapper.sram import sram_cost

REFERENCE = Path(__file__).parents[3] / "shared" / "reference" / "fusemax.md"
MIB = 2**20


def _section_5_buffer_pj() -> tuple[float, float]:
    """§5's "global buffer about 485 pJ per ... row read, 451 pJ per row write"."""
    if not REFERENCE.exists():
        return 485.0, 451.0  # fusemax.md §5, stated literally
    text = " ".join(REFERENCE.read_text().split())
    found = re.search(r"global buffer about ([\d.]+) pJ per [^,]*read, ([\d.]+) pJ per row write",
                      text)
    assert found, "fusemax.md §5 no longer states the buffer energies"
    return float(found.group(1)), float(found.group(2))


def test_section_5_buffer_energies_are_cacti_for_a_64_bit_wide_32_mib_buffer():
    # §5's numbers come out of CACTI at 45 nm for the artifact's older buffer organisation:
    # 32 MiB, one bank, read and written 64 bits at a time (not a 4096-bit row)
    read, write = _section_5_buffer_pj()
    cost = sram_cost(32 * MIB, 64, banks=1)
    assert cost.read_pj == pytest.approx(read, abs=0.5)
    assert cost.write_pj == pytest.approx(write, abs=0.5)
    assert cost.area_um2 == pytest.approx(94176000.0, rel=1e-6)  # the artifact's ART


def test_a_4096_bit_row_costs_far_more_than_section_5_says():
    # FuseMax's 16 MiB, 32-bank and FLAT's 32 MiB, 4-bank buffers read a 256-word row: tens of
    # nJ per row, about 90 pJ per 16-bit word (§5's 485 pJ per row would be 1.9 pJ per word)
    for capacity, banks in ((16 * MIB, 32), (32 * MIB, 4)):
        row = sram_cost(capacity, 4096, banks=banks)
        assert 15_000 < row.read_pj < 40_000 and 15_000 < row.write_pj < 40_000


def test_costs_grow_with_capacity_for_one_organisation():
    for bits, banks in ((64, 1), (4096, 4), (4096, 32)):
        capacities = [c for c in (2**k for k in range(16, 28))
                      if c // banks >= 64 * bits // 8]
        costs = [sram_cost(c, bits, banks=banks) for c in capacities]
        for field in ("read_pj", "write_pj", "area_um2"):
            values = [getattr(c, field) for c in costs]
            assert values == sorted(values), (bits, banks, field)
    # a narrow single-bank array is mostly cells: doubling it about doubles its area
    narrow = [sram_cost(2**k, 64).area_um2 for k in range(16, 28)]
    assert all(1.8 < b / a < 2.2 for a, b in zip(narrow, narrow[1:], strict=False))


def test_capacity_between_rows_is_log_log_interpolated():
    lo, hi = sram_cost(16 * MIB, 4096, banks=32), sram_cost(32 * MIB, 4096, banks=32)
    mid = sram_cost(24 * MIB, 4096, banks=32)
    t = math.log(24 / 16) / math.log(2)
    for field in ("read_pj", "write_pj", "leak_mw", "area_um2"):
        a, b = getattr(lo, field), getattr(hi, field)
        assert getattr(mid, field) == pytest.approx(a * (b / a) ** t, rel=1e-12), field
        assert min(a, b) <= getattr(mid, field) <= max(a, b)


@pytest.mark.parametrize("args,field,words", [
    ((16 * MIB, 4096, 3), "banks", ["3 banks", "1, 2, 4, 8, 16, 32, 64"]),
    ((16 * MIB, 100, 1), "row_bits", ["100-bit", "64, 128"]),
    ((2**40, 4096, 32), "buffer_bytes", ["1048576..134217728 bytes", str(2**40)]),
    ((16 * MIB, 4096, 32, 2), "ports", ["2 ports"]),
])
def test_untabulated_organisations_are_one_clear_error(args, field, words):
    assert sram.sram_problem(*args)[0] == field
    with pytest.raises(InputError) as error:
        sram_cost(*args)
    for word in words:
        assert word in str(error.value), str(error.value)
    assert sram.sram_problem(16 * MIB, 4096, 32) is None


def test_cacti_model_prices_each_architecture_by_its_own_buffer(paper):
    table = CostTable(preset="cacti-45nm")
    for name, banks in (("fusemax", 32), ("flat", 4)):
        arch = paper.architectures[name]
        assert arch.buffer.banks == banks  # the artifact's accel_*/accel-top-2d-path.yaml
        assert buffer_cost(arch, table) == sram_cost(arch.buffer.buffer_bytes, 4096, banks)
    # row_energy prices any buffer at the table's one row energy, leakage and area per bit
    md = buffer_cost(paper.architectures["fusemax"], CostTable(preset="fusemax-md"))
    assert (md.read_pj, md.write_pj, md.leak_mw) == (485.0, 451.0, 0.0)


def test_cacti_buffer_energy_is_words_over_row_times_row_energy(paper):
    design = dataclasses.replace(paper, cost_table=CostTable(preset="cacti-45nm"))
    _, actions, cost = evaluate(design, Point("bert", 4096, "flat", "attention"))
    row = sram_cost(32 * MIB, 4096, banks=4)
    by_hand = (actions.buffer_read_words * row.read_pj
               + actions.buffer_write_words * row.write_pj) / 256
    assert cost.energy_by_component_j["buffer"] == pytest.approx(by_hand * 1e-12, rel=1e-9)
    leak = row.leak_mw * 1e-3 * cost.latency_s  # W · s
    assert cost.energy_by_component_j["buffer leakage"] == pytest.approx(leak, rel=1e-9)


def test_table_file_is_packaged_data():
    assert sram.TABLE.endswith(".csv")
    assert sram._table()  # loads through importlib.resources
