"""Explorer throughput: points per second for a 10,000-point sweep of the FuseMax design space,
with 1 and 2 worker processes (and Dask on a LocalCluster), on this machine.

    .venv/bin/python bench/bench_explore.py [--points 10000] [--workers 1 2] [--dask]

The sweep is designs/fusemax-paper.yaml (5 configs × 4 models × 6 lengths × 2 scopes = 240
points) under a grid over the FuseMax array's size and buffer and its clock, enough grid
variants to reach --points. Each run starts from an empty store, so every point is evaluated.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from attnforge.argtypes import positive
from attnforge.backends import BackendChoice
from attnforge.explorer import explore, plan
from einsum.errors import InputError

PAPER = Path(__file__).parents[1] / "designs" / "fusemax-paper.yaml"
DIMS = (16, 32, 64, 128, 256, 512)
BUFFERS_MIB = (4, 8, 16, 32)


def sweep_design(directory: Path, points: int) -> Path:
    """The paper design with a grid (array size × buffer × clock) of about ``points`` points."""
    per_variant = len(plan(PAPER).points)
    variants = math.ceil(points / per_variant)
    clocks = math.ceil(variants / (len(DIMS) * len(BUFFERS_MIB)))
    arrays = "\n".join(f"    - [{d}, {d}, {d}]" for d in DIMS)
    grid = (
        "\ngrid:\n"
        "  architectures.fusemax.array_2d.rows, architectures.fusemax.array_2d.cols, "
        "architectures.fusemax.array_1d.pes:\n" + arrays + "\n"
        f"  architectures.fusemax.buffer.buffer_bytes: {[m * 2**20 for m in BUFFERS_MIB]}\n"
        f"  architectures.fusemax.clock_mhz: {[700.0 + 20 * i for i in range(clocks)]}\n"
    )
    path = directory / "sweep.yaml"
    path.write_text(PAPER.read_text() + grid)
    return path


def run(design: Path, choice: BackendChoice, out: Path) -> tuple[int, float]:
    start = time.perf_counter()
    outcome = explore(design, out, choice)
    return len(outcome.rows), time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=positive, default=10_000,
                        help="at least this many points (whole grid variants of the paper "
                             "design's 240, and at least one per array size x buffer: "
                             "5,760)")
    parser.add_argument("--workers", type=positive, nargs="+", default=[1, 2])
    parser.add_argument("--dask", action="store_true", help="also run Dask on a LocalCluster")
    args = parser.parse_args(argv)
    try:
        for workers in args.workers:  # before the first run, not after it
            BackendChoice("process", workers).worker_count()
    except InputError as error:
        parser.error(str(error))
    with tempfile.TemporaryDirectory() as work:
        design = sweep_design(Path(work), args.points)
        print(f"sweep: {len(plan(design).points)} points ({design.name} grid over the paper design)")
        rates = {}
        runs = [BackendChoice("process", w) for w in args.workers]
        runs += [BackendChoice("dask", max(args.workers))] if args.dask else []
        for choice in runs:
            label = f"{choice.name} x{choice.workers}"
            count, seconds = run(design, choice, Path(work) / label.replace(" ", "_"))
            rates[label] = count / seconds
            print(f"{label:>12}: {count} points in {seconds:6.2f} s = {rates[label]:8.0f} points/s")
        first = next(iter(rates.values()))
        for label, rate in rates.items():
            print(f"{label:>12}: scaling {rate / first:4.2f}x vs {next(iter(rates))}")


if __name__ == "__main__":
    main()
