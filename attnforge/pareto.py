"""Pareto fronts (all objectives minimised), a labelled 2D front plot, a per-workload relative
plot (fronts taken within each workload) and a parallel-coordinates plot for any number of
objectives. Figures are built by ``*_figure`` functions (for embedding in
a page) and written as PNG by ``plot_*``; the same rows give the same bytes."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

FRONT_COLOUR = "tab:red"
OTHER_COLOUR = "0.65"
MAX_LABELS = 20
"""Front points labelled on a plot at most (the rest stay unlabelled, ordered by objective 1)."""
MAX_COLOURS = 20
"""Design alternatives told apart by colour on a relative plot at most (a legend entry each)."""
LOG_SPAN = 10.0
"""An axis is drawn log-scaled when its positive values span at least this ratio (max / min);
narrower spans read better on a linear axis."""
LABEL_GAP = 0.035
"""Least vertical distance between labels at the last parallel axis (normalised units)."""


def non_dominated(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``values`` (points × objectives) that no other row dominates.

    Row a dominates row b when a <= b in every objective and a < b in at least one; all
    objectives are minimised. Duplicate rows do not dominate each other (both are kept).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2D array of points × objectives, not shape {values.shape}")
    # A dominating point precedes the point it dominates in lexicographic order, and whatever
    # dominates a dominated point also dominates what it dominates: so visiting points in that
    # order, checking each only against the front found so far, is exact. O(n · |front|).
    order = np.lexsort(values.T[::-1])
    mask = np.zeros(len(values), dtype=bool)
    front = np.empty_like(values)  # the first `size` rows hold the front found so far
    size = 0
    for index in order:
        point = values[index]
        no_worse = (front[:size] <= point).all(axis=1)
        better = (front[:size] < point).any(axis=1)
        if not (no_worse & better).any():
            mask[index] = True
            front[size] = point
            size += 1
    return mask


def objective_values(rows: Sequence[Mapping[str, object]], objectives: Sequence[str]) -> np.ndarray:
    """The rows' objective values as a float array (rows × objectives)."""
    return np.array([[float(row[name]) for name in objectives] for row in rows],
                    dtype=float).reshape(len(rows), len(objectives))


def front_rows(rows: Sequence[Mapping[str, object]], objectives: Sequence[str]) -> list[int]:
    """Indices of the rows on the front for the named (minimised) objectives."""
    if not rows:
        return []
    values = objective_values(rows, objectives)
    return [int(index) for index in np.flatnonzero(non_dominated(values))]


def row_label(row: Mapping[str, object], label_keys: Sequence[str]) -> str:
    """A short label of a row: its ``label_keys`` values joined by '/'."""
    return "/".join(str(row[key]) for key in label_keys if key in row)


def _keys_caption(keys: Sequence[str]) -> str:
    """What a label says, e.g. ``config/array_dim`` (dotted grid keys by their last part)."""
    return "/".join(key.rsplit(".", 1)[-1] for key in keys)


def wide(values: np.ndarray) -> bool:
    """Whether values span enough to be drawn on a log axis: all positive, max/min >= LOG_SPAN."""
    values = np.asarray(values, dtype=float)
    return bool(values.size and (values > 0).all() and values.max() >= LOG_SPAN * values.min())


def normalise_axes(values: np.ndarray, log: bool = True) -> np.ndarray:
    """Each column of ``values`` mapped onto [0, 1]: its minimum to 0, its maximum to 1.

    With ``log``, a column whose values are all positive is mapped on log10 scale. A constant
    column maps to 0.5. Order within a column is preserved, so 0 is the best (minimised) value.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2D array of points × objectives, not shape {values.shape}")
    scaled = values.copy()
    for column in range(values.shape[1]):
        if log and values.shape[0] and (values[:, column] > 0).all():
            scaled[:, column] = np.log10(values[:, column])
    low, high = scaled.min(axis=0, initial=np.inf), scaled.max(axis=0, initial=-np.inf)
    span = high - low
    flat = span == 0
    out = (scaled - low) / np.where(flat, 1.0, span)
    out[:, flat] = 0.5
    return out


def spread(heights: Sequence[float], gap: float) -> list[float]:
    """Label heights near ``heights`` (same order) with at least ``gap`` between any two.

    Labels keep their order by height. Labels that would crowd form a group whose members sit
    ``gap`` apart, centred on the mean of their heights (groups merge until none overlap), so
    each group, and the whole, keeps the mean height of its labels.
    """
    order = sorted(range(len(heights)), key=lambda i: (heights[i], i))
    groups: list[list[int]] = []  # runs of `order`, bottom to top

    def bottom(group: list[int]) -> float:
        return sum(heights[i] for i in group) / len(group) - gap * (len(group) - 1) / 2

    for i in order:
        groups.append([i])
        while len(groups) > 1 and bottom(groups[-1]) < bottom(groups[-2]) + gap * len(groups[-2]):
            last = groups.pop()
            groups[-1].extend(last)
    out = [0.0] * len(heights)
    for group in groups:
        low = bottom(group)
        for rank, i in enumerate(group):
            out[i] = low + rank * gap
    return out


def _figure(width: float, height: float):
    """A new matplotlib Figure, not registered with pyplot: no global backend switch, so
    notebooks keep their inline backend, and nothing needs closing."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120)
    return figure, figure.subplots()


