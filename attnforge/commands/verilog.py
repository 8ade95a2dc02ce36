"""`attnforge verilog`: emit deterministic Verilog for RTL units.

\b
attnforge verilog --unit gelu --out build/v
attnforge verilog --unit systolic --param rows=8 --param cols=8 --param dataflow=ws --out build/v
attnforge verilog designs/rtl-edge-moe.yaml --out build/v
attnforge verilog designs/edge-moe-zcu102.yaml --config attention_reorder --attn-p 2 --out build/v
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from amaranth.lib import wiring

from attnforge.paths import output_directory, replaced_atomically
from attnforge.specload import (
    EXPLORER_KEYS,
    Problem,
    SpecError,
    load_spec,
    parse_yaml,
    read_kind,
    read_text,
)
from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.spec import RtlDesign, module_name
from rtl.units import build_unit, parse_param, unit_kind, unit_names, validate_unit

Selection = list[tuple[str, Callable[[], wiring.Component]]]

#: The file `attnforge verilog FPGA.yaml` writes beside the modules: FPGA unit -> rtl module.
MANIFEST = "units.txt"


@dataclass(frozen=True, slots=True)
class Chosen:
    """The units a command runs and, for an FPGA design, its manifest and the lines naming
    the units not emitted (empty for an rtl design or --unit)."""

    selection: Selection
    manifest: str = ""
    skipped: tuple[str, ...] = ()


def fpga_point_options(command):
    """The point options of `attnforge explain FPGA.yaml` (--config, --attn-p, --linear-par)."""
    for option in reversed((
            click.option("--config", default=None,
                         help="FPGA design: the config (default: the design's first)."),
            click.option("--attn-p", type=int, default=None,
                         help="FPGA design: attention parallelism p (default: units.attn_p)."),
            click.option("--linear-par", type=int, default=None,
                         help="FPGA design: square linear-unit size (default: the design's)."))):
        command = option(command)
    return command


def choose_units(design: Path | None, unit: str | None, params: tuple[str, ...],
                 config: str | None = None, attn_p: int | None = None,
                 linear_par: int | None = None) -> Chosen:
    """`select_units`, or for a ``kind: fpga`` design the rtl units that implement the chosen
    point's units (`attnforge.fpga_rtl.bridge`), every one validated before any is built."""
    if design is not None and unit is None and read_kind(design)[0] == "fpga":
        if params:
            raise RtlParamError("--param applies to --unit; a design file sets its own parameters")
        return _bridge(design, config, attn_p, linear_par)
    from attnforge.commands.explain import check_not_given

    check_not_given(("--config", "--attn-p", "--linear-par"), (config, attn_p, linear_par),
                    "fpga")
    return Chosen(select_units(design, unit, params))


def _bridge(design: Path, config: str | None, attn_p: int | None, linear_par: int | None
            ) -> Chosen:
    """`choose_units` of an FPGA design."""
    from attnforge.fpga_rtl import bridge, check, manifest, pick_point
    from fpga.spec import FpgaDesign

    spec = load_spec(design, FpgaDesign, kind="fpga")
    point = pick_point(spec, config, attn_p, linear_par)
    units, skipped = bridge(spec, point.techniques, point.units)
    check(design, point, units)
    selection = [(b.module, lambda b=b: build_unit(b.unit, b.values())) for b in units]
    title = f"{spec.name} ({design.name}), {point.label}"
    return Chosen(selection, manifest(title, units, skipped),
                  tuple(f"not emitted: {s.fpga_unit}: {s.reason}" for s in skipped))


