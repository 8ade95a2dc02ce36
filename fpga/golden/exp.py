"""Bit-exact golden models of a fixed-point exp for non-positive arguments and a reciprocal.

Online softmax only ever needs ``exp(z)`` with ``z <= 0`` (edgemoe.md §3.2), so the result is in
``(0, 1]`` and nothing overflows.

exp datapath (:func:`exp_fixed`), all integers:

1. ``z`` has ``in_frac`` fraction bits, ``z <= 0`` (positive inputs are clamped to 0: the unit is
   only defined for z <= 0; callers pass ``s - b`` with ``b`` the running maximum).
2. ``t = -z * log2(e)``: one multiply by the constant ``L = round(log2(e) * 2**const_bits)``;
   the product (``in_frac + const_bits`` fraction bits) is rounded half up to ``t_frac`` fraction
   bits. So ``exp(z) = 2**-t``.
3. Split ``t = n + f``: ``n = t >> t_frac`` (integer part), ``f`` the low ``t_frac`` bits,
   ``0 <= f < 1``.
4. ``2**-f`` by linear interpolation in a table of ``2**table_log2 + 1`` entries
   ``T[j] = round_half_up(2**(-j / 2**table_log2) * 2**entry_frac)``: index ``j`` = top
   ``table_log2`` bits of ``f``, remainder ``r`` = the other ``t_frac - table_log2`` bits,
   ``m = T[j] + shift_round((T[j+1] - T[j]) * r, t_frac - table_log2)`` (m in ``[2**(entry_frac-1),
   2**entry_frac]``).
5. ``exp = shift_round(m, n + entry_frac - out_frac)``: one barrel shift by ``n`` that also drops
   to ``out_frac`` bits, rounded half up. Large ``n`` gives 0 (underflow below
   ``z = -(out_frac + 1) ln 2``, i.e. -15.94 for 22 fraction bits; the released Edge-MoE code
   truncates instead and underflows below -15.25).

:func:`exp_error_bound` states the bound on ``|exp_fixed(z) - exp(z)|`` (z the exact value of the
fixed-point input); tests check it over dense samples.

reciprocal (:func:`reciprocal_fixed`): exact integer division, rounded half up,
``round(2**(in_frac + out_frac) / s)``. In hardware a radix-2 restoring divider (one
subtract/compare per quotient bit) — one per softmax row, so its latency is hidden behind the
next row's scores. The result is exact to half an output LSB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fpga.golden.fixed import as_int64, shift_round


@dataclass(frozen=True, slots=True)
class ExpFormat:
    """Formats and table geometry of the fixed-point exp (defaults: Edge-MoE's 32-bit Q10.22).

    Attributes
    ----------
    total_bits, in_frac : signed width and fraction bits of the argument ``z``.
    out_frac : fraction bits of the result (unsigned, value in [0, 1], ``out_frac + 1`` bits).
    const_bits : fraction bits of the constant log2(e).
    t_frac : fraction bits kept of ``t = -z log2 e``; must be >= table_log2.
    table_log2 : the 2**-f table has ``2**table_log2 + 1`` entries.
    entry_frac : fraction bits of each table entry (entries in [0.5, 1], ``entry_frac + 1`` bits).
    """

    total_bits: int = 32
    in_frac: int = 22
    out_frac: int = 22
    const_bits: int = 30
    t_frac: int = 24
    table_log2: int = 8
    entry_frac: int = 30

    def __post_init__(self) -> None:
        for problem in exp_format_problems(self):
            raise ValueError(problem)

    @property
    def log2e_fixed(self) -> int:
        """``round(log2(e) * 2**const_bits)``."""
        return math.floor(math.log2(math.e) * (1 << self.const_bits) + 0.5)


def exp_format_problems(fmt: ExpFormat) -> list[str]:
    """Every reason ``fmt`` is not a buildable exp unit (empty when valid)."""
    problems = []
    if not 2 <= fmt.total_bits <= 40:
        problems.append(f"total_bits must be in 2..40, not {fmt.total_bits!r}")
    if not 0 <= fmt.in_frac < fmt.total_bits:
        problems.append(f"in_frac must be in 0..total_bits-1, not {fmt.in_frac!r}")
    if not 1 <= fmt.const_bits <= 31:
        problems.append(f"const_bits must be in 1..31, not {fmt.const_bits!r}")
    elif fmt.total_bits + fmt.const_bits > 62:
        problems.append("total_bits + const_bits must be <= 62 (the product must fit int64)")
    if not 1 <= fmt.table_log2 <= 12:
        problems.append(f"table_log2 must be in 1..12, not {fmt.table_log2!r}")
    if not fmt.table_log2 <= fmt.t_frac <= fmt.in_frac + fmt.const_bits:
        problems.append(f"t_frac must be in table_log2..in_frac+const_bits, not {fmt.t_frac!r}")
    if not 1 <= fmt.out_frac <= fmt.entry_frac <= 32:
        problems.append(
            f"need 1 <= out_frac <= entry_frac <= 32, not {fmt.out_frac!r}, {fmt.entry_frac!r}"
        )
    return problems


def exp2_table(fmt: ExpFormat = ExpFormat()) -> np.ndarray:
    """``T[j] = round(2**(-j / 2**table_log2) * 2**entry_frac)``, j = 0 .. 2**table_log2."""
    j = np.arange((1 << fmt.table_log2) + 1, dtype=np.float64)
    values = np.exp2(-j / float(1 << fmt.table_log2)) * float(1 << fmt.entry_frac)
    return np.floor(values + 0.5).astype(np.int64)


def exp_fixed(z: np.ndarray, fmt: ExpFormat = ExpFormat()) -> np.ndarray:
    """Bit-exact ``exp(z)`` for fixed-point ``z <= 0`` (``in_frac`` bits) → ``out_frac`` bits.

    Positive ``z`` is clamped to 0 (result 1.0). ``z`` must lie in the signed ``total_bits``
    range (ValueError otherwise).
    """
    z = as_int64(z)
    lo = -(1 << (fmt.total_bits - 1))
    if z.size and (z.min() < lo or z.max() > -lo - 1):
        raise ValueError(f"argument outside the signed {fmt.total_bits}-bit range")
    neg = -np.minimum(z, 0)  # |z| on total_bits + 1 bits, >= 0
    t = shift_round(neg * fmt.log2e_fixed, fmt.in_frac + fmt.const_bits - fmt.t_frac)
    n = t >> fmt.t_frac
    f = t & ((1 << fmt.t_frac) - 1)
    rem_bits = fmt.t_frac - fmt.table_log2
    j = f >> rem_bits
    r = f & ((1 << rem_bits) - 1)
    table = exp2_table(fmt)
    m = table[j] + shift_round((table[j + 1] - table[j]) * r, rem_bits)
    shift = n + (fmt.entry_frac - fmt.out_frac)
    return shift_round(m, shift)  # shift_round caps at 62: m < 2**33 then rounds to 0


def exp_error_bound(fmt: ExpFormat = ExpFormat()) -> float:
    """Bound on ``|exp_fixed(z) / 2**out_frac - exp(z / 2**in_frac)|`` over all valid ``z <= 0``.

    Terms, each proven for the mantissa ``m ~ 2**-f`` in [0.5, 1] before the final shift (the shift
    by ``n`` only shrinks them):
    - constant: ``|L - log2 e| <= 2**-(const_bits+1)`` perturbs t by ``|z| 2**-(const_bits+1)``;
      the result's error ``ln2 * |z| e**z * 2**-(const_bits+1) <= ln2/e * 2**-(const_bits+1)``;
    - rounding of t: ``ln2 * 2**-(t_frac+1)`` (relative, on a value <= 1);
    - interpolation of a convex 2**-f: ``h**2/8 * ln2**2`` with ``h = 2**-table_log2``;
    - entry and interpolation rounding: ``2 * 2**-(entry_frac+1)``;
    - final shift rounding: ``2**-(out_frac+1)``.
    A 1% margin covers the second-order terms of the exponent perturbations.
    """
    ln2 = math.log(2.0)
    h = 2.0 ** -fmt.table_log2
    constant = ln2 / math.e * 2.0 ** -(fmt.const_bits + 1)
    t_round = ln2 * 2.0 ** -(fmt.t_frac + 1)
    interpolation = h * h / 8.0 * ln2 * ln2
    entries = 2.0 * 2.0 ** -(fmt.entry_frac + 1)
    final = 2.0 ** -(fmt.out_frac + 1)
    return 1.01 * (constant + t_round + interpolation + entries) + final


def exp_float(z: np.ndarray, fmt: ExpFormat = ExpFormat()) -> np.ndarray:
    """Float helper: ``z`` (real, <= 0) rounded to the input format, through :func:`exp_fixed`."""
    scale = float(1 << fmt.in_frac)
    zq = np.floor(np.minimum(np.asarray(z, dtype=np.float64), 0.0) * scale + 0.5)
    zq = np.maximum(zq, -(1 << (fmt.total_bits - 1))).astype(np.int64)
    return exp_fixed(zq, fmt).astype(np.float64) / float(1 << fmt.out_frac)


@dataclass(frozen=True, slots=True)
class ReciprocalFormat:
    """``1/s`` for ``s >= 1`` with ``in_frac`` fraction bits in and ``out_frac`` out."""

    in_frac: int = 22
    out_frac: int = 30

    def __post_init__(self) -> None:
        if not (0 <= self.in_frac <= 30 and 1 <= self.out_frac <= 31):
            raise ValueError(
                f"need in_frac in 0..30 and out_frac in 1..31, not {self.in_frac!r}, "
                f"{self.out_frac!r}"
            )


def reciprocal_fixed(s: np.ndarray, fmt: ReciprocalFormat = ReciprocalFormat()) -> np.ndarray:
    """``round_half_up(2**(in_frac + out_frac) / s)`` for positive fixed-point ``s``.

    Computed as ``floor((2 * 2**(in_frac+out_frac) + s) / (2 s))`` — exactly what a restoring
    divider with one extra quotient bit and a final round produces. Raises ValueError for
    ``s <= 0`` (softmax sums are >= 1.0 by construction).
    """
    s = as_int64(s)
    if s.size and s.min() <= 0:
        raise ValueError("reciprocal_fixed needs positive input")
    numerator = np.int64(1) << (fmt.in_frac + fmt.out_frac + 1)
    return (numerator + s) // (2 * s)