def coincident_labels(rows: Sequence[Mapping[str, object]], values: np.ndarray,
                      label_keys: Sequence[str]) -> dict[int, str]:
    """One label per distinct point: the first row at each (x, y) maps to a label naming every
    row there, each key's distinct values joined by '|' (``1/16/True|False``): equal points
    would otherwise print their labels over each other."""
    at: dict[tuple[float, ...], list[int]] = {}
    for index, point in enumerate(map(tuple, values)):
        at.setdefault(point, []).append(index)
    return {members[0]: "/".join("|".join(dict.fromkeys(str(rows[i][key]) for i in members))
                                 for key in label_keys if key in rows[members[0]])
            for members in at.values()}


def front_figure(
    rows: Sequence[Mapping[str, object]],
    objectives: tuple[str, str],
    label_keys: Sequence[str],
    title: str = "",
    log: bool = True,
):
    """A matplotlib Figure: every row on two objectives, the front drawn and labelled (with at
    most MAX_LABELS rows, the dominated rows labelled too, in grey)."""
    x_name, y_name = objectives
    values = objective_values(rows, objectives)
    xs, ys = values[:, 0], values[:, 1]
    front = sorted(front_rows(rows, objectives), key=lambda i: (xs[i], ys[i]))
    figure, axes = _figure(8, 6)
    axes.scatter(xs, ys, s=14, color=OTHER_COLOUR, label="design points")
    shown = [key for key in label_keys if any(key in rows[i] for i in front)]
    named = f" (labels: {_keys_caption(shown)})" if shown else ""
    axes.plot(xs[front], ys[front], "o-", color=FRONT_COLOUR, label=f"Pareto front{named}")
    labels = coincident_labels(rows, values, label_keys)
    for index in front[:MAX_LABELS]:
        if index in labels:
            axes.annotate(labels[index], (xs[index], ys[index]), fontsize=7, xytext=(4, 4),
                          textcoords="offset points")
    if len(rows) <= MAX_LABELS:  # few points: name the dominated ones too, in grey
        on_front = {tuple(values[i]) for i in front}
        for index in sorted(set(range(len(rows))) - set(front)):
            if index in labels and tuple(values[index]) not in on_front:
                axes.annotate(labels[index], (xs[index], ys[index]), fontsize=6, color="0.45",
                              xytext=(4, -9), textcoords="offset points")
    if log and wide(xs):
        axes.set_xscale("log")
    if log and wide(ys):
        axes.set_yscale("log")
    axes.set_xlabel(x_name)
    axes.set_ylabel(y_name)
    axes.set_title(title or f"Pareto front: {x_name} vs {y_name}")
    axes.legend()
    _tight_layout(figure)
    return figure


def group_fronts(rows: Sequence[Mapping[str, object]], objectives: Sequence[str],
                 group_keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per group of rows sharing ``group_keys`` (one workload): each row's objectives divided by
    its group's best (so 1 is the best of that workload), and whether the row is on its own
    group's front. Rows of different workloads never dominate each other."""
    values = objective_values(rows, objectives)
    relative = np.empty_like(values)
    on_front = np.zeros(len(rows), dtype=bool)
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row[k] for k in group_keys), []).append(i)
    for members in groups.values():
        block = values[members]
        best = block.min(axis=0)
        relative[members] = block / np.where(best > 0, best, 1.0)
        on_front[members] = non_dominated(block)
    return relative, on_front


