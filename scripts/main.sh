#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job. Arguments go to `attnforge`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
venv="${ATTNFORGE_VENV:-$root/.venv}"
cd "$root"
if [ $# -eq 0 ]; then set -- cascades; fi
exec "$venv/bin/attnforge" "$@"
