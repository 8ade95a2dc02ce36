"""One processing element of the systolic array: a signed multiply-accumulate with registered
pass-through of its operands, for the output-stationary (OS) or weight-stationary (WS) dataflow.

OS: ``a`` (with its control ``valid``/``first``/``last``) moves right and ``b`` moves down, one
PE per cycle. On a valid token the accumulator becomes ``(first ? 0 : acc) + a*b``; ``done`` is
high for the one cycle after the token flagged ``last`` (the accumulator then holds the result).

WS: the stationary weight is loaded from ``w_in`` when ``load`` is high (weights shift down a
column, one row per cycle) and passed on as ``w_out``. ``x`` (with ``x_valid``) moves right;
the partial sum ``psum_in + x*w`` moves down, registered, with its valid bit.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.errors import RtlParamError, check_int, validating

DATAFLOWS = ("os", "ws")


def check_dataflow(dataflow: object) -> str:
    """``dataflow`` if it is one of :data:`DATAFLOWS` (lower case, as a design file must spell
    it: the module name carries it); else RtlParamError, with the hint for another case."""
    if not isinstance(dataflow, str) or dataflow not in DATAFLOWS:
        hint = (f" (did you mean {dataflow.lower()!r}?)"
                if isinstance(dataflow, str) and dataflow.lower() in DATAFLOWS else "")
        raise RtlParamError(f"dataflow must be one of {', '.join(DATAFLOWS)}, not "
                            f"{dataflow!r}{hint}")
    return dataflow


class ProcessingElement(wiring.Component):
    """Signed ``in_width`` × ``in_width`` → ``acc_width`` MAC (accumulation wraps modulo
    ``2**acc_width``); ports depend on ``dataflow`` (see the module docstring)."""

    def __init__(self, dataflow: str = "os", in_width: int = 8, acc_width: int = 32):
        with validating(self):
            self.dataflow = check_dataflow(dataflow)
            self.in_width = check_int("in_width", in_width, 1, 32)
            self.acc_width = check_int("acc_width", acc_width, 2 * in_width, 64)
        w, acc = signed(in_width), signed(acc_width)
        if self.dataflow == "os":
            ports = {"a": In(w), "b": In(w), "valid": In(1), "first": In(1), "last": In(1),
                     "a_out": Out(w), "b_out": Out(w), "valid_out": Out(1),
                     "first_out": Out(1), "last_out": Out(1), "acc": Out(acc), "done": Out(1)}
        else:
            ports = {"x": In(w), "x_valid": In(1), "w_in": In(w), "load": In(1),
                     "psum_in": In(acc), "x_out": Out(w), "x_valid_out": Out(1),
                     "w_out": Out(w), "psum_out": Out(acc), "psum_valid": Out(1)}
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        if self.dataflow == "os":
            m.d.sync += [self.a_out.eq(self.a), self.b_out.eq(self.b),
                         self.valid_out.eq(self.valid), self.first_out.eq(self.first),
                         self.last_out.eq(self.last), self.done.eq(self.valid & self.last)]
            with m.If(self.valid):
                with m.If(self.first):
                    m.d.sync += self.acc.eq(self.a * self.b)
                with m.Else():
                    m.d.sync += self.acc.eq(self.acc + self.a * self.b)
        else:
            weight = Signal(signed(self.in_width))
            with m.If(self.load):
                m.d.sync += weight.eq(self.w_in)
            m.d.comb += self.w_out.eq(weight)
            m.d.sync += [self.x_out.eq(self.x), self.x_valid_out.eq(self.x_valid),
                         self.psum_valid.eq(self.x_valid),
                         self.psum_out.eq(self.psum_in + self.x * weight)]
        return m
