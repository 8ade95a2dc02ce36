"""Every library cascade against an independent float64 softmax-attention reference.

The reference below is written from the definition softmax(Q K^T / sqrt(E)) V with the usual
max subtraction; it shares no code with einsum/. Shapes are randomised by hypothesis, including
M not a multiple of M0, M0 = 1, M0 > M, P = 1, odd head dims, leading batch/head dims, and
logits scaled up to 1e4 (where an unstabilised softmax overflows).
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import einsum
from einsum import library

RTOL = 1e-10
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def reference(q, k, v, mask=None):
    """softmax(q k^T / sqrt(E)) v over the last two axes; mask[p, m] False drops a key."""
    logits = np.einsum("...pe,...me->...pm", q, k) / np.sqrt(q.shape[-1])
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return np.einsum("...pm,...mf->...pf", weights, v)


def naive(q, k, v):
    """The same without max subtraction: overflows for large logits."""
    with np.errstate(over="ignore", invalid="ignore"):
        weights = np.exp(np.einsum("...pe,...me->...pm", q, k) / np.sqrt(q.shape[-1]))
        return np.einsum("...pm,...mf->...pf", weights / weights.sum(-1, keepdims=True), v)


def assert_matches(out, ref):
    assert out.shape == ref.shape
    assert np.all(np.isfinite(out))
    scale = max(np.abs(ref).max(), 1e-300)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=RTOL * scale)


@st.composite
def problems(draw, heads=True, p_max=9):
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2 if heads else 0)))
    p = draw(st.integers(1, p_max))
    m = draw(st.integers(1, 19))
    e = draw(st.sampled_from([1, 2, 3, 5, 8]))
    f = draw(st.sampled_from([1, 3, 4, 7]))
    m0 = draw(st.sampled_from([1, 2, 3, 4, 7, 16, 32]))
    scale = draw(st.sampled_from([1.0, 10.0, 1e2, 1e3, 1e4]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    q = rng.normal(size=lead + (p, e)) * scale
    k = rng.normal(size=lead + (m, e))
    v = rng.normal(size=lead + (m, f))
    return q, k, v, m0


ATTENTION = ["attention-3pass", "attention-2pass", "attention-1pass", "edgemoe-softmax"]


@pytest.mark.parametrize("name", ATTENTION)
@SETTINGS
@given(problem=problems())
def test_unmasked_cascades_match_reference(name, problem):
    q, k, v, m0 = problem
    cascade = library.get(name)
    params = {"M0": m0} if "M0" in cascade.params else {}
    assert_matches(einsum.attention(cascade, q, k, v, **params), reference(q, k, v))


SMALL_PARAMS = {"M0": 4, "C": 3, "W": 3}


def library_mask(name, p, m):
    """The mask each library cascade applies, written from its documented meaning."""
    rows, cols = np.arange(p)[:, None], np.arange(m)[None, :]
    if name.endswith("-causal"):
        return cols <= rows
    if name.endswith("-window"):
        return np.abs(cols - rows) < SMALL_PARAMS["W"]
    return None


@pytest.mark.parametrize("name", ATTENTION)
@pytest.mark.parametrize(("p", "m", "m0"), [
    (1, 7, 3),  # P = 1, partial last chunk of 1
    (4, 10, 4),  # partial last chunk of 2
    (3, 5, 1),  # M0 = 1
    (2, 3, 8),  # M0 > M: a single partial chunk
    (5, 12, 4),  # M a multiple of M0
])
def test_edge_shapes(name, p, m, m0):
    rng = np.random.default_rng(p * 100 + m * 10 + m0)
    q, k, v = rng.normal(size=(p, 5)) * 1e3, rng.normal(size=(m, 5)), rng.normal(size=(m, 3))
    cascade = library.get(name)
    params = {"M0": m0} if "M0" in cascade.params else {}
    assert_matches(einsum.attention(cascade, q, k, v, **params), reference(q, k, v))


def test_large_logits_overflow_naive_softmax_but_not_cascades():
    rng = np.random.default_rng(7)
    # axis 0 is a head axis for cascades with head ranks (lean-decode, -gqa), batch otherwise
    q = rng.normal(size=(2, 6, 5)) * 1e4
    k, v = rng.normal(size=(2, 13, 5)), rng.normal(size=(2, 13, 3))
    assert not np.all(np.isfinite(naive(q, k, v)))  # the unstabilised softmax breaks here
    for name in library.names():
        cascade = library.get(name)
        params = {key: SMALL_PARAMS[key] for key in cascade.params}
        out = einsum.attention(cascade, q, k, v, **params)
        assert_matches(out, reference(q, k, v, library_mask(name, 6, 13)))


@SETTINGS
@given(problem=problems())
def test_causal_mask(problem):
    q, k, v, m0 = problem
    p, m = q.shape[-2], k.shape[-2]
    mask = np.arange(m)[None, :] <= np.arange(p)[:, None]
    out = einsum.attention(library.get("attention-1pass-causal"), q, k, v, M0=m0)
    assert_matches(out, reference(q, k, v, mask))


@SETTINGS
@given(problem=problems(), window=st.integers(1, 6))
def test_sliding_window_mask(problem, window):
    q, k, v, m0 = problem
    p, m = q.shape[-2], k.shape[-2]
    q = q[..., : min(p, m), :]  # every query row keeps its own key
    mask = np.abs(np.arange(m)[None, :] - np.arange(q.shape[-2])[:, None]) < window
    out = einsum.attention(library.get("attention-1pass-window"), q, k, v, M0=m0, W=window)
    assert_matches(out, reference(q, k, v, mask))


def test_window_whose_early_chunks_are_all_masked():
    # rows p >= M0 + W see no key of chunk 0: the running max stays -inf for a whole chunk
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(12, 4)) * 50, rng.normal(size=(12, 4)), rng.normal(size=(12, 2))
    mask = np.abs(np.arange(12)[None, :] - np.arange(12)[:, None]) < 2
    out = einsum.attention(library.get("attention-1pass-window"), q, k, v, M0=3, W=2)
    assert_matches(out, reference(q, k, v, mask))


@pytest.mark.parametrize(("hq", "hk"), [(4, 4), (6, 2), (5, 1)], ids=["mha", "gqa", "mqa"])
@SETTINGS
@given(problem=problems(heads=False))
def test_head_sharing(hq, hk, problem):
    q1, k1, v1, m0 = problem
    rng = np.random.default_rng(q1.size)
    q = np.stack([q1 * rng.uniform(0.5, 1.5) for _ in range(hq)])[None]  # (1, Hq, P, E)
    k = np.stack([k1 + rng.normal(size=k1.shape) for _ in range(hk)])[None]
    v = np.stack([v1 + rng.normal(size=v1.shape) for _ in range(hk)])[None]
    group = hq // hk  # query head h uses K/V head h // group
    ref = np.stack([reference(q[0, h], k[0, h // group], v[0, h // group]) for h in range(hq)])
    out = einsum.attention(library.get("attention-1pass-gqa"), q, k, v, M0=m0)
    assert_matches(out, ref[None])


@pytest.mark.parametrize(("hq", "hk"), [(4, 2), (3, 1), (2, 2)])
@SETTINGS
@given(problem=problems(heads=False))
def test_head_sharing_with_a_causal_mask(hq, hk, problem):
    # a 70B-class decoder has both: K/V heads shared by query heads, and a causal mask
    q1, k1, v1, m0 = problem
    rng = np.random.default_rng(q1.size + 7)
    q = np.stack([q1 * rng.uniform(0.5, 1.5) for _ in range(hq)])[None]  # (1, Hq, P, E)
    k = np.stack([k1 + rng.normal(size=k1.shape) for _ in range(hk)])[None]
    v = np.stack([v1 + rng.normal(size=v1.shape) for _ in range(hk)])[None]
    p, m = q1.shape[-2], k1.shape[-2]
    mask = np.arange(m)[None, :] <= np.arange(p)[:, None]
    group = hq // hk
    ref = np.stack([reference(q[0, h], k[0, h // group], v[0, h // group], mask)
                    for h in range(hq)])
    out = einsum.attention(library.get("attention-1pass-gqa-causal"), q, k, v, M0=m0)
    assert_matches(out, ref[None])


@SETTINGS
@given(problem=problems(heads=False, p_max=1), heads=st.integers(1, 3), units=st.integers(1, 7),
       tile=st.sampled_from([1, 2, 3, 5, 8]))
def test_lean_decode(problem, heads, units, tile):
    q1, k1, v1, _ = problem
    rng = np.random.default_rng(units * 31 + heads)
    q = np.stack([q1 * rng.uniform(0.5, 1.5) for _ in range(heads)])
    k = np.stack([k1 + rng.normal(size=k1.shape) for _ in range(heads)])
    v = np.stack([v1 + rng.normal(size=v1.shape) for _ in range(heads)])
    out = einsum.attention(library.get("lean-decode"), q, k, v, M0=tile, C=units)
    assert_matches(out, reference(q, k, v))


def test_lean_decode_with_several_queries_and_batch():
    rng = np.random.default_rng(11)
    q, k, v = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 17, 5)), rng.normal(
        size=(2, 3, 17, 6))
    out = einsum.attention(library.get("lean-decode"), q, k, v, M0=4, C=5)
    assert_matches(out, reference(q, k, v))


def test_execute_in_notation_order_with_broadcast_leading_dims():
    # K and V shared by both batch entries through a leading dim of 1
    rng = np.random.default_rng(5)
    q = rng.normal(size=(2, 3, 7))  # Q[e, p] with lead 2: (2, E=3, P=7)
    k = rng.normal(size=(1, 3, 10))  # K[e, m]
    v = rng.normal(size=(1, 4, 10))  # V[f, m]
    out = einsum.execute(library.get("attention-1pass"), {"Q": q, "K": k, "V": v}, {"M0": 3})
    assert out["AV"].shape == (2, 4, 7)
    ref = reference(np.swapaxes(q, -1, -2) * np.sqrt(3), np.swapaxes(k, -1, -2),
                    np.swapaxes(v, -1, -2))
    assert_matches(np.swapaxes(out["AV"], -1, -2), ref)


def test_results_are_deterministic():
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(5, 4)), rng.normal(size=(9, 4)), rng.normal(size=(9, 2))
    cascade = library.get("attention-1pass")
    first = einsum.attention(cascade, q, k, v, M0=2)
    second = einsum.attention(cascade, q, k, v, M0=2)
    assert first.tobytes() == second.tobytes()


# Cases that once failed or exercise a less common executor path.

DIRECT_SPLIT = """
cascade direct-split
input Q[e,p], K[e,m], V[f,m]
output AV[f,p]
param M0 = 3
split m = m1*M0 + m0
BQK[m1,m0,p] = Q[e,p] * K[e,m1*M0+m0]
GM[p] = max[m1,m0] BQK[m1,m0,p]
SN[m1,m0,p] = exp(BQK[m1,m0,p] - GM[p])
SD[p] = SN[m1,m0,p]
AV[f,p] = SN[m1,m0,p] * V[f,m1*M0+m0] / SD[p]
"""


@pytest.mark.parametrize(("m", "m0"), [(7, 3), (6, 3), (1, 4), (5, 1)])
def test_split_read_inside_a_larger_iteration_space(m, m0):
    # K and V read through the split expression directly (partial last chunk absent)
    rng = np.random.default_rng(m * 10 + m0)
    q, k, v = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, m, 3)), rng.normal(size=(2, m, 2))
    out = einsum.attention(einsum.parse(DIRECT_SPLIT), q, k, v, M0=m0)
    assert_matches(out, reference(q, k, v))


def test_a_wrong_cascade_is_caught():
    # 1-pass without the running-max correction of the denominator: must not match
    text = library.get("attention-1pass").text.replace(
        "RD[m1+1,p] = SLD[m1,p] + SPD[m1,p]", "RD[m1+1,p] = SLD[m1,p] + RD[m1,p]")
    broken = einsum.parse(text)
    rng = np.random.default_rng(9)
    q, k, v = rng.normal(size=(4, 3)) * 10, rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    with pytest.raises(AssertionError):
        assert_matches(einsum.attention(broken, q, k, v, M0=2), reference(q, k, v))


LIBRARY = Path(__file__).parents[2] / "einsum" / "library"


def _with_temperature(name: str, edits: dict[str, str]) -> einsum.Cascade:
    """A library cascade with docs/notation.md's temperature edits (1/T = 0.5) applied."""
    text = (LIBRARY / f"{name}.af").read_text()
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    cascade = einsum.parse(text.replace(f"cascade {name}", "cascade temp"))
    einsum.verify(cascade)
    return cascade


