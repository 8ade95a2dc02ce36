"""`attnforge explore DESIGN.yaml --out DIR`: evaluate every point of a design's sweep."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from attnforge.backends import BACKENDS, BackendChoice
from attnforge.explorer import CSV_NAME, PARQUET_NAME, STORE_NAME
from attnforge.explorer import explore as run_exploration
from einsum.errors import InputError

from .verilog import directory_option


@click.command()
@click.argument("design", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              callback=lambda ctx, param, value: directory_option(param, value),
              help="Directory for results.csv, results.sqlite (resumable store) and plots.")
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help="serial, process (default: a local process pool) or dask.")
@click.option("--workers", type=int, default=None,
              help="Worker processes of a local pool (process or dask; default: all cores).")
@click.option("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def explore(design: Path, out_dir: Path, backend: str | None, workers: int | None,
            scheduler: str | None, quiet: bool) -> None:
    """Evaluate every point of DESIGN's sweep (its grid or its seeded search); write
    OUT/results.csv (and, with pyarrow, the same rows as OUT/results.parquet), OUT/pareto.png
    and OUT/report.html.

    Finished points are stored in OUT/results.sqlite as they complete: rerunning the same
    command after an interruption evaluates only the missing points.
    """
    if scheduler and backend not in (None, "dask"):
        raise InputError(f"--scheduler {scheduler} needs --backend dask, not --backend {backend}")
    if scheduler:
        check_scheduler(scheduler)
    if workers is not None and backend == "serial":
        raise InputError(f"--workers {workers} needs --backend process or dask, not --backend "
                         f"serial (one point after another in this process)")
    if workers is not None and scheduler:
        raise InputError(f"--workers {workers} sizes a local pool; the scheduler at "
                         f"{scheduler!r} has its own workers")
    name = backend or ("dask" if scheduler else "process")
    choice = BackendChoice(name, workers, scheduler)
    columns = ["[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn()]
    # The bar goes to stderr and only to a terminal: stdout carries the summary alone.
    show = not quiet and sys.stderr.isatty()
    with Progress(*columns, console=Console(stderr=True), disable=not show,
                  transient=True) as progress:
        task = progress.add_task(f"exploring {design.name}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        check_outputs(out_dir)
        try:
            outcome = run_exploration(design, out_dir, choice, on_progress)
        except sqlite3.DatabaseError as error:  # the store: not SQLite, or broken mid-run
            store = out_dir / STORE_NAME
            what = "not a results store" if "not a database" in str(error) else "the store"
            raise InputError(f"{store}: {what} ({error}); remove it or choose another "
                             f"--out") from None
        except KeyboardInterrupt:
            progress.stop()
            store = out_dir / STORE_NAME
            kept = (f"; finished points are kept in {store}: rerun the same command to resume"
                    if store.exists() else " before any point was stored")
            click.echo(f"attnforge: interrupted{kept}", err=True)
            raise SystemExit(130) from None
    click.echo(outcome.summary)
    if outcome.search_note:
        click.echo(outcome.search_note)
    parquet = ", results.parquet" if outcome.parquet_path else ""
    count = len(outcome.rows)
    click.echo(f"wrote {outcome.csv_path}{parquet}, pareto.png and report.html in "
               f"{out_dir}, the store results.sqlite beside them "
               f"({count} point{'' if count == 1 else 's'}: {outcome.evaluated} evaluated, "
               f"{outcome.reused} reused from the store)")


#: The files explore writes in --out.
OUTPUT_NAMES = (STORE_NAME, CSV_NAME, PARQUET_NAME, "pareto.png", "report.html")


def check_outputs(out_dir: Path) -> None:
    """InputError before anything runs when a file explore writes in ``out_dir`` is a
    directory there (it would fail only after every point had run)."""
    for name in OUTPUT_NAMES:
        if (out_dir / name).is_dir():
            raise InputError(f"--out {out_dir}: {name} there is a directory")


#: Protocols of a Dask scheduler address taken by --scheduler.
SCHEDULER_PROTOCOLS = ("tcp", "tls")


def check_scheduler(address: str) -> None:
    """InputError unless ``address`` reads as a Dask scheduler address, ``[tcp://]HOST:PORT``
    (or ``tls://``), port 1..65535: checked before anything runs, not by the client."""
    protocol, _, location = address.rpartition("://")
    host, _, port = location.rpartition(":")
    problem = ""
    if (protocol or "tcp") not in SCHEDULER_PROTOCOLS:
        problem = f"protocol {protocol!r} is not one of {', '.join(SCHEDULER_PROTOCOLS)}"
    elif not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        problem = "needs a host and a port in 1..65535"
    if problem:
        raise InputError(f"--scheduler {address!r}: a Dask scheduler address is "
                         f"tcp://HOST:PORT; {problem}")
