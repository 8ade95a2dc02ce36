"""Masks on multi-pass fused cascades (FLAT's 3-pass, the 2-pass): the admitted tiles, each
pass's work, K/V re-reads, held fibers and spills against tile algebra worked out by hand.

Every expected value is derived from the mask and the architecture (tile counts from the
triangle or the band, buffer words from fusemax.md §5), never read off the mapper.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from attnforge.specload import load_spec
from einsum import library
from einsum.errors import InputError
from einsum.parser import parse
from mapper import masks
from mapper.count import count
from mapper.lower import Workload, lower
from mapper.price import price
from mapper.spec import (
    Architecture,
    Array1D,
    Array2D,
    Buffer,
    Config,
    CostTable,
    Design,
    GemmSearch,
    Sweep,
)
from mapper.summary import mask_key, mask_of

ROOT = Path(__file__).parents[2]
DESIGNS = ROOT / "designs"
THREE = (ROOT / "einsum" / "library" / "attention-3pass-causal.af").read_text()
WORDS = 32 * 2**20 // 2  # FLAT's 32 MiB buffer in 2-byte words (fusemax.md §5)


def three_pass(where: str, name: str = "masked3"):
    """attention-3pass with QK's filter replaced by ``where``."""
    return parse(THREE.replace("where m <= p", f"where {where}").replace(
        "cascade attention-3pass-causal", f"cascade {name}"))


def _map(cascade, n, arch, fused=True):
    c = library.get(cascade) if isinstance(cascade, str) else cascade
    m = lower(c, arch, Config(c.name, "a", fused=fused), Workload(64, 12, 64, 64, n),
              GemmSearch(16, 0))
    actions = count(m)
    return m, actions, price(actions, arch, CostTable())


@pytest.fixture(scope="module")
def flat() -> Architecture:
    """FLAT as the paper design builds it: 256 x 256, 32 MiB buffer, exp unit on the 1D PEs."""
    return load_spec(DESIGNS / "fusemax-paper.yaml", Design).architectures["flat"]


def _by_name(mapping):
    return {w.bound.name: w for w in mapping.phases[0].work}


@pytest.mark.parametrize("n", [1024, 4096, 65536])
def test_causal_3pass_runs_the_triangle_in_every_pass(flat, n):
    # T = N / 256 tiles per side; tile (i, j) has an admitted point iff its lowest key
    # 256 j <= its highest query 256 i + 255, i.e. j <= i: T (T + 1) / 2 of T^2 tiles. Every
    # Einsum of Cascade 4 iterates over (m, p): QK, GM, SN, SD, A, AV all run on those tiles
    # only, in each of the three passes
    t = n // 256
    share = (t + 1) / (2 * t)
    full, full_actions, full_cost = _map("attention-3pass", n, flat)
    causal, actions, cost = _map("attention-3pass-causal", n, flat)
    assert causal.mask.admitted == t * (t + 1) // 2
    assert causal.m_passes == 3
    plain, masked = _by_name(full), _by_name(causal)
    assert set(masked) == {"QK", "GM", "SN", "SD", "A", "AV"}
    for name, w in masked.items():
        assert w.array_cycles == plain[name].array_cycles * share, name
        assert w.points == plain[name].points * share, name
    for array in ("2d", "1d"):
        assert actions.arith[array] == {k: v * share for k, v in
                                        full_actions.arith[array].items()}
    # FLAT is bound by its 1D array (4 cycles per score): the body time halves at long lengths
    if n == 65536:
        assert cost.latency_s / full_cost.latency_s == pytest.approx(share, rel=2e-3)


def test_causal_3pass_blocks_read_the_key_tiles_they_need_in_each_pass(flat):
    # FLAT at 4K: a query row holds Q and AV (64 + 64 words) and, at each pass boundary, one M
    # fiber of 4096 words (QK across passes 1-2, SN across 2-3); K and V tiles of 64 x 256 are
    # double-buffered (65536 words). 2048 rows need 2048 * 4224 + 65536 = 8.7 Mi words, which
    # fit in 16 Mi; 4096 rows (17.4 Mi) do not: 2 blocks of 8 p-tiles.
    n, t = 4096, 16
    assert 2048 * (128 + n) + 65536 <= WORDS < 4096 * (128 + n) + 65536
    full, _, _ = _map("attention-3pass", n, flat)
    causal, _, _ = _map("attention-3pass-causal", n, flat)
    assert full.phases[0].rows_per_block == causal.phases[0].rows_per_block == 2048
    # K is read by pass 1 (QK), V by pass 3 (AV), once per block: unmasked 2 blocks x 16 key
    # tiles each; causal block 0 (p-tiles 0-7) needs key tiles 0-7, block 1 all 16
    tile = 64 * 256
    q = 64 * n
    assert full.phases[0].dram_read_words == q + 2 * (2 * t) * tile
    assert causal.phases[0].dram_read_words == q + 2 * (8 + 16) * tile
    assert full.phases[0].spill_words == causal.phases[0].spill_words == 0


