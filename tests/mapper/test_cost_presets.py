"""The cost table's defaults are fusemax.md §5's numbers; presets and overrides load and price.

The §5 numbers are read independently of the code: parsed out of shared/reference/fusemax.md
when it is present (skipped otherwise), and stated literally with the citation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attnforge.specload import SpecError, load_spec_text
from mapper.costs import ACCELERGY_ARTIFACT, FUSEMAX_MD, PRESETS, regfile_cost, resolve
from mapper.evaluate import Point, evaluate
from mapper.spec import CostTable, Design

REPO = Path(__file__).parents[2]
REFERENCE = REPO.parent / "shared" / "reference" / "fusemax.md"
PAPER = REPO / "designs" / "fusemax-paper.yaml"

SECTION_5 = {  # fusemax.md §5, "Per-action energy / area at 45 nm"
    "mac_pj": 17.16, "mac_um2": 1545.0, "add_pj": 8.34, "add_um2": 1030.0,
    "max_pj": 0.028, "max_um2": 49.3, "div_pj": 36.25, "div_um2": 23741.0,
    "rf_read_pj": 2.19, "rf_write_pj": 1.91, "rf_um2": 16849.0, "rf_reference_entries": 32,
    "dram_pj_per_64b": 249.6, "buffer_row_read_pj": 485.0, "buffer_row_write_pj": 451.0,
}

PATTERNS = {  # field: (regex over §5's sentence, group)
    "mac_pj": (r"fp MAC ([\d.]+) pJ, ([\d.]+) um\^2", 1),
    "mac_um2": (r"fp MAC ([\d.]+) pJ, ([\d.]+) um\^2", 2),
    "add_pj": (r"fp add ([\d.]+) pJ, ([\d.]+) um\^2", 1),
    "add_um2": (r"fp add ([\d.]+) pJ, ([\d.]+) um\^2", 2),
    "max_pj": (r"max ([\d.]+) pJ, ([\d.]+) um\^2", 1),
    "max_um2": (r"max ([\d.]+) pJ, ([\d.]+) um\^2", 2),
    "div_pj": (r"divider ([\d.]+) pJ, ([\d.]+) um\^2", 1),
    "div_um2": (r"divider ([\d.]+) pJ, ([\d.]+) um\^2", 2),
    "rf_reference_entries": (r"1D RF \((\d+) entries\)", 1),
    "rf_read_pj": (r"read ([\d.]+) / write ([\d.]+) pJ, ([\d.]+) um\^2", 1),
    "rf_write_pj": (r"read ([\d.]+) / write ([\d.]+) pJ, ([\d.]+) um\^2", 2),
    "rf_um2": (r"read ([\d.]+) / write ([\d.]+) pJ, ([\d.]+) um\^2", 3),
    "dram_pj_per_64b": (r"HBM2 DRAM ([\d.]+) pJ per 64-bit", 1),
    "buffer_row_read_pj": (r"about ([\d.]+) pJ per 4096-bit row read", 1),
    "buffer_row_write_pj": (r"([\d.]+) pJ per row write", 1),
}


def _section_5_from_reference() -> dict[str, float]:
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} is not present")
    text = REFERENCE.read_text()
    paragraph = " ".join(text[text.index("Per-action energy / area at 45 nm"):].split())
    found = {}
    for name, (pattern, group) in PATTERNS.items():
        match = re.search(pattern, paragraph)
        assert match, f"§5 sentence for {name} not found"
        found[name] = float(match.group(group))
    return found


def test_reference_parses_to_the_stated_numbers():
    assert _section_5_from_reference() == SECTION_5


@pytest.mark.parametrize("name", sorted(SECTION_5))
def test_default_table_is_section_5(name):
    table = resolve(CostTable())
    assert getattr(table, name) == SECTION_5[name]
    assert getattr(table, name) == _section_5_from_reference()[name]


def test_default_rf_is_the_32_entry_16_bit_rf_scaled_per_entry():
    table = resolve(CostTable())
    assert (table.rf_model, table.rf_reference_width_bits) == ("per_entry", 16)
    rf32, rf12 = regfile_cost(32, 16, table), regfile_cost(12, 16, table)
    assert (rf32.read_pj, rf32.write_pj, rf32.area_um2) == (2.19, 1.91, 16849.0)
    assert rf12.read_pj == pytest.approx(2.19 * 12 / 32)
    assert rf12.write_pj == pytest.approx(1.91 * 12 / 32)
    assert rf12.area_um2 == pytest.approx(16849 * 12 / 32)
    assert regfile_cost(8, 64, table).area_um2 == pytest.approx(16849 * 8 * 64 / (32 * 16))


def test_presets_have_every_field_and_name_themselves():
    for name, table in PRESETS.items():
        assert table.preset == name
        assert all(getattr(table, f) is not None for f in table.__dataclass_fields__), name
        assert resolve(table) == table


def _design(cost_table: str) -> Design:
    text = PAPER.read_text()
    start = text.index("\ncost_table:")
    end = text.index("\n", start + 1)
    return load_spec_text(text[:start] + cost_table + text[end:], Design, "test.yaml")


def test_a_design_that_says_nothing_gets_section_5():
    design = _design("")
    assert design.cost_table == CostTable()
    assert resolve(design.cost_table) == FUSEMAX_MD


def test_overrides_replace_one_field_of_the_preset():
    design = _design("\ncost_table: {preset: accelergy-artifact, buffer_row_read_pj: 485}")
    table = resolve(design.cost_table)
    assert table.buffer_row_read_pj == 485.0
    assert table.buffer_row_write_pj == ACCELERGY_ARTIFACT.buffer_row_write_pj == 2759.44498
    assert table.rf_model == "accelergy_smartbuffer"
    md = resolve(_design("\ncost_table: {rf_model: accelergy_smartbuffer}").cost_table)
    assert (md.rf_model, md.mac_pj) == ("accelergy_smartbuffer", 17.16)


@pytest.mark.parametrize("preset,mac_pj,row_read_pj", [
    ("fusemax-md", 17.16, 485.0),                   # fusemax.md §5
    ("accelergy-artifact", 17.1645, 2286.521343),   # artifact ERT (outputs-1d-flat, Timeloop L3)
])
def test_both_presets_load_and_price(preset, mac_pj, row_read_pj):
    design = _design(f"\ncost_table: {{preset: {preset}}}")
    _, actions, cost = evaluate(design, Point("bert", 4096, "fusemax", "attention"))
    assert cost.energy_by_component_j["2d mac"] == pytest.approx(
        actions.arith["2d"]["mac"] * mac_pj * 1e-12, rel=1e-12)
    reads = actions.buffer_read_words * row_read_pj / 256 * 1e-12
    assert cost.energy_by_component_j["buffer"] > reads > 0
    assert cost.area_mm2 > 0 and cost.energy_j > 0


@pytest.mark.parametrize("yaml_text,key,words", [
    ("{preset: accelergy-artefact}", "cost_table.preset", ["accelergy-artifact"]),
    ("{mac_pj: -1}", "cost_table.mac_pj", ["must be at least 0", "-1"]),
    ("{rf_model: smartbuffer}", "cost_table.rf_model", ["accelergy_smartbuffer", "per_entry"]),
    ("{mac_pJ: 3}", "cost_table.mac_pJ", ["did you mean 'mac_pj'"]),
])
def test_bad_cost_table_is_one_located_message(yaml_text, key, words):
    with pytest.raises(SpecError) as error:
        _design(f"\ncost_table: {yaml_text}")
    message = str(error.value)
    assert "test.yaml:" in message and key in message, message
    for word in words:
        assert word in message, message
