"""Single-pass softmax row unit after Edge-MoE, bit-exact with :mod:`fpga.golden.softmax`.

Stream ``i`` carries one row's scores (``score``: signed ``total_bits``, ``frac_bits`` fraction
bits; ``last`` marks the row's final score). Per score the unit updates the running maximum ``b``
and the rescaled sum: ``s > b``: ``sum = round(sum * exp(b - s)) + 1``, ``b = s``; else
``sum += exp(s - b)`` (saturating). At a row's end stream ``o`` carries ``recip = 1/sum``
(``recip_frac`` fraction bits, ``recip_frac + 1`` bits since sum >= 1) and ``max = b``.

Pipeline (one score per cycle): S0 input register and the max/difference (``b`` updates here,
so the loop is one comparator); 7 cycles of :class:`~rtl.exp_core.ExpPipeline` with the flags
beside it; the sum update (the multiply-add loop on ``sum``). A row's final sum goes to the
:class:`~rtl.reciprocal.ReciprocalUnit` (connected stream); the pipeline stalls only when a row
ends while the previous row's division is still running or its result not yet taken.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.errors import validating
from rtl.exp_core import EXP_LATENCY, ExpPipeline
from rtl.fixed import saturate, shift_round
from rtl.reciprocal import ReciprocalUnit
from rtl.softmax_format import softmax_config, softmax_format


class SoftmaxUnit(wiring.Component):
    """Parameters as :func:`rtl.softmax_format.softmax_format` (each validated)."""

    def __init__(self, **params):
        with validating(self):
            self.fmt = softmax_format(**params)
        fmt = self.fmt
        score = data.StructLayout({"score": signed(fmt.total_bits), "last": 1})
        state = data.StructLayout({"recip": unsigned(fmt.recip.out_frac + 1),
                                   "max": signed(fmt.total_bits)})
        super().__init__({"i": In(stream.Signature(score)), "o": Out(stream.Signature(state))})

    def config(self) -> dict:
        return softmax_config(self.fmt, "softmax")

    def elaborate(self, platform):
        fmt, bits = self.fmt, self.fmt.total_bits
        lowest, highest = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        m = Module()
        m.submodules.exp = exp = ExpPipeline(fmt.exp)
        m.submodules.recip = recip = ReciprocalUnit(fmt.frac_bits, fmt.recip.out_frac, bits)
        advance = Signal()
        m.d.comb += [self.i.ready.eq(advance), exp.en.eq(advance)]

        s0, last0, v0 = Signal(signed(bits)), Signal(), Signal()  # S0: score register
        b = Signal(signed(bits), init=lowest)  # running max of the row so far
        with m.If(advance):
            m.d.sync += [s0.eq(self.i.payload.score), last0.eq(self.i.payload.last),
                         v0.eq(self.i.valid)]
        larger = s0 > b
        b_next = Mux(larger, s0, b)
        m.d.comb += exp.z.eq(saturate(Mux(larger, b, s0) - b_next, bits))
        with m.If(advance & v0):
            m.d.sync += b.eq(Mux(last0, lowest, b_next))

        side = [(Signal(name=f"v{k}"), Signal(name=f"last{k}"), Signal(name=f"larger{k}"),
                 Signal(signed(bits), name=f"b{k}")) for k in range(1, EXP_LATENCY + 1)]
        previous = (v0, last0, larger, b_next)
        with m.If(advance):
            for stage in side:
                m.d.sync += [dst.eq(src) for dst, src in zip(stage, previous, strict=True)]
                previous = stage
        valid, last, grew, b_row = side[-1]

        total = Signal(unsigned(bits))  # the rescaled sum, saturating at 2**(bits-1) - 1
        grown = shift_round(total * exp.y, fmt.frac_bits) + fmt.one
        updated = Mux(grew, grown, total + exp.y)
        new_total = Signal(unsigned(bits))
        m.d.comb += new_total.eq(Mux(updated > highest, highest, updated))
        row_end = valid & last
        m.d.comb += [advance.eq(~row_end | recip.i.ready),
                     recip.i.valid.eq(row_end), recip.i.payload.eq(new_total)]
        with m.If(advance & valid):
            m.d.sync += total.eq(Mux(last, 0, new_total))
        b_hold = Signal(signed(bits))
        with m.If(recip.i.valid & recip.i.ready):
            m.d.sync += b_hold.eq(b_row)
        m.d.comb += [self.o.valid.eq(recip.o.valid), recip.o.ready.eq(self.o.ready),
                     self.o.payload.recip.eq(recip.o.payload), self.o.payload.max.eq(b_hold)]
        return m
