"""Pass counts computed from dependencies (FuseMax §III), checked against the paper's analysis.

Expected counts are derived by hand from the definition: each Einsum over M that must wait for
a value complete only after a whole traversal of M (a reduction over all of M, or a final
iterative state) starts a new pass.
"""

import numpy as np
import pytest

import einsum
from einsum import library
from einsum.passes import einsum_passes, pass_counts

# The three teaching cascades of FuseMax §III: Z = sum_k Y * A[k] with Y = sum_k A[k] * B[k].
TEACHING_2PASS = """
cascade teaching-plain
input A[k], B[k]
output Z[]
Y[] = A[k] * B[k]
Z[] = Y[] * A[k]
"""
# Reassociated: sum_k Y*A[k] = Y * (sum_k A[k]); both sums read A in the same traversal.
TEACHING_REASSOCIATED = """
cascade teaching-reassociated
input A[k], B[k]
output Z[]
Y[] = A[k] * B[k]
X[] = A[k]
Z[] = Y[] * X[]
"""
# Iterative: running sums carried by the iterative rank k.
TEACHING_ITERATIVE = """
cascade teaching-iterative
input A[k], B[k]
output Z[]
iterate k until k >= K
init:
RY[k=0] = 0
RX[k=0] = 0
body:
RY[k+1] = RY[k] + A[k] * B[k]
RX[k+1] = RX[k] + A[k]
final:
Z[] = RY[K] * RX[K]
"""


@pytest.mark.parametrize(("text", "passes"), [
    (TEACHING_2PASS, 2), (TEACHING_REASSOCIATED, 1), (TEACHING_ITERATIVE, 1)])
def test_teaching_cascades(text, passes):
    cascade = einsum.parse(text)
    einsum.verify(cascade)
    assert pass_counts(cascade)["k"] == passes
    # all three compute the same Z = (A.B) * sum(A)
    a, b = np.array([1.0, -2.0, 3.0, 0.5]), np.array([2.0, 1.0, -1.0, 4.0])
    z = einsum.execute(cascade, {"A": a, "B": b})["Z"]
    assert z.shape == ()
    assert z == pytest.approx(float(a @ b) * float(a.sum()), rel=1e-14)


@pytest.mark.parametrize(("name", "passes"), [
    ("attention-3pass", 3), ("attention-2pass", 2), ("attention-1pass", 1),
    ("attention-1pass-causal", 1), ("attention-1pass-window", 1), ("attention-1pass-gqa", 1),
    ("attention-1pass-gqa-causal", 1), ("lean-decode", 1),
    # Edge-MoE keeps (max, sum) in one pass, but A.V re-reads the stored scores once the row's
    # (1/sum, max) is complete (edgemoe.md §3: "scores ... read back once by A x V"): 2 passes.
    ("edgemoe-softmax", 2),
])
def test_library_passes_over_m(name, passes):
    assert pass_counts(library.get(name))["m"] == passes


def test_3pass_assigns_each_einsum_its_pass():
    # Cascade 4 lists its passes per Einsum: QK, GM | SN, SD | A, AV
    cascade = library.get("attention-3pass")
    per = einsum_passes(cascade, "m")
    assert [per[i] for i in range(len(cascade.einsums))] == [1, 1, 2, 2, 3, 3]


def test_non_reduced_ranks_take_one_pass():
    counts = pass_counts(library.get("attention-1pass"))
    assert counts["p"] == 1 and counts["e"] == 1 and counts["f"] == 1


def test_pass_count_follows_the_dependency_not_the_name():
    # moving the global-max dependency of the 3-pass cascade onto a precomputed input
    # removes one pass: the count is computed, not declared
    text = """
cascade shifted
input Q[e,p], K[e,m], V[f,m], G[p]
output AV[f,p]
QK[m,p] = Q[e,p] * K[e,m]
SN[m,p] = exp(QK[m,p] - G[p])
SD[p] = SN[m,p]
A[m,p] = SN[m,p] / SD[p]
AV[f,p] = A[m,p] * V[f,m]
"""
    assert pass_counts(einsum.parse(text))["m"] == 2
