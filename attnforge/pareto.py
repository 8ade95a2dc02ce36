"""Pareto fronts (all objectives minimised) and a labelled 2D front plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def non_dominated(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``values`` (points × objectives) that no other row dominates.

    Row a dominates row b when a <= b in every objective and a < b in at least one; all
    objectives are minimised. Duplicate rows do not dominate each other (both are kept).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2D array of points × objectives, not shape {values.shape}")
    no_worse = (values[:, None, :] <= values[None, :, :]).all(axis=2)
    better = (values[:, None, :] < values[None, :, :]).any(axis=2)
    dominates = no_worse & better  # dominates[a, b]: a dominates b
    return ~dominates.any(axis=0)


def front_rows(rows: Sequence[Mapping[str, object]], objectives: Sequence[str]) -> list[int]:
    """Indices of the rows on the front for the named (minimised) objectives."""
    if not rows:
        return []
    values = np.array([[float(row[name]) for name in objectives] for row in rows])
    return [int(index) for index in np.flatnonzero(non_dominated(values))]


def plot_front(
    rows: Sequence[Mapping[str, object]],
    objectives: tuple[str, str],
    label_keys: Sequence[str],
    path: Path,
    title: str = "",
    log: bool = True,
) -> Path:
    """Scatter every row on two objectives, draw and label the non-dominated front; write PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_name, y_name = objectives
    xs = np.array([float(row[x_name]) for row in rows])
    ys = np.array([float(row[y_name]) for row in rows])
    front = sorted(front_rows(rows, objectives), key=lambda i: (xs[i], ys[i]))
    figure, axes = plt.subplots(figsize=(8, 6), dpi=120)
    axes.scatter(xs, ys, s=14, color="0.65", label="design points")
    axes.plot(xs[front], ys[front], "o-", color="tab:red", label="Pareto front")
    for index in front:
        label = "/".join(str(rows[index][key]) for key in label_keys)
        axes.annotate(label, (xs[index], ys[index]), fontsize=7, xytext=(4, 4),
                      textcoords="offset points")
    if log:
        axes.set_xscale("log")
        axes.set_yscale("log")
    axes.set_xlabel(x_name)
    axes.set_ylabel(y_name)
    axes.set_title(title or f"Pareto front: {x_name} vs {y_name}")
    axes.legend()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return path
