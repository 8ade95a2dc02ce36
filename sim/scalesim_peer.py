"""SCALE-Sim 3.0 as a peer tool: its own virtual environment and a JSON driver.

SCALE-Sim never becomes an attnforge dependency (it needs numpy < 2.4). `ensure_venv` creates
build/peers/scalesim with pip when PyPI is reachable; `run_scalesim` runs
`sim/scalesim_driver.py` with that interpreter and returns one dict per GEMM case.
"""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / "build" / "peers" / "scalesim"
DRIVER = Path(__file__).resolve().parent / "scalesim_driver.py"
REQUIREMENTS = ("scalesim==3.0.0", "numpy<2.4")


def peer_python(venv: Path = VENV) -> Path:
    """Path of the peer interpreter (it may not exist yet)."""
    return venv / "bin" / "python"


def ensure_venv(venv: Path = VENV) -> str | None:
    """Create the peer venv if needed; return None when ready, else the reason it is not."""
    python = peer_python(venv)
    if python.exists() and _imports_scalesim(python):
        return None
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                           capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True,
                       capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as error:
        return f"cannot install SCALE-Sim into {venv}: {error}"
    return None if _imports_scalesim(python) else f"scalesim does not import in {venv}"


def _imports_scalesim(python: Path) -> bool:
    result = subprocess.run([str(python), "-c", "import scalesim.scale_sim"],
                            capture_output=True, timeout=120)
    return result.returncode == 0


def run_scalesim(cases: list[dict], venv: Path = VENV, timeout_s: float = 3600) -> list[dict]:
    """Run SCALE-Sim on each case (see sim/scalesim_driver.py for the keys); return its numbers."""
    result = subprocess.run([str(peer_python(venv)), str(DRIVER), json.dumps(cases)],
                            capture_output=True, text=True, timeout=timeout_s, check=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
