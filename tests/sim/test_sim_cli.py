"""`attnforge simulate gemm` through attnforge.cli.main: JSON keys and values, bad input."""

import json

import pytest

from attnforge.cli import main

KEYS = {"compute_cycles", "stall_cycles", "total_cycles", "utilization", "sram_reads",
        "sram_writes", "dram_reads", "dram_writes"}


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "gemm", *args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_json_report(capsys):
    code, out, _ = run(capsys, "--array", "8x4", "--dataflow", "ws", "--m", "10", "--n", "6",
                       "--k", "20", "--json")
    report = json.loads(out)
    assert code == 0 and KEYS <= set(report)
    for key in ("sram_reads", "sram_writes", "dram_reads", "dram_writes"):
        assert set(report[key]) == {"A", "B", "C"}
    # WS 8x4: ceil(K/8) * ceil(N/4) = ceil(20/8) * ceil(6/4) = 6 folds of 2R + M + C - 2 =
    # 2*8 + 10 + 4 - 2 = 28 cycles; compute_cycles is the index (from 0) of the last cycle,
    # SCALE-Sim's convention (its 4x4 OS 1x1x1 run, 1 + 4 + 4 - 2 = 7 cycles, reports 6)
    assert report["compute_cycles"] == 6 * 28 - 1 and report["stall_cycles"] == 0
    # the K x N = 20 x 6 weights are each read once (stationary); A = M x K fetched once
    assert report["sram_reads"]["B"] == 20 * 6 and report["dram_reads"]["A"] == 10 * 20


def test_table_and_timeline(capsys, tmp_path):
    png = tmp_path / "t.png"
    code, out, _ = run(capsys, "--array", "1x8", "--dataflow", "os", "--m", "3", "--n", "9",
                       "--k", "5", "--dram-bw", "2", "--timeline", str(png))
    assert code == 0 and "compute cycles" in out and png.stat().st_size > 0


@pytest.mark.parametrize(("args", "words"), [
    (["--array", "4by4", "--dataflow", "os", "--m", "4", "--n", "4", "--k", "4"], "ROWSxCOLS"),
    (["--array", "4x4", "--dataflow", "os", "--m", "0", "--n", "4", "--k", "4"], "--m must be"),
    (["--array", "4x4", "--dataflow", "os", "--m", "4", "--n", "-3", "--k", "4"], "--n must be"),
    (["--array", "4x-4", "--dataflow", "os", "--m", "4", "--n", "4", "--k", "4"], "array cols"),
    (["--array", "0x4", "--dataflow", "os", "--m", "4", "--n", "4", "--k", "4"], "array rows"),
    (["--array", "4x4", "--dataflow", "rs", "--m", "4", "--n", "4", "--k", "4"], "dataflow"),
    (["--array", "4x4", "--dataflow", "os", "--m", "4", "--n", "4", "--k", "4",
      "--dram-bw", "-1"], "--dram-bw"),
    (["--array", "4x4", "--dataflow", "os", "--m", "4", "--n", "4", "--k", "4",
      "--sram-kb", "0"], "--sram-kb"),
    (["--array", "4x4", "--dataflow", "ws", "--m", "5000", "--n", "4", "--k", "4",
      "--sram-kb", "4"], "cannot fit"),
])
def test_bad_arguments_give_one_message_and_exit_2(capsys, args, words):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


# ---- simulate design --values: the error against the executor (attnforge.commands) ----


def test_values_check_of_queries_no_key_reaches_is_zero_not_nan():
    # W = 1, 8 queries over 2 keys: queries 2.. reach no key, 0/0 = NaN in the executor and in
    # the simulator alike; the check reported nan
    import numpy as np

    from attnforge.commands.simulate_attention import _check
    from sim.attention import simulate_attention

    from .test_sim_attention import mapping, qkv

    mapped = mapping(2, 2, 2, 2, 8, 2, cascade="attention-1pass-window", W=1)
    q, k, v = qkv(2, 2, 8, 2)
    av = simulate_attention(mapped, q, k, v).av
    assert np.isnan(av[:, 2:]).all() and np.isfinite(av[:, :2]).all()
    assert _check(mapped, (q, k, v), av) < 1e-12
    off = av.copy()
    off[0, 0] += 0.5  # a real error among the NaNs is still seen
    assert _check(mapped, (q, k, v), off) == pytest.approx(0.5, rel=1e-9)
    off[0, 1] = np.nan  # NaN in one only
    assert _check(mapped, (q, k, v), off) == float("inf")
    finite = av.copy()
    finite[1, 3] = 0.0  # a number where the executor says 0/0
    assert _check(mapped, (q, k, v), finite) == float("inf")
