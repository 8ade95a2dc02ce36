"""Output paths as users mistype them: an empty --out (a shell variable that was not set) is an
error naming the option, never the working directory and never a traceback; a --out that
exists but is not a directory says so."""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.cli.inprocess import one_error, run

DESIGNS = Path(__file__).parents[2] / "designs"


def test_explore_with_an_empty_out_writes_nothing_in_the_working_directory(
        tmp_path, monkeypatch, capsys):
    # `--out ""` meant the working directory: results.csv, pareto.png, ... landed there.
    monkeypatch.chdir(tmp_path)
    design = DESIGNS / "fusemax-pareto.yaml"
    line = one_error(run(capsys, "explore", str(design), "--out", "", "--backend", "serial"))
    assert "--out" in line and "''" in line, line
    assert list(tmp_path.iterdir()) == []


def test_cascade_run_with_an_empty_out(tmp_path, monkeypatch, capsys):
    # was a ValueError traceback from pathlib ("PosixPath('.') has an empty name")
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "qkv.npz", Q=np.ones((2, 4)), K=np.ones((3, 4)), V=np.ones((3, 4)))
    line = one_error(run(capsys, "cascade", "attention-1pass", "--run", "qkv.npz", "--out", ""))
    assert "--out" in line and "''" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qkv.npz"]


def test_out_that_exists_and_is_not_a_directory(tmp_path, capsys):
    # /dev/full, a FIFO, ...: was "cannot create the directory: File exists"
    target = Path("/dev/null")
    line = one_error(run(capsys, "verilog", "--unit", "reciprocal", "--out", str(target)))
    assert f"--out {target}: " in line and "not a directory" in line, line
    assert "File exists" not in line


@pytest.mark.parametrize("stored", [False, True])
def test_ctrl_c_names_the_store_only_when_it_exists(stored, tmp_path, monkeypatch, capsys):
    # A Ctrl-C while the design loaded said "finished points are kept in OUT/results.sqlite"
    # about a directory that was never made.
    command = importlib.import_module("attnforge.commands.explore")  # the module, not the command
    out = tmp_path / "o"
    if stored:
        out.mkdir()
        (out / "results.sqlite").write_bytes(b"")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run_exploration", interrupted)
    code, _, err = run(capsys, "explore", str(DESIGNS / "fusemax-pareto.yaml"), "--out", str(out))
    assert code == 130
    assert ("results.sqlite" in err) == stored, err
    assert "Traceback" not in err and err.startswith("attnforge: interrupted"), err


@pytest.mark.parametrize("address", ["nonsense", "tcp://host", "tcp://host:abc", "tcp://host:99999",
                                     "foo://host:1"])
def test_a_malformed_scheduler_address_is_one_error_before_any_output(address, tmp_path, capsys):
    # 'nonsense' was a ValueError traceback from distributed, after OUT/results.sqlite was made
    pytest.importorskip("distributed")
    out = tmp_path / "o"
    line = one_error(run(capsys, "explore", str(DESIGNS / "fusemax-pareto.yaml"), "--out",
                         str(out), "--backend", "dask", "--scheduler", address))
    assert f"--scheduler {address!r}" in line and "tcp://HOST:PORT" in line, line
    assert not out.exists()


def test_ctrl_c_during_synth_prints_one_line_and_no_amaranth_warnings(tmp_path):
    # The components a Ctrl-C left unelaborated warned "created but never used" (two warnings
    # of three lines each) as the interpreter collected them. A real SIGINT, sent once the
    # table's header is printed (the first unit is then in yosys).
    argv = [sys.executable, "-m", "attnforge", "synth", "--unit", "softmax", "--work-dir",
            str(tmp_path / "w")]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in process.stdout:
        if line.startswith("unit "):
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip() == "attnforge: interrupted", err


@pytest.mark.parametrize("argv", [[], ["simulate"]])
def test_a_group_without_a_command_prints_its_help_as_help(argv, capsys):
    # `attnforge` alone printed its whole help squeezed into one "attnforge: error: Usage: ..."
    # line.
    code, out, err = run(capsys, *argv)
    assert code == 2
    text = out + err
    assert "error" not in text, text
    lines = text.splitlines()
    assert lines[0] == f"Usage: attnforge {' '.join(argv) + ' ' if argv else ''}[OPTIONS] COMMAND [ARGS]..."
    assert "Commands:" in lines and len(lines) > 8


