"""Sweeps over any field of a design: a grid, or a seeded random / NSGA-II search (optuna).

A sweep names fields by their dotted key in the design file (``arch.pe_array.rows``). A point of
a sweep is a tuple of (dotted key, value) overrides; :func:`apply_overrides` turns the base design
into the point's design with ``dataclasses.replace`` along the path, so the point's design is a
frozen value like the base. Keys are checked against the design's types before anything runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from attnforge.specload import did_you_mean

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
    """A seeded search: ``random`` or ``nsga2`` (multi-objective, optuna's NSGA-II sampler)."""

    space: dict[str, Dimension]
    method: Literal["random", "nsga2"] = "nsga2"
    trials: int = field(default=200, metadata={"min": 1})
    batch: int = field(default=32, metadata={"min": 1})
    seed: int = 0


def field_type(root_type: type, dotted: str) -> type:
    """The type of the field at ``dotted`` below ``root_type``; ValueError names a bad part."""
    current: Any = root_type
    walked = []
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"{'.'.join(walked) or 'the design'} has no fields; cannot sweep {dotted!r}")
        names = [f.name for f in dataclasses.fields(current)]
        if part not in names:
            raise ValueError(f"unknown field {part!r} in {dotted!r}{did_you_mean(part, names)} "
                             f"(fields of {'.'.join(walked) or 'the design'}: {', '.join(names)})")
        current = typing.get_type_hints(current)[part]
        walked.append(part)
    return current


def apply_overrides(design: Any, point: Point) -> Any:
    """The design with every (dotted key, value) override applied; the input is unchanged."""
    for dotted, value in point:
        design = _replace_path(design, dotted.split("."), value)
    return design


def _replace_path(obj: Any, parts: list[str], value: Any) -> Any:
    head, *rest = parts
    new_value = _replace_path(getattr(obj, head), rest, value) if rest else value
    return dataclasses.replace(obj, **{head: new_value})


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[Point]:
    """Every combination of the grid's values, the first key varying slowest."""
    keys = list(grid)
    return [tuple(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


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
