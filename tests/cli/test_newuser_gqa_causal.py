"""A 70B-class decoder has grouped-query attention and a causal mask together; a design file
could name only one of them (attention-1pass-gqa or attention-1pass-causal)."""

from __future__ import annotations

import csv

import pytest

from attnforge.cli import main

H, G, E, P, BATCH, WORD = 8, 2, 64, 1024, 1, 2
DESIGN = f"""\
version: 1
kind: accelerator
name: decoder
architectures:
  a:
    buffer: {{buffer_bytes: 4194304}}
    array_2d: {{rows: 64, cols: 64}}
    array_1d: {{pes: 64}}
configs:
  causal: {{cascade: attention-1pass-causal, architecture: a}}
  gqa: {{cascade: attention-1pass-gqa, architecture: a}}
  gqa_causal: {{cascade: attention-1pass-gqa-causal, architecture: a}}
models:
  m: {{d_model: {H * E}, heads: {H}, head_dim: {E}, ffn: 2048, kv_heads: {G}}}
sweep:
  models: [m]
  seq_lens: [{P}]
  configs: [causal, gqa, gqa_causal]
  scopes: [attention]
  batch: {BATCH}
"""


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("gqa_causal")
    (tmp / "d.yaml").write_text(DESIGN)
    with pytest.raises(SystemExit) as info:
        main(["explore", str(tmp / "d.yaml"), "--out", str(tmp / "o"), "--backend", "serial",
              "--quiet"])
    assert info.value.code == 0
    with (tmp / "o" / "results.csv").open() as handle:
        return {row["config"]: row for row in csv.DictReader(handle)}


def test_gqa_with_a_causal_mask_reads_k_and_v_once_per_group(rows):
    # 4 MiB holds every row of a group's 4 heads: Q and AV move once per query head, K and V
    # (all M keys: the last query tile needs them all) once per K/V head
    query_heads = BATCH * H * P * (E + E)
    assert int(rows["gqa_causal"]["traffic_bytes"]) == WORD * (query_heads + BATCH * G * P * 2 * E)
    assert int(rows["causal"]["traffic_bytes"]) == WORD * (query_heads + BATCH * H * P * 2 * E)


def test_gqa_with_a_causal_mask_computes_what_the_causal_mask_leaves(rows):
    # the same admitted score tiles of the same H heads: the arithmetic and time of `causal`
    assert float(rows["gqa_causal"]["latency_s"]) == pytest.approx(
        float(rows["causal"]["latency_s"]), rel=1e-9)
    assert float(rows["gqa_causal"]["latency_s"]) < 0.6 * float(rows["gqa"]["latency_s"])
