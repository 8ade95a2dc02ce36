"""Grouped-query attention (`attention-1pass-gqa`): S query heads share one K/V head, so a
mapping reads K and V once per group (per block of query rows), not once per query head;
the arithmetic is that of H independent heads. Expected values by algebra from the MHA
cascade and fusemax.md §4's buffer plan, never from the model's own output."""

from __future__ import annotations

import dataclasses

import pytest

from einsum.errors import InputError
from mapper.context import Workload
from mapper.evaluate import Point, evaluate, linear_gemms, workload
from mapper.spec import Model

from .varied import resized, run


@pytest.mark.parametrize("config", ["fusemax", "cascade", "architecture"])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (256, 256, 64, 64, 4096, 4096), (16, 40, 96, 128, 333, 1000), (48, 8, 64, 32, 100, 700)])
def test_one_query_head_per_group_is_multi_head_attention(paper, config, rows, cols, e, f, p,
                                                          m):
    """S = 1 (as many K/V heads as query heads): the GQA cascade is the MHA cascade with a
    rank of extent 1 more on every tensor, so every count, cycle and joule is the same."""
    arch = resized(paper.architectures[paper.configs[config].architecture], rows, cols)
    wl = Workload(2, 3, e, f, p, m, group=1)
    mha = run(paper, config, arch, dataclasses.replace(wl, group=0))
    gqa = run(paper, config, arch, wl, cascade="attention-1pass-gqa")
    assert gqa[0].instances == mha[0].instances == 6
    assert gqa[1] == mha[1]
    assert gqa[2].energy_j == pytest.approx(mha[2].energy_j, rel=1e-12)


