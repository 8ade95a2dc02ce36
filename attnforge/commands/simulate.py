"""`attnforge simulate gemm ...` (one GEMM on a systolic array) and `attnforge simulate
DESIGN.yaml --model M --seq-len N --config C [--array-dim D]` (one attention point of an
`accelerator` design, tile by tile and cycle by cycle).

Cycle conventions, buffering and DRAM model are documented in sim/gemm.py, sim/attention.py and
docs/sim.md.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import click

from attnforge.paths import replaced_atomically
from einsum.errors import InputError
from sim.gemm import GemmResult, simulate_gemm
from sim.spec import MAX_EXTENT, dataflow_named, memory, parse_array, systolic_array
from sim.spec import gemm as make_gemm

from .cascades import file_option


class _SimulateGroup(click.Group):
    """`simulate DESIGN.yaml ...` runs the `design` subcommand on that file."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and (
                args[0].lower().endswith((".yaml", ".yml")) or "/" in args[0]
                or Path(args[0]).exists()):
            return "design", self.commands["design"], args
        return super().resolve_command(ctx, args)


@click.group("simulate", cls=_SimulateGroup)
def simulate() -> None:
    """Cycle-level simulation on a systolic array with SRAMs and DRAM.

    \b
    attnforge simulate gemm --array 32x32 --dataflow os --m 512 --n 512 --k 512
    attnforge simulate DESIGN.yaml --config fusemax --model bert --seq-len 64 --array-dim 8
    """


@simulate.command("gemm")
@click.option("--array", "array_text", required=True, metavar="RxC",
              help="PE array, ROWSxCOLS (1xC or Rx1 is a 1D array).")
@click.option("--dataflow", required=True, metavar="os|ws|is",
              help="Output, weight or input stationary.")
@click.option("--m", "m", required=True, type=int, help="Rows of A and C.")
@click.option("--n", "n", required=True, type=int, help="Columns of B and C.")
@click.option("--k", "k", required=True, type=int, help="Reduction extent.")
@click.option("--sram-kb", type=float, default=256.0, show_default=True,
              help="KiB of each of the A, B and C SRAMs (1-byte words, double-buffered).")
@click.option("--dram-bw", type=float, default=None, metavar="WORDS_PER_CYCLE",
              help="DRAM channel bandwidth; omitted: unlimited (no DRAM stalls).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--timeline", "timeline_png", type=click.Path(dir_okay=False),
              callback=lambda ctx, param, value: file_option(param, value),
              help="Also write a per-cycle PE-utilization plot to this path (.png, .pdf or .svg).")
def gemm(array_text: str, dataflow: str, m: int, n: int, k: int, sram_kb: float,
         dram_bw: float | None, as_json: bool, timeline_png: Path | None) -> None:
    """Simulate C[M,N] = A[M,K]·B[K,N]; report cycles, utilization and per-operand accesses."""
    _check_options(m, n, k, sram_kb, dram_bw)
    if timeline_png is not None:
        check_plot_path(timeline_png)
    rows, cols = parse_array(array_text)
    try:
        flow = dataflow_named(dataflow)
    except InputError as error:  # sim.spec names the field, the user typed the option
        raise InputError(f"--dataflow {str(error).removeprefix('dataflow ')}") from None
    array = systolic_array(rows, cols, flow)
    result = simulate_gemm(array, make_gemm(m, n, k), memory(sram_kb, dram_bw),
                           timeline=timeline_png is not None)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(_table(result))
    if timeline_png is not None:  # after the numbers: a failed write does not lose them
        _plot_timeline(result, rows * cols, timeline_png)


