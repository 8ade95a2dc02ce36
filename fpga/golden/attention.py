"""Bit-exact golden model of Edge-MoE's reordered Q·K attention core (edgemoe.md §3.5), the
arithmetic, request order, score order and cycle count of ``rtl/attention.py``.

One head: ``n`` tokens, ``d`` elements per token, Q and K signed ``act_bits`` integers with
``act_frac`` fraction bits (Q10.22 by default). Scores, all integer arithmetic:

1. ``S[i, j] = sum_e Q[i, e] * K[j, e]`` exact (``2 act_frac`` fraction bits; never wraps: the
   accumulator has ``acc_bits(d, act_bits)`` bits).
2. Scale and format: ``floor(S / 2**(act_frac + scale_shift))`` (an arithmetic shift; the
   scale is ``2**-scale_shift``, 1/8 = 1/sqrt(64) by default), **saturated** to the signed
   ``act_bits`` range (a score beyond +-512 becomes the largest/smallest Q10.22 value; it is
   never wrapped, so the softmax's running maximum keeps the order of the scores).

Error against the real ``Q·K / 2**scale_shift`` (no saturation): ``real - y * 2**-act_frac``
lies in ``[0, 2**-act_frac)`` (one floor of an exact value). Edge-MoE's HLS scales each block's
partial sum and truncates per addition (``ap_fixed`` AP_TRN); this model truncates once.

Schedule (the order of Edge-MoE's ``compute_q_matmul_k``), ``p`` query slots, ``B = d / lanes``
blocks per token, one memory beat (``lanes`` elements of one token) per request:

- Batches ``b = 0 .. batches(n, p) - 1`` with ``base = b p``; ``batches = ceil((n + p - 1) / p)``.
  Batch ``b`` walks key positions ``k = 0 .. keys_in_batch(b) - 1`` (``n``, except a last batch
  that only completes the previous queries: ``(n - 1) mod p`` positions when that is nonzero),
  and per key position the blocks ``0 .. B - 1``.
- Staggered load: at key position ``k < p`` with ``base + k < n``, block ``e`` of query token
  ``base + k`` is requested (into slot ``k``) immediately before block ``e`` of key token ``k``.
  Slot ``s`` therefore holds query ``base - p + s`` for positions ``k < s`` (the previous batch's
  query, finishing its keys ``0 .. s-1``) and query ``base + s`` from position ``s`` on.
- Every key beat is multiplied with all ``p`` slots; after a key token's last block the scores
  of the slots holding an existing query (``0 <= q < n``) leave in slot order.

Each query meets each key exactly once: query ``q`` sees keys ``q mod p .. n-1`` in batch
``q // p`` and ``0 .. q mod p - 1`` in the next one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Q, K = 0, 1
"""The ``tensor`` field of a request: a query beat or a key beat."""

SCORE_STAGES = 3
"""Registers between a key beat's handshake and the score buffer: the key beat with its slot
reads, the products, the block sums (the accumulation writes the buffer)."""


@dataclass(frozen=True, slots=True)
class AttentionFormat:
    """Geometry and formats of the attention core.

    Attributes
    ----------
    p : query slots. lanes : MAC lanes per slot (elements per memory beat).
    d : elements per token (head dimension; ``lanes`` divides it). n : tokens.
    act_bits, act_frac : signed width and fraction bits of Q, K and the scores (32, 22).
    scale_shift : the score is the dot product times ``2**-scale_shift`` (3 for d = 64).
    """

    p: int = 4
    lanes: int = 8
    d: int = 64
    n: int = 129
    act_bits: int = 32
    act_frac: int = 22
    scale_shift: int = 3

    @property
    def blocks(self) -> int:
        """Beats per token, ``d / lanes``."""
        return self.d // self.lanes


def acc_bits(d: int, act_bits: int) -> int:
    """Bits of an exact sum of ``d`` products of two signed ``act_bits`` values:
    ``2 act_bits + floor(log2 d)``. Every product lies in ``[-(2**(a-1))(2**(a-1) - 1),
    2**(2a-2)]``, so ``|S| <= d 2**(2a-2) < 2**(2a - 1 + floor(log2 d))``."""
    return 2 * act_bits + d.bit_length() - 1


def batches(n: int, p: int) -> int:
    """``ceil((n + p - 1) / p)``: the batch loop count of the staggered schedule."""
    return math.ceil((n + p - 1) / p)


def keys_in_batch(n: int, p: int, b: int) -> int:
    """Key positions batch ``b`` walks: ``n``, or ``(n - 1) mod p`` in a last batch that only
    completes the previous batch's queries (its base is then ``>= n``)."""
    tail = (n - 1) % p
    return tail if b == batches(n, p) - 1 and tail else n


def key_positions(n: int, p: int) -> int:
    """Key tokens streamed in all: ``(batches - 1) n + keys_in_batch(last)``; equals
    ``batches(n, p) * n`` exactly when ``p`` divides ``n - 1``."""
    nb = batches(n, p)
    return (nb - 1) * n + keys_in_batch(n, p, nb - 1)