@pytest.mark.parametrize("config", ["fusemax", "cascade", "architecture"])
@pytest.mark.parametrize("group", [2, 4, 8])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (256, 256, 64, 64, 4096, 4096), (16, 40, 96, 128, 333, 1000), (48, 8, 64, 32, 100, 700)])
def test_a_group_reads_k_and_v_once_per_block_and_computes_like_its_heads(
        paper, config, group, rows, cols, e, f, p, m):
    """H = 8 query heads in groups of S share K/V: the arithmetic and the array cycles are
    those of 8 MHA heads (each query head still meets every key); Q and AV move once per
    query head; K and V move once per block of query rows per group — the block holds the
    S heads' queries, so it has rows_per_block rows of S heads — i.e. H / S times per block
    instead of H times; a serial schedule pays a fill per score tile of every query head."""
    arch = resized(paper.architectures[paper.configs[config].architecture], rows, cols)
    mha, mha_acts, _ = run(paper, config, arch, Workload(1, 8, e, f, p, m))
    gqa, acts, _ = run(paper, config, arch, Workload(1, 8, e, f, p, m, group=group),
                       cascade="attention-1pass-gqa")
    assert gqa.instances == 8 // group
    assert acts.arith == mha_acts.arith
    assert acts.busy == mha_acts.busy
    phase = gqa.phases[0]
    assert phase.cycles == {a: group * c for a, c in mha.phases[0].cycles.items()}
    assert phase.stall_cycles == group * mha.phases[0].stall_cycles
    assert phase.blocks == -(-p // phase.rows_per_block)
    reads = 8 * e * p + 8 // group * phase.blocks * (e + f) * m
    assert acts.dram_read_bytes == reads * arch.word_bytes
    assert acts.dram_write_bytes == mha_acts.dram_write_bytes == 8 * f * p * arch.word_bytes
    assert acts.dram_read_bytes < mha_acts.dram_read_bytes
    # compute-bound either way: the time is the 8 heads' work (plus one pipeline fill)
    assert acts.latency_cycles == pytest.approx(mha_acts.latency_cycles, rel=0.01)


def test_a_models_kv_heads_group_its_query_heads_and_shrink_the_k_v_projections(paper):
    """A model with kv_heads G < heads H runs the GQA cascade in H / G-head groups
    (B·G instances), and its K and V projections produce G·head_dim columns, not H·head_dim
    (the end-to-end linear layers)."""
    model = Model(d_model=2048, heads=16, head_dim=128, ffn=8192, kv_heads=4)
    design = dataclasses.replace(
        paper, models={**paper.models, "gqa": model},
        configs={**paper.configs, "gqa": dataclasses.replace(
            paper.configs["fusemax"], cascade="attention-1pass-gqa")})
    wl = workload(design, Point("gqa", 4096, "gqa", "attention"))
    assert (wl.heads, wl.group) == (16, 4)
    gemms = linear_gemms(model, 1000)
    assert gemms["K_proj"].n == gemms["V_proj"].n == 4 * 128
    assert gemms["Q_proj"].n == 16 * 128
    mapping, actions, _ = evaluate(design, Point("gqa", 4096, "gqa", "attention"))
    assert mapping.instances == 64 * 4
    assert actions.arith["2d"]["mac"] == 64 * 16 * 4096 * 4096 * (128 + 128 + 6)


def test_a_workload_without_a_group_cannot_map_the_gqa_cascade(paper):
    """At the mapper's API a Workload with no group (0) says nothing of how query heads share
    K/V: the GQA cascade is refused naming the missing rank and the model key to give."""
    with pytest.raises(InputError, match="extent of rank g .* give the model kv_heads"):
        run(paper, "fusemax", paper.architectures["fusemax"], Workload(1, 4, 64, 64, 1024),
            cascade="attention-1pass-gqa")


@pytest.mark.parametrize("seq_len", [1024, 65536])
def test_a_model_without_kv_heads_has_one_k_v_head_per_query_head(paper, seq_len):
    """A model that names no kv_heads is multi-head attention (Model's docstring: one K/V head
    per query head), so the GQA cascade runs it in groups of S = 1 and every figure equals
    the MHA cascade's (the S = 1 identity above); it used to be refused."""
    design = dataclasses.replace(paper, configs={**paper.configs, "gqa": dataclasses.replace(
        paper.configs["fusemax"], cascade="attention-1pass-gqa")})
    for scope in ("attention", "end_to_end"):
        wl = workload(design, Point("bert", seq_len, "gqa", scope))
        assert (wl.heads, wl.group) == (12, 1)
        gqa = evaluate(design, Point("bert", seq_len, "gqa", scope))
        mha = evaluate(design, Point("bert", seq_len, "fusemax", scope))
        assert gqa[0].instances == mha[0].instances
        assert gqa[1] == mha[1]
        assert gqa[2].energy_j == pytest.approx(mha[2].energy_j, rel=1e-12)


def test_kv_heads_must_divide_heads():
    assert Model(768, 12, 64, 3072, kv_heads=5).problems() == [
        ("kv_heads", "must divide heads (12), not 5")]
    assert Model(768, 12, 64, 3072, kv_heads=4).problems() == []


DESIGN = """\
version: 1
kind: accelerator
name: gqa
architectures:
  a: {}
configs:
  mha: {cascade: attention-1pass, architecture: a}
  gqa: {cascade: attention-1pass-gqa, architecture: a}
models:
  llama: {d_model: 4096, heads: 32, head_dim: 128, ffn: 11008, kv_heads: 8}
sweep:
  models: [llama]
  seq_lens: [8192]
  configs: [mha, gqa]
  scopes: [attention]
  batch: 2
"""


def test_explain_shows_the_groups_and_explore_prices_them(tmp_path, capsys):
    """A design with kv_heads: explain prints the group loop, explore's GQA row moves less
    DRAM traffic than the MHA cascade's at about the same latency (compute-bound)."""
    import csv

    from attnforge.cli import main

    design = tmp_path / "gqa.yaml"
    design.write_text(DESIGN)
    with pytest.raises(SystemExit) as info:
        main(["explain", str(design), "--config", "gqa"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert "for b, g in batch × K/V heads   (each shared by 4 query heads)" in out
    assert "heads 32 (K/V shared by groups of 4)" in out
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial",
              "--quiet"])
    _, err = capsys.readouterr()
    assert info.value.code == 0, err
    with (tmp_path / "o" / "results.csv").open() as handle:
        rows = {r["config"]: r for r in csv.DictReader(handle)}
    assert float(rows["gqa"]["traffic_bytes"]) < float(rows["mha"]["traffic_bytes"])
    assert float(rows["gqa"]["latency_s"]) == pytest.approx(float(rows["mha"]["latency_s"]),
                                                            rel=0.01)
