"""Single-pass LayerNorm (Edge-MoE: statistics E[x], E[x^2] in one pass), bit-exact integer
model: the definition of what rtl/layernorm.py computes.

Formats: activations ``x`` and outputs ``y`` signed ``total_bits`` with ``frac_bits`` fraction
bits (Q10.22); ``gamma``, ``beta`` signed ``param_bits`` with ``param_frac`` (Q5.11).

Arithmetic of one row of ``d`` integers ``X`` (real ``x = X 2^-f``, ``f = frac_bits``):

1. ``S1 = sum X`` and ``S2 = sum X^2``, exact (no rounding, no wrap).
2. No division by ``d`` anywhere: with ``D_i = d X_i - S1`` (exact) and
   ``V = d S2 - S1^2 + E`` (exact; ``d S2 - S1^2 = d^2 var 2^(2f) >= 0``),
   ``E = round_half_up(eps d^2 2^(2f))`` (computed from eps's exact binary value), the
   normalised value is ``(x_i - mean) / sqrt(var + eps) = D_i / sqrt(V)`` up to ``E``'s rounding.
3. rsqrt by normalisation plus an exact digit recurrence: ``V = M 2^s`` with ``s`` even and
   ``M = floor(V / 2^s)`` (``V << -s`` when ``s < 0``) in ``[2^(P-2), 2^P)``,
   ``P = 2 R + 2``, ``R = rsqrt_bits``; then ``r = floor(2^F / sqrt(M))``, ``F = 2 R + 1``
   (the largest ``r`` with ``r^2 M <= 2^(2F)``; ``2^R < r <= 2^(R+1)``), so
   ``1/sqrt(V) ~ r 2^-(F + s/2)``. Relative error: ``r`` low by less than ``2^-R``, ``M``'s
   truncation raises it by less than ``2^-(P-1)``.
4. ``n_i = round_half_up(D_i r / 2^(F + s/2 - nf))`` with ``nf = frac_bits + param_bits -
   param_frac`` fraction bits (|n| < sqrt(d - 1) + 1, so a gamma up to 2^(param integer bits)
   does not magnify n's rounding beyond half an output LSB).
5. ``Y_i = saturate(round_half_up(n_i G_i / 2^(nf + param_frac - f)) + B_i 2^(f - param_frac))``
   (one rounding of the exact product back to ``f`` fraction bits; beta exact).

Error against exact real LayerNorm of the same (quantised) x, gamma, beta, when ``y`` does not
saturate: ``|y - y_real| <= |n_real| |g| (2^-R + 2^-(P-1) + 1/(2E)) + |g| 2^-(nf+1) + 2^-(f+1)``
(:func:`error_bound`), with ``|n_real| <= sqrt(d - 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, slots=True)
class LayerNormFormat:
    """Row length, lanes, formats and rsqrt precision (defaults: Edge-MoE, edgemoe.md §1-§3)."""

    d: int = 192
    lanes: int = 8
    total_bits: int = 32
    frac_bits: int = 22
    param_bits: int = 16
    param_frac: int = 11
    eps: float = 1e-6
    rsqrt_bits: int = 30

    @property
    def eps_fixed(self) -> int:
        """``E = round_half_up(eps d^2 2^(2 frac_bits))``, exact from eps's binary value."""
        scaled = Fraction(self.eps) * self.d * self.d * (1 << 2 * self.frac_bits)
        return math.floor(scaled + Fraction(1, 2))

    @property
    def norm_bits(self) -> int:
        """``P``: the normalised ``M`` lies in ``[2^(P-2), 2^P)``."""
        return 2 * self.rsqrt_bits + 2

    @property
    def rsqrt_shift(self) -> int:
        """``F``: ``r = floor(2^F / sqrt(M))``."""
        return 2 * self.rsqrt_bits + 1

    @property
    def n_frac(self) -> int:
        """Fraction bits of the normalised value ``n``."""
        return self.frac_bits + self.param_bits - self.param_frac

    @property
    def out_shift(self) -> int:
        """Right shift of ``n G`` (``nf + param_frac`` fraction bits) back to ``frac_bits``."""
        return self.n_frac + self.param_frac - self.frac_bits

    # ---- widths of the circuit's registers (exact: nothing wraps) ----
    @property
    def s1_bits(self) -> int:
        """Signed width of ``S1``: ``|S1| <= d 2^(total_bits-1)``."""
        return (self.d << (self.total_bits - 1)).bit_length() + 1

    @property
    def s2_bits(self) -> int:
        """Unsigned width of ``S2 <= d 2^(2 total_bits - 2)``."""
        return (self.d << (2 * self.total_bits - 2)).bit_length()

    @property
    def v_bits(self) -> int:
        """Unsigned width of ``V <= d S2 + E``."""
        return ((self.d * self.d << (2 * self.total_bits - 2)) + self.eps_fixed).bit_length()

    @property
    def diff_bits(self) -> int:
        """Signed width of ``D = d X - S1``: ``|D| <= d 2^total_bits``."""
        return (self.d << self.total_bits).bit_length() + 1

    @property
    def n_bits(self) -> int:
        """Signed width of ``n``: ``|n| < isqrt(d - 1) + 2`` (|n_real| <= sqrt(d - 1))."""
        return ((math.isqrt(self.d - 1) + 2) << self.n_frac).bit_length() + 1


