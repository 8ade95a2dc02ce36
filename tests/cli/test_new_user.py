"""Regressions found by trying the command line as a new user: each bad input gets one
`attnforge: error:` line naming the file or argument, exit code 2, no traceback, no output."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas
import pytest

from attnforge.results import write_parquet

DESIGNS = Path(__file__).parents[2] / "designs"
PARETO = DESIGNS / "fusemax-pareto.yaml"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`attnforge ARGS` in a subprocess (stdin closed, as in a script)."""
    return subprocess.run([sys.executable, "-m", "attnforge", *args], cwd=cwd, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=120)


def assert_one_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, one `attnforge: error:` line on stderr containing every fragment."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnforge: error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("content", [b"", b"hello, not numpy\n"])
def test_cascade_run_on_a_file_that_is_not_npz(tmp_path: Path, content: bytes) -> None:
    # An empty file used to raise EOFError, which click turns into "interrupted", exit 130.
    source = tmp_path / "qkv.npz"
    source.write_bytes(content)
    result = run_cli("cascade", "attention-1pass", "--run", source.name, "--out", "av.npz",
                     cwd=tmp_path)
    assert_one_error(result, source.name, ".npz")
    assert not (tmp_path / "av.npz").exists()


@pytest.mark.parametrize("out", ["design.yaml/sub", "missing/../design.yaml/x"])
def test_explore_out_under_a_file(tmp_path: Path, out: str) -> None:
    design = tmp_path / "design.yaml"
    design.write_text(PARETO.read_text())
    result = run_cli("explore", design.name, "--out", out, "--backend", "serial", cwd=tmp_path)
    assert_one_error(result, f"--out {out}")


def test_explore_scheduler_needs_dask(tmp_path: Path) -> None:
    # A --scheduler given with another backend used to be ignored silently.
    result = run_cli("explore", str(PARETO), "--out", "o", "--backend", "serial",
                     "--scheduler", "tcp://127.0.0.1:1", cwd=tmp_path)
    assert_one_error(result, "--scheduler", "--backend serial")
    assert not (tmp_path / "o").exists()


def test_explore_bad_design_writes_nothing_to_stdout(tmp_path: Path) -> None:
    # The progress bar used to print a blank line on stdout before the error.
    design = tmp_path / "dup.yaml"
    design.write_text("version: 1\nkind: accelerator\nname: a\nname: b\n")
    result = run_cli("explore", design.name, "--out", "o", cwd=tmp_path)
    assert_one_error(result, f"{design.name}:4:1", "name")
    assert result.stdout == ""


def test_explain_negative_array_dim(tmp_path: Path) -> None:
    # A negative --array-dim used to hang the mapper.
    result = run_cli("explain", str(PARETO), "--array-dim", "-3", cwd=tmp_path)
    assert_one_error(result, "--array-dim", "-3")


def test_parquet_column_of_numbers_with_empty_cells(tmp_path: Path) -> None:
    # The FPGA kind leaves paper_latency_ms '' where the paper gives no value; pyarrow used to
    # fail on the mixed column and lose the exploration's report.
    rows = [{"name": "a", "paper_latency_ms": 1.5, "fits": True},
            {"name": "b", "paper_latency_ms": "", "fits": False},
            {"name": 3, "paper_latency_ms": 2}]
    path = write_parquet(rows, tmp_path / "r.parquet")
    if path is None:
        pytest.skip("pyarrow not installed")
    frame = pandas.read_parquet(path)
    latency = frame["paper_latency_ms"].to_numpy(dtype=float)
    np.testing.assert_array_equal(np.isnan(latency), [False, True, False])
    assert latency[0] == 1.5 and latency[2] == 2.0
    assert list(frame["name"]) == ["a", "b", "3"]
    assert frame["fits"].isna().tolist() == [False, False, True]