@pytest.mark.parametrize(("name", "edits", "passes"), [
    ("attention-3pass", {"QK[m,p] = Q[e,p] * K[e,m]\n": "QK[m,p] = Q[e,p] * K[e,m]\n"
                         "TQK[m,p] = QK[m,p] * 0.5\n", "max[m] QK[m,p]": "max[m] TQK[m,p]",
                         "exp(QK[m,p]": "exp(TQK[m,p]"}, 3),
    ("attention-1pass", {"BQK[m1,m0,p] = Q[e,p] * BK[e,m1,m0]\n":
                         "QKR[m1,m0,p] = Q[e,p] * BK[e,m1,m0]\n"
                         "BQK[m1,m0,p] = QKR[m1,m0,p] * 0.5\n"}, 1),
])
def test_the_documented_temperature_variant(name, edits, passes):
    cascade = _with_temperature(name, edits)
    assert einsum.passes.pass_counts(cascade)["m"] == passes
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(2, 7, 4)), rng.normal(size=(2, 9, 4)), rng.normal(size=(2, 9, 3))
    params = {"M0": 4} if "M0" in cascade.params else {}
    assert_matches(einsum.attention(cascade, q, k, v, **params), reference(q / 2, k, v))


def test_the_documented_position_bias_is_an_input_tensor():
    text = (LIBRARY / "attention-3pass.af").read_text()
    text = text.replace("input Q[e,p], K[e,m], V[f,m]", "input Q[e,p], K[e,m], V[f,m], B[m,p]")
    text = text.replace("QK[m,p] = Q[e,p] * K[e,m]\n", "QR[m,p] = Q[e,p] * K[e,m]\n"
                        "QK[m,p] = QR[m,p] + B[m,p]\n")
    cascade = einsum.parse(text)
    einsum.verify(cascade)
    rng = np.random.default_rng(6)
    p, m, e, f = 5, 8, 4, 3
    q, k, v = rng.normal(size=(p, e)), rng.normal(size=(m, e)), rng.normal(size=(m, f))
    bias = -0.5 * np.abs(np.arange(p)[:, None] - np.arange(m)[None, :])  # ALiBi, slope 1/2
    out = einsum.execute(cascade, {"Q": q.T, "K": k.T, "V": v.T, "B": bias.T})["AV"]
    logits = q @ k.T + bias
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = (weights / weights.sum(axis=1, keepdims=True)) @ v
    np.testing.assert_allclose(out, expected.T, rtol=1e-12, atol=1e-14)
