"""The `accelerator` design kind: attention cascades mapped onto spatial-array accelerators.

Beyond its types' own rules, a design must not size a square array (``sweep.array_dims``,
``attnforge explain --array-dim``) beyond the sequence length it runs (see
:func:`square_array_problem`), and every buffer it prices with CACTI (``buffer_model: cacti``),
as written or scaled with a swept array, must be an organisation the CACTI table covers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path

from attnforge.kinds import label_keys_of
from attnforge.pareto import plot_front, plot_relative
from attnforge.specload import did_you_mean, load_spec, located_error
from attnforge.sweep import apply_overrides
from einsum import library as einsum_library
from einsum.errors import InputError
from mapper import evaluate as ev
from mapper import summary
from mapper.costs import unread_fields
from mapper.price import buffer_problem
from mapper.spec import Design, Objective

RESULT_COLUMNS = typing.get_args(Objective)
"""The result columns that must be finite numbers (those a front may minimise)."""

MAX_LISTED = 40
"""Points a summary lists one by one when it has no other table (results.csv has them all)."""

WORKLOAD = ("model", "seq_len", "scope")
"""Row fields that fix the work done; configs and array sizes are the design alternatives."""


def workload_keys(design: Design) -> tuple[str, ...]:
    """`WORKLOAD`, with ``query_len`` after ``seq_len`` when the sweep sets query lengths (rows
    have that column only then)."""
    return ("model", "seq_len", "query_len", "scope") if design.sweep.query_lens else WORKLOAD


class AcceleratorKind:
    """Points: models × seq_lens × configs × scopes (× square array sizes)."""

    name = "accelerator"
    model_version = "12"  # 12: masked unfused bands; 11: run-ahead floor; 10: multi-pass start-up chains; 9: masked multi-pass; 8: unfused state

    def load(self, path: Path) -> Design:
        """The typed design, each ``configs.NAME.cascade`` that is a cascade file made absolute
        against the design file's folder (`own_cascades`); raises SpecError with every problem
        (each at its key): a cascade file's own problems first, then the kind's."""
        path = Path(path)
        design = own_cascades(load_spec(path, Design, kind=self.name), path.parent)
        found = design.problems() or self.problems(design)
        if found:
            raise located_error(path, found)
        return design

    def input_fingerprint(self, design: Design) -> str:
        """SHA-256 of the paths and contents of the cascade files the configs name: a stored
        point is reused only while the files it was priced from are unchanged."""
        files = sorted({c.cascade for c in design.configs.values() if einsum_library.is_file(c.cascade)})
        if not files:
            return ""
        digest = hashlib.sha256()
        for name in files:
            digest.update(name.encode("utf-8") + b"\x1f" + Path(name).read_bytes() + b"\x1f")
        return digest.hexdigest()

    def problems(self, design: Design) -> list[tuple[str, str]]:
        """(dotted key, message) for an empty or repeating sweep list
        (`_sweep_list_problems`), a paper value the summary could never print
        (`_paper_problems`), a config whose cascade the mapper cannot lower
        (`_mapping_problems`), a repeated objective and for each ``sweep.array_dims``
        entry larger than a sequence length of the sweep (every array size runs every length);
        if there is none, for each cost-table field the table's buffer model would ignore
        (`mapper.costs.unread_fields`), then for each buffer the cost table cannot price
        (`_buffer_problems`)."""
        found = _relative_file_problems(design)
        found += _sweep_list_problems(design) + _paper_problems(design)
        found = found or _mapping_problems(design)
        if len(set(design.objectives)) < len(design.objectives):
            found.append(("objectives[1]", f"must differ from objectives[0] "
                          f"({design.objectives[0]!r}): a front needs two different objectives"))
        if design.sweep.seq_lens:
            index, shortest = min(enumerate(design.sweep.seq_lens), key=lambda item: item[1])
            for i, dim in enumerate(design.sweep.array_dims):
                message = square_array_problem(dim, shortest, f"sweep.seq_lens[{index}]")
                if message:
                    found.append((f"sweep.array_dims[{i}]", message))
        unread = [(f"cost_table.{key}", message)
                  for key, message in unread_fields(design.cost_table)]
        return found or unread or _buffer_problems(design)

    def workload_keys(self, design: Design) -> tuple[str, ...]:
        """Model, length(s) and scope fix the work; configs and array sizes are alternatives."""
        return workload_keys(design)

    def label_keys(self, design: Design) -> tuple[str, ...]:
        """The point columns that tell a design's points apart: the config, the square array
        size when swept, and model, length and scope where the sweep has more than one."""
        sweep = design.sweep
        keys = {"config": True, "array_dim": bool(sweep.array_dims),
                "model": len(sweep.models) > 1, "seq_len": len(sweep.seq_lens) > 1,
                "query_len": len(sweep.query_lens) > 1, "scope": len(sweep.scopes) > 1}
        return tuple(key for key, shown in keys.items() if shown)

    def points(self, design: Design) -> list[ev.Point]:
        """Every point of the sweep, in a stable order."""
        return ev.points(design)

    def evaluate(self, design: Design, point: ev.Point) -> dict[str, object]:
        """One CSV row (see `mapper.evaluate.row`); InputError naming the point when a result
        column is not finite (a clock or bandwidth hundreds of orders of magnitude off)."""
        row = ev.row(design, point)
        for column in RESULT_COLUMNS:
            value = row.get(column)
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(
                    f"{design.name}: {point.config} / {point.model} / seq {point.seq_len} / "
                    f"{f'query {point.query_len} / ' if point.query_len else ''}"
                    f"{point.scope}: {column} comes out {value}, beyond float64: a clock, "
                    f"bandwidth or size of the design is far outside the model's range")
        return row

    def report(self, design: Design, rows: Sequence[Mapping[str, object]], out_dir: Path) -> str:
        """pareto.png for the design's objectives; the summary tables."""
        labels = label_keys_of(self, design, rows, design.objectives, _override_keys(rows))
        title = f"{design.name}: {design.objectives[0]} vs {design.objectives[1]}"
        work = workload_keys(design)
        workloads = {tuple(r[k] for k in work) for r in rows}
        if len(workloads) > 1:  # a front across workloads would only pick the smallest one
            plot_relative(rows, design.objectives, work,
                          tuple(k for k in labels if k not in work),
                          Path(out_dir) / "pareto.png", f"{design.name}: fronts within each of "
                          f"{len(workloads)} workloads ({' × '.join(work)})")
        else:
            plot_front(rows, design.objectives, labels, Path(out_dir) / "pareto.png", title)
        parts = [f"{design.name}: {plural(len(rows), 'point')}"]
        overrides = _override_keys(rows)
        variants: dict[str, list[Mapping[str, object]]] = {}
        for row in rows:  # a grid's variants are summarised one by one, never averaged together
            name = ", ".join(f"{k}={row[k]}" for k in overrides)  # values may be lists
            variants.setdefault(name, []).append(row)
        for name, members in variants.items():
            tables = []
            if "fusemax" in design.sweep.configs and len(design.sweep.configs) > 1:
                tables.append(summary.headline_table(design, members))
                tables.append(summary.util_table(members, design.sweep.configs))
            if design.sweep.array_dims:
                tables.append(_points_table(members, with_array=True))
            elif not tables:  # a design of its own: no FuseMax comparison to print
                tables.append(_points_table(members, with_array=False, limit=MAX_LISTED))
            if len(design.sweep.configs) > 1 and "fusemax" not in design.sweep.configs:
                tables.append(f"no ratios: the summary compares the config named fusemax with "
                              f"each other config, and none of "
                              f"{', '.join(map(repr, design.sweep.configs))} is named so")
            parts += [f"with {name}:", *tables] if overrides and tables else tables
        return "\n\n".join(parts)


