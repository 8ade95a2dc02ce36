"""Regenerate tests/sim/data/scalesim_gemm.json by running SCALE-Sim 3.0 in its peer venv.

Only with the explicit flag:  .venv/bin/python tests/sim/make_scalesim_golden.py --write
(the always-on test then compares attnforge's simulator with these measured numbers).
"""

import argparse
import json
from pathlib import Path

from sim.scalesim_peer import ensure_venv, run_scalesim

GOLDEN = Path(__file__).resolve().parent / "data" / "scalesim_gemm.json"
ARRAYS = ((4, 4), (8, 8), (4, 8), (8, 4), (1, 8), (8, 1), (16, 16), (3, 5))
SHAPES = ((1, 1, 1), (4, 4, 4), (5, 6, 7), (8, 8, 8), (16, 16, 16), (17, 9, 33), (31, 3, 2),
          (2, 40, 13), (64, 24, 10), (7, 64, 1))
KEYS = ("rows", "cols", "dataflow", "m", "n", "k", "compute_cycles", "stall_cycles",
        "overall_util_pct", "sram_reads", "sram_writes", "dram_reads", "dram_writes")


def golden_cases() -> list[dict]:
    """Every (array, dataflow, shape) of the golden file, in SCALE-Sim's CALC bandwidth mode."""
    return [{"rows": r, "cols": c, "dataflow": df, "m": m, "n": n, "k": k, "sram_kb": 256,
             "dram_bw": None}
            for r, c in ARRAYS for df in ("os", "ws", "is") for m, n, k in SHAPES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="run SCALE-Sim and rewrite the file")
    if not parser.parse_args().write:
        parser.error("refusing to touch the golden file without --write")
    reason = ensure_venv()
    if reason:
        raise SystemExit(reason)
    rows = [{key: row[key] for key in KEYS} for row in run_scalesim(golden_cases())]
    GOLDEN.write_text(json.dumps({"tool": "scalesim 3.0.0 (pip), InterfaceBandwidth=CALC",
                                  "cases": rows}, indent=1) + "\n")
    print(f"wrote {len(rows)} cases to {GOLDEN}")


if __name__ == "__main__":
    main()
