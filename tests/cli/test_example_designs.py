"""The shipped worked example, designs/example-llama70b-gqa-causal.yaml (docs/explore.md): it
explores, and its numbers keep the bounds algebra gives them and the answer the docs read off."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from attnforge.cli import main

EXAMPLE = Path(__file__).parents[2] / "designs" / "example-llama70b-gqa-causal.yaml"
H, G, D, P = 64, 8, 128, 32768  # query heads, K/V heads, head dim, tokens (batch 1)
ARRAY, CLOCK_HZ, WORD = 128, 940e6, 2


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[tuple[str, str], dict[str, str]]:
    out = tmp_path_factory.mktemp("example") / "o"
    with pytest.raises(SystemExit) as info:
        main(["explore", str(EXAMPLE), "--out", str(out), "--backend", "serial", "--quiet"])
    assert info.value.code == 0
    with (out / "results.csv").open() as handle:
        return {(r["config"], r["scope"]): r for r in csv.DictReader(handle)}


def causal_tiles(side: int) -> int:
    """Score tiles on or below the diagonal of a side x side grid: the ones a causal mask runs."""
    return side * (side + 1) // 2


def test_fusemax_runs_close_to_the_mac_bound_of_the_tiles_the_mask_leaves(rows):
    tiles = causal_tiles(P // ARRAY)  # 32,896 of 65,536 per head
    macs = H * tiles * ARRAY * ARRAY * 2 * D  # Q·K and A·V over every point of those tiles
    bound = macs / (ARRAY * ARRAY) / CLOCK_HZ
    latency = float(rows["fusemax", "attention"]["latency_s"])
    assert bound <= latency <= 1.1 * bound


def test_fusemax_traffic_is_q_and_av_once_and_kv_as_far_as_each_block_of_rows_reaches(
        rows, capsys):
    # a block of rows (all S heads of a group) streams the K/V tiles up to its last row; with
    # n equal blocks of P / n rows, block j (1..n) reads j/n of the keys: (n + 1) / 2 K/V
    # passes per group in all. n is the mapper's choice (the largest block that fits the
    # buffer): explain prints it
    with pytest.raises(SystemExit):
        main(["explain", str(EXAMPLE), "--config", "fusemax"])
    text = capsys.readouterr().out
    found = re.search(r"for p2 in (\d+) blocks of (\d+) query rows of (\d+) heads", text)
    assert found, text
    blocks, block_rows, heads = map(int, found.groups())
    assert blocks * block_rows == P and heads == H // G
    kv_passes = (blocks + 1) / 2
    expected = WORD * (H * P * 2 * D + G * kv_passes * P * 2 * D)
    assert int(rows["fusemax", "attention"]["traffic_bytes"]) == expected
    assert expected < int(rows["fusemax_unmasked", "attention"]["traffic_bytes"])


@pytest.mark.parametrize("scope", ["attention", "end_to_end"])
@pytest.mark.parametrize("baseline", ["flat", "flat_causal", "fusemax_unmasked"])
def test_the_answer_fusemax_stays_faster_and_cheaper(rows, baseline, scope):
    ours, theirs = rows["fusemax", scope], rows[baseline, scope]
    assert float(ours["latency_s"]) < float(theirs["latency_s"])
    assert float(ours["energy_j"]) < float(theirs["energy_j"])
