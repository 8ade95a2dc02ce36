"""`attnforge explain` and `attnforge explore` on the shipped accelerator designs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from attnforge.cli import main

DESIGNS = Path(__file__).parents[2] / "designs"


def _run(args, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_explain_prints_nest_binding_buffer_and_bottleneck(capsys):
    out = _run(["explain", str(DESIGNS / "fusemax-paper.yaml"), "--model", "bert", "--seq-len",
                "65536", "--config", "fusemax"], capsys)
    assert "spatial p0 × m0 = 256 × 256 on the 2D array: BQK, LM, SLN, SLD, SLNV" in out
    assert "SLN    body   → 2d   8 cycles/point" in out  # sub + 6 MACs + 1 add
    assert "spilled fraction 0.00" in out
    assert "bottleneck: fused: 1d array" in out  # 1D: 11 + 2F > 2D: 10 + 2E per tile


def test_explain_flat_spills_and_turns_dram_bound(capsys):
    out = _run(["explain", str(DESIGNS / "fusemax-paper.yaml"), "--model", "bert", "--seq-len",
                "262144", "--config", "flat"], capsys)
    # 256 rows × 256K keys × 2 B = 128 MiB of QK (then SN) against 32 MiB: about 3/4 spills
    assert "held M fibers: QK, SN; spilled fraction 0.75" in out
    # the spilled part of QK and SN, the K/V tiles (one 256-row block, each word used once) and
    # the output go between DRAM and the PEs past the buffer
    assert "past the buffer (used once, or the spilled part): AV, K, QK, SN, V" in out
    assert "buffer 32 MiB (4 bank(s), 4096-bit rows)" in out
    out = _run(["explain", str(DESIGNS / "fusemax-paper.yaml"), "--model", "bert", "--seq-len",
                "1048576", "--config", "flat"], capsys)
    assert "bottleneck: fused: dram" in out


def test_explore_pareto_design_writes_rows_and_plot(tmp_path, capsys):
    out = _run(["explore", str(DESIGNS / "fusemax-pareto.yaml"), "--out", str(tmp_path),
                "--backend", "serial", "--quiet"], capsys)
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert (tmp_path / "pareto.png").stat().st_size > 0
    assert "array" in out
    fm = {int(r["array_dim"]): float(r["latency_s"]) for r in rows if r["config"] == "fusemax"}
    area = {int(r["array_dim"]): float(r["area_mm2"]) for r in rows if r["config"] == "fusemax"}
    assert sorted(fm) == [16, 32, 64, 128, 256, 512]
    for small, big in zip(sorted(fm), sorted(fm)[1:], strict=False):
        # FuseMax stays compute-bound: doubling d quarters latency (fusemax.md Figure 12)
        assert fm[small] / fm[big] == pytest.approx(4.0, rel=0.02)
    # area = d² PEs + d 1D PEs + a buffer whose capacity, row width and banks scale with d:
    # each doubling multiplies it by more than 2, more the larger d (the d² term takes over),
    # and over the large arrays it grows about as d² (fusemax.md Figure 12)
    dims = sorted(area)
    growth = [area[big] / area[small] for small, big in zip(dims, dims[1:], strict=False)]
    assert all(g > 2.0 for g in growth) and growth == sorted(growth)
    exponent = math.log(area[512] / area[128]) / math.log(512 / 128)
    assert exponent == pytest.approx(2.0, abs=0.3)
    for column in ("model", "seq_len", "config", "scope", "latency_s", "energy_j",
                   "traffic_bytes", "util_2d", "util_1d", "area_mm2", "util_2d_BQK"):
        assert column in rows[0]


def test_explain_on_a_design_of_another_kind_is_located_at_its_kind(capsys):
    # It used to name only the file; simulate already pointed at the `kind:` value.
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", str(DESIGNS / "rtl-edge-moe.yaml")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    kind_line = next(i for i, line in enumerate(
        (DESIGNS / "rtl-edge-moe.yaml").read_text().splitlines(), 1) if line.startswith("kind:"))
    assert err.endswith(f"rtl-edge-moe.yaml:{kind_line}:7: kind: explain needs a design of "
                        "kind 'accelerator' or 'fpga', not 'rtl'; rtl designs are for attnforge "
                        "verilog, attnforge verify or attnforge synth")
    assert len(err.splitlines()) == 1


def test_explain_refuses_a_sequence_beyond_the_longest_a_design_may_sweep(capsys):
    # --seq-len 99999999999 ended in an OverflowError traceback inside the GEMM search.
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", str(DESIGNS / "fusemax-paper.yaml"), "--seq-len", str(2**24 + 1)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("attnforge: error: --seq-len must be an integer in "
                                       "1..16,777,216, not 16777217\n")


def test_an_option_left_without_its_value_points_at_the_commands_help(capsys):
    # click's parser gives no context there: the hint every other usage error has was missing.
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", str(DESIGNS / "fusemax-pareto.yaml"), "--config"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == ("attnforge: error: Option '--config' requires an "
                                               "argument. (see 'attnforge explain --help')")


def test_explain_says_it_shows_an_accelerator_design_as_written(tmp_path, capsys):
    path = tmp_path / "g.yaml"
    path.write_text((DESIGNS / "fusemax-pareto.yaml").read_text()
                    + "\ngrid:\n  architectures.fusemax.clock_mhz: [500, 940]\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", str(path)])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(
        "note: the design as written; explore runs its grid (2 variants over "
        "architectures.fusemax.clock_mhz)\n")
