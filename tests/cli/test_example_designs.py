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


def test_flat_causal_is_bound_by_its_1d_softmax_on_the_tiles_the_mask_leaves(rows):
    # FLAT on attention-3pass-causal: per 128 x 128 tile a 1D PE (one per query row) walks
    # the tile's 128 keys in each of GM (max), SN (exp unit), SD (add) and A (divide): 4 x 128
    # cycles, twice the 2D array's Q·K (E = 128) + A·V (F = 128) streams: 2D busy half the time
    tiles = causal_tiles(P // ARRAY)
    bound = H * tiles * 4 * ARRAY / CLOCK_HZ
    r = rows["flat_causal", "attention"]
    assert bound <= float(r["latency_s"]) <= 1.001 * bound
    assert float(r["util_2d"]) == pytest.approx(0.5, rel=1e-3)
    # every pass skips the same tiles: the unmasked 3-pass runs all 256^2 of them
    assert float(rows["flat", "attention"]["latency_s"]) == pytest.approx(
        H * (P // ARRAY) ** 2 * 4 * ARRAY / CLOCK_HZ, rel=1e-3)


def test_flat_causal_traffic_by_hand(rows):
    # 8 MiB = 4 Mi words. A query row holds Q and AV (128 + 128 words) and, across each pass
    # boundary, its M fiber (QK, then SN): K and V tiles (128 x 128) double-buffered take
    # 65,536 words. Even one p-tile of 128 rows with its full fiber (128 x 33,024 + 65,536)
    # does not fit, so blocks are single p-tiles, with room 4 Mi - 128 x 256 - 65,536 =
    # 4,096,000 words for held fibers. Causal p-tile i holds the keys of its tiles 0..i:
    # 128 x 128 (i + 1) words, over the room for i + 1 = 251..256 by 16,384 x 1..6 words.
    words = 4 * 2**20
    room = words - 128 * 256 - 65536
    assert 128 * (256 + P) + 65536 > words and room == 4_096_000
    spilled = sum(max(0, 16384 * (i + 1) - room) for i in range(256))
    assert spilled == 16384 * 21
    # per query head (FLAT reads K/V per query head: no GQA 3-pass cascade): Q read and AV
    # written once; K (pass 1) and V (pass 3) tiles 0..i for p-tile i; QK and SN spills each
    # written once and read back once
    kv = 16384 * causal_tiles(256)
    per_head = 2 * P * D + 2 * kv + 4 * spilled
    assert int(rows["flat_causal", "attention"]["traffic_bytes"]) == WORD * H * per_head


def test_the_summary_pairs_flat_causal_as_the_same_work(tmp_path, capsys):
    # QK where m <= p (3-pass) and BQK where m <= p (1-pass) admit the same (query, key) pairs
    with pytest.raises(SystemExit) as info:
        main(["explore", str(EXAMPLE), "--out", str(tmp_path / "o"), "--backend", "serial"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "flat_causal" in lines and "flat*" in lines and "fusemax_unmasked*" in lines
    note = next(line for line in out.splitlines() if line.startswith("* different work:"))
    assert "flat no mask" in note and "flat_causal" not in note


def _docs_table() -> dict[str, tuple[str, str]]:
    """docs/explore.md's worked-example table: baseline -> (attention cell, end-to-end cell)."""
    text = (Path(__file__).parents[2] / "docs" / "explore.md").read_text(encoding="utf-8")
    section = text.split("## A worked example", 1)[1].split("\n## ", 1)[0]
    cells = {}
    for line in section.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if len(parts) == 3 and "×" in parts[1]:
            cells[parts[0].split()[0]] = (parts[1], parts[2])
    return cells


@pytest.mark.parametrize("baseline", ["flat", "flat_causal", "fusemax_unmasked"])
def test_the_docs_table_quotes_todays_ratios(rows, baseline):
    # speedup = baseline latency / fusemax latency, energy = fusemax energy / baseline energy
    quoted = dict(zip(("attention", "end_to_end"), _docs_table()[baseline], strict=True))
    for scope, cell in quoted.items():
        ours, theirs = rows["fusemax", scope], rows[baseline, scope]
        speedup = float(theirs["latency_s"]) / float(ours["latency_s"])
        energy = float(ours["energy_j"]) / float(theirs["energy_j"])
        assert cell == f"{speedup:.2f}× / {100 * energy:.1f}%", (baseline, scope)
