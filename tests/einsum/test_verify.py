"""The verifier names the failing Einsum (with its line) and the rank or tensor."""

import pytest

import einsum
from einsum import VerifyError, library

HEADER = "cascade bad\ninput Q[e,p], K[e,m], V[f,m]\noutput AV[f,p]\n"


def check(body: str):
    einsum.verify(einsum.parse(HEADER + body))


def test_every_library_cascade_verifies():
    for name in library.names():
        einsum.verify(library.get(name))


@pytest.mark.parametrize(("body", "match"), [
    # reads a tensor defined later
    ("AV[f,p] = A[m,p] * V[f,m]\nA[m,p] = Q[e,p] * K[e,m]\n",
     r"Einsum AV \(line 4, body\): reads A, which is defined later"),
    # unknown tensor, with a suggestion
    ("QK[m,p] = Q[e,p] * K[e,m]\nAV[f,p] = QKt[m,p] * V[f,m]\n",
     r"Einsum AV \(line 5.*reads QKt, which is never defined \(did you mean 'QK'\?\)"),
    # output subscripts must be rank names
    ("AV[F,p] = Q[e,p] * V[f,m] * K[e,m]\n", r"Einsum AV .*output subscript 'F' must be a rank"),
    # rank used on the wrong axis
    ("QK[m,p] = Q[p,e] * K[e,m]\nAV[f,p] = QK[m,p] * V[f,m]\n",
     r"Einsum QK \(line 4.*rank e of Q is subscripted 'p'"),
    # wrong number of subscripts
    ("QK[m,p] = Q[e] * K[e,m]\nAV[f,p] = QK[m,p] * V[f,m]\n",
     r"Einsum QK .*Q\[e\] has 1 subscripts but Q has 2 ranks"),
    # max[...] naming a rank that is not reduced
    ("QK[m,p] = Q[e,p] * K[e,m]\nG[p] = max[e] QK[m,p]\nAV[f,p] = QK[m,p] * V[f,m]\n",
     r"Einsum G .*max\[e\] must name exactly the reduced ranks .*: m"),
    # tensor defined twice
    ("AV[f,p] = Q[e,p] * V[f,m] * K[e,m]\nAV[f,p] = Q[e,p] * V[f,m] * K[e,m]\n",
     r"Einsum AV \(line 5.*defined twice"),
    # output declared with other ranks
    ("AV[p,f] = Q[e,p] * V[f,m] * K[e,m]\n", r"output AV\[f,p\] is declared with ranks"),
    # filter on a rank outside the iteration space
    ("AV[f,p] = Q[e,p] * V[f,m] * K[e,m] where m <= q\n",
     r"Einsum AV .*rank q in filter 'm <= q' is not in the iteration space"),
    # rank without extent
    ("X[c,p] = Q[e,p]\nAV[f,p] = X[c,p] * V[f,m] * K[e,m]\n", r"rank c has no extent"),
    # unknown parameter in a filter
    ("AV[f,p] = Q[e,p] * V[f,m] * K[e,m] where m < WW\n", r"WW in filter .* neither a parameter"),
])
def test_inconsistent_cascades(body, match):
    with pytest.raises(VerifyError, match=match):
        check(body)


ITER = ("cascade it\ninput Q[e,p], K[e,m], V[f,m]\noutput AV[f,p]\nparam M0 = 4\n"
        "split m = m1*M0 + m0\n")


@pytest.mark.parametrize(("text", "match"), [
    ("iterate m1 until m1 > M1\n", r"stop condition must be 'm1 >= M1'"),
    ("iterate m1 until m1 >= M1\ninit:\nbody:\nR[p,m1+1] = R[p,m1]\n",
     r"Einsum R \(line 9, body\): state tensor R must be initialised in init:"),
    ("iterate m1 until m1 >= M1\ninit:\nR[m1=1,p] = 0\n", r"pinned subscript must be 'm1=0'"),
    ("iterate m1 until m1 >= M1\ninit:\nR[m1=0,p] = 0\nbody:\nS[m1,p] = R[m1+1,p]\n"
     "R[m1+1,p] = S[m1,p]\n", r"Einsum S .*reads R\[m1\+1\] before the body Einsum"),
    ("iterate m1 until m1 >= M1\ninit:\nR[m1=0,p] = 0\nbody:\nR[m1+1,p] = R[m1,p]\nfinal:\n"
     "AV[f,p] = R[m1,p] * V[f,m]\n", r"rank m1 \(iterative\) of R is subscripted 'm1'.*'M1'"),
    ("iterate m1 until m1 >= M1\ninit:\nR[m1=0,p] = 0\nbody:\nX[p] = R[m1,p]\n",
     r"Einsum X .*body Einsum must have the iterative rank m1"),
    ("split q = q1*M0 + q0\n", r"rank q is not a rank of any input"),
    ("split m = m1*MX + m0\n", r"chunk size MX is not a declared parameter"),
])
def test_inconsistent_iterative_cascades(text, match):
    with pytest.raises(VerifyError, match=match):
        einsum.verify(einsum.parse(ITER + text))