def _check_options(m: int, n: int, k: int, sram_kb: float, dram_bw: float | None) -> None:
    """InputError naming the option for a GEMM extent outside 1..MAX_EXTENT or a size or
    bandwidth that is not a positive finite number (sim.spec checks the same, by field)."""
    for option, value in (("--m", m), ("--n", n), ("--k", k)):
        if not 1 <= value <= MAX_EXTENT:
            raise InputError(f"{option} must be an integer in 1..{MAX_EXTENT}, not {value}")
    for option, value in (("--sram-kb", sram_kb), ("--dram-bw", dram_bw)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{option} must be a positive finite number, not {value:g}")


PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def check_plot_path(path: Path) -> None:
    """InputError naming --timeline unless ``path`` ends in a plot format and its directory
    exists (checked before simulating, so a bad path costs no run)."""
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"--timeline {path}: the file name must end in "
                         f"{', '.join(PLOT_SUFFIXES)} (the plot's format), not "
                         f"{path.suffix or 'nothing'!r}")
    if not path.parent.is_dir():
        raise InputError(f"--timeline {path}: {str(path.parent)!r} is not a directory")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise InputError(f"--timeline {path}: the directory is not writable")


def _table(result: GemmResult) -> str:
    lines = [f"compute cycles  {result.compute_cycles}",
             f"stall cycles    {result.stall_cycles}",
             f"total cycles    {result.total_cycles}",
             f"utilization     {result.utilization:.4f}",
             f"folds           {result.folds}",
             "words           A          B          C"]
    for label, counts in (("SRAM reads", result.sram_reads), ("SRAM writes", result.sram_writes),
                          ("DRAM reads", result.dram_reads), ("DRAM writes", result.dram_writes)):
        cells = "".join(f"{counts.get(op, 0):<11}" for op in "ABC")
        lines.append(f"{label:<16}{cells}".rstrip())
    return "\n".join(lines)


def _plot_timeline(result: GemmResult, pes: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(result.timeline / pes, linewidth=0.6)
    ax.set_xlabel("cycle (0 = first fold starts)")
    ax.set_ylabel("PEs doing a MAC (fraction)")
    ax.set_ylim(0, 1.05)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


#: Metadata that would make two runs' files differ (a creation date); None drops it.
_UNDATED = {".pdf": {"CreationDate": None}, ".svg": {"Date": None}, ".png": {}}


def save_figure(fig, path: Path) -> None:
    """Save a plot deterministically (same run, same bytes): no dates, fixed SVG ids; written
    to a temporary file and renamed, so a failure leaves no partial plot."""
    import matplotlib

    suffix = path.suffix.lower()
    try:
        with replaced_atomically(path) as temp, \
                matplotlib.rc_context({"svg.hashsalt": "attnforge"}):
            fig.savefig(temp, dpi=120, format=suffix[1:], metadata=_UNDATED[suffix])
    except OSError as error:
        raise InputError(f"--timeline {path}: cannot write: {error.strerror or error}") from None


@simulate.command("design")
@click.argument("design", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="Model name (default: the sweep's first).")
@click.option("--seq-len", type=int, default=None, help="Tokens (default: the sweep's first).")
@click.option("--config", "config", default=None,
              help="Configuration (default: the sweep's first fused one the simulator runs; "
                   "an unfused one is simulated phase by phase, timing only).")
@click.option("--array-dim", type=int, default=0, help="Square array size (0: as designed).")
@click.option("--values", is_flag=True,
              help="Also compute attention on random Q, K, V (seed 0) through the simulated "
                   "arrays and compare with einsum's executor.")
@click.option("--heads", type=int, default=1, show_default=True,
              help="Simulate this many (batch, head) instances back to back.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--timeline", "timeline_png", type=click.Path(dir_okay=False),
              callback=lambda ctx, param, value: file_option(param, value),
              help="Also write a per-cycle utilization plot of both arrays (.png, .pdf or "
                   ".svg).")
def design(design: Path, model: str | None, seq_len: int | None, config: str | None,
           array_dim: int, values: bool, heads: int, as_json: bool,
           timeline_png: Path | None) -> None:
    """Simulate one head (or --heads back to back) of an attention point of DESIGN.yaml
    (kind: accelerator)."""
    from .simulate_attention import run_design

    run_design(design, model, seq_len, config, array_dim, values, as_json, timeline_png, heads)