def row_stats(x: np.ndarray) -> tuple[int, int]:
    """Exact ``(sum X, sum X^2)`` of one row of integers (Python ints: no overflow)."""
    values = [int(v) for v in np.asarray(x).ravel()]
    return sum(values), sum(v * v for v in values)


def variance_term(s1: int, s2: int, fmt: LayerNormFormat) -> int:
    """``V = d S2 - S1^2 + E`` (``>= E >= 1`` for any row)."""
    return fmt.d * s2 - s1 * s1 + fmt.eps_fixed


def normalise(v: int, fmt: LayerNormFormat) -> tuple[int, int]:
    """``(M, s)``: ``s`` even, ``M = floor(V / 2^s)`` (or ``V 2^-s``) in ``[2^(P-2), 2^P)``."""
    excess = v.bit_length() - fmt.norm_bits
    s = excess + (excess & 1)
    return (v >> s if s >= 0 else v << -s), s


def rsqrt_mantissa(m: int, fmt: LayerNormFormat) -> int:
    """``r = floor(2^F / sqrt(M))``: the largest integer with ``r^2 M <= 2^(2F)``."""
    return math.isqrt((1 << 2 * fmt.rsqrt_shift) // m)


def rsqrt_recurrence(m: int, fmt: LayerNormFormat) -> int:
    """The circuit's digit recurrence for :func:`rsqrt_mantissa` (one bit per step, only
    shifts by constants, adds and compares): ``t = 2^(2F - 2j) - 4 q^2 M``, ``u = q M``."""
    t, u, q = 1 << (2 * fmt.rsqrt_shift - 2 * (fmt.rsqrt_bits + 1)), 0, 0
    for _ in range(fmt.rsqrt_bits + 2):
        trial = 4 * u + m
        if trial <= t:
            t, u, q = t - trial, 2 * u + m, 2 * q + 1
        else:
            u, q = 2 * u, 2 * q
        t *= 4
    return q


def _shift_round(value: int, shift: int) -> int:
    """``round_half_up(value / 2^shift)`` for ``shift >= 1``; exact left shift otherwise."""
    return (value + (1 << (shift - 1))) >> shift if shift > 0 else value << -shift


def layernorm_row(x, gamma, beta, fmt: LayerNormFormat = LayerNormFormat()) -> np.ndarray:
    """Output row ``Y`` (int64) for one row ``x`` of ``d`` integers (see the module docstring).

    Raises ValueError when a row or parameter vector has the wrong length or range.
    """
    x, gamma, beta = (_checked(a, name, bits, fmt.d) for a, name, bits in
                      ((x, "x", fmt.total_bits), (gamma, "gamma", fmt.param_bits),
                       (beta, "beta", fmt.param_bits)))
    s1, s2 = row_stats(x)
    m, s = normalise(variance_term(s1, s2, fmt), fmt)
    r = rsqrt_mantissa(m, fmt)
    shift = fmt.rsqrt_shift + s // 2 - fmt.n_frac
    lo, hi = -(1 << (fmt.total_bits - 1)), (1 << (fmt.total_bits - 1)) - 1
    out = []
    for xi, g, b in zip(x, gamma, beta, strict=True):
        n = _shift_round((fmt.d * xi - s1) * r, shift)
        y = _shift_round(n * g, fmt.out_shift) + (b << (fmt.frac_bits - fmt.param_frac))
        out.append(min(max(y, lo), hi))
    return np.array(out, dtype=np.int64)


def layernorm_fixed(rows, gamma, beta, fmt: LayerNormFormat = LayerNormFormat()) -> np.ndarray:
    """:func:`layernorm_row` over every row of a 2-D integer array."""
    rows = np.atleast_2d(np.asarray(rows))
    return np.stack([layernorm_row(row, gamma, beta, fmt) for row in rows])


def _checked(a, name: str, bits: int, d: int) -> list[int]:
    arr = np.asarray(a).ravel()
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, not dtype {arr.dtype}")
    if arr.size != d:
        raise ValueError(f"{name} must have d = {d} elements, not {arr.size}")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} must lie in the signed {bits}-bit range [{lo}, {hi}]")
    return [int(v) for v in arr]


