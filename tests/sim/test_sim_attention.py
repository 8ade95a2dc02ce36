"""Attention tile by tile: values equal einsum's executor, schedules obey resource and dependency
bounds, kernels equal their twins, unsupported mappings and bad points are rejected."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnforge.cli import main
from einsum import execute, library
from mapper.lower import Workload, lower
from mapper.spec import Architecture, Array1D, Array2D, Buffer, Config, GemmSearch, PEUnits
from sim import twins
from sim.attention import build_tasks, simulate_attention
from sim.schedule import list_schedule
from sim.spec import SimInputError
from sim.systolic import row_chain, stationary_fold

DESIGN = Path(__file__).parents[2] / "designs" / "fusemax-paper.yaml"
FUSEMAX_PE = PEUnits()  # MAC, add, max; exp as a MAC sequence
FLAT_2D = PEUnits(mac=True, add=True, max=False, divider=False, exp="none", rf_entries=4)
FLAT_1D = PEUnits(mac=True, add=True, max=True, divider=True, exp="unit", rf_entries=16)


def mapping(rows, cols, e, f, p, m, schedule="pipelined", flat=False, fused=True,
            cascade="attention-1pass", group=0, **params):
    """One instance: a head, or with `group` S a GQA group of S query heads over one K/V head."""
    pe2, pe1 = (FLAT_2D, FLAT_1D) if flat else (FUSEMAX_PE, PEUnits(divider=True))
    arch = Architecture(array_2d=Array2D(rows, cols, pe2), array_1d=Array1D(rows, pe1),
                        buffer=Buffer(buffer_bytes=1 << 20))
    return lower(library.get(cascade, **params), arch, Config(cascade, "a", fused, schedule),
                 Workload(1, max(1, group), e, f, p, m, group=group), GemmSearch(16, 0))


def qkv(e, f, p, m, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((e, p)) * 2, rng.standard_normal((e, m)) * 2,
            rng.standard_normal((f, m)))


@pytest.mark.parametrize("cascade", ["attention-1pass", "attention-3pass"])
@pytest.mark.parametrize("schedule", ["pipelined", "serial"])
@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (4, 4, 3, 5, 10, 13), (4, 4, 4, 4, 8, 8), (2, 3, 2, 1, 1, 7), (3, 2, 6, 2, 7, 1)])
def test_values_equal_einsum_executor(cascade, schedule, flat, rows, cols, e, f, p, m):
    mapped = mapping(rows, cols, e, f, p, m, schedule, flat, cascade=cascade)
    q, k, v = qkv(e, f, p, m)
    result = simulate_attention(mapped, q, k, v)
    params = {"M0": cols} if cascade == "attention-1pass" else {}
    expected = execute(library.get(cascade), {"Q": q, "K": k, "V": v}, params)["AV"]
    np.testing.assert_allclose(result.av, expected, rtol=1e-12, atol=1e-12)


def test_three_pass_runs_pass_by_pass():
    # FLAT: per p-block, all m-tiles of pass 1 (QK, GM), then pass 2 (SN, SD), then pass 3
    graph = build_tasks(mapping(4, 4, 3, 5, 4, 12, "serial", True, cascade="attention-3pass"),
                        pipelined=False)
    assert len(graph.array) == 3 * 6  # 3 m-tiles × 6 Einsums, one p-tile
    assert graph.array.tolist() == [0, 1] * 3 + [1, 1] * 3 + [1, 0] * 3  # QK on 2D, AV on 2D


@pytest.mark.parametrize("flat", [False, True])
def test_schedules_respect_resource_and_dependency_bounds(flat):
    pipelined = simulate_attention(mapping(4, 4, 3, 5, 16, 24, "pipelined", flat))
    serial_map = mapping(4, 4, 3, 5, 16, 24, "serial", flat)
    serial = simulate_attention(serial_map)
    # one task at a time: all the work (the mapper's per-array counts) plus, per tile, a
    # diagonal fill of R + C - 2 = 6 for each of the two 2D runs, and on the FLAT binding the
    # C = 4 cycles of shifting SLN (made on the 1D array) into the PEs before SLNV
    work = sum(serial_map.phases[0].cycles.values())
    assert serial.cycles == work + 4 * 6 * (2 * 6 + (4 if flat else 0))
    assert max(pipelined.busy.values()) <= pipelined.cycles < serial.cycles
    assert pipelined.tiles == serial.tiles == 4 * 6


def test_kernel_latencies_follow_the_array_algebra():
    # one 4x4 tile, E = 3, F = 5. FuseMax binding: the runs of 2D Einsums are one task each.
    # BQK is an OS fold (E streamed cycles, the wavefront reaches the far PE R + C - 2 later);
    # LM's row token trails that wavefront (+1). SLN (exp: 6 MACs + 1 add, +1 subtract = 8
    # PE-cycles), SLD (+1), SLNV on the tile already in the PEs (F streamed) share one fill.
    graph = build_tasks(mapping(4, 4, 3, 5, 4, 4, "serial"), pipelined=False)
    assert graph.array.tolist() == [0, 1, 0, 1, 1, 1, 1, 1, 1]
    assert graph.latency[0] == 3 + 1 + (4 + 4 - 2)
    assert graph.latency[2] == 8 + 1 + 5 + (4 + 4 - 2)
    piped = build_tasks(mapping(4, 4, 3, 5, 4, 4), pipelined=True)
    assert piped.occupancy[0] == 3 + 1 and piped.occupancy[2] == 8 + 1 + 5  # streams only
    # FLAT binding: only BQK and SLNV on 2D; SLN comes from the 1D array, so it is shifted into
    # the PEs first (C more cycles) before the F-long stream.
    flat = build_tasks(mapping(4, 4, 3, 5, 4, 4, "serial", flat=True), pipelined=False)
    assert flat.latency[0] == 3 + 4 + 4 - 2
    assert flat.latency[flat.array == 0].max() == 4 + 5 + 4 + 4 - 2


def one_d_bound_cycles(mapped, dim: int, e: int) -> int:
    """Elapsed cycles of a pipelined FuseMax mapping whose 1D array is the busier one: the 1D
    work (the mapper's per-array count) after the first tile's BQK + LM run (E + 1 streamed)
    has crossed the dim x dim array (dim + dim - 2), with no idle cycle after that."""
    return mapped.phases[0].cycles["1d"] + (e + 1) + (dim + dim - 2)


def test_pipelining_hides_the_fill_of_many_tiles():
    # 16 x 64 on a 4 x 4 array, E = F = 4: 4 x 16 = 64 tiles, each occupying the 2D array for
    # its streams only, BQK + LM (E + 1 = 5) and SLN + SLD + SLNV (8 + 1 + F = 13): 18 cycles.
    # One fill for the whole run, not one per tile (a serial schedule pays 2 per tile).
    mapped = mapping(4, 4, 4, 4, 16, 64)
    result = simulate_attention(mapped)
    assert result.tiles == 64 and result.busy["2d"] == 64 * 18
    assert mapped.phases[0].cycles["1d"] > 64 * 18  # the 1D array is the busier one
    assert result.cycles == one_d_bound_cycles(mapped, 4, 4)
    assert result.utilization["2d"] == pytest.approx(64 * 18 / result.cycles, rel=1e-12)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"cascade": "edgemoe-softmax"}, "Einsum AV reduces over M with"),
    # an unfused mapping runs phase by phase (tests/sim/test_sim_unfused.py), timing only
    ({"fused": False, "cascade": "attention-3pass", "q": True}, "unfused.*values"),
])
def test_unsupported_mappings_are_rejected(kwargs, words):
    kwargs = dict(kwargs)
    values = qkv(3, 5, 8, 8) if kwargs.pop("q", False) else ()
    with pytest.raises(SimInputError, match=words):
        simulate_attention(mapping(4, 4, 3, 5, 8, 8, **kwargs), *values)


def test_a_masked_cascade_unfused_is_priced_by_the_mapper_but_not_simulated():
    # the mapper prices it block-sparse; the unfused simulator walks every score, so it
    # refuses (tests/sim/test_sim_masks.py simulates masks on fused mappings)
    mapped = mapping(4, 4, 3, 5, 8, 8, fused=False, cascade="attention-1pass-causal")
    assert mapped.mask.admitted == 3
    with pytest.raises(SimInputError, match="unfused with a mask"):
        simulate_attention(mapped)


def test_wrong_operand_shapes_are_rejected():
    q, k, v = qkv(3, 5, 8, 8)
    with pytest.raises(SimInputError, match="K must have shape"):
        simulate_attention(mapping(4, 4, 3, 5, 8, 8), q, k[:, :5], v)


@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), window=st.integers(1, 5))
@settings(max_examples=150, deadline=None, database=None)
def test_list_schedule_equals_its_per_cycle_twin(seed, n, window):
    rng = np.random.default_rng(seed)
    arrays = rng.integers(0, 2, n)
    latency = rng.integers(1, 12, n)
    occupancy = np.minimum(latency, rng.integers(1, 12, n))
    deps = np.full((n, 4), -1, np.int64)
    for i in range(1, n):
        k = int(rng.integers(0, min(i, 4) + 1))
        deps[i, :k] = rng.choice(i, k, replace=False)
    start, twin_start = np.zeros(n, np.int64), np.zeros(n, np.int64)
    end = list_schedule(arrays, latency, occupancy, deps, window, start)
    assert end == twins.list_schedule_py(arrays, latency, occupancy, deps, window, twin_start)
    np.testing.assert_array_equal(start, twin_start)


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_row_chain_equals_its_twin_and_numpy(mode):
    rng = np.random.default_rng(mode)
    x, seed = rng.standard_normal((5, 6)), rng.standard_normal(5)
    outs = [(np.zeros(5), np.zeros((5, 6))) for _ in range(2)]
    lengths = [fn(5, 6, 4, 5, x, seed, mode, *out)
               for fn, out in zip((row_chain, twins.row_chain_py), outs, strict=True)]
    assert lengths == [6, 6]  # the tokens cross all 6 columns
    np.testing.assert_allclose(outs[0][0], outs[1][0])
    np.testing.assert_allclose(outs[0][1], outs[1][1])
    if mode < 2:
        ref = x[:4, :5].max(axis=1) if mode == 0 else x[:4, :5].sum(axis=1)
        np.testing.assert_allclose(outs[0][0][:4], ref)
    else:
        np.testing.assert_allclose(outs[0][1][:4, :5], np.repeat(seed[:4, None], 5, axis=1))


def test_stationary_fold_without_preload_equals_twin():
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((3, 2)), rng.standard_normal((5, 3))
    runs = []
    for fn in (stationary_fold, twins.stationary_fold_py):
        out, line = np.zeros((5, 2)), np.zeros(20, np.int64)
        runs.append((tuple(int(v) for v in fn(4, 4, 3, 2, 5, w, x, out, line, False)), out))
    assert runs[0][0] == runs[1][0] and runs[0][0][0] == 4 + 5 + 4 - 2
    np.testing.assert_allclose(runs[0][1], x @ w)
    np.testing.assert_allclose(runs[1][1], x @ w)


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", *args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_design_point_with_values(capsys, tmp_path):
    code, out, _ = run_cli(capsys, str(DESIGN), "--config", "fusemax", "--model", "bert",
                           "--seq-len", "32", "--array-dim", "8", "--values", "--json",
                           "--timeline", str(tmp_path / "t.png"))
    report = json.loads(out)
    assert code == 0 and report["max_abs_error_vs_executor"] < 1e-9
    assert report["tiles"] == (32 // 8) ** 2 and report["instances"] == 64 * 12
    assert (tmp_path / "t.png").stat().st_size > 0


@pytest.mark.parametrize(("args", "words"), [
    (["--config", "unfused", "--seq-len", "32", "--array-dim", "8", "--values"], "--values"),
    (["--config", "fusmax"], "did you mean"),
    (["--config", "fusemax", "--seq-len", "0"], "--seq-len"),
    (["--config", "fusemax", "--heads", "0"], "--heads"),
])
def test_cli_design_bad_points(capsys, args, words):
    code, out, err = run_cli(capsys, str(DESIGN), *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err


def test_cli_heads_back_to_back(capsys):
    args = (str(DESIGN), "--config", "fusemax", "--model", "bert", "--seq-len", "32",
            "--array-dim", "8", "--json")
    one = json.loads(run_cli(capsys, *args)[1])
    code, out, _ = run_cli(capsys, *args, "--heads", "3")
    three = json.loads(out)
    assert code == 0 and three["heads"] == 3 and three["tiles"] == 3 * one["tiles"]
    # heads overlap in the pipeline: less than three separate heads, more than one
    assert one["cycles"] < three["cycles"] < 3 * one["cycles"]
    # 32 x 32 on 8 x 8 (E = F = 64): 16 tiles of BQK + LM (E + 1) and SLN + SLD + SLNV
    # (8 + 1 + F) 2D stream cycles; the 1D array is busier, and each further head adds exactly
    # its work per head, which is the mapper's per-head compute (mapper_cycles grows by it)
    assert one["busy"]["2d"] == 16 * ((64 + 1) + (8 + 1 + 64)) < one["busy"]["1d"]
    assert three["cycles"] - one["cycles"] == three["mapper_cycles"] - one["mapper_cycles"]


def test_cli_flat_three_pass_point(capsys):
    code, out, _ = run_cli(capsys, str(DESIGN), "--config", "flat", "--model", "t5",
                           "--seq-len", "24", "--array-dim", "4", "--values", "--json")
    report = json.loads(out)
    assert code == 0 and report["max_abs_error_vs_executor"] < 1e-9
    assert report["tiles"] == (24 // 4) ** 2


def test_epoch_window_reaches_the_resource_bound_with_many_tiles():
    # 16 × 64 tiles: enough epochs in flight that the busier array's work (the 1D array's, from
    # the mapper; the 2D array's is 1024 tiles x 18 cycles) plus one first run sets the time
    mapped = mapping(4, 4, 4, 4, 64, 256)
    result = simulate_attention(mapped)
    assert result.busy["2d"] == 1024 * 18 < mapped.phases[0].cycles["1d"]
    assert result.cycles == one_d_bound_cycles(mapped, 4, 4)
    narrow = simulate_attention(mapping(4, 4, 4, 4, 64, 256), window=1)
    assert narrow.cycles > result.cycles  # in-order issue cannot hide the 2D latency
