"""The body of `attnforge simulate DESIGN.yaml`: pick a point, map it, simulate one head."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from einsum.errors import InputError
from mapper.spec import MAX_SEQ_LEN

#: Most tiles of one head the task builder takes (~2 s per 65536 tiles for FuseMax's 1-pass
#: mapping, ~30 s for FLAT's 3-pass one, one core).
MAX_TILES = 2**17
#: Most tiles over all --heads (the heads repeat one head's task graph: ~8 tasks per tile).
MAX_TILE_INSTANCES = 2**21
#: Most PE-cycles --values may simulate (every tile's kernels, cycle by cycle; ~4.6e8 a second
#: measured on one core, so about a minute at most).
MAX_VALUE_PE_CYCLES = 2**35
#: Longest run --timeline plots (two int64 rows per cycle, then a moving average).
MAX_TIMELINE_CYCLES = 2**24


def run_design(path: Path, model: str | None, seq_len: int | None, config: str | None,
               array_dim: int, values: bool, as_json: bool, timeline_png: Path | None,
               heads: int = 1) -> None:
    """Load, select, lower, simulate and print (see `attnforge simulate design --help`)."""
    from attnforge.kinds import require_kind
    from mapper.evaluate import Point
    from sim.attention import simulate_attention

    from .explain import check_array_dim, explorer_note, pick_choice
    from .simulate import check_plot_path

    if timeline_png is not None:
        check_plot_path(timeline_png)
    spec = require_kind(path, "accelerator", "simulate").load(path)
    note = explorer_note(path, spec)  # also checks the grid or search, as explore would
    sweep = spec.sweep
    model = pick_choice("model", model, sweep.models, spec.models)
    if config is not None:
        pick_choice("config", config, sweep.configs, spec.configs)
    if seq_len is not None and not 1 <= seq_len <= MAX_SEQ_LEN:
        raise InputError(f"--seq-len must be an integer in 1..{MAX_SEQ_LEN}, not {seq_len}")
    check_array_dim(array_dim, seq_len, sweep.seq_lens[0])
    if heads < 1:
        raise InputError(f"--heads must be a positive integer, not {heads}")
    seq_from = "--seq-len" if seq_len is not None else f"{path}: sweep.seq_lens[0]"
    seq_len = seq_len or sweep.seq_lens[0]
    point, mapping = _pick_mapping(spec, Point(model, seq_len, "", "attention", array_dim),
                                   config, path)
    _check_work(mapping, heads, values, seq_from)
    cycles = heads * int(mapping.phases[0].compute_cycles)
    if timeline_png is not None and cycles > MAX_TIMELINE_CYCLES:
        raise InputError(f"--timeline: the point runs about {cycles} cycles (the mapper's "
                         f"estimate for {heads} head(s)); a timeline covers at most "
                         f"{MAX_TIMELINE_CYCLES}: use fewer --heads or a shorter --seq-len")
    qkv = _random_qkv(mapping) if values else (None, None, None)
    with _progress() as progress:
        result = simulate_attention(mapping, *qkv, progress=progress,
                                    timeline=timeline_png is not None, heads=heads)
    report = result.to_json()
    if values:
        report["max_abs_error_vs_executor"] = _check(mapping, qkv, result.av)
    if note:  # on stderr with --json, which keeps stdout one JSON document
        click.echo(note, nl=False, err=as_json)
    if as_json:
        click.echo(json.dumps({"point": _point_dict(point), **report}, indent=2))
    else:
        click.echo(_table(point, report))
    if timeline_png is not None:  # after the numbers: a failed write does not lose them
        _plot(result.timeline, mapping, timeline_png)


def _pick_mapping(spec, base, config: str | None, path: Path):
    """(point, mapping) of ``config``, or with None of the sweep's first fused configuration
    the simulator covers (an unfused one runs when --config names it); an InputError naming
    --config and the covered ones otherwise."""
    from dataclasses import replace

    from mapper.evaluate import map_attention
    from sim.attention import check_supported
    from sim.spec import SimInputError

    covered, reasons = [], {}
    for name in spec.sweep.configs if config is None else (config,):
        point = replace(base, config=name)
        if config is None and not spec.configs[name].fused:
            reasons[name] = "unfused (give --config to simulate it)"
            continue
        mapping = map_attention(spec, point)
        try:
            check_supported(mapping)
        except SimInputError as error:
            reasons[name] = str(error)
            continue
        return point, mapping
    if config is not None:
        others = [c for c in spec.sweep.configs if c != config]
        covered = [c for c in others if _covered(spec, replace(base, config=c))]
        hint = f" (configurations it runs: {', '.join(covered)})" if covered else ""
        raise InputError(f"--config {config}: {reasons[config]}{hint}")
    raise InputError(f"{path}: the simulator runs none of the sweep's configurations "
                     f"({'; '.join(f'{c}: {r}' for c, r in reasons.items())})")


def _covered(spec, point) -> bool:
    from mapper.evaluate import map_attention
    from sim.attention import check_supported
    from sim.spec import SimInputError

    try:
        check_supported(map_attention(spec, point))
    except SimInputError:
        return False
    return True


def _check_work(mapping, heads: int, values: bool, seq_from: str) -> None:
    """InputError before simulating a point whose task graph or value run would not finish
    in minutes (see MAX_TILES, MAX_TILE_INSTANCES, MAX_VALUE_PE_CYCLES); ``seq_from`` names
    where the sequence length came from."""
    from sim.attention import query_heads

    ext = mapping.workload.extents()
    a2 = mapping.arch.array_2d
    group = query_heads(mapping)  # a GQA instance runs its S query heads' tiles
    tiles = -(-ext["p"] // a2.rows) * -(-ext["m"] // a2.cols) * group
    where = f"seq {ext['m']} on a {a2.rows}x{a2.cols} array"
    where += f" for {group} query heads of a K/V group" if group > 1 else ""
    if tiles > MAX_TILES:
        raise InputError(f"{seq_from}: {where} is {tiles} tiles "
                         f"{'a head' if group == 1 else 'a group'}; the simulator takes "
                         f"at most {MAX_TILES}: give a shorter --seq-len or a larger "
                         f"--array-dim")
    if tiles * heads > MAX_TILE_INSTANCES:
        raise InputError(f"--heads {heads}: {tiles} tiles a head ({where}) make "
                         f"{tiles * heads} tiles; at most {MAX_TILE_INSTANCES}: use fewer heads")
    work = tiles * a2.rows * a2.cols * (ext["e"] + ext["f"] + 2 * (a2.rows + a2.cols))
    if values and work > MAX_VALUE_PE_CYCLES:
        raise InputError(f"--values: {where} needs about {work} PE-cycles of cycle-level "
                         f"simulation; at most {MAX_VALUE_PE_CYCLES}: use a shorter --seq-len "
                         f"or a smaller --array-dim")


def _point_dict(point) -> dict[str, object]:
    return {f: getattr(point, f) for f in point.__dataclass_fields__}


def _random_qkv(mapping):
    from einsum import library
    from sim.attention_values import input_shapes

    # Q[e,p], K[e,m], V[f,m] of a head; a GQA group's Q[e,g,s,p], K[e,g,m], V[f,g,m]
    shapes = input_shapes(mapping, library.get(mapping.cascade, **dict(mapping.params)))
    rng = np.random.default_rng(0)
    return tuple(rng.standard_normal(shapes[name]) for name in "QKV")


def _check(mapping, qkv, av) -> float:
    from einsum import execute, library

    cascade = library.get(mapping.cascade, **dict(mapping.params))  # a window's W, M0
    params = {"M0": mapping.arch.array_2d.cols} if "M0" in cascade.params else {}
    ref = execute(cascade, dict(zip("QKV", qkv, strict=True)), params)["AV"]
    return max_abs_error(ref, av)


def max_abs_error(ref: np.ndarray, got: np.ndarray) -> float:
    """The largest ``|ref - got|``, where NaN in both (a query no key reaches: 0/0 in the
    executor and in the simulator) counts 0 and NaN in only one counts inf."""
    ref, got = np.asarray(ref, dtype=np.float64), np.asarray(got, dtype=np.float64)
    both = np.isnan(ref) & np.isnan(got)
    if (np.isnan(ref) != np.isnan(got)).any():
        return float("inf")
    diff = np.abs(np.where(both, 0.0, ref) - np.where(both, 0.0, got))
    return float(diff.max()) if diff.size else 0.0


class _progress:
    """A rich progress bar with ETA on stderr (a terminal only) while tiles are built and
    computed."""

    def __init__(self):
        self.bar = None

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True)
        if not console.is_terminal:
            return None
        self.bar = Progress(TextColumn("simulating tiles"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(),
                            console=console, transient=True)
        self.bar.start()
        task = self.bar.add_task("tiles", total=None)

        def update(done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total)
        return update

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _instance_word(group: int) -> str:
    return "head(s)" if group == 1 else f"group(s) of {group} query heads"


def _table(point, report) -> str:
    if "phases" in report:
        return _unfused_table(point, report)
    lines = [f"point           {point.config} / {point.model} / seq {point.seq_len}"
             f" / array {point.array_dim or 'as designed'}",
             f"cycles          {report['cycles']} for {report['heads']} "
             f"{_instance_word(report.get('query_heads', 1))} back to back"
             f"   (mapper's analytical model: {report['mapper_cycles']})",
             f"instances       {report['instances']} (batch × "
             f"{'heads' if report.get('query_heads', 1) == 1 else 'K/V heads'})   total cycles "
             f"{report['total_cycles']}",
             f"tiles, tasks    {report['tiles']}, {report['tasks']}",
             f"array busy      2D {report['utilization']['2d']:.3f}   "
             f"1D {report['utilization']['1d']:.3f}"]
    if "max_abs_error_vs_executor" in report:
        lines.append(f"values          max |AV - einsum executor| = "
                     f"{report['max_abs_error_vs_executor']:.3g}")
    return "\n".join(lines)


def _unfused_table(point, report) -> str:
    """An unfused mapping: its phases, simulated and the mapper's cycles per head."""
    lines = [f"point           {point.config} / {point.model} / seq {point.seq_len}"
             f" / array {point.array_dim or 'as designed'} (unfused: phases through DRAM)",
             f"cycles          {report['cycles']} for {report['heads']} head(s) one after "
             f"another   (mapper's analytical model: {report['mapper_cycles']}; GEMM folds "
             f"chained: {report['chained_cycles']})",
             f"instances       {report['instances']} (batch × heads)   total cycles "
             f"{report['total_cycles']}",
             "phase (one head)                   sim cycles  folds chained   mapper cycles"
             "   DRAM words sim / mapper"]
    lines += [f"  {p['name']:<31s} {p['cycles']:>11d} {p['chained_cycles']:>14d} "
              f"{p['mapper_cycles']:>15.0f}   "
              f"{p['dram_read_words'] + p['dram_write_words']} / {p['mapper_dram_words']}"
              for p in report["phases"]]
    return "\n".join(lines)


def _plot(timeline, mapping, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .simulate import save_figure

    fig, ax = plt.subplots(figsize=(9, 3))
    width = max(1, timeline.shape[1] // 400)
    kernel = np.ones(width) / width
    for row, label in zip(timeline, ("2D array", "1D array"), strict=True):
        ax.plot(np.convolve(row, kernel, mode="same"), linewidth=0.8, label=label)
    ax.set_xlabel("cycle")
    ax.set_ylabel(f"busy fraction ({width}-cycle mean)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{mapping.config_name}: array occupancy per cycle (one head)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
