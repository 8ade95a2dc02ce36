"""Simulator-agnostic stimulus and scoreboard for the linear MAC block (rtl/linear.py).

``linear_tokens(config, seed, count)`` gives tokens ``(x, w)`` (extremes first, then random);
``schedule(config, tokens, seed, p_idle)`` gives, per cycle, the packed value of every input
port and the cycle of each token's ``last`` block; :class:`Scoreboard` receives the packed
``y`` and ``y_valid`` each cycle and checks that ``y_valid`` is high exactly ``latency`` cycles
after each ``last`` block (and never otherwise) with ``y`` equal, word for word, to
:func:`fpga.golden.linear.linear_block`. Cycle 0 is the first cycle inputs are presented;
outputs observed in cycle c are those the registers hold during cycle c.
"""

from __future__ import annotations

import random

import numpy as np

from fpga.golden.linear import LinearFormat, linear_block, no_wrap_terms
from rtl.tb.systolic_vectors import pack_vector, unpack_vector

Token = tuple[np.ndarray, np.ndarray]


def linear_format(config: dict) -> LinearFormat:
    """The golden model's format from a unit's ``config()`` dict."""
    return LinearFormat(**{k: v for k, v in config.items() if k != "unit"})


def _bounds(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _extremes(fmt: LinearFormat) -> list[tuple[int, int, int]]:
    """(blocks, x value, w value) of constant tokens: the most negative operands (the largest
    product), mixed signs, zero; then, with the largest product, the most blocks the accumulator
    cannot wrap on (``no_wrap_terms``; at least 1, at most 127) and one block more (it wraps
    when the first did not reach the cap)."""
    (alo, ahi), (wlo, whi) = _bounds(fmt.act_bits), _bounds(fmt.weight_bits)
    longest = max(1, min(127, no_wrap_terms(fmt) // fmt.in_par))
    return [(1, alo, wlo), (2, alo, whi), (3, ahi, wlo), (1, ahi, whi), (2, 0, wlo),
            (longest, alo, wlo), (longest + 1, alo, wlo)]


def _near(limit: int, frac: int) -> tuple[int, int]:
    """``[-limit, limit)`` in a format of ``frac`` fraction bits, cut to int64 (what the
    generator draws; a 64-bit word with 60 or more fraction bits would overflow it)."""
    return max(-limit << frac, -(1 << 63)), min(limit << frac, (1 << 63) - 1)


def linear_tokens(config: dict, seed: int, count: int = 24, max_blocks: int = 6) -> list[Token]:
    """Constant extreme tokens, then ``count`` random ones of 1..``max_blocks`` blocks: full-range
    operands (outputs and, in narrow accumulators, sums wrap) or operands near one (Q-format
    values a real layer sees, outputs that do not wrap)."""
    fmt = linear_format(config)
    rng = np.random.default_rng(seed)
    (alo, ahi), (wlo, whi) = _bounds(fmt.act_bits), _bounds(fmt.weight_bits)
    tokens = []
    for blocks, xv, wv in _extremes(fmt):
        k = blocks * fmt.in_par
        tokens.append((np.full(k, xv, dtype=object), np.full((k, fmt.out_par), wv, dtype=object)))
    for n in range(count):
        k = int(rng.integers(1, max_blocks + 1)) * fmt.in_par
        if n % 2:
            xs = rng.integers(alo, ahi, size=k, endpoint=True)
            ws = rng.integers(wlo, whi, size=(k, fmt.out_par), endpoint=True)
        else:  # |x| < 8, |w| < 2 in their formats, clipped to the ranges
            xs = np.clip(rng.integers(*_near(8, fmt.act_frac), size=k), alo, ahi)
            ws = np.clip(rng.integers(*_near(2, fmt.weight_frac), size=(k, fmt.out_par)),
                         wlo, whi)
        tokens.append((xs.astype(object), ws.astype(object)))
    return tokens


def _idle(fmt: LinearFormat, rng: random.Random) -> dict[str, int]:
    """An idle cycle: ``valid`` low, every other input random (the unit must ignore them)."""
    return {"x": rng.getrandbits(fmt.in_par * fmt.act_bits),
            "w": rng.getrandbits(fmt.in_par * fmt.out_par * fmt.weight_bits),
            "valid": 0, "first": rng.getrandbits(1), "last": rng.getrandbits(1)}


def schedule(config: dict, tokens: list[Token], seed: int, p_idle: float,
             drain: int = 8) -> tuple[list[dict[str, int]], list[int]]:
    """Per-cycle input port values and each token's last-block cycle. Before each block, with
    probability ``p_idle``, 1..3 idle cycles; ``p_idle = 0`` streams every block and token back
    to back. ``drain`` idle cycles end the schedule."""
    fmt = linear_format(config)
    rng = random.Random(seed)
    cycles, last = [], []
    for xs, ws in tokens:
        blocks = len(xs) // fmt.in_par
        for b in range(blocks):
            if rng.random() < p_idle:
                cycles.extend(_idle(fmt, rng) for _ in range(rng.randint(1, 3)))
            rows = slice(b * fmt.in_par, (b + 1) * fmt.in_par)
            cycles.append({"x": pack_vector(xs[rows], fmt.act_bits),
                           "w": pack_vector(ws[rows].reshape(-1), fmt.weight_bits),
                           "valid": 1, "first": int(b == 0), "last": int(b == blocks - 1)})
        last.append(len(cycles) - 1)
    return cycles + [_idle(fmt, rng) for _ in range(drain)], last


class Scoreboard:
    """Expects token t's outputs in cycle ``last[t] + latency``, and ``y_valid`` low in every
    other cycle; :meth:`finish` checks that every token's outputs appeared."""

    def __init__(self, config: dict, tokens: list[Token], last: list[int], latency: int):
        self.fmt = linear_format(config)
        self.expected = {cycle + latency: (t, [int(v) for v in linear_block(xs, ws, self.fmt)])
                         for t, ((xs, ws), cycle) in enumerate(zip(tokens, last, strict=True))}
        self.seen: set[int] = set()

    def observe(self, cycle: int, y: int, y_valid: int) -> None:
        if not y_valid:
            assert cycle not in self.expected, (
                f"token {self.expected[cycle][0]}: y_valid low in cycle {cycle}")
            return
        assert cycle in self.expected, f"y_valid high in cycle {cycle}, no token ends there"
        token, want = self.expected[cycle]
        got = unpack_vector(y, self.fmt.act_bits, self.fmt.out_par)
        for j, (g, e) in enumerate(zip(got, want, strict=True)):
            assert g == e, f"token {token} y[{j}]: got {g}, expected {e} (cycle {cycle})"
        self.seen.add(token)

    def finish(self) -> None:
        missing = sorted(set(range(len(self.expected))) - self.seen)
        assert not missing, f"tokens {missing} never produced y_valid"