def select_units(design: Path | None, unit: str | None, params: tuple[str, ...]) -> Selection:
    """(module name, factory) for each unit chosen by a design file or by ``--unit/--param``.

    Factories build a fresh component per call (a component is elaborated once). Parameters
    are validated here, so a bad one fails before any tool runs.
    """
    if (design is None) == (unit is None):
        raise RtlParamError("give either a DESIGN.yaml or --unit NAME (not both, not neither)")
    if design is not None:
        if params:
            raise RtlParamError("--param applies to --unit; a design file sets its own parameters")
        _require_rtl(design)
        # The loader validates every unit (RtlDesign.problems), each error at its key.
        return [(module, lambda name=name, values=values: build_unit(name, values))
                for module, name, values in load_spec(design, RtlDesign, kind="rtl").selected()]
    unit_kind(unit)
    values: dict[str, object] = {}
    for item in params:
        key, sep, raw = item.partition("=")  # ' rows = 8' as cascade --param reads it
        key, value = parse_param(f"{key.strip()}{sep}{raw.strip()}")
        if key in values:
            raise RtlParamError(f"--param {key}: given twice ({key}={values[key]} and {item})")
        values[key] = value
    validate_unit(unit, values)  # fail before any tool runs; build later
    return [(module_name(unit, values), lambda: build_unit(unit, values))]


@click.command("verilog")
@click.argument("design", required=False, type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path))
@click.option("--unit", help=f"Unit name: {', '.join(unit_names())}.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A unit parameter (repeatable), e.g. --param rows=8.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              callback=lambda ctx, param, value: directory_option(param, value),
              help="Directory for the .v files (created).")
@fpga_point_options
def verilog(design: Path | None, unit: str | None, params: tuple[str, ...], out_dir: Path,
            config: str | None, attn_p: int | None, linear_par: int | None) -> None:
    """Write one Verilog module per unit (module and file named after it; same inputs, same
    bytes; no absolute paths inside).

    The units are those of DESIGN (a `kind: rtl` file, e.g. designs/rtl-edge-moe.yaml) or the
    one --unit NAME with its --param values (defaults: the Edge-MoE formats). A `kind: fpga`
    DESIGN (e.g. designs/edge-moe-zcu102.yaml) gives the rtl units implementing one point's
    units (--config, --attn-p, --linear-par as for explain), listed in DIR/units.txt; a unit
    with no rtl module is named with why.
    """
    chosen = choose_units(design, unit, params, config, attn_p, linear_par)
    texts = [(f"{module}.v", verilog_text(factory(), module))
             for module, factory in chosen.selection]
    if chosen.manifest:
        texts.append((MANIFEST, chosen.manifest))
    out_dir = output_directory(out_dir, "--out")
    for name, _ in texts:
        if (out_dir / name).is_dir():
            raise RtlParamError(f"--out {out_dir}: {name} there is a directory")
    for line in chosen.skipped:
        click.echo(line)
    for name, text in texts:
        path = out_dir / name
        write_atomically(path, text)
        click.echo(str(path))


#: What the other design kinds are for, in the message of an rtl command given one of them.
KIND_COMMANDS = {"accelerator": "attnforge explore, explain or simulate",
                 "fpga": "attnforge explore or explain"}


def _require_rtl(design: Path) -> None:
    """SpecError at the file's ``kind:`` unless it is ``rtl``, naming the command and what a
    design of the kind it has is for; and at a top-level ``grid`` or ``search`` (read only by
    `attnforge explore`; the loader strips them, so they would be ignored)."""
    found, where = read_kind(design)
    if found != "rtl":
        context = click.get_current_context(silent=True)
        command = context.info_name if context is not None else "this command"
        use = f"; {found} designs are for {KIND_COMMANDS[found]}" if found in KIND_COMMANDS else ""
        raise SpecError([dataclasses.replace(
            where, message=f"{command} needs a design of kind 'rtl', not {found!r}{use}")])
    root = parse_yaml(read_text(design), str(design))
    for key_node, _ in root.value:
        if key_node.value in EXPLORER_KEYS:  # the loader leaves them to attnforge explore
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            raise SpecError([Problem(str(design), line, col, key_node.value,
                                     "rtl designs are not explored (only attnforge explore "
                                     "reads a grid or search); list the units to make instead "
                                     "(one entry per unit, several arrays under systolic)")])


def directory_option(param: click.Parameter, value: str | None) -> Path | None:
    """A directory option's value as a Path; '' (which would mean the working directory, where
    nothing is written by default) is an error naming the option."""
    if value is not None and not value.strip():
        raise RtlParamError(f"{param.opts[0]} must name a directory, not ''")
    return None if value is None else Path(value)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``: a
    failure midway leaves the old file (or none), never a truncated one."""
    with replaced_atomically(path) as temp:
        temp.write_text(text, encoding="utf-8")
