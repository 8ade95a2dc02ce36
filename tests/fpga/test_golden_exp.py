"""exp and reciprocal golden models: exact points, dense error bound, monotonicity, division."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from fpga.golden.exp import (
    ExpFormat,
    ReciprocalFormat,
    exp2_table,
    exp_error_bound,
    exp_fixed,
    reciprocal_fixed,
)

ONE = 1 << 22


def test_table_endpoints_are_exact_powers_of_two():
    table = exp2_table(ExpFormat())
    assert table.shape == (257,)
    assert table[0] == 2**30 and table[256] == 2**29 and table[128] == round(2**29.5)


def test_exp_zero_is_one_and_positive_clamps():
    assert exp_fixed(np.array([0, 5 * ONE], dtype=np.int64)).tolist() == [ONE, ONE]


def test_exp_of_minus_k_ln2_is_a_power_of_two():
    # z = -k ln 2 on the fixed grid lands within one output LSB of 2**-k.
    k = np.arange(0, 12)
    z = np.floor(-k * math.log(2) * ONE + 0.5).astype(np.int64)
    got = exp_fixed(z)
    assert np.all(np.abs(got - np.ldexp(float(ONE), -k)) <= 1)


def _dense_error(fmt: ExpFormat, lo_units: int, step: int) -> float:
    worst = 0.0
    for start in range(-lo_units << fmt.in_frac, 1, 1 << 24):
        z = np.arange(start, min(start + (1 << 24), 1), step, dtype=np.int64)
        ref = np.exp(z / float(1 << fmt.in_frac))
        err = np.abs(exp_fixed(z, fmt) / float(1 << fmt.out_frac) - ref)
        worst = max(worst, float(err.max()))
    return worst


def test_error_bound_exhaustive_on_minus_1_to_0():
    fmt = ExpFormat()
    z = np.arange(-ONE, 1, dtype=np.int64)  # every code in [-1, 0]
    err = np.abs(exp_fixed(z, fmt) / ONE - np.exp(z / ONE))
    bound = exp_error_bound(fmt)
    assert err.max() <= bound
    assert err.max() >= 0.8 * bound  # the bound is not loose
    assert bound < 1.1e-6


def test_error_bound_dense_over_the_whole_range():
    fmt = ExpFormat()
    assert _dense_error(fmt, 512, 4093) <= exp_error_bound(fmt)


@pytest.mark.parametrize(("fmt", "dominant"), [
    # linear interpolation of the convex 2**-f at step h = 1/16: h^2/8 * ln(2)^2
    (ExpFormat(table_log2=4, t_frac=20), (1 / 16) ** 2 / 8 * math.log(2) ** 2),
    # rounding the result to 16 fraction bits: 2**-17
    (ExpFormat(out_frac=16), 2.0**-17),
])
def test_error_bound_other_formats(fmt, dominant):
    err, bound = _dense_error(fmt, 20, 997), exp_error_bound(fmt)
    assert 0.9 * bound <= err <= bound  # the bound holds and is not loose
    assert dominant <= bound <= 1.2 * dominant  # it is the format's dominant error term


def test_monotone_non_decreasing():
    z = np.arange(-20 * ONE, 1, 61, dtype=np.int64)
    assert np.all(np.diff(exp_fixed(z)) >= 0)  # z increasing → exp non-decreasing


def test_underflow_threshold():
    # Rounding half up: the result is 0 once exp(z) < 2**-23, i.e. z < -23 ln 2 = -15.94.
    just_above = math.floor(-22.9 * math.log(2) * ONE)
    just_below = math.floor(-23.1 * math.log(2) * ONE)
    assert exp_fixed(np.array([just_above]))[0] == 1
    assert exp_fixed(np.array([just_below, -(2**31)]))[0:2].tolist() == [0, 0]


def test_reciprocal_is_rounded_exact_division():
    rng = np.random.default_rng(3)
    s = rng.integers(ONE, 600 * ONE, size=2000, dtype=np.int64)
    got = reciprocal_fixed(s)
    expected = [math.floor(Fraction(2**52, int(v)) + Fraction(1, 2)) for v in s]
    assert got.tolist() == expected
    assert reciprocal_fixed(np.array([ONE, 2 * ONE, 129 * ONE])).tolist() == [
        2**30, 2**29, math.floor(Fraction(2**30, 129) + Fraction(1, 2))
    ]


def test_reciprocal_rejects_non_positive():
    with pytest.raises(ValueError, match="positive"):
        reciprocal_fixed(np.array([0]))
    with pytest.raises(ValueError):
        ReciprocalFormat(out_frac=40)


def test_bad_exp_formats():
    with pytest.raises(ValueError, match="t_frac"):
        ExpFormat(t_frac=4)
    with pytest.raises(ValueError, match="out_frac"):
        ExpFormat(out_frac=31)
