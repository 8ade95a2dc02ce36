"""Sweeps over any field of a design: a grid, or a seeded random / NSGA-II search (optuna).

A sweep names fields by their dotted key in the design file (``arch.pe_array.rows``). A point of
a sweep is a tuple of (dotted key, value) overrides; :func:`apply_overrides` turns the base design
into the point's design with ``dataclasses.replace`` along the path, so the point's design is a
frozen value like the base. Keys are checked against the design's types before anything runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from attnforge.specload import (
    INVALID,
    Context,
    SpecError,
    build_value,
    did_you_mean,
    mapping_items,
    parse_yaml,
    read_text,
    tree_problems,
)

Override = tuple[str, Any]
Point = tuple[Override, ...]


@dataclass(frozen=True, slots=True)
class Dimension:
    """One searched field: ``choices``, or a numeric range [low, high] (``log``: log-uniform)."""

    choices: tuple[int | float | str | bool, ...] = ()
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False

    def problems(self) -> list[tuple[str, str]]:
        if self.choices and (self.low is not None or self.high is not None):
            return [("choices", "give either choices or low/high, not both")]
        if not self.choices and (self.low is None or self.high is None):
            return [("low", "give choices, or both low and high")]
        if self.low is not None and self.high is not None and self.low > self.high:
            return [("low", f"must not exceed high ({self.high}), not {self.low}")]
        if self.log and self.low is not None and self.low <= 0:
            return [("low", f"must be positive for a log range, not {self.low}")]
        return []


@dataclass(frozen=True, slots=True)
class Search:
    """A seeded search: ``random`` or ``nsga2`` (multi-objective, optuna's NSGA-II sampler).

    Each trial is a design variant (``space``: dotted key → Dimension); its objectives are the
    geometric means of the design's objective columns over the variant's points (the
    arithmetic mean if a value is not positive). ``batch`` trials are evaluated at a time.
    """

    space: dict[str, Dimension]
    method: Literal["random", "nsga2"] = "nsga2"
    trials: int = field(default=200, metadata={"min": 1})
    batch: int = field(default=32, metadata={"min": 1})
    seed: int = 0


def field_info(root_type: type, dotted: str) -> tuple[Any, Mapping[str, Any]]:
    """(type, field metadata) of the field at ``dotted`` below ``root_type``.

    A part of the path may also name an entry of a ``dict[str, X]`` field. Raises ValueError
    naming the bad part, with a did-you-mean.
    """
    current: Any = root_type
    metadata: Mapping[str, Any] = {}
    walked: list[str] = []
    for part in dotted.split("."):
        where = ".".join(walked) or "the design"
        if typing.get_origin(current) is dict:
            current, metadata = typing.get_args(current)[1], {}
        elif dataclasses.is_dataclass(current):
            fields = {f.name: f for f in dataclasses.fields(current)}
            if part not in fields:
                raise ValueError(f"unknown field {part!r} in {dotted!r}{did_you_mean(part, fields)} "
                                 f"(fields of {where}: {', '.join(fields)})")
            current, metadata = _unwrap_optional(typing.get_type_hints(current)[part]), \
                fields[part].metadata
        else:
            raise ValueError(f"{where} has no fields; cannot sweep {dotted!r}")
        walked.append(part)
    return current, metadata


def _unwrap_optional(tp: Any) -> Any:
    """``X`` for ``X | None`` (a swept value is never "left to the default")."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(options) == 1:
            return options[0]
    return tp


def field_type(root_type: type, dotted: str) -> Any:
    """The type of the field at ``dotted`` below ``root_type`` (see :func:`field_info`)."""
    return field_info(root_type, dotted)[0]


def apply_overrides(design: Any, point: Point) -> Any:
    """The design with every (dotted key, value) override applied; the input is unchanged."""
    for dotted, value in point:
        design = _replace_path(design, dotted.split("."), value)
    return design


def _replace_path(obj: Any, parts: list[str], value: Any) -> Any:
    head, *rest = parts
    if isinstance(obj, Mapping):
        if head not in obj:
            raise KeyError(f"no entry {head!r} (entries: {', '.join(obj)})")
        return {**obj, head: _replace_path(obj[head], rest, value) if rest else value}
    new_value = _replace_path(getattr(obj, head), rest, value) if rest else value
    return dataclasses.replace(obj, **{head: new_value})


def grid_points(grid: Mapping[str | tuple[str, ...], Sequence[Any]]) -> list[Point]:
    """Every combination of the grid's values, the first key varying slowest.

    A tuple of keys varies its fields together: its values are tuples of the same length.
    """
    axes = [[tuple(zip(key, value, strict=True)) if isinstance(key, tuple) else ((key, value),)
             for value in values] for key, values in grid.items()]
    return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*axes)]


