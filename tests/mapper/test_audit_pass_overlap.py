"""A fused multi-pass phase of several blocks: blocks overlap (the next block's first pass runs
during this block's later passes), so the start-up a mapping pays once is one block's, whatever
the number of blocks (docs: `tests/mapper/test_multipass_startup.py`). The work a pass may run
early, in the previous pass's last m-tile round, is therefore one block's, not the whole
phase's. It caps what a pass hides only when the pass has, on one array, work free to start
beside work that waits for the other array; no shipped cascade under its shipped binding has
such a pass, so `SPLIT_2PASS` builds one. The per-tile work counts are worked by hand; the
start-up is compared between 1 and several blocks and bounded by the passes run back to back,
so the tests hold for any rule of how much of a pass hides in the previous one."""

from __future__ import annotations

import dataclasses

import pytest

import einsum
from mapper.context import Workload
from mapper.lower import lower

from .varied import SEARCH, resized

R = C = 8  # array rows and columns; one key tile: M = C
F = 8
BLOCK_BUFFER = 5000  # bytes: a block of 16 query rows fits (4,864 B), 32 rows do not


def _flat(paper, e: int, p: int, buffer_bytes: int | None):
    spec = paper.configs["flat"]
    arch = resized(paper.architectures["flat"], R, C, buffer_bytes=buffer_bytes)
    return lower(einsum.library.get(spec.cascade, **spec.params), arch, spec,
                 Workload(1, 1, e, F, p, C), SEARCH, "flat")


@pytest.mark.parametrize("p", [64, 128])
def test_flat_3pass_start_up_of_many_blocks_is_one_blocks(paper, p):
    """FLAT's 3-pass binding, R = C = 8, E = 64, F = 8, M = 8 (one key tile), a buffer that
    holds blocks of 16 query rows (T = 2 tiles): per tile QK E and GM C (pass 1), SN C and SD
    C (pass 2, 1D only), A C and AV F (pass 3). 4 or 8 blocks start up as the one block of
    P = 16 does."""
    one = _flat(paper, 64, 16, None)
    many = _flat(paper, 64, p, BLOCK_BUFFER)
    phase = many.phases[0]
    assert (one.phases[0].blocks, one.phases[0].rows_per_block) == (1, 16)
    assert (phase.blocks, phase.rows_per_block, phase.spill_fraction) == (p // 16, 16, 0.0)
    assert phase.cycles == {"2d": p // R * (64 + F), "1d": p // R * 4 * C}
    assert many.fill_drain_cycles == one.fill_drain_cycles


# The 2-pass cascade with CF's subtraction as an Einsum of its own (G2), so that bound to the
# 2D array pass 2 has work there that needs nothing the pass makes on the 1D array (G2 reads
# only LM and GM) beside work that does (SNV reads CF, made on the 1D array).
SPLIT_2PASS = """\
cascade split-2pass
input Q[e,p], K[e,m], V[f,m]
output AV[f,p]
param M0 = 256
split m = m1*M0 + m0

BK[e,m1,m0] = K[e,m1*M0+m0]
BV[f,m1,m0] = V[f,m1*M0+m0]
BQK[m1,m0,p] = Q[e,p] * BK[e,m1,m0]
LM[m1,p] = max[m0] BQK[m1,m0,p]
SLN[m1,m0,p] = exp(BQK[m1,m0,p] - LM[m1,p])
SLD[m1,p] = SLN[m1,m0,p]
SLNV[f,m1,p] = SLN[m1,m0,p] * BV[f,m1,m0]
GM[p] = max[m1] LM[m1,p]
G2[m1,p] = LM[m1,p] - GM[p]
CF[m1,p] = exp(G2[m1,p])
SD[p] = SLD[m1,p] * CF[m1,p]
SNV[f,p] = SLNV[f,m1,p] * CF[m1,p]
AV[f,p] = SNV[f,p] / SD[p]
"""


def _split(paper, p: int, buffer_bytes: int | None):
    spec = dataclasses.replace(paper.configs["flat"], cascade="split-2pass",
                               bind={"G2": "2d", "SNV": "2d"})
    arch = resized(paper.architectures["flat"], 8, 64, buffer_bytes=buffer_bytes)
    return lower(einsum.parse(SPLIT_2PASS), arch, spec, Workload(1, 1, 8, 64, p, 64), SEARCH,
                 "split")


def test_only_a_blocks_unblocked_work_of_a_mixed_pass_runs_early(paper):
    """FLAT's architecture (exp unit on the 1D PEs), an 8 x 64 array, E = 8, F = 64, M = 64
    (J = 1), blocks of T = 4 query tiles. Per tile: pass 1 2D BQK 8 + SLNV 64, 1D LM, SLN,
    SLD 64 each + GM 1; pass 2 2D G2 1 + SNV 64 (SNV waits for CF), 1D CF 1 + SD 1; pass 0
    (per row) 1D AV 64. Run back to back, a block's passes take max(288, 772) + 70 (fill) +
    max(260, 8) + 70 + 256 = 1,428 cycles, 392 beyond its share of the busier array's work
    (4 x 259 = 1,036); AV can start as soon as pass 2 ends on its query tile while the 1D
    array idles through pass 2, so the start-up is below 392. 8 blocks start up as 1 does
    (with every block's G2 taken as one block's early work they started up 28 cycles
    sooner under the model of 23:00 UTC)."""
    one, many = _split(paper, 32, None), _split(paper, 256, 30_000)
    for mapping, blocks in ((one, 1), (many, 8)):
        phase = mapping.phases[0]
        assert (phase.blocks, phase.rows_per_block, phase.spill_fraction) == (blocks, 32, 0.0)
        assert phase.cycles == {"2d": 4 * blocks * (72 + 65), "1d": 4 * blocks * (193 + 2 + 64)}
    back_to_back = max(4 * 72, 4 * 193) + 70 + max(4 * 65, 4 * 2) + 70 + 4 * 64 - 4 * 259
    assert back_to_back == 392
    assert 0 < one.fill_drain_cycles < back_to_back
    assert many.fill_drain_cycles == one.fill_drain_cycles