def own_cascades(design: Design, folder: Path) -> Design:
    """``design`` with each config's relative cascade file path (`einsum.library.is_file`)
    joined to ``folder`` (the design file's) and made absolute (``~`` is the home folder), so
    that loading it does not depend on the working directory of the process that evaluates a
    point."""
    def absolute(cascade: str) -> str:
        return os.path.abspath(folder / os.path.expanduser(cascade))

    configs = {name: dataclasses.replace(config, cascade=absolute(config.cascade))
               if einsum_library.is_file(config.cascade) else config
               for name, config in design.configs.items()}
    return dataclasses.replace(design, configs=configs)


def _relative_file_problems(design: Design) -> list[tuple[str, str]]:
    """A relative cascade file path left after loading: one a grid or search sets (only the
    design's own configs are resolved against its folder), at its config's ``cascade``."""
    return [(f"configs.{name}.cascade", f"must be an absolute path in a grid or search, not "
             f"{config.cascade!r} (a relative path is resolved against the design file's folder "
             f"only under configs)")
            for name, config in design.configs.items()
            if einsum_library.is_file(config.cascade) and not Path(config.cascade).is_absolute()]


SWEPT_LISTS = ("models", "seq_lens", "configs", "scopes", "array_dims")
"""The sweep's lists whose product is the design's points (``array_dims`` may be empty: the
architectures as designed)."""


