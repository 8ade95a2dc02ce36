"""Sweeps over any field of a design: a grid, or a seeded random / NSGA-II search (optuna).

This module is the in-memory side (override points, grid products, the search loop); the
design file's ``grid:`` and ``search:`` sections are read and checked by `attnforge.sweep_file`.

A sweep names fields by their dotted key in the design file (``arch.pe_array.rows``). A point of
a sweep is a tuple of (dotted key, value) overrides; :func:`apply_overrides` turns the base design
into the point's design with ``dataclasses.replace`` along the path, so the point's design is a
frozen value like the base. A comma-joined key (``"a.x, b.y"``) varies fields together.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from attnforge.specload import did_you_mean

Override = tuple[str, Any]
Point = tuple[Override, ...]


@dataclass(frozen=True, slots=True)
class Dimension:
    """One searched field: ``choices``, or a numeric range [low, high] (``log``: log-uniform).

    Under a comma-joined key (fields varied together) only ``choices`` apply, and each choice
    is a tuple of values, one per field (built by :func:`load_search`).
    """

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
    current = getattr(obj, head)
    if rest and current is None:  # an optional section the design leaves out
        raise KeyError(f"{head} is not set in the design; write `{head}: {{}}` (its defaults) "
                       f"to vary its fields")
    new_value = _replace_path(current, rest, value) if rest else value
    return dataclasses.replace(obj, **{head: new_value})


def split_key(key: str) -> tuple[str, ...]:
    """The dotted keys a sweep key names: ``"a.x, b.y"`` varies ``a.x`` and ``b.y`` together."""
    return tuple(part.strip() for part in key.split(","))


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
    point: list[Override] = []
    for key, dim in space.items():
        fields = split_key(key)
        if len(fields) > 1:  # optuna's categorical values are scalars: suggest an index
            index = trial.suggest_categorical(key, list(range(len(dim.choices))))
            point += zip(fields, dim.choices[index], strict=True)
            continue
        if dim.choices:
            value = trial.suggest_categorical(key, list(dim.choices))
        elif dim.integer:
            value = trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
        else:
            value = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
        point.append((key, value))
    return tuple(point)
