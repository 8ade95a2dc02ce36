"""Single-pass softmax units sized to the rate the attention array finishes head scores."""

from __future__ import annotations

import math

import pytest

from fpga import area
from fpga.resources import Resources, total
from fpga.spec import ConventionalMath, Techniques, Units
from fpga.workload import ViTSpec


@pytest.mark.parametrize("lanes, per_slot", [
    (8, 1),    # 64-dim heads, 8 lanes: one head score every 8 cycles per slot
    (64, 1),   # one a cycle
    (100, 2),  # a 100-dim block can hold the ends of two heads (dims 127 and 191 in block 1)
    (192, 3),  # all three heads of a token in one cycle
])
def test_softmax_units_per_slot_follow_the_score_rate(lanes, per_slot):
    u = Units(attn_p=4, attn_lanes=lanes)
    items = area.softmax(u, ViTSpec(), Techniques(), ConventionalMath())
    # each (running, normalise) pair: exp 6 + rescale 4, exp 6 + x 1/sum 4 DSP (edgemoe.md §3.2
    # datapath on 27 x 18 DSP48E2s; docs/fpga.md)
    assert total(i.resources for i in items).dsp == 4 * per_slot * (10 + 10)
    # the heads not given a unit keep (max, sum) of 32 bits each in a memory per slot, one head
    # read and written at a time: 2 heads are a 2 x 64 b LUT-RAM, ceil(64 / 14) RAM32M16 of
    # 8 LUTs (yosys cost 16 x 64 / 14 = 73 against 128 in registers), 1 head a 64 b register
    state = [i for i in items if "(max, sum) of the other" in i.label]
    shared = 3 - per_slot
    expected = {0: Resources(), 1: Resources(ff=64), 2: Resources(lut=math.ceil(64 / 14) * 8)}
    assert total(i.resources for i in state) == expected[shared].scaled(4)
