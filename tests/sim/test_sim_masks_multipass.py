"""Masks on multi-pass fused mappings in the cycle simulator: FLAT's 3-pass and the 2-pass
cascade skip, in every pass, the tiles whose points the filter all excludes (found here by
enumerating every (query, key) point), their values equal `einsum.execute`, their work and K/V
fetches equal the mapper's, and their time meets the mapper's within 1 %, except where the
mapper's one-time start-up is known to over-charge a mask (below, by hand).
"""

import numpy as np
import pytest

from einsum import execute, library
from mapper.lower import Workload, lower
from mapper.spec import Architecture, Array1D, Array2D, Buffer, Config, GemmSearch
from sim.attention import build_tasks, simulate_attention

from .test_sim_attention import FLAT_1D, FLAT_2D, mapping, qkv
from .test_sim_masks import admitted_tiles

MASKS = [("attention-3pass-causal", {}, lambda m, p: m <= p),
         ("attention-3pass-window", {"W": 3}, lambda m, p: abs(m - p) < 3),
         ("attention-2pass-causal", {}, lambda m, p: m <= p)]
SHAPES = [(4, 4, 3, 5, 10, 13), (4, 4, 4, 4, 16, 16), (2, 3, 2, 1, 1, 7), (4, 4, 3, 3, 24, 8),
          (2, 4, 3, 3, 9, 26)]


@pytest.mark.parametrize("schedule", ["pipelined", "serial"])
@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "r{}-c{}-e{}-f{}-p{}-m{}".format(*s))
@pytest.mark.parametrize(("cascade", "params", "pred"), MASKS,
                         ids=["3pass-causal", "3pass-window", "2pass-causal"])
