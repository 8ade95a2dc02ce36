"""Golden chain of one attention head as ``rtl/attention_head.py`` computes it: the Q·K core
(:mod:`fpga.golden.attention`), one single-pass softmax per query slot
(:mod:`fpga.golden.softmax`) and the A·V core (:mod:`fpga.golden.attention_av`), plus the
memory map the head's two ports use and the expected memory writes.

Arrival order: the Q·K core's score stream interleaves up to ``p`` rows (query ``q`` sits in
slot ``q mod p`` and meets keys ``q mod p .. n-1`` in its batch, then ``0 .. q mod p - 1`` in
the next). Each slot's softmax sees its rows one after another, but each row **rotated**:
keys in :func:`arrival_order`. The fixed-point running sum rounds at every rescale, so the row
state depends on that order; the chain feeds :func:`fpga.golden.softmax.softmax_row_state`
the row in arrival order (the maximum ``b`` does not depend on it; ``1/sum`` may, in the last
bits).

Memory (one beat = ``lanes`` signed ``act_bits`` elements; beat addresses, :class:`MemoryMap`):
Q, K and V token ``t`` block ``e`` at ``base + t d/lanes + e``; the score of the Q·K position
(batch, key) for slot ``s`` in element ``s`` of beat ``scores + batch n + key`` (Edge-MoE's
``attn[batch][k][slot]``, the beat the A·V core reads); query ``q``'s row state in beat
``state + q``: ``b`` in element 0, ``1/sum`` in element 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fpga.golden import attention as qk
from fpga.golden import attention_av as av
from fpga.golden.softmax import softmax_row_state


@dataclass(frozen=True, slots=True)
class HeadFormat:
    """The two cores' formats; their shared geometry and activation format must agree."""

    qk: qk.AttentionFormat
    av: av.AttentionAVFormat

    def __post_init__(self) -> None:
        a, b = self.qk, self.av
        if (a.p, a.lanes, a.d, a.n, a.act_bits, a.act_frac) != \
                (b.p, b.lanes, b.d, b.n, b.act_bits, b.act_frac):
            raise ValueError("the Q·K and A·V formats must share p, lanes, d, n and the "
                             "activation format")

    @property
    def n(self) -> int:
        return self.qk.n


@dataclass(frozen=True, slots=True)
class MemoryMap:
    """Beat addresses of the regions (module docstring); ``size`` beats in all."""

    q: int
    k: int
    v: int
    scores: int
    state: int
    size: int


def memory_map(fmt: HeadFormat) -> MemoryMap:
    """Q, K, V (``n d/lanes`` beats each), scores (``batches n``), row states (``n``)."""
    tokens = fmt.n * fmt.qk.blocks
    scores = 3 * tokens
    state = scores + qk.batches(fmt.n, fmt.qk.p) * fmt.n
    return MemoryMap(0, tokens, 2 * tokens, scores, state, state + fmt.n)


def arrival_order(fmt: HeadFormat) -> list[list[int]]:
    """Per query, its keys in the order the Q·K core emits their scores."""
    keys: list[list[int]] = [[] for _ in range(fmt.n)]
    for q, k in qk.score_order(fmt.qk):
        keys[q].append(k)
    return keys


def row_state(y, fmt: HeadFormat) -> tuple[np.ndarray, np.ndarray]:
    """``(recip, b)`` (n,) int64 of the scores ``y`` (n, n), each row in arrival order."""
    y = np.asarray(y, dtype=np.int64)
    rotated = np.stack([y[i, keys] for i, keys in enumerate(arrival_order(fmt))])
    return softmax_row_state(rotated, fmt.av.softmax)


def chain(q, k, v, fmt: HeadFormat):
    """``(y, recip, b, O)``: scores, row state and the head's output (n, d) int64."""
    y = qk.scores(q, k, fmt.qk).astype(np.int64)
    recip, b = row_state(y, fmt)
    return y, recip, b, av.outputs(y, recip, b, v, fmt.av)


