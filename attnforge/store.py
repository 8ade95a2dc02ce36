"""A durable results store: one SQLite row per finished point, keyed by a hash of its spec.

The database runs in WAL mode and every batch of results is committed in one transaction, so a
run killed at any instant leaves every committed point intact and no half-written one. A point's
key is the SHA-256 of its kind, its full spec (the frozen design and point, whose ``repr`` is
deterministic) and the model version: re-running the same exploration finds every finished point
by key and evaluates only the rest; changing the design or the model invalidates exactly the
points it touches.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    row TEXT NOT NULL
)
"""


def design_digest(kind: str, design: object, model_version: str, inputs: str = ""
                  ) -> hashlib._Hash:
    """A hash seeded with a kind, a whole design spec, the model version and ``inputs``, a
    fingerprint of the files the design names (their contents, which its spec does not hold;
    see point_key)."""
    return hashlib.sha256("\x1f".join((kind, repr(design), model_version, inputs, "")
                                      ).encode("utf-8"))


def point_key(digest: hashlib._Hash, point: object) -> str:
    """The store key of one point of the design behind ``digest``: its full spec's hash."""
    key = digest.copy()
    key.update(repr(point).encode("utf-8"))
    return key.hexdigest()


class ResultStore:
    """Finished points of explorations in one SQLite file (WAL mode).

    Use as a context manager; ``put_many`` commits its rows atomically.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        self._db.commit()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already stored."""
        wanted = list(keys)
        found: set[str] = set()
        for start in range(0, len(wanted), 900):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key FROM results WHERE key IN ({marks})"
            found.update(key for (key,) in self._db.execute(query, chunk))
        return found

    def put_many(self, entries: Sequence[tuple[str, int, Mapping[str, object]]]) -> None:
        """Store (key, position, row) entries in one transaction; a stored key is kept as is."""
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO results (key, position, row) VALUES (?, ?, ?)",
                [(key, position, json.dumps(row)) for key, position, row in entries],
            )

    def rows(self, keys: Sequence[str]) -> list[dict[str, object]]:
        """The stored rows for ``keys``, in the order given; every key must be stored."""
        by_key: dict[str, dict[str, object]] = {}
        for start in range(0, len(keys), 900):
            chunk = list(keys[start : start + 900])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, row FROM results WHERE key IN ({marks})"
            by_key.update((key, json.loads(row)) for key, row in self._db.execute(query, chunk))
        return [by_key[key] for key in keys]

    def count(self) -> int:
        """How many points are stored."""
        return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
