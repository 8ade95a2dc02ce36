"""The headline summary `attnforge explore` prints and the units of `attnforge explain`.

Summary: ratios pair points on what the user swept (model, seq_len, scope, a swept square array
size, one grid variant at a time), never on a field each architecture sets for itself; a
baseline that cannot be paired is named; a ratio between configs whose cascades apply different
masks is marked. Explain: each count says whether it is per query head or per group of S query
heads, and K/V sharing is printed only for a cascade that shares K/V. Expected values are
recomputed from results.csv rows or by algebra, never read off the summary's own code.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from attnforge.cli import main
from attnforge.specload import load_spec
from mapper import evaluate as ev
from mapper import summary
from mapper.spec import Design

DESIGNS = Path(__file__).parents[2] / "designs"
BASELINES = ("unfused", "flat", "cascade", "architecture")
LENGTHS = (1024, 4096)


def _small_paper(grid: bool) -> str:
    """designs/fusemax-paper.yaml on bert at two lengths, attention only; with ``grid``, a
    one-variant grid resizing FuseMax's arrays to 128 (FLAT's stay 256)."""
    text = (DESIGNS / "fusemax-paper.yaml").read_text()
    for old, new in (("models: [bert, trxl, t5, xlm]", "models: [bert]"),
                     ("seq_lens: [1024, 4096, 16384, 65536, 262144, 1048576]",
                      f"seq_lens: [{', '.join(map(str, LENGTHS))}]"),
                     ("scopes: [attention, end_to_end]", "scopes: [attention]")):
        assert old in text
        text = text.replace(old, new)
    if grid:
        text += ("grid:\n  architectures.fusemax.array_2d.rows, architectures.fusemax.array_2d.cols"
                 ", architectures.fusemax.array_1d.pes: [[128, 128, 128]]\n")
    return text


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory) -> tuple[str, list[dict[str, object]]]:
    from attnforge.backends import BackendChoice
    from attnforge.explorer import explore

    root = tmp_path_factory.mktemp("grid")
    (root / "d.yaml").write_text(_small_paper(grid=True))
    outcome = explore(root / "d.yaml", root / "o", BackendChoice("serial"))
    with (root / "o" / "results.csv").open() as handle:
        return outcome.summary, list(csv.DictReader(handle))


def test_grid_summary_lists_every_baseline_with_ratios_from_the_rows(grid_run):
    # The rows' array_dim is each architecture's own row count (128 for FuseMax's, 256 for
    # FLAT's): pairing on it dropped unfused, flat and cascade without a word.
    out, rows = grid_run
    assert {r["array_dim"] for r in rows} == {"128", "256"}  # the field that broke the pairing
    by = {(r["config"], int(r["seq_len"])): r for r in rows}
    assert "reference: fusemax" in out, out
    for baseline in BASELINES:
        speedup = sum(float(by[baseline, n]["latency_s"]) / float(by["fusemax", n]["latency_s"])
                      for n in LENGTHS) / len(LENGTHS)
        energy = sum(float(by["fusemax", n]["energy_j"]) / float(by[baseline, n]["energy_j"])
                     for n in LENGTHS) / len(LENGTHS)
        line = [x for x in out.splitlines() if x.split()[:2] == [baseline, "attention"]]
        assert len(line) == 1, out
        assert f"{speedup:.2f}x" in line[0] and f"{100 * energy:.1f}%" in line[0], line[0]


def test_a_baseline_without_a_matching_point_is_named():
    design = load_spec(DESIGNS / "fusemax-paper.yaml", Design)
    rows = [{"model": "bert", "seq_len": n, "config": c, "scope": "attention",
             "array_dim": 256, "latency_s": t, "energy_j": e}
            for c, n, t, e in (("fusemax", 1024, 1.0, 1.0), ("flat", 1024, 4.0, 2.0),
                               ("unfused", 4096, 9.0, 3.0))]
    text = summary.headline_table(design, rows)
    assert re.search(r"^flat +attention +4\.00x .* 50\.0%", text, re.M), text
    note = [x for x in text.splitlines() if "unfused" in x]
    assert len(note) == 1 and "not compared" in note[0] and "no point" in note[0], text
    assert "model, seq_len, scope" in note[0], text


def test_ratios_between_masked_and_unmasked_cascades_are_marked():
    design = load_spec(DESIGNS / "example-llama70b-gqa-causal.yaml", Design)
    points = [p for p in ev.points(design) if p.scope == "attention"]
    rows = [ev.row(design, p) for p in points]
    text = summary.headline_table(design, rows)
    lines = {x.split()[0]: x for x in text.splitlines() if x.split()}
    for baseline in ("flat", "fusemax_unmasked"):  # no mask: the reference skips ~half the tiles
        assert f"{baseline}*" in lines, text
    assert "flat_causal" in lines  # the causal 3-pass admits the same pairs: unmarked
    note = [x for x in text.splitlines() if x.startswith("*")]
    assert len(note) == 1 and "m <= p" in note[0] and "flat" in note[0], text
    assert "fusemax_unmasked" in note[0], text


# ----------------------------------------------------------------------------- explain

H, KV, S, D, P, ARRAY = 4, 2, 2, 64, 1024, 128  # S = H / KV query heads per K/V head


def _explain_design(tmp_path: Path) -> Path:
    text = (DESIGNS / "example-llama70b-gqa-causal.yaml").read_text()
    for old, new in (
            ("llama70b: {d_model: 8192, heads: 64, head_dim: 128, ffn: 28672, kv_heads: 8}",
             f"llama70b: {{d_model: {H * D}, heads: {H}, head_dim: {D}, ffn: 1024, "
             f"kv_heads: {KV}}}"),
            ("seq_lens: [32768]", f"seq_lens: [{P}]"),
            ("  fusemax:          {cascade: attention-1pass-gqa-causal, architecture: fusemax}",
             "  fusemax:          {cascade: attention-1pass-gqa-causal, architecture: fusemax}\n"
             "  gqa:              {cascade: attention-1pass-gqa, architecture: fusemax}"),
            ("configs: [flat, flat_causal, fusemax_unmasked, fusemax]",
             "configs: [flat, flat_causal, fusemax_unmasked, fusemax, gqa]")):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "e.yaml"
    path.write_text(text)
    return path


def _explain(path: Path, config: str, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(["explain", str(path), "--config", config])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    return out


def _binding(text: str, name: str) -> tuple[int, str]:
    found = re.search(rf"^  {name} .* (\d+) points (per [^(]*?) +\(", text, re.M)
    assert found, text
    return int(found.group(1)), found.group(2)


def _cycles_2d(text: str) -> tuple[str, int]:
    found = re.search(r"^  (per [^:]*): 2D (\d+) cycles", text, re.M)
    assert found, text
    return found.group(1), int(found.group(2))


def test_explain_counts_a_gqa_config_per_group_and_a_multi_head_one_per_head(tmp_path, capsys):
    path = _explain_design(tmp_path)
    gqa, mha = _explain(path, "gqa", capsys), _explain(path, "fusemax_unmasked", capsys)
    group = f"per group of {S} query heads"
    assert f"K/V shared by groups of {S}" in gqa
    assert "K/V shared" not in mha  # the model has GQA, but this cascade reads K/V per head
    # Q·K runs E MACs at every (s, p, m) of its instance: S heads of P × M, or one head's
    assert _binding(gqa, "BQK") == (S * P * P * D, group)
    assert _binding(mha, "BQK") == (P * P * D, "per head")
    assert _binding(gqa, "AV") == (S * P * D, group)  # one output row of F per query, per head
    assert _binding(mha, "AV") == (P * D, "per head")
    unit_g, cycles_g = _cycles_2d(gqa)
    unit_m, cycles_m = _cycles_2d(mha)
    assert (unit_g, unit_m) == (group, "per head")
    assert cycles_g == S * cycles_m  # the same arrays compute S heads' tiles in turn
    assert f"buffer traffic {group}:" in gqa and "buffer traffic per head:" in mha


def test_explain_prints_no_sharing_for_flat(tmp_path, capsys):
    out = _explain(_explain_design(tmp_path), "flat", capsys)
    assert "K/V shared" not in out and "shared by" not in out, out
    assert _binding(out, "QK") == (P * P * D, "per head")
