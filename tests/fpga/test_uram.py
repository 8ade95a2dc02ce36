"""UltraRAM: ``units.linear_weight_storage`` and ``units.patch_weight_storage``
(``block_ram`` or ``ultra_ram`` each) bind the large weight buffers (the linear unit's ping/pong,
the patch embedding's weights) to URAM288 blocks of 4K x 72 bits (UG573), one buffer group
independently of the other; URAM is counted against the board's and leaves the schedule alone.
Every expected count is derived here from the geometry of the paper's design (edgemoe.md §3-4:
16 x 16 linear MACs of 16-bit weights, 256 patch MACs, M3ViT d 192, MLP 768, 3 x 16 x 16
patches)."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import pytest

from attnforge.cli import main
from attnforge.specload import load_spec
from fpga import area
from fpga.board import get_board
from fpga.fit import overflow, overflow_text
from fpga.model import evaluate
from fpga.resources import uram_memory
from fpga.spec import FpgaDesign, Techniques, Units

DESIGN = Path(__file__).parents[2] / "designs" / "edge-moe-zcu102.yaml"
FINAL = Techniques()

# Each weight buffer is read 16 x 16 (linear) or 256 (patch) words of 16 b a cycle: rows of
# 4,096 b; the largest linear layer is 192 x 768 (and 768 x 192), the patch weights 768 x 192:
# 147,456 words, so 147,456 / 256 = 576 rows each.
ROWS, WIDTH = 192 * 768 // 256, 256 * 16
URAM_PER_BUFFER = math.ceil(WIDTH / 72) * math.ceil(ROWS / 4096)  # 57 x 1
# buffers moved by each choice: (linear, patch) -> linear ping + pong, patch weights
BUFFERS = {("block_ram", "block_ram"): 0, ("ultra_ram", "block_ram"): 2,
           ("block_ram", "ultra_ram"): 1, ("ultra_ram", "ultra_ram"): 3}
# As block RAM each was 512 x 36 BRAM18s: ceil(4,096 / 36) x ceil(576 / 512) = 114 x 2
BRAM18_PER_BUFFER = math.ceil(WIDTH / 36) * math.ceil(ROWS / 512)
# The paper's design on the ZCU104 with every weight buffer in block RAM: 378 BRAM36
# (docs/fpga.md, "ZCU104"), over its 312
ZCU104_BRAM36 = 378


@pytest.fixture(scope="module")
def paper() -> FpgaDesign:
    return load_spec(DESIGN, FpgaDesign)


def on(design: FpgaDesign, board: str, linear: str = "block_ram", patch: str = "block_ram"
       ) -> FpgaDesign:
    return replace(design, board=board, units=replace(
        design.units, linear_weight_storage=linear, patch_weight_storage=patch))


@pytest.mark.parametrize("depth, width, ports, blocks", [
    (4096, 72, 1, 1), (4097, 72, 1, 2), (1, 73, 1, 2), (1, 1, 1, 1),
    (576, 4096, 1, 57), (576, 4096, 2, 114), (8192, 144, 3, 3 * 2 * 2)])
def test_uram_tiling_is_columns_of_72_bits_by_rows_of_4k_words_per_read_port(
        depth, width, ports, blocks):
    assert uram_memory(depth, width, ports).resources.uram == blocks
    assert uram_memory(depth, width, ports).resources.bram18 == 0


def test_uram_memory_rejects_an_empty_shape():
    with pytest.raises(ValueError, match="depth, width and read ports"):
        uram_memory(0, 72)


@pytest.mark.parametrize("linear, patch, units", [
    ("ultra_ram", "block_ram", ["linear"]), ("block_ram", "ultra_ram", ["patch_embed"]),
    ("ultra_ram", "ultra_ram", ["linear", "patch_embed"])])
def test_each_storage_field_moves_exactly_its_own_buffers(paper, linear, patch, units):
    block = area.unit_items(on(paper, "zcu104"), FINAL)
    ultra = area.unit_items(on(paper, "zcu104", linear, patch), FINAL)
    moved = [(unit, b.label) for unit in block for b, u in zip(block[unit], ultra[unit],
                                                               strict=True)
             if b.resources != u.resources]
    assert [unit for unit, _ in moved] == units
    labels = dict(moved)
    if "linear" in labels:
        assert "2 weight buffers (192 x 768)" in labels["linear"]
    if "patch_embed" in labels:
        assert "weights (768 x 192)" in labels["patch_embed"]


@pytest.mark.parametrize("linear, patch", list(BUFFERS))
def test_urams_counted_and_their_bram_freed_per_buffer(paper, linear, patch):
    block = evaluate(on(paper, "zcu104"), FINAL)
    ultra = evaluate(on(paper, "zcu104", linear, patch), FINAL)
    assert URAM_PER_BUFFER == 57 and BRAM18_PER_BUFFER == 228
    moved = BUFFERS[(linear, patch)]
    assert ultra.resources.uram == moved * URAM_PER_BUFFER
    assert block.resources.bram18 - ultra.resources.bram18 == moved * BRAM18_PER_BUFFER
    assert replace(ultra.resources, bram18=0, uram=0) == replace(block.resources, bram18=0)


def test_all_weights_in_uram_do_not_fit_the_zcu104(paper):
    # BRAM36 fits (378 - 3 x 114 = 36) but 3 x 57 = 171 URAM288 do not fit its 96: the 4,096 b
    # a cycle each buffer is read need 57 URAM ports of 72 b however shallow it is (576 of
    # 4,096 rows used).
    block = evaluate(on(paper, "zcu104"), FINAL)
    both = evaluate(on(paper, "zcu104", "ultra_ram", "ultra_ram"), FINAL)
    assert block.resources.bram36 == ZCU104_BRAM36
    assert overflow_text(overflow(block.resources, get_board("zcu104"))).startswith("BRAM36 ")
    assert overflow_text(overflow(both.resources, get_board("zcu104"))) == "URAM 171 > 96 (+75)"
    assert not both.fits


def test_only_the_patch_weights_in_uram_fit_the_zcu104(paper):
    # 57 URAM288 of 96, and BRAM36 378 - 228 / 2 = 264 of 312: fits
    patch = evaluate(on(paper, "zcu104", patch="ultra_ram"), FINAL)
    assert patch.resources.uram == 57
    assert patch.resources.bram36 == ZCU104_BRAM36 - BRAM18_PER_BUFFER / 2 == 264
    assert overflow(patch.resources, get_board("zcu104")) == ()
    assert patch.fits


def test_only_the_linear_weights_in_uram_fit_neither(paper):
    # 2 x 57 = 114 URAM288 > 96, although BRAM36 378 - 228 = 150 would fit
    linear = evaluate(on(paper, "zcu104", linear="ultra_ram"), FINAL)
    assert overflow_text(overflow(linear.resources, get_board("zcu104"))) == (
        "URAM 114 > 96 (+18)")


@pytest.mark.parametrize("linear, patch", [("ultra_ram", "block_ram"), ("block_ram", "ultra_ram")])
def test_storage_does_not_change_the_schedule(paper, linear, patch):
    block = evaluate(on(paper, "zcu104"), FINAL)
    ultra = evaluate(on(paper, "zcu104", linear, patch), FINAL)
    assert (ultra.latency_ms, ultra.breakdown_ms, ultra.ddr_mb) == (
        block.latency_ms, block.breakdown_ms, block.ddr_mb)


def test_uram_power_is_counted_at_its_coefficient(paper):
    block = evaluate(on(paper, "zcu104"), FINAL)
    ultra = evaluate(on(paper, "zcu104", patch="ultra_ram"), FINAL)
    c = paper.power  # 300 MHz: the coefficients' own clock
    freed = BRAM18_PER_BUFFER * c.bram18_mw * 1e-3
    added = URAM_PER_BUFFER * c.uram_mw * 1e-3
    assert ultra.power_w - block.power_w == pytest.approx(added - freed)


def test_uram_on_a_board_without_it_overflows(paper):
    ultra = evaluate(on(paper, "zcu102", "ultra_ram", "ultra_ram"), FINAL)
    assert overflow_text(overflow(ultra.resources, get_board("zcu102"))) == (
        f"URAM {3 * URAM_PER_BUFFER} > 0 (+{3 * URAM_PER_BUFFER})")
    assert not ultra.fits


def test_the_single_switch_is_gone():
    assert not hasattr(Units(), "weight_storage")


ZCU104_DESIGN = DESIGN.with_name("edge-moe-zcu104.yaml")
CONFIGS = ["baseline", "patch_reorder", "single_pass_softmax", "gelu_approx", "unified_linear",
           "attention_reorder"]
# the ablation table's header as printed before URAM was counted (docs/fpga.md, "Running it")
BLOCK_RAM_HEAD = ("config                 latency_ms  paper_ms  ratio   DSP  BRAM36    LUT      FF"
                  "  power_W  energy_J  QK+AV")


def explored(design: Path, out: Path, capsys) -> tuple[list[str], list[dict[str, str]]]:
    """(printed lines, results.csv rows) of ``attnforge explore design``."""
    with pytest.raises(SystemExit) as exited:
        main(["explore", str(design), "--out", str(out), "--backend", "serial"])
    assert exited.value.code == 0
    with open(out / "results.csv", newline="") as f:
        return capsys.readouterr().out.splitlines(), list(csv.DictReader(f))


def test_shipped_zcu104_design_explores_and_every_config_fits(tmp_path, capsys):
    design = load_spec(ZCU104_DESIGN, FpgaDesign)
    assert (design.board, design.units.linear_weight_storage,
            design.units.patch_weight_storage) == ("zcu104", "block_ram", "ultra_ram")
    lines, rows = explored(ZCU104_DESIGN, tmp_path / "o", capsys)
    configs = {r["config"]: r for r in rows if r["group"] == "config"}
    assert list(configs) == CONFIGS
    assert all(r["fits"] == "True" and r["overflow"] == "" for r in configs.values())
    assert {int(r["uram"]) for r in configs.values()} == {URAM_PER_BUFFER}
    final = configs["attention_reorder"]
    assert float(final["bram36"]) == ZCU104_BRAM36 - BRAM18_PER_BUFFER / 2 == 264
    # the ablation table shows URAM, after FF, on every config line
    head = next(line for line in lines if line.startswith("config "))
    assert head.split()[5:10] == ["BRAM36", "LUT", "FF", "URAM", "power_W"]
    table = [line.split() for line in lines if line.split()[:1] and line.split()[0] in CONFIGS]
    assert [(cells[0], cells[8]) for cells in table] == [(c, "57") for c in CONFIGS]


def test_a_design_without_uram_prints_the_table_without_a_uram_column(tmp_path, capsys):
    lines, rows = explored(DESIGN, tmp_path / "o", capsys)
    assert {r["uram"] for r in rows} == {"0"}
    assert lines[1] == BLOCK_RAM_HEAD
    assert not any("URAM" in line for line in lines)
    final = next(line for line in lines if line.startswith("attention_reorder "))
    assert len(final.split()) == len(BLOCK_RAM_HEAD.split())
