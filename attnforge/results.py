"""Writing result rows whole or not at all (a temporary file renamed into place): CSV always,
Parquet when pyarrow is installed."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path


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
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns_of(rows), restval="")
        writer.writeheader()
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
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

    List-valued cells (e.g. a swept list field) are stored as their text, as in the CSV.
    """
    if not parquet_available():
        return None
    import pandas

    frame = pandas.DataFrame([{k: (str(v) if isinstance(v, list | tuple | dict) else v)
                               for k, v in row.items()} for row in rows], columns=columns_of(rows))
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)
    return path
