"""Output directories named on the command line: created (and checked) before anything runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from einsum.errors import InputError


def output_directory(path: Path, option: str) -> Path:
    """``path``, created with its parents if missing, and writable; else an InputError naming
    ``option`` (e.g. ``--out``) and the path.

    Commands call this before printing anything, so a directory under a regular file, or one
    without permission, is one error line, not a half-printed table followed by an error.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():  # mkdir's "File exists" would not say what is wrong
        raise InputError(f"{option} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{option} {path}: cannot create the directory: "
                         f"{error.strerror or error}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: the directory is not writable")
    return path


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) to write to: on a clean exit it is renamed
    over ``path``, on an error removed. A reader sees the old file (or none) or the whole new
    one, never a part."""
    path = Path(path)
    temp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield temp
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
