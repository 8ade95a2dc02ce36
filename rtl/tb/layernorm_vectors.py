"""Stimulus and golden words for the LayerNorm unit (rtl/layernorm.py) on the stream testbench.

The input is a sequence of packed ``i__payload`` words: ``d / lanes`` parameter beats (gamma,
beta), then rows of ``d / lanes`` data beats; a second parameter set is loaded half way (the
memory is overwritten between rows). Expected words are the ``o__payload`` beats (``lanes``
outputs and the ``last`` bit) from :func:`fpga.golden.layernorm.layernorm_row`.
"""

from __future__ import annotations

import numpy as np

from fpga.golden.layernorm import LayerNormFormat, layernorm_row


def _fmt(config: dict) -> LayerNormFormat:
    return LayerNormFormat(**{k: config[k] for k in LayerNormFormat.__slots__})


def edge_rows(fmt: LayerNormFormat) -> list[np.ndarray]:
    """Rows that stress the arithmetic: constant (variance 0: only eps), both extremes
    alternating (largest V), one spike (largest |n| = sqrt(d - 1)), a large mean with tiny
    spread, one LSB of difference, and the most negative value everywhere."""
    d, one = fmt.d, 1 << fmt.frac_bits
    lo, hi = -(1 << (fmt.total_bits - 1)), (1 << (fmt.total_bits - 1)) - 1
    k = np.arange(d)
    spike = np.zeros(d, dtype=np.int64)
    spike[d // 2] = hi
    return [np.zeros(d, dtype=np.int64), np.full(d, hi), np.full(d, lo),
            np.where(k % 2 == 0, lo, hi), spike, -spike,
            hi - 3 * one // 4 + (k % 3), np.where(k == 0, 1, 0), (k - d // 2) * (one // 8)]


def random_rows(fmt: LayerNormFormat, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` rows of N(mean, std) activations, std in {1e-3, 1, 30}, mean in {0, +-100}
    (scaled to the format's range), quantised and saturated."""
    top = 2.0 ** (fmt.total_bits - fmt.frac_bits - 1)
    rows = []
    for _ in range(count):
        mean = float(rng.choice([0.0, 0.2, -0.2])) * top
        std = float(rng.choice([1e-3, 1.0, 30.0])) * top / 512
        x = np.floor(rng.normal(mean, std, fmt.d) * (1 << fmt.frac_bits) + 0.5)
        rows.append(np.clip(x, -(1 << (fmt.total_bits - 1)),
                            (1 << (fmt.total_bits - 1)) - 1).astype(np.int64))
    return rows


def param_sets(fmt: LayerNormFormat, rng: np.random.Generator) -> list[tuple]:
    """A realistic (gamma ~ N(1, 0.2), beta ~ N(0, 0.1)) set and an extreme one (largest and
    most negative gamma/beta: saturating outputs)."""
    lo, hi = -(1 << (fmt.param_bits - 1)), (1 << (fmt.param_bits - 1)) - 1
    one = 1 << fmt.param_frac
    gamma = np.clip(np.floor(rng.normal(1, 0.2, fmt.d) * one + 0.5), lo, hi).astype(np.int64)
    beta = np.clip(np.floor(rng.normal(0, 0.1, fmt.d) * one + 0.5), lo, hi).astype(np.int64)
    wild = np.clip(rng.choice([lo, hi, -one, one, 0], size=(2, fmt.d)), lo, hi).astype(np.int64)
    # (param_frac = param_bits - 1 holds no 1.0)
    return [(gamma, beta), (wild[0], wild[1])]


def _beats(values: list[np.ndarray], bits: list[int], lane_bits: int, lanes: int) -> list[int]:
    """Pack element-wise fields (each array of length d) into lane words, lanes per beat."""
    words = []
    for start in range(0, len(values[0]), lanes):
        word = 0
        for k in range(lanes):
            field, offset = 0, 0
            for arr, width in zip(values, bits, strict=True):
                field |= (int(arr[start + k]) & ((1 << width) - 1)) << offset
                offset += width
            word |= field << (k * lane_bits)
        words.append(word)
    return words


def layernorm_stimulus(config: dict, count: int, seed: int):
    """(inputs, expected) packed words: about ``count`` elements of random rows after the
    edge rows, the parameter set switched from realistic to extreme half way."""
    fmt = _fmt(config)
    rng = np.random.default_rng(seed)
    lane_bits = max(fmt.total_bits, 2 * fmt.param_bits)
    load = 1 << (fmt.lanes * lane_bits)
    rows = edge_rows(fmt) + random_rows(fmt, max(count // fmt.d, 2), rng)
    sets = param_sets(fmt, rng)
    inputs, expected = [], []
    for index, row in enumerate(rows):
        if index in (0, len(rows) // 2):
            gamma, beta = sets[0] if index == 0 else sets[1]
            pb = fmt.param_bits
            inputs += [w | load for w in _beats([gamma, beta], [pb, pb], lane_bits, fmt.lanes)]
        inputs += _beats([row], [fmt.total_bits], lane_bits, fmt.lanes)
        y = layernorm_row(row, gamma, beta, fmt)
        out = _beats([y], [fmt.total_bits], fmt.total_bits, fmt.lanes)
        out[-1] |= 1 << (fmt.lanes * fmt.total_bits)
        expected += out
    return inputs, expected
