#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job: an exploration of the shipped FuseMax paper
# design (5 configs × 4 models × 6 lengths × 2 scopes), writing out/fusemax-paper/results.csv,
# pareto.png and report.html, and printing the summary beside the paper's values.
# With arguments, runs `attnforge ARGS...` instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
venv="${ATTNFORGE_VENV:-$root/.venv}"
cd "$root"
if [ $# -eq 0 ]; then
  set -- explore designs/fusemax-paper.yaml --out out/fusemax-paper
fi
exec "$venv/bin/attnforge" "$@"
