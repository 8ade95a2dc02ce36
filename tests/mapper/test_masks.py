"""Masked (causal, sliding-window) attention: the admitted score tiles against brute-force
enumeration, the priced work against tile algebra, refusals, explain and explore."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from attnforge.cli import main
from einsum import library
from einsum.errors import InputError
from einsum.parser import parse
from mapper import masks
from mapper.count import count
from mapper.lower import Workload, lower
from mapper.price import price
from mapper.spec import Architecture, Array1D, Array2D, Buffer, Config, CostTable, GemmSearch

CAUSAL = (Path(__file__).parents[2] / "einsum" / "library" / "attention-1pass-causal.af"
          ).read_text()


def cascade(where: str, w: int = 0, name: str = "masked"):
    """attention-1pass with BQK's filter replaced by ``where`` (and a parameter W = ``w``)."""
    text = CAUSAL.replace("where m <= p", f"where {where}").replace(
        "cascade attention-1pass-causal", f"cascade {name}")
    return parse(text.replace("param M0 = 256", f"param M0 = 256, W = {w}"))


def brute_grid(pred, p: int, m: int, rows: int, cols: int) -> np.ndarray:
    """Tiles with an admitted point by enumerating every (p, m) point."""
    pp, mm = np.meshgrid(np.arange(p), np.arange(m), indexing="ij")
    ok = np.asarray(pred(mm, pp), dtype=bool)
    pt, mt = -(-p // rows), -(-m // cols)
    grid = np.zeros((pt, mt), dtype=bool)
    for i in range(pt):
        for j in range(mt):
            grid[i, j] = ok[i * rows:(i + 1) * rows, j * cols:(j + 1) * cols].any()
    return grid


def the_mask(where: str, w: int = 0) -> masks.Mask:
    return masks.mask_of(cascade(where, w), {"W": w, "M0": 4})


# (filter text, W, the same predicate written by hand)
FILTERS = [
    ("m <= p", 0, lambda m, p: m <= p),
    ("m < p", 0, lambda m, p: m < p),
    ("p <= m", 0, lambda m, p: p <= m),
    ("p - W < m <= p", 5, lambda m, p: (p - 5 < m) & (m <= p)),
    ("0 <= p - m < W", 7, lambda m, p: (0 <= p - m) & (p - m < 7)),
    ("|m - p| < W", 3, lambda m, p: abs(m - p) < 3),
    ("|p - m| <= W", 6, lambda m, p: abs(p - m) <= 6),
    ("|m - p| >= W", 9, lambda m, p: abs(m - p) >= 9),
    ("W < |m - p|", 4, lambda m, p: abs(m - p) > 4),
    ("|m - p| == W", 5, lambda m, p: abs(m - p) == 5),
    ("|m - p + 2| != W", 0, lambda m, p: abs(m - p + 2) != 0),
    ("m == p", 0, lambda m, p: m == p),
    ("m != p", 0, lambda m, p: m != p),
    ("m + p < W", 11, lambda m, p: m + p < 11),
    ("m < W", 6, lambda m, p: m < 6),
    ("p >= W", 6, lambda m, p: p >= 6),
    ("m - 2*W <= p - W", 3, lambda m, p: m - 6 <= p - 3),
    ("m <= p, p - m < W", 5, lambda m, p: (m <= p) & (p - m < 5)),
    ("m <= p, W > 3", 2, lambda m, p: np.zeros_like(m, dtype=bool)),
    ("|m - p| < W", 0, lambda m, p: np.zeros_like(m, dtype=bool)),
]
SHAPES = [(13, 17, 4, 4), (16, 16, 4, 4), (20, 9, 3, 5), (1, 30, 2, 7), (25, 25, 8, 2)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "p{}-m{}-r{}-c{}".format(*s))
@pytest.mark.parametrize(("where", "w", "pred"), FILTERS, ids=[f[0] for f in FILTERS])
def test_admitted_tiles_equal_brute_force_enumeration(where, w, pred, shape):
    p, m, rows, cols = shape
    mask = the_mask(where, w)
    expected = brute_grid(pred, p, m, rows, cols)
    np.testing.assert_array_equal(masks.admitted_grid(mask, p, m, rows, cols), expected)
    found = masks.counts(mask, p, m, rows, cols)
    assert found.admitted == expected.sum()
    assert found.tile_share == expected.sum() / expected.size
    heights = [min(rows, p - i * rows) for i in range(expected.shape[0])]
    widths = [min(cols, m - j * cols) for j in range(expected.shape[1])]
    assert found.point_share == pytest.approx(np.outer(heights, widths)[expected].sum() / (p * m))
    # a 1D PE walks the keys of each admitted tile: a partial last key tile has fewer
    assert found.key_share == pytest.approx(
        (expected * np.array(widths)).sum() / (len(heights) * m))
    for block in (1, 2, 3):  # a block reads key tile j iff one of its p-tiles needs it
        keys = sum(widths[j] for b in range(0, len(heights), block) for j in range(len(widths))
                   if expected[b:b + block, j].any())
        blocks = -(-len(heights) // block)
        assert masks.kv_share(mask, p, m, rows, cols, block) == pytest.approx(keys / (blocks * m))


def test_causal_tiles_at_a_million_tokens_follow_the_triangle():
    # T = 4096 tiles per side (computed in chunks of p-tiles): tile (i, j) runs iff j <= i, so
    # T (T + 1) / 2 tiles; a block of 128 p-tiles b = 0..31 reads key tiles 0..128 (b + 1) - 1
    mask, n, t = the_mask("m <= p"), 1 << 20, 4096
    found = masks.counts(mask, n, n, 256, 256)
    assert found.admitted == t * (t + 1) // 2
    assert found.tile_share == found.point_share == (t + 1) / (2 * t)
    assert masks.kv_share(mask, n, n, 256, 256, 128) == sum(128 * (b + 1) for b in range(32)) / (
        32 * t)


@pytest.mark.parametrize(("where", "words"), [
    ("2*m <= p", "coefficient other than -1, 0, 1"),
    ("m <= p, m < W", "another linear form"),
    ("m*p < W", "not linear"),
    ("|m| < |p|", "both sides"),
    ("|m - p| < p", "depends on m or p"),
    ("m0 <= p", "ranks other than the key rank m and the query rank p"),
])
def test_unsupported_filters_are_refused_naming_the_einsum_and_the_filter(where, words):
    arch = Architecture(array_2d=Array2D(4, 4), array_1d=Array1D(4))
    with pytest.raises(InputError, match=words) as info:
        lower(cascade(where, 3), arch, Config("masked", "a"), Workload(1, 1, 4, 4, 16),
              GemmSearch(16, 0))
    assert "Einsum BQK's filter `" in str(info.value)


def test_a_body_einsum_the_mask_does_not_feed_is_refused():
    # skipping a tile skips all of its body Einsums: exact only for those fed by the scores
    text = CAUSAL.replace("LM[m1,p] = max[m0] BQK[m1,m0,p]",
                          "LM[m1,p] = max[m0] BQK[m1,m0,p]\nQS[m1,m0,p] = Q[e,p] * BK[e,m1,m0]")
    with pytest.raises(InputError, match="body Einsum QS does not depend on BQK"):
        masks.check_form(parse(text))


def test_lean_decodes_split_filter_is_refused():
    # (masks in unfused configurations are priced: tests/mapper/test_masks_multipass.py)
    arch = Architecture()
    for fused in (True, False):
        with pytest.raises(InputError, match="Einsum OM's filter .* does not model `where` "
                                             "filters over ranks other than"):
            lower(library.get("lean-decode"), arch, Config("lean-decode", "a", fused=fused),
                  Workload(1, 1, 64, 64, 1024), GemmSearch(16, 0))


def _map(name, n, arch=None, schedule="pipelined", **params):
    c = library.get(name, **params) if isinstance(name, str) else name
    arch = arch or Architecture()
    m = lower(c, arch, Config(c.name, "a", schedule=schedule), Workload(64, 12, 64, 64, n),
              GemmSearch(16, 0))
    actions = count(m)
    return m, actions, price(actions, arch, CostTable())


def _body_final(mapping):
    """Per-array cycles of the body and of the final Einsums of the fused phase."""
    out = {"body": {"2d": 0, "1d": 0}, "final": {"2d": 0, "1d": 0}}
    for w in mapping.phases[0].work:
        out["body" if w.bound.phase == "body" else "final"][w.bound.array] += w.array_cycles
    return out


@pytest.mark.parametrize("schedule", ["pipelined", "serial"])
@pytest.mark.parametrize("n", [1024, 4096, 65536])
def test_causal_costs_t_plus_one_over_two_t_of_the_tiles(n, schedule):
    # square 256 × 256 tiles, T per side: the tiles on and below the diagonal run, T (T+1)/2 of
    # T^2; every per-tile count scales by (T+1)/(2T), the per-row final division does not
    t = n // 256
    share = (t + 1) / (2 * t)
    full, full_actions, full_cost = _map("attention-1pass", n, schedule=schedule)
    causal, actions, cost = _map("attention-1pass-causal", n, schedule=schedule)
    parts = _body_final(full)
    for a in ("2d", "1d"):
        assert causal.phases[0].cycles[a] == parts["body"][a] * share + parts["final"][a]
    assert actions.arith["2d"] == {k: v * share for k, v in full_actions.arith["2d"].items()}
    stall = full.phases[0].stall_cycles
    assert causal.phases[0].stall_cycles == stall * share  # serial: one fill per run per tile
    if n == 65536:  # long: about half the time and the energy
        assert cost.latency_s / full_cost.latency_s == pytest.approx(share, rel=2e-3)
        assert cost.energy_j / full_cost.energy_j == pytest.approx(share, rel=2e-3)


def test_causal_blocks_read_only_the_key_tiles_their_queries_need():
    # FuseMax at 256K: blocks of 128 p-tiles (32K rows); block b needs key tiles
    # 0 .. 128 (b + 1) - 1, so K and V are read sum_b (b+1)/8 times instead of 8 times
    n = 1 << 18
    full, _, _ = _map("attention-1pass", n)
    causal, _, _ = _map("attention-1pass-causal", n)
    # fusemax.md §4: per query row Q (64), RM, RD (1 each), RNV (64) and the output (64);
    # one 256-key tile of K and V, double-buffered; 16 MiB of 2-byte words. Blocks are
    # 256 · 2^i rows: 32768 · 194 + 2 · 128 · 256 = 6.4 Mi words fit, 65536 rows do not
    words = 16 * 2**20 // 2
    assert 32768 * 194 + 2 * 128 * 256 <= words < 65536 * 194
    assert full.phases[0].rows_per_block == causal.phases[0].rows_per_block == 32768
    kv = 2 * 64 * n  # K and V words per head
    q_out = 2 * 64 * n  # Q read, AV written once
    assert full.phases[0].dram_read_words == q_out // 2 + 8 * kv
    assert causal.phases[0].dram_read_words == q_out // 2 + kv * sum(range(1, 9)) // 8


@pytest.mark.parametrize("w", [1, 2, 5])
def test_windows_cost_their_band_of_tiles(w):
    # 64K tokens, T = 256 tiles of C = 256 per side, W = w C.
    # |m - p| < W: tile (i, j) runs iff |i - j| <= w: (2w + 1) T - w (w + 1) tiles;
    # p - W < m <= p (the causal sliding window): iff i - w <= j <= i: (w + 1) T - w (w + 1) / 2
    n, t, c = 65536, 256, 256
    full, _, full_cost = _map("attention-1pass", n)
    body = _body_final(full)["body"]
    for mapped, tiles in (
            (_map("attention-1pass-window", n, W=w * c), (2 * w + 1) * t - w * (w + 1)),
            (_map(cascade("p - W < m <= p", w * c), n), (w + 1) * t - w * (w + 1) // 2)):
        mapping, _, cost = mapped
        assert mapping.mask.admitted == tiles
        final = _body_final(mapping)["final"]
        for a in ("2d", "1d"):
            assert mapping.phases[0].cycles[a] == round(body[a] * tiles / t**2) + final[a]
        # the 1D array stays the busier one: about W / M of the unmasked body's time for the
        # causal window (2W / M symmetric) plus the per-row final division (and the one fill)
        assert mapping.phases[0].cycles["1d"] > mapping.phases[0].cycles["2d"]
        expected = (body["1d"] * tiles / t**2 + final["1d"]) / (body["1d"] + final["1d"])
        assert cost.latency_s / full_cost.latency_s == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("n", [1000, 4096])
@pytest.mark.parametrize("where", ["0 <= m", "|m - p| < 2*P", "p < M + 5"])
def test_a_mask_admitting_everything_prices_exactly_as_unmasked(where, n):
    arch = Architecture(array_2d=Array2D(64, 32), array_1d=Array1D(64),
                        buffer=Buffer(buffer_bytes=1 << 20))
    full, full_actions, full_cost = _map("attention-1pass", n, arch)
    masked, actions, cost = _map(cascade(where), n, arch)
    assert masked.mask.admitted == masked.mask.p_tiles * masked.mask.m_tiles
    assert actions == full_actions and cost == full_cost
    plain = dataclasses.replace(masked.phases[0], loop_nest=full.phases[0].loop_nest)
    assert plain == full.phases[0]


def test_a_window_without_w_names_the_parameter():
    with pytest.raises(InputError, match="needs parameter W"):
        _map("attention-1pass-window", 1024)


@pytest.mark.parametrize("w", [0, -5])
def test_a_mask_admitting_no_point_is_refused(w):
    # |m - p| < W has no solution for W <= 0: every output would be 0/0. It used to divide by
    # the zero admitted tiles (a ZeroDivisionError traceback from explore and simulate).
    with pytest.raises(InputError, match=rf"where \|m-p\| < W\) admits no \(query, key\) "
                                         rf"point at P = 1024, M = 1024, W = {w}: every"):
        _map("attention-1pass-window", 1024, W=w)


DESIGN = """\
version: 1
kind: accelerator
name: masked
architectures:
  a: {}
configs:
  dense: {cascade: attention-1pass, architecture: a}
  causal: {cascade: attention-1pass-causal, architecture: a}
  window: {cascade: attention-1pass-window, architecture: a, params: {W: 1024}}
models:
  bert: {d_model: 768, heads: 12, head_dim: 64, ffn: 3072}
sweep:
  models: [bert]
  seq_lens: [4096, 16384]
  configs: [dense, causal]
  scopes: [attention, end_to_end]
"""


def _cli(args, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    return out


def test_explain_shows_the_skipped_tiles(tmp_path, capsys):
    design = tmp_path / "masked.yaml"
    design.write_text(DESIGN)
    out = _cli(["explain", str(design), "--config", "causal", "--seq-len", "4096"], capsys)
    # 16 × 16 tiles, 16 · 17 / 2 = 136 on or below the diagonal run
    assert "mask BQK where m <= p: 136 of 256 (p-tile, m-tile) pairs run, 120 skipped" in out


def test_explore_prices_the_causal_cascade_end_to_end(tmp_path, capsys):
    import csv

    design = tmp_path / "masked.yaml"
    design.write_text(DESIGN)
    _cli(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial",
          "--quiet"], capsys)
    with (tmp_path / "o" / "results.csv").open() as handle:
        rows = {(r["config"], int(r["seq_len"]), r["scope"]): r for r in csv.DictReader(handle)}
    assert len(rows) == 8
    for n in (4096, 16384):
        t = n // 256
        ratio = [float(rows["causal", n, "attention"][k]) / float(rows["dense", n, "attention"][k])
                 for k in ("latency_s", "energy_j")]
        assert ratio == pytest.approx([(t + 1) / (2 * t)] * 2, rel=0.03)
        # the linear layers are not masked: end to end saves less than attention alone
        e2e = float(rows["causal", n, "end_to_end"]["latency_s"]) / float(
            rows["dense", n, "end_to_end"]["latency_s"])
        assert ratio[0] < e2e < 1


def test_a_design_sets_the_windows_w(tmp_path, capsys):
    # W = 4 C at 16K tokens (T = 64): |i - j| <= 4, 9 · 64 - 4 · 5 = 556 tiles
    design = tmp_path / "masked.yaml"
    design.write_text(DESIGN)
    out = _cli(["explain", str(design), "--config", "window", "--seq-len", "16384"], capsys)
    assert "mask BQK where |m-p| < W: 556 of 4096 (p-tile, m-tile) pairs run" in out


def test_a_design_may_not_set_m0(tmp_path, capsys):
    design = tmp_path / "masked.yaml"
    design.write_text(DESIGN.replace("params: {W: 1024}", "params: {W: 1024, M0: 64}"))
    with pytest.raises(SystemExit) as info:
        main(["explain", str(design), "--config", "window"])
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert f"{design}:9:" in err and "configs.window.params.M0: is set by the mapper" in err, err