def slot_query(n: int, p: int, base: int, k: int, s: int) -> int | None:
    """The query slot ``s`` holds at key position ``k`` of the batch at ``base``, or None when
    that query does not exist."""
    q = base + s if s <= k else base - p + s
    return q if 0 <= q < n else None


def positions(fmt: AttentionFormat):
    """Yield ``(base, k)`` for every key position in schedule order."""
    for b in range(batches(fmt.n, fmt.p)):
        for k in range(keys_in_batch(fmt.n, fmt.p, b)):
            yield b * fmt.p, k


def request_order(fmt: AttentionFormat) -> list[tuple[int, int, int]]:
    """Every ``(tensor, token, block)`` request the unit issues, in order (module docstring)."""
    order = []
    for base, k in positions(fmt):
        load = position_beats(fmt, base, k) > fmt.blocks
        for e in range(fmt.blocks):
            if load:
                order.append((Q, base + k, e))
            order.append((K, k, e))
    return order


def score_order(fmt: AttentionFormat) -> list[tuple[int, int]]:
    """Every ``(query, key)`` score in output order: per key position, the existing slots'
    queries in slot order. Each of the ``n**2`` pairs appears once."""
    order = []
    for base, k in positions(fmt):
        for s in range(fmt.p):
            q = slot_query(fmt.n, fmt.p, base, k, s)
            if q is not None:
                order.append((q, k))
    return order


def _exact(values, fmt: AttentionFormat, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuO":
        raise TypeError(f"{name} must hold integers, not dtype {arr.dtype}")
    if arr.shape != (fmt.n, fmt.d):
        raise ValueError(f"{name} must have shape ({fmt.n}, {fmt.d}), not {arr.shape}")
    exact = arr.astype(object)
    lo, hi = -(1 << (fmt.act_bits - 1)), (1 << (fmt.act_bits - 1)) - 1
    if exact.size and (min(exact.flat) < lo or max(exact.flat) > hi):
        raise ValueError(f"{name} must lie in the signed {fmt.act_bits}-bit range [{lo}, {hi}]")
    return exact


def scores(q, k, fmt: AttentionFormat = AttentionFormat()) -> np.ndarray:
    """All ``n x n`` scores ``Y[i, j]`` (object array of Python ints, signed ``act_bits``,
    ``act_frac`` fraction bits) of queries ``q`` and keys ``k``, each ``(n, d)`` signed
    ``act_bits`` integers. Raises ValueError on a shape or value outside the format, TypeError
    on non-integers."""
    exact = _exact(q, fmt, "q") @ _exact(k, fmt, "k").T  # Python ints: never wraps
    lo, hi = -(1 << (fmt.act_bits - 1)), (1 << (fmt.act_bits - 1)) - 1
    shift = fmt.act_frac + fmt.scale_shift
    return np.vectorize(lambda v: min(max(v >> shift, lo), hi), otypes=[object])(exact)


def score_stream(q, k, fmt: AttentionFormat = AttentionFormat()) -> list[tuple[int, int, int]]:
    """The unit's output: ``(query, key, score)`` in :func:`score_order`."""
    y = scores(q, k, fmt)
    return [(i, j, int(y[i, j])) for i, j in score_order(fmt)]


def beats(fmt: AttentionFormat) -> int:
    """Memory beats one head reads: ``(key_positions + n) * d / lanes`` (every query once)."""
    return (key_positions(fmt.n, fmt.p) + fmt.n) * fmt.blocks


def position_beats(fmt: AttentionFormat, base: int, k: int) -> int:
    """Beats of one key position: its ``d / lanes`` key beats, twice that when it loads a
    query."""
    return fmt.blocks * (2 if k < fmt.p and base + k < fmt.n else 1)


def cycles(fmt: AttentionFormat, mem_latency: int = 1) -> int:
    """Cycles from the first request's handshake to the last score's handshake, both
    counted, with no stall anywhere (memory accepts every request and returns its beat
    ``mem_latency`` cycles later; the score sink always ready).

    For ``p <= d / lanes`` (Edge-MoE: 4 <= 64 / 8) the closed form is
    ``mem_latency + beats + SCORE_STAGES + 1``: the port delivers one beat per cycle and the
    unit takes one per cycle, so the last beat is taken in cycle ``mem_latency + beats - 1``;
    its scores are in the buffer ``SCORE_STAGES + 1`` cycles later, and the last key position
    has exactly one existing query (query ``n - 1``, in slot ``(n - 1) mod p``; ``n >= p``),
    whose score leaves in that cycle.

    In general the buffer takes key position j's ``v_j`` scores ``max(b_j, v_(j-1))``
    cycles after position j-1's (``b_j`` its beats: the pipeline holds while the previous
    scores drain, one per cycle), so the count is ``mem_latency + SCORE_STAGES +
    sum_j max(b_j, v_(j-1)) + v_last`` (``v_(-1) = 0``): with ``p > d / lanes`` the score port
    sets the pace whenever more than ``b_j`` queries are live."""
    total, live = 0, 0
    for base, k in positions(fmt):
        total += max(position_beats(fmt, base, k), live)
        live = sum(slot_query(fmt.n, fmt.p, base, k, s) is not None for s in range(fmt.p))
    return mem_latency + SCORE_STAGES + total + live
