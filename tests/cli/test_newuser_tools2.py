"""Round-2 regressions from trying the tools beyond `explore` as a new user (cascade files,
simulate, the rtl commands, explain, the bench scripts): each bad input is one clear error
naming the file, option or key, with a non-zero exit and no traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.cli.inprocess import one_error, run

ROOT = Path(__file__).parents[2]

THREE_PASS = """\
cascade mine
input Q[e,p], K[e,m], V[f,m]
output AV[f,p]
QK[m,p] = Q[e,p] * K[e,m]
GM[p] = max[m] QK[m,p]
SN[m,p] = exp(QK[m,p] - GM[p])
SD[p] = SN[m,p]
A[m,p] = SN[m,p] / SD[p]
AV[f,p] = A[m,p] * V[f,m]
"""


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("max[m] QK", "max[z] QK", "Einsum GM (line 5"),  # a reduction over a rank it lacks
    ("A[m,p] * V", "X[m,p] * V", "reads X"),  # a tensor never defined
])
def test_an_inconsistent_cascade_file_is_named(old, new, fragment, tmp_path, capsys):
    # The verifier's message named the cascade and line but not the file that holds them.
    path = tmp_path / "mine.af"
    path.write_text(THREE_PASS.replace(old, new))
    line = one_error(run(capsys, "cascade", str(path)))
    assert line.startswith(f"attnforge: error: {path}: cascade mine: "), line
    assert fragment in line, line


@pytest.mark.parametrize(("inputs", "output", "fragment"), [
    ("Q[e], K[e,m], V[f,m]", "AV[f]", "Q[e] lacks rank p"),
    ("Q[e,p], K[e,m], V[m]", "AV[p]", "V[m] lacks rank f"),
    ("Q[e,p], K[e,m], V[f,m]", "AV[]", "AV[] must have the ranks f, p"),
    ("Q[e,p], K[e,m], V[f,m]", "AV[f,p,e]", "AV[f,p,e] must have the ranks f, p"),
    ("Q[e,h,p], K[e,m], V[f,m]", "AV[f,p]", "AV[f,p] must have the ranks f, h, p"),
    ("Q[e,p], K[e,h,m], V[f,h,m]", "AV[f,p]", "K[e,h,m] has head rank h, which Q[e,p] lacks"),
])
def test_run_refuses_a_cascade_its_arrays_cannot_fill(inputs, output, fragment, tmp_path,
                                                      capsys):
    # Inputs Q, K, V and an output AV passed the check, then the executor's boundary failed
    # with a ValueError traceback ("axes don't match array", "x not in tuple").
    ranks = ",".join(dict.fromkeys(r for decl in (inputs, output) for r in decl
                                   if r.islower() and r.isalpha()))
    path = tmp_path / "odd.af"
    path.write_text(f"cascade odd\ninput {inputs}\noutput {output}\n"
                    f"X[{ranks}] = {' * '.join(inputs.split(', '))}\n"
                    f"{output} = X[{ranks}]\n")
    rng = np.random.default_rng(0)
    qkv = tmp_path / "qkv.npz"
    np.savez(qkv, Q=rng.standard_normal((2, 5, 4)), K=rng.standard_normal((2, 7, 4)),
             V=rng.standard_normal((2, 7, 3)))
    line = one_error(run(capsys, "cascade", str(path), "--run", str(qkv), "--out",
                         str(tmp_path / "av.npz")))
    assert "--run: cascade odd" in line and fragment in line, line
    assert not (tmp_path / "av.npz").exists()


@pytest.mark.parametrize(("name", "q_heads"), [
    ("attention-1pass", 2), ("attention-1pass-gqa", 4), ("lean-decode", 2),
    ("edgemoe-softmax", 2)])
def test_run_still_takes_the_library_cascades(name, q_heads, tmp_path, capsys):
    rng = np.random.default_rng(0)
    qkv = tmp_path / "qkv.npz"
    q, k, v = (rng.standard_normal(shape) for shape in ((q_heads, 5, 8), (2, 7, 8), (2, 7, 3)))
    np.savez(qkv, Q=q, K=k, V=v)
    params = ["--param", "M0=4"] if name != "edgemoe-softmax" else []
    code, _, err = run(capsys, "cascade", name, "--run", str(qkv), "--out",
                       str(tmp_path / "av.npz"), *params)
    assert code == 0, err
    # softmax(Q K^T / sqrt(E)) V per head; grouped-query heads 2g, 2g+1 share K/V head g
    group = q_heads // 2
    kk, vv = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
    scores = q @ kk.transpose(0, 2, 1) / np.sqrt(8)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    expected = (weights / weights.sum(-1, keepdims=True)) @ vv
    np.testing.assert_allclose(np.load(tmp_path / "av.npz")["AV"], expected, rtol=1e-12,
                               atol=1e-12)


def test_run_refuses_a_rank_too_long_to_index(tmp_path, capsys):
    # M0 reached no Einsum's output, so the size check passed it; the executor's index
    # array for m0 was then numpy's "ValueError: Maximum allowed size exceeded".
    path = tmp_path / "big.af"
    path.write_text("cascade big\ninput Q[e,p], K[e,m], V[f,m]\noutput AV[f,p]\n"
                    f"param M0 = {10**26}\nsplit m = m1*M0 + m0\n"
                    "AV[f,p] = Q[e,p] * K[e,m1*M0+m0] * V[f,m1*M0+m0]\n")
    qkv = tmp_path / "qkv.npz"
    np.savez(qkv, Q=np.ones((5, 4)), K=np.ones((7, 4)), V=np.ones((7, 3)))
    line = one_error(run(capsys, "cascade", str(path), "--run", str(qkv), "--out",
                         str(tmp_path / "av.npz")))
    assert f"rank m0 of extent {10**26}" in line and "Einsum AV" in line, line


@pytest.mark.parametrize("operand", ["(" * 5000 + "Q[e,p]" + ")" * 5000,
                                     "-" * 5000 + "1 * Q[e,p]"])
def test_a_deeply_nested_expression_is_one_error(operand, tmp_path, capsys):
    # The recursive-descent parser's RecursionError was a traceback thousands of lines long.
    # The parser now stops at the 65th level: line 4, after "AV[f,p] = " (10 columns) and 64
    # opening parentheses or minus signs, column 10 + 64 + 1 = 75.
    path = tmp_path / "deep.af"
    path.write_text("cascade deep\ninput Q[e,p], K[e,m], V[f,m]\noutput AV[f,p]\n"
                    f"AV[f,p] = {operand} * K[e,m] * V[f,m]\n")
    line = one_error(run(capsys, "cascade", str(path)))
    assert line.startswith(f"attnforge: error: {path}:4:75: expression nested more than 64 "
                           "levels deep"), line


def test_a_cascade_file_saved_with_a_byte_order_mark_reads(tmp_path, capsys):
    # Was "unexpected character '\\ufeff'" at 1:1, a character the user cannot see.
    path = tmp_path / "bom.af"
    path.write_text(THREE_PASS, encoding="utf-8-sig")
    code, out, err = run(capsys, "cascade", str(path))
    assert code == 0, err
    assert out.splitlines()[0] == "cascade mine: 3 pass(es) over M", out


def test_an_empty_cascade_name_is_named(tmp_path, monkeypatch, capsys):
    # was ": a cascade file's name must end in .af" (Path('') is the working directory)
    monkeypatch.chdir(tmp_path)
    line = one_error(run(capsys, "cascade", ""))
    assert "NAME must be a library cascade" in line and "not ''" in line, line


def test_a_library_name_given_as_a_file_points_to_the_library(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = one_error(run(capsys, "cascade", "attention-1pass.af"))
    assert line == ("attnforge: error: attention-1pass.af: cannot read: No such file or "
                    "directory (the library cascade is `attnforge cascade attention-1pass`)")


# ----------------------------------------------------------------------------- simulate


def test_simulate_gemm_names_the_dataflow_option(capsys):
    # was "dataflow must be one of ...": the field's name, not the option the user typed
    line = one_error(run(capsys, "simulate", "gemm", "--array", "4x4", "--dataflow", "xs",
                         "--m", "4", "--n", "4", "--k", "4"))
    assert line == ("attnforge: error: --dataflow must be one of os, ws, is, not 'xs' "
                    "(did you mean 'ws'?)"), line


@pytest.mark.parametrize("command", [
    ["simulate", "gemm", "--array", "4x4", "--dataflow", "os", "--m", "8", "--n", "8", "--k",
     "8"],
    ["simulate", str(ROOT / "designs" / "fusemax-paper.yaml"), "--config", "fusemax",
     "--seq-len", "64", "--array-dim", "8"],
])
def test_a_timeline_that_cannot_be_written_keeps_the_results(command, tmp_path, monkeypatch,
                                                              capsys):
    # The plot was written before the table was printed: a write that failed after the
    # simulation (a full disk, a file that cannot be replaced) lost the simulated numbers.
    import importlib

    simulate = importlib.import_module("attnforge.commands.simulate")  # the module

    def failing(fig, path):
        raise simulate.InputError(f"--timeline {path}: cannot write: No space left on device")

    monkeypatch.setattr(simulate, "save_figure", failing)
    code, out, err = run(capsys, *command, "--timeline", str(tmp_path / "t.png"))
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"attnforge: error: --timeline {tmp_path / 't.png'}: cannot write: No space left on "
        f"device"], err
    assert "cycles" in out, out  # the table came first


def test_run_checks_where_out_goes_before_running(tmp_path, monkeypatch, capsys):
    # A --out in a missing directory failed only after the executor had run (on large arrays,
    # minutes of work thrown away).
    import importlib

    cascades = importlib.import_module("attnforge.commands.cascades")
    monkeypatch.setattr(cascades, "attention", lambda *a, **k: pytest.fail("ran the executor"))
    qkv = tmp_path / "qkv.npz"
    np.savez(qkv, Q=np.ones((5, 4)), K=np.ones((7, 4)), V=np.ones((7, 3)))
    out = tmp_path / "missing" / "av.npz"
    line = one_error(run(capsys, "cascade", "attention-1pass", "--run", str(qkv), "--out",
                         str(out)))
    assert line == (f"attnforge: error: --out {out}: {str(out.parent)!r} is not a "
                    f"directory"), line


@pytest.mark.parametrize("design", ["missing.YAML", "designs/missing"])
def test_simulate_a_missing_design_is_named_as_a_file(design, tmp_path, monkeypatch, capsys):
    # was "No such command 'missing.YAML'": a path taken for a subcommand name
    monkeypatch.chdir(tmp_path)
    line = one_error(run(capsys, "simulate", design))
    assert line == f"attnforge: error: {design}:1:1: no such file", line


def test_simulate_a_directory_is_named_as_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    line = one_error(run(capsys, "simulate", "d"))
    assert "'d' is a directory" in line, line


# ----------------------------------------------------------------------------- rtl commands


def test_unit_params_with_spaces_read_as_cascade_params_do(tmp_path, capsys):
    # "--param ' rows = 4 '" was "unit 'systolic' has no parameter ' rows '" and
    # "dataflow= ws" was "dataflow must be one of os, ws, not ' ws'"
    code, out, err = run(capsys, "verilog", "--unit", "systolic", "--param", " rows = 4 ",
                         "--param", "cols=4", "--param", "dataflow= ws", "--out",
                         str(tmp_path))
    assert code == 0, err
    assert out.strip() == str(tmp_path / "systolic_4x4_ws.v"), out


# ----------------------------------------------------------------------------- bench scripts


def bench(name: str):
    """bench/NAME.py as a module (the scripts are files, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_error(capsys, entry, argv: list[str]) -> str:
    """The argparse error line of a bench script given bad arguments (exit 2, no run)."""
    with pytest.raises(SystemExit) as info:
        entry(argv)
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(("argv", "fragments"), [
    (["nope.yaml"], ["nope.yaml:1:1: no such file"]),
    ([str(ROOT / "designs" / "edge-moe-zcu102.yaml")], ["kind", "'fpga'"]),
])
def test_bench_mapper_bad_design_is_one_error(argv, fragments, capsys):
    # `bench_mapper.py --help` read '--help' as a design file: a SpecError traceback.
    line = bench_error(capsys, bench("bench_mapper").cli, argv)
    for fragment in fragments:
        assert fragment in line, line


def test_bench_mapper_help(capsys):
    with pytest.raises(SystemExit) as info:
        bench("bench_mapper").cli(["--help"])
    out, _ = capsys.readouterr()
    assert info.value.code == 0 and out.startswith("usage: "), out


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--size", "0"], "argument --size: must be a positive integer, not 0"),
    (["--m0", "64", "0"], "argument --m0: must be a positive integer, not 0"),
    (["--repeat", "0"], "argument --repeat"),  # was a TypeError on None after the runs
    (["--dim", "x"], "argument --dim"),
])
def test_bench_executor_bad_options(argv, fragment, capsys):
    line = bench_error(capsys, bench("bench_executor").main, argv)
    assert fragment in line, line


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--gemm", "8,8"], "argument --gemm: must be M,N,K"),  # was a ValueError on unpacking
    (["--gemm", "0,8,8"], "argument --gemm"),
    (["--array", "4"], "argument --array: must be ROWSxCOLS"),
    (["--dataflow", "xs"], "argument --dataflow"),
    (["--repeat", "0"], "argument --repeat"),  # was statistics.StatisticsError
])
def test_bench_scalesim_bad_options_before_the_peer(argv, fragment, capsys, monkeypatch):
    module = bench("bench_scalesim")
    monkeypatch.setattr(module, "ensure_venv", lambda: pytest.fail("reached the peer"))
    line = bench_error(capsys, module.main, argv)
    assert fragment in line, line


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--points", "0"], "argument --points"),
    (["--workers", "1", "0"], "argument --workers"),
    (["--workers", "1", "100000"], "--workers must be between 1 and"),
])
def test_bench_explore_bad_options_before_any_run(argv, fragment, capsys, monkeypatch):
    module = bench("bench_explore")
    monkeypatch.setattr(module, "run", lambda *a: pytest.fail("ran a sweep"))
    line = bench_error(capsys, module.main, argv)
    assert fragment in line, line