@pytest.mark.parametrize("command", ["verilog", "verify", "synth"])
def test_an_rtl_command_given_another_kind_names_itself_and_what_the_design_is_for(command,
                                                                                  tmp_path,
                                                                                  capsys):
    # was "kind: must be 'rtl' for this command, not 'accelerator'"
    extra = ["--out", str(tmp_path / "v")] if command == "verilog" else []
    line = one_error(run(capsys, command, str(DESIGNS / "fusemax-paper.yaml"), *extra))
    assert line.endswith(f"kind: {command} needs a design of kind 'rtl', not 'accelerator'; "
                         "accelerator designs are for attnforge explore, explain or simulate"), line


@pytest.mark.parametrize("section", ["grid:\n  gelu.total_bits: [16, 32]\n", "search: {}\n"])
def test_an_rtl_design_with_a_grid_or_search_is_an_error_not_ignored(section, tmp_path, capsys):
    # verilog wrote one gelu.v and said nothing of the grid over its widths
    design = tmp_path / "rtl.yaml"
    design.write_text("version: 1\nkind: rtl\nname: x\ngelu: {}\n" + section)
    out = tmp_path / "v"
    line = one_error(run(capsys, "verilog", str(design), "--out", str(out)))
    name = section.partition(":")[0]
    assert line.startswith(f"attnforge: error: {design}:5:1: {name}: rtl designs are not "
                           "explored"), line
    assert not out.exists()


@pytest.mark.parametrize(("options", "fragment"), [
    (["--backend", "serial", "--workers", "2"], "--workers 2 needs --backend process or dask"),
    (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
     "--workers 2 sizes a local pool; the scheduler at 'tcp://127.0.0.1:1' has its own workers"),
])
def test_workers_that_would_be_ignored_are_an_error(options, fragment, tmp_path, capsys):
    # --backend serial --workers 2 ran serially without a word
    out = tmp_path / "o"
    line = one_error(run(capsys, "explore", str(DESIGNS / "fusemax-pareto.yaml"), "--out",
                         str(out), *options))
    assert fragment in line, line
    assert not out.exists()


@pytest.mark.parametrize("command", [
    ["simulate", "gemm", "--array", "2x2", "--dataflow", "os", "--m", "2", "--n", "2", "--k", "2"],
    ["simulate", str(DESIGNS / "fusemax-paper.yaml"), "--seq-len", "64", "--array-dim", "8"]])
def test_an_empty_timeline_names_the_option(command, tmp_path, monkeypatch, capsys):
    # was "--timeline .: the file name must end in .png, .pdf, .svg ..., not 'nothing'"
    monkeypatch.chdir(tmp_path)
    line = one_error(run(capsys, *command, "--timeline", ""))
    assert line == "attnforge: error: --timeline must name a file, not ''", line


def test_a_store_that_is_not_a_database_is_one_error(tmp_path, capsys):
    # a sqlite3.DatabaseError traceback
    out = tmp_path / "o"
    out.mkdir()
    store = out / "results.sqlite"
    store.write_text("not a database\n")
    line = one_error(run(capsys, "explore", str(DESIGNS / "fusemax-pareto.yaml"), "--out",
                         str(out), "--backend", "serial"))
    assert f"{store}: " in line and "not a results store" in line, line


@pytest.mark.parametrize("name", ["results.sqlite", "results.csv", "results.parquet", "pareto.png",
                                  "report.html"])
def test_an_output_file_that_is_a_directory_is_refused_before_anything_runs(name, tmp_path,
                                                                             capsys):
    # results.csv as a directory failed after every point ran, naming a temporary file; the
    # store as a directory was a sqlite3.OperationalError traceback
    out = tmp_path / "o"
    (out / name).mkdir(parents=True)
    line = one_error(run(capsys, "explore", str(DESIGNS / "fusemax-pareto.yaml"), "--out",
                         str(out), "--backend", "serial"))
    assert line == f"attnforge: error: --out {out}: {name} there is a directory", line
    assert sorted(p.name for p in out.iterdir()) == [name]
