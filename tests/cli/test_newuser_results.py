"""Result files of an exploration whose numbers outgrow a 64-bit integer (a batch of 10^8 at
256K tokens moves more than 2^63 bytes): every file is written, the CSV exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from attnforge.cli import main
from attnforge.results import write_parquet

DESIGNS = Path(__file__).parents[2] / "designs"
INT64_MAX = 2**63 - 1


def test_parquet_column_with_an_integer_beyond_int64(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    big = 10**25  # exact in the CSV; Parquet has no integer type for it
    rows = [{"traffic_bytes": 3}, {"traffic_bytes": big}, {"traffic_bytes": ""}]
    frame = pandas.read_parquet(write_parquet(rows, tmp_path / "r.parquet"))
    values = frame["traffic_bytes"].tolist()
    assert values[:2] == [3.0, float(big)] and values[2] != values[2]  # NaN for the empty cell


def test_explore_with_a_huge_batch_writes_every_file(tmp_path: Path, capsys) -> None:
    design = tmp_path / "batch.yaml"
    design.write_text((DESIGNS / "fusemax-pareto.yaml").read_text()
                      .replace("batch: 64", "batch: 100000000"))
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial",
              "--quiet"])
    _, err = capsys.readouterr()
    assert info.value.code == 0, err
    with (tmp_path / "o" / "results.csv").open() as handle:
        traffic = [int(row["traffic_bytes"]) for row in csv.DictReader(handle)]
    assert max(traffic) > INT64_MAX  # the case this test is about
    for name in ("pareto.png", "report.html"):
        assert (tmp_path / "o" / name).is_file()
