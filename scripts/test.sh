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
# default paths unless the arguments name a path (options alone keep tests + notebooks)
has_path=0
for arg in "$@"; do case "$arg" in -*) ;; *) [ -e "$arg" ] || [ -e "${arg%%::*}" ] && has_path=1 ;; esac; done
if [ "$has_path" -eq 0 ]; then set -- "$@" tests notebooks; fi
exec "$venv/bin/python" -m pytest -n "${PYTEST_WORKERS:-auto}" --nbmake "$@"