def test_execute_verifies_first_and_checks_arrays():
    import numpy as np

    cascade = library.get("attention-3pass")
    good = {"Q": np.ones((3, 2)), "K": np.ones((3, 4)), "V": np.ones((5, 4))}
    with pytest.raises(einsum.ExecutionError, match="input array V is missing"):
        einsum.execute(cascade, {"Q": good["Q"], "K": good["K"]})
    with pytest.raises(einsum.ExecutionError, match="input array K: rank e has extent 2"):
        einsum.execute(cascade, {**good, "K": np.ones((2, 4))})
    with pytest.raises(einsum.ExecutionError, match="input array Q contains NaN"):
        einsum.execute(cascade, {**good, "Q": np.full((3, 2), np.nan)})
    with pytest.raises(einsum.ExecutionError, match="leading .* do not broadcast"):
        einsum.execute(cascade, {**good, "Q": np.ones((2, 3, 2)), "K": np.ones((3, 3, 4))})
    with pytest.raises(einsum.InputError, match="needs parameter W"):
        einsum.execute(library.get("attention-1pass-window"), good)
    with pytest.raises(einsum.InputError, match=r"no parameter 'M00'.*did you mean 'M0'"):
        einsum.execute(library.get("attention-1pass"), good, {"M00": 2})


# ---- cases that once failed (QA round) ----


@pytest.mark.parametrize(("text", "match", "absent"), [
    # defined twice without iteration: said "updated at None+1 in body:"
    (HEADER + "AV[f,p] = Q[e,p] * V[f,m] * K[e,m]\nAV[f,p] = Q[e,p] * V[f,m] * K[e,m]\n",
     r"Einsum AV \(line 5, body\): tensor AV is defined twice \(first at line 4\); each tensor "
     r"is defined once", "None"),
    (HEADER + "Q[e,p] = Q[e,p] * 2\nAV[f,p] = Q[e,p] * V[f,m] * K[e,m]\n",
     r"tensor Q is defined twice \(it is also an input\)", "None"),
    (ITER + "iterate m1 until m1 >= M1\ninit:\nR[m1=0,p] = 0\nR[m1=0,p] = 1\n",
     r"Einsum R \(line 9, init\): tensor R is defined twice \(first at line 8\); only a state "
     r"tensor, initialised in init: and updated at m1\+1 in body:", "None"),
    # a self-reference: said "defined later"
    ("cascade s\ninput A[m]\noutput X[m]\nX[m] = X[m] + A[m]\n",
     r"Einsum X \(line 4, body\): reads X, the tensor it defines \(refers to itself\); a running "
     r"value needs an iterative rank", "later"),
    (HEADER + "AV[f,p] = AV[f,p] + Q[e,p] * V[f,m] * K[e,m]\n",
     r"reads AV, the tensor it defines \(refers to itself\)", "later"),
    (ITER + "iterate m1 until m1 >= M1\ninit:\nR[m1=0,p] = 0\nbody:\n"
     "X[m1,p] = X[m1,p] + R[m1,p]\n",
     r"Einsum X \(line 10, body\): reads X, the tensor it defines \(refers to itself\); only a "
     r"state tensor may read its current value, as X\[m1\+1,..\] = X\[m1,..\]", "later"),
])
def test_defined_twice_and_self_reference_messages(text, match, absent):
    with pytest.raises(VerifyError, match=match) as info:
        einsum.verify(einsum.parse(text))
    assert absent not in str(info.value)


def test_verify_scans_the_cascade_a_constant_number_of_times(monkeypatch):
    """A 3000-Einsum file took 38 s to show: verify recomputed all_ranks per Einsum (N^2)."""
    from einsum.ir import Cascade

    text = "cascade long\ninput A[m]\noutput Z[m]\nT0[m] = A[m]\n" + "".join(
        f"T{i}[m] = T{i - 1}[m] + A[m]\n" for i in range(1, 500)) + "Z[m] = T499[m]\n"
    cascade = einsum.parse(text)
    calls = {"all_ranks": 0, "in_phase": 0}
    for name in calls:
        original = getattr(Cascade, name)

        def counted(self, *args, _name=name, _original=original):
            calls[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(Cascade, name, counted)
    einsum.verify(cascade)
    assert calls["all_ranks"] <= 2 and calls["in_phase"] <= 3, calls
