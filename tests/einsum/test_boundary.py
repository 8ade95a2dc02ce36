"""`einsum.attention` on declarations it cannot map: an InputError naming the declaration."""

import numpy as np
import pytest

import einsum
from einsum import ExecutionError, InputError

BODY = "QK[{qk}] = Q[{q}]*K[{k}]\nAV[{av}] = QK[{qk}]*V[{v}]\n"


def cascade(q: str, k: str, v: str, av: str, qk: str):
    text = (f"cascade odd\ninput Q[{q}], K[{k}], V[{v}]\noutput AV[{av}]\n"
            + BODY.format(q=q, k=k, v=v, av=av, qk=qk))
    return einsum.parse(text, source="odd.af")


@pytest.mark.parametrize(("q", "k", "v", "av", "qk", "bad"), [
    ("e,p", "e,m", "f,m", "", "m,p", "AV[]"),
    ("e", "e,m", "f,m", "f", "m", "Q[e]"),
    ("e,p", "e,m", "f,m", "f,p,e", "m,p,e", "AV[f,p,e]"),
    ("e,p", "e,h,m", "f,h,m", "f,h,p", "m,h,p", "K[e,h,m]"),  # a K head rank Q lacks
    ("e,g,p", "e,h,m", "f,h,m", "f,g,h,p", "m,g,h,p", "K[e,h,m]"),
    ("e,h,p", "e,h,m", "f,m", "f,h,p", "m,h,p", "V[f,m]"),
    ("e,g,s,p", "e,m", "f,m", "f,g,s,p", "m,g,s,p", "K[e,m]"),
    ("e,a,b,c,p", "e,a,m", "f,a,m", "f,a,b,c,p", "m,a,b,c,p", "Q[e,a,b,c,p]"),
])
def test_unmappable_declarations_are_input_errors_naming_them(q, k, v, av, qk, bad):
    # these raised a bare ValueError from numpy (transpose or tuple.index)
    c = cascade(q, k, v, av, qk)
    rng = np.random.default_rng(0)
    arrays = (rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 3)))
    with pytest.raises(ExecutionError) as info:
        einsum.attention(c, *arrays)
    assert isinstance(info.value, InputError)
    assert f"cascade odd: declaration {bad} " in str(info.value)


def test_heads_on_q_only_share_k_and_v():
    """Q[e,h,p] with K[e,m], V[f,m]: every query head reads the one K/V (multi-query)."""
    c = cascade("e,h,p", "e,m", "f,m", "f,h,p", "m,h,p")  # plain sum over m: no softmax
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 4, 2)), rng.normal(size=(5, 2)), rng.normal(size=(5, 6))
    expected = np.einsum("hpe,me,mf->hpf", q / np.sqrt(2), k, v)
    np.testing.assert_allclose(einsum.attention(c, q, k, v), expected, rtol=1e-12)
