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
from einsum.errors import InputError

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


def _position(text: str, key: str, value: str) -> str:
    """``line:col`` (1-based) of ``value`` on the line of ``key:``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(f"{key}:"):
            return f"{number}:{line.index(value) + 1}"
    raise AssertionError(f"{key} not in the design")


def test_square_array_larger_than_the_sequence_is_rejected_at_its_key(tmp_path: Path) -> None:
    # array_dims [1048576] at 262144 tokens used to be evaluated: "speedup 3064.76x", 0% util.
    design = tmp_path / "huge.yaml"
    text = PARETO.read_text().replace("array_dims: [16, 32, 64, 128, 256, 512]",
                                      "array_dims: [16, 1048576]")
    design.write_text(text)
    result = run_cli("explore", design.name, "--out", "o", "--backend", "serial", cwd=tmp_path)
    assert_one_error(result, f"{design.name}:{_position(text, 'array_dims', '1048576')}",
                     "sweep.array_dims[1]", "sequence length 262144", "not 1048576")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["explain", "simulate"])
def test_array_dim_option_larger_than_the_sequence(tmp_path: Path, command: str) -> None:
    # explain used to print "buffer 1.25e+07 MiB" for a 10^8 x 10^8 array at 262144 tokens.
    result = run_cli(command, str(PARETO), "--array-dim", "100000000", cwd=tmp_path)
    assert_one_error(result, "--array-dim", "262144", "100000000")
    result = run_cli(command, str(PARETO), "--seq-len", "64", "--array-dim", "65",
                     cwd=tmp_path)
    assert_one_error(result, "--array-dim", "sequence length 64", "not 65")


def test_square_array_rule_boundary() -> None:
    # d = seq_len fills the array exactly (one query row per 1D PE); one more cannot be used.
    import dataclasses

    from attnforge.commands.explain import check_array_dim
    from attnforge.kinds import design_problems, get_kind

    check_array_dim(0, 1, 1)  # 0: the design's own arrays, whatever their size
    check_array_dim(1024, 1024, 1)
    check_array_dim(1024, None, 1024)
    with pytest.raises(InputError, match=r"length 1024 \(--seq-len\), not 1025"):
        check_array_dim(1025, 1024, 4096)
    with pytest.raises(InputError, match=r"length 1024 \(the sweep's first.*not 1025"):
        check_array_dim(1025, None, 1024)
    kind = get_kind("accelerator")
    base = kind.load(PARETO)
    assert design_problems(kind, base) == []
    short = dataclasses.replace(base, sweep=dataclasses.replace(base.sweep,
                                                                seq_lens=(262144, 256)))
    assert [key for key, _ in design_problems(kind, short)] == ["sweep.array_dims[5]"]  # 512


@pytest.mark.parametrize(("grid", "key", "bad"),
                         [("  sweep.array_dims: [[1048576]]\n", "sweep.array_dims", "[0]"),
                          ("  sweep.seq_lens: [[262144], [300]]\n", "sweep.seq_lens", "[5]")])
def test_grid_variant_with_a_square_array_too_large(tmp_path: Path, grid: str, key: str,
                                                    bad: str) -> None:
    # The kind's rule holds for every grid variant, not only for the file as written.
    design = tmp_path / "grid.yaml"
    design.write_text(PARETO.read_text() + "\ngrid:\n" + grid)
    result = run_cli("explore", design.name, "--out", "o", "--backend", "serial", cwd=tmp_path)
    line = design.read_text().count("\n")
    assert_one_error(result, f"{design.name}:{line}:3: grid.{key}", f"sweep.array_dims{bad}")
    assert not (tmp_path / "o").exists()


PES = "architectures.fusemax.array_1d.pes"


@pytest.mark.parametrize("section", [f"grid:\n  {ROWS}: [128]\n",
                                     f"search:\n  trials: 2\n  space:\n    {ROWS}: {{choices: [128]}}\n",
                                     f"search:\n  trials: 2\n  space:\n"
                                     f"    {ROWS}: {{low: 128, high: 256}}\n"])
def test_grid_and_search_share_the_cross_field_rule(tmp_path: Path, section: str) -> None:
    # A grid varying array_2d.rows alone failed up front (array_1d.pes must equal it), while a
    # search over the same field ran and evaluated 1D arrays with the wrong PE count.
    design = tmp_path / "tied.yaml"
    design.write_text(PARETO.read_text() + "\n" + section)
    result = run_cli("explore", design.name, "--out", "o", "--backend", "serial", cwd=tmp_path)
    assert_one_error(result, f"{ROWS}=128", f"{PES}: must equal array_2d.rows (128)",
                     "vary together under one comma-joined key")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("section", [f"grid:\n  {ROWS}, {PES}: [[128, 128], [256, 256]]\n",
                                     f"search:\n  method: random\n  trials: 2\n  space:\n"
                                     f"    {ROWS}, {PES}: {{choices: [[128, 128], [256, 256]]}}\n"])
def test_tied_fields_vary_together_in_grid_and_search(tmp_path: Path, section: str) -> None:
    design = tmp_path / "tied.yaml"
    design.write_text(PARETO.read_text().replace("array_dims: [16, 32, 64, 128, 256, 512]",
                                                 "array_dims: []") + "\n" + section)
    result = run_cli("explore", design.name, "--out", "o", "--backend", "serial", "--quiet",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = pandas.read_csv(tmp_path / "o" / "results.csv")
    assert (rows[ROWS] == rows[PES]).all() and set(rows[ROWS]) <= {128, 256}
    fusemax = rows[rows["config"] == "fusemax"]
    assert (fusemax["array_dim"] == fusemax[ROWS]).all()  # the variant's array was evaluated


def test_each_search_trial_is_checked_before_it_runs(tmp_path: Path) -> None:
    # Range ends are checked up front; a trial inside a range is checked again (check_trial).
    from attnforge.specload import SpecError
    from attnforge.sweep_file import check_trial

    design = design_with_search(tmp_path, f"    {ROWS}: {{low: 128, high: 256}}\n")
    base = get_kind_design()
    with pytest.raises(SpecError) as caught:
        check_trial(design, base, ((ROWS, 200),))
    text = str(caught.value)
    line = design.read_text().splitlines().index(f"    {ROWS}: {{low: 128, high: 256}}") + 1
    assert text.startswith(f"{design}:{line}:5: search.space.{ROWS}: with {ROWS}=200: {PES}")
    check_trial(design, base, ((ROWS, 256),))  # pes is 256: nothing to report


def get_kind_design():
    """The Pareto design as the accelerator kind loads it."""
    from attnforge.kinds import get_kind

    return get_kind("accelerator").load(PARETO)


def test_too_many_workers_fail_before_the_output_directory(tmp_path: Path) -> None:
    # --workers 100000 was refused only after OUT/results.sqlite had been created.
    import os

    limit = 4 * (os.cpu_count() or 1)
    result = run_cli("explore", str(PARETO), "--out", "o", "--workers", str(limit + 1),
                     cwd=tmp_path)
    assert_one_error(result, "--workers", f"between 1 and {limit}", f"not {limit + 1}")
    assert not (tmp_path / "o").exists()


def test_explain_array_dim_whose_buffer_the_cacti_table_lacks(tmp_path: Path) -> None:
    # d = 24 scales FuseMax's 4096-bit rows to 384 bits: not a CACTI-tabulated width
    result = run_cli("explain", str(PARETO), "--array-dim", "24", "--config", "fusemax",
                     cwd=tmp_path)
    assert_one_error(result, "--array-dim 24", "buffer.row_bits", "384-bit")