def test_bench_zigzag_help_runs_nothing(capsys, monkeypatch):
    # `bench_zigzag.py --help` ignored its arguments and ran the whole benchmark.
    module = bench("bench_zigzag")
    monkeypatch.setattr(module, "ensure_peer", lambda *a: pytest.fail("reached the peer"))
    with pytest.raises(SystemExit) as info:
        module.main(["--help"])
    out, _ = capsys.readouterr()
    assert info.value.code == 0 and out.startswith("usage: "), out


def test_bench_zigzag_without_its_peer_says_so(tmp_path, capsys, monkeypatch):
    # A failed pip install into build/peers/zigzag was a CalledProcessError traceback, and the
    # venv it left behind (python, no zigzag) was never completed on the next run.
    module = bench("bench_zigzag")

    def broken_venv(directory, with_pip):  # a venv whose python fails every command
        python = Path(directory) / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text("#!/bin/sh\necho 'ERROR: No matching distribution' >&2\nexit 1\n")
        python.chmod(0o755)

    monkeypatch.setattr(module.venv, "create", broken_venv)
    monkeypatch.setattr(module, "PEER", tmp_path / "zigzag")
    monkeypatch.setattr(module, "ours", lambda: pytest.fail("timed ours without a peer"))
    for _ in range(2):  # the second run retries the install instead of using the broken venv
        assert module.main([]) == 1
        _, err = capsys.readouterr()
        assert "Traceback" not in err
        assert err.strip().splitlines() == [
            f"bench_zigzag: ZigZag unavailable: cannot install zigzag-dse==3.9.1 six into "
            f"{tmp_path / 'zigzag'}: ERROR: No matching distribution"], err