def test_causal_3pass_spills_only_the_fullest_blocks(flat):
    # FLAT at 64K: blocks are one p-tile of 256 rows, the smallest, and even it does not fit
    # (256 * (128 + 65536) + 65536 words > 16 Mi). Room for held fibers beside the rows' Q,
    # AV and the K/V tiles: 16 Mi - 256 * 128 - 65536 = 16 678 912 words.
    n = 65536
    room = WORDS - 256 * 128 - 65536
    assert 256 * (128 + n) + 65536 > WORDS
    full, _, _ = _map("attention-3pass", n, flat)
    causal, _, _ = _map("attention-3pass-causal", n, flat)
    assert full.phases[0].rows_per_block == causal.phases[0].rows_per_block == 256
    # unmasked: every block holds 256 x 65536 words and spills 256 * 65536 - room of them;
    # QK and SN are each written once and read back once: 4 x 256 blocks x that
    over = 256 * n - room
    assert over == 98304
    assert full.phases[0].spill_words == 4 * 256 * over
    # causal: p-tile i's rows hold the keys of its admitted tiles only, 256 (i + 1) per row,
    # so block i holds 65536 (i + 1) words; only i = 254 (65536 * 255 - room = 32768) and
    # i = 255 (98304) exceed the room
    spilled = sum(max(0, 65536 * (i + 1) - room) for i in range(256))
    assert spilled == 32768 + 98304
    assert causal.phases[0].spill_words == 4 * spilled


@pytest.mark.parametrize("w", [1, 2])
def test_a_window_3pass_runs_its_band_and_holds_a_band_per_row(flat, w):
    # |m - p| < W with W = 256 w at 64K (T = 256): tile (i, j) runs iff |i - j| <= w,
    # (2w + 1) T - w (w + 1) tiles. A row holds the keys of at most 2w + 1 tiles, so blocks
    # grow: rows = 256 * 2^k with 2 * rows * (128 + 256 (2w + 1)) + 65536 > 16 Mi words
    n, t = 65536, 256
    mapping, _, _ = _map(library.get("attention-3pass-window", W=256 * w), n, flat)
    assert mapping.mask.admitted == (2 * w + 1) * t - w * (w + 1)
    per_row = 128 + 256 * (2 * w + 1)
    rows = 256
    while 2 * rows * per_row + 65536 <= WORDS:
        rows *= 2
    assert mapping.phases[0].rows_per_block == rows > 256
    assert mapping.phases[0].spill_words == 0


def test_a_mask_admitting_everything_prices_the_3pass_exactly_as_unmasked(flat):
    # 64K: the spilling case; every tile admitted, so every count must equal the unmasked one
    full, full_actions, full_cost = _map("attention-3pass", 65536, flat)
    masked, actions, cost = _map(three_pass("0 <= m"), 65536, flat)
    assert masked.mask.admitted == masked.mask.p_tiles * masked.mask.m_tiles
    assert actions == full_actions and cost == full_cost
    assert dataclasses.replace(masked.phases[0], loop_nest=full.phases[0].loop_nest) == \
        full.phases[0]


