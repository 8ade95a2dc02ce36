"""An unfused cascade's running state through DRAM (the 1-pass cascade, einsum/library/
attention-1pass.af): a phase reads a running value from DRAM only when another phase updated
it; one whose only updates are in this phase starts from its constant initial value. Expected
traffic is derived by hand from the cascade's tensors."""

from __future__ import annotations

from mapper.context import Workload

from .varied import resized, run


def test_running_state_is_read_back_only_when_another_phase_wrote_it(paper):
    """8 x 8 array, E = F = 16, P = M = 64, so M0 = 8 keys a chunk and M1 = 8 chunks, per
    head. Phases: BQK (GEMM), the chunk softmax LM, RM, SLN, SLD, SLNV (GEMM), then the
    rescaling PRM, SPD, RD, SPNV, RNV, AV. The softmax phase updates RM from its initial
    -inf, so it reads only BQK (M·P) and writes RM and SLD (M1·P each) and SLN (M·P). The
    rescaling phase reads RM back (another phase wrote it), SLD and SLNV (F·M1·P), but
    neither RD nor RNV: only it updates them, from 0. It writes AV (F·P)."""
    e = f = 16
    p = m = 64
    m1 = m // 8
    mapping, _, _ = run(paper, "unfused", resized(paper.architectures["fusemax"], 8, 8),
                        Workload(1, 1, e, f, p, m), cascade="attention-1pass")
    names = [ph.name for ph in mapping.phases]
    assert names == ["gemm BQK", "vector LM+RM+SLN+SLD", "gemm SLNV",
                     "vector PRM+SPD+RD+SPNV+RNV+AV"]
    softmax, rescale = mapping.phases[1], mapping.phases[3]
    assert (softmax.dram_read_words, softmax.dram_write_words) == (m * p,
                                                                   2 * m1 * p + m * p)
    assert (rescale.dram_read_words, rescale.dram_write_words) == (2 * m1 * p + f * m1 * p,
                                                                   f * p)
