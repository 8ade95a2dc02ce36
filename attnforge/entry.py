"""The ``attnforge`` console script and ``python -m attnforge``: the CLI (attnforge/cli.py),
quiet on Ctrl-C at either end of a run — while its modules load, and once its outcome is
printed (only the interpreter's shutdown is left: a Ctrl-C would make it die by the signal)."""

from __future__ import annotations

import os
import signal
import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C


def main() -> None:
    """Load the CLI and run it (its own exit status); a Ctrl-C while loading exits 130."""
    # attnforge only writes image files: an MPLBACKEND meant for another program (or
    # misspelled) must not fail its plots after the results are computed
    os.environ["MPLBACKEND"] = "agg"
    try:
        from attnforge.cli import main as run_cli
    except KeyboardInterrupt:
        sys.stderr.write("attnforge: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    try:
        run_cli()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
