"""Amaranth expressions for the golden models' integer steps (fpga/golden/fixed.py).

Each helper returns the same value the NumPy model computes with int64 arithmetic: ``>>`` on a
signed value is an arithmetic (floor) shift in both.
"""

from __future__ import annotations

from amaranth.hdl import Mux


def shift_round(value, shift: int):
    """``round_half_up(value / 2**shift)``: add half an LSB, then arithmetic right shift."""
    if shift <= 0:
        return value << -shift
    # floor((v + 2**(s-1)) / 2**s) == (v >> s) + bit s-1 of v (two's complement): the adder is
    # only as wide as the result, not the input
    return (value >> shift) + value[shift - 1]


def saturate(value, bits: int):
    """Clamp a signed expression to ``[-2**(bits-1), 2**(bits-1) - 1]``; assign it to a
    ``signed(bits)`` signal (the value then fits exactly)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return Mux(value > hi, hi, Mux(value < lo, lo, value))


def adder_tree(terms: list):
    """Exact sum of ``terms`` as a balanced tree of two-input adders (each level one bit wider)."""
    while len(terms) > 1:
        terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k]
                 for k in range(0, len(terms), 2)]
    return terms[0]
