"""Register-file writes of the GEMM phases of unfused mappings, by hand.

The convention (docs/mapper.md "Counting": RF reads/writes of values kept in the PEs;
`mapper.traffic.onchip`): an Einsum writes one register-file word per output value it
leaves in its PEs rather than in the buffer, whatever its reduction length. An output-
stationary GEMM phase (`mapper.gemm`: m on rows, n on columns, k in time) therefore writes
m·n words a GEMM, the accumulated outputs, not one per partial-sum update (k·m·n, Timeloop's
count of an output-stationary register's updates). The fused path counts the same way: the
1-pass cascade's 2D Einsums write as many RF words fused as unfused. Every expected count
below is the Einsums' output sizes, from the cascade text."""

from __future__ import annotations

import pytest

from mapper.context import Workload

from .varied import resized, run


def _phases(paper, cascade: str, workload: Workload, fused: bool = False):
    mapping, actions, _ = run(paper, "unfused", resized(paper.architectures["fusemax"], 8, 8),
                              workload, cascade=cascade, fused=fused)
    return {ph.name: ph for ph in mapping.phases}, actions


def test_one_pass_gemm_phases_write_each_output_value_once(paper):
    """1-pass, 8 x 8 array (M0 = 8), E = F = 16, P = 64, M = 60: M1 = 8 chunks, the last of
    4 keys. BQK[m1,m0,p] has P·M = 3,840 present values; SLNV[f,m1,p] F·M1·P = 8,192 (every
    chunk, the partial one too, has a full F x P output). Two batches x 3 heads: 6 times."""
    p, m, e, f = 64, 60, 16, 16
    phases, actions = _phases(paper, "attention-1pass", Workload(2, 3, e, f, p, m))
    assert phases["gemm BQK"].rf_writes == {"2d": p * m, "1d": 0}
    assert phases["gemm SLNV"].rf_writes == {"2d": f * 8 * p, "1d": 0}
    # the 2D array's writes over the whole mapping: BQK, then LM, SLN, SLD in the softmax
    # phase (M1·P, P·M, M1·P), then SLNV; 6 instances
    assert actions.rf_writes["2d"] == 6 * (p * m + 8 * p + p * m + 8 * p + f * 8 * p)


def test_three_pass_gemm_phases(paper):
    """3-pass: QK[m,p] P·M values, AV[f,p] F·P, at P = 40 != M = 64, E = 16, F = 16."""
    phases, _ = _phases(paper, "attention-3pass", Workload(1, 1, 16, 16, 40, 64))
    assert phases["gemm QK"].rf_writes == {"2d": 40 * 64, "1d": 0}
    assert phases["gemm AV"].rf_writes == {"2d": 16 * 40, "1d": 0}


@pytest.mark.parametrize("cascade, gemm", [("attention-1pass", "gemm BQK"),
                                            ("attention-3pass", "gemm QK")])
def test_writes_do_not_grow_with_the_reduction(paper, cascade, gemm):
    """Doubling E doubles QK's MACs (E per value) but not its RF writes (one per value)."""
    short, short_actions = _phases(paper, cascade, Workload(1, 1, 16, 16, 64, 64))
    long, long_actions = _phases(paper, cascade, Workload(1, 1, 32, 16, 64, 64))
    assert short[gemm].gemm.macs == 64 * 64 * 16 and long[gemm].gemm.macs == 64 * 64 * 32
    assert short[gemm].rf_writes == long[gemm].rf_writes == {"2d": 64 * 64, "1d": 0}


def test_fused_and_unfused_write_the_same_words(paper):
    """1-pass at E = F = 16, P = M = 64 on an 8 x 8 array: fused, no 2D output is kept in the
    buffer, so both paths write every 2D Einsum's values once: BQK P·M + LM M1·P + SLN P·M +
    SLD M1·P + SLNV F·M1·P = 4,096 + 512 + 4,096 + 512 + 8,192 = 17,408."""
    workload = Workload(1, 1, 16, 16, 64, 64)
    _, unfused = _phases(paper, "attention-1pass", workload)
    _, fused = _phases(paper, "attention-1pass", workload, fused=True)
    assert unfused.rf_writes["2d"] == fused.rf_writes["2d"] == 4096 + 512 + 4096 + 512 + 8192


@pytest.mark.parametrize("cascade", ["attention-3pass", "attention-3pass-causal"])
def test_a_mask_leaves_each_rows_reduction_written_once(paper, cascade):
    """FLAT's 3-pass binding fused, 4 x 4 array, E = F = 4, P = M = 16: causal runs 10 of the
    16 score tiles (4 x 5 / 2), but GM[p] and SD[p] on the 1D array still leave one value per
    query row and AV[f,p] on the 2D array one per (f, p): 2 P and F·P RF words, masked or not
    (the tile-sized QK, SN and A are the buffer's: held across passes or streamed)."""
    p, f = 16, 4
    mapping, _, _ = run(paper, "flat", resized(paper.architectures["flat"], 4, 4),
                        Workload(1, 1, 4, f, p), cascade=cascade)
    assert mapping.mask is None or mapping.mask.admitted == 10
    assert mapping.phases[0].rf_writes == {"2d": f * p, "1d": 2 * p}
