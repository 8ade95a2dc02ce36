"""The golden models and the workload against the einsum NumPy executor (the semantics)."""

from __future__ import annotations

import numpy as np

import einsum
from fpga.golden.softmax import attention_av_fixed
from fpga.workload import linear_cascade

ONE = 1 << 22


def _q(x: np.ndarray) -> np.ndarray:
    return np.floor(x * ONE + 0.5).astype(np.int64)


def test_fixed_point_attention_matches_the_edgemoe_softmax_cascade():
    rng = np.random.default_rng(5)
    e, n = 64, 129
    q = rng.normal(0, 1.5, (e, n)) / np.sqrt(e)  # Q pre-scaled, as the cascade expects
    k = rng.normal(0, 1.5, (e, n))
    v = rng.normal(0, 1.0, (e, n))
    ref = einsum.execute(einsum.library.get("edgemoe-softmax"), {"Q": q, "K": k, "V": v})["AV"]
    scores = _q(q.T @ k)  # (p, m): the Q·K products the attention unit produces
    out = attention_av_fixed(scores, _q(v.T)) / ONE  # (p, f)
    # Scores are rounded to 2^-23 before the softmax; the fixed-point path adds ~1e-6.
    assert np.abs(out.T - ref).max() < 1e-5  # measured 3.7e-6


def test_linear_cascade_is_a_matrix_product():
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=(8, 5)), rng.normal(size=(8, 3))  # X[k,p], W[k,n]
    y = einsum.execute(linear_cascade(), {"X": x, "W": w})["Y"]
    assert np.allclose(y, w.T @ x)
