"""Bit-exact golden model of the MAC block of Edge-MoE's unified linear unit (edgemoe.md §4),
the arithmetic of ``rtl/linear.py``; the same block with activations on both sides is one
attention slot array (§5).

Per token, K = blocks * in_par inputs ``x`` (signed ``act_bits``, ``act_frac`` fraction bits)
meet a K x out_par weight matrix ``w`` (signed ``weight_bits``, ``weight_frac`` fraction bits),
one block of ``in_par`` rows at a time. All integer arithmetic:

1. Products ``x[k] * w[k, j]`` exact (``act_bits + weight_bits`` bits, ``act_frac +
   weight_frac`` fraction bits).
2. Block sum: the ``in_par`` products of a block added exactly (an adder tree).
3. Accumulate: the block sums of a token added in a signed ``acc_bits`` accumulator, wrapping
   modulo ``2**acc_bits`` (the first block replaces the accumulator).
4. Output, once per token: the accumulator shifted right arithmetically by ``weight_frac``
   (floor) and wrapped to ``act_bits`` (two's complement): the input format again.

One truncation at the end, not one per addition. Edge-MoE's HLS code (``ap_fixed`` with the
default AP_TRN/AP_WRAP) may truncate the running sum to the activation format after every
addition; this model (and the RTL) does not, so its result can differ from the HLS one by up to
``blocks`` LSBs.

Since every step before the shift is exact or a wrap modulo ``2**acc_bits``, the accumulator
equals the whole dot product wrapped once: blocking does not change the result. The dot product
never wraps when ``K <= no_wrap_terms(fmt) = 2**(acc_bits - act_bits - weight_bits + 1) - 1``
(2047 for the default ``acc_bits = act_bits + weight_bits + 10``, beyond Edge-MoE's largest
K = 768): every product lies in ``(-2**(a+w-2), 2**(a+w-2)]`` (the maximum is
``(-2**(a-1)) * (-2**(w-1))``), so K of them stay in the accumulator's range
``[-2**(acc-1), 2**(acc-1) - 1]`` exactly when ``K * 2**(a+w-2) <= 2**(acc-1) - 1``.

The output is bits ``[weight_frac, weight_frac + act_bits)`` of that wrapped sum, so every
``acc_bits >= act_bits + weight_frac`` gives the same ``y``: wider accumulators only keep the
exact sum (readable before the final wrap), they never change the output.

Error against the real product (no wrap anywhere): ``real - y * 2**-act_frac`` lies in
``[0, 2**-act_frac)`` (floor of an exact value, one LSB of the output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GUARD_BITS = 10
"""Default accumulator bits beyond one product: ``acc_bits = act_bits + weight_bits + 10``."""


@dataclass(frozen=True, slots=True)
class LinearFormat:
    """Block geometry and fixed-point formats of the MAC block.

    Attributes
    ----------
    in_par, out_par : inputs per block and outputs per token (default 16 x 16: Edge-MoE).
    act_bits, act_frac : signed width and fraction bits of inputs and outputs (32, 22: Q10.22).
    weight_bits, weight_frac : signed width and fraction bits of the weights (16, 14: Q2.14).
    acc_bits : accumulator width (58 = act_bits + weight_bits + GUARD_BITS by default).
    """

    in_par: int = 16
    out_par: int = 16
    act_bits: int = 32
    act_frac: int = 22
    weight_bits: int = 16
    weight_frac: int = 14
    acc_bits: int = 32 + 16 + GUARD_BITS


def wrap_signed(values, bits: int):
    """Two's-complement wrap of exact integers (a Python int or an object array of them) to
    ``bits`` bits: the representative of ``values mod 2**bits`` in ``[-2**(bits-1),
    2**(bits-1))``."""
    half = 1 << (bits - 1)
    return (values + half) % (1 << bits) - half


def no_wrap_terms(fmt: LinearFormat) -> int:
    """Largest K for which the accumulator cannot wrap, whatever the operands (module docstring):
    ``2**(acc_bits - act_bits - weight_bits + 1) - 1``, 0 when one product can wrap it."""
    return (1 << max(fmt.acc_bits - fmt.act_bits - fmt.weight_bits + 1, 0)) - 1


def _exact(values, bits: int, name: str) -> np.ndarray:
    """``values`` as an object array of Python ints, each in the signed ``bits``-bit range."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuO":
        raise TypeError(f"{name} must hold integers, not dtype {arr.dtype}")
    exact = arr.astype(object)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if exact.size and (min(exact.flat) < lo or max(exact.flat) > hi):
        raise ValueError(f"{name} must lie in the signed {bits}-bit range [{lo}, {hi}]")
    return exact


def accumulate(x, w, fmt: LinearFormat) -> np.ndarray:
    """The accumulator after a token's last block (steps 1-3): object array of ``out_par``
    Python ints in the signed ``acc_bits`` range.

    Parameters
    ----------
    x : (K,) signed ``act_bits`` integers, K a positive multiple of ``in_par``.
    w : (K, out_par) signed ``weight_bits`` integers; block b uses rows ``b*in_par`` to
        ``(b+1)*in_par - 1`` (the RTL's ``w`` port carries ``w[b*in_par + i, j]`` at element
        ``i*out_par + j``).

    Raises ValueError on a shape or value outside the format, TypeError on non-integers.
    """
    xs, ws = _exact(x, fmt.act_bits, "x"), _exact(w, fmt.weight_bits, "w")
    p = fmt.in_par
    if xs.ndim != 1 or xs.shape[0] == 0 or xs.shape[0] % p:
        raise ValueError(f"x must have shape (K,) with K a positive multiple of in_par {p}, "
                         f"not {xs.shape}")
    k = xs.shape[0]
    if ws.shape != (k, fmt.out_par):
        raise ValueError(f"w must have shape ({k}, {fmt.out_par}), not {ws.shape}")
    acc = np.zeros(fmt.out_par, dtype=object)
    for start in range(0, k, p):
        block = xs[start:start + p] @ ws[start:start + p]  # exact: Python ints
        acc = wrap_signed(block if start == 0 else acc + block, fmt.acc_bits)
    return acc


def linear_block(x, w, fmt: LinearFormat = LinearFormat()) -> np.ndarray:
    """One token through the MAC block: ``out_par`` outputs (int64, signed ``act_bits``,
    ``act_frac`` fraction bits); arguments and errors as :func:`accumulate`."""
    y = wrap_signed(accumulate(x, w, fmt) >> fmt.weight_frac, fmt.act_bits)
    return np.array([int(v) for v in y], dtype=np.int64)
