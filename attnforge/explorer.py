"""Explorations: every point of a design's sweep, evaluated once, stored durably, resumable.

``explore(design_path, out_dir)`` evaluates the points not yet in ``out_dir/results.sqlite``,
commits each finished chunk, and when every point is stored writes ``results.csv`` (in point
order, atomically), the kind's report (pareto.png, ...) and report.html (one self-contained
page). Killing a run loses no committed point; running the same command again evaluates only
what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from attnforge.backends import BackendChoice, run_chunks
from attnforge.kinds import DesignKind, kind_of
from attnforge.report_html import write_exploration_page
from attnforge.results import write_csv
from attnforge.store import ResultStore, design_digest, point_key
from attnforge.sweep import Point, apply_overrides, load_grid

STORE_NAME = "results.sqlite"
CSV_NAME = "results.csv"
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


def model_version(kind: DesignKind) -> str:
    """The version string hashed into every key: attnforge's and the kind's model version."""
    return f"attnforge {version('attnforge')}; {kind.name} {getattr(kind, 'model_version', '1')}"


def plan(design_path: Path) -> Plan:
    """Load a design file and list its points with their keys; raises SpecError."""
    kind = kind_of(design_path)
    design = kind.load(design_path)
    model = model_version(kind)
    points, keys = [], []
    for overrides in load_grid(design_path, type(design), design):
        variant = apply_overrides(design, overrides)
        digest = design_digest(kind.name, variant, model)
        for point in kind.points(variant):
            points.append((overrides, point))
            keys.append(point_key(digest, point))
    return Plan(kind, design, tuple(points), tuple(keys))


def chunk_size(count: int, workers: int) -> int:
    """Points per task: enough tasks to balance the workers, few enough to amortise overhead."""
    return max(1, min(256, count // (8 * max(workers, 1)) or 1))


def explore(
    design_path: Path,
    out_dir: Path,
    backend: BackendChoice = DEFAULT_BACKEND,
    on_progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Evaluate every missing point, store it, then write the CSV and the report."""
    the_plan = plan(design_path)
    out_dir = Path(out_dir)
    with ResultStore(out_dir / STORE_NAME) as store:
        done = store.done_keys(the_plan.keys)
        todo = [(i, p) for i, (p, k) in enumerate(zip(the_plan.points, the_plan.keys, strict=True))
                if k not in done]
        _evaluate(the_plan, todo, store, backend, on_progress, total=len(the_plan.points))
        rows = tuple(store.rows(the_plan.keys))
    csv_path = write_csv(rows, out_dir / CSV_NAME)
    summary = the_plan.kind.report(the_plan.design, rows, out_dir)
    write_exploration_page(the_plan.kind, the_plan.design, rows, out_dir, summary)
    return Outcome(rows, len(todo), len(the_plan.points) - len(todo), csv_path, summary)


def _evaluate(the_plan: Plan, todo: Sequence[tuple[int, Any]], store: ResultStore,
              backend: BackendChoice, on_progress, total: int) -> None:
    finished = total - len(todo)
    if on_progress:
        on_progress(finished, total)
    if not todo:
        return
    size = chunk_size(len(todo), backend.worker_count())
    chunks = [todo[start : start + size] for start in range(0, len(todo), size)]
    for results in run_chunks(backend, the_plan.kind.name, the_plan.design, chunks):
        store.put_many([(the_plan.keys[position], position, row) for position, row in results])
        finished += len(results)
        if on_progress:
            on_progress(finished, total)


def results_frame(out_dir: Path):
    """The exploration's results as a pandas DataFrame (from its results.csv)."""
    import pandas

    return pandas.read_csv(Path(out_dir) / CSV_NAME)