def relative_figure(
    rows: Sequence[Mapping[str, object]],
    objectives: tuple[str, str],
    group_keys: Sequence[str],
    colour_key: str | Sequence[str],
    title: str = "",
):
    """A matplotlib Figure for rows of many workloads: each row's two objectives relative to
    its workload's best, one colour per design alternative (the value of ``colour_key``, or of
    several keys joined by '/', named in the legend's title; of several keys, those
    :func:`few_colours` keeps), rows on their own workload's front ringed; the legend counts,
    per alternative, the workloads whose front it is on."""
    keys = few_colours(rows, (colour_key,) if isinstance(colour_key, str) else colour_key)
    relative, on_front = group_fronts(rows, objectives, group_keys)
    workloads = len({tuple(r[k] for k in group_keys) for r in rows})
    names = [row_label(r, keys) for r in rows]
    if len(set(names)) > MAX_COLOURS:
        keys, names = (), ["design points"] * len(rows)
    figure, axes = _figure(8, 6)
    colours = _colours(len(set(names)))
    sizes = _dot_sizes(len(colours))
    for colour, name, size in zip(colours, dict.fromkeys(names), sizes, strict=True):
        mine = np.array([n == name for n in names])
        fronts = len({tuple(r[k] for k in group_keys) for r, m, f in zip(rows, mine, on_front,
                                                                          strict=True) if m and f})
        axes.scatter(relative[mine, 0], relative[mine, 1], s=size, color=colour,
                     label=f"{name}: on the front of {fronts} of {workloads} workloads")
    axes.scatter(relative[on_front, 0], relative[on_front, 1], s=sizes[0] + 50,
                 facecolors="none", edgecolors="black", linewidths=0.8,
                 label="on its workload's front")
    for column, set_scale in ((0, axes.set_xscale), (1, axes.set_yscale)):
        if relative[:, column].max() > 10:  # wide ratios on a log axis; near 1, linear reads
            set_scale("log")
    axes.set_xlabel(f"{objectives[0]} / best of the workload")
    axes.set_ylabel(f"{objectives[1]} / best of the workload")
    axes.set_title(title or f"{objectives[0]} vs {objectives[1]}, per workload")
    axes.legend(fontsize=8, title=_keys_caption(keys) or None, title_fontsize=8)
    _tight_layout(figure)
    return figure


def _dot_sizes(count: int, largest: float = 70.0, smallest: float = 16.0) -> list[float]:
    """Marker areas (pt²) of ``count`` colours drawn in order, each smaller than the one before:
    alternatives that give the same numbers (e.g. GQA where the buffer bounds K/V reuse) show
    as nested dots instead of the last one hiding the rest."""
    if count == 1:
        return [22.0]
    return [largest - (largest - smallest) * i / (count - 1) for i in range(count)]


def few_colours(rows: Sequence[Mapping[str, object]], keys: Sequence[str],
                limit: int = MAX_COLOURS) -> tuple[str, ...]:
    """The keys (in their order) whose value combinations colour rows with at most ``limit``
    colours: taken greedily from the key with the fewest distinct values up, each kept while
    the combinations stay within ``limit``; at least the first of those."""
    def count(chosen: Sequence[str]) -> int:
        return len({tuple(repr(r.get(k)) for k in chosen) for r in rows})

    chosen: list[str] = []
    for key in sorted(keys, key=lambda k: count((k,))):
        if not chosen or count([*chosen, key]) <= limit:
            chosen.append(key)
    return tuple(k for k in keys if k in chosen)


def _colours(count: int) -> list:
    """``count`` distinct colours: matplotlib's ten-colour cycle, or tab20 beyond ten."""
    from matplotlib import colormaps

    table = colormaps["tab10" if count <= 10 else "tab20"]
    return [table(i % table.N) for i in range(count)]