def test_causal_2pass_skips_tiles_in_both_passes_but_not_the_per_row_division(flat):
    # the 2-pass cascade at 16K (T = 64): pass-1 Einsums (BQK, LM, SLN, SLD, SLNV), the
    # global max GM over the chunks and pass-2 Einsums (CF, SD, SNV) run per (p-tile, chunk)
    # on the T (T + 1) / 2 admitted tiles; AV = SNV / SD (no key rank) once per query row
    n, t = 16384, 64
    share = (t + 1) / (2 * t)
    full, _, _ = _map("attention-2pass", n, flat)
    causal, _, _ = _map("attention-2pass-causal", n, flat)
    assert causal.mask.admitted == t * (t + 1) // 2 and causal.m_passes == 2
    plain, masked = _by_name(full), _by_name(causal)
    for name in ("BQK", "LM", "SLN", "SLD", "SLNV", "GM", "CF", "SD", "SNV"):
        assert masked[name].array_cycles == plain[name].array_cycles * share, name
    assert masked["AV"].array_cycles == plain["AV"].array_cycles
    assert masked["AV"].points == plain["AV"].points == 64 * n


def _phases(mapping):
    return {ph.name: ph for ph in mapping.phases}


def test_unfused_causal_3pass_runs_block_sparse_gemms_by_hand(flat):
    # Unfused at 4K (T = 16 p-tiles of 256 rows): p-tile i admits key tiles 0..i, so QK is
    # 16 GEMMs (256 x 64)·(64 x 256 (i + 1)), one per p-tile, and A·V 16 GEMMs
    # (256 x 256 (i + 1))·(256 (i + 1) x 64). Each band's Q (or A) and K (or V) are read
    # once (they fit the buffer), its scores written once; the vector phase moves only the
    # admitted scores: 136 tiles of 256^2 words
    n, t, e = 4096, 16, 64
    mapping, actions, _ = _map("attention-3pass-causal", n, flat, fused=False)
    ph = _phases(mapping)
    qk, av, vec = ph["gemm QK"], ph["gemm AV"], ph["vector GM+SN+SD+A"]
    assert sorted((g.gemm.m, g.gemm.n, g.gemm.k, g.gemm.count) for g in qk.gemm_parts) == [
        (256, 256 * (i + 1), e, 1) for i in range(t)]
    assert sorted((g.gemm.m, g.gemm.n, g.gemm.k, g.gemm.count) for g in av.gemm_parts) == [
        (256, e, 256 * (i + 1), 1) for i in range(t)]
    scores = 256 * 256 * t * (t + 1) // 2
    keys = 256 * t * (t + 1) // 2  # keys read by the bands, summed
    assert qk.dram_read_words == t * 256 * e + keys * e and qk.dram_write_words == scores
    assert vec.dram_read_words == scores and vec.dram_write_words == scores
    assert av.dram_read_words == scores + keys * e and av.dram_write_words == n * e
    # MACs: Q·K and A·V over the admitted tiles' points, per head, times 64 x 12 heads
    assert actions.busy["2d"] == 64 * 12 * 2 * scores * e


def test_unfused_causal_1pass_batches_each_key_chunk_over_the_rows_that_need_it(flat):
    # SLNV[f,m1,p] = SLN[m1,m0,p] · BV[f,m1,m0] is a GEMM per key chunk j of 256 keys; causal
    # chunk j is needed by p-tiles j..T-1: a (256 (T - j) x 256)·(256 x 64) GEMM
    n, t = 4096, 16
    mapping, _, _ = _map("attention-1pass-causal", n, flat, fused=False)
    slnv = _phases(mapping)["gemm SLNV"]
    assert sorted((g.gemm.m, g.gemm.n, g.gemm.k, g.gemm.count) for g in slnv.gemm_parts) == \
        sorted((256 * (t - j), 64, 256, 1) for j in range(t))
    assert "block-sparse over the admitted score tiles" in slnv.loop_nest[0]


@pytest.mark.parametrize("cascade", ["attention-3pass", "attention-1pass"])
def test_a_mask_admitting_everything_prices_unfused_exactly_as_unmasked(flat, cascade):
    # one group of rows admitting every key tile: the dense GEMMs, the whole score matrix
    text = (ROOT / "einsum" / "library" / f"{cascade}-causal.af").read_text()
    masked = parse(text.replace("where m <= p", "where 0 <= m").replace(
        f"cascade {cascade}-causal", "cascade everything"))
    full, full_actions, full_cost = _map(cascade, 4096, flat, fused=False)
    mapped, actions, cost = _map(masked, 4096, flat, fused=False)
    assert actions == full_actions and cost == full_cost
    for ours, theirs in zip(mapped.phases, full.phases, strict=True):
        assert dataclasses.replace(ours, loop_nest=theirs.loop_nest) == theirs


