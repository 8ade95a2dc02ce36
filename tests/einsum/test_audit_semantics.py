"""Semantics the rest of the suite left unpinned (found by mutating einsum/ by hand): plain
subtraction and division, exp of a difference whose subtrahend is -inf, the presence of a
union of two partly absent operands, several `where` filters, three verifier errors and the
ranks that traverse a split rank. Expected values are NumPy on the same inputs or the
notation's rules (docs/notation.md, `einsum.executor` "Semantics"), worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

import einsum
from einsum.passes import einsum_passes, pass_counts, rank_family
from einsum.verifier import VerifyError

A = np.array([1.5, -2.0, 4.0, 0.25])
B = np.array([0.5, 3.0, -8.0, 2.0])


def run(body: str, params: dict[str, int] | None = None, head: str = "") -> np.ndarray:
    text = f"cascade t\ninput A[p], B[p]\noutput Z[p]\n{head}{body}"
    return einsum.execute(einsum.parse(text), {"A": A, "B": B}, params)["Z"]


@pytest.mark.parametrize(("op", "reference"), [("-", np.subtract), ("/", np.divide)])
def test_plain_binary_operators_take_left_then_right(op, reference):
    np.testing.assert_array_equal(run(f"Z[p] = A[p] {op} B[p]\n"), reference(A, B))
    np.testing.assert_array_equal(run(f"Z[p] = B[p] {op} A[p]\n"), reference(B, A))


def test_exp_of_a_difference_is_zero_only_when_the_minuend_is_minus_inf():
    """exp(a - b) is 0 when a is -inf (even if b is too: an empty running max); with a finite a
    and b = -inf it is IEEE's exp(+inf) = inf."""
    neg = "N[p] = -inf\n"
    assert np.array_equal(run(neg + "Z[p] = exp(A[p] - N[p])\n"), np.exp(A - -np.inf))
    assert np.isposinf(run(neg + "Z[p] = exp(A[p] - N[p])\n")).all()
    np.testing.assert_array_equal(run(neg + "Z[p] = exp(N[p] - A[p])\n"), np.zeros(4))
    np.testing.assert_array_equal(run(neg + "Z[p] = exp(N[p] - N[p])\n"), np.zeros(4))


@pytest.mark.parametrize(("op", "reference"), [("X[p] + Y[p]", np.add),
                                               ("max(X[p], Y[p])", np.maximum)])
@pytest.mark.parametrize(("c", "d"), [(2, 1), (1, 3)])
def test_union_of_two_partly_absent_operands(op, reference, c, d):
    """X is present at p < C, Y at p >= D: '+' and max skip an absent operand, so Z is X where
    only X is present, Y where only Y is, both combined where both are, and absent (NaN in an
    output) where neither is: at C = 1, D = 3 the points 1 and 2."""
    head = "param C, D\n"
    body = f"X[p] = A[p] where p < C\nY[p] = B[p] where p >= D\nZ[p] = {op}\n"
    got = run(body, {"C": c, "D": d}, head)
    p = np.arange(4)
    has_x, has_y = p < c, p >= d
    expected = np.where(has_x & has_y, reference(A, B),
                        np.where(has_x, A, np.where(has_y, B, np.nan)))
    np.testing.assert_array_equal(got, expected)


def test_every_filter_of_an_einsum_must_hold():
    """`where m < C, m >= D`: the sum runs over D <= m < C only."""
    text = ("cascade t\ninput S[m,p]\noutput Z[p]\nparam C, D\n"
            "Z[p] = S[m,p] where m < C, m >= D\n")
    s = np.arange(24.0).reshape(6, 4) ** 1.5
    got = einsum.execute(einsum.parse(text), {"S": s}, {"C": 5, "D": 2})["Z"]
    np.testing.assert_allclose(got, s[2:5].sum(axis=0), rtol=1e-15)


@pytest.mark.parametrize(("text", "match"), [
    ("input A[k,j,p]\noutput Y[p]\nY[p] = max[k] A[k,j,p]\n",
     r"Einsum Y .*max\[k\] must name exactly the reduced ranks .*: k, j"),
    ("input A[p]\noutput Y[p,p]\nY[p,p] = A[p]\n",
     r"Einsum Y .*rank p appears twice in the output subscripts"),
    ("input K[e,m]\noutput BK[e,m1,m0]\nparam M0 = 4\nsplit m = m1*M0 + m0\n"
     "BK[e,m1,m0] = K[e,m0*M0+m1]\n",
     r"Einsum BK .*rank m of K is subscripted 'm0\*M0\+m1'.*expected 'm' or 'm1\*M0\+m0'"),
])
def test_verifier_names_the_einsum_and_rank(text, match):
    with pytest.raises(VerifyError, match=match):
        einsum.verify(einsum.parse("cascade t\n" + text))


SPLIT = """\
cascade t
input Q[e,p], K[e,m]
output Y[m0,p]
param M0 = 4
split m = m1*M0 + m0
BK[e,m1,m0] = K[e,m1*M0+m0]
S[m1,m0,p] = Q[e,p] * BK[e,m1,m0]
G[p] = max[m1,m0] S[m1,m0,p]
T[m0] = BK[e,m1,m0]
Y[m0,p] = T[m0] * G[p]
"""


def test_a_split_ranks_parts_both_traverse_it():
    """rank_family: "itself plus, for a split parent, its outer and inner part". Y walks only
    the inner part m0 but needs G, complete only after a whole pass over m: pass 2 of m."""
    cascade = einsum.parse(SPLIT)
    assert rank_family(cascade, "m") == {"m", "m1", "m0"}
    assert rank_family(cascade, "p") == {"p"}
    passes = einsum_passes(cascade, "m")
    assert [passes[k] for k in range(5)] == [1, 1, 1, 1, 2]
    assert pass_counts(cascade)["m"] == 2
