"""Absent points (docs/notation.md, "Absent points"): an all-absent reduction is absent, and an
absent point of a declared output is returned as NaN, never as a silent 0.

Expected values come from the notation's rules (intersection / union) and from an independent
masked softmax reference, which gives NaN for a query that no key reaches (0/0), as PyTorch does.
"""

import numpy as np
import pytest

import einsum
from einsum import library

RED = "cascade red\ninput A[m,p], B[p]\noutput Z[p]\nparam C\n"


def run(text: str, c: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return einsum.execute(einsum.parse(text), {"A": a, "B": b}, {"C": c})["Z"]


@pytest.mark.parametrize("reduce", ["", "max[m] "])
def test_reducing_an_all_absent_fiber_is_absent_and_reads_as_nan(reduce):
    a, b = np.arange(12.0).reshape(4, 3), np.array([1.0, 2.0, 3.0])
    text = RED + f"Z[p] = {reduce}A[m,p] where m < C\n"
    assert np.isnan(run(text, 0, a, b)).all()  # was 0 (sum) or -inf (max): silent values
    fn = np.max if reduce else np.sum
    np.testing.assert_array_equal(run(text, 2, a, b), fn(a[:2], axis=0))


def test_an_absent_reduction_is_skipped_by_union_and_absorbs_intersection():
    a, b = np.arange(12.0).reshape(4, 3), np.array([1.0, -2.0, 3.0])
    head = RED + "G[p] = max[m] A[m,p] where m < C\n"
    # '+' skips an absent operand (union): B, not -inf (the identity of max)
    np.testing.assert_array_equal(run(head + "Z[p] = G[p] + B[p]\n", 0, a, b), b)
    np.testing.assert_array_equal(run(head + "Z[p] = max(G[p], B[p])\n", 0, a, b), b)
    # '*' needs both (intersection): absent
    assert np.isnan(run(head + "Z[p] = G[p] * B[p]\n", 0, a, b)).all()
    np.testing.assert_array_equal(run(head + "Z[p] = G[p] * B[p]\n", 1, a, b), a[0] * b)


def reference(q, k, v, mask):
    """Masked softmax(q k^T / sqrt(E)) v; a row without a key is 0/0 = NaN."""
    logits = np.where(mask, q @ k.T / np.sqrt(q.shape[-1]), -np.inf)
    with np.errstate(invalid="ignore"):
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (weights / weights.sum(axis=-1, keepdims=True)) @ v


MASKED_3PASS = library.get("attention-3pass").text.replace(
    "output AV[f,p]", "output AV[f,p]\nparam C").replace(
    "QK[m,p] = Q[e,p] * K[e,m]", "QK[m,p] = Q[e,p] * K[e,m] where m < C")


@pytest.mark.parametrize("c", [0, 1, 3])
def test_user_masked_3pass_attention_of_zero_keys_is_nan_not_zeros(c):
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(4, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    mask = np.broadcast_to(np.arange(6)[None, :] < c, (4, 6))
    out = einsum.attention(einsum.parse(MASKED_3PASS), q, k, v, C=c)
    ref = reference(q, k, v, mask)
    assert np.array_equal(np.isnan(out), np.isnan(ref)) and np.isnan(out).all() == (c == 0)
    np.testing.assert_allclose(out[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-12)


def test_window_rows_without_keys_are_nan_in_1pass_and_3pass_alike():
    # P = 8 queries, M = 3 keys, W = 2: queries p >= 4 reach no key
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(size=(8, 3)), rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    mask = np.abs(np.arange(3)[None, :] - np.arange(8)[:, None]) < 2
    ref = reference(q, k, v, mask)
    window_3pass = library.get("attention-3pass").text.replace(
        "output AV[f,p]", "output AV[f,p]\nparam W").replace(
        "QK[m,p] = Q[e,p] * K[e,m]", "QK[m,p] = Q[e,p] * K[e,m] where |m - p| < W")
    for cascade, params in ((library.get("attention-1pass-window"), {"M0": 2, "W": 2}),
                            (einsum.parse(window_3pass), {"W": 2})):
        out = einsum.attention(cascade, q, k, v, **params)
        assert np.isnan(out[4:]).all() and np.isfinite(out[:4]).all(), cascade.name
        np.testing.assert_allclose(out[:4], ref[:4], rtol=1e-12)
