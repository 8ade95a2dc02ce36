"""Board fit: the overflow of hand-built resource totals on hand-built and database boards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fpga.board import Board, get_board
from fpga.fit import Excess, overflow, overflow_text
from fpga.resources import Resources

TINY = Board(name="tiny", device="TINY-1", dsp=100, bram36=10, uram=0, lut=1000, ff=2000,
             ddr_gbps=1.0, host_port_bits=64, host_ports=1, host_port_mhz=100.0,
             ddr_latency_ns=100.0, static_w=1.0, max_clock_mhz=300.0)


def test_the_brief_example_on_the_zcu104():
    # 4,668 DSP and 1,397 BRAM18 (698.5 BRAM36) against the ZCU104's 1,728 DSP and 312 BRAM36
    # (AMD's table); LUT and FF below 230,400 and 460,800 do not appear.
    used = Resources(dsp=4668, bram18=1397, lut=114_000, ff=287_472)
    found = overflow(used, get_board("zcu104"))
    assert found == (Excess("DSP", 4668, 1728), Excess("BRAM36", 698.5, 312))
    assert [e.excess for e in found] == [2940, 386.5]
    assert overflow_text(found) == "DSP 4,668 > 1,728 (+2,940), BRAM36 698.5 > 312 (+386.5)"


def test_every_resource_one_over_in_order():
    used = Resources(dsp=101, bram18=21, lut=1001, ff=2001)
    assert overflow_text(overflow(used, TINY)) == (
        "DSP 101 > 100 (+1), BRAM36 10.5 > 10 (+0.5), LUT 1,001 > 1,000 (+1), "
        "FF 2,001 > 2,000 (+1)")


@pytest.mark.parametrize("used", [Resources(), Resources(dsp=100, bram18=20, lut=1000, ff=2000)])
def test_at_or_below_the_totals_nothing_overflows(used):
    assert overflow(used, TINY) == ()
    assert overflow_text(overflow(used, TINY)) == ""


def test_one_half_bram36_over_is_an_overflow():
    # 21 BRAM18 need 10.5 BRAM36: one BRAM18 more than the 20 the device has.
    assert overflow(Resources(bram18=21), TINY) == (Excess("BRAM36", 10.5, 10),)


@given(dsp=st.integers(0, 300), bram18=st.integers(0, 60), lut=st.integers(0, 3000),
       ff=st.integers(0, 6000))
def test_overflow_names_exactly_the_resources_over_the_totals(dsp, bram18, lut, ff):
    # (fpga.model.fits is "nothing overflows", so this also decides the fits column)
    used = Resources(dsp, bram18, lut, ff)
    found = overflow(used, TINY)
    assert all(e.excess > 0 for e in found)
    over = {"DSP": dsp > 100, "BRAM36": bram18 > 20, "LUT": lut > 1000, "FF": ff > 2000}
    assert [e.resource for e in found] == [name for name, is_over in over.items() if is_over]

