"""GELU golden model: table contents, hand-derived points, symmetry, and error vs exact GELU."""

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
    x = np.linspace(-10.0, 10.0, 400_001)
    err = np.abs(gelu_approx_float(x) - gelu_exact(x))
    assert err.max() <= 1.0e-4
    # Interpolation error peaks near 0 where |delta''| = 2 phi(0): (1/32)^2/8 * 0.798 = 9.74e-5.
    assert err.max() >= 9.0e-5
    assert err.max() <= gelu_error_bound() + 1.2e-7  # + input rounding: |GELU'| <= 1.13


def test_tanh_formula_error_is_about_4_7e_4():
    x = np.linspace(-10.0, 10.0, 400_001)
    err_tanh = np.abs(gelu_tanh(x) - gelu_exact(x)).max()
    assert 4.5e-4 <= err_tanh <= 5.0e-4
    err_table = np.abs(gelu_approx_float(x) - gelu_exact(x)).max()
    assert err_table < err_tanh / 4


def test_fixed_error_bound_on_fixed_grid():
    # Against GELU of the exact fixed-point input (no input rounding), every 97th code in [-8, 8].
    codes = np.arange(-8 * ONE, 8 * ONE, 97, dtype=np.int64)
    err = np.abs(gelu_fixed(codes) / ONE - gelu_exact(codes / ONE))
    assert err.max() <= gelu_error_bound()


def test_other_format_step_1_16():
    fmt = GeluFormat(step_log2=4, range_max=6.0)
    assert gelu_table(fmt).shape == (97,)
    x = np.linspace(-8, 8, 100_001)
    err = np.abs(gelu_approx_float(x, fmt) - gelu_exact(x)).max()
    assert err <= gelu_error_bound(fmt) + 1.2e-7
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
