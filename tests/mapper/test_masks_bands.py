"""Bands of p-tiles in masked unfused GEMMs (`mapper.sparse`): a band of h p-tiles is one GEMM
over the union of the key tiles its p-tiles admit, h searched over 1, 2, 4, ... and all
p-tiles for the whole mapping, every phase running the band's full extent.

The case that needs it (found in review): 16 x 16 arrays, a 1 MiB buffer, 4 GB/s of DRAM,
batch 1 x 4 heads of 64, 4K tokens. One GEMM per p-tile re-reads K/V per p-tile and priced
the causal 3-pass 0.203 s against 0.137 s unmasked; hardware can always run the dense GEMM
(band = every p-tile) and discard the masked scores, so masked must never price above it.
Expected shapes and words are derived here from the causal triangle by algebra.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from attnforge.cli import main
from einsum import library
from mapper import context as cx
from mapper import lower as lw
from mapper import sparse
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
    Dram,
    GemmSearch,
)

N, E, T = 4096, 64, 4096 // 16  # tokens, head size, p-tiles (= m-tiles) of 16
SEARCH = GemmSearch()  # the design default, as `attnforge explore` runs it
WL = Workload(1, 4, E, E, N)


@pytest.fixture(scope="module")
def small() -> Architecture:
    return Architecture(dram=Dram(4e9), buffer=Buffer(buffer_bytes=2**20),
                        array_2d=Array2D(16, 16), array_1d=Array1D(16))


def _map(name, arch, wl=WL):
    c = library.get(name)
    m = lower(c, arch, Config(name, "a", fused=False), wl, SEARCH)
    return m, price(count(m), arch, CostTable())


def _at_band(name, arch, band, wl=WL):
    """The masked unfused mapping forced to bands of ``band`` p-tiles."""
    m, _ = _map(name, arch, wl)
    ctx = cx.make_context(library.get(name), arch, m.config, wl)
    at = dataclasses.replace(ctx, tile_counts=sparse.band_counts(ctx, band))
    return dataclasses.replace(m, phases=lw._unfused_at(at, SEARCH, band), band=band)


def test_the_review_case_prices_causal_below_unmasked(small):
    plain, plain_cost = _map("attention-3pass", small)
    causal, cost = _map("attention-3pass-causal", small)
    assert cost.latency_s <= plain_cost.latency_s
    assert cost.energy_j <= plain_cost.energy_j
    h = causal.band
    assert h > 1  # one GEMM per p-tile (h = 1) is what priced 0.203 s
    # band b (p-tiles bh .. bh + h - 1) admits key tiles 0 .. (b + 1)h - 1 under m <= p
    rows, bands = 16 * h, T // h
    qk = Counter({(rows, rows * (b + 1), E): 1 for b in range(bands)})
    av = Counter({(rows, E, rows * (b + 1)): 1 for b in range(bands)})
    by = {ph.name: ph for ph in causal.phases}
    assert Counter({(g.gemm.m, g.gemm.n, g.gemm.k): g.gemm.count
                    for g in by["gemm QK"].gemm_parts}) == qk
    assert Counter({(g.gemm.m, g.gemm.n, g.gemm.k): g.gemm.count
                    for g in by["gemm AV"].gemm_parts}) == av
    # every phase runs the bands' full extent: rows · keys summed over the bands, the
    # excluded scores inside a band included (QK computes them, the vector phase reads them
    # and writes A there as 0 for AV, which reads the band's keys)
    scores = sum(rows * rows * (b + 1) for b in range(bands))
    assert by["gemm QK"].work[0].points == scores * E
    vector = next(ph for ph in causal.phases if ph.kind == "vector")
    assert vector.dram_read_words == scores and vector.dram_write_words == scores


def test_the_chosen_band_is_the_fastest_then_the_lowest(small):
    chosen, _ = _map("attention-3pass-causal", small)
    heights = [1 << i for i in range(8)] + [T]  # 1 .. 128 and all 256 p-tiles
    assert sparse.bands(cx.make_context(library.get("attention-3pass-causal"), small,
                                        chosen.config, WL)) == tuple(heights)
    cycles = {h: count(_at_band("attention-3pass-causal", small, h)).latency_cycles
              for h in heights}
    best = min(cycles.values())
    assert chosen.band == min(h for h in heights if cycles[h] == best)
    assert count(chosen).latency_cycles == cycles[chosen.band]
    assert cycles[1] > cycles[T] > best  # per p-tile and dense both lose here


def test_a_band_of_every_p_tile_is_the_dense_gemm(small):
    # causal admits a tile in every p-tile and every m-tile: one band of all of them is the
    # whole score matrix, priced as unmasked phase by phase
    dense = _at_band("attention-3pass-causal", small, T)
    plain, _ = _map("attention-3pass", small)
    for a, b in zip(dense.phases, plain.phases, strict=True):
        assert (a.dram_read_words, a.dram_write_words, a.compute_cycles) == (
            b.dram_read_words, b.dram_write_words, b.compute_cycles), a.name
        assert [w.points for w in a.work] == [w.points for w in b.work]


def test_band_one_is_the_per_p_tile_model(small):
    # h = 1: p-tile i is one GEMM of 16 rows over 16 (i + 1) keys, as before bands
    one = _at_band("attention-3pass-causal", small, 1)
    qk = next(ph for ph in one.phases if ph.name == "gemm QK")
    assert Counter({(g.gemm.m, g.gemm.n, g.gemm.k): g.gemm.count for g in qk.gemm_parts}) == \
        Counter({(16, 16 * (i + 1), E): 1 for i in range(T)})


def test_compute_bound_and_full_masks_keep_band_one(small):
    # FLAT-sized arrays at 400 GiB/s: compute-bound, extra MACs of a taller band only cost
    flat = Architecture(buffer=Buffer(buffer_bytes=32 * 2**20))
    causal, _ = _map("attention-3pass-causal", flat, Workload(64, 12, E, E, N))
    assert causal.band == 1
    # a window wider than the sequence admits every tile: every h prices alike, ties to 1
    wide = library.get("attention-3pass-window", W=2 * N)
    m = lower(wide, small, Config(wide.name, "a", fused=False), WL, SEARCH)
    assert m.band == 1


REVIEW_DESIGN = """version: 1
kind: accelerator
name: sparse-bands-review
architectures:
  small:
    dram: {bandwidth_bytes_per_s: 4000000000}
    buffer: {buffer_bytes: 1048576}
    array_2d: {rows: 16, cols: 16}
    array_1d: {pes: 16}
configs:
  causal: {cascade: attention-3pass-causal, architecture: small, fused: false}
models:
  m: {d_model: 256, heads: 4, head_dim: 64, ffn: 1024}
sweep: {models: [m], seq_lens: [4096], configs: [causal], scopes: [attention], batch: 1}
"""


def test_explain_names_the_band_height(tmp_path, capsys, small):
    design = tmp_path / "review.yaml"
    design.write_text(REVIEW_DESIGN)
    with pytest.raises(SystemExit) as info:
        main(["explain", str(design), "--config", "causal"])
    out = capsys.readouterr().out
    assert info.value.code in (0, None)
    h = _map("attention-3pass-causal", small)[0].band
    # both GEMM phases and the vector phase between them
    assert out.count(f"in bands of {h} p-tile(s) = {16 * h} query rows") == 2
    assert f"over the score tiles of bands of {h} p-tile(s)" in out