def parallel_figure(
    rows: Sequence[Mapping[str, object]],
    objectives: Sequence[str],
    label_keys: Sequence[str],
    title: str = "",
    log: bool = True,
):
    """A matplotlib Figure: parallel coordinates, one vertical axis per objective.

    Each row is a polyline through its values, each axis scaled by :func:`normalise_axes`
    (0 = the best value of that objective, at the bottom). Rows on the front (over all the
    objectives) are drawn in colour and labelled at the last axis; the rest in grey. Each
    axis is annotated with its minimum and maximum in the objective's own units.
    """
    values = objective_values(rows, objectives)
    scaled = normalise_axes(values, log)
    front = front_rows(rows, objectives)
    on_front = np.zeros(len(rows), dtype=bool)
    on_front[front] = True
    xs = np.arange(len(objectives))
    figure, axes = _figure(max(6.0, 2.2 * len(objectives) + 2), 6)
    for index in np.flatnonzero(~on_front):
        axes.plot(xs, scaled[index], color=OTHER_COLOUR, linewidth=0.7, alpha=0.6)
    order = sorted(front, key=lambda i: tuple(values[i]))
    for rank, index in enumerate(order):
        axes.plot(xs, scaled[index], "o-", color=FRONT_COLOUR, linewidth=1.4, markersize=3,
                  label="Pareto front" if rank == 0 else None)
    labelled = order[:MAX_LABELS]
    heights = spread(scaled[labelled, -1], LABEL_GAP) if labelled else []
    for index, height in zip(labelled, heights, strict=True):
        axes.annotate(row_label(rows[index], label_keys), (xs[-1], scaled[index, -1]),
                      xytext=(xs[-1] + 0.08, height), textcoords="data", fontsize=7,
                      va="center", arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})
    for column, name in enumerate(objectives):
        axes.axvline(column, color="0.2", linewidth=0.8)
        scale = " (log)" if log and len(rows) and (values[:, column] > 0).all() else ""
        if len(rows):
            low, high = values[:, column].min(), values[:, column].max()
            axes.annotate(f"{low:.3g}", (column, 0), xytext=(0, -12), textcoords="offset points",
                          ha="center", fontsize=7)
            axes.annotate(f"{high:.3g}", (column, 1), xytext=(0, 6), textcoords="offset points",
                          ha="center", fontsize=7)
        axes.annotate(name + scale, (column, 0), xytext=(0, -26), textcoords="offset points",
                      ha="center", fontsize=8)
    axes.set_xlim(-0.3, len(objectives) - 0.2)
    axes.set_ylim(min([-0.05, *(h - 0.03 for h in heights)]),
                  max([1.05, *(h + 0.03 for h in heights)]))
    axes.set_xticks([])
    axes.set_ylabel("normalised objective (0 = best)")
    axes.set_title(title or f"Parallel coordinates: {', '.join(objectives)}", pad=16)
    if front:
        axes.legend(loc="upper left", fontsize=8)
    _tight_layout(figure)
    return figure


@contextmanager
def _missing_glyphs_allowed() -> Iterator[None]:
    """Silence matplotlib's "Glyph N missing from font(s)" warnings: a design or label in a
    script the font lacks (CJK, ...) is drawn with placeholder boxes, the figure is complete, and
    the warning would only clutter stderr (once per glyph, from layout and again from saving)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font",
                                category=UserWarning)
        yield


def _tight_layout(figure) -> None:
    with _missing_glyphs_allowed():
        figure.tight_layout()


def png_bytes(figure) -> bytes:
    """The figure as PNG bytes (no software/date metadata, so bytes are reproducible)."""
    buffer = io.BytesIO()
    with _missing_glyphs_allowed():
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _write(figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(figure))
    return path


def plot_front(
    rows: Sequence[Mapping[str, object]],
    objectives: tuple[str, str],
    label_keys: Sequence[str],
    path: Path,
    title: str = "",
    log: bool = True,
) -> Path:
    """Scatter every row on two objectives, draw and label the non-dominated front; write PNG."""
    return _write(front_figure(rows, objectives, label_keys, title, log), path)


def plot_relative(
    rows: Sequence[Mapping[str, object]],
    objectives: tuple[str, str],
    group_keys: Sequence[str],
    colour_key: str,
    path: Path,
    title: str = "",
) -> Path:
    """Rows of many workloads relative to each workload's best (see :func:`relative_figure`)."""
    return _write(relative_figure(rows, objectives, group_keys, colour_key, title), path)


def plot_parallel(
    rows: Sequence[Mapping[str, object]],
    objectives: Sequence[str],
    label_keys: Sequence[str],
    path: Path,
    title: str = "",
    log: bool = True,
) -> Path:
    """Parallel-coordinates plot of every row, front highlighted (see :func:`parallel_figure`)."""
    return _write(parallel_figure(rows, objectives, label_keys, title, log), path)
