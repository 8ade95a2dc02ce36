"""`attnforge explore DESIGN.yaml --out DIR`: evaluate every point of a design's sweep."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from attnforge.kinds import kind_of
from attnforge.results import write_csv


@click.command()
@click.argument("design", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for results.csv, pareto.png and the other outputs.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def explore(design: Path, out_dir: Path, quiet: bool) -> None:
    """Evaluate every point of DESIGN's sweep; write OUT/results.csv and OUT/pareto.png."""
    kind = kind_of(design)
    spec = kind.load(design)
    points = kind.points(spec)
    rows = []
    columns = [
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, disable=quiet, transient=True) as progress:
        task = progress.add_task(f"exploring {design.name}", total=len(points))
        for point in points:
            rows.append(dict(kind.evaluate(spec, point)))
            progress.advance(task)
    csv_path = write_csv(rows, out_dir / "results.csv")
    summary = kind.report(spec, rows, out_dir)
    click.echo(summary)
    click.echo(f"wrote {csv_path} ({len(rows)} points)")
