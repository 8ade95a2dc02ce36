"""Writing result rows whole or not at all (a temporary file renamed into place): CSV always,
Parquet when pyarrow is installed."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from attnforge.paths import replaced_atomically

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Parquet's widest integers; a Python int beyond them is stored as a float (the CSV keeps it
exact)."""


def columns_of(rows: Sequence[Mapping[str, object]]) -> list[str]:
    """Every key of every row, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def write_csv(rows: Sequence[Mapping[str, object]], path: Path) -> Path:
    """Write rows to ``path`` atomically; a missing cell is left empty."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as temporary, \
            temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns_of(rows), restval="")
        writer.writeheader()
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def parquet_available() -> bool:
    """True when pyarrow (pandas' Parquet engine) can be imported."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_parquet(rows: Sequence[Mapping[str, object]], path: Path) -> Path | None:
    """Write rows to a Parquet file atomically if pyarrow is installed; else write nothing.

    List-valued cells (e.g. a swept list field) are stored as their text, as in the CSV. A
    column holds one type: numbers with empty cells ('' or missing) become floats with nulls;
    an integer column with a value beyond 64 bits becomes floats; any other mix of types
    becomes text.
    """
    if not parquet_available():
        return None
    import pandas

    names = columns_of(rows)
    frame = pandas.DataFrame({name: _parquet_column([row.get(name) for row in rows])
                              for name in names}, columns=names)
    path = Path(path)
    with replaced_atomically(path) as temporary:
        frame.to_parquet(temporary, index=False)
    return path


def _parquet_column(values: list[object]) -> list[object]:
    """One column's cells made a single Parquet type (nulls for '' and missing cells)."""
    cells = [None if value is None or value == "" else value for value in values]
    present = [cell for cell in cells if cell is not None]
    if all(isinstance(cell, bool) for cell in present):
        return cells
    if all(isinstance(cell, int | float) and not isinstance(cell, bool) for cell in present):
        if any(isinstance(cell, int) and not INT64_MIN <= cell <= INT64_MAX for cell in present):
            return [None if cell is None else float(cell) for cell in cells]
        return cells
    return [None if cell is None else (cell if isinstance(cell, str) else str(cell))
            for cell in cells]
