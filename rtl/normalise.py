"""Softmax normalisation unit: ``p = round(exp(s - b) * recip)`` on ``frac_bits``, bit-exact with
:func:`fpga.golden.softmax.softmax_normalise` (in the design it is fused with A·V).

Stream ``i``: ``score`` and the row's ``max`` (signed ``total_bits``) and ``recip``
(``recip_frac + 1`` bits, from :class:`~rtl.softmax.SoftmaxUnit`); stream ``o``: ``p``,
unsigned ``frac_bits + 1`` bits. The exp pipeline (7 cycles) carries ``recip`` beside it; one
multiply and a rounding shift fill the output register. Latency 8, one score per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.errors import validating
from rtl.exp_core import EXP_LATENCY, ExpPipeline
from rtl.fixed import saturate, shift_round
from rtl.softmax_format import softmax_config, softmax_format


class NormaliseUnit(wiring.Component):
    """Parameters as :func:`rtl.softmax_format.softmax_format` (each validated)."""

    def __init__(self, **params):
        with validating(self):
            self.fmt = softmax_format(**params)
        fmt = self.fmt
        layout = data.StructLayout({"score": signed(fmt.total_bits),
                                    "max": signed(fmt.total_bits),
                                    "recip": unsigned(fmt.recip.out_frac + 1)})
        super().__init__({"i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(unsigned(fmt.frac_bits + 1)))})

    def config(self) -> dict:
        return softmax_config(self.fmt, "normalise")

    def elaborate(self, platform):
        fmt = self.fmt
        m = Module()
        m.submodules.exp = exp = ExpPipeline(fmt.exp)
        advance = ~self.o.valid | self.o.ready
        payload = self.i.payload
        m.d.comb += [self.i.ready.eq(advance), exp.en.eq(advance),
                     exp.z.eq(saturate(payload.score - payload.max, fmt.total_bits))]
        valid = Signal(EXP_LATENCY)
        recips = [Signal(fmt.recip.out_frac + 1, name=f"recip{k}") for k in range(EXP_LATENCY)]
        with m.If(advance):
            m.d.sync += valid.eq(Cat(self.i.valid, valid[:-1]))
            m.d.sync += [dst.eq(src) for dst, src in
                         zip(recips, [payload.recip, *recips[:-1]], strict=True)]
            shift = fmt.exp.out_frac + fmt.recip.out_frac - fmt.frac_bits
            m.d.sync += [self.o.valid.eq(valid[-1]),
                         self.o.payload.eq(shift_round(exp.y * recips[-1], shift))]
        return m
