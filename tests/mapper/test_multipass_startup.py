"""The one-time start-up of a fused multi-pass cascade, by hand from tile-level dependencies.

Within a block of T query tiles over J key tiles the nest walks m-tiles outer, query tiles
inner, pass after pass. A query tile's pass k + 1 needs that tile's pass k over all of M
(its GM before its CF), not the whole block's: query tile 0's pass 1 is done once the last
m-tile round has done its first tile, so its pass 2 runs beside the rest of that round on
whatever array the round leaves idle. Each expected value below is the timeline of one head
written out by hand; none is read from the model."""

from __future__ import annotations

import dataclasses

import pytest

import einsum
from mapper.context import Workload
from mapper.lower import lower

from .varied import SEARCH, resized, run


@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (8, 8, 64, 64, 64, 64), (16, 8, 32, 48, 64, 128), (8, 16, 96, 128, 80, 64),
    (8, 8, 64, 64, 8, 64)])
def test_two_pass_second_pass_starts_after_its_own_query_tile(paper, rows, cols, e, f, p, m):
    """2-pass cascade, FuseMax's binding, one block (T = P/R query tiles, J = M/C key tiles).
    Per (query tile, key tile): 2D BQK E + LM 1 + SLN 8 + SLD 1 + SLNV F cycles, 1D GM 1
    (pass 1); 1D CF 8 + SD 1 + SNV F (pass 2); per query tile the division AV, F cycles on
    the 1D array. With J·E >= F the 2D array is the busier one and runs pass 1 back to back;
    query tile 0's last run ends T - 1 tile-steps (of E + F + 10) before the 2D array's work
    does, its result R + C - 2 (the diagonal fill) later, and from then on the 1D array works
    without a break: tile 0's GM and the rest of pass 1's GMs (T · 1: each waits for its own
    tile's run, the in-tile chain across the arrays), all of pass 2 (T·J·(9 + F)) and the
    divisions (T·F). So the time beyond the 2D array's work is
    R + C - 2 + T + T·J·(9 + F) + T·F - (T - 1)·(E + F + 10)."""
    arch = resized(paper.architectures["fusemax"], rows, cols)
    mapping, _, _ = run(paper, "fusemax", arch, Workload(1, 1, e, f, p, m),
                        cascade="attention-2pass")
    t, j = p // rows, m // cols
    assert mapping.phases[0].blocks == 1 and j * e >= f
    assert mapping.phases[0].cycles["2d"] == t * j * (e + f + 10)  # the busier array
    expected = rows + cols - 2 + t + t * j * (9 + f) + t * f - (t - 1) * (e + f + 10)
    assert mapping.fill_drain_cycles == expected


@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (8, 8, 64, 64, 4096, 64), (16, 8, 32, 48, 4096, 128), (8, 8, 64, 64, 2048, 256)])
def test_two_pass_start_up_is_one_blocks_when_blocks_overlap(paper, rows, cols, e, f, p, m):
    """The case above with a 1 MiB buffer that holds only a block of the query rows: blocks
    follow each other through the passes (the next block's pass 1 runs during this block's
    pass 2), so the start-up is exposed once, the one-block formula with T the block's
    query tiles, whatever the number of blocks."""
    arch = resized(paper.architectures["fusemax"], rows, cols, buffer_bytes=1 << 20)
    mapping, _, _ = run(paper, "fusemax", arch, Workload(1, 1, e, f, p, m),
                        cascade="attention-2pass")
    phase = mapping.phases[0]
    assert phase.blocks > 1 and phase.blocks * phase.rows_per_block == p
    assert phase.spill_fraction == 0.0
    t, j = phase.rows_per_block // rows, m // cols
    assert j * e >= f and phase.cycles["2d"] == phase.blocks * t * j * (e + f + 10)
    expected = rows + cols - 2 + t + t * j * (9 + f) + t * f - (t - 1) * (e + f + 10)
    assert mapping.fill_drain_cycles == expected


