"""The masked multi-pass cascades (attention-3pass-causal, -3pass-window, -2pass-causal) against
a direct float64 masked softmax and against the masked 1-pass cascades.

The reference is written here from the definition: logits Q K^T / sqrt(E), the excluded
(query p, key m) pairs set to -inf, a row-wise max-subtracted softmax, times V. It shares no
code with einsum/ or with tests/einsum/test_numeric.py. Shapes are drawn by hypothesis: M not a
multiple of M0, M0 = 1 and M0 > M, P > M and P < M, leading batch/head dims, logits up to 1e4.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import einsum
from attnforge.cli import main
from einsum import library
from einsum.passes import einsum_passes, pass_counts

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
RTOL = 1e-10


def masked_softmax(q, k, v, admit):
    """softmax over keys of q k^T / sqrt(E), keys with admit[p, m] False dropped, times v."""
    logits = np.einsum("...pe,...me->...pm", q, k) / np.sqrt(q.shape[-1])
    logits = np.where(admit, logits, -np.inf)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return np.einsum("...pm,...mf->...pf", weights / weights.sum(-1, keepdims=True), v)


def causal(p, m):
    return np.arange(m)[None, :] <= np.arange(p)[:, None]


def window(p, m, w):
    return np.abs(np.arange(m)[None, :] - np.arange(p)[:, None]) < w


@st.composite
def problems(draw):
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    m = draw(st.integers(1, 19))
    p = draw(st.integers(1, m))  # every query row keeps key 0 (causal) / itself (window)
    e, f = draw(st.sampled_from([1, 3, 8])), draw(st.sampled_from([1, 2, 5]))
    m0 = draw(st.sampled_from([1, 2, 3, 4, 7, 32]))
    scale = draw(st.sampled_from([1.0, 1e2, 1e4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = rng.normal(size=lead + (p, e)) * scale
    return q, rng.normal(size=lead + (m, e)), rng.normal(size=lead + (m, f)), m0


def close(out, ref):
    assert out.shape == ref.shape and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=RTOL * max(np.abs(ref).max(), 1e-300))


@SETTINGS
@given(problem=problems())
def test_causal_3pass_and_2pass_equal_the_masked_softmax(problem):
    q, k, v, m0 = problem
    ref = masked_softmax(q, k, v, causal(q.shape[-2], k.shape[-2]))
    close(einsum.attention(library.get("attention-3pass-causal"), q, k, v), ref)
    close(einsum.attention(library.get("attention-2pass-causal"), q, k, v, M0=m0), ref)


@SETTINGS
@given(problem=problems())
def test_causal_multipass_equals_the_1pass_cascade(problem):
    q, k, v, m0 = problem
    one = einsum.attention(library.get("attention-1pass-causal"), q, k, v, M0=m0)
    close(einsum.attention(library.get("attention-3pass-causal"), q, k, v), one)
    close(einsum.attention(library.get("attention-2pass-causal"), q, k, v, M0=m0), one)


@SETTINGS
@given(problem=problems(), w=st.integers(1, 6))
def test_window_3pass_equals_the_masked_softmax_and_the_1pass(problem, w):
    q, k, v, m0 = problem
    out = einsum.attention(library.get("attention-3pass-window"), q, k, v, W=w)
    close(out, masked_softmax(q, k, v, window(q.shape[-2], k.shape[-2], w)))
    close(out, einsum.attention(library.get("attention-1pass-window"), q, k, v, M0=m0, W=w))


def test_2pass_chunks_wholly_masked_for_early_rows():
    # rows 0..2 see no key of chunks 1..3: their LM, SLD, SLNV, CF are absent there, so the
    # corrections must skip them (an identity 0 or -inf would still give the right answer for
    # a sum but turn exp(LM - GM) into NaN if LM were -inf and GM too)
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(12, 4)) * 40, rng.normal(size=(12, 4)), rng.normal(size=(12, 3))
    out = einsum.attention(library.get("attention-2pass-causal"), q, k, v, M0=3)
    close(out, masked_softmax(q, k, v, causal(12, 12)))
    # and the mask matters: the unmasked 2-pass differs on every row but the last
    plain = einsum.attention(library.get("attention-2pass"), q, k, v, M0=3)
    assert not np.allclose(out[:-1], plain[:-1])
    np.testing.assert_allclose(out[-1], plain[-1], rtol=1e-12)


@pytest.mark.parametrize(("name", "passes"), [
    ("attention-3pass-causal", 3), ("attention-3pass-window", 3), ("attention-2pass-causal", 2)])
def test_a_mask_keeps_the_pass_count(name, passes):
    cascade = library.get(name)
    assert pass_counts(cascade)["m"] == passes
    plain = library.get(name.rsplit("-", 1)[0])
    assert einsum_passes(cascade, "m") == einsum_passes(plain, "m")
    # the mask is the only difference: one filter, on the score Einsum
    assert [e.name for e in cascade.einsums if e.filters] == ["QK" if "3pass" in name else "BQK"]
    assert [e.text.split(" where ")[0] for e in cascade.einsums] == [e.text for e in
                                                                     plain.einsums]


def test_cascades_lists_them_with_their_passes(capsys):
    with pytest.raises(SystemExit) as info:
        main(["cascades"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    # Cascade 4 is 6 Einsums over 3 passes; the 2-pass is BK, BV + 10 Einsums over 2 passes
    assert rows["attention-3pass-causal"] == ["3", "6"]
    assert rows["attention-3pass-window"] == ["3", "6"]
    assert rows["attention-2pass-causal"] == ["2", "12"]
