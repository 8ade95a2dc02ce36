"""The memory rule's inputs the metamorphic tests leave free: how many rows a buffer read
several words a cycle has (a partly filled last row is a row), and what a second read port
costs in block RAM (each test's docstring derives its figures from the cell geometry)."""

from __future__ import annotations

import math

import pytest

from fpga.resources import Resources, bram_memory, buffer_item, lutram_memory, memory


def test_a_partly_filled_last_row_is_a_row():
    """257 words of 16 b read 8 a cycle are ceil(257 / 8) = 33 rows of 128 b: one row past
    a RAM32M16's 32 words, so one bank of RAM64M8 (64 x 7 b in 8 LUTs, the cheaper of the
    two by yosys's cost: 16 x 128 / 7 = 293 against two banks of RAM32M16, 2 x 16 x 128 / 14
    + a 128-bit multiplexer), ceil(128 / 7) = 19 cells, 152 LUT. Dropping the partly filled
    row would give 32 rows in ceil(128 / 14) = 10 RAM32M16, 80 LUT."""
    item = buffer_item("row buffer (257 x 16 b)", 1, 257, 16, 8)
    assert "(33 x 128 b as 19 x 1 RAM64M8 of 64 x 7 b, 8 LUT each)" in item.label
    assert item.resources == Resources(lut=math.ceil(128 / 7) * 8) == Resources(lut=152)
    # a whole last row adds nothing: 256 words are the 32 rows above
    assert buffer_item("row buffer (256 x 16 b)", 1, 256, 16, 8).resources == Resources(
        lut=math.ceil(128 / 14) * 8)


def test_block_ram_rows_are_rounded_up_too():
    """513 words of 36 b read one a cycle fill a 512 x 36 BRAM18 and start a second:
    2 BRAM18 (block RAM by cost: 2 x 129 against LUT-RAM's 9 banks of RAM64M8)."""
    item = buffer_item("weights (513 x 36 b)", 1, 513, 36, 1)
    assert item.resources == Resources(bram18=2), item.label
    assert buffer_item("weights (512 x 36 b)", 1, 512, 36, 1).resources == Resources(bram18=1)


@pytest.mark.parametrize("depth, width", [(100, 32), (512, 36), (576, 4096), (2000, 18)])
def test_each_block_ram_read_port_is_a_copy(depth, width):
    """A BRAM18 has two ports and the write takes one, so every read port beyond the first
    reads its own copy: k read ports take k times the BRAM18 of one (UG573), at k times the
    cost."""
    one = bram_memory(depth, width)
    for k in (2, 3):
        many = bram_memory(depth, width, read_ports=k)
        assert many.resources == one.resources.scaled(k)
        assert many.cost == pytest.approx(k * one.cost)


def test_more_read_ports_never_make_a_memory_cheaper():
    """Every implementation pays at least as much for a second read port, so the rule's
    cost never falls with the read ports. A LUT-RAM cell has one read port besides its
    write port, so each read port reads its own copy of the cells and pays its cost again:
    at 24 x 256 b (one bank, no write decoder) two ports double the 152 LUT and the cost,
    2 x 16 x 256 / 14 = 585, still under 8 BRAM18 x 2 x 129."""
    for depth, width in ((1, 8), (24, 256), (33, 64), (100, 32), (600, 4), (4096, 72)):
        costs = [memory(depth, width, read_ports=k).cost for k in (1, 2, 3)]
        assert costs == sorted(costs), (depth, width, costs)
    assert memory(24, 256, read_ports=2).resources == Resources(lut=2 * 152)
    assert lutram_memory(24, 256, read_ports=2).cost == pytest.approx(2 * 16 * 256 / 14)