def test_a_key_einsum_the_mask_does_not_feed_is_refused_in_a_multipass_cascade():
    text = THREE.replace("GM[p] = max[m] QK[m,p]", "GM[p] = max[m] QK[m,p]\n"
                         "KK[m,p] = Q[e,p] * K[e,m]")
    with pytest.raises(InputError, match="body Einsum KK does not depend on QK"):
        masks.check_form(parse(text))


def test_small_arch_explain_line_and_mask_key():
    arch = Architecture(array_2d=Array2D(4, 4), array_1d=Array1D(4),
                        buffer=Buffer(buffer_bytes=1 << 16))
    mapping, _, _ = _map("attention-3pass-causal", 16, arch)
    # 4 x 4 tiles of 4 x 4: 4 * 5 / 2 = 10 run
    assert any("mask QK where m <= p: 10 of 16 (p-tile, m-tile) pairs run, 6 skipped" in line
               for line in mapping.phases[0].loop_nest)


def test_the_3pass_and_1pass_causal_masks_are_the_same_work():
    configs = {name: Config(cascade, "a") for name, cascade in (
        ("flat", "attention-3pass-causal"), ("fusemax", "attention-1pass-causal"),
        ("plain", "attention-3pass"), ("gqa", "attention-1pass-gqa-causal"))}
    design = Design("d", {"a": Architecture()}, configs, {}, Sweep((), (), tuple(configs)))
    assert mask_of(design, "flat") == "QK where m <= p"
    assert mask_of(design, "fusemax") == "BQK where m <= p"
    assert mask_key(design, "flat") == mask_key(design, "fusemax") == mask_key(design, "gqa")
    assert mask_key(design, "plain") == ""


def test_partial_tiles_count_the_points_the_mask_leaves(flat):
    # N = 1000 on 256 x 256 tiles: 4 per side, the last 232 wide/high. Causal tile (i, j) has
    # an admitted point iff its first key 256 j <= its last query min(256 i + 255, 999): j <= i.
    # Enumerated here point by point; QK's points are E per admitted tile point (a partly
    # masked tile runs in full), GM's 1D PEs walk the keys of each admitted tile
    n, e = 1000, 64
    size = [256, 256, 256, 232]
    admitted = [(i, j) for i in range(4) for j in range(4)
                if any(jj <= ii for ii in range(256 * i, 256 * i + size[i])
                       for jj in range(256 * j, 256 * j + size[j]))]
    assert len(admitted) == 10
    causal, _, _ = _map("attention-3pass-causal", n, flat)
    work = _by_name(causal)
    assert work["QK"].points == e * sum(size[i] * size[j] for i, j in admitted)
    assert work["SN"].points == sum(size[i] * size[j] for i, j in admitted)
    # 1D: one PE per query row (256 rows of a tile at once), 1 cycle per key of the tile
    assert work["GM"].array_cycles == sum(size[j] for _, j in admitted)


def test_an_unfused_vector_phase_spills_only_the_admitted_scores_past_its_room():
    # 16 x 16 arrays, 8 KiB = 4096 words of buffer, N = 4096 (256 p-tiles of 16 rows). The
    # 3-pass vector phase GM+SN+SD+A streams QK in and A out (2 x 16 x 16 words each,
    # double-buffered: 1024) and holds one M fiber per row across its passes (QK, then SN):
    # one row at a time, room 4096 - 1024 = 3072 words. Unmasked every row spills
    # 4096 - 3072; causal row r of p-tile i holds 16 (i + 1) keys, past 3072 for i >= 192.
    arch = Architecture(array_2d=Array2D(16, 16), array_1d=Array1D(16),
                        buffer=Buffer(buffer_bytes=8192))
    n, room = 4096, 3072
    full, _, _ = _map("attention-3pass", n, arch, fused=False)
    causal, _, _ = _map("attention-3pass-causal", n, arch, fused=False)
    plain, masked = (_phases(m)["vector GM+SN+SD+A"] for m in (full, causal))
    assert plain.rows_per_block == masked.rows_per_block == 1
    # QK (made by the GEMM phase) is re-read once; SN is written and re-read once
    assert plain.spill_words == 3 * n * (n - room)
    spilled = sum(16 * max(0, 16 * (i + 1) - room) for i in range(256))
    assert spilled == 256 * 64 * 65 // 2
    assert masked.spill_words == 3 * spilled
