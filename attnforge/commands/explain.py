"""`attnforge explain DESIGN.yaml [options]`: one point explained.

Accelerator designs (``--model --seq-len --query-len --config --scope --array-dim``): the chosen mapping.
FPGA designs (``--config --attn-p --linear-par``): `fpga.explain`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import click

from attnforge.specload import did_you_mean
from einsum.errors import InputError

ACCELERATOR_ONLY = ("--model", "--seq-len", "--query-len", "--scope", "--array-dim")
FPGA_ONLY = ("--attn-p", "--linear-par", "--attention-reorder/--no-attention-reorder")


@click.command()
@click.argument("design", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", default=None,
              help="Accelerator: model name (default: the sweep's first).")
@click.option("--seq-len", type=int, default=None,
              help="Accelerator: tokens, the keys M (default: the sweep's first).")
@click.option("--query-len", type=int, default=None,
              help="Accelerator: queries P <= M, e.g. 1 for a decode step (default: the "
                   "sweep's first query_lens, else P = M).")
@click.option("--config", "config", default=None,
              help="Configuration (default: an accelerator sweep's first; an fpga design's "
                   "first config).")
@click.option("--scope", type=click.Choice(["attention", "end_to_end"]), default=None,
              help="Accelerator: attention only or the whole model (default: attention).")
@click.option("--array-dim", type=int, default=None,
              help="Accelerator: square array size (0: as designed).")
@click.option("--attn-p", type=int, default=None,
              help="FPGA: attention parallelism p (default: the design's units.attn_p).")
@click.option("--linear-par", type=int, default=None,
              help="FPGA: square linear-unit size (default: the design's).")
@click.option("--attention-reorder/--no-attention-reorder", "reorder", default=None,
              help="FPGA: attention reordering on or off (default: the config's), as the "
                   "sweep varies it.")
def explain(design: Path, model: str | None, seq_len: int | None, query_len: int | None,
            config: str | None, scope: str | None, array_dim: int | None, attn_p: int | None,
            linear_par: int | None, reorder: bool | None) -> None:
    """Explain one point of DESIGN. An accelerator design: the chosen mapping (loop nest, tiles,
    binding, buffer, bottleneck). An fpga design: latency by category and by layer, DDR traffic,
    and the resources unit by unit against the board."""
    from attnforge.kinds import require_kind

    kind = require_kind(design, ("accelerator", "fpga"), "explain").name
    if kind == "fpga":
        given = (model, seq_len, query_len, scope, array_dim)
        check_not_given(ACCELERATOR_ONLY, given, "accelerator")
        click.echo(explain_fpga(design, config, attn_p, linear_par, reorder))
        return
    check_not_given(FPGA_ONLY, (attn_p, linear_par, reorder), "fpga")
    click.echo(explain_accelerator(design, model, seq_len, config, scope or "attention",
                                   array_dim or 0, query_len))


def check_not_given(options: tuple[str, ...], values: tuple, kind: str) -> None:
    """An InputError naming every one of ``options`` given (its value not None): they apply
    only to designs of kind ``kind``."""
    given = [option for option, value in zip(options, values, strict=True) if value is not None]
    if given:
        names = given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"
        verb = "applies" if len(given) == 1 else "apply"
        raise InputError(f"{names} {verb} to {kind} designs only")


def explain_fpga(design: Path, config: str | None, attn_p: int | None,
                 linear_par: int | None, reorder: bool | None = None) -> str:
    """`fpga.explain.explain` of one config, at the design's units or the given p / size, with
    attention reordering as the config has it or as ``reorder`` says (the sweep's three axes).

    The design is loaded with its types' rules only: a config that overflows the board (which
    ``explore`` refuses as an impossible design) is explained, its last line naming what
    overflows, so the user can see which unit takes the resources."""
    from dataclasses import replace

    from attnforge.fpga_rtl import pick_point
    from attnforge.kinds import require_kind
    from attnforge.specload import load_spec
    from fpga.explain import explain as explain_point
    from fpga.spec import FpgaDesign

    require_kind(design, "fpga", "explain")
    spec = load_spec(design, FpgaDesign, kind="fpga")
    note = explorer_note(design, spec)
    point = pick_point(spec, config, attn_p, linear_par)
    t = point.techniques
    t = t if reorder is None else replace(t, attention_reorder=reorder)
    return note + explain_point(spec, point.config, point.units, t)


def explorer_note(path: Path, spec) -> str:
    """A first line saying the design's ``grid`` or ``search`` section is not applied (explain
    shows the design as written), once the section is valid by its types' rules (an invalid one
    is a SpecError here as in ``explore``); empty without such a section."""
    from attnforge.sweep_file import load_grid, load_search

    grid = load_grid(path, type(spec), spec)
    search = load_search(path, type(spec), spec)
    if search is not None:
        what = f"search (over {', '.join(search.space)})"
    elif grid != ((),):
        keys = dict.fromkeys(key for point in grid for key, _ in point)
        what = f"grid ({len(grid)} variants over {', '.join(keys)})"
    else:
        return ""
    return textwrap.fill(f"note: the design as written; explore runs its {what}", 100,
                         subsequent_indent="  ") + "\n"


def explain_accelerator(design: Path, model: str | None, seq_len: int | None,
                        config: str | None, scope: str, array_dim: int,
                        query_len: int | None = None) -> str:
    """The chosen mapping of one accelerator point (`mapper.report.MappingReport`); P is
    ``query_len``, else the sweep's first ``query_lens``, else the sequence length."""
    from attnforge.kinds import require_kind
    from mapper.evaluate import Point, architecture, evaluate
    from mapper.price import buffer_problem
    from mapper.report import MappingReport
    from mapper.spec import MAX_SEQ_LEN

    spec = require_kind(design, "accelerator", "explain").load(design)
    sweep = spec.sweep
    model = pick_choice("model", model, sweep.models, spec.models)
    config = pick_choice("config", config, sweep.configs, spec.configs)
    if seq_len is not None and not 1 <= seq_len <= MAX_SEQ_LEN:
        raise InputError(f"--seq-len must be an integer in 1..{MAX_SEQ_LEN:,}, not {seq_len}")
    check_array_dim(array_dim, seq_len, sweep.seq_lens[0])
    keys = seq_len or sweep.seq_lens[0]
    if query_len is not None and not 1 <= query_len <= keys:
        raise InputError(f"--query-len must be an integer in 1..{keys} (the keys M, "
                         f"{'--seq-len' if seq_len else 'sweep.seq_lens[0]'}), not {query_len}")
    queries = query_len or (sweep.query_lens[0] if sweep.query_lens else 0)
    if queries > keys:
        raise InputError(f"--seq-len {keys} is shorter than the sweep's first query length "
                         f"(sweep.query_lens[0], {queries}): give --query-len 1..{keys}")
    point = Point(model, keys, config, scope, array_dim, queries)
    problem = buffer_problem(architecture(spec, point), spec.cost_table) if array_dim else None
    if problem:
        name = spec.configs[config].architecture
        raise InputError(f"--array-dim {array_dim}: configuration {config}'s architecture "
                         f"{name}: its buffer scaled to a {array_dim} × {array_dim} array "
                         f"({problem[0]}): {problem[1]}")
    mapping, actions, cost = evaluate(spec, point)
    return explorer_note(design, spec) + str(MappingReport(mapping, actions, cost))


def check_array_dim(array_dim: int, seq_len: int | None, first_seq_len: int) -> None:
    """An InputError unless ``--array-dim`` is 0 (as designed) or a square size the point's
    sequence (``--seq-len``, else the sweep's first) can fill
    (`attnforge.kinds.accelerator.square_array_problem`)."""
    from attnforge.kinds.accelerator import square_array_problem

    if array_dim < 0:
        raise InputError(f"--array-dim must be 0 (as designed) or a positive integer, "
                         f"not {array_dim}")
    where = "--seq-len" if seq_len is not None else "the sweep's first, sweep.seq_lens[0]"
    message = square_array_problem(array_dim, seq_len or first_seq_len, where)
    if array_dim and message:
        raise InputError(f"--array-dim {message}")


def pick_choice(what: str, given: str | None, default: tuple[str, ...], valid) -> str:
    """A point selector's value: ``given`` if valid, the design's first sweep value if None."""
    if given is None:
        return default[0]
    if given not in valid:
        raise InputError(f"--{what}: unknown {what} {given!r}{did_you_mean(given, valid)} "
                         f"(valid: {', '.join(valid)})")
    return given
