"""GEMM mapping search, attnforge vs ZigZag (zigzag-dse), on the same GEMM and a matching array.

Both search mappings of C[m,n] = A[m,k]·B[k,n] (m = 16384 tokens, n = k = 768: BERT's Q
projection at 256 tokens × batch 64) on a 256 × 256 output-stationary MAC array (m on one side,
n on the other), a 16 MiB global buffer and 400·2^30 B/s DRAM at 940 MHz, 16-bit words.
ZigZag runs in its own venv (build/peers/zigzag, created on first use: pip zigzag-dse + six) as a
subprocess of this same file in ``--peer`` mode; its rate counts every cost-model evaluation
(CostModelEvaluation objects) over the wall time of its whole search.

Run: .venv/bin/python bench/bench_zigzag.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "build" / "peers" / "zigzag"
PEER_PACKAGES = ["zigzag-dse==3.9.1", "six"]
M, N, K = 16384, 768, 768
ROWS = COLS = 256
BUFFER_BYTES = 16 * 2**20
DRAM_BITS_PER_CYCLE = int(400 * 2**30 * 8 / 940e6)


def _port(name: str, kind: str, low: int, high: int, allocation: list[str]) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": low, "bandwidth_max": high,
            "allocation": allocation}


def zigzag_hardware() -> dict:
    """The matching ZigZag accelerator: output registers, buffer, DRAM, 256 × 256 MACs."""
    reg = {"size": 16, "r_cost": 0.0, "w_cost": 0.0, "area": 0, "latency": 1,
           "auto_cost_extraction": False, "operands": ["O"], "served_dimensions": [],
           "ports": [_port("r_port_1", "read", 16, 16, ["O, tl"]), _port("r_port_2", "read", 16, 16, ["O, th"]),
                     _port("w_port_1", "write", 16, 16, ["O, fh"]),
                     _port("w_port_2", "write", 16, 16, ["O, fl"])]}
    buffer = {"size": BUFFER_BYTES * 8, "r_cost": 485, "w_cost": 451, "area": 0, "latency": 1,
              "auto_cost_extraction": False, "operands": ["I1", "I2", "O"],
              "served_dimensions": ["D1", "D2"], "force_double_buffering": True,
              "ports": [_port("rw_port_1", "read_write", 16, 8192, ["I1, tl"]),
                        _port("rw_port_2", "read_write", 16, 8192, ["I2, tl"]),
                        _port("rw_port_3", "read_write", 16, 8192, ["O, tl", "O, fl"]),
                        _port("rw_port_4", "read_write", 16, 8192, ["I1, fh", "I2, fh", "O, fh",
                                                             "O, th"])]}
    every = [f"{op}, {d}" for op in ("I1", "I2") for d in ("fh", "tl")]
    every += ["O, fh", "O, tl", "O, fl", "O, th"]
    dram = {"size": 10**11, "r_cost": 3993.6, "w_cost": 3993.6, "area": 0, "latency": 1,
            "auto_cost_extraction": False, "operands": ["I1", "I2", "O"],
            "served_dimensions": ["D1", "D2"],
            "ports": [_port("rw_port_1", "read_write", 64, DRAM_BITS_PER_CYCLE, every)]}
    array = {"input_precision": [16, 16], "unit_energy": 17.16, "unit_area": 1,
             "dimensions": ["D1", "D2"], "sizes": [ROWS, COLS]}
    return {"name": "attnforge_os_array", "memories": {"reg_O": reg, "buffer": buffer,
                                                       "dram": dram},
            "operational_array": array}


def peer(work: Path) -> None:
    """Run inside ZigZag's venv: search the GEMM, print JSON (evaluated, seconds, latency)."""
    import logging

    import yaml
    from zigzag import api
    from zigzag.cost_model import cost_model

    (work / "hw.yaml").write_text(yaml.safe_dump(zigzag_hardware(), sort_keys=False))
    mapping = [{"name": "default", "spatial_mapping": {"D1": ["D0, 256"], "D2": ["D1, 256"]},
                "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
    (work / "map.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    calls = {"n": 0}
    original = cost_model.CostModelEvaluation.__init__

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    cost_model.CostModelEvaluation.__init__ = counted
    logging.disable(logging.CRITICAL)
    workload = [{"id": 0, "name": "gemm", "operator_type": "Gemm",
                 "equation": "O[d0][d1]+=I[d0][d2]*W[d2][d1]", "loop_dims": ["D0", "D1", "D2"],
                 "loop_sizes": [M, N, K], "operand_source": {"I": 0, "W": 0},
                 "operand_precision": {"I": 16, "W": 16, "O": 16, "O_final": 16}}]
    start = time.perf_counter()
    _, latency, _ = api.get_hardware_performance_zigzag(
        workload, str(work / "hw.yaml"), str(work / "map.yaml"), opt="latency",
        dump_folder=str(work / "out"), loma_show_progress_bar=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"evaluated": calls["n"], "seconds": seconds, "latency": float(latency)}))


class PeerUnavailable(Exception):
    """ZigZag's venv cannot be made or ZigZag's run failed; the message says why."""


def ensure_peer(peer_dir: Path = PEER) -> Path:
    """ZigZag's venv python, creating the venv (and installing ZigZag into it) when ZigZag does
    not import there yet; a failed install is retried on the next run."""
    python = peer_dir / "bin" / "python"
    if python.exists() and _imports_zigzag(python):
        return python
    try:
        if not python.exists():
            venv.create(peer_dir, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True,
                       capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", None) or str(error)
        raise PeerUnavailable(f"cannot install {' '.join(PEER_PACKAGES)} into {peer_dir}: "
                              f"{_last_line(detail)}") from None
    if not _imports_zigzag(python):
        raise PeerUnavailable(f"zigzag does not import in {peer_dir}")
    return python


def _imports_zigzag(python: Path) -> bool:
    try:
        return subprocess.run([str(python), "-c", "import zigzag.api"], capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


def run_peer(python: Path) -> dict:
    """ZigZag's numbers from a run of this file in ``--peer`` mode inside its venv."""
    with tempfile.TemporaryDirectory(dir=python.parents[1]) as work:
        done = subprocess.run([str(python), __file__, "--peer", work], capture_output=True,
                              text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise PeerUnavailable(f"zigzag's search failed (exit {done.returncode}): "
                              f"{_last_line(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ours(repeats_s: float = 1.0) -> dict:
    """attnforge's search on the same GEMM: rate over repeated full searches, best latency."""
    from mapper.gemm import Gemm, search_gemm
    from mapper.spec import Architecture, Array1D, Array2D, Buffer, GemmSearch

    arch = Architecture(array_2d=Array2D(ROWS, COLS), array_1d=Array1D(ROWS),
                        buffer=Buffer(BUFFER_BYTES))
    search = GemmSearch(samples=10**6, seed=0)
    gemm = Gemm(M, N, K)
    uncached = search_gemm.__wrapped__  # the memo would turn every repeat into a lookup
    evaluated, start = 0, time.perf_counter()
    while time.perf_counter() - start < repeats_s:
        best = uncached(gemm, arch, search)
        evaluated += best.evaluated
    seconds = time.perf_counter() - start
    return {"evaluated": evaluated, "seconds": seconds, "latency": best.latency_cycles,
            "per_search": best.evaluated, "tile": best.tile, "order": best.order}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", metavar="WORK_DIR", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer is not None:  # inside ZigZag's venv
        peer(args.peer)
        return 0
    try:
        zz = run_peer(ensure_peer(PEER))
    except PeerUnavailable as error:
        print(f"bench_zigzag: ZigZag unavailable: {error}", file=sys.stderr)
        return 1
    us = ours()
    rate_us, rate_zz = us["evaluated"] / us["seconds"], zz["evaluated"] / zz["seconds"]
    print(f"GEMM {M}×{K}·{K}×{N} on a {ROWS}×{COLS} array, {BUFFER_BYTES >> 20} MiB buffer")
    print(f"{'tool':<10} {'mappings':>10} {'seconds':>9} {'mappings/s':>12} {'best cycles':>12}")
    print(f"{'attnforge':<10} {us['evaluated']:>10} {us['seconds']:>9.3f} {rate_us:>12.0f} "
          f"{us['latency']:>12.0f}   (tile {us['tile']}, order {us['order']}, "
          f"{us['per_search']} per search)")
    print(f"{'zigzag':<10} {zz['evaluated']:>10} {zz['seconds']:>9.3f} {rate_zz:>12.0f} "
          f"{zz['latency']:>12.0f}")
    print(f"rate ratio {rate_us / rate_zz:.0f}x; best latency ratio (ours/zigzag) "
          f"{us['latency'] / zz['latency']:.3f}; ideal compute {M * N * K // (ROWS * COLS)} cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