def output_stream(q, k, v, fmt: HeadFormat) -> list[tuple[int, int, tuple[int, ...]]]:
    """The head's output beats ``(query, block, lanes elements)`` in A·V output order."""
    y, recip, b, _ = chain(q, k, v, fmt)
    return av.output_stream(y, recip, b, v, fmt.av)


def score_writes(y, fmt: HeadFormat) -> list[tuple[int, int, int]]:
    """``(beat address, element, score)`` of every score write, in the Q·K stream order."""
    base, n, p = memory_map(fmt).scores, fmt.n, fmt.qk.p
    writes = []
    for b, key in qk.positions(fmt.qk):
        for s in range(p):
            query = qk.slot_query(n, p, b, key, s)
            if query is not None:
                writes.append((base + (b // p) * n + key, s, int(y[query, key])))
    return writes


def state_writes(recip, b, fmt: HeadFormat) -> dict[int, tuple[int, int]]:
    """Beat address -> ``(b, recip)`` of every row-state write."""
    base = memory_map(fmt).state
    return {base + i: (int(b[i]), int(recip[i])) for i in range(fmt.n)}


EXP_STAGES = 7
"""The exp pipeline's registers in the softmax unit (``rtl.exp_core.EXP_LATENCY``)."""


def cores_cycles(fmt: HeadFormat, mem_latency: int = 1) -> int:
    """Sum of the two cores' closed forms (:func:`fpga.golden.attention.cycles`,
    :func:`fpga.golden.attention_av.cycles`), each from its first request to its last output."""
    return qk.cycles(fmt.qk, mem_latency) + av.cycles(fmt.av, mem_latency)


def divider_cycles(fmt: HeadFormat) -> int:
    """Cycles the softmax's restoring divider (``rtl.reciprocal``) is busy: one per quotient
    bit of its ``max(frac + recip_frac + 2, total_bits) + 1``-bit numerator."""
    sm = fmt.av.softmax
    return max(sm.frac_bits + sm.recip.out_frac + 2, sm.total_bits) + 1


def hand_over(fmt: HeadFormat) -> int:
    """Cycles between the Q·K core's last score and the A·V core's first request, minus one:
    the last row's end reaches the sum stage ``1 + EXP_STAGES`` cycles after its score, the
    divider takes it that cycle and shows ``1/sum`` ``divider_cycles + 1`` cycles later, the
    write is counted one cycle after, and the A·V core, started in that cycle, requests in
    the next: ``3 + EXP_STAGES + divider_cycles`` (65 at Q10.22, 1/sum Q1.30)."""
    return 3 + EXP_STAGES + divider_cycles(fmt)


def cycles(fmt: HeadFormat, mem_latency: int = 1) -> int:
    """No-stall cycles from the first read request to the last output, both counted:
    :func:`cores_cycles` + :func:`hand_over`, when no softmax stalls the score stream (a
    slot's rows end at least ``divider_cycles + 2`` cycles apart: a slot's row lasts about
    ``n d / lanes`` cycles) and no row-state write delays a score the Q·K core could not
    absorb. Otherwise the head is slower; the test bench measures by how much."""
    return cores_cycles(fmt, mem_latency) + hand_over(fmt)


def error_bound(q, k, v, fmt: HeadFormat) -> np.ndarray:
    """Bound (n, d) on ``|O 2**-act_frac - softmax(Q K^T 2**-scale_shift) V|`` (float64
    reference, no saturation): :func:`fpga.golden.attention_av.error_bound` with the Q·K
    core's floor (``score_error = 2**-act_frac``), evaluated with each row's running sum in
    its arrival order (keys and V rows rotated together: the real softmax is unchanged)."""
    y, _, _, _ = chain(q, k, v, fmt)
    v = np.asarray(v, dtype=np.int64)
    n, p = fmt.n, fmt.qk.p
    bound = np.empty((n, fmt.qk.d))
    for s in range(min(p, n)):
        keys = list(range(s, n)) + list(range(s))
        part = av.error_bound(y[:, keys], v[keys], fmt.av, score_error=2.0 ** -fmt.qk.act_frac)
        bound[s::p] = part[s::p]
    return bound