@pytest.mark.parametrize(("rows", "cols", "p", "m"), [(16, 16, 64, 64), (8, 16, 64, 160)])
def test_three_pass_passes_that_need_a_busy_array_do_not_overlap(paper, rows, cols, p, m):
    """FLAT's 3-pass binding with E = F = 8 < C: per tile the 1D array walks the C keys in
    GM (pass 1), SN and SD (pass 2), A (pass 3), C cycles each, while the 2D array's QK and
    AV take 8 each, so the 1D array is the busier one in every pass and none can start early:
    pass 2 needs the 1D array pass 1 keeps busy, pass 3 starts on the 1D array (A) and its
    AV waits for A. The 1D array's first GM waits for the first QK (E streamed, then the
    diagonal fill R + C - 2); from then on it works without a break, 4·T·J·C cycles; the
    last AV follows the last A: A shifts into the 2D PEs along the C key columns (C cycles),
    F streams, the fill. The start-up is E + F + C + 2·(R + C - 2), whatever the number of
    tiles (the cycle simulator: 1,116 cycles for 16 x 16, P = M = 64, 1,024 of them 1D)."""
    arch = resized(paper.architectures["flat"], rows, cols)
    mapping, _, _ = run(paper, "flat", arch, Workload(1, 1, 8, 8, p, m))
    tiles = (p // rows) * (m // cols)
    assert mapping.phases[0].cycles == {"2d": tiles * 16, "1d": tiles * 4 * cols}
    assert mapping.fill_drain_cycles == 8 + 8 + cols + 2 * (rows + cols - 2)


@pytest.mark.parametrize(("rows", "cols", "p", "m"), [(16, 16, 64, 64), (8, 16, 64, 160)])
def test_three_pass_av_waits_for_a_even_when_the_2d_array_is_idle(paper, rows, cols, p, m):
    """FLAT's 3-pass binding with E = 8 < C < F = 64: per tile QK E and GM C (pass 1), SN and
    SD C each (pass 2, 1D only), A C and AV F (pass 3). The 2D array idles through pass 2,
    but pass 3's AV reads A, made on the 1D array that pass 2 keeps busy to its end, so none
    of pass 3 runs early: the passes run one after the other. Pass 1 is the 1D array's: its
    first GM waits for the first QK (E, then the fill R + C - 2), then C a tile. Pass 2: 2C a
    tile. Pass 3 is the 2D array's: its first AV waits for the first A (C) and for A to shift
    into the PEs along the C key columns (C), then F a tile, and the last AV's fill. Less the
    busier array's work over the whole phase, max(E + F, 4C) a tile (the cycle simulator:
    1,892 cycles for 16 x 16, P = M = 64)."""
    e, f = 8, 64
    arch = resized(paper.architectures["flat"], rows, cols)
    mapping, _, _ = run(paper, "flat", arch, Workload(1, 1, e, f, p, m))
    tiles = (p // rows) * (m // cols)
    assert mapping.phases[0].cycles == {"2d": tiles * (e + f), "1d": tiles * 4 * cols}
    assert cols > e and f > cols  # pass 1 is the 1D array's, pass 3 the 2D array's
    per_tile = cols + 2 * cols + f - max(e + f, 4 * cols)
    expected = e + 2 * (rows + cols - 2) + 2 * cols + tiles * per_tile
    assert mapping.fill_drain_cycles == expected


def test_three_pass_two_by_two_tiles_by_the_cycle(paper):
    """FLAT's 3-pass binding, 16 x 16 array, E = F = 64, P = M = 32: T = 2 query tiles by J = 2
    key tiles, one block. Per tile QK streams 64 cycles on the 2D array, its result 30 (the
    fill R + C - 2) later; GM, SN, SD, A take 16 (C) each on the 1D array; AV streams 64 on
    the 2D array after A has shifted into the PEs along the 16 key columns, its result 16 +
    64 + 30 after it starts. Nest order m-tiles outer: (q0,k0), (q1,k0), (q0,k1), (q1,k1).
    Pass 1: QK at 0, 64, 128, 192; GM of the first tile at 94, of the last at 286 (after
    its QK's result), ending 302. Query tile 0's GM ends at 238 (its QK(q0,k1) at 128 + 94,
    + 16): 48 of its 64 of SN and SD run in the 1D array's idle 48 of the last round
    (238..286), the other 80 of pass 2 after 302: pass 2 ends 382. Pass 3: A of the first tile 382, its AV
    at 398, the last AV at 398 + 3·64 = 590, its result at 590 + 110 = 700. The 2D array
    works 4·(64 + 64) = 512 of them: start-up 188 (the one-pass-at-a-time rule with one
    fill per pass said 140: it left out GM after the last QK, the first A before the first
    AV, and A's shift into the PEs, 3 x 16)."""
    arch = resized(paper.architectures["flat"], 16, 16)
    mapping, _, _ = run(paper, "flat", arch, Workload(1, 1, 64, 64, 32, 32))
    assert mapping.phases[0].cycles == {"2d": 512, "1d": 4 * 4 * 16}
    pass1_end = 192 + 64 + 30 + 16
    pass2_end = pass1_end + 4 * 32 - (286 - 238)
    last_av_result = pass2_end + 16 + 3 * 64 + (16 + 64 + 30)
    assert (pass1_end, pass2_end, last_av_result) == (302, 382, 700)
    assert mapping.fill_drain_cycles == last_av_result - 512 == 188


def test_masked_pass_ends_at_each_query_tiles_last_admitted_key_tile(paper):
    """2-pass causal, FuseMax's binding, 8 x 8 array, E = F = 64, P = M = 16: query tile 0
    admits key tile 0 only, tile 1 both. Per tile the 2D run BQK..SLNV streams 64 + 1 + 8 + 1
    + 64 = 138, its result 14 (fill) later; GM 1 on the 1D array; pass 2 CF 8 + SD 1 + SNV 64
    = 73 a tile (1D); pass 0 AV 64 a query tile (1D). Nest order: (q0,k0), (q1,k0), (q1,k1):
    runs at 0, 138, 276; query tile 0's pass 1 ends with its only tile, GM at 152..153, not in
    the last round: its pass 2 (73) runs at 153..226, in the 2 steps of 137 idle 1D cycles
    before the block's pass 1 ends at 276 + 152 + 1 = 429 (the old rule, pass ends in the
    last round, hid none of it). Pass 2 then runs tile 1's 146 (to 575) and pass 0 the two
    AVs (to 703). The 2D array works 3 x 138 = 414: start-up 289."""
    arch = resized(paper.architectures["fusemax"], 8, 8)
    mapping, _, _ = run(paper, "fusemax", arch, Workload(1, 1, 64, 64, 16, 16),
                        cascade="attention-2pass-causal")
    assert mapping.mask.admitted == 3
    assert mapping.phases[0].cycles == {"2d": 3 * 138, "1d": 3 * 1 + 3 * 73 + 2 * 64}
    pass1_end = 2 * 138 + 138 + 14 + 1
    hidden = min(73, 2 * (138 - 1))
    end = pass1_end + 3 * 73 - hidden + 2 * 64
    assert (pass1_end, end) == (429, 703)
    assert mapping.fill_drain_cycles == end - 414 == 289


def test_a_pass_run_ahead_in_full_leaves_nothing_not_less(paper):
    """2-pass, FuseMax's binding, 8 x 8, E = F = 64, M = 8 (J = 1), P = 72 in a buffer of
    30,000 bytes: 2 blocks of 64 rows, 8 query tiles then 1, so the start-up is charged
    against the mean block's 4.5 tiles. Per tile 2D BQK..SLNV 138 (its result 14 later), 1D
    GM 1 (pass 1), CF 8 + SD 1 + SNV 64 = 73 (pass 2), AV 64 per query tile (pass 0): both
    arrays 9 x 138 = 1,242, 621 a block. Pass 1 takes 621 + 14 + 1 (the last tile's GM).
    The first block's query tiles 0..6 each finish pass 1 a step (137 idle 1D cycles) before
    the next: their pass 2, 7 x 73 = 511, runs ahead, more than the mean block's 4.5 x 73:
    pass 2 adds nothing (not -182.5). Pass 0 waits for pass 2 on the same array: 4.5 x 64.
    (621 + 15) + 0 + 288 - 621 = 303."""
    arch = resized(paper.architectures["fusemax"], 8, 8, buffer_bytes=30_000)
    spec = dataclasses.replace(paper.configs["fusemax"], cascade="attention-2pass")
    mapping = lower(einsum.library.get("attention-2pass"), arch, spec,
                    Workload(1, 1, 64, 64, 72, 8), SEARCH, "fusemax")
    phase = mapping.phases[0]
    assert (phase.blocks, phase.rows_per_block) == (2, 64)
    assert phase.cycles == {"2d": 9 * 138, "1d": 9 * (1 + 73 + 64)}
    assert mapping.fill_drain_cycles == (621 + 14 + 1) + 0 + round(4.5 * 64) - 621 == 303


def test_masked_query_tiles_finish_at_their_own_step_of_the_admitted_walk(paper):
    """2-pass causal, FuseMax's binding, 8 x 8, E = 8, F = 128, P = M = 32: T = J = 4, 10
    admitted tiles. The walk (m-tiles outer, admitted query tiles inner) has 4, 3, 2, 1
    steps a round, so query tile i's last tile (i, i) is the round's first: step 1, 5, 8, 10
    (not 1, 6, 10, 13, counting the query tiles a round skips). Per tile 2D BQK..SLNV 146
    (result 14 later) and 1D GM 1; pass 2 CF 8 + SD 1 + SNV 128 = 137 a tile (1D), each
    step leaving 145 idle 1D cycles; pass 0 AV 128 a query tile. The 1D array is the busier:
    10 x 138 + 4 x 128 = 1,892. Pass 1: 1,460 + 14 + 1 = 1,475. Ahead of pass 2, in order:
    tile 0 runs its 137 in steps 1..5, tile 1 its 274 in steps 5..8, tile 2 290 of its 411
    in steps 8..10 (2 x 145), tile 3 none: 701 of 1,370, so pass 2 adds 669. Pass 0 waits
    for pass 2 on its array: 512. 1,475 + 669 + 512 - 1,892 = 764. (The simulator, one head:
    2,400 against the mapper's 2,656; AV, two passes on, also runs early there.)"""
    arch = resized(paper.architectures["fusemax"], 8, 8)
    mapping, _, _ = run(paper, "fusemax", arch, Workload(1, 1, 8, 128, 32, 32),
                        cascade="attention-2pass-causal")
    assert mapping.mask.admitted == 10 and mapping.phases[0].blocks == 1
    assert mapping.phases[0].cycles == {"2d": 10 * 146, "1d": 10 * 138 + 4 * 128}
    ahead = 137 + 274 + min(411, 2 * 145)
    assert mapping.fill_drain_cycles == 1475 + (1370 - ahead) + 512 - 1892 == 764
