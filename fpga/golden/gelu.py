"""Bit-exact golden model of Edge-MoE's GELU approximation (edgemoe.md §3.3).

GELU(x) = x * Phi(x) = ReLU(x) - delta(|x|),  delta(a) = a * (1 - Phi(a)) >= 0.

The identity holds for both signs: for x >= 0, x*Phi(x) = x - x(1 - Phi(x)); for x < 0,
x*Phi(x) = -a(1 - Phi(a)) with a = -x, by Phi(-a) = 1 - Phi(a). So one table of delta over
a >= 0 serves every input; there is no exp, erf or tanh in the datapath.

Datapath, one lane (all integers; rounding stated at each step):

1. ``a = |x|`` on ``total_bits``; ``|-2**(total_bits-1)|`` saturates to ``2**(total_bits-1) - 1``
   (irrelevant to the result: it is far beyond the table range).
2. If ``a >= range_max`` (as a fixed-point constant, exact because range_max * 2**step_log2 is an
   integer), ``delta = 0`` and the output is ``ReLU(x)``.
3. Else split ``a`` into an index ``i = a >> (frac_bits - step_log2)`` (floor) and a remainder
   ``r = a & (2**(frac_bits - step_log2) - 1)``, ``0 <= r < 2**(frac_bits - step_log2)``.
4. Linear interpolation between entries ``t[i]`` and ``t[i+1]``:
   ``d = t[i] + shift_round((t[i+1] - t[i]) * r, frac_bits - step_log2)`` (round half up; the
   product of a signed entry difference and ``r`` is one multiplier).
5. ``d`` is on the table's scale (``entry_bits`` fraction bits); it is brought to ``frac_bits``
   by ``shift_round`` (or a left shift when entry_bits < frac_bits). With the default format
   (entry_bits == frac_bits == 22) this is the identity.
6. Output ``ReLU(x) - d``, saturated to ``total_bits`` (it never saturates: ``0 <= d < 0.17``).

Table (``gelu_table``): ``t[k] = round_half_up(delta(k / 2**step_log2) * 2**entry_bits)`` for
``k = 0 .. range_max * 2**step_log2`` inclusive (177 entries by default), each an unsigned
``entry_bits``-bit fraction (max delta is about 0.1700 at a ~ 0.75, so it fits below 1.0).

Error (vs exact GELU): interpolation <= h**2/8 * max|delta''| with h = 2**-step_log2 and
delta''(a) = phi(a)(a**2 - 2), |delta''| <= 2 phi(0) = 0.7979; for h = 1/32 that is 9.74e-5.
Entry and interpolation rounding add at most 2**-(entry_bits) and the final scaling
2**-(frac_bits+1); beyond the range the truncation error is delta(range_max) = 1.9e-7 for 5.5.
:func:`gelu_error_bound` adds these up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fpga.golden.fixed import as_int64, saturate, shift_round


@dataclass(frozen=True, slots=True)
class GeluFormat:
    """Fixed-point format and table geometry of the GELU approximation.

    Attributes
    ----------
    total_bits, frac_bits : signed two's-complement width of input and output, and its fraction
        bits (default 32 and 22: the Edge-MoE activation format, range +-512).
    step_log2 : the table step is ``2**-step_log2`` (default 5: 1/32).
    range_max : the table covers ``|x|`` in ``[0, range_max]``; ``range_max * 2**step_log2`` must
        be an integer (default 5.5 → 176 steps, 177 entries).
    entry_bits : each entry is an unsigned fraction of this many bits (default 22).
    """

    total_bits: int = 32
    frac_bits: int = 22
    step_log2: int = 5
    range_max: float = 5.5
    entry_bits: int = 22

    def __post_init__(self) -> None:
        for problem in gelu_format_problems(self):
            raise ValueError(problem)

    @property
    def steps(self) -> int:
        """Number of table intervals, ``range_max * 2**step_log2``."""
        return round(self.range_max * (1 << self.step_log2))

    @property
    def entries(self) -> int:
        """Number of table entries (intervals + 1)."""
        return self.steps + 1

    @property
    def remainder_bits(self) -> int:
        """Width of the interpolation fraction ``r`` (``frac_bits - step_log2``)."""
        return self.frac_bits - self.step_log2

    @property
    def range_fixed(self) -> int:
        """``range_max`` as an exact fixed-point integer on ``frac_bits``."""
        return self.steps << self.remainder_bits


def gelu_format_problems(fmt: GeluFormat) -> list[str]:
    """Every reason ``fmt`` cannot be built as a circuit (empty when valid)."""
    problems = []
    if not 2 <= fmt.total_bits <= 48:
        problems.append(f"total_bits must be in 2..48, not {fmt.total_bits!r}")
    if not 0 <= fmt.frac_bits < fmt.total_bits:
        problems.append(f"frac_bits must be in 0..total_bits-1, not {fmt.frac_bits!r}")
    if not 0 <= fmt.step_log2 <= fmt.frac_bits:
        problems.append(f"step_log2 must be in 0..frac_bits, not {fmt.step_log2!r}")
    if not 1 <= fmt.entry_bits <= 40:
        problems.append(f"entry_bits must be in 1..40, not {fmt.entry_bits!r}")
    scaled = fmt.range_max * (1 << fmt.step_log2)
    if not (fmt.range_max > 0 and scaled == round(scaled)):
        problems.append(
            f"range_max * 2**step_log2 must be a positive integer, not {scaled!r} "
            f"(range_max={fmt.range_max!r})"
        )
    elif fmt.frac_bits < fmt.total_bits and fmt.range_max >= 2.0 ** (
        fmt.total_bits - fmt.frac_bits - 1
    ):
        problems.append(f"range_max {fmt.range_max!r} is beyond the format's range")
    return problems


def delta_exact(a: np.ndarray) -> np.ndarray:
    """``delta(a) = a (1 - Phi(a)) = a/2 erfc(a/sqrt 2)``, float64, the tabulated function."""
    a = np.asarray(a, dtype=np.float64)
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    return 0.5 * a * erfc(a / math.sqrt(2.0))


def gelu_table(fmt: GeluFormat = GeluFormat()) -> np.ndarray:
    """The delta table: ``fmt.entries`` int64 entries, unsigned ``entry_bits``-bit fractions."""
    a = np.arange(fmt.entries, dtype=np.float64) / float(1 << fmt.step_log2)
    table = np.floor(delta_exact(a) * float(1 << fmt.entry_bits) + 0.5).astype(np.int64)
    if table.max() >= (1 << fmt.entry_bits):
        raise ValueError(f"delta does not fit {fmt.entry_bits}-bit unsigned fractions")
    return table


def gelu_fixed(x: np.ndarray, fmt: GeluFormat = GeluFormat()) -> np.ndarray:
    """Bit-exact GELU approximation of fixed-point ``x`` (int64, ``fmt.frac_bits`` fraction bits).

    ``x`` must lie in the signed ``total_bits`` range (ValueError otherwise). Returns int64 of
    the same shape and format. See the module docstring for each rounding step.
    """
    x = as_int64(x)
    lo, hi = -(1 << (fmt.total_bits - 1)), (1 << (fmt.total_bits - 1)) - 1
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"input outside the signed {fmt.total_bits}-bit range")
    table = gelu_table(fmt)
    a = np.minimum(np.abs(x), hi)
    inside = a < fmt.range_fixed
    a_in = np.where(inside, a, 0)
    index = a_in >> fmt.remainder_bits
    rem = a_in & ((1 << fmt.remainder_bits) - 1)
    left = table[index]
    right = table[np.minimum(index + 1, fmt.entries - 1)]
    d_entry = left + shift_round((right - left) * rem, fmt.remainder_bits)
    if fmt.entry_bits >= fmt.frac_bits:
        d = shift_round(d_entry, fmt.entry_bits - fmt.frac_bits)
    else:
        d = d_entry << (fmt.frac_bits - fmt.entry_bits)
    d = np.where(inside, d, 0)
    return saturate(np.maximum(x, 0) - d, fmt.total_bits)


def gelu_exact(x: np.ndarray) -> np.ndarray:
    """Exact GELU ``x Phi(x)`` in float64 (via math.erf)."""
    x = np.asarray(x, dtype=np.float64)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """The common tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))``."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gelu_approx_float(x: np.ndarray, fmt: GeluFormat = GeluFormat()) -> np.ndarray:
    """Float in, float out through the bit-exact model (input rounded to the format first)."""
    scale = float(1 << fmt.frac_bits)
    xq = np.clip(np.floor(np.asarray(x, dtype=np.float64) * scale + 0.5),
                 -(1 << (fmt.total_bits - 1)), (1 << (fmt.total_bits - 1)) - 1).astype(np.int64)
    return gelu_fixed(xq, fmt).astype(np.float64) / scale


def gelu_error_bound(fmt: GeluFormat = GeluFormat()) -> float:
    """A proven bound on ``|gelu_fixed(x) - GELU(x)|`` for fixed-point ``x`` (see module doc)."""
    h = 1.0 / (1 << fmt.step_log2)
    interpolation = h * h / 8.0 * 2.0 / math.sqrt(2.0 * math.pi)
    entry_rounding = 2.0 ** -(fmt.entry_bits + 1)  # each entry; interpolation keeps the bound
    interp_rounding = 2.0 ** -(fmt.entry_bits + 1)
    scaling = 2.0 ** -(fmt.frac_bits + 1) if fmt.entry_bits > fmt.frac_bits else 0.0
    tail = float(delta_exact(np.array([fmt.range_max]))[0])
    return max(interpolation + entry_rounding + interp_rounding + scaling, tail)
