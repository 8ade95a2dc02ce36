"""Streaming exp unit for ``z <= 0`` (stream ``i``: signed ``total_bits`` with ``in_frac``
fraction bits; stream ``o``: unsigned ``out_frac + 1`` bits), bit-exact with
:func:`fpga.golden.exp.exp_fixed`; positive ``z`` gives 1.0 like the golden model.

The :class:`~rtl.exp_core.ExpPipeline` advances whenever the output can move
(``~o.valid | o.ready``); a valid bit travels beside it. Throughput one sample per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from rtl.errors import validating
from rtl.exp_core import EXP_LATENCY, ExpPipeline, exp_config, exp_format


class ExpUnit(wiring.Component):
    """Streaming ``exp(z)``; parameters as :class:`fpga.golden.exp.ExpFormat` (each validated)."""

    def __init__(self, **params):
        with validating(self):
            self.fmt = exp_format(**params)
        super().__init__({
            "i": In(stream.Signature(signed(self.fmt.total_bits))),
            "o": Out(stream.Signature(unsigned(self.fmt.out_frac + 1))),
        })

    def config(self) -> dict:
        return exp_config(self.fmt)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = ExpPipeline(self.fmt)
        valid = Signal(EXP_LATENCY)
        advance = ~self.o.valid | self.o.ready
        m.d.comb += [core.en.eq(advance), core.z.eq(self.i.payload), self.i.ready.eq(advance),
                     self.o.valid.eq(valid[-1]), self.o.payload.eq(core.y)]
        with m.If(advance):
            m.d.sync += valid.eq(Cat(self.i.valid, valid[:-1]))
        return m
