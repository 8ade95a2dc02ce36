#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every test, RTL tests under both Icarus and Verilator.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
venv="${ATTNFORGE_VENV:-$root/.venv}"
export OBJCACHE="${OBJCACHE:-ccache}"
cd "$root"
"$venv/bin/ruff" check .
exec "$venv/bin/python" -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"
