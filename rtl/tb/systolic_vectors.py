"""Simulator-agnostic stimulus and scoreboard for the systolic array (rtl/systolic.py).

``schedule(config, gemms)`` gives, per cycle, the packed value of every input port; the
``Scoreboard`` receives the packed output ports each cycle, checks every result against the
NumPy matmul (wrapped to ``acc_width`` bits, two's complement) and records the cycle of the last
result of each GEMM. Cycle 0 is the cycle in which the first operands are presented; outputs
observed in cycle c are those the registers hold during cycle c.
"""

from __future__ import annotations

import numpy as np

from rtl.tb.vectors import pack, unpack_signed


def pack_vector(values, bits: int) -> int:
    """Element k at bits [k*bits, (k+1)*bits) (Amaranth ArrayLayout order)."""
    word = 0
    for k, v in enumerate(values):
        word |= pack(int(v), bits) << (k * bits)
    return word


def unpack_vector(word: int, bits: int, count: int) -> list[int]:
    return [unpack_signed(word >> (k * bits) & ((1 << bits) - 1), bits) for k in range(count)]


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` bits. int64 arithmetic (``a @ b``)
    already wraps modulo 2**64, so 64 bits keeps the values as they are."""
    if bits >= 64:
        return np.asarray(values, dtype=np.int64)
    half = 1 << (bits - 1)
    return (values + half) % (1 << bits) - half


def gemm_cases(config: dict, seed: int, count: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    """GEMMs that fit one fold: extremes (all min, min×max), zeros, full and partial shapes."""
    rng = np.random.default_rng(seed)
    rows, cols, w = config["rows"], config["cols"], config["in_width"]
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    os_flow = config["dataflow"] == "os"
    full = (rows, cols, 5) if os_flow else (7, cols, rows)  # (M, N, K)
    shapes = [full, full, full, (1, 1, 1)]
    shapes += [((rng.integers(1, rows + 1), rng.integers(1, cols + 1), rng.integers(1, 9))
                if os_flow else (rng.integers(1, 9), rng.integers(1, cols + 1),
                                 rng.integers(1, rows + 1))) for _ in range(count)]
    cases = []
    for n_case, (mm, nn, kk) in enumerate(shapes):
        a = rng.integers(lo, hi + 1, size=(mm, kk))
        b = rng.integers(lo, hi + 1, size=(kk, nn))
        if n_case == 0:
            a, b = np.full((mm, kk), lo), np.full((kk, nn), lo)
        elif n_case == 1:
            a, b = np.full((mm, kk), lo), np.full((kk, nn), hi)
        elif n_case == 2:
            a = np.zeros((mm, kk), dtype=np.int64)
        cases.append((a.astype(np.int64), b.astype(np.int64)))
    return cases


def schedule(config: dict, gemms) -> list[dict[str, int]]:
    """Per-cycle input port values running ``gemms`` back to back (OS: operands stream without a
    gap; WS: each GEMM loads its weights, streams X, and waits until its last MAC is done)."""
    rows, cols, w = config["rows"], config["cols"], config["in_width"]
    idle = {"a": 0, "b": 0, "valid": 0, "first": 0, "last": 0} if config["dataflow"] == "os" \
        else {"x": 0, "x_valid": 0, "w": 0, "w_valid": 0}
    cycles = []
    for a, b in gemms:
        mm, kk = a.shape
        if config["dataflow"] == "os":
            for s in range(kk):
                cycles.append({**idle, "a": pack_vector(a[:, s], w), "b": pack_vector(b[s], w),
                               "valid": 1, "first": int(s == 0), "last": int(s == kk - 1)})
        else:
            weights = np.zeros((rows, cols), dtype=np.int64)
            weights[:kk, :b.shape[1]] = b
            for t in range(rows):
                cycles.append({**idle, "w": pack_vector(weights[rows - 1 - t], w), "w_valid": 1})
            for s in range(mm):
                x = np.zeros(rows, dtype=np.int64)
                x[:kk] = a[s]
                cycles.append({**idle, "x": pack_vector(x, w), "x_valid": 1})
            # the weights stay until PE(rows-1, cols-1) took the last x: the next load may
            # start in the cycle after this fold's 2*rows + M + cols - 2 cycles
            cycles.extend(dict(idle) for _ in range(rows + cols - 2))
    drain = 2 * rows + 2 * cols + 4
    return cycles + [dict(idle) for _ in range(drain)]


class Scoreboard:
    """Checks every result word of the GEMMs in order; records each GEMM's last-result cycle."""

    def __init__(self, config: dict, gemms):
        self.config = config
        rows, cols, acc = config["rows"], config["cols"], config["acc_width"]
        self.expected = []  # per GEMM: padded expected results
        for a, b in gemms:
            c = wrap(a @ b, acc)
            if config["dataflow"] == "os":
                padded = np.zeros((rows, cols), dtype=np.int64)
                padded[:c.shape[0], :c.shape[1]] = c
                self.expected.append(padded)
            else:
                padded = np.zeros((c.shape[0], cols), dtype=np.int64)
                padded[:, :c.shape[1]] = c
                self.expected.append(padded)
        self.seen = [np.zeros(e.shape, dtype=bool) for e in self.expected]
        self.next = [0] * (rows * cols if config["dataflow"] == "os" else cols)
        self.last_cycle = [-1] * len(gemms)

    def observe(self, cycle: int, outputs: dict[str, int]) -> None:
        cfg = self.config
        rows, cols, acc = cfg["rows"], cfg["cols"], cfg["acc_width"]
        os_flow = cfg["dataflow"] == "os"
        flags = outputs["done"] if os_flow else outputs["y_valid"]
        values = unpack_vector(outputs["result"] if os_flow else outputs["y"], acc,
                               rows * cols if os_flow else cols)
        for k, value in enumerate(values):
            if not flags >> k & 1:
                continue
            if os_flow:
                g, index = self.next[k], (k // cols, k % cols)
                self.next[k] += 1
            else:
                g, step = self._ws_slot(k)
                index = (step, k)
            assert g < len(self.expected), f"unexpected result at lane {k}, cycle {cycle}"
            want = int(self.expected[g][index])
            assert value == want, f"GEMM {g} C{index}: got {value}, expected {want} (cycle {cycle})"
            self.seen[g][index] = True
            self.last_cycle[g] = cycle

    def _ws_slot(self, column: int) -> tuple[int, int]:
        count = self.next[column]
        self.next[column] += 1
        for g, e in enumerate(self.expected):
            if count < e.shape[0]:
                return g, count
            count -= e.shape[0]
        return len(self.expected), 0

    def finish(self) -> None:
        """Every expected result was observed."""
        for g, seen in enumerate(self.seen):
            assert seen.all(), f"GEMM {g}: {int((~seen).sum())} results never appeared"
