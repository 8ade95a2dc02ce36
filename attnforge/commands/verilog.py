"""`attnforge verilog`: emit deterministic Verilog for RTL units.

\b
attnforge verilog --unit gelu --out build/v
attnforge verilog --unit systolic --param rows=8 --param cols=8 --param dataflow=ws --out build/v
attnforge verilog designs/rtl-edge-moe.yaml --out build/v
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from amaranth.lib import wiring

from attnforge.paths import output_directory
from attnforge.specload import load_spec
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.spec import RtlDesign
from rtl.units import build_unit, parse_param, unit_kind, unit_names, validate_unit

Selection = list[tuple[str, Callable[[], wiring.Component]]]


def select_units(design: Path | None, unit: str | None, params: tuple[str, ...]) -> Selection:
    """(module name, factory) for each unit chosen by a design file or by ``--unit/--param``.

    Factories build a fresh component per call (a component is elaborated once). Parameters
    are validated here, so a bad one fails before any tool runs.
    """
    if (design is None) == (unit is None):
        raise RtlParamError("give either a DESIGN.yaml or --unit NAME (not both, not neither)")
    if design is None:
        unit_kind(unit)
        values = dict(parse_param(p) for p in params)
        chosen = [(unit, unit, values)]
    else:
        if params:
            raise RtlParamError("--param applies to --unit; a design file sets its own parameters")
        chosen = load_spec(design, RtlDesign, kind="rtl").selected()
    selection = []
    for module, name, values in chosen:
        try:
            validate_unit(name, values)  # fail before any tool runs; build later
        except RtlParamError as err:
            where = f"{design}: {module}: " if design is not None else ""
            raise RtlParamError(f"{where}{err}") from None
        selection.append((module, lambda name=name, values=values: build_unit(name, values)))
    return selection


@click.command("verilog")
@click.argument("design", required=False, type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path))
@click.option("--unit", help=f"Unit name: {', '.join(unit_names())}.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A unit parameter (repeatable), e.g. --param rows=8.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False,
                                                                  path_type=Path),
              help="Directory for the .v files (created).")
def verilog(design: Path | None, unit: str | None, params: tuple[str, ...], out_dir: Path
            ) -> None:
    """Write one Verilog module per unit (module and file named after it; same inputs, same
    bytes; no absolute paths inside)."""
    selection = select_units(design, unit, params)
    out_dir = output_directory(out_dir, "--out")
    for module, factory in selection:
        path = out_dir / f"{module}.v"
        path.write_text(verilog_text(factory(), module))
        click.echo(str(path))
