"""`attnforge synth`: yosys ``synth_ecp5`` resources and nextpnr-ecp5 Fmax per unit.

Resources (LUT4, CCU2C carries, FF, MULT18X18D DSPs, DP16KD BRAMs) are those of the bare unit;
Fmax is post-route on an LFE5U-85F with the unit inside a serial IO shim (every path register to
register). Work files go under --work-dir (default: a fresh temporary directory, printed).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from rtl.synth import ecp5_estimate, shim

from .verilog import select_units


@click.command("synth")
@click.argument("design", required=False, type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path))
@click.option("--unit", help="Synthesize one unit instead of a design file.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A unit parameter (with --unit; repeatable).")
@click.option("--freq", "freq_mhz", type=float, default=100.0, show_default=True,
              help="nextpnr target clock in MHz (the achieved Fmax is reported either way).")
@click.option("--seed", type=int, default=1, show_default=True, help="nextpnr placer seed.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where tool inputs, logs and reports go (default: a new temporary directory).")
def synth(design: Path | None, unit: str | None, params: tuple[str, ...], freq_mhz: float,
          seed: int, work_dir: Path | None) -> None:
    """Print an ECP5 table: LUT/FF/DSP/BRAM and Fmax per unit."""
    selection = select_units(design, unit, params)
    root = (work_dir or Path(tempfile.mkdtemp(prefix="attnforge-synth-"))).resolve()
    click.echo(f"work dir: {root}")
    header = f"{'unit':<22} {'LUT4':>6} {'CCU2C':>6} {'FF':>6} {'DSP':>4} {'BRAM':>4} {'Fmax MHz':>9}"
    click.echo(header)
    for module, factory in selection:
        est = ecp5_estimate(factory(), shim(factory()), module, root / module, freq_mhz, seed)
        click.echo(f"{module:<22} {est.luts:>6} {est.carries:>6} {est.ffs:>6} {est.dsps:>4} "
                   f"{est.brams:>4} {est.fmax_mhz:>9.1f}")
