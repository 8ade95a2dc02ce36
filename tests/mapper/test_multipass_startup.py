"""The one-time start-up of a fused multi-pass cascade, by hand from tile-level dependencies.

Within a block of T query tiles over J key tiles the nest walks m-tiles outer, query tiles
inner, pass after pass. A query tile's pass k + 1 needs that tile's pass k over all of M
(its GM before its CF), not the whole block's: query tile 0's pass 1 is done once the last
m-tile round has done its first tile, so its pass 2 runs beside the rest of that round on
whatever array the round leaves idle. Each expected value below is the timeline of one head
written out by hand; none is read from the model."""

from __future__ import annotations

import pytest

from mapper.context import Workload

from .varied import resized, run


@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (8, 8, 64, 64, 64, 64), (16, 8, 32, 48, 64, 128), (8, 16, 96, 128, 80, 64),
    (8, 8, 64, 64, 8, 64)])
def test_two_pass_second_pass_starts_after_its_own_query_tile(paper, rows, cols, e, f, p, m):
    """2-pass cascade, FuseMax's binding, one block (T = P/R query tiles, J = M/C key tiles).
    Per (query tile, key tile): 2D BQK E + LM 1 + SLN 8 + SLD 1 + SLNV F cycles, 1D GM 1
    (pass 1); 1D CF 8 + SD 1 + SNV F (pass 2); per query tile the division AV, F cycles on
    the 1D array. With J·E >= F the 2D array is the busier one and runs pass 1 back to back;
    query tile 0's pass 1 ends T - 1 tile-steps before it does (plus the diagonal fill
    R + C - 2), and from then on the 1D array works without a break: the rest of pass 1's GMs
    ((T - 1) · 1), all of pass 2 (T·J·(9 + F)) and the divisions (T·F). So the time beyond
    the 2D array's work is R + C - 2 + T·J·(9 + F) + T·F - (T - 1)·(E + F + 10 - 1)."""
    arch = resized(paper.architectures["fusemax"], rows, cols)
    mapping, _, _ = run(paper, "fusemax", arch, Workload(1, 1, e, f, p, m),
                        cascade="attention-2pass")
    t, j = p // rows, m // cols
    assert mapping.phases[0].blocks == 1 and j * e >= f
    assert mapping.phases[0].cycles["2d"] == t * j * (e + f + 10)  # the busier array
    expected = rows + cols - 2 + t * j * (9 + f) + t * f - (t - 1) * (e + f + 9)
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
    expected = rows + cols - 2 + t * j * (9 + f) + t * f - (t - 1) * (e + f + 9)
    assert mapping.fill_drain_cycles == expected


@pytest.mark.parametrize(("rows", "cols", "p", "m"), [(16, 16, 64, 64), (8, 16, 64, 160)])
def test_three_pass_passes_that_need_a_busy_array_do_not_overlap(paper, rows, cols, p, m):
    """FLAT's 3-pass binding with E = F = 8 < C: per tile the 1D array walks the C keys in
    GM (pass 1), SN and SD (pass 2), A (pass 3), C cycles each, while the 2D array's QK and
    AV take 8 each, so the 1D array is the busier one in every pass and none can start early:
    pass 2 needs the 1D array pass 1 keeps busy, pass 3 starts on the 1D array (A) and its
    AV waits for A. One head runs 4·T·J·C 1D cycles plus the diagonal fill of each of the two
    passes with 2D work: the start-up is 2·(R + C - 2), whatever the number of tiles."""
    arch = resized(paper.architectures["flat"], rows, cols)
    mapping, _, _ = run(paper, "flat", arch, Workload(1, 1, 8, 8, p, m))
    tiles = (p // rows) * (m // cols)
    assert mapping.phases[0].cycles == {"2d": tiles * 16, "1d": tiles * 4 * cols}
    assert mapping.fill_drain_cycles == 2 * (rows + cols - 2)


@pytest.mark.parametrize(("rows", "cols", "p", "m"), [(16, 16, 64, 64), (8, 16, 64, 160)])
def test_three_pass_av_waits_for_a_even_when_the_2d_array_is_idle(paper, rows, cols, p, m):
    """FLAT's 3-pass binding with E = 8 < C < F = 64: per tile QK E and GM C (pass 1), SN and
    SD C each (pass 2, 1D only), A C and AV F (pass 3). The 2D array idles through pass 2,
    but pass 3's AV reads A, made on the 1D array that pass 2 keeps busy to its end, so none
    of pass 3 runs early: the passes run one after the other, each as long as its busier
    array, max(E, C) + 2C + max(C, F) a tile, plus the diagonal fill of the two passes with
    2D work, less the busier array's work over the whole phase, max(E + F, 4C) a tile."""
    e, f = 8, 64
    arch = resized(paper.architectures["flat"], rows, cols)
    mapping, _, _ = run(paper, "flat", arch, Workload(1, 1, e, f, p, m))
    tiles = (p // rows) * (m // cols)
    assert mapping.phases[0].cycles == {"2d": tiles * (e + f), "1d": tiles * 4 * cols}
    per_tile = max(e, cols) + 2 * cols + max(cols, f) - max(e + f, 4 * cols)
    assert mapping.fill_drain_cycles == 2 * (rows + cols - 2) + tiles * per_tile
