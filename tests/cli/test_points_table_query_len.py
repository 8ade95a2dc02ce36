"""The plain points table (a design with no config named fusemax) shows ``query_len`` beside
``seq_len`` when the sweep sets ``query_lens``, so decode points with different P are told apart;
without ``query_lens`` it has no such column."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from attnforge.cli import main

PAPER = Path(__file__).parents[2] / "designs" / "fusemax-paper.yaml"
OLD_SWEEP = ("  models: [bert, trxl, t5, xlm]\n  seq_lens: [1024, 4096, 16384, 65536, 262144, "
             "1048576]\n  configs: [unfused, flat, cascade, architecture, fusemax]\n"
             "  scopes: [attention, end_to_end]\n")
M = 4096
QUERY_LENS = (1, 1024)  # a decode step, memory-bound, and a block of 1,024 queries: their
# latencies differ, so a line showing another point's latency fails


def design_text(query_lens: tuple[int, ...] | None) -> str:
    """The paper design on bert at M keys, config flat only (no fusemax: the plain table)."""
    text = PAPER.read_text()
    assert OLD_SWEEP in text
    sweep = (f"  models: [bert]\n  seq_lens: [{M}]\n"
             + (f"  query_lens: {list(query_lens)}\n" if query_lens else "")
             + "  configs: [flat]\n  scopes: [attention]\n")
    return text.replace(OLD_SWEEP, sweep)


def explore(tmp_path: Path, capsys, query_lens) -> tuple[list[str], list[dict[str, str]]]:
    """(printed lines, results.csv rows)."""
    design = tmp_path / "decode.yaml"
    design.write_text(design_text(query_lens))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        main(["explore", str(design), "--out", str(out), "--backend", "serial"])
    assert exited.value.code == 0
    with open(out / "results.csv", newline="") as f:
        return capsys.readouterr().out.splitlines(), list(csv.DictReader(f))


def table(lines: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The points table's header words and each point line's cells by header word."""
    at = next(i for i, line in enumerate(lines) if line.startswith("model "))
    head = lines[at].split()
    body = []
    for line in lines[at + 1:]:
        if not line.startswith("bert "):
            break
        body.append(dict(zip(head, line.split(), strict=True)))
    return head, body


def test_each_line_shows_its_own_query_length_and_latency(tmp_path, capsys):
    lines, rows = explore(tmp_path, capsys, QUERY_LENS)
    head, body = table(lines)
    assert head[:3] == ["model", "seq_len", "query_len"]
    assert [(cells["seq_len"], cells["query_len"]) for cells in body] == [
        (str(M), str(p)) for p in QUERY_LENS]
    latency = {int(r["query_len"]): float(r["latency_s"]) for r in rows}
    assert sorted(latency) == list(QUERY_LENS) and latency[1] != latency[1024]
    for cells in body:
        assert float(cells["latency_s"]) == pytest.approx(latency[int(cells["query_len"])],
                                                          rel=1e-3)


def test_without_query_lens_the_table_has_no_query_len_column(tmp_path, capsys):
    lines, rows = explore(tmp_path, capsys, None)
    head, body = table(lines)
    assert "query_len" not in rows[0]
    assert head[:3] == ["model", "seq_len", "config"]
    assert len(body) == 1 and body[0]["seq_len"] == str(M)
