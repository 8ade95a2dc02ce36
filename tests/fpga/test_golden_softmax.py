"""Single-pass softmax golden model: scalar twin, realistic attention rows, underflow rows, A·V.

Float references are written here from the definition (``reference_softmax``), not taken from
fpga.golden.softmax, so a wrong reference in the model cannot hide a wrong fixed-point path.
"""

from __future__ import annotations

import numpy as np
import pytest

from fpga.golden.exp import exp_fixed, reciprocal_fixed
from fpga.golden.softmax import (
    SoftmaxFormat,
    attention_av_fixed,
    softmax_fixed,
    softmax_float,
    softmax_row_state,
)

ONE = 1 << 22
LO, HI = -(2**31), 2**31 - 1


def _scalar_row(row: list[int]) -> tuple[int, int]:
    """Plain-Python twin of the streamed update with a first-element start (max, sum)."""
    b, total = row[0], ONE
    for s in row[1:]:
        if s > b:
            e = int(exp_fixed(np.array([max(b - s, LO)]))[0])
            total = (total * e + (1 << 21)) // ONE + ONE
            b = s
        else:
            total += int(exp_fixed(np.array([max(s - b, LO)]))[0])
        total = min(total, HI)
    return b, total


def _attention_scores(rng, rows: int, n: int, d: int, act_std: float) -> np.ndarray:
    q = rng.normal(0.0, act_std, (rows, d))
    k = rng.normal(0.0, act_std, (n, d))
    return q @ k.T / np.sqrt(d)  # scale 1/8 for d = 64


def _quantise(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x * ONE + 0.5), LO, HI).astype(np.int64)


def reference_softmax(x: np.ndarray) -> np.ndarray:
    """exp(x_j) / sum_k exp(x_k) over the last axis, in float64 (shifted by the row max, which
    cancels in the ratio)."""
    shifted = np.asarray(x, dtype=np.float64) - np.max(x, axis=-1, keepdims=True)
    return np.exp(shifted) / np.sum(np.exp(shifted), axis=-1, keepdims=True)


def test_model_float_softmax_is_the_definition():
    # fpga.golden.softmax.softmax_float (used by other tiers) against the definition above
    x = np.random.default_rng(4).normal(0, 20, (8, 33))
    np.testing.assert_allclose(softmax_float(x), reference_softmax(x), rtol=1e-13, atol=0)
    np.testing.assert_allclose(reference_softmax(np.log([[1.0, 3.0]])), [[0.25, 0.75]], rtol=1e-15)


def test_vectorised_equals_scalar_twin():
    rng = np.random.default_rng(0)
    scores = _quantise(rng.normal(0, 6, (40, 129)))
    scores[0] = np.sort(scores[0])  # every step rescales
    scores[1] = np.sort(scores[1])[::-1]  # no step rescales
    scores[2, :] = scores[2, 0]  # ties
    recip, b = softmax_row_state(scores)
    for i, row in enumerate(scores.tolist()):
        mb, total = _scalar_row(row)
        assert b[i] == mb == max(row)
        assert recip[i] == reciprocal_fixed(np.array([total]))[0]


@pytest.mark.parametrize("act_std", [1.0, 2.0, 3.0])
def test_realistic_attention_rows(act_std):
    # q, k ~ N(0, act_std^2), d = 64: logits with std act_std^2 (up to ~±40 at act_std 3).
    rng = np.random.default_rng(int(act_std * 10))
    scores = _quantise(_attention_scores(rng, 129, 129, 64, act_std))
    p = softmax_fixed(scores) / ONE
    ref = reference_softmax(scores / ONE)
    err = np.abs(p - ref)
    print(f"act_std={act_std}: max abs err {err.max():.3e}, "
          f"max row-sum err {np.abs(p.sum(-1) - 1).max():.3e}")
    assert err.max() < 5.0e-6
    # Row sums, worst case: each of the N - 1 = 128 possible rescales adds one exp error
    # (<= 1.1e-6, test_golden_exp) to the running sum, each of the N probabilities one rounding
    # to 2**-22 (<= 2**-23): 128 * 1.1e-6 + 129 * 2**-23 = 1.6e-4 < 2e-4.
    assert np.abs(p.sum(-1) - 1).max() < 2.0e-4


def test_rows_with_underflowing_terms():
    # Spread of 60 in each row: most exp(s - b) < 2**-23 round to exactly 0 (underflow).
    rng = np.random.default_rng(7)
    scores = _quantise(rng.uniform(-30, 30, (64, 129)))
    p = softmax_fixed(scores)
    ref = reference_softmax(scores / ONE)
    assert np.count_nonzero(p == 0) > 0.5 * p.size
    assert np.all(ref[p == 0] < 2.0**-22)
    assert np.abs(p / ONE - ref).max() < 5.0e-6


def test_extreme_range_saturates_without_wrapping():
    row = np.array([[LO, HI, 0, HI, LO]], dtype=np.int64)
    p = softmax_fixed(row)
    assert p.tolist() == [[0, (ONE + 1) // 2, 0, (ONE + 1) // 2, 0]]


def test_uniform_row_gives_one_over_n():
    p = softmax_fixed(np.zeros((1, 129), dtype=np.int64))
    expected = np.floor(ONE / 129 + 0.5)
    assert np.all(np.abs(p - expected) <= 1)


def test_attention_av_close_to_float():
    rng = np.random.default_rng(11)
    scores = _quantise(_attention_scores(rng, 32, 129, 64, 2.0))
    v = _quantise(rng.normal(0, 2, (129, 64)))
    out = attention_av_fixed(scores, v) / ONE
    ref = reference_softmax(scores / ONE) @ (v / ONE)
    assert np.abs(out - ref).max() < 1.0e-4


def test_format_consistency_checked():
    from fpga.golden.exp import ExpFormat

    with pytest.raises(ValueError):
        SoftmaxFormat(exp=ExpFormat(in_frac=20))


def test_one_exp_of_minus_abs_difference_serves_both_branches():
    # The documented single-exp datapath: e = exp(sat(-|s - b|)); s > b rescales by e.
    rng = np.random.default_rng(9)
    scores = _quantise(rng.normal(0, 8, (16, 129)))
    scores[:, 5] = HI
    scores[:, 9] = LO
    b = np.full(16, LO, dtype=np.int64)
    total = np.zeros(16, dtype=np.int64)
    for k in range(scores.shape[1]):
        s = scores[:, k]
        e = exp_fixed(np.maximum(-np.abs(s - b), LO))
        grown = (total * e + (1 << 21)) // ONE + ONE
        total = np.minimum(np.where(s > b, grown, total + e), HI)
        b = np.maximum(b, s)
    recip, b_model = softmax_row_state(scores)
    assert np.array_equal(b_model, b)
    assert np.array_equal(recip, reciprocal_fixed(total))
