"""Time the whole FuseMax paper design (attention and end to end) on one core; print the tables.

Run: .venv/bin/python bench/bench_mapper.py [DESIGN.yaml]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from attnforge.specload import load_spec
from einsum.errors import InputError
from mapper import evaluate as ev
from mapper import summary
from mapper.spec import Design

DEFAULT = Path(__file__).parents[1] / "designs" / "fusemax-paper.yaml"


def main(path: Path = DEFAULT) -> None:
    start = time.perf_counter()
    design = load_spec(path, Design, kind="accelerator")
    points = ev.points(design)
    loaded = time.perf_counter()
    rows = [ev.row(design, point) for point in points]
    done = time.perf_counter()
    again = [ev.row(design, point) for point in points]
    warm = time.perf_counter()
    assert again == rows
    print(f"{design.name}: {len(rows)} points evaluated on one core in {done - loaded:.3f} s "
          f"({(done - loaded) / len(rows) * 1e3:.2f} ms/point cold, "
          f"{(warm - done) / len(rows) * 1e3:.2f} ms/point with memoised GEMM searches and "
          f"cascade analyses; loading {loaded - start:.3f} s)")
    print()
    print(summary.headline_table(design, rows))
    print()
    print(summary.util_table(rows, design.sweep.configs))
    for baseline in ("flat", "unfused"):
        for scope in design.sweep.scopes:
            print()
            print(summary.point_table(rows, baseline, scope))


def cli(argv: list[str] | None = None) -> None:
    """Parse the command line; a bad design is one error line (exit 2), not a traceback."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("design", nargs="?", type=Path, default=DEFAULT,
                        help="an accelerator design (default: designs/fusemax-paper.yaml)")
    args = parser.parse_args(argv)
    try:
        main(args.design)
    except InputError as error:
        parser.error(str(error))


if __name__ == "__main__":
    cli(sys.argv[1:])
