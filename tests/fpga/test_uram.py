"""UltraRAM: ``units.weight_storage: ultra_ram`` binds the large weight buffers (the linear
unit's ping/pong, the patch embedding's weights) to URAM288 blocks of 4K x 72 bits (UG573), is
counted against the board's URAM, and leaves the schedule alone. Every expected count is derived
here from the geometry of the paper's design (edgemoe.md §3-4: 16 x 16 linear MACs of 16-bit
weights, 256 patch MACs, M3ViT d 192, MLP 768, 3 x 16 x 16 patches)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from attnforge.specload import load_spec
from fpga import area
from fpga.board import get_board
from fpga.fit import overflow, overflow_text
from fpga.model import evaluate
from fpga.resources import uram_memory
from fpga.spec import FpgaDesign, Techniques

DESIGN = Path(__file__).parents[2] / "designs" / "edge-moe-zcu102.yaml"
FINAL = Techniques()

# Each weight buffer is read 16 x 16 (linear) or 256 (patch) words of 16 b a cycle: rows of
# 4,096 b; the largest linear layer is 192 x 768 (and 768 x 192), the patch weights 768 x 192:
# 147,456 words, so 147,456 / 256 = 576 rows each.
ROWS, WIDTH = 192 * 768 // 256, 256 * 16
URAM_PER_BUFFER = math.ceil(WIDTH / 72) * math.ceil(ROWS / 4096)  # 57 x 1
BUFFERS = 2 + 1  # linear ping + pong, patch weights
# As block RAM each was 512 x 36 BRAM18s: ceil(4,096 / 36) x ceil(576 / 512) = 114 x 2
BRAM18_PER_BUFFER = math.ceil(WIDTH / 36) * math.ceil(ROWS / 512)


@pytest.fixture(scope="module")
def paper() -> FpgaDesign:
    return load_spec(DESIGN, FpgaDesign)


def on(design: FpgaDesign, board: str, storage: str) -> FpgaDesign:
    return replace(design, board=board, units=replace(design.units, weight_storage=storage))


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


def test_paper_design_on_zcu104_moves_exactly_the_weight_buffers(paper):
    block = area.unit_items(on(paper, "zcu104", "block_ram"), FINAL)
    ultra = area.unit_items(on(paper, "zcu104", "ultra_ram"), FINAL)
    moved = [(unit, b.label) for unit in block for b, u in zip(block[unit], ultra[unit],
                                                               strict=True)
             if b.resources != u.resources]
    assert [unit for unit, _ in moved] == ["linear", "patch_embed"]
    assert "2 weight buffers (192 x 768)" in moved[0][1]
    assert "weights (768 x 192)" in moved[1][1]


def test_paper_design_on_zcu104_counts_urams_and_frees_their_bram(paper):
    block = evaluate(on(paper, "zcu104", "block_ram"), FINAL)
    ultra = evaluate(on(paper, "zcu104", "ultra_ram"), FINAL)
    assert URAM_PER_BUFFER == 57 and BRAM18_PER_BUFFER == 228
    assert (block.resources.uram, ultra.resources.uram) == (0, BUFFERS * URAM_PER_BUFFER)
    assert block.resources.bram18 - ultra.resources.bram18 == BUFFERS * BRAM18_PER_BUFFER
    assert replace(ultra.resources, bram18=0, uram=0) == replace(block.resources, bram18=0)
    # before: BRAM36 (378 on the ZCU104's 312) overflows; after, BRAM36 fits (378 - 342 = 36)
    # but 3 x 57 = 171 URAM288 do not fit its 96: the 4,096 b a cycle each buffer is read need
    # 57 URAM ports of 72 b however shallow it is (576 of 4,096 rows used).
    assert overflow_text(overflow(block.resources, get_board("zcu104"))).startswith("BRAM36 ")
    assert overflow_text(overflow(ultra.resources, get_board("zcu104"))) == "URAM 171 > 96 (+75)"
    assert not ultra.fits


def test_storage_does_not_change_the_schedule(paper):
    block = evaluate(on(paper, "zcu104", "block_ram"), FINAL)
    ultra = evaluate(on(paper, "zcu104", "ultra_ram"), FINAL)
    assert (ultra.latency_ms, ultra.breakdown_ms, ultra.ddr_mb) == (
        block.latency_ms, block.breakdown_ms, block.ddr_mb)


def test_uram_power_is_counted_at_its_coefficient(paper):
    block = evaluate(on(paper, "zcu104", "block_ram"), FINAL)
    ultra = evaluate(on(paper, "zcu104", "ultra_ram"), FINAL)
    c = paper.power  # 300 MHz: the coefficients' own clock
    freed = BUFFERS * BRAM18_PER_BUFFER * c.bram18_mw * 1e-3
    added = BUFFERS * URAM_PER_BUFFER * c.uram_mw * 1e-3
    assert ultra.power_w - block.power_w == pytest.approx(added - freed)


def test_uram_on_a_board_without_it_overflows(paper):
    ultra = evaluate(on(paper, "zcu102", "ultra_ram"), FINAL)
    assert overflow_text(overflow(ultra.resources, get_board("zcu102"))) == (
        f"URAM {BUFFERS * URAM_PER_BUFFER} > 0 (+{BUFFERS * URAM_PER_BUFFER})")
    assert not ultra.fits

