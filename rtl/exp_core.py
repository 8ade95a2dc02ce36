"""Pipelined fixed-point ``exp(z)`` for ``z <= 0``, bit-exact with :func:`fpga.golden.exp.exp_fixed`.

Plain (non-stream) pipeline with a shared enable so that stream units (``ExpUnit``) and the
softmax datapath can carry their own side-band alongside it. ``y`` is the result for the ``z``
presented :data:`EXP_LATENCY` enabled cycles earlier.

Stages (each register loads only when ``en``):

1. ``z`` registered; 2. ``|z| = -min(z, 0)``.
3. ``|z| * L`` with the constant ``L = round(log2(e) * 2**const_bits)`` (one constant
   multiplier, registered).
4. ``t = shift_round(product, in_frac + const_bits - t_frac)``.
5. ``n = t >> t_frac``; the top ``table_log2`` bits of the fraction address a ROM of
   ``2**-j/2**table_log2`` (two read ports: entries j and j+1); ``n`` and the remainder ``r`` are
   registered beside the ROM's synchronous read.
6. the interpolation product ``(T[j+1] - T[j]) * r`` and ``T[j]``.
7. ``m = T[j] + shift_round(product, t_frac - table_log2)``; ``y = shift_round(m, n +
   entry_frac - out_frac)``, written as ``(((m << 1) >> s) + 1) >> 1`` (equal to the
   round-half-up shift for every ``s >= 0``); shifts past ``entry_frac + 1`` give 0
   (``m <= 2**entry_frac``).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from fpga.golden.exp import ExpFormat, exp2_table
from rtl.errors import RtlParamError, check_int
from rtl.fixed import shift_round

EXP_LATENCY = 7


def exp_format(total_bits=32, in_frac=22, out_frac=22, const_bits=30, t_frac=24, table_log2=8,
               entry_frac=30) -> ExpFormat:
    """Validate each parameter with its own message, then build the golden model's format."""
    check_int("total_bits", total_bits, 2, 40)
    check_int("in_frac", in_frac, 0, total_bits - 1)
    check_int("const_bits", const_bits, 1, min(31, 62 - total_bits))
    check_int("table_log2", table_log2, 1, 12)
    check_int("entry_frac", entry_frac, 1, 32)
    check_int("out_frac", out_frac, 1, entry_frac)
    check_int("t_frac", t_frac, table_log2,
              min(in_frac + const_bits, max_t_frac(table_log2, entry_frac)))
    return ExpFormat(total_bits, in_frac, out_frac, const_bits, t_frac, table_log2, entry_frac)


def max_t_frac(table_log2: int, entry_frac: int) -> int:
    """Largest ``t_frac`` whose interpolation product ``(T[j+1] - T[j]) * r`` (``r`` below
    ``2**(t_frac - table_log2)``) plus its rounding half stays below ``2**63``: the golden
    model computes it in int64 (an overflow there made RTL and model disagree at t_frac 61).
    The table depends on ``table_log2`` and ``entry_frac`` only."""
    table = exp2_table(ExpFormat(out_frac=1, table_log2=table_log2, entry_frac=entry_frac))
    step = int(np.max(np.abs(np.diff(table))))
    return table_log2 + 62 - step.bit_length()


def exp_config(fmt: ExpFormat, unit: str = "exp") -> dict:
    """JSON-able parameters of ``fmt`` (the testbenches rebuild the format from them)."""
    return {"unit": unit, **{k: getattr(fmt, k) for k in ExpFormat.__slots__}}


class ExpPipeline(wiring.Component):
    """``y = exp(z)`` (``out_frac + 1`` unsigned bits), :data:`EXP_LATENCY` enabled cycles late.

    Parameters
    ----------
    fmt : ExpFormat (already validated by :func:`exp_format`).
    """

    def __init__(self, fmt: ExpFormat):
        if not isinstance(fmt, ExpFormat):
            raise RtlParamError(f"fmt must be an ExpFormat, not {fmt!r}")
        self.fmt = fmt
        super().__init__({"z": In(signed(fmt.total_bits)), "en": In(1),
                          "y": Out(unsigned(fmt.out_frac + 1))})

    def elaborate(self, platform):
        fmt = self.fmt
        m = Module()
        table = [int(v) for v in exp2_table(fmt)]
        m.submodules.rom = rom = memory.Memory(
            shape=unsigned(fmt.entry_frac + 1), depth=len(table), init=table)
        lo_port, hi_port = rom.read_port(), rom.read_port()
        m.d.comb += [lo_port.en.eq(self.en), hi_port.en.eq(self.en)]
        t_shift = fmt.in_frac + fmt.const_bits - fmt.t_frac
        rem_bits = fmt.t_frac - fmt.table_log2

        z1 = Signal(signed(fmt.total_bits))  # stage 1: argument register
        magnitude = Signal(fmt.total_bits + 1)  # stage 2: -min(z, 0)
        product = Signal(fmt.total_bits + fmt.const_bits + 1)  # stage 3: |z| * log2(e)
        t = Signal(fmt.total_bits + fmt.const_bits + 2 - t_shift)  # stage 4: rounded t
        n3, r3 = Signal(len(t)), Signal(rem_bits)  # stage 5: beside the ROM read
        n4, base4 = Signal(len(t)), Signal(fmt.entry_frac + 1)  # stage 6: interpolation product
        slope4 = Signal(signed(fmt.entry_frac + 2 + rem_bits + 1))
        diff = Signal(signed(fmt.entry_frac + 2))
        m.d.comb += [diff.eq(hi_port.data - lo_port.data),
                     lo_port.addr.eq(t[rem_bits:fmt.t_frac]),
                     hi_port.addr.eq(t[rem_bits:fmt.t_frac] + 1)]
        with m.If(self.en):
            m.d.sync += [z1.eq(self.z), magnitude.eq(Mux(z1 < 0, -z1, 0)),
                         product.eq(magnitude * fmt.log2e_fixed),
                         t.eq(shift_round(product, t_shift)),
                         n3.eq(t >> fmt.t_frac), r3.eq(t[:rem_bits]),
                         n4.eq(n3), base4.eq(lo_port.data), slope4.eq(diff * r3)]

        mant = Signal(fmt.entry_frac + 1)  # stage 7: mantissa, rounding barrel shift
        m.d.comb += mant.eq(base4 + shift_round(slope4, rem_bits))
        shift = n4 + (fmt.entry_frac - fmt.out_frac)
        limit = fmt.entry_frac + 2
        amount = Signal(range(limit + 1))
        m.d.comb += amount.eq(Mux(shift >= limit, limit, shift))
        rounded = (((mant << 1) >> amount) + 1) >> 1
        with m.If(self.en):
            m.d.sync += self.y.eq(Mux(shift >= limit, 0, rounded))
        return m
