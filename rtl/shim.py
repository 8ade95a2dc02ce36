"""Serial IO shim for synthesis estimates: every input port of a unit is driven from a shift
register (``sdi`` in), every output captured into another (``load``), shifted out on ``sdo``.

A bare unit's ports would be FPGA pins: too many for a device (the 8×8 array has > 2000 output
bits) and pin-to-register paths would dominate timing. Inside the shim every path is
register-to-register, so nextpnr's Fmax is the unit's own. Resources are reported from the bare
unit's synthesis, not from the shim.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class IoShim(wiring.Component):
    """Wraps ``inner`` (any Component using the ``sync`` domain); ports clk, rst, sdi, load, sdo."""

    def __init__(self, inner: wiring.Component):
        self.inner = inner
        super().__init__({"sdi": In(1), "load": In(1), "sdo": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.inner
        ins, outs = [], []
        for _path, member, value in self.inner.signature.flatten(self.inner):
            (ins if member.flow == In else outs).append(value)
        driven = Cat(*ins)
        feed = Signal(max(len(driven), 1))
        m.d.sync += feed.eq(Cat(self.sdi, feed[:-1]))
        m.d.comb += driven.eq(feed)
        gathered = Cat(*outs)
        capture = Signal(len(gathered))
        with m.If(self.load):
            m.d.sync += capture.eq(gathered)
        with m.Else():
            m.d.sync += capture.eq(capture >> 1)
        m.d.comb += self.sdo.eq(capture[0])
        return m
