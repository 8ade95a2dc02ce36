"""A fused multi-pass phase of several blocks: the work a pass may run early, in the previous
pass's last m-tile round, is one block's, not the whole phase's (`mapper.lower._pass_overlap`,
fed per-block cycles by `_multipass_fill`). It caps what a pass hides only when the pass has,
on one array, work free to start beside work that waits for the other array (no shipped
cascade under its shipped binding has such a pass: `test_only_a_blocks_unblocked_work_...`
builds one). Expected start-ups are timelines written out by hand from the rule the
docstrings state; none is read from the model."""

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


def start_up(t: int, e: int) -> int:
    """One block of ``t`` query tiles over J = 1 key tile, FLAT's 3-pass binding, E > C = F.

    Per tile: pass 1 QK E (2D) and GM C (1D); pass 2 SN C and SD C (1D only, needing nothing
    made on the 2D array: free to start early); pass 3 A C (1D) and AV F (2D, waits for A).
    Pass 1 takes t·E on the busier 2D array plus the diagonal fill R + C - 2. Query tile 0's
    pass 1 is done after the round's first tile; the rest of the round, (t - 1)·E cycles,
    leaves the 1D array (t - 1)·(E - C) idle, in which pass 2 runs ahead, at most the block's
    own 2·t·C. Pass 2 then ends when the rest of its 2·t·C is done. Pass 2 keeps the 1D array
    busy to its end, so pass 3 (A first, AV after it) runs none of it early: t·max(C, F) plus
    a fill. The start-up is that sum less the busier array's work, t·(E + F) a block."""
    hidden = min(2 * t * C, (t - 1) * (e - C))
    serial = t * e + (R + C - 2) + 2 * t * C - hidden + t * max(C, F) + (R + C - 2)
    return serial - t * (e + F)


@pytest.mark.parametrize("p", [64, 128])
def test_a_blocks_early_work_caps_what_a_pass_hides(paper, p):
    """E = 64: the 1D array idles 56 cycles in the window but a block has only 2·2·8 = 32
    cycles of pass 2, so pass 2 hides its 32, whatever the number of blocks (4 or 8 here)."""
    mapping = _flat(paper, 64, p, BLOCK_BUFFER)
    phase = mapping.phases[0]
    t = phase.rows_per_block // R
    assert (phase.blocks, t, phase.spill_fraction) == (p // 16, 2, 0.0)
    assert phase.cycles == {"2d": p // R * (64 + F), "1d": p // R * 4 * C}
    assert start_up(2, 64) == 2 * (R + C - 2) == 28
    assert mapping.fill_drain_cycles == start_up(t, 64)


def test_start_up_of_many_blocks_is_one_blocks(paper):
    """Blocks overlap (the next block's pass 1 runs during this block's later passes), so the
    start-up of 4 blocks of 2 query tiles is that of the one 2-tile block of P = 16."""
    one = _flat(paper, 64, 16, None)
    many = _flat(paper, 64, 64, BLOCK_BUFFER)
    assert (one.phases[0].blocks, one.phases[0].rows_per_block) == (1, 16)
    assert (many.phases[0].blocks, many.phases[0].rows_per_block) == (4, 16)
    assert many.fill_drain_cycles == one.fill_drain_cycles == start_up(2, 64)


def test_the_idle_window_caps_it_when_the_2d_array_is_barely_busier(paper):
    """E = 24: the window leaves the 1D array (2 - 1)·(24 - 8) = 16 idle cycles, fewer than
    the block's 32 of pass 2, so pass 2 hides 16: start-up 28 + 32 - 16 + 16 - 16 = 44."""
    mapping = _flat(paper, 24, 16, None)
    assert (mapping.phases[0].blocks, mapping.phases[0].rows_per_block) == (1, 16)
    assert start_up(2, 24) == 44
    assert mapping.fill_drain_cycles == start_up(2, 24)


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


@pytest.mark.parametrize(("p", "buffer_bytes", "blocks"), [(32, None, 1), (256, 30_000, 8)])
def test_only_a_blocks_unblocked_work_of_a_mixed_pass_runs_early(paper, p, buffer_bytes, blocks):
    """FLAT's architecture (exp unit on the 1D PEs), an 8 x 64 array, E = 8, F = 64, M = 64
    (J = 1), blocks of T = 4 query tiles. Per tile: pass 1 2D BQK 8 + SLNV 64, 1D LM, SLN,
    SLD 64 each + GM 1; pass 2 2D G2 1 + SNV 64, 1D CF 1 + SD 1; pass 0 (per row) 1D AV 64.
    Per block: pass 1 max(288, 772) + fill 70 = 842. Pass 2: the last round's remaining
    3/4 · 772 = 579 cycles leave the 2D array 579 · (1 - 288/772) = 363 idle, but only G2
    (4 a block) may run in them: SNV waits for CF, made on the 1D array. It hides 4:
    842 - 4 + 260 + 70 = 1,168. Pass 0: AV needs nothing of its own pass; the rest of pass
    2's round, 3/4 · 260 = 195, leaves the 1D array 195 · (1 - 8/260) = 189 idle, all
    usable: 1,168 - 189 + 256 = 1,235. Less the busier array's work of a block, 4 · 259 =
    1,036: start-up 199, the same for 1 or 8 blocks (taking every block's G2 as early
    would hide 32, not 4, at 8 blocks)."""
    mapping = _split(paper, p, buffer_bytes)
    phase = mapping.phases[0]
    assert (phase.blocks, phase.rows_per_block, phase.spill_fraction) == (blocks, 32, 0.0)
    tiles = p // 8
    assert phase.cycles == {"2d": tiles * (72 + 65), "1d": tiles * (193 + 2 + 64)}
    pass1 = max(4 * 72, 4 * 193) + 70
    idle_2d = 4 * 193 * 3 / 4 * (1 - 4 * 72 / (4 * 193))
    after2 = pass1 - min(4, idle_2d) + 4 * 65 + 70
    idle_1d = 4 * 65 * 3 / 4 * (1 - 4 * 2 / (4 * 65))
    after0 = after2 - min(4 * 64, idle_1d) + 4 * 64
    assert round(after0 - 4 * 259) == 199
    assert mapping.fill_drain_cycles == 199
