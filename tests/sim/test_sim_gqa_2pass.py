"""Grouped-query attention and the 2-pass cascade tile by tile: values equal `einsum.execute`,
a GQA group's S query heads share each K/V tile of a block, the serial schedules follow the
tile algebra by hand, and `attnforge simulate DESIGN` runs both. Cycles against the mapper:
tests/sim/test_sim_agree.py and test_sim_agree_shapes.py (configs *-gqa, *-2pass)."""

import json

import numpy as np
import pytest

from attnforge.cli import main
from einsum import execute, library
from mapper.lower import Workload, lower
from mapper.spec import Architecture, Array1D, Array2D, Buffer, Config, GemmSearch, PEUnits
from sim.attention import build_tasks, simulate_attention

from .test_sim_attention import FUSEMAX_PE, mapping, qkv

SHAPES = [(4, 4, 3, 5, 10, 13), (4, 4, 4, 4, 8, 8), (2, 3, 2, 1, 1, 7), (3, 2, 6, 2, 7, 1),
          (4, 2, 3, 3, 9, 26)]
SHAPE_IDS = "r{}-c{}-e{}-f{}-p{}-m{}".format


def gqa_qkv(e, f, p, m, group, seed=0):
    """Q[e,g,s,p] of S = `group` query heads, K[e,g,m], V[f,g,m] of their one K/V head."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((e, 1, group, p)) * 2, rng.standard_normal((e, 1, m)) * 2,
            rng.standard_normal((f, 1, m)))


@pytest.mark.parametrize("schedule", ["pipelined", "serial"])
@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("group", [1, 3])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: SHAPE_IDS(*s))
def test_gqa_values_equal_the_executor(shape, group, flat, schedule):
    rows, cols, e, f, p, m = shape
    mapped = mapping(rows, cols, e, f, p, m, schedule, flat, cascade="attention-1pass-gqa",
                     group=group)
    q, k, v = gqa_qkv(e, f, p, m, group, seed=p * m + group)
    result = simulate_attention(mapped, q, k, v)
    expected = execute(library.get("attention-1pass-gqa", M0=cols), {"Q": q, "K": k, "V": v})
    assert result.av.shape == (f, 1, group, p)
    np.testing.assert_allclose(result.av, expected["AV"], rtol=1e-12, atol=1e-12)
    # each query head of the group is plain attention over the shared K/V head
    for s in range(group):
        plain = execute(library.get("attention-3pass"), {"Q": q[:, 0, s], "K": k[:, 0],
                                                         "V": v[:, 0]})["AV"]
        np.testing.assert_allclose(result.av[:, 0, s], plain, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("schedule", ["pipelined", "serial"])
@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: SHAPE_IDS(*s))
def test_two_pass_values_equal_the_executor(shape, flat, schedule):
    rows, cols, e, f, p, m = shape
    mapped = mapping(rows, cols, e, f, p, m, schedule, flat, cascade="attention-2pass")
    q, k, v = qkv(e, f, p, m, seed=p * m)
    result = simulate_attention(mapped, q, k, v)
    expected = execute(library.get("attention-2pass", M0=cols), {"Q": q, "K": k, "V": v})["AV"]
    np.testing.assert_allclose(result.av, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("small", [False, True])
@pytest.mark.parametrize("group", [1, 2, 4])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m", "kib"), [
    (8, 8, 64, 64, 256, 256, 24), (4, 8, 24, 40, 100, 70, 12)])
def test_a_group_reads_each_k_v_tile_once_per_block(rows, cols, e, f, p, m, kib, group, small):
    """K and V tiles are fetched once per block of rows and m-tile, shared by the block's
    query tiles of all S heads: blocks · (E + F) · M words an instance (the mapper's block);
    that is the mapper's DRAM reads less Q (S · E · P words, read once), and S MHA heads
    fetch S times as much."""
    arch = Architecture(array_2d=Array2D(rows, cols, FUSEMAX_PE),
                        array_1d=Array1D(rows, PEUnits(divider=True)),
                        buffer=Buffer(buffer_bytes=(kib if small else 1024) << 10))
    config = Config("attention-1pass-gqa", "a", True, "pipelined")
    mapped = lower(library.get("attention-1pass-gqa"), arch, config,
                   Workload(1, group, e, f, p, m, group=group), GemmSearch(16, 0))
    phase = mapped.phases[0]
    assert phase.spill_fraction == 0
    result = simulate_attention(mapped)
    assert result.streamed_words == phase.blocks * (e + f) * m
    assert result.streamed_words == phase.dram_read_words - group * e * p
    assert result.tiles == group * -(-p // rows) * -(-m // cols)
    # the same S query heads as multi-head attention: each head fetches K/V per block of its
    # own (its block holds one head's rows, so it may be larger)
    config = Config("attention-1pass", "a", True, "pipelined")
    mha = lower(library.get("attention-1pass"), arch, config, Workload(1, group, e, f, p, m),
                GemmSearch(16, 0))
    mha_words = simulate_attention(mha, heads=group).streamed_words
    assert mha_words == group * mha.phases[0].blocks * (e + f) * m
    assert mha_words >= result.streamed_words
    if mha.phases[0].blocks == phase.blocks:
        assert mha_words == group * result.streamed_words
    if small:
        assert phase.blocks > 1  # several blocks: K/V are re-read per block, not per head


@pytest.mark.parametrize("group", [1, 2, 3])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: SHAPE_IDS(*s))
def test_gqa_serial_cycles_are_the_group_heads_tile_algebra(shape, group):
    """+Architecture's binding, serial: every query head of the group pays a plain head's
    tiles (tests/sim/test_sim_agree_shapes.py's algebra: per tile E + 1 + 8 + 1 + F on the 2D
    array, 1 + 8 + 1 + 1 + 2F on the 1D array, two diagonal fills; F per p-tile to divide)."""
    rows, cols, e, f, p, m = shape
    tiles = -(-p // rows) * -(-m // cols)
    head = tiles * ((e + f + 10) + (2 * f + 11) + 2 * (rows + cols - 2)) + -(-p // rows) * f
    mapped = mapping(rows, cols, e, f, p, m, "serial", cascade="attention-1pass-gqa",
                     group=group)
    assert simulate_attention(mapped).cycles == group * head


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: SHAPE_IDS(*s))
def test_two_pass_serial_cycles_follow_the_tile_algebra(shape):
    """FuseMax's binding of the 2-pass cascade, serial: per tile one 2D run BQK, LM, SLN, SLD,
    SLNV (E + 1 + 8 + 1 + F, one diagonal fill R + C - 2), GM on the 1D array (1), then in
    pass 2 CF (exp of a difference: 8), SD (1), SNV (F); per p-tile AV divides (F)."""
    rows, cols, e, f, p, m = shape
    tiles, p_tiles = -(-p // rows) * -(-m // cols), -(-p // rows)
    expected = tiles * ((e + f + 10) + (rows + cols - 2) + 1 + (8 + 1 + f)) + p_tiles * f
    result = simulate_attention(mapping(rows, cols, e, f, p, m, "serial",
                                        cascade="attention-2pass"))
    assert result.cycles == expected


def test_two_pass_runs_pass_by_pass_then_divides():
    # one p-tile, 3 m-tiles on FuseMax's binding: pass 1 is the 2D run and GM (1D) per
    # m-tile, pass 2 CF, SD, SNV (1D) per m-tile, then AV once
    graph = build_tasks(mapping(4, 4, 3, 5, 4, 12, "serial", cascade="attention-2pass"),
                        pipelined=False)
    assert graph.array.tolist() == [0, 1] * 3 + [1, 1, 1] * 3 + [1]
    # the first CF waits for the last GM (the maximum over every m-tile)
    first_cf = 6
    assert 5 in graph.deps[first_cf].tolist()


def test_gqa_heads_of_a_group_interleave_inside_each_m_tile():
    # the mapper's nest: for m-tile: for s, p1 — S = 2 heads, 2 p-tiles, 2 m-tiles: the
    # 2D runs of m-tile 0 are (s0,p0), (s0,p1), (s1,p0), (s1,p1); each head's running state
    # (RM) chains through its own tiles only
    graph = build_tasks(mapping(4, 4, 3, 3, 8, 8, "serial", cascade="attention-1pass-gqa",
                                group=2), pipelined=False)
    per_tile = 2 + 1 + 5  # two 2D runs, RM, then PRM, SPD, RD, SPNV, RNV
    assert graph.tiles == 8 and len(graph.array) == 8 * per_tile + 4
    rm = [t * per_tile + 1 for t in range(8)]  # RM of each tile, program order
    # tile 4 is (m-tile 1, s0, p0): its RM reads the RM of tile 0 (m-tile 0, s0, p0)
    assert rm[0] in graph.deps[rm[4]].tolist()
    assert not {rm[1], rm[2], rm[3]} & set(graph.deps[rm[4]].tolist())


DESIGN = """\
version: 1
kind: accelerator
name: grouped
architectures:
  a: {}
configs:
  gqa: {cascade: attention-1pass-gqa, architecture: a}
  two: {cascade: attention-2pass, architecture: a}
models:
  llama: {d_model: 512, heads: 8, head_dim: 64, ffn: 1024, kv_heads: 2}
sweep:
  models: [llama]
  seq_lens: [64]
  configs: [gqa, two]
  scopes: [attention]
  batch: 1
"""


@pytest.mark.parametrize(("config", "tiles"), [("gqa", 4 * 8 * 8), ("two", 8 * 8)])
def test_simulate_a_design_with_gqa_and_two_pass(tmp_path, capsys, config, tiles):
    # kv_heads 2 of 8 heads: a GQA instance is S = 4 query heads (4 × the tiles of a head,
    # 64 tokens on 8 × 8); the 2-pass cascade runs one head an instance
    design = tmp_path / "g.yaml"
    design.write_text(DESIGN)
    with pytest.raises(SystemExit) as info:
        main(["simulate", "design", str(design), "--config", config, "--array-dim", "8",
              "--values", "--json"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    result = json.loads(out)
    assert result["tiles"] == tiles
    assert result["instances"] == (2 if config == "gqa" else 8)
    assert result["max_abs_error_vs_executor"] < 1e-12
    assert abs(result["cycles"] - result["mapper_cycles"]) <= 0.1 * result["cycles"]
    assert result["query_heads"] == (4 if config == "gqa" else 1)


def test_a_groups_tiles_count_against_the_simulators_limit(tmp_path, capsys):
    # 2048 tokens on 8 × 8: 256 × 256 = 65536 tiles a head, within the 2**17 a run takes;
    # a GQA instance runs its 4 query heads' tiles, 262144: refused before simulating
    design = tmp_path / "g.yaml"
    design.write_text(DESIGN)
    with pytest.raises(SystemExit) as info:
        main(["simulate", "design", str(design), "--config", "gqa", "--array-dim", "8",
              "--seq-len", "2048"])
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert "is 262144 tiles a group; the simulator takes at most 131072" in err
