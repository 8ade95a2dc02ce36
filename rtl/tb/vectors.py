"""Stimulus and golden responses for the streaming units, from the unit's config dict.

``stimulus(config, count, seed)`` returns (inputs, expected): lists of *packed unsigned* port
values (``i__payload`` words in, ``o__payload`` words out, in order), so a driver needs no
knowledge of the unit. Edge cases come first (extremes, zero, +-1, table knots, range edges,
saturation), then seeded random values. Expected values come from the fpga/golden models only.
"""

from __future__ import annotations

import numpy as np

from fpga.golden.exp import ExpFormat, exp_fixed
from fpga.golden.gelu import GeluFormat, gelu_fixed


def pack(value: int, bits: int) -> int:
    """Two's-complement ``value`` as an unsigned ``bits``-bit word."""
    return int(value) & ((1 << bits) - 1)


def unpack_signed(word: int, bits: int) -> int:
    """Inverse of :func:`pack` for a signed field."""
    return word - (1 << bits) if word >> (bits - 1) & 1 else word


def _params(config: dict, cls) -> object:
    return cls(**{k: config[k] for k in cls.__slots__})


def _signed_edges(bits: int, extra: list[int]) -> list[int]:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values = [lo, lo + 1, hi, hi - 1, 0, 1, -1, *extra]
    return [int(v) for v in values if lo <= v <= hi]


def gelu_stimulus(config: dict, count: int, seed: int):
    fmt = _params(config, GeluFormat)
    rng = np.random.default_rng(seed)
    r, step = fmt.range_fixed, 1 << fmt.remainder_bits
    knots = [k * step + d for k in (0, 1, 2, fmt.steps - 1, fmt.steps) for d in (-1, 0, 1)]
    edges = _signed_edges(fmt.total_bits, [r - 1, r, r + 1, *knots])
    edges += [-v for v in edges if -v != v]
    span = min(r + 4 * step, (1 << (fmt.total_bits - 1)) - 1)
    dense = rng.integers(-span, span + 1, size=max(count - len(edges), 0) * 9 // 10)
    wide = rng.integers(-(1 << (fmt.total_bits - 1)), 1 << (fmt.total_bits - 1),
                        size=max(count - len(edges) - len(dense), 0))
    x = np.array(edges + [int(v) for v in dense] + [int(v) for v in wide], dtype=np.int64)
    x = np.clip(x, -(1 << (fmt.total_bits - 1)), (1 << (fmt.total_bits - 1)) - 1)
    y = gelu_fixed(x, fmt)
    bits = fmt.total_bits
    return [pack(v, bits) for v in x], [pack(v, bits) for v in y]


def exp_stimulus(config: dict, count: int, seed: int):
    fmt = _params(config, ExpFormat)
    rng = np.random.default_rng(seed)
    one = 1 << fmt.in_frac
    underflow = int((fmt.out_frac + 2) * 0.6931471805599453 * one)
    edges = _signed_edges(fmt.total_bits, [-one, -2 * one, -underflow, one])
    low = max(-underflow, -(1 << (fmt.total_bits - 1)))  # in_frac near total_bits: no underflow
    dense = rng.integers(low, 1, size=max(count - len(edges), 0) * 9 // 10)
    wide = rng.integers(-(1 << (fmt.total_bits - 1)), 1,
                        size=max(count - len(edges) - len(dense), 0))
    z = np.array(edges + [int(v) for v in dense] + [int(v) for v in wide], dtype=np.int64)
    y = exp_fixed(z, fmt)
    return [pack(v, fmt.total_bits) for v in z], [int(v) for v in y]


STIMULUS = {"gelu": gelu_stimulus, "exp": exp_stimulus}


def stimulus(config: dict, count: int, seed: int):
    """(inputs, expected) packed words for the unit named by ``config["unit"]``."""
    return STIMULUS[config["unit"]](config, count, seed)


def _softmax_fmt(config: dict):
    from rtl.softmax_format import softmax_format

    return softmax_format(**{k: v for k, v in config.items() if k != "unit"})


def softmax_rows(config: dict, count: int, seed: int) -> list[np.ndarray]:
    """Rows of scores totalling about ``count``: single scores, ties, rising and falling runs
    (every rescale), both extremes (saturating differences), and random rows of 1..40."""
    fmt = _softmax_fmt(config)
    rng = np.random.default_rng(seed)
    lo, hi, one = -(1 << (fmt.total_bits - 1)), (1 << (fmt.total_bits - 1)) - 1, fmt.one
    rows = [np.array([0]), np.array([lo]), np.array([hi, lo]), np.array([lo, hi, hi, 0]),
            np.full(5, 3 * one), np.arange(8) * one, np.arange(8)[::-1] * one,
            np.array([lo, lo + 1, hi - 1, hi]), np.array([-20 * one, 0, 20 * one])]
    rows = [np.clip(row, lo, hi) for row in rows]  # a narrow format holds no 20.0
    total = sum(len(r) for r in rows)
    while total < count:
        n = int(rng.integers(1, 41))
        scale = int(rng.choice([one // 4, one, 8 * one]))
        row = rng.integers(-scale, scale + 1, size=n)
        rows.append(np.clip(row, lo, hi))
        total += n
    return [r.astype(np.int64) for r in rows]


def softmax_stimulus(config: dict, count: int, seed: int):
    from fpga.golden.softmax import softmax_row_state

    fmt = _softmax_fmt(config)
    bits, rbits = fmt.total_bits, fmt.recip.out_frac + 1
    inputs, expected = [], []
    for row in softmax_rows(config, count, seed):
        inputs += [pack(s, bits) | int(k == len(row) - 1) << bits for k, s in enumerate(row)]
        recip, b = softmax_row_state(row[None, :], fmt)
        expected.append(int(recip[0]) | pack(int(b[0]), bits) << rbits)
    return inputs, expected


def normalise_stimulus(config: dict, count: int, seed: int):
    from fpga.golden.softmax import softmax_normalise, softmax_row_state

    fmt = _softmax_fmt(config)
    bits = fmt.total_bits
    inputs, expected = [], []
    for row in softmax_rows(config, count, seed):
        recip, b = softmax_row_state(row[None, :], fmt)
        p = softmax_normalise(row[None, :], recip, b, fmt)[0]
        inputs += [pack(s, bits) | pack(int(b[0]), bits) << bits | int(recip[0]) << 2 * bits
                   for s in row]
        expected += [int(v) for v in p]
    return inputs, expected


def reciprocal_stimulus(config: dict, count: int, seed: int):
    from fpga.golden.exp import ReciprocalFormat, reciprocal_fixed

    rng = np.random.default_rng(seed)
    top = (1 << config["in_bits"]) - 1
    one = 1 << config["in_frac"]
    edges = [1, 2, 3, top, top - 1, one - 1, one, one + 1, 2 * one, 3 * one]
    edges = [v for v in edges if 1 <= v <= top]
    randoms = rng.integers(1, top + 1, size=max(count - len(edges), 0), dtype=np.int64)
    s = np.array(edges + [int(v) for v in randoms], dtype=np.int64)
    q = reciprocal_fixed(s, ReciprocalFormat(config["in_frac"], config["out_frac"]))
    return [int(v) for v in s], [int(v) for v in q]


STIMULUS.update(softmax=softmax_stimulus, normalise=normalise_stimulus,
                reciprocal=reciprocal_stimulus)


def layernorm_stimulus(config: dict, count: int, seed: int):
    from rtl.tb.layernorm_vectors import layernorm_stimulus as rows

    return rows(config, count, seed)


STIMULUS.update(layernorm=layernorm_stimulus)
