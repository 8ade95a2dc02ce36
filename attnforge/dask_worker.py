"""Preloaded into each worker of the local Dask cluster `attnforge.backends` starts.

A terminal's Ctrl-C reaches the whole process group. The `attnforge` process stops the run
and closes the cluster; a worker hit by the signal as well died printing a traceback, so each
worker ignores it, as the local process pool's workers do.
"""

from __future__ import annotations

import signal
from typing import Any


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, run in the worker process's main thread: ignore SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
