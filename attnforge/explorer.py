"""Explorations: every point of a design's sweep, evaluated once, stored durably, resumable.

``explore(design_path, out_dir)`` evaluates the points not yet in ``out_dir/results.sqlite``,
commits each finished chunk, and when every point is stored writes ``results.csv`` (in point
order, atomically), the kind's report (pareto.png, ...) and report.html (one self-contained
page). Killing a run loses no committed point; running the same command again evaluates only
what is missing.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from attnforge.backends import BackendChoice, run_chunks
from attnforge.kinds import DesignKind, design_problems, kind_of, objectives_of
from attnforge.paths import output_directory
from attnforge.report_html import write_exploration_page
from attnforge.results import write_csv, write_parquet
from attnforge.specload import Problem, SpecError
from attnforge.store import ResultStore, design_digest, point_key
from attnforge.sweep import Point, Search, apply_overrides, search_points, split_key
from attnforge.sweep_file import check_trial, load_grid, load_search
from einsum.errors import InputError

STORE_NAME = "results.sqlite"
CSV_NAME = "results.csv"
PARQUET_NAME = "results.parquet"
DEFAULT_BACKEND = BackendChoice()


@dataclass(frozen=True, slots=True)
class Plan:
    """What an exploration will do: the base design, its points and their store keys.

    Each point is (grid overrides, the kind's point); the point's design is the base design
    with the overrides applied.
    """

    kind: DesignKind
    design: Any
    points: tuple[tuple[Point, Any], ...]
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an exploration did."""

    rows: tuple[dict[str, object], ...]
    evaluated: int
    reused: int
    csv_path: Path
    summary: str
    search_note: str = ""  # a search's trials against its distinct variants (repeats run once)
    parquet_path: Path | None = None  # None without pyarrow


def model_version(kind: DesignKind) -> str:
    """The version string hashed into every key: attnforge's and the kind's model version."""
    return f"attnforge {version('attnforge')}; {kind.name} {getattr(kind, 'model_version', '1')}"


def plan(design_path: Path) -> Plan:
    """Load a design file and list its grid's points with their keys; raises SpecError."""
    kind = kind_of(design_path)
    return _grid_plan(kind, kind.load(design_path), design_path)


def _grid_plan(kind: DesignKind, design: Any, design_path: Path) -> Plan:
    model = model_version(kind)
    points, keys = [], []
    check = partial(design_problems, kind)
    for overrides in load_grid(design_path, type(design), design, check):
        variant_points, variant_keys = _variant(kind, design, overrides, model)
        points += variant_points
        keys += variant_keys
    return Plan(kind, design, tuple(points), tuple(keys))


def input_fingerprint(kind: DesignKind, design: Any) -> str:
    """The kind's fingerprint of the files ``design`` names (``kind.input_fingerprint``), or
    "" for a kind whose designs name none."""
    fingerprint = getattr(kind, "input_fingerprint", None)
    return fingerprint(design) if fingerprint else ""


def _variant(kind: DesignKind, design: Any, overrides: Point, model: str) -> tuple[list, list]:
    """The (overrides, point) items of one design variant and their store keys."""
    variant = apply_overrides(design, overrides)
    digest = design_digest(kind.name, variant, model, input_fingerprint(kind, variant))
    points = kind.points(variant)
    return [(overrides, p) for p in points], [point_key(digest, p) for p in points]


def chunk_size(count: int, workers: int) -> int:
    """Points per task: enough tasks to balance the workers, few enough to amortise overhead."""
    return max(1, min(256, count // (8 * max(workers, 1)) or 1))


def explore(
    design_path: Path,
    out_dir: Path,
    backend: BackendChoice = DEFAULT_BACKEND,
    on_progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Evaluate every missing point (of the grid, or of the search's trials), store it, then
    write the CSV, the kind's report and the HTML page."""
    kind = kind_of(design_path)
    design = kind.load(design_path)
    search = load_search(design_path, type(design), design, partial(design_problems, kind))
    the_plan = None if search else _grid_plan(kind, design, design_path)
    backend.worker_count()  # a bad --workers fails before the output directory is made
    made = _first_missing(Path(out_dir))
    out_dir = _output_directory(Path(out_dir))
    try:
        with ResultStore(out_dir / STORE_NAME) as store:
            if the_plan is not None:
                keys = the_plan.keys
                done = store.done_keys(keys)
                todo = [(i, item) for i, (item, key) in enumerate(zip(the_plan.points, keys,
                                                                        strict=True))
                        if key not in done]
                progress = _Progress(on_progress, len(keys), len(keys) - len(todo))
                _evaluate(kind.name, design, keys, todo, store, backend, progress)
                evaluated = len(todo)
            else:
                keys, evaluated, variants = _run_search(kind, design, search, store, backend,
                                                        on_progress, design_path)
            rows = tuple(store.rows(keys))
    except InputError:  # e.g. a search trial inside a range breaks a rule its ends keep
        _remove_if_empty(made, out_dir)
        raise
    overrides = (search.space if search else
                 dict.fromkeys(key for item, _ in the_plan.points for key, _ in item))
    override_keys = tuple(dict.fromkeys(f for key in overrides for f in split_key(key)))
    csv_path = write_csv(rows, out_dir / CSV_NAME)
    parquet_path = write_parquet(rows, out_dir / PARQUET_NAME)
    summary = kind.report(design, rows, out_dir)
    write_exploration_page(kind, design, rows, out_dir, summary, override_keys)
    note = ("" if not search else
            f"search: {search.trials} trials, {variants} distinct design variant(s)"
            + ("" if variants == search.trials else "; a repeated trial is evaluated once"))
    return Outcome(rows, evaluated, len(rows) - evaluated, csv_path, summary, note, parquet_path)


def _first_missing(path: Path) -> Path | None:
    """The outermost directory of ``path`` that does not exist yet (this run makes it), or None."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_if_empty(made: Path | None, out_dir: Path) -> None:
    """After bad input stopped a run: remove what the run made (``made``, holding ``out_dir``)
    if no point was stored in it, so the error leaves no output directory behind."""
    if made is None:
        return
    with ResultStore(out_dir / STORE_NAME) as store:
        if store.count():
            return
    shutil.rmtree(made, ignore_errors=True)


def _output_directory(out_dir: Path) -> Path:
    """``out_dir``, created if missing; an InputError naming ``--out`` when it cannot be."""
    return output_directory(out_dir, "--out")


@dataclass(slots=True)
class _Progress:
    """Counts finished points and reports (done, total) to an optional callback."""

    callback: Callable[[int, int], None] | None
    total: int
    done: int = 0

    def advance(self, count: int = 0) -> None:
        self.done += count
        if self.callback:
            self.callback(self.done, self.total)


def _evaluate(kind_name: str, design: Any, keys: Sequence[str], todo: Sequence[tuple[int, Any]],
              store: ResultStore, backend: BackendChoice, progress: _Progress) -> None:
    """Evaluate (position, item) pairs on the backend, committing each chunk under its keys."""
    progress.advance()
    if not todo:
        return
    size = chunk_size(len(todo), backend.worker_count())
    chunks = [todo[start : start + size] for start in range(0, len(todo), size)]
    # closing: an interruption here (Ctrl-C while storing) still stops the backend's workers
    with closing(run_chunks(backend, kind_name, design, chunks)) as finished:
        for results in finished:
            store.put_many([(keys[position], position, row) for position, row in results])
            progress.advance(len(results))


def _run_search(kind: DesignKind, design: Any, search: Search, store: ResultStore,
                backend: BackendChoice, on_progress, design_path: Path
                ) -> tuple[list[str], int, int]:
    """Run the seeded search; the keys of every evaluated point in trial order, how many
    points were evaluated now (the rest came from the store: a rerun replays the same trials)
    and how many distinct design variants the trials asked for."""
    objectives = objectives_of(kind, design)
    if not objectives:
        raise SpecError([Problem("<design>", 1, 1, "search", "the design names no objectives")])
    model = model_version(kind)
    keys: dict[str, None] = {}
    variants: set[tuple[str, ...]] = set()
    progress = _Progress(on_progress, search.trials * len(kind.points(design)))
    evaluated = 0

    def evaluate_batch(batch: list[Point]) -> list[dict[str, float]]:
        nonlocal evaluated
        items, batch_keys, per_trial = [], [], []
        for overrides in batch:  # a long range is checked up front at its ends only
            check_trial(design_path, design, overrides, partial(design_problems, kind))
        for overrides in batch:
            points, point_keys = _variant(kind, design, overrides, model)
            per_trial.append(point_keys)
            variants.add(tuple(point_keys))
            items += points
            batch_keys += point_keys
        done = store.done_keys(batch_keys)
        fresh = {key: i for i, key in enumerate(batch_keys) if key not in done}
        todo = [(i, items[i]) for i in fresh.values()]
        progress.advance(len(batch_keys) - len(todo))
        _evaluate(kind.name, design, batch_keys, todo, store, backend, progress)
        evaluated += len(todo)
        keys.update(dict.fromkeys(batch_keys))
        return [_aggregate(store.rows(trial_keys), objectives) for trial_keys in per_trial]

    search_points(search, objectives, evaluate_batch)
    return list(keys), evaluated, len(variants)


def _aggregate(rows: Sequence[dict], objectives: Sequence[str]) -> dict[str, float]:
    """Each objective's geometric mean over rows (arithmetic if a value is not positive)."""
    means = {}
    for name in objectives:
        values = [float(row[name]) for row in rows]
        positive = all(v > 0 for v in values)
        means[name] = (math.exp(sum(map(math.log, values)) / len(values)) if positive
                       else sum(values) / len(values))
    return means


def results_frame(out_dir: Path):
    """The exploration's results as a pandas DataFrame (from its results.csv)."""
    import pandas

    return pandas.read_csv(Path(out_dir) / CSV_NAME)
