"""GELU unit, bit-exact with :func:`fpga.golden.gelu.gelu_fixed` (Edge-MoE's delta table).

``GELU(x) = ReLU(x) - delta(|x|)``; ``delta`` is tabulated at step ``2**-step_log2`` over
``[0, range_max]`` and linearly interpolated; beyond the range the output is ``ReLU(x)``.

Stream ports ``i`` (signed ``total_bits`` input, ``frac_bits`` fraction bits) and ``o`` (same
format). Four pipeline stages, all advancing together when the output can move
(``~o.valid | o.ready``): input register and table address; table read (two read ports of one
ROM: entries ``k`` and ``k+1``); the interpolation product; interpolate, subtract, output
register. Latency 4 cycles, throughput one sample per cycle.
"""

from __future__ import annotations

import math

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from fpga.golden.gelu import GeluFormat, gelu_table
from rtl.errors import RtlParamError, check_int, validating
from rtl.fixed import saturate, shift_round

MAX_TABLE_INTERVALS = 4096
"""Most intervals of the delta table (range_max * 2**step_log2), as exp's table_log2 <= 12."""


def gelu_format(total_bits=32, frac_bits=22, step_log2=5, range_max=5.5, entry_bits=22):
    """Validate each parameter with its own message, then build the golden model's format."""
    check_int("total_bits", total_bits, 2, 48)
    check_int("frac_bits", frac_bits, 0, total_bits - 1)
    check_int("step_log2", step_log2, 0, frac_bits)
    check_int("entry_bits", entry_bits, 1, 40)
    if isinstance(range_max, bool) or not isinstance(range_max, int | float) or range_max <= 0:
        raise RtlParamError(f"range_max must be a positive number, not {range_max!r}")
    if not math.isfinite(range_max):
        raise RtlParamError(f"range_max must be a finite number, not {range_max!r}")
    if range_max >= 2.0 ** (total_bits - frac_bits - 1):
        raise RtlParamError(
            f"range_max must be below 2**{total_bits - frac_bits - 1} (the largest "
            f"Q{total_bits - frac_bits}.{frac_bits} input), not {range_max!r}")
    steps = range_max * (1 << step_log2)
    if steps != round(steps):
        raise RtlParamError(
            f"range_max must be a multiple of the table step 2**-{step_log2}, not {range_max!r}"
            " (the table cannot cover the range)")
    if steps > MAX_TABLE_INTERVALS:
        raise RtlParamError(
            f"range_max {range_max!r} at step 2**-{step_log2} needs {steps:.0f} table intervals "
            f"(range_max * 2**step_log2); the ROM takes at most {MAX_TABLE_INTERVALS}")
    fmt = GeluFormat(total_bits, frac_bits, step_log2, float(range_max), entry_bits)
    try:
        gelu_table(fmt)
    except ValueError:  # a delta rounds up to 1.0 (none does for entry_bits 1..40 at 5.5, 2**-5)
        raise RtlParamError(f"entry_bits {entry_bits} cannot hold the delta table's entries "
                            f"(the largest rounds up to 1.0: give more bits)") from None
    return fmt


class GeluUnit(wiring.Component):
    """Streaming GELU approximation; see the module docstring.

    Parameters
    ----------
    total_bits, frac_bits, step_log2, range_max, entry_bits : as in
        :class:`fpga.golden.gelu.GeluFormat`. Raises RtlParamError (one message per problem).
    """

    def __init__(self, **params):
        with validating(self):
            self.fmt = gelu_format(**params)
        shape = signed(self.fmt.total_bits)
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def config(self) -> dict:
        """The parameters that built this unit (JSON-able; the testbenches rebuild the format)."""
        return {"unit": "gelu", **{k: getattr(self.fmt, k) for k in GeluFormat.__slots__}}

    def elaborate(self, platform):
        fmt = self.fmt
        m = Module()
        table = [int(v) for v in gelu_table(fmt)]
        m.submodules.rom = rom = memory.Memory(
            shape=unsigned(fmt.entry_bits), depth=len(table), init=table)
        left, right = rom.read_port(), rom.read_port()
        advance = ~self.o.valid | self.o.ready
        m.d.comb += [self.i.ready.eq(advance), left.en.eq(advance), right.en.eq(advance)]

        x0, v0 = Signal(signed(fmt.total_bits)), Signal()  # stage 0: input register
        with m.If(advance):
            m.d.sync += [x0.eq(self.i.payload), v0.eq(self.i.valid)]
        magnitude = Signal(fmt.total_bits)
        m.d.comb += magnitude.eq(abs(x0))  # |-2**(n-1)| = 2**(n-1) fits n unsigned bits
        inside = magnitude < fmt.range_fixed
        index = magnitude[fmt.remainder_bits:]
        with m.If(inside):  # outside the range the entries are not used (address 0)
            m.d.comb += [left.addr.eq(index), right.addr.eq(index + 1)]

        x1, v1, in1 = Signal.like(x0), Signal(), Signal()  # stage 1: table entries arrive
        rem1 = Signal(fmt.remainder_bits)
        diff = Signal(signed(fmt.entry_bits + 1))
        m.d.comb += diff.eq(right.data - left.data)
        x2, v2, in2 = Signal.like(x0), Signal(), Signal()  # stage 2: interpolation product
        base2 = Signal(fmt.entry_bits)
        slope2 = Signal(signed(fmt.entry_bits + fmt.remainder_bits + 2))
        with m.If(advance):
            m.d.sync += [x1.eq(x0), v1.eq(v0), in1.eq(inside),
                         rem1.eq(magnitude[:fmt.remainder_bits]),
                         x2.eq(x1), v2.eq(v1), in2.eq(in1), base2.eq(left.data),
                         slope2.eq(diff * rem1)]
        d_entry = base2 + shift_round(slope2, fmt.remainder_bits)
        delta = Signal(signed(fmt.entry_bits + fmt.frac_bits + 2))
        with m.If(in2):
            m.d.comb += delta.eq(shift_round(d_entry, fmt.entry_bits - fmt.frac_bits))
        result = Signal(signed(fmt.total_bits))
        m.d.comb += result.eq(saturate(Mux(x2 < 0, 0, x2) - delta, fmt.total_bits))

        with m.If(advance):  # stage 3: output register
            m.d.sync += [self.o.payload.eq(result), self.o.valid.eq(v2)]
        return m
