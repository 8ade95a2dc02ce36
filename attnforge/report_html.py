"""One self-contained HTML page per exploration: summary, Pareto plots and the front's table.

The page needs nothing beside itself: plots are embedded as base64 PNG data, the style sheet is
inline, there is no script and no link to any network address. Writing the same rows twice
gives the same bytes (the plots carry no date or software metadata).
"""

from __future__ import annotations

import base64
import html
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attnforge.kinds import feasible_key_of, label_keys_of, objectives_of, workload_keys_of
from attnforge.pareto import (
    front_figure,
    front_rows,
    group_fronts,
    parallel_figure,
    png_bytes,
    relative_figure,
)
from attnforge.paths import replaced_atomically
from attnforge.results import columns_of

PAGE_NAME = "report.html"
MAX_PAIR_PLOTS = 6
"""2D front plots drawn at most (one per objective pair, in objective order)."""

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eee; position: sticky; top: 0; }
td.text { text-align: left; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.scroll { overflow-x: auto; }
"""


def _cell(value: object) -> str:
    """A table cell: floats to 4 significant digits, right-aligned unless text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f'<td class="text">{html.escape(str(value))}</td>'
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"<td>{html.escape(text)}</td>"


def _image(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure><img alt=\"{html.escape(title)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


def _front(rows: Sequence[Mapping[str, object]], objectives: Sequence[str],
           workload_keys: Sequence[str]) -> list[int]:
    """The front's rows: the global front, or with ``workload_keys`` each workload's own."""
    if not workload_keys:
        return front_rows(rows, objectives)
    _, on_front = group_fronts(rows, objectives, workload_keys)
    return [i for i, found in enumerate(on_front) if found]


def _workloads(rows: Sequence[Mapping[str, object]], workload_keys: Sequence[str]) -> int:
    return len({tuple(r.get(k) for k in workload_keys) for r in rows})


def _order(value: object) -> tuple:
    """A sort key putting numbers in numeric order (1024 before 16384), then text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, repr(value))


def alternative_keys(label_keys: Sequence[str], workload_keys: Sequence[str]) -> tuple[str, ...]:
    """The label keys that tell a workload's alternatives apart (not the workload's own keys:
    colouring by a workload key would count, per model, the workloads it is on the front of)."""
    return tuple(k for k in label_keys if k not in workload_keys) or tuple(label_keys[:1])


def front_table(rows: Sequence[Mapping[str, object]], objectives: Sequence[str],
                label_keys: Sequence[str], workload_keys: Sequence[str] = (),
                positions: Sequence[int] | None = None) -> str:
    """HTML table of the front's rows (each workload's own front, given ``workload_keys``),
    ordered by workload, then the objectives.

    Columns: ``#`` (the row's position in ``rows``, i.e. in results.csv, or ``positions[i]``
    when ``rows`` are some of results.csv's), the label keys, the objectives, then every other
    column.
    """
    front = sorted(_front(rows, objectives, workload_keys),
                   key=lambda i: (tuple(_order(rows[i].get(k)) for k in workload_keys),
                                  tuple(float(rows[i][name]) for name in objectives)))
    first = [key for key in (*label_keys, *objectives) if key in columns_of(rows)]
    columns = list(dict.fromkeys(first + columns_of(rows)))
    head = "<tr><th>#</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
    body = ["<tr><td>" + str(positions[i] if positions else i) + "</td>"
            + "".join(_cell(rows[i].get(c, "")) for c in columns) + "</tr>" for i in front]
    return f'<div class="scroll"><table id="front">\n{head}\n' + "\n".join(body) + "\n</table></div>"


def plots(rows: Sequence[Mapping[str, object]], objectives: Sequence[str],
          label_keys: Sequence[str], title: str, workload_keys: Sequence[str] = ()
          ) -> list[tuple[str, bytes]]:
    """(caption, PNG) of the page's plots: a 2D front per objective pair (at most
    MAX_PAIR_PLOTS), and the parallel-coordinates plot for three or more objectives; with
    ``workload_keys``, one plot per pair relative to each workload's best instead, coloured by
    the :func:`alternative_keys`."""
    out = []
    if workload_keys:
        for pair in itertools.islice(itertools.combinations(objectives, 2), MAX_PAIR_PLOTS):
            caption = f"{title}: {pair[0]} vs {pair[1]} within each workload"
            figure = relative_figure(rows, pair, workload_keys,
                                     alternative_keys(label_keys, workload_keys), caption)
            out.append((caption, png_bytes(figure)))
        return out
    if len(objectives) >= 3:
        caption = f"{title}: parallel coordinates over {', '.join(objectives)}"
        out.append((caption, png_bytes(parallel_figure(rows, objectives, label_keys, caption))))
    for pair in itertools.islice(itertools.combinations(objectives, 2), MAX_PAIR_PLOTS):
        caption = f"{title}: {pair[0]} vs {pair[1]}"
        out.append((caption, png_bytes(front_figure(rows, pair, label_keys, caption))))
    return out


def page(rows: Sequence[Mapping[str, object]], objectives: Sequence[str],
         label_keys: Sequence[str], title: str, summary: str = "",
         images: Sequence[tuple[str, bytes]] = (), workload_keys: Sequence[str] = (),
         feasible_key: str = "") -> str:
    """The page's HTML text (see :func:`write_html`)."""
    objectives, label_keys = tuple(objectives), tuple(label_keys)
    positions = [i for i, r in enumerate(rows) if not feasible_key or r.get(feasible_key)]
    everything, rows = rows, [rows[i] for i in positions]
    if _workloads(rows, workload_keys) < 2 or not label_keys:
        workload_keys = ()  # one workload: its front is the global one
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{len(everything)} design points; objectives (all minimised): "
             f"{html.escape(', '.join(objectives) or 'none')}.</p>"]
    if len(rows) < len(everything):
        none_left = "" if rows else " No point is left, so there is no Pareto front."
        parts.append(f"<p>{len(everything) - len(rows)} points with {html.escape(feasible_key)}"
                     f" False are impossible designs: results.csv keeps them, the front, its "
                     f"plots and its table leave them out.{none_left}</p>")
    if summary:
        parts += ["<h2>Summary</h2>", f"<pre>{html.escape(summary)}</pre>"]
    if rows and objectives:
        front = _front(rows, objectives, workload_keys)
        within = (f" of its workload ({', '.join(workload_keys)}: "
                  f"{_workloads(rows, workload_keys)} workloads; points of different workloads "
                  f"are not compared)" if workload_keys else "")
        parts += ["<h2>Pareto front</h2>",
                  f"<p>{len(front)} of {len(rows)} points are not dominated (no other point"
                  f"{within} is at least as good in every objective and better in one).</p>"]
        parts += [_image(caption, png) for caption, png in plots(rows, objectives, label_keys,
                                                                   title, workload_keys)]
        parts += ["<h2>Points on the front</h2>",
                  front_table(rows, objectives, label_keys, workload_keys, positions)]
    elif not objectives:
        parts.append("<p>This design names no objectives, so there is no Pareto front.</p>")
    if images:
        parts.append("<h2>Plots of the design kind's report</h2>")
        parts += [_image(caption, png) for caption, png in images]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")


