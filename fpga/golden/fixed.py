"""Integer helpers shared by the golden models: what a circuit does with shifts and clamps.

Every function takes and returns ``np.int64`` arrays. NumPy's ``>>`` on signed integers is an
arithmetic shift, i.e. floor division by a power of two; rounding is always made explicit by
adding half an LSB before the shift ("round half up", the cheapest rounding in hardware: one
adder, then drop the low bits).
"""

from __future__ import annotations

import numpy as np


def as_int64(x: np.ndarray | int) -> np.ndarray:
    """``x`` as an int64 array; raises TypeError for non-integer input (no silent truncation)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iub":
        raise TypeError(f"fixed-point input must be an integer array, not dtype {arr.dtype}")
    return arr.astype(np.int64)


def shift_round(x: np.ndarray, shift: int | np.ndarray) -> np.ndarray:
    """``round(x / 2**shift)``, halves rounded up (towards +inf), for ``shift >= 0``.

    Circuit: add ``1 << (shift - 1)`` then arithmetic right shift. ``shift == 0`` is the
    identity. An array ``shift`` applies element-wise (a barrel shifter). Shifts of 63 or more
    give the limit the full-width shifter would give (0 for non-negative ``x``, -1/0 otherwise
    per floor semantics after adding the half), computed without overflowing int64.
    """
    x = np.asarray(x, dtype=np.int64)
    s = np.minimum(np.asarray(shift, dtype=np.int64), 62)
    half = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)
    return (x + half) >> s


def saturate(x: np.ndarray, bits: int) -> np.ndarray:
    """Clamp ``x`` to the signed ``bits``-bit range ``[-2**(bits-1), 2**(bits-1) - 1]``."""
    lo = -(1 << (bits - 1))
    hi = (1 << (bits - 1)) - 1
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def to_fixed(x: np.ndarray | float, frac_bits: int, total_bits: int) -> np.ndarray:
    """Real ``x`` quantised to signed fixed point: round half up, then saturate."""
    scaled = np.floor(np.asarray(x, dtype=np.float64) * float(1 << frac_bits) + 0.5)
    lo = -(1 << (total_bits - 1))
    hi = (1 << (total_bits - 1)) - 1
    return np.clip(scaled, lo, hi).astype(np.int64)


def to_float(x: np.ndarray, frac_bits: int) -> np.ndarray:
    """Fixed-point integers ``x`` as float64 values ``x / 2**frac_bits`` (exact for |x| < 2**53)."""
    return np.asarray(x, dtype=np.float64) / float(1 << frac_bits)