def search_points(
    search: Search,
    objectives: Sequence[str],
    evaluate_batch: Callable[[list[Point]], list[Mapping[str, object]]],
) -> list[tuple[Point, Mapping[str, object]]]:
    """Run a seeded optuna search; every point with its row, in the order they were asked.

    ``evaluate_batch`` evaluates a batch of points (in parallel if it likes) and returns rows
    holding every objective (minimised). The same seed gives the same points.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.NSGAIISampler(seed=search.seed) if search.method == "nsga2"
               else optuna.samplers.RandomSampler(seed=search.seed))
    study = optuna.create_study(directions=["minimize"] * len(objectives), sampler=sampler)
    done: list[tuple[Point, Mapping[str, object]]] = []
    while len(done) < search.trials:
        size = min(search.batch, search.trials - len(done))
        trials = [study.ask() for _ in range(size)]
        points = [_suggest(trial, search.space) for trial in trials]
        rows = evaluate_batch(points)
        for trial, point, row in zip(trials, points, rows, strict=True):
            study.tell(trial, [float(row[name]) for name in objectives])
            done.append((point, row))
    return done


def _suggest(trial: Any, space: Mapping[str, Dimension]) -> Point:
    point = []
    for key, dim in space.items():
        if dim.choices:
            value = trial.suggest_categorical(key, list(dim.choices))
        elif dim.integer:
            value = trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
        else:
            value = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
        point.append((key, value))
    return tuple(point)


def load_grid(path: Path, root_type: type, base: Any) -> tuple[Point, ...]:
    """The design file's top-level ``grid:`` as override points, validated; ``((),)`` if none.

    ``grid`` maps dotted keys of the design (``architectures.fusemax.array_2d.rows``) to
    non-empty lists of values. A key naming several fields separated by commas varies them
    together: each of its values is a list with one value per field. Each key must name a field, each value must suit the field's type
    and bounds, and every combination must make a valid design (the types' ``problems()``);
    otherwise SpecError lists every problem at its position in the file.
    """
    source = str(path)
    root = parse_yaml(read_text(path), source)
    grid_node = _top_level(root, "grid")
    if grid_node is None:
        return ((),)
    ctx = Context(source, [])
    if not isinstance(grid_node, yaml.MappingNode):
        ctx.report(grid_node, "grid", "must be a mapping of dotted keys to lists of values")
        raise SpecError(ctx.problems)
    values: dict[str | tuple[str, ...], list[Any]] = {}
    key_nodes: dict[str, yaml.Node] = {}
    for name, (key_node, value_node) in mapping_items(grid_node, "grid", ctx).items():
        fields = tuple(part.strip() for part in name.split(","))
        key_nodes.update(dict.fromkeys(fields, key_node))
        built = (_grid_values(fields[0], key_node, value_node, root_type, ctx) if len(fields) == 1
                 else _zipped_values(fields, key_node, value_node, root_type, ctx))
        if built is not None:
            values[fields[0] if len(fields) == 1 else fields] = built
    if ctx.problems:
        raise SpecError(ctx.problems)
    points = grid_points(values)
    _check_combinations(base, points, key_nodes, ctx)
    return tuple(points)


def _top_level(root: yaml.Node, name: str) -> yaml.Node | None:
    if not isinstance(root, yaml.MappingNode):
        return None
    found = [v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == name]
    return found[0] if found else None


def _located_field(root_type, dotted, key, key_node, ctx) -> tuple[Any, Mapping] | None:
    """:func:`field_info`, or None with the problem reported at ``key_node``."""
    try:
        return field_info(root_type, dotted)
    except ValueError as error:
        ctx.report(key_node, key, str(error))
        return None


def _grid_values(dotted, key_node, value_node, root_type, ctx) -> list[Any] | None:
    key = f"grid.{dotted}"
    found = _located_field(root_type, dotted, key, key_node, ctx)
    if found is None:
        return None
    leaf, metadata = found
    if not isinstance(value_node, yaml.SequenceNode) or not value_node.value:
        ctx.report(value_node, key, "must be a non-empty list of values")
        return None
    built = [build_value(child, leaf, f"{key}[{i}]", metadata, ctx)
             for i, child in enumerate(value_node.value)]
    return None if any(value is INVALID for value in built) else built


def _zipped_values(fields, key_node, value_node, root_type, ctx) -> list[tuple] | None:
    key = f"grid.{', '.join(fields)}"
    if not isinstance(value_node, yaml.SequenceNode) or not value_node.value:
        ctx.report(value_node, key, f"must be a non-empty list of [{', '.join(fields)}] lists")
        return None
    types = []
    for dotted in fields:
        found = _located_field(root_type, dotted, f"grid.{dotted}", key_node, ctx)
        if found is None:
            return None
        types.append(found)
    rows = []
    for i, child in enumerate(value_node.value):
        if not isinstance(child, yaml.SequenceNode) or len(child.value) != len(fields):
            ctx.report(child, f"{key}[{i}]", f"must be a list of {len(fields)} values")
            continue
        rows.append(tuple(build_value(item, leaf, f"grid.{dotted}[{i}]", metadata, ctx)
                          for item, dotted, (leaf, metadata) in zip(child.value, fields, types,
                                                                     strict=True)))
    bad = len(rows) != len(value_node.value) or any(INVALID in row for row in rows)
    return None if bad else rows


def _check_combinations(base, points, key_nodes, ctx, limit: int = 20) -> None:
    seen: set[tuple[str, str]] = set()
    for point in points:
        try:
            problems = tree_problems(apply_overrides(base, point))
        except KeyError as error:
            dotted = point[0][0]
            problems = [(dotted, f"cannot apply the grid: {error.args[0]}")]
        for key, message in problems:
            if (key, message) not in seen and len(seen) < limit:
                seen.add((key, message))
                where = ", ".join(f"{k}={v!r}" for k, v in point)
                ctx.report(key_nodes[point[0][0]], f"grid ({where})", f"{key}: {message}")
    if ctx.problems:
        raise SpecError(ctx.problems)


def load_search(path: Path, root_type: type) -> Search | None:
    """The design file's top-level ``search:`` (a seeded optuna search), validated; or None.

    Every ``space`` key must name a field; its choices must suit the field's type, and a range
    needs a numeric field (an integer field makes the range integer). A file may give ``grid``
    or ``search``, not both.
    """
    source = str(path)
    root = parse_yaml(read_text(path), source)
    node = _top_level(root, "search")
    if node is None:
        return None
    ctx = Context(source, [])
    if _top_level(root, "grid") is not None:
        ctx.report(node, "search", "give either grid or search, not both")
        raise SpecError(ctx.problems)
    search = build_value(node, Search, "search", {}, ctx)
    if search is INVALID:
        raise SpecError(ctx.problems)
    space_node = _top_level(node, "space")
    fixed = {}
    for dotted, dim in search.space.items():
        key_node = next(k for k, _ in space_node.value if k.value == dotted)
        fixed[dotted] = _typed_dimension(dotted, dim, root_type, key_node, ctx)
    if ctx.problems:
        raise SpecError(ctx.problems)
    return dataclasses.replace(search, space=fixed)


def _typed_dimension(dotted, dim, root_type, key_node, ctx) -> Dimension:
    key = f"search.space.{dotted}"
    found = _located_field(root_type, dotted, key, key_node, ctx)
    if found is None:
        return dim
    leaf = found[0]
    if dim.choices:
        fits = [_fits(value, leaf) for value in dim.choices]
        if not all(fits):
            bad = dim.choices[fits.index(False)]
            ctx.report(key_node, key, f"choice {bad!r} does not suit the field ({leaf.__name__})")
            return dim
        return dataclasses.replace(dim, choices=tuple(leaf(v) if leaf is float else v
                                                      for v in dim.choices))
    if leaf not in (int, float):
        ctx.report(key_node, key, f"a low/high range needs a numeric field, not {leaf!r}")
        return dim
    return dataclasses.replace(dim, integer=dim.integer or leaf is int)


def _fits(value: Any, leaf: Any) -> bool:
    if leaf is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if leaf is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, leaf) if isinstance(leaf, type) else value in typing.get_args(leaf)