# ----------------------------------------------------------------------------- README


def test_readme_lists_every_rtl_unit():
    # README's verilog row omitted 'attention', which --unit takes (and its --help lists).
    import re

    from rtl.units import unit_names

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `attnforge verilog"))
    listed = re.search(r"units \(([^)]*)\)", row).group(1)
    assert sorted(name.strip() for name in listed.split(",")) == sorted(unit_names())


def test_readme_explain_row_marks_its_defaults_optional():
    # The row read `--model M --seq-len N --config C --scope S` as if each were required;
    # each has a default, and --array-dim was not mentioned.
    from attnforge.commands.explain import explain

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines()
               if line.startswith("| `attnforge explain DESIGN.yaml"))
    for option in ("--model", "--seq-len", "--config", "--scope", "--array-dim"):
        param = next(p for p in explain.params if option in p.opts)
        assert not param.required and f"[{option} " in row, (option, row)


def test_readme_edge_moe_latency_is_what_explore_computes():
    # README said 30.00 ms after the model's final design moved to 29.91 ms (docs/fpga.md had
    # followed); its number is the shipped design's attention_reorder config.
    import re

    from attnforge.kinds import get_kind

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted = float(re.search(r"edge-moe-zcu102\.yaml --out out/`\): ([0-9.]+) ms per image",
                             readme).group(1))
    kind = get_kind("fpga")
    design = kind.load(ROOT / "designs" / "edge-moe-zcu102.yaml")
    final = next(p for p in kind.points(design)
                 if p.group == "config" and p.config == "attention_reorder")
    assert quoted == round(kind.evaluate(design, final)["latency_ms"], 2)


