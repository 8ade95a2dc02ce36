#!/usr/bin/env bash
# Set up attnforge on a fresh Debian machine: Icarus Verilog (and ccache) from apt where missing,
# a virtual environment in .venv (or $ATTNFORGE_VENV) with attnforge and its pinned dependencies.
# Idempotent: a second run only checks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ATTNFORGE_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

need_apt=()
command -v "$python" >/dev/null 2>&1 || need_apt+=(python3)
"$python" -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v iverilog >/dev/null 2>&1 || need_apt+=(iverilog)
command -v ccache >/dev/null 2>&1 || need_apt+=(ccache)
for tool in make perl c++; do
  command -v "$tool" >/dev/null 2>&1 || { need_apt+=(build-essential); break; }
done
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtual environment $venv" >&2
  "$python" -m venv "$venv"
fi
stamp="$venv/.attnforge-installed"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  echo "setup: installing attnforge and its dependencies into $venv" >&2
  log="$venv/pip-install.log"
  if ! { "$venv/bin/python" -m pip install --upgrade pip &&
         "$venv/bin/python" -m pip install -e "$root[dev]"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup: pip install failed; full log in $log" >&2
    exit 1
  fi
  touch "$stamp"
fi
