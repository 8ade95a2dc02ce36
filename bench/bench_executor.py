"""Reference-executor speed: attention-1pass vs plain NumPy softmax attention, same run.

    .venv/bin/python bench/bench_executor.py [--size 4096] [--dim 64] [--m0 64 256] [--repeat 3]

Prints the best-of-`repeat` wall time of each and their ratio. The executor is vectorised over
every rank except the iterative one (m1), so it loops M/M0 times; plain NumPy does one QK^T
matmul, one softmax and one A.V matmul over the whole (P, M) score matrix.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import einsum
from attnforge.argtypes import positive
from einsum import library


def plain_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """softmax(q k^T / sqrt(E)) v with max subtraction, float64."""
    logits = (q / np.sqrt(q.shape[-1])) @ k.T
    logits -= logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits @ v


def best_time(fn, repeat: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=positive, default=4096, help="P = M (default 4096)")
    parser.add_argument("--dim", type=positive, default=64, help="E = F (default 64)")
    parser.add_argument("--m0", type=positive, nargs="+", default=[64, 256],
                        help="chunk sizes M0")
    parser.add_argument("--repeat", type=positive, default=3)
    args = parser.parse_args(argv)
    try:
        run(args.size, args.dim, args.m0, args.repeat)
    except MemoryError:
        parser.error(f"--size {args.size} --dim {args.dim}: the float64 arrays (a P x M score "
                     f"matrix of {8 * args.size**2:,} bytes) do not fit in memory")


def run(n: int, d: int, m0s: list[int], repeat: int) -> None:
    """Time plain NumPy attention and the executor at each M0 on P = M = n, E = F = d."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((n, d)) for _ in range(3))
    t_plain, ref = best_time(lambda: plain_attention(q, k, v), repeat)
    print(f"P = M = {n}, E = F = {d}, one head, float64, best of {repeat}")
    print(f"  plain NumPy attention        {t_plain * 1e3:9.1f} ms")
    cascade = library.get("attention-1pass")
    for m0 in m0s:
        t_exec, out = best_time(lambda m0=m0: einsum.attention(cascade, q, k, v, M0=m0),
                                repeat)
        error = np.abs(out - ref).max() / np.abs(ref).max()
        print(f"  executor attention-1pass M0={m0:<4d} {t_exec * 1e3:9.1f} ms   "
              f"ratio {t_exec / t_plain:5.2f}x   max rel. diff {error:.1e}")


if __name__ == "__main__":
    main()
