"""The explorer: grids over any design field, a resumable store, identical results on every
backend, and a run killed with SIGKILL that resumes to exactly the uninterrupted result."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from attnforge.backends import BackendChoice
from attnforge.explorer import STORE_NAME, explore, plan
from attnforge.kinds import get_kind
from attnforge.specload import SpecError

PAPER = Path(__file__).parents[2] / "designs" / "fusemax-paper.yaml"
ROWS = "architectures.fusemax.array_2d.rows"


def design_with(tmp_path: Path, grid: str, name: str = "d.yaml") -> Path:
    """The shipped paper design with a `grid:` section appended."""
    path = tmp_path / name
    path.write_text(PAPER.read_text() + "\ngrid:\n" + grid)
    return path


SMALL = "  sweep.seq_lens: [[1024, 65536]]\n  sweep.models: [[bert], [xlm]]\n"


def test_grid_points_are_the_product_and_match_direct_evaluation(tmp_path):
    path = design_with(tmp_path, SMALL + "  architectures.fusemax.clock_mhz: [500, 940]\n")
    the_plan = plan(path)
    kind = get_kind("accelerator")
    base_points = kind.points(kind.load(PAPER))
    per_variant = len(base_points) // 6 // 4 * 2  # 2 of 6 lengths, 1 of 4 models
    assert len(the_plan.points) == 2 * 2 * per_variant
    outcome = explore(path, tmp_path / "out", BackendChoice("serial"))
    # independent: apply the override by hand and evaluate with the kind directly
    design = kind.load(PAPER)
    fusemax = dataclasses.replace(design.architectures["fusemax"], clock_mhz=500.0)
    slow = dataclasses.replace(
        design, architectures={**design.architectures, "fusemax": fusemax},
        sweep=dataclasses.replace(design.sweep, seq_lens=(1024, 65536), models=("bert",)))
    expected = [kind.evaluate(slow, p) for p in kind.points(slow)]
    got = [r for r in outcome.rows if r["architectures.fusemax.clock_mhz"] == 500.0
           and r["sweep.models"] == ["bert"]]
    assert [{k: r[k] for k in e} for r, e in zip(got, expected, strict=True)] == expected


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("  architectures.fusemax.array_2d.rowz: [1]\n", "unknown field 'rowz'"),
        ("  architectures.fusemax.array_2d.rows: [a]\n", "must be an integer, not 'a'"),
        ("  architectures.fusemax.array_2d.rows: [0]\n", "must be at least 1, not 0"),
        ("  architectures.fusemax.array_2d.rows: []\n", "must be a non-empty list"),
        ("  architectures.fusmax.clock_mhz: [1.0]\n", "no entry 'fusmax'"),
        (f"  {ROWS}, architectures.fusemax.array_2d.cols: [[64]]\n", "must be a list of 2 values"),
    ],
)
def test_bad_grids_are_reported_at_their_position(tmp_path, grid, message):
    path = design_with(tmp_path, grid)
    grid_line = PAPER.read_text().count("\n") + 3
    with pytest.raises(SpecError) as caught:
        plan(path)
    text = str(caught.value)
    assert message in text
    assert f"{path}:{grid_line}:" in text


def test_resume_evaluates_nothing_twice(tmp_path):
    path = design_with(tmp_path, SMALL)
    first = explore(path, tmp_path / "out", BackendChoice("serial"))
    again = explore(path, tmp_path / "out", BackendChoice("process", 2))
    assert (first.evaluated, first.reused) == (len(first.rows), 0)
    assert (again.evaluated, again.reused) == (0, len(first.rows))
    assert again.rows == first.rows


def _csv(out: Path) -> bytes:
    return (out / "results.csv").read_bytes()


def test_process_pool_and_dask_give_identical_results(tmp_path):
    path = design_with(tmp_path, SMALL)
    explore(path, tmp_path / "serial", BackendChoice("serial"))
    explore(path, tmp_path / "pool", BackendChoice("process", 2))
    explore(path, tmp_path / "dask", BackendChoice("dask", 2))
    assert _csv(tmp_path / "pool") == _csv(tmp_path / "serial")
    assert _csv(tmp_path / "dask") == _csv(tmp_path / "serial")


def _stored(store: Path) -> int:
    try:
        with sqlite3.connect(store, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    grid = "  architectures.fusemax.clock_mhz: [500, 600, 700, 800, 900, 940, 1000, 1100]\n"
    path = design_with(tmp_path, grid + "  architectures.flat.clock_mhz: [500, 940]\n")
    total = len(plan(path).points)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "attnforge", "explore", str(path), "--out", str(out),
               "--quiet", "--backend", "serial"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _stored(out / STORE_NAME) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    kept = _stored(out / STORE_NAME)
    assert 0 < kept < total, "the kill must land mid-run"
    assert not (out / "results.csv").exists()
    resumed = explore(path, out, BackendChoice("process", 2))
    assert (resumed.evaluated, resumed.reused) == (total - kept, kept)
    assert _stored(out / STORE_NAME) == total  # every point exactly once (key is primary)
    explore(path, tmp_path / "clean", BackendChoice("serial"))
    assert _csv(out) == _csv(tmp_path / "clean")


def small_search_design(tmp_path: Path, search: str, name: str = "s.yaml") -> Path:
    """The shipped paper design cut to 4 points per variant, with a `search:` section."""
    tree = yaml.safe_load(PAPER.read_text())
    tree["sweep"].update(seq_lens=[1024], models=["bert"], configs=["flat", "fusemax"])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tree, sort_keys=False) + "search:\n" + search)
    return path


SEARCH = """\
  method: nsga2
  trials: 12
  batch: 4
  seed: 3
  space:
    architectures.fusemax.array_2d.rows, architectures.fusemax.array_1d.pes:
      {choices: [[64, 64], [128, 128], [256, 256]]}
    architectures.fusemax.clock_mhz: {low: 500, high: 1000}
