"""Output directories named on the command line: created (and checked) before anything runs."""

from __future__ import annotations

import os
from pathlib import Path

from einsum.errors import InputError


def output_directory(path: Path, option: str) -> Path:
    """``path``, created with its parents if missing, and writable; else an InputError naming
    ``option`` (e.g. ``--out``) and the path.

    Commands call this before printing anything, so a directory under a regular file, or one
    without permission, is one error line, not a half-printed table followed by an error.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{option} {path}: cannot create the directory: "
                         f"{error.strerror or error}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: the directory is not writable")
    return path
