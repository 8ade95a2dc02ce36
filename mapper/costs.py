"""The named cost tables a design can start from, and resolving a design's table against them.

A design file's ``cost_table:`` names a ``preset`` and overrides any field; `resolve` fills
every field the design left out from the preset. Two presets:

``fusemax-md`` (the default: what a design gets when it says nothing)
    Exactly the 45 nm table of shared/reference/fusemax.md §5: fp MAC 17.16 pJ / 1545 µm²; fp
    add 8.34 pJ / 1030 µm²; max 0.028 pJ / 49.3 µm²; divider 36.25 pJ / 23741 µm²; 1D RF of 32
    16-bit entries read 2.19 / write 1.91 pJ, 16849 µm²; HBM2 249.6 pJ per 64-bit access; global
    buffer 485 pJ per 4096-bit row read, 451 pJ per row write. What §5 does not give:

    - register files of other sizes (``rf_model: per_entry``): energy per access, leakage and
      area scale with stored bits (entries × width) from the 32 × 16-bit RF of §5;
    - the exp unit (FLAT's 1D PEs), 94.6475 pJ and 8240 µm² (5 fp MACs + 1 fp multiplier), and
      every unit's leakage (MAC 0.180192, add 0.084574, max 1.3e-5, divider 0, exp unit 0.99658
      pJ/cycle; the 32-entry RF 0.000431 pJ/cycle): the artifact's 45 nm Accelergy tables that
      §5 quotes (FPSG-UIUC/micro24-fusemax-artifact, ``workspace/inputs/yamls/area_energy/``
      ``outputs-1d-flat/ERT.yaml``, ``ART_summary_verbose.yaml``,
      ``outputs-1d-fusemax/ERT_summary_verbose.yaml``);
    - the global buffer's SRAM area, 0.3508 µm² per bit: the artifact's CACTI area of a 32 MiB
      buffer, 94 176 000 µm² (``outputs-2d-flat/ART_summary_verbose.yaml``);
    - the global buffer's leakage: 0 (not in §5; the artifact's only figure belongs to its 16 nm
      CACTI buffer, the ``accelergy-artifact`` preset's).

``accelergy-artifact`` (an explicit choice)
    The artifact's own tables, unrounded: arithmetic from ``outputs-1d-flat/ERT.yaml`` (MAC
    17.1645, add 8.3395, max 0.028036, divider 36.251153 pJ) and ``ART_summary_verbose.yaml``
    (max 49.28944, divider 23740.9375 µm²); register files by Accelergy's smartbuffer_RF scaling
    of the regfile primitive (`mapper.accelergy`; column read 0.009, row compare 0.02947, row
    leak 2.6702e-5 pJ, bit 5.98 µm², row comparator 71 µm²; address generators 0.02037462 pJ,
    1.969e-6 pJ leak, 29.0871 µm² at 5 bits); the global buffer's row energies 2286.521343 /
    2759.44498 pJ and leakage 1.274859 pJ/cycle per 16 MiB from the Timeloop ERT of the
    evaluated 16 MiB, 4096-bit, 32-bank buffer
    (``data/pregenerated/check/timeloop/timeloop-model.ERT.yaml``: CACTI at the Timeloop model's
    16 nm, a lower bound at 45 nm); its per-entry RF fields are the same check run's unscaled
    32-entry RF (2.194455 / 1.906455 pJ). DRAM, exp unit, unit leakages, SRAM area: as above.
"""

from __future__ import annotations

import dataclasses
import functools

from .accelergy import RegFileCost, regfile
from .spec import CostTable

_SHARED = dict(
    exp_unit_pj=94.6475, dram_pj_per_64b=249.6,
    mac_leak_pj=0.180192, add_leak_pj=0.084574, max_leak_pj=0.000013, div_leak_pj=0.0,
    exp_unit_leak_pj=0.99658, mac_um2=1545.0, add_um2=1030.0, exp_unit_um2=8240.0,
    sram_um2_per_bit=94176000.0 / (32 * 2**23),
    rf_reference_entries=32, rf_reference_width_bits=16, rf_leak_pj=0.000431, rf_um2=16849.0,
    rf_column_read_pj=0.009, rf_row_compare_pj=0.02947, rf_addr_pj_per_bit=0.02037462 / 5,
    rf_row_leak_pj=2.6702127661e-05, rf_addr_leak_pj_per_bit=1.9690393618e-06 / 5,
    rf_bit_um2=5.98, rf_row_comparator_um2=71.0, rf_addr_um2_per_bit=29.0871 / 5,
)

FUSEMAX_MD = CostTable(
    preset="fusemax-md", rf_model="per_entry", buffer_model="row_energy",
    mac_pj=17.16, add_pj=8.34, max_pj=0.028, div_pj=36.25,
    buffer_row_read_pj=485.0, buffer_row_write_pj=451.0, sram_leak_pj_per_bit=0.0,
    max_um2=49.3, div_um2=23741.0, rf_read_pj=2.19, rf_write_pj=1.91, **_SHARED,
)
"""fusemax.md §5's table (the default); see the module docstring for each value's source."""