def test_bench_scalesim_checks_the_simulators_limits_before_the_peer(capsys, monkeypatch):
    # A GEMM beyond the simulator's limits failed with its InputError traceback only after
    # SCALE-Sim had simulated it (minutes to hours for such sizes).
    module = bench("bench_scalesim")
    monkeypatch.setattr(module, "ensure_venv", lambda: pytest.fail("reached the peer"))
    line = bench_error(capsys, module.main, ["--gemm", "1000000,1000000,1000000", "--array",
                                             "4x4"])
    assert "62500000000 folds" in line, line
    # A tile beyond the SRAM: output-stationary on 4 x 4, a fold's A tile is its 4 rows x all
    # K = 100,000 = 400,000 one-byte words; half of the default 256 KiB holds 131,072.
    line = bench_error(capsys, module.main, ["--gemm", "4,4,100000", "--array", "4x4",
                                             "--dataflow", "os"])
    assert "a tile of A has 400000 words" in line and "holds 131072" in line, line


def test_a_parameter_without_default_is_needed_only_to_run(tmp_path, capsys):
    # docs/notation.md said every --param check applies without --run, the missing W too;
    # the cascade is shown without it (as the docs now say) and a run refuses it.
    code, out, err = run(capsys, "cascade", "attention-1pass-window")
    assert code == 0 and out.startswith("cascade attention-1pass-window:"), err
    qkv = tmp_path / "qkv.npz"
    np.savez(qkv, Q=np.ones((5, 4)), K=np.ones((7, 4)), V=np.ones((7, 3)))
    line = one_error(run(capsys, "cascade", "attention-1pass-window", "--run", str(qkv),
                         "--out", str(tmp_path / "av.npz")))
    assert "needs parameter W" in line, line
    notation = (ROOT / "docs" / "notation.md").read_text(encoding="utf-8")
    assert "except the missing parameter (only a run needs\n  its value)" in notation


def test_bench_zigzag_names_a_failed_peer_search(tmp_path, capsys, monkeypatch):
    # ZigZag's own failure was a CalledProcessError traceback with its stderr thrown away.
    module = bench("bench_zigzag")
    python = tmp_path / "zigzag" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'Traceback ...' >&2\necho 'KeyError: D3' >&2\nexit 1\n")
    python.chmod(0o755)
    monkeypatch.setattr(module, "ensure_peer", lambda peer_dir: python)
    monkeypatch.setattr(module, "ours", lambda: pytest.fail("timed ours without a peer"))
    assert module.main([]) == 1
    _, err = capsys.readouterr()
    assert err.strip() == ("bench_zigzag: ZigZag unavailable: zigzag's search failed (exit 1): "
                           "KeyError: D3"), err