def test_skipping_tiles_in_every_pass_keeps_the_executors_values(cascade, params, pred, shape,
                                                                 flat, schedule):
    rows, cols, e, f, p, m = shape
    mapped = mapping(rows, cols, e, f, p, m, schedule, flat, cascade=cascade, **params)
    q, k, v = qkv(e, f, p, m, seed=p * m + 1)
    result = simulate_attention(mapped, q, k, v)
    given = {"M0": cols} if "M0" in library.get(cascade, **params).params else {}
    expected = execute(library.get(cascade, **params, **given), {"Q": q, "K": k, "V": v})["AV"]
    # a query row no key reaches (window: p >= M + W - 1) is 0/0 in both
    np.testing.assert_allclose(result.av, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert result.tiles == admitted_tiles(pred, rows, cols, p, m) == mapped.mask.admitted


def test_a_skipped_tile_has_no_task_in_any_pass():
    # FLAT, causal, 4 x 4 tiles of 4 x 4 rows/keys, one block: 10 tiles on or below the
    # diagonal. Per tile: pass 1 QK (2D), GM (1D); pass 2 SN, SD (1D); pass 3 A (1D), AV (2D)
    dense = build_tasks(mapping(4, 4, 3, 3, 16, 16, flat=True, cascade="attention-3pass"),
                        pipelined=True)
    causal = build_tasks(mapping(4, 4, 3, 3, 16, 16, flat=True,
                                 cascade="attention-3pass-causal"), pipelined=True)
    assert dense.tiles == 16 and len(dense.array) == 16 * 6
    assert causal.tiles == 10 and len(causal.array) == 10 * 6


# (rows = cols, E, F, seq); HEADS instances back to back, as in tests/sim/test_sim_agree.py
SIZES = [(8, 64, 64, 64), (16, 64, 64, 64), (8, 64, 64, 256), (16, 64, 64, 256),
         (16, 16, 64, 256), (16, 64, 64, 32)]
CONFIGS = {
    "flat-causal": {"flat": True, "cascade": "attention-3pass-causal"},
    "flat-window": {"flat": True, "cascade": "attention-3pass-window", "W": 40},
    "fusemax-2pass-causal": {"cascade": "attention-2pass-causal"},
    "architecture-2pass-causal": {"cascade": "attention-2pass-causal", "schedule": "serial"},
    "cascade-2pass-causal": {"flat": True, "cascade": "attention-2pass-causal"},
}
HEADS = 32


def _cases():
    for config in CONFIGS:
        for size in SIZES:
            yield pytest.param(config, size,
                               id=f"{config}-r{size[0]}-e{size[1]}-f{size[2]}-n{size[3]}")


@pytest.mark.parametrize(("config", "size"), list(_cases()))
def test_sim_and_mapper_agree_within_one_percent(config, size):
    dim, e, f, seq = size
    m = mapping(dim, dim, e, f, seq, seq, **CONFIGS[config])
    heads = 1 if CONFIGS[config].get("schedule") == "serial" else HEADS
    result = simulate_attention(m, heads=heads)
    assert abs(result.mapper_cycles - result.cycles) / result.cycles <= 0.01
    if heads > 1:  # pipelined: the work itself is the same, each array's busy cycles the
        # mapper's per head (a serial task occupies its array for its latency, fill included)
        assert result.busy == {a: heads * c for a, c in m.phases[0].cycles.items()}


def _flat_blocks(cascade, buffer_kib, **params):
    arch = Architecture(array_2d=Array2D(8, 8, FLAT_2D), array_1d=Array1D(8, FLAT_1D),
                        buffer=Buffer(buffer_bytes=buffer_kib << 10))
    return lower(library.get(cascade, **params), arch, Config(cascade, "a", True, "pipelined"),
                 Workload(1, 1, 64, 64, 1024, 1024), GemmSearch(16, 0))


@pytest.mark.parametrize(("cascade", "params", "buffer_kib"), [
    ("attention-3pass-causal", {}, 256), ("attention-3pass-causal", {}, 64),
    ("attention-2pass-causal", {}, 256), ("attention-3pass-window", {"W": 100}, 64),
    ("attention-3pass-window", {"W": 100}, 256),
])
def test_blocks_of_rows_fetch_the_key_tiles_the_mapper_counts(cascade, params, buffer_kib):
    # FLAT at 1K tokens on 8 x 8 tiles with a small buffer: many blocks of query rows, each
    # reading in each pass only the K/V tiles one of its query tiles needs
    m = _flat_blocks(cascade, buffer_kib, **params)
    phase = m.phases[0]
    assert phase.blocks >= 4
    result = simulate_attention(m)
    # DRAM reads = Q (64 x 1024, once) + K/V tiles + spilled held words read back (a spill
    # is written once and read back once by the one later pass of each held tensor)
    assert result.streamed_words == phase.dram_read_words - 64 * 1024 - phase.spill_words // 2
    assert abs(result.mapper_cycles - result.cycles) / result.cycles <= 0.01


def test_a_query_tile_that_ends_its_pass_early_starts_the_next_one_early():
    # 2-pass causal on FuseMax's arrays, 8 x 8, E = F = 64, P = M = 16: query tile 0 admits
    # key tile 0 only. Per tile the 2D run BQK..SLNV streams 138 cycles (64 + 1 + 8 + 1 + 64),
    # its result 14 (R + C - 2) later; GM 1, pass 2 (CF 8, SD 1, SNV 64) 73 a tile and the
    # division AV 64 a query tile on the 1D array. Runs (q0,k0), (q1,k0), (q1,k1) at 0, 138,
    # 276. Query tile 0: GM 152, pass 2 153..226, AV 226..290, all before the block's pass 1
    # ends (GM of (q1,k1) at 428..429); then tile 1's pass 2, 429..575, and its AV, ..639.
    # The mapper hides tile 0's pass 2 (its next pass) but not its AV (two passes on): 64
    # more, 703 (tests/mapper/test_multipass_startup.py; docs/mapper.md "Multi-pass start-up")
    m = mapping(8, 8, 64, 64, 16, 16, cascade="attention-2pass-causal")
    result = simulate_attention(m)
    assert result.cycles == 276 + 152 + 1 + 2 * 73 + 64 == 639
    assert result.mapper_cycles == 639 + 64


def test_the_largest_block_sets_the_look_ahead():
    # causal blocks grow with their query rows: block 0 of the 2-pass at 1K on 8 x 8 tiles
    # (one p-tile per block, 128 blocks) runs 1 tile, the last runs 128. The simulator's
    # window must span the largest block (the next block's first pass overlapping this
    # block's later passes); spanning the first block's few tasks it serialised the blocks
    m = _flat_blocks("attention-2pass-causal", 256)
    assert m.phases[0].blocks == 128
    graph = build_tasks(m, pipelined=True)
    # FLAT's 2D PEs have no max and no exp: per tile, pass 1 runs BQK (2D), LM, SLN, SLD
    # (1D), SLNV (2D), GM (1D) and pass 2 CF, SD, SNV (1D): 9 tasks; AV once per block
    assert graph.block_tasks == 128 * 9 + 1
    assert simulate_attention(m).cycles < 1.01 * max(m.phases[0].cycles.values())


DESIGN = """\
version: 1
kind: accelerator
name: masked-multipass
architectures:
  flat:
    array_2d: {rows: 256, cols: 256, pe: {mac: true, add: true, max: false, exp: none}}
    array_1d: {pes: 256, pe: {mac: true, add: true, max: true, divider: true, exp: unit}}
configs:
  flat: {cascade: attention-3pass-causal, architecture: flat}
  twopass: {cascade: attention-2pass-causal, architecture: flat}
  window: {cascade: attention-3pass-window, architecture: flat, params: {W: 8}}
models:
  bert: {d_model: 768, heads: 12, head_dim: 64, ffn: 3072}
sweep:
  models: [bert]
  seq_lens: [64]
  configs: [flat, twopass, window]
  scopes: [attention]
"""


@pytest.mark.parametrize(("config", "tiles"), [
    ("flat", 8 * 9 // 2),  # 8 x 8 tiles of 8: on or below the diagonal
    ("twopass", 8 * 9 // 2),
    ("window", 3 * 8 - 2),  # W = 8 keys = one tile: |i - j| <= 1
])
def test_simulate_values_of_a_masked_multipass_design(tmp_path, capsys, config, tiles):
    import json

    from attnforge.cli import main

    design = tmp_path / "m.yaml"
    design.write_text(DESIGN)
    with pytest.raises(SystemExit) as info:
        main(["simulate", "design", str(design), "--config", config, "--seq-len", "64",
              "--array-dim", "8", "--values", "--json"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    result = json.loads(out)
    assert result["tiles"] == tiles
    assert result["max_abs_error_vs_executor"] < 1e-12


def test_a_masked_unfused_mapping_is_refused_not_simulated_dense():
    # the unfused simulator's vector phases walk every score of every fiber; the mapper
    # prices a masked unfused configuration block-sparse, so the two would disagree by the
    # skipped tiles: refused, naming the fused alternative
    from sim.attention import check_supported
    from sim.spec import SimInputError

    m = mapping(8, 8, 64, 64, 256, 256, flat=True, fused=False, cascade="attention-3pass-causal")
    assert m.mask.admitted == 32 * 33 // 2
    for run in (check_supported, simulate_attention):
        with pytest.raises(SimInputError, match="unfused with a mask .* does not skip masked"):
            run(m)
