"""attnforge's systolic simulator side by side with SCALE-Sim 3.0 on the same GEMMs.

For each GEMM and dataflow it prints both tools' compute cycles (they must be identical), the
wall time of each, their ratio, and simulated PE-cycles per second (R·C·(compute cycles + 1) per
wall-clock second). SCALE-Sim runs in its own venv (build/peers/scalesim, created with pip when
missing) through sim/scalesim_driver.py; its wall time is measured inside that process around
the simulation only (not interpreter start-up or imports). attnforge's time is the median of
--repeat runs after one warm-up run (numba compilation is cached on disk; the first, cold run is
printed too). Timing-only runs simulate each distinct fold shape once (a fold's timing depends
only on its shape); the "every fold" column simulates all folds cycle by cycle with values and
checks C = A·B exactly (small-integer operands).

    .venv/bin/python bench/bench_scalesim.py                 # 512³ and 1024×1024×64 on 32×32
    .venv/bin/python bench/bench_scalesim.py --gemm 256,256,256 --array 16x16 --dataflow os
"""

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

from attnforge.argtypes import positive
from einsum.errors import InputError
from sim.gemm import check_fits, check_size, plan_folds, simulate_gemm
from sim.scalesim_peer import ensure_venv, run_scalesim
from sim.spec import DATAFLOWS, MAX_EXTENT, gemm, memory, parse_array, systolic_array

DEFAULT_GEMMS = ("512,512,512", "1024,1024,64")


def time_ours(rows, cols, dataflow, m, n, k, repeat):
    """(cold seconds, median warm seconds, result)."""
    array, shape, mem = systolic_array(rows, cols, dataflow), gemm(m, n, k), memory()
    start = time.perf_counter()
    result = simulate_gemm(array, shape, mem)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        simulate_gemm(array, shape, mem)
        warm.append(time.perf_counter() - start)
    return cold, statistics.median(warm), result


def time_every_fold(rows, cols, dataflow, m, n, k):
    """(seconds, cycles, values correct) simulating every fold cycle by cycle with values."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(-3, 4, (m, k)).astype(float), rng.integers(-3, 4, (k, n)).astype(float)
    array = systolic_array(rows, cols, dataflow)
    simulate_gemm(array, gemm(2, 2, 2), memory(), a[:2, :2], b[:2, :2])  # compile outside timing
    start = time.perf_counter()
    result = simulate_gemm(array, gemm(m, n, k), memory(), a, b)
    seconds = time.perf_counter() - start
    return seconds, result.compute_cycles, bool(np.array_equal(result.c, a @ b))


def gemm_shape(text: str) -> tuple[int, int, int]:
    """An argparse type: ``M,N,K``, three integers in 1..MAX_EXTENT."""
    parts = text.split(",")
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or not all(1 <= v <= MAX_EXTENT for v in shape):
        raise argparse.ArgumentTypeError(f"must be M,N,K (three integers in 1..{MAX_EXTENT}), "
                                         f"not {text!r}")
    return shape


def array_shape(text: str) -> tuple[int, int]:
    """An argparse type: ``RxC`` as `sim.spec.parse_array` reads it."""
    try:
        return parse_array(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--array ")) from None


def dataflows(text: str) -> list[str]:
    """An argparse type: a comma-separated list of os, ws, is."""
    flows = [flow.strip() for flow in text.split(",")]
    bad = [flow for flow in flows if flow not in DATAFLOWS]
    if bad:
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of "
                                         f"{', '.join(DATAFLOWS)}, not {text!r}")
    return flows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gemm", type=gemm_shape, action="append", help="M,N,K (repeatable)")
    parser.add_argument("--array", type=array_shape, default="32x32")
    parser.add_argument("--dataflow", type=dataflows, default="os,ws,is")
    parser.add_argument("--repeat", type=positive, default=20)
    args = parser.parse_args(argv)
    (rows, cols), flows = args.array, args.dataflow
    shapes = args.gemm or [gemm_shape(g) for g in DEFAULT_GEMMS]
    try:  # the simulator's size limits (values too: every fold is run), before SCALE-Sim
        for (m, n, k), flow in ((shape, flow) for shape in shapes for flow in flows):
            check_size(systolic_array(rows, cols, flow), gemm(m, n, k), False, True)
            check_fits(plan_folds(systolic_array(rows, cols, flow), gemm(m, n, k)), memory())
    except InputError as error:
        parser.error(str(error))
    reason = ensure_venv()
    if reason:
        print(f"SCALE-Sim unavailable: {reason}", file=sys.stderr)
        return 1
    header = (f"{'GEMM MxNxK':>16} {'df':>3} {'cycles (ours)':>14} {'cycles (SCALE)':>15} "
              f"{'same':>5} {'SCALE s':>9} {'ours s':>9} {'ours cold s':>11} {'ratio':>9} "
              f"{'PE-cyc/s ours':>14} {'PE-cyc/s SCALE':>15} {'every fold s':>12} {'ratio':>7} "
              f"{'C=A.B':>5}")
    print(f"array {rows}x{cols}, SCALE-Sim 3.0 InterfaceBandwidth=CALC, 256 KiB SRAMs")
    print(header)
    all_same = True
    for m, n, k in shapes:
        for flow in flows:
            case = {"rows": rows, "cols": cols, "dataflow": flow, "m": m, "n": n, "k": k,
                    "sram_kb": 256, "dram_bw": None}
            try:
                peer = run_scalesim([case])[0]
            except (subprocess.SubprocessError, IndexError) as error:
                detail = getattr(error, "stderr", None) or str(error) or "no result"
                print(f"SCALE-Sim failed on {m}x{n}x{k} {flow}: "
                      f"{detail.strip().splitlines()[-1]}", file=sys.stderr)
                return 1
            cold, warm, ours = time_ours(rows, cols, flow, m, n, k, args.repeat)
            every, every_cycles, values_ok = time_every_fold(rows, cols, flow, m, n, k)
            pe_cycles = rows * cols * (ours.compute_cycles + 1)
            same = ours.compute_cycles == peer["compute_cycles"] == every_cycles and values_ok
            all_same &= same
            print(f"{f'{m}x{n}x{k}':>16} {flow:>3} {ours.compute_cycles:>14} "
                  f"{peer['compute_cycles']:>15} {'yes' if same else 'NO':>5} "
                  f"{peer['seconds']:>9.3f} {warm:>9.5f} {cold:>11.4f} "
                  f"{peer['seconds'] / warm:>8.0f}x {pe_cycles / warm:>14.3e} "
                  f"{pe_cycles / peer['seconds']:>15.3e} {every:>12.3f} "
                  f"{peer['seconds'] / every:>6.0f}x {'yes' if values_ok else 'NO':>5}", flush=True)
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
