"""MAC block of Edge-MoE's unified linear unit (output-stationary), bit-exact with
:func:`fpga.golden.linear.linear_block`; with activations on both sides it is one attention slot
array (weights = the cached query tokens, inputs = the streamed key token's lane slice).

Ports (``clk``, ``rst``: synchronous, active high):

- ``x``: ``in_par`` signed ``act_bits`` inputs (one block of the token's cached input row,
  broadcast to every output), element i at bits ``[i*act_bits, (i+1)*act_bits)``.
- ``w``: ``in_par * out_par`` signed ``weight_bits`` weights; weight ``(i, j)`` (input i,
  output j) is element ``i*out_par + j``.
- ``valid``: a block is presented; ``first``: it is the token's first block (the accumulator
  restarts); ``last``: its last block. ``first``/``last`` are ignored when ``valid`` is low; a
  one-block token has both set.
- ``y``: ``out_par`` signed ``act_bits`` outputs, meaningful while ``y_valid`` is high.

Arithmetic (the golden model is its definition): products exact (``act_frac + weight_frac``
fraction bits); the block's ``in_par`` products summed exactly by an adder tree; block sums
accumulated in ``acc_bits`` bits, wrapping modulo ``2**acc_bits``; after the block flagged
``last`` the output is the accumulator arithmetically shifted right by ``weight_frac`` (floor)
and wrapped to ``act_bits`` (the input format again). One truncation at the end, not one per
addition: Edge-MoE's HLS (``ap_fixed``, AP_TRN/AP_WRAP) may truncate per addition, this unit does
not. The default ``acc_bits = act_bits + weight_bits + 10`` cannot wrap for K <= 2047 inputs
per token (:func:`fpga.golden.linear.no_wrap_terms`); as ``y`` is the accumulator's bits
``weight_frac .. weight_frac + act_bits - 1``, any ``acc_bits >= act_bits + weight_frac``
(the smallest accepted) gives the same ``y``.

Pipeline: products registered (``act_bits + weight_bits`` bits each: the DSP48E2 M register),
tree sums registered, then the accumulator register; ``y`` is a slice of the accumulator.
Latency :data:`LATENCY` = 3: ``y_valid`` is high for one cycle, 3 cycles after the cycle in
which the ``last`` block is presented. A new block every cycle (II = 1); idle cycles
(``valid`` low) anywhere; the next token's ``first`` block may follow a ``last`` block directly.
The product and tree-sum registers have no reset (as a DSP's M register); ``rst`` clears the
flag pipeline and the accumulators (``y`` reads 0 until the first token ends).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from fpga.golden.linear import GUARD_BITS
from rtl.errors import RtlParamError, check_int, validating
from rtl.fixed import adder_tree

LATENCY = 3
"""Cycles from presenting a token's ``last`` block to its ``y_valid`` pulse (three registers:
products, tree sums, accumulator)."""

MAX_PAR = 64
"""Largest ``in_par`` or ``out_par``."""

MAX_BITS = 64
"""Largest ``act_bits`` or ``weight_bits``."""

MAX_GUARD = 64
"""Most accumulator bits beyond one product (``acc_bits - act_bits - weight_bits``)."""

MAX_INPUT_BITS = (1 << 16) - 5
"""Most bits of ``x`` and ``w`` together: Amaranth 0.5 numbers the top module's input bits
(these plus clk, rst, valid, first, last) with 16 bits."""


class LinearUnit(wiring.Component):
    """Output-stationary ``in_par`` x ``out_par`` MAC block; see the module docstring.

    Parameters
    ----------
    in_par, out_par : inputs per block, outputs per token (1..MAX_PAR; default 16 x 16).
    act_bits, act_frac : input/output width 2..MAX_BITS and fraction bits 0..act_bits-1
        (default 32, 22: Q10.22).
    weight_bits, weight_frac : weight width 2..MAX_BITS and fraction bits 0..weight_bits-1
        (default 16, 14: Q2.14).
    acc_bits : accumulator width, act_bits + weight_frac .. act_bits + weight_bits + MAX_GUARD;
        None (default) means act_bits + weight_bits + 10. Every width in the range gives the
        same ``y`` (it is bits weight_frac .. weight_frac + act_bits - 1 of the wrapped sum).

    Raises RtlParamError naming the first bad parameter and its range.
    """

    def __init__(self, in_par: int = 16, out_par: int = 16, act_bits: int = 32,
                 act_frac: int = 22, weight_bits: int = 16, weight_frac: int = 14,
                 acc_bits: int | None = None):
        with validating(self):
            self.in_par = check_int("in_par", in_par, 1, MAX_PAR)
            self.out_par = check_int("out_par", out_par, 1, MAX_PAR)
            self.act_bits = check_int("act_bits", act_bits, 2, MAX_BITS)
            self.act_frac = check_int("act_frac", act_frac, 0, act_bits - 1)
            self.weight_bits = check_int("weight_bits", weight_bits, 2, MAX_BITS)
            self.weight_frac = check_int("weight_frac", weight_frac, 0, weight_bits - 1)
            input_bits = in_par * (act_bits + out_par * weight_bits)
            if input_bits > MAX_INPUT_BITS:
                raise RtlParamError(
                    f"in_par {in_par} is too large for out_par {out_par}, act_bits {act_bits} "
                    f"and weight_bits {weight_bits}: x and w would have {input_bits} bits "
                    f"(in_par * (act_bits + out_par * weight_bits)), at most {MAX_INPUT_BITS}")
            product = act_bits + weight_bits
            self.acc_bits = product + GUARD_BITS if acc_bits is None else \
                check_int("acc_bits", acc_bits, act_bits + weight_frac, product + MAX_GUARD)
        act, weight = signed(act_bits), signed(weight_bits)
        super().__init__({
            "x": In(data.ArrayLayout(act, in_par)),
            "w": In(data.ArrayLayout(weight, in_par * out_par)),
            "valid": In(1), "first": In(1), "last": In(1),
            "y": Out(data.ArrayLayout(act, out_par)), "y_valid": Out(1),
        })

    def config(self) -> dict:
        return {"unit": "linear", "in_par": self.in_par, "out_par": self.out_par,
                "act_bits": self.act_bits, "act_frac": self.act_frac,
                "weight_bits": self.weight_bits, "weight_frac": self.weight_frac,
                "acc_bits": self.acc_bits}

    def elaborate(self, platform):
        m = Module()
        product_bits = self.act_bits + self.weight_bits
        # the tree's exact width, or fewer bits: only the sum modulo 2**acc_bits matters
        sum_bits = min(product_bits + (self.in_par - 1).bit_length(), self.acc_bits)
        flags = (self.valid, self.first, self.last)
        for n in (1, 2):  # beside the product and the tree-sum registers
            regs = tuple(Signal(name=f"{f}_{n}") for f in ("valid", "first", "last"))
            m.d.sync += [r.eq(f) for r, f in zip(regs, flags, strict=True)]
            flags = regs
        valid2, first2, last2 = flags
        m.d.sync += self.y_valid.eq(valid2 & last2)
        for j in range(self.out_par):
            products = []
            for i in range(self.in_par):
                p = Signal(signed(product_bits), name=f"p_{i}_{j}", reset_less=True)
                m.d.sync += p.eq(self.x[i] * self.w[i * self.out_par + j])
                products.append(p)
            total = Signal(signed(sum_bits), name=f"sum_{j}", reset_less=True)
            m.d.sync += total.eq(adder_tree(products))
            acc = Signal(signed(self.acc_bits), name=f"acc_{j}")
            with m.If(valid2):
                m.d.sync += acc.eq(Mux(first2, 0, acc) + total)  # wraps to acc_bits
            m.d.comb += self.y[j].eq(acc >> self.weight_frac)  # floor, wrapped to act_bits
        return m