def write_html(rows: Sequence[Mapping[str, object]], objectives: Sequence[str],
               label_keys: Sequence[str], path: Path, title: str, summary: str = "",
               images: Sequence[tuple[str, bytes]] = (), workload_keys: Sequence[str] = (),
               feasible_key: str = "") -> Path:
    """Write one self-contained HTML page of an exploration; return its path.

    Parameters
    ----------
    rows : result rows (column → scalar), as in results.csv.
    objectives : the minimised columns of the front (any number; none: no front is drawn).
    label_keys : columns naming a point on plots (joined by '/').
    path : the page, written atomically (a temporary file renamed into place).
    title : the page's heading.
    summary : preformatted text shown first (the exploration's printed summary).
    images : extra (caption, PNG bytes) plots to embed, e.g. the design kind's own.
    workload_keys : columns that fix the work a row does; rows of different workloads are not
        compared, so with two or more workloads each has its own front (and the plots show each
        row relative to its workload's best, coloured by the label keys that are not workload
        keys).
    feasible_key : a boolean column; rows where it is false (impossible designs) are counted
        but left out of the front, its plots and its table ("": every row is a candidate).

    Raises KeyError if a row lacks an objective column, ValueError if its value is not a number.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as temporary:
        temporary.write_text(page(rows, objectives, label_keys, title, summary, images,
                                  workload_keys, feasible_key), encoding="utf-8")
    return path


def write_exploration_page(kind: Any, design: Any, rows: Sequence[Mapping[str, object]],
                           out_dir: Path, summary: str, override_keys: Sequence[str] = ()
                           ) -> Path:
    """OUT/report.html of an exploration: the kind's objectives and labels (with the fallbacks
    of :mod:`attnforge.kinds`; the grid's or search's ``override_keys`` label too), the
    summary, and every PNG the kind's report wrote in OUT."""
    out_dir = Path(out_dir)
    objectives = objectives_of(kind, design)
    labels = label_keys_of(kind, design, rows, objectives, override_keys)
    images = [(png.name, png.read_bytes()) for png in sorted(out_dir.glob("*.png"))]
    title = f"{getattr(design, 'name', '') or kind.name} ({kind.name} exploration)"
    return write_html(rows, objectives, labels, out_dir / PAGE_NAME, title, summary, images,
                      workload_keys_of(kind, design), feasible_key_of(kind, design))
