"""Bit-exact golden model of Edge-MoE's single-pass softmax (edgemoe.md §3.2).

Per row (one query row of one head), scores ``s`` arrive one per step in the activation format
(signed ``total_bits`` with ``frac_bits`` fraction bits; Q10.22 by default). State: the running
maximum ``b`` (the paper's "compensation bias", same format) and the running sum (unsigned, same
scale, saturating at the format's maximum). Reset state: ``b = -2**(total_bits-1)``, ``sum = 0``.

Per score (:func:`softmax_step`):

- ``s > b``: ``sum = shift_round(sum * exp(b - s), frac_bits) + ONE``, ``b = s``;
- else:      ``sum = sum + exp(s - b)``;

where ``exp`` is :func:`fpga.golden.exp.exp_fixed` on the saturated difference (the subtractor
is ``total_bits`` wide and saturates; below -15.9 the exp is 0 anyway), ``ONE = 2**frac_bits``,
and the sum saturates to ``2**(total_bits-1) - 1``. Both branches use the same exp argument,
``saturate(-|s - b|)``, so one exp unit per row stream suffices. The reset state makes the first score take
either branch with the same result (``sum = ONE``), so no "first" flag is needed.

At the row's end (:func:`softmax_row_state`): ``(recip, b)`` with
``recip = reciprocal_fixed(sum)`` (``recip_frac`` fraction bits; sum >= ONE so recip <= 1).

Normalisation (:func:`softmax_normalise`), fused into A·V in the design:
``p = shift_round(exp(s - b) * recip, exp_out_frac + recip_frac - frac_bits)`` (``frac_bits``
fraction bits). :func:`attention_av_fixed` then accumulates ``p * v`` exactly in a wide
accumulator and rounds once: ``out = saturate(shift_round(sum_j p_j v_j, frac_bits))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fpga.golden.exp import ExpFormat, ReciprocalFormat, exp_fixed, reciprocal_fixed
from fpga.golden.fixed import as_int64, saturate, shift_round


@dataclass(frozen=True, slots=True)
class SoftmaxFormat:
    """Score/state format plus the exp and reciprocal units it uses.

    ``exp.total_bits``/``exp.in_frac`` must equal ``total_bits``/``frac_bits`` and
    ``recip.in_frac`` must equal ``exp.out_frac`` (the sum is on the exp's output scale, which
    must also be ``frac_bits``).
    """

    total_bits: int = 32
    frac_bits: int = 22
    exp: ExpFormat = field(default_factory=ExpFormat)
    recip: ReciprocalFormat = field(default_factory=ReciprocalFormat)

    def __post_init__(self) -> None:
        if (self.exp.total_bits, self.exp.in_frac) != (self.total_bits, self.frac_bits):
            raise ValueError("exp.total_bits/in_frac must match the score format")
        if not self.exp.out_frac == self.recip.in_frac == self.frac_bits:
            raise ValueError("exp.out_frac and recip.in_frac must equal frac_bits")

    @property
    def one(self) -> int:
        """1.0 on the score scale."""
        return 1 << self.frac_bits


def _sat_diff(a: np.ndarray, b: np.ndarray, fmt: SoftmaxFormat) -> np.ndarray:
    return saturate(a - b, fmt.total_bits)


def softmax_step(
    b: np.ndarray, total: np.ndarray, s: np.ndarray, fmt: SoftmaxFormat = SoftmaxFormat()
) -> tuple[np.ndarray, np.ndarray]:
    """One update of the (running max, running sum) state by scores ``s`` (element-wise)."""
    larger = s > b
    rescale = exp_fixed(_sat_diff(b, s, fmt), fmt.exp)  # used when s > b
    grown = shift_round(total * rescale, fmt.frac_bits) + fmt.one
    added = total + exp_fixed(_sat_diff(s, b, fmt), fmt.exp)  # used when s <= b
    new_total = np.minimum(np.where(larger, grown, added), (1 << (fmt.total_bits - 1)) - 1)
    return np.where(larger, s, b), new_total


def softmax_running(scores: np.ndarray, fmt: SoftmaxFormat = SoftmaxFormat()):
    """Stream every row of ``scores`` (..., N) through :func:`softmax_step`; returns (b, sum)."""
    scores = as_int64(scores)
    lo, hi = -(1 << (fmt.total_bits - 1)), (1 << (fmt.total_bits - 1)) - 1
    if scores.size and (scores.min() < lo or scores.max() > hi):
        raise ValueError(f"scores outside the signed {fmt.total_bits}-bit range")
    b = np.full(scores.shape[:-1], lo, dtype=np.int64)
    total = np.zeros(scores.shape[:-1], dtype=np.int64)
    for k in range(scores.shape[-1]):
        b, total = softmax_step(b, total, scores[..., k], fmt)
    return b, total


def softmax_row_state(scores: np.ndarray, fmt: SoftmaxFormat = SoftmaxFormat()):
    """``(recip, b)`` per row: ``recip = 1/sum`` with ``fmt.recip.out_frac`` fraction bits."""
    b, total = softmax_running(scores, fmt)
    return reciprocal_fixed(total, fmt.recip), b


def softmax_normalise(
    scores: np.ndarray, recip: np.ndarray, b: np.ndarray, fmt: SoftmaxFormat = SoftmaxFormat()
) -> np.ndarray:
    """Probabilities ``exp(s - b) * recip`` on ``frac_bits``; ``recip``/``b`` broadcast per row."""
    scores = as_int64(scores)
    e = exp_fixed(_sat_diff(scores, np.asarray(b)[..., None], fmt), fmt.exp)
    shift = fmt.exp.out_frac + fmt.recip.out_frac - fmt.frac_bits
    return shift_round(e * np.asarray(recip)[..., None], shift)


def softmax_fixed(scores: np.ndarray, fmt: SoftmaxFormat = SoftmaxFormat()) -> np.ndarray:
    """Single-pass softmax over the last axis: int64 probabilities with ``frac_bits`` bits."""
    recip, b = softmax_row_state(scores, fmt)
    return softmax_normalise(scores, recip, b, fmt)


def attention_av_fixed(
    scores: np.ndarray, v: np.ndarray, fmt: SoftmaxFormat = SoftmaxFormat()
) -> np.ndarray:
    """``softmax(scores) @ v`` with the normalisation fused: scores (M, N), v (N, D) → (M, D).

    Products ``p * v`` are summed exactly in int64 (ValueError when N is so large that the
    sum could overflow 62 bits) and rounded once to ``frac_bits``, then saturated to
    ``total_bits``.
    """
    v = as_int64(v)
    p = softmax_fixed(scores, fmt)
    product_bits = fmt.frac_bits + fmt.total_bits - 1  # |p v| <= 2**frac * 2**(total-1)
    if product_bits + int(np.ceil(np.log2(max(v.shape[0], 2)))) > 62:
        raise ValueError("too many keys for an exact int64 accumulator")
    return saturate(shift_round(p @ v, fmt.frac_bits), fmt.total_bits)


def softmax_float(scores: np.ndarray) -> np.ndarray:
    """float64 reference softmax over the last axis."""
    x = np.asarray(scores, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
