"""What `attnforge explore` prints for a user's own accelerator design: its points' numbers,
even without FuseMax's configurations or a square-array sweep (it printed only
"mine: 1 points")."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from attnforge.cli import main

DESIGN = """\
version: 1
kind: accelerator
name: mine
architectures:
  a: {}
configs:
  one: {cascade: attention-1pass, architecture: a, fused: true}
  three: {cascade: attention-3pass, architecture: a, fused: false}
models:
  m: {d_model: 768, heads: 12, head_dim: 64, ffn: 3072}
sweep:
  models: [m]
  seq_lens: [1024]
  configs: [CONFIGS]
  scopes: [attention]
"""


def explore(tmp_path: Path, capsys, configs: str) -> tuple[str, list[dict[str, str]]]:
    design = tmp_path / "mine.yaml"
    design.write_text(DESIGN.replace("CONFIGS", configs))
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial",
              "--quiet"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    with (tmp_path / "o" / "results.csv").open() as handle:
        return out, list(csv.DictReader(handle))


@pytest.mark.parametrize("configs", ["one", "one, three"])
def test_summary_lists_each_points_latency_and_energy(configs, tmp_path, capsys):
    out, rows = explore(tmp_path, capsys, configs)
    lines = out.splitlines()
    assert lines[0] == f"mine: {len(rows)} point{'s' * (len(rows) > 1)}"
    for row in rows:
        shown = [line for line in lines if f" {row['config']} " in f" {line} "]
        assert len(shown) == 1, out
        assert f"{float(row['latency_s']):.4g}" in shown[0], shown[0]
        assert f"{float(row['energy_j']):.4g}" in shown[0], shown[0]


def test_one_point_is_not_points(tmp_path, capsys):
    out, _ = explore(tmp_path, capsys, "one")
    assert "1 points" not in out and "(1 point: 1 evaluated" in out, out