def test_explore_fpga_design_writes_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    design = DESIGNS / "edge-moe-zcu102.yaml"
    result = run_cli("explore", str(design), "--out", "o", "--backend", "serial", "--quiet",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    csv_rows = pandas.read_csv(tmp_path / "o" / "results.csv")
    parquet_rows = pandas.read_parquet(tmp_path / "o" / "results.parquet")
    assert parquet_rows.shape == csv_rows.shape


ROWS = "architectures.fusemax.array_2d.rows"


def design_with_search(tmp_path: Path, space: str) -> Path:
    """The Pareto design with a two-trial random search over `space` (YAML mapping lines)."""
    path = tmp_path / "search.yaml"
    path.write_text(PARETO.read_text() + "\nsearch:\n  method: random\n  trials: 2\n"
                    "  space:\n" + space)
    return path


@pytest.mark.parametrize(("dimension", "bad"), [("{choices: [-5]}", "-5"),
                                                ("{low: -100, high: -50, integer: true}", "-100")])
def test_search_value_out_of_field_bounds(tmp_path: Path, dimension: str, bad: str) -> None:
    # Search values below a field's minimum (rows >= 1) used to be evaluated silently.
    design = design_with_search(tmp_path, f"    {ROWS}: {dimension}\n")
    result = run_cli("explore", design.name, "--out", "o", "--backend", "serial", cwd=tmp_path)
    assert_one_error(result, design.name, f"search.space.{ROWS}", bad)
    assert not (tmp_path / "o" / "results.csv").exists()



@pytest.mark.parametrize("command", [["verilog", "--unit", "gelu", "--out"],
                                     ["verify", "--unit", "gelu", "--sim", "icarus",
                                      "--build-dir"],
                                     ["synth", "--unit", "gelu", "--work-dir"]])
def test_output_directory_under_a_file(tmp_path: Path, command: list[str]) -> None:
    # Tracebacks (NotADirectoryError) before the CLI turned an OSError into one line; then
    # verify and synth still printed their table header on stdout before that line.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    result = run_cli(*command, "a-file/sub", cwd=tmp_path)
    assert_one_error(result, f"{command[-1]} a-file/sub", "cannot create the directory")
    assert result.stdout == ""
    assert blocker.read_text() == "not a directory\n"


@pytest.mark.parametrize("make", ["directory", "file"])
def test_cascade_name_that_is_a_path_without_af(tmp_path: Path, make: str) -> None:
    # A directory or a file without .af used to be looked up as a library name.
    target = tmp_path / "mycascade"
    target.mkdir() if make == "directory" else target.write_text("cascade x\n")
    result = run_cli("cascade", target.name, cwd=tmp_path)
    assert_one_error(result, target.name, ".af")


def test_cascade_run_matches_scaled_softmax(tmp_path: Path) -> None:
    # The help promises softmax(Q K^T / sqrt(E)) V; check it against NumPy.
    rng = np.random.default_rng(7)
    q, k, v = rng.standard_normal((5, 8)), rng.standard_normal((12, 8)), rng.standard_normal((12, 3))
    np.savez(tmp_path / "qkv.npz", Q=q, K=k, V=v)
    result = run_cli("cascade", "attention-3pass", "--run", "qkv.npz", "--out", "av.npz",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = q @ k.T / np.sqrt(q.shape[1])
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected = weights / weights.sum(axis=1, keepdims=True) @ v
    np.testing.assert_allclose(np.load(tmp_path / "av.npz")["AV"], expected, rtol=1e-12)


def test_non_ascii_labels_plot_without_glyph_warnings(tmp_path: Path) -> None:
    # A design named `fusemax-ΣÜ日本` put one "Glyph ... missing from font(s)" UserWarning per
    # CJK character on stderr (twice: layout and save) although the PNG was fine.
    from matplotlib.figure import Figure

    from attnforge.pareto import plot_front, plot_parallel

    label = "fusemax-ΣÜ日本"
    plain = Figure()
    plain.text(0.5, 0.5, label)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain.savefig(io.BytesIO(), format="png")
    if not any("missing from font" in str(w.message) for w in caught):
        pytest.skip("the default font has these glyphs; nothing to suppress")
    rows = [{"name": label, "latency_s": 1.0, "area_mm2": 2.0, "energy_j": 3.0},
            {"name": "日本", "latency_s": 2.0, "area_mm2": 1.0, "energy_j": 1.0}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        front = plot_front(rows, ("latency_s", "area_mm2"), ["name"], tmp_path / "f.png", label)
        parallel = plot_parallel(rows, ("latency_s", "area_mm2", "energy_j"), ["name"],
                                 tmp_path / "p.png", label)
    for path in (front, parallel):
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
