"""The IR contract other packages code against: field values of known Einsums."""

import dataclasses

import pytest

import einsum
from einsum import library


@pytest.fixture(scope="module")
def onepass():
    return library.get("attention-1pass")


def test_cascade_fields(onepass):
    assert onepass.name == "attention-1pass"
    assert [(t.name, t.ranks) for t in onepass.inputs] == [
        ("Q", ("e", "p")), ("K", ("e", "m")), ("V", ("f", "m"))]
    assert [(t.name, t.ranks) for t in onepass.outputs] == [("AV", ("f", "p"))]
    assert onepass.params["M0"] == 256  # the 256-wide 2D array of FuseMax
    assert onepass.iterative_rank == "m1"
    assert [(s.parent, s.outer, s.inner, s.factor) for s in onepass.splits] == [
        ("m", "m1", "m0", "M0")]
    # Cascade 5: 5 init Einsums (BK, BV, RM, RD, RNV), 11 body, 1 final
    assert [e.phase for e in onepass.einsums].count("init") == 5
    assert [e.phase for e in onepass.einsums].count("body") == 11
    assert [e.name for e in onepass.in_phase("final")] == ["AV"]


def test_mac_einsum(onepass):
    bqk = onepass.einsum("BQK")
    assert bqk.output_ranks == ("m1", "m0", "p")
    assert bqk.reduced_ranks == ("e",)
    assert set(bqk.ranks) == {"m1", "m0", "p", "e"}
    assert bqk.map_ops == ("mul",) and bqk.reduce_op == "sum"
    assert bqk.operands == ("Q", "BK")
    assert bqk.phase == "body"


def test_max_reduction_and_exp_of_difference(onepass):
    lm = onepass.einsum("LM")
    assert lm.reduce_op == "max" and lm.reduced_ranks == ("m0",) and lm.map_ops == ()
    sln = onepass.einsum("SLN")
    assert sln.map_ops == ("sub", "exp") and sln.reduce_op is None
    assert sln.operands == ("BQK", "RM")
    rm = onepass.einsum("RM")  # the body update
    assert rm.map_ops == ("max",) and rm.phase == "body"
    assert onepass.einsum("RM", "init").output_ranks == ("p",)  # m1 pinned to 0


def test_lines_point_into_the_source(onepass):
    lines = onepass.text.splitlines()
    for e in onepass.einsums:
        assert lines[e.line - 1].startswith(e.name + "[")


def test_frozen(onepass):
    with pytest.raises(dataclasses.FrozenInstanceError):
        onepass.name = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        onepass.einsums[0].name = "x"
    with pytest.raises(TypeError):
        onepass.params["M0"] = 1


def test_text_round_trips(onepass):
    for e in onepass.einsums:
        again = einsum.parse(f"cascade x\ninput Q[e,p]\n{e.text}").einsums[0]
        assert again.text == e.text and again.expr == e.expr


def test_get_with_params_and_unknown_param(onepass):
    assert library.get("attention-1pass", M0=128).params["M0"] == 128
    with pytest.raises(einsum.InputError, match=r"no parameter 'M1'.*did you mean 'M0'"):
        library.get("attention-1pass", M1=3)


def test_unknown_name_did_you_mean():
    with pytest.raises(library.UnknownCascadeError, match="did you mean 'attention-1pass'"):
        library.get("attention-1-pass")
    assert "attention-3pass" in library.names() and len(library.names()) >= 8


def test_cascades_pickle_and_hash():
    import pickle

    for name in library.names():
        cascade = library.get(name)
        again = pickle.loads(pickle.dumps(cascade))
        assert again == cascade and hash(again) == hash(cascade)
    assert library.get("attention-1pass", M0=8) != library.get("attention-1pass")


def test_rank_extents():
    ext = einsum.rank_extents(library.get("attention-1pass"), {"e": 64, "p": 4096, "m": 1000,
                                                               "f": 64})
    assert ext["m1"] == 4 and ext["m0"] == 256  # ceil(1000 / 256), the default M0
    lean = einsum.rank_extents(library.get("lean-decode"),
                               {"e": 64, "h": 8, "p": 1, "m": 512, "f": 64}, {"C": 6})
    # LeanAttention's 256-token tiles (fusemax.md §3): ceil(512 / 256) = 2; C = 6 units as given
    assert lean["c"] == 6 and lean["m1"] == 2
    with pytest.raises(einsum.InputError, match="extent of rank f"):
        einsum.rank_extents(library.get("attention-3pass"), {"e": 1, "p": 1, "m": 1})
