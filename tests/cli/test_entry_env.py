"""The command line's environment: a user's MPLBACKEND is for other programs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DESIGN = Path(__file__).parents[2] / "designs" / "edge-moe-zcu102.yaml"


def test_a_bad_mplbackend_does_not_stop_the_plots(tmp_path):
    # MPLBACKEND=nonsense: a matplotlib ValueError traceback after results.csv, no pareto.png
    env = {**os.environ, "MPLBACKEND": "nonsense"}
    result = subprocess.run([sys.executable, "-m", "attnforge", "explore", str(DESIGN), "--out",
                             str(tmp_path / "o"), "--backend", "serial", "--quiet"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "pareto.png").stat().st_size > 0
    assert (tmp_path / "o" / "report.html").exists()
