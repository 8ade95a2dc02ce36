"""Reciprocal unit: ``round_half_up(2**(in_frac + out_frac) / s)`` for positive integer ``s``,
bit-exact with :func:`fpga.golden.exp.reciprocal_fixed`.

Radix-2 restoring divider computing ``floor((2**(F+1) + s) / (2 s))`` with ``F = in_frac +
out_frac`` (the round-half-up quotient), one quotient bit per cycle. Stream ``i``: unsigned
``in_bits``; stream ``o``: unsigned ``F + 1`` bits. One division at a time: ``i.ready`` is high
only when the divider is idle and its last result has been taken. ``s = 0`` is outside the
contract (the quotient is all ones).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.errors import check_int, validating


class ReciprocalUnit(wiring.Component):
    """Parameters: ``in_frac`` (0..30), ``out_frac`` (1..31), ``in_bits`` (width of ``s``,
    1..40, default 32)."""

    def __init__(self, in_frac: int = 22, out_frac: int = 30, in_bits: int = 32):
        with validating(self):
            self.in_frac = check_int("in_frac", in_frac, 0, 30)
            self.out_frac = check_int("out_frac", out_frac, 1, 31)
            self.in_bits = check_int("in_bits", in_bits, 1, 40)
        self.num_bits = max(in_frac + out_frac + 2, in_bits) + 1  # 2**(F+1) + s fits
        super().__init__({"i": In(stream.Signature(unsigned(in_bits))),
                          "o": Out(stream.Signature(unsigned(in_frac + out_frac + 1)))})

    def config(self) -> dict:
        return {"unit": "reciprocal", "in_frac": self.in_frac, "out_frac": self.out_frac,
                "in_bits": self.in_bits}

    def elaborate(self, platform):
        m = Module()
        numerator = Signal(self.num_bits)
        divisor = Signal(self.in_bits + 1)
        remainder = Signal(self.in_bits + 2)
        quotient = Signal(self.num_bits)
        count = Signal(range(self.num_bits + 1))
        busy = Signal()
        m.d.comb += [self.i.ready.eq(~busy & ~self.o.valid),
                     self.o.payload.eq(quotient)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            one = 1 << (self.in_frac + self.out_frac + 1)
            m.d.sync += [numerator.eq(one + self.i.payload), divisor.eq(self.i.payload << 1),
                         remainder.eq(0), quotient.eq(0), count.eq(self.num_bits), busy.eq(1)]
        with m.Elif(busy):
            shifted = Cat(numerator[-1], remainder)
            take = shifted >= divisor
            m.d.sync += [numerator.eq(numerator << 1), count.eq(count - 1),
                         quotient.eq(Cat(take, quotient)),
                         remainder.eq(shifted - (divisor & take.replicate(len(divisor))))]
            with m.If(count == 1):
                m.d.sync += [busy.eq(0), self.o.valid.eq(1)]
        return m