def _sweep_list_problems(design: Design) -> list[tuple[str, str]]:
    """An empty sweep list (no points at all: results.csv would be empty) and a value repeated
    in one (the same points twice), at the list's key."""
    found = []
    for name in SWEPT_LISTS:
        values = getattr(design.sweep, name)
        if not values and name != "array_dims":
            found.append((f"sweep.{name}", "must list at least one value (an empty list makes "
                          "no points)"))
        for i, value in enumerate(values):
            if value in values[:i]:
                found.append((f"sweep.{name}[{i}]", f"repeats {value!r}, already at index "
                              f"{values.index(value)}"))
    return found


_UNMAPPABLE: dict[tuple[str, str, str], tuple[str, str]] = {}
"""(config, its architecture, the first model) as text → `_lowering_problem`'s answer: grid
variants that leave all three alone reuse it."""


def _mapping_problems(design: Design) -> list[tuple[str, str]]:
    """A config whose cascade the mapper cannot lower (ranks beyond Q[e,p], K[e,m], V[f,m], a
    parameter without a default, an unfused schedule its Einsums do not allow), at the
    config's ``cascade``, or a buffer too small for the sweep's first model, at the
    architecture's ``buffer.buffer_bytes``; found by lowering that model at the shortest length
    (a problem of other points is reported when they run)."""
    found = []
    for name, config in design.configs.items():
        if config.architecture not in design.architectures:
            continue  # the spec's own problems() names it
        unknown = _param_problems(name, config.cascade, config.params)
        if unknown:  # at the params key, not at the cascade (lowering would refuse them there)
            found.extend(unknown)
            continue
        model = design.sweep.models[0]
        point = ev.Point(model, min(design.sweep.seq_lens), name, design.sweep.scopes[0])
        key = (repr(config), repr(design.architectures[config.architecture]),
               repr(design.models.get(model)))
        if key not in _UNMAPPABLE:
            _UNMAPPABLE[key] = _lowering_problem(design, point)
        where, message = _UNMAPPABLE[key]
        if where == "buffer":
            found.append((f"architectures.{config.architecture}.buffer.buffer_bytes",
                          f"{message} (config {name}, model {model})"))
        elif where:
            how = "" if config.fused else " unfused"
            found.append((f"configs.{name}.cascade", f"{config.cascade} cannot be mapped{how}: "
                          f"{message}"))
    return found


def _param_problems(name: str, cascade: str, params: Mapping[str, int]) -> list[tuple[str, str]]:
    """A ``params`` key of config ``name`` that its library cascade does not have, at
    ``configs.NAME.params.KEY`` (with did-you-mean and the cascade's parameters)."""
    try:
        known = einsum_library.get(cascade).params
    except InputError:
        return []  # an unknown cascade is reported at its own key by lowering
    return [(f"configs.{name}.params.{key}", f"cascade {cascade} has no parameter {key!r}; "
             f"its parameters: {', '.join(known) or 'none'}{did_you_mean(key, known)}")
            for key in params if key not in known]


def _lowering_problem(design: Design, point: ev.Point) -> tuple[str, str]:
    """("", "") if the point's cascade lowers onto its architecture; ("buffer", why) if it
    would with a buffer of any size; else ("cascade", why)."""
    try:
        ev.map_attention(design, point)
        return "", ""
    except InputError as error:
        arch = design.configs[point.config].architecture
        roomy = apply_overrides(design, ((f"architectures.{arch}.buffer.buffer_bytes", 2**60),))
        try:
            ev.map_attention(roomy, point)
        except InputError:
            return "cascade", str(error)
        return "buffer", str(error)


def _paper_problems(design: Design) -> list[tuple[str, str]]:
    """A ``paper`` entry whose baseline names no config (the summary would never print it) or
    that repeats an earlier entry's baseline and scope (only one of them could be printed)."""
    found, seen = [], {}
    for i, value in enumerate(design.paper):
        if value.baseline not in design.configs:
            names = ", ".join(design.configs)
            found.append((f"paper[{i}].baseline", f"must name a config ({names}), not "
                          f"{value.baseline!r}{did_you_mean(value.baseline, design.configs)}"))
        elif (value.baseline, value.scope) in seen:
            found.append((f"paper[{i}]", f"repeats baseline {value.baseline!r} in scope "
                          f"{value.scope!r} (paper[{seen[value.baseline, value.scope]}])"))
        else:
            seen[value.baseline, value.scope] = i
    return found


