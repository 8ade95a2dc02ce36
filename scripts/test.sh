#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every test: the unit tests, the RTL tests under both Icarus
# and Verilator, and the notebooks (nbmake). Extra arguments go to pytest instead of the default
# paths, e.g. `bash scripts/test.sh tests/einsum` or `bash scripts/test.sh -m "not slow" tests`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
venv="${ATTNFORGE_VENV:-$root/.venv}"
export OBJCACHE="${OBJCACHE:-ccache}"
cd "$root"
"$venv/bin/ruff" check .
if [ $# -eq 0 ]; then set -- tests notebooks; fi
exec "$venv/bin/python" -m pytest -n "${PYTEST_WORKERS:-auto}" --nbmake "$@"