# ---- float reference and error ----------------------------------------------------------------


def layernorm_float(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                    eps: float = 1e-6) -> np.ndarray:
    """float64 LayerNorm over the last axis (population variance, eps inside the sqrt)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def error_bound(x_real: np.ndarray, gamma_real: np.ndarray,
                fmt: LayerNormFormat = LayerNormFormat()) -> np.ndarray:
    """Per-element bound on ``|y - y_real|`` (real units) for unsaturated outputs, from the
    formats: relative rsqrt error times ``|n_real g|``, n's rounding times ``|g|``, y's
    rounding (see the module docstring); ``n_real`` from float64 (its own error is far below)."""
    x_real = np.atleast_2d(np.asarray(x_real, dtype=np.float64))
    mean = x_real.mean(axis=-1, keepdims=True)
    var = ((x_real - mean) ** 2).mean(axis=-1, keepdims=True)
    n_real = np.abs(x_real - mean) / np.sqrt(var + fmt.eps)
    rel = 2.0 ** -fmt.rsqrt_bits + 2.0 ** -(fmt.norm_bits - 1) + 0.5 / fmt.eps_fixed
    g = np.abs(np.asarray(gamma_real, dtype=np.float64))
    return n_real * g * rel + g * 2.0 ** -(fmt.n_frac + 1) + 2.0 ** -(fmt.frac_bits + 1)


@dataclass(frozen=True, slots=True)
class LayerNormError:
    """Worst error of the fixed-point model against float64 over a set of rows."""

    max_abs: float          # max |y - y_float| over unsaturated outputs (real units)
    max_over_bound: float   # max |y - y_float| / error_bound (<= 1 when the bound holds)
    saturated: int          # outputs where the float result lies outside the Q range


def layernorm_error(rows_real: np.ndarray, gamma_real: np.ndarray, beta_real: np.ndarray,
                    fmt: LayerNormFormat = LayerNormFormat()) -> LayerNormError:
    """Quantise ``rows_real``, gamma, beta to the formats, run :func:`layernorm_fixed`, and
    compare with :func:`layernorm_float` of the quantised values (float64, ``fmt.eps``)."""
    f, pf = fmt.frac_bits, fmt.param_frac
    x = _quantise(rows_real, f, fmt.total_bits)
    g = _quantise(gamma_real, pf, fmt.param_bits)
    b = _quantise(beta_real, pf, fmt.param_bits)
    xr, gr, br = x / 2.0 ** f, g / 2.0 ** pf, b / 2.0 ** pf
    y = layernorm_fixed(x, g, b, fmt) / 2.0 ** f
    ref = layernorm_float(xr, gr, br, fmt.eps)
    limit = 2.0 ** (fmt.total_bits - fmt.frac_bits - 1)
    inside = (ref > -limit) & (ref < limit - 2.0 ** -f)
    err = np.abs(y - ref)[inside]
    bound = (error_bound(xr, gr, fmt) + _float_error(xr, gr, fmt.eps))[inside]
    return LayerNormError(float(err.max(initial=0.0)), float((err / bound).max(initial=0.0)),
                          int((~inside).sum()))


def _float_error(x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    """A bound on float64's own error in :func:`layernorm_float`: the mean's rounding
    (a few ulp of max|x|) divided by the standard deviation, times |g|, with margin."""
    mean = x.mean(axis=-1, keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + eps)
    scale = np.abs(x).max(axis=-1, keepdims=True) + 1.0
    return 64 * 2.0 ** -53 * (scale / std + np.sqrt(x.shape[-1])) * (np.abs(g) + 1.0)


def _quantise(x, frac: int, bits: int) -> np.ndarray:
    scaled = np.floor(np.asarray(x, dtype=np.float64) * float(1 << frac) + 0.5)
    return np.clip(scaled, -(1 << (bits - 1)), (1 << (bits - 1)) - 1).astype(np.int64)