"""


def test_search_is_seeded_resumable_and_stored(tmp_path):
    path = small_search_design(tmp_path, SEARCH)
    first = explore(path, tmp_path / "a", BackendChoice("serial"))
    explore(path, tmp_path / "b", BackendChoice("process", 2))
    assert _csv(tmp_path / "a") == _csv(tmp_path / "b")
    variants = {(r["architectures.fusemax.array_2d.rows"], r["architectures.fusemax.clock_mhz"])
                for r in first.rows}
    assert len(first.rows) == 4 * len(variants) and 1 < len(variants) <= 12
    assert all(500 <= clock <= 1000 and rows in (64, 128, 256) for rows, clock in variants)
    resumed = explore(path, tmp_path / "a", BackendChoice("serial"))
    assert (resumed.evaluated, resumed.reused) == (0, len(first.rows))


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (SEARCH.replace("clock_mhz: {low", "clock_mhx: {low"), "unknown field 'clock_mhx'"),
        (SEARCH.replace("{low: 500, high: 1000}", "{choices: [500, big]}"),
         "choice 'big' does not suit"),
        (SEARCH.replace("[128, 128]", "[128]"), "must be a list of 2 values"),
        (SEARCH.replace("[128, 128]", "[128, 0]"), "must be at least 1, not 0"),
        (SEARCH.replace("{choices: [[64", "{low: 1, choices: [[64"), "take only {choices:"),
        (SEARCH.replace("seed: 3", "seed: x"), "search.seed: must be an integer"),
        (SEARCH.replace("method: nsga2", "method: nsga3"), "did you mean 'nsga2'"),
        (SEARCH.replace("{low: 500, high: 1000}", "{low: 1000, high: 500}"), "must not exceed"),
        ("  space: {name: {low: 1, high: 2}}\n", "needs a numeric field"),
    ],
)
def test_bad_searches_are_reported(tmp_path, search, message):
    path = small_search_design(tmp_path, search)
    with pytest.raises(SpecError, match=message):
        explore(path, tmp_path / "out", BackendChoice("serial"))
    assert not (tmp_path / "out" / "results.csv").exists()


def test_grid_and_search_together_is_an_error(tmp_path):
    path = small_search_design(tmp_path, SEARCH)
    path.write_text(path.read_text() + "grid:\n  architectures.fusemax.clock_mhz: [500]\n")
    with pytest.raises(SpecError, match="either grid or search"):
        explore(path, tmp_path / "out", BackendChoice("serial"))


def test_parquet_export_and_dataframe_equal_the_csv(tmp_path):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from attnforge.explorer import results_frame

    path = design_with(tmp_path, SMALL)
    explore(path, tmp_path / "out", BackendChoice("serial"))
    from_csv = pandas.read_csv(tmp_path / "out" / "results.csv")
    from_parquet = pandas.read_parquet(tmp_path / "out" / "results.parquet")
    assert list(from_parquet.columns) == list(from_csv.columns)
    numeric = from_csv.select_dtypes("number").columns
    pandas.testing.assert_frame_equal(from_parquet[numeric], from_csv[numeric], check_dtype=False)
    assert results_frame(tmp_path / "out").equals(from_csv)


@pytest.mark.parametrize(("backend", "to_group"), [("serial", True), ("process", True),
                                                   ("process", False), ("dask", True),
                                                   ("dask", False)])
def test_ctrl_c_stops_cleanly_with_finished_points_saved(tmp_path, backend, to_group):
    # to_group: a terminal's Ctrl-C reaches the command and its workers; otherwise only the
    # command is signalled (`kill -INT`) and must stop its workers itself
    grid = "  architectures.fusemax.clock_mhz: [500, 600, 700, 800, 900, 940, 1000, 1100]\n"
    path = design_with(tmp_path, grid + "  architectures.flat.clock_mhz: [500, 940]\n")
    total = len(plan(path).points)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "attnforge", "explore", str(path), "--out", str(out),
               "--quiet", "--backend", backend] + (["--workers", "2"] if backend != "serial" else [])
    # a new process group, as a terminal's Ctrl-C reaches the command and its workers
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while _stored(out / STORE_NAME) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    (os.killpg if to_group else os.kill)(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    kept = _stored(out / STORE_NAME)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "rerun the same command to resume" in err
    assert "WARNING" not in err  # a local Dask cluster's workers logged their interruption
    assert 0 < kept < total
    resumed = explore(path, out, BackendChoice("serial"))
    assert (resumed.evaluated, resumed.reused) == (total - kept, kept)


def test_a_search_says_how_many_distinct_variants_its_trials_asked_for(tmp_path):
    # 6 trials over 3 choices must repeat; the repeats were dropped without a word.
    design = yaml.safe_load((Path(__file__).parents[2] / "designs"
                             / "edge-moe-zcu102.yaml").read_text())
    del design["sweep"]
    design["configs"] = {"final": {}}
    design["search"] = {"method": "random", "trials": 6, "seed": 0,
                        "space": {"units.attn_p": {"choices": [1, 2, 4]}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(design))
    outcome = explore(path, tmp_path / "out", BackendChoice("serial"))
    distinct = len({row["attn_p"] for row in outcome.rows})
    assert outcome.search_note.startswith(f"search: 6 trials, {distinct} distinct design variant")
    assert distinct < 6 and outcome.search_note.endswith("a repeated trial is evaluated once")
