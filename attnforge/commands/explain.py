"""`attnforge explain DESIGN.yaml --model M --seq-len N --config C --scope S`: one point's mapping."""

from __future__ import annotations

from pathlib import Path

import click

from attnforge.specload import did_you_mean
from einsum.errors import InputError


@click.command()
@click.argument("design", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="Model name (default: the sweep's first).")
@click.option("--seq-len", type=int, default=None, help="Tokens (default: the sweep's first).")
@click.option("--config", "config", default=None, help="Configuration (default: the first).")
@click.option("--scope", type=click.Choice(["attention", "end_to_end"]), default="attention")
@click.option("--array-dim", type=int, default=0, help="Square array size (0: as designed).")
def explain(design: Path, model: str | None, seq_len: int | None, config: str | None, scope: str,
            array_dim: int) -> None:
    """Print the chosen mapping of one point: loop nest, tiles, binding, buffer, bottleneck."""
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
    point = Point(model, seq_len or sweep.seq_lens[0], config, scope, array_dim)
    problem = buffer_problem(architecture(spec, point), spec.cost_table) if array_dim else None
    if problem:
        name = spec.configs[config].architecture
        raise InputError(f"--array-dim {array_dim}: configuration {config}'s architecture "
                         f"{name}: its buffer scaled to a {array_dim} × {array_dim} array "
                         f"({problem[0]}): {problem[1]}")
    mapping, actions, cost = evaluate(spec, point)
    click.echo(str(MappingReport(mapping, actions, cost)))


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
