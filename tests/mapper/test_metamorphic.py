"""Metamorphic tests of the mapper off the paper's points (fusemax.md §3-§5): relations that
hold by algebra or first principles for every array shape, buffer, bandwidth, word size and
workload, checked on seeded varied designs (`tests/mapper/varied.py`). Each test's docstring
states its relation; no expected value is taken from the model's own output."""

from __future__ import annotations

import pytest

from mapper.context import Workload

from .varied import resized, run

CASCADES = ["attention-1pass", "attention-2pass", "attention-3pass"]


def _score_einsums(name: str) -> tuple[str, str]:
    return ("QK", "AV") if name == "attention-3pass" else ("BQK", "SLNV")


@pytest.mark.parametrize("cascade", CASCADES)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (256, 256, 64, 64, 1000, 1000), (16, 40, 96, 128, 100, 333), (48, 8, 128, 96, 77, 700),
    (32, 32, 64, 64, 1024, 4096)])
def test_contraction_macs_are_p_m_e_and_p_m_f(paper, cascade, fused, rows, cols, e, f, p, m):
    """QK and AV do P·M·E and P·M·F multiply-accumulates per head in every cascade, fused or
    not, whatever the tiling: a split's partial last chunk has fewer keys (its missing points
    are absent, `einsum.execute`), so padding the chunk to M0 adds array time, not MACs."""
    if cascade == "attention-2pass" and not fused:
        pytest.skip("the unfused mapper refuses the 2-pass cascade (SD has no p-less operand)")
    arch = resized(paper.architectures["fusemax"], rows, cols)
    _, actions, _ = run(paper, "fusemax", arch, Workload(2, 3, e, f, p, m), cascade=cascade,
                        fused=fused)
    qk, av = _score_einsums(cascade)
    assert actions.busy_2d_by_einsum[qk] == 6 * p * m * e
    assert actions.busy_2d_by_einsum[av] == 6 * p * m * f


@pytest.mark.parametrize("cascade", ["attention-1pass", "attention-3pass"])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (256, 256, 64, 64, 1024, 1024), (16, 40, 96, 128, 100, 333), (32, 32, 64, 64, 512, 4096)])
def test_unfused_gemm_phases_compute_their_einsums_iteration_space(paper, cascade, rows, cols,
                                                                   e, f, p, m):
    """An unfused GEMM phase multiplies what its Einsum does, no more: a rank both operands
    and the output carry (SLNV's chunk m1: SLN[m1,m0,p] · BV[f,m1,m0]) is a batch of M1
    independent (P × M0)·(M0 × F) GEMMs, not one (M1·P × M0)·(M0 × F·M1) GEMM, which would
    multiply every chunk's scores by every chunk's values (M1 times the work). So a phase's
    MACs lie between the Einsum's present points (P·M·F) and its padded iteration space
    (P·M1·M0·F; equal when M0 divides M), it writes its output (P·M words for QK/BQK,
    F·M1·P for SLNV) at least once, and it takes at least MACs / PEs cycles."""
    arch = resized(paper.architectures["fusemax"], rows, cols)
    mapping, _, _ = run(paper, "unfused", arch, Workload(1, 1, e, f, p, m), cascade=cascade)
    m1 = -(-m // cols)
    exact = {"QK": p * m * e, "AV": p * m * f, "BQK": p * m * e, "SLNV": p * m * f}
    padded = {"QK": p * m * e, "AV": p * m * f, "BQK": p * m1 * cols * e,
              "SLNV": p * m1 * cols * f}
    out = {"QK": p * m, "AV": f * p, "BQK": p * m, "SLNV": f * m1 * p}
    for phase in mapping.phases:
        if phase.gemm is None:
            continue
        name = phase.work[0].bound.name
        g = phase.gemm.gemm
        assert exact[name] <= g.m * g.n * g.k * g.count <= padded[name], name
        assert out[name] <= phase.dram_write_words, name
        assert phase.compute_cycles >= g.m * g.n * g.k * g.count / (rows * cols)
