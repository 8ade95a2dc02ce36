"""GELU golden model: table contents, hand-derived points, symmetry, and error vs exact GELU.

The float references (exact GELU from math.erf, the tanh formula) are written here, not taken
from fpga.golden.gelu, so a wrong reference in the model cannot hide a wrong datapath.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fpga.golden.gelu import (
    GeluFormat,
    gelu_approx_float,
    gelu_error_bound,
    gelu_exact,
    gelu_fixed,
    gelu_table,
    gelu_tanh,
)

ONE = 1 << 22


def _delta(a: float) -> float:
    # a * (1 - Phi(a)) written independently of the model, from math.erf.
    return a - a * 0.5 * (1.0 + math.erf(a / math.sqrt(2.0)))


def reference_gelu(x: np.ndarray) -> np.ndarray:
    """GELU(x) = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, element by element via math.erf."""
    return np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in np.ravel(x)]
                    ).reshape(np.shape(x))


def reference_gelu_tanh(x: np.ndarray) -> np.ndarray:
    """The tanh formula of Hendrycks & Gimpel: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def interpolation_bound(step: float, entry_bits: int = 22) -> float:
    """edgemoe.md §3.3: step**2 / 8 * max|delta''| with max|delta''| = 2 phi(0) = 2 / sqrt(2 pi),
    plus the rounding of one table entry and of the interpolated value (2**-(entry_bits+1)
    each)."""
    return step**2 / 8 * 2 / math.sqrt(2 * math.pi) + 2 * 2.0 ** -(entry_bits + 1)


X_DENSE = np.linspace(-10.0, 10.0, 400_001)
EXACT_DENSE = reference_gelu(X_DENSE)


def test_model_float_references_are_the_formulas():
    # fpga.golden.gelu's float references (used by other tiers) against the definitions above;
    # GELU(1) = Phi(1) = 0.8413447460685429 (normal table), GELU(-1) = Phi(1) - 1
    x = np.linspace(-6.0, 6.0, 1201)
    np.testing.assert_allclose(gelu_exact(x), reference_gelu(x), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(gelu_tanh(x), reference_gelu_tanh(x), rtol=1e-15, atol=1e-300)
    assert reference_gelu(np.array([1.0, -1.0])) == pytest.approx(
        [0.8413447460685429, 0.8413447460685429 - 1.0], abs=1e-15)


def test_table_has_177_entries_of_delta_at_step_1_32():
    table = gelu_table(GeluFormat())
    assert table.dtype == np.int64 and table.shape == (177,)
    expected = [math.floor(_delta(k / 32) * 2**22 + 0.5) for k in range(177)]
    assert table.tolist() == expected
    assert 0 <= table.min() and table.max() < 2**22  # 22-bit unsigned fractions


def test_table_point_gives_relu_minus_entry():
    x = np.array([ONE, -ONE, 3 * ONE // 2], dtype=np.int64)  # 1.0, -1.0, 1.5: table points
    got = gelu_fixed(x)
    d1 = math.floor(_delta(1.0) * 2**22 + 0.5)
    d15 = math.floor(_delta(1.5) * 2**22 + 0.5)
    assert got.tolist() == [ONE - d1, -d1, 3 * ONE // 2 - d15]


def test_midpoint_interpolates_half_rounded_up():
    table = gelu_table()
    x = np.array([ONE // 64], dtype=np.int64)  # halfway between entries 0 and 1
    expected = ONE // 64 - (table[0] + (table[1] - table[0] + 1) // 2)
    assert gelu_fixed(x).tolist() == [expected]


def test_beyond_range_is_relu():
    x = np.array([11 * ONE // 2, 7 * ONE, -11 * ONE // 2, -(2**31), 2**31 - 1], dtype=np.int64)
    assert gelu_fixed(x).tolist() == [11 * ONE // 2, 7 * ONE, 0, 0, 2**31 - 1]


def test_odd_part_is_identity():
    # GELU(x) - GELU(-x) = x, and the model keeps it exactly (same |x| path for both signs).
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6 * ONE, size=10_000, dtype=np.int64)
    assert np.array_equal(gelu_fixed(x) - gelu_fixed(-x), x)


def test_zero_and_integer_dtype():
    out = gelu_fixed(np.zeros(3, dtype=np.int32))
    assert out.dtype == np.int64 and out.tolist() == [0, 0, 0]
    with pytest.raises(TypeError):
        gelu_fixed(np.array([0.5]))
    with pytest.raises(ValueError, match="32-bit range"):
        gelu_fixed(np.array([2**31], dtype=np.int64))


def test_error_below_1e_4_over_minus_10_to_10():
    err = np.abs(gelu_approx_float(X_DENSE) - EXACT_DENSE)
    assert err.max() <= 1.0e-4
    # Interpolation error peaks near 0 where |delta''| = 2 phi(0): (1/32)^2/8 * 0.798 = 9.74e-5.
    assert err.max() >= 9.0e-5
    assert err.max() <= gelu_error_bound() + 1.2e-7  # + input rounding: |GELU'| <= 1.13


def test_tanh_formula_error_is_about_4_7e_4():
    # edgemoe.md §3.3: the tanh formula's max error is about 4.7e-4 (a published figure the
    # table approximation is compared with)
    err_tanh = np.abs(reference_gelu_tanh(X_DENSE) - EXACT_DENSE).max()
    assert 4.5e-4 <= err_tanh <= 5.0e-4
    err_table = np.abs(gelu_approx_float(X_DENSE) - EXACT_DENSE).max()
    assert err_table < err_tanh / 4


def test_fixed_error_bound_on_fixed_grid():
    # Against GELU of the exact fixed-point input (no input rounding), every 97th code in [-8, 8].
    codes = np.arange(-8 * ONE, 8 * ONE, 97, dtype=np.int64)
    err = np.abs(gelu_fixed(codes) / ONE - reference_gelu(codes / ONE))
    assert gelu_error_bound() == pytest.approx(interpolation_bound(1 / 32), rel=1e-12)
    assert err.max() <= interpolation_bound(1 / 32)  # 9.76e-5


def test_other_format_step_1_16():
    fmt = GeluFormat(step_log2=4, range_max=6.0)
    assert gelu_table(fmt).shape == (97,)
    x = np.linspace(-8, 8, 100_001)
    err = np.abs(gelu_approx_float(x, fmt) - reference_gelu(x)).max()
    assert gelu_error_bound(fmt) == pytest.approx(interpolation_bound(1 / 16), rel=1e-12)
    assert err <= interpolation_bound(1 / 16) + 1.2e-7  # + input rounding: |GELU'| <= 1.13
    assert err > 1.0e-4  # coarser step, error about 4x larger: (1/16)^2/8*0.798 = 3.9e-4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"range_max": 5.51}, "must be a positive integer"),
        ({"step_log2": 30}, "step_log2"),
        ({"frac_bits": 32}, "frac_bits"),
        ({"range_max": 600.0}, "beyond the format"),
    ],
)
def test_bad_formats(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GeluFormat(**kwargs)