ACCELERGY_ARTIFACT = CostTable(
    preset="accelergy-artifact", rf_model="accelergy_smartbuffer", buffer_model="row_energy",
    mac_pj=17.1645, add_pj=8.3395, max_pj=0.028036, div_pj=36.251153,
    buffer_row_read_pj=2286.521343, buffer_row_write_pj=2759.44498,
    sram_leak_pj_per_bit=1.274859 / (16 * 2**23),
    max_um2=49.28944, div_um2=23740.9375, rf_read_pj=2.194455, rf_write_pj=1.906455, **_SHARED,
)
"""The FuseMax artifact's Accelergy/CACTI tables; see the module docstring for sources."""

CACTI_45NM = dataclasses.replace(FUSEMAX_MD, preset="cacti-45nm", buffer_model="cacti")
"""§5's table with each global buffer priced by CACTI at 45 nm for its own organisation."""

PRESETS: dict[str, CostTable] = {"fusemax-md": FUSEMAX_MD, "accelergy-artifact": ACCELERGY_ARTIFACT,
                                 "cacti-45nm": CACTI_45NM}
"""Every preset by the name a design file's ``cost_table.preset`` uses; each has no None field."""


@functools.lru_cache(maxsize=64)
def resolve(table: CostTable) -> CostTable:
    """``table`` with every field it leaves ``None`` taken from its preset.

    The result has no ``None`` field; resolving a resolved table returns an equal table.
    ``table.preset`` is one of `PRESETS` (the type's ``Literal`` and the loader ensure it).
    """
    overrides = {f.name: getattr(table, f.name) for f in dataclasses.fields(table)
                 if getattr(table, f.name) is not None}
    return dataclasses.replace(PRESETS[table.preset], **overrides)


def per_entry_regfile(depth: int, width_bits: int, table: CostTable) -> RegFileCost:
    """A ``depth`` × ``width_bits`` RF priced per stored bit from the table's reference RF.

    Energy per access, leakage and area are the reference RF's × (depth · width_bits) /
    (``rf_reference_entries`` · ``rf_reference_width_bits``). ``table`` must be resolved.
    """
    scale = depth * width_bits / (table.rf_reference_entries * table.rf_reference_width_bits)
    return RegFileCost(table.rf_read_pj * scale, table.rf_write_pj * scale,
                       table.rf_leak_pj * scale, table.rf_um2 * scale)


def regfile_cost(depth: int, width_bits: int, table: CostTable) -> RegFileCost:
    """Cost of one ``depth`` × ``width_bits`` register file under the table's ``rf_model``.

    Raises
    ------
    ValueError
        If ``depth`` or ``width_bits`` is not positive (the spec loader rejects such designs).
    """
    if depth < 1 or width_bits < 1:
        raise ValueError(f"register file needs positive depth and width, not {depth}x{width_bits}")
    table = resolve(table)
    if table.rf_model == "per_entry":
        return per_entry_regfile(depth, width_bits, table)
    return regfile(depth, width_bits, table)


UNREAD_FIELDS = {
    ("buffer_model", "cacti"): (
        ("buffer_row_read_pj", "buffer_row_write_pj", "sram_leak_pj_per_bit", "sram_um2_per_bit"),
        "row_energy", "prices each global buffer by CACTI for its organisation (buffer_bytes, "
        "row_bits, banks, ports)"),
    ("rf_model", "per_entry"): (
        ("rf_column_read_pj", "rf_row_compare_pj", "rf_addr_pj_per_bit", "rf_row_leak_pj",
         "rf_addr_leak_pj_per_bit", "rf_bit_um2", "rf_row_comparator_um2", "rf_addr_um2_per_bit"),
        "accelergy_smartbuffer", "scales the reference RF (rf_reference_entries, "
        "rf_reference_width_bits, rf_read_pj, rf_write_pj, rf_leak_pj, rf_um2) per stored bit"),
    ("rf_model", "accelergy_smartbuffer"): (
        ("rf_reference_entries", "rf_reference_width_bits", "rf_read_pj", "rf_write_pj",
         "rf_leak_pj", "rf_um2"),
        "per_entry", "prices a regfile primitive (the rf_column_*, rf_row_*, rf_addr_* and "
        "rf_bit_um2 fields)"),
}
"""(model field, its value) → (cost-table fields that model never reads, the model that reads
them, what the model does instead); see `mapper.price.buffer_cost` and `regfile_cost`."""


def unread_fields(table: CostTable) -> list[tuple[str, str]]:
    """(field, message) for each field ``table`` sets that its buffer or RF model never reads:
    silently unused, it would look like it prices the buffer or the register files."""
    resolved = resolve(table)
    found = []
    for (model_field, model), (fields, other, instead) in UNREAD_FIELDS.items():
        if getattr(resolved, model_field) != model:
            continue
        how = (f"{model_field} is {model}" if getattr(table, model_field) else
               f"preset {table.preset}'s {model_field} is {model}")
        found += [(name, f"has no effect: the {how}, which {instead}; give "
                   f"{model_field}: {other} to use this field, or leave it out")
                  for name in fields if getattr(table, name) is not None]
    return found