def _override_keys(rows: Sequence[Mapping[str, object]]) -> tuple[str, ...]:
    """A grid's or search's columns: they precede the kind's own, whose first is ``model``
    (`mapper.evaluate.row`)."""
    columns = list(rows[0]) if rows else []
    return tuple(columns[:columns.index("model")]) if "model" in columns else ()


def _buffer_problems(design: Design) -> list[tuple[str, str]]:
    """Buffers the cost table cannot price: at the architecture's buffer field, or at the
    swept array size whose scaled buffer falls outside the CACTI table."""
    used = sorted({c.architecture for c in design.configs.values()
                   if c.architecture in design.architectures})
    found = []
    for name in used:
        problem = buffer_problem(design.architectures[name], design.cost_table)
        if problem:
            found.append((f"architectures.{name}.{problem[0]}", problem[1]))
    if found:
        return found
    config = {c.architecture: n for n, c in design.configs.items()}
    for i, dim in enumerate(design.sweep.array_dims):
        for name in used:
            point = ev.Point("", 0, config[name], "", dim)
            problem = buffer_problem(ev.architecture(design, point), design.cost_table)
            if problem:
                found.append((f"sweep.array_dims[{i}]", f"architecture {name}'s buffer scaled "
                              f"to a {dim} × {dim} array ({problem[0]}): {problem[1]}"))
    return found


def square_array_problem(array_dim: int, seq_len: int, where: str) -> str | None:
    """Why a d × d 2D array (with a d-PE 1D array) must not run ``seq_len`` tokens, or None.

    The 2D array holds a tile of P0 query rows × M0 keys on its rows × columns and the 1D array
    one query row per PE (`mapper.lower`); one head has ``seq_len`` query rows and keys. So
    with d > ``seq_len``, d − ``seq_len`` rows and columns, their 1D PEs and the buffer scaled
    with d are idle in every mapping, and the point prices only an oversized array's leakage
    and fill/drain (a 2^20 array at 256K tokens came out 3000× faster at 0% utilisation). An
    array the design states itself (no ``array_dims``) is fixed hardware and may meet a
    shorter sequence; only the sweep's own square sizes are bounded. ``where`` names the
    sequence length in the message.
    """
    if array_dim <= seq_len:
        return None
    return (f"must not exceed the sequence length {seq_len} ({where}), not {array_dim}: the "
            f"{array_dim}x{array_dim} array maps query rows x keys of one head, so rows and "
            f"columns beyond {seq_len} could never be used")


def _points_table(rows: Sequence[Mapping[str, object]], with_array: bool,
                  limit: int | None = None) -> str:
    """One line per point (at most ``limit``, then how many more results.csv holds): its
    array size if swept, workload (with the query length P when the sweep sets ``query_lens``:
    rows carry ``query_len`` only then), config and results."""
    shown = rows[:limit]
    # the name columns are as wide as their longest value, so the numbers stay under their names
    model = max([6, *(len(str(r["model"])) for r in shown)])
    config = max([12, *(len(str(r["config"])) for r in shown)])
    queries = any("query_len" in r for r in shown)
    array = "array   " if with_array else ""
    query = "  query_len" if queries else ""
    lines = [f"{array}{'model':<{model}}  seq_len{query}  {'config':<{config}} scope         "
             f"latency_s    energy_j   area_mm2  util_2d"]
    for r in shown:
        array = f"{r['array_dim']:>5}   " if with_array else ""
        query = f" {r['query_len']:>10}" if queries else ""
        lines.append(f"{array}{r['model']:<{model}} {r['seq_len']:>8}{query}  "
                     f"{r['config']:<{config}} {r['scope']:<12} "
                     f"{float(r['latency_s']):10.4g} {float(r['energy_j']):10.4g} "
                     f"{float(r['area_mm2']):9.1f} {100 * float(r['util_2d']):6.1f}%")
    if limit is not None and len(rows) > limit:
        lines.append(f"... and {plural(len(rows) - limit, 'more point')} in results.csv")
    return "\n".join(lines)


def plural(count: int, noun: str) -> str:
    """``1 point``, ``2 points``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


KIND = AcceleratorKind()
