"""Bit-exact golden model of Edge-MoE's reordered A·V core with the softmax normalisation fused
(edgemoe.md §3.2, §3.5): the arithmetic, request order, output order and cycle count of
``rtl/attention_av.py``.

One head: ``n`` query rows, ``n`` value tokens of ``d`` elements. Inputs per query row ``i``:
its scores ``S[i, j]`` (as the Q·K core :mod:`fpga.golden.attention` produced them: signed
``act_bits`` with ``act_frac`` fraction bits, Q10.22 by default) and its single-pass softmax
row state ``(recip_i, b_i)`` (:func:`fpga.golden.softmax.softmax_row_state`: ``recip`` = 1/sum
with ``recip_frac`` fraction bits, ``b`` the row maximum in the score format). All integer:

1. ``P[i, j] = shift_round(exp_fixed(sat(S[i, j] - b_i)) * recip_i, frac + recip_frac - frac)``
   — exactly :func:`fpga.golden.softmax.softmax_normalise` (a score above ``b_i`` gives
   ``exp = 1.0``). ``P`` has ``act_frac`` fraction bits; ``0 <= P <= 2**(act_frac + 1)`` for
   any ``recip`` word (``<= 2**act_frac`` when ``recip <= 1``, i.e. sum >= 1, as a softmax gives).
2. ``O[i, e] = sat(shift_round(sum_j P[i, j] V[j, e], act_frac))``: products and their sum
   exact (:func:`acc_bits` bits; never wraps), rounded half up once, **saturated** to the signed
   ``act_bits`` range — as :func:`fpga.golden.softmax.attention_av_fixed` does.

Schedule (the order of Edge-MoE's HLS ``compute_attn_matmul_v``: "A x V uses the same order
and stagger" as Q·K), ``p`` query slots, ``B = d / lanes`` blocks per token:

- Batches and key positions ``(base, k)`` exactly as :func:`fpga.golden.attention.positions`;
  slot ``s`` holds query ``slot_query(n, p, base, k, s)``.
- Per position the unit requests, one beat each: the row state of query ``base + k`` when it
  enters slot ``k`` (``k < p``, ``base + k < n``: the staggered load); the position's scores,
  one beat with slot ``s``'s score in element ``s`` (Edge-MoE's ``attn[batch][k][slot]``
  layout: ``p <= lanes``); then the ``B`` blocks of value token ``k``.
- Every value beat is multiplied with all ``p`` slots' probabilities. A slot's query starts at
  position ``k = s`` and completes at its last key: ``n - 1`` (slot 0) or ``s - 1`` in the
  next batch; during its last position's value beats its ``B`` output blocks leave, one per
  beat (at most one query completes per position).

Request tuples are ``(kind, token, block, batch)``: ``(STATE, query, 0, batch)``,
``(SCORES, key, 0, batch)``, ``(V, token, block, batch)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fpga.golden.attention import key_positions, positions
from fpga.golden.softmax import SoftmaxFormat, softmax_normalise

V, SCORES, STATE = 0, 1, 2
"""The ``kind`` field of a request: a value beat, a position's scores, a row state."""

PIPELINE = 10
"""Registers from a beat's handshake to the output register: the beat (with the exp
argument), 7 exp stages (:data:`rtl.exp_core.EXP_LATENCY`) beside a delay line, the
probability/product registers, the accumulators with the output register."""


@dataclass(frozen=True, slots=True)
class AttentionAVFormat:
    """Geometry and formats of the A·V core.

    Attributes
    ----------
    p : query slots (``p <= lanes``). lanes : MACs per slot, elements per memory beat (>= 2).
    d : elements per value token (``lanes`` divides it). n : tokens.
    softmax : score, row-state, exp and reciprocal formats (the single-pass softmax's);
        ``softmax.total_bits``/``frac_bits`` are also V's and O's format (Q10.22).
    """

    p: int = 4
    lanes: int = 8
    d: int = 64
    n: int = 129
    softmax: SoftmaxFormat = field(default_factory=SoftmaxFormat)

    @property
    def blocks(self) -> int:
        """Beats per value token, ``d / lanes``."""
        return self.d // self.lanes

    @property
    def act_bits(self) -> int:
        return self.softmax.total_bits

    @property
    def act_frac(self) -> int:
        return self.softmax.frac_bits

    @property
    def prob_bits(self) -> int:
        """Unsigned bits of a probability for any ``recip`` word: ``P <= 2**(act_frac+1)``."""
        return self.act_frac + 2


def acc_bits(fmt: AttentionAVFormat) -> int:
    """Signed bits of an exact ``sum_j P V``: ``|P V| <= 2**(act_frac+1) 2**(act_bits-1)``,
    ``n`` of them: ``act_frac + act_bits + 1 + ceil(log2 n)``."""
    return fmt.act_frac + fmt.act_bits + 1 + (fmt.n - 1).bit_length()


def loads(fmt: AttentionAVFormat, base: int, k: int) -> bool:
    """Whether position ``(base, k)`` loads a row state (query ``base + k`` enters slot k)."""
    return k < fmt.p and base + k < fmt.n


def finishing(fmt: AttentionAVFormat, base: int, k: int) -> tuple[int, int] | None:
    """``(slot, query)`` of the query whose last key is position ``(base, k)``, or None."""
    if k == fmt.n - 1 and base < fmt.n:
        return 0, base
    if k + 1 < fmt.p and base >= fmt.p and base - fmt.p + k + 1 < fmt.n:
        return k + 1, base - fmt.p + k + 1
    return None


def request_order(fmt: AttentionAVFormat) -> list[tuple[int, int, int, int]]:
    """Every ``(kind, token, block, batch)`` request, in order (module docstring)."""
    order = []
    for base, k in positions(fmt):
        batch = base // fmt.p
        if loads(fmt, base, k):
            order.append((STATE, base + k, 0, batch))
        order.append((SCORES, k, 0, batch))
        order += [(V, k, e, batch) for e in range(fmt.blocks)]
    return order


def output_order(fmt: AttentionAVFormat) -> list[tuple[int, int]]:
    """Every ``(query, block)`` output beat in order; each of the ``n d / lanes`` once."""
    order = []
    for base, k in positions(fmt):
        done = finishing(fmt, base, k)
        if done is not None:
            order += [(done[1], e) for e in range(fmt.blocks)]
    return order


def _ints(values, shape: tuple[int, ...], bits: int, name: str, signed: bool = True):
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, not dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {arr.shape}")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name} must lie in the {kind} {bits}-bit range [{lo}, {hi}]")
    return arr.astype(np.int64)


def probabilities(s, recip, b, fmt: AttentionAVFormat = AttentionAVFormat()) -> np.ndarray:
    """``P`` (n, n) int64 from scores ``s`` (n, n), ``recip`` (n,) and ``b`` (n,). Raises
    ValueError on a shape or value outside the format, TypeError on non-integers."""
    n, bits = fmt.n, fmt.act_bits
    s = _ints(s, (n, n), bits, "scores")
    b = _ints(b, (n,), bits, "b")
    recip = _ints(recip, (n,), fmt.softmax.recip.out_frac + 1, "recip", signed=False)
    return softmax_normalise(s, recip, b, fmt.softmax)


def outputs(s, recip, b, v, fmt: AttentionAVFormat = AttentionAVFormat()) -> np.ndarray:
    """``O`` (n, d) int64: every row of ``P V`` (module docstring, step 2); the sum in Python
    ints (exact whatever its width)."""
    p = probabilities(s, recip, b, fmt).astype(object)
    exact = p @ _ints(v, (fmt.n, fmt.d), fmt.act_bits, "v").astype(object)
    half, lo, hi = 1 << (fmt.act_frac - 1), -(1 << (fmt.act_bits - 1)), (1 << (fmt.act_bits - 1)) - 1
    rounded = [[min(max((x + half) >> fmt.act_frac, lo), hi) for x in row] for row in exact]
    return np.array(rounded, dtype=np.int64).reshape(fmt.n, fmt.d)


def output_stream(s, recip, b, v, fmt: AttentionAVFormat = AttentionAVFormat()
                  ) -> list[tuple[int, int, tuple[int, ...]]]:
    """The unit's output: ``(query, block, lanes elements)`` in :func:`output_order`."""
    o = outputs(s, recip, b, v, fmt)
    lanes = fmt.lanes
    return [(q, e, tuple(int(x) for x in o[q, e * lanes:(e + 1) * lanes]))
            for q, e in output_order(fmt)]


def beats(fmt: AttentionAVFormat) -> int:
    """Memory beats one head reads: ``key_positions (d/lanes + 1) + n`` (each position's value
    blocks and score beat, each row state once)."""
    return key_positions(fmt.n, fmt.p) * (fmt.blocks + 1) + fmt.n


def cycles(fmt: AttentionAVFormat, mem_latency: int = 1) -> int:
    """Cycles from the first request's handshake to the last output's, both counted, with no
    stall anywhere (memory takes every request and returns its beat ``mem_latency`` cycles
    later; the output sink always ready): ``mem_latency + beats + PIPELINE``.

    The unit takes one beat per cycle whatever its kind and never waits (nothing in it is
    shared: the exp of a score and the products of a value beat are different stages of one
    in-order pipeline), so the last beat is taken in cycle ``mem_latency + beats - 1``; it is
    the last value block of the last position, which completes query ``n - 1``, and its output
    block is in the output register :data:`PIPELINE` cycles later and taken in that cycle."""
    return mem_latency + beats(fmt) + PIPELINE


def _sum_error(row: np.ndarray, fmt: AttentionAVFormat, exp_err: float) -> tuple[float, float]:
    """``(S, D)``: the exact softmax sum ``S = sum_j exp(y_j - b)`` of one row of quantised
    scores and a bound ``D`` on ``|sum_fixed - S|`` (:func:`error_bound`)."""
    u = 2.0 ** -fmt.act_frac
    total = err = 0.0
    top = None
    for y in row.astype(np.float64) * u:
        if top is None or y > top:  # rescale: sum = round(sum * exp(m - y)) + 1
            f = 0.0 if top is None else float(np.exp(top - y))
            err = err * (f + exp_err) + total * exp_err + u / 2
            total, top = total * f + 1.0, y
        else:  # add: sum += exp(y - m)
            err += exp_err
            total += float(np.exp(y - top))
    return total, err


def error_bound(y, v, fmt: AttentionAVFormat = AttentionAVFormat(),
                score_error: float = 0.0) -> np.ndarray:
    """Bound (n, d) on ``|O * 2**-act_frac - softmax(t) V|`` for the row state the golden
    softmax computes from the scores ``y`` (int, (n, n)), V the reals of ``v`` (int, (n, d)),
    and real scores ``t`` with ``t - y 2**-act_frac`` in ``[0, score_error)`` (the Q·K core's
    floor: ``score_error = 2**-act_frac``). No saturation anywhere (sum < 2**(act_bits-1-act_frac)).

    With ``u = 2**-act_frac``, ``E`` = :func:`fpga.golden.exp.exp_error_bound` (absolute, per
    exp), per row (``e_j = exp(y_j u - b)``, ``S = sum e_j``):

    - running sum: adding ``exp`` adds at most ``E``; a rescale ``round(sum f~) + 1`` with
      ``|f~ - f| <= E`` turns an error ``D`` into ``D (f + E) + S_t E + u/2`` (``S_t`` the exact
      sum so far); evaluated along the row's own order (:func:`_sum_error`);
    - 1/sum: ``|r~ - 1/S| <= D / (S (S - D)) + 2**-(recip_frac+1) = dr``, ``r~ <= 1/S + dr``;
    - ``|P~_j - e_j/S| <= E r~ + e_j dr + u/2`` (exp error, 1/sum error, the rounding of P);
    - ``|sum_j (P~_j - p_j) V_j| <= sum_j (E r~ + u/2) |V_j| + dr sum_j e_j |V_j|``, plus
      ``u/2`` for the final rounding;
    - real scores: moving every score by less than ``w = score_error`` (all the same sign)
      scales each ``p_j`` by a factor in ``[e**-w, e**w]``: ``(e**w - 1) max_j |V_j|``;
    - float64's own error (softmax and the sum of ``n`` products): ``n 2**-50 max_j |V_j|``.
    """
    from fpga.golden.exp import exp_error_bound

    u, exp_err = 2.0 ** -fmt.act_frac, exp_error_bound(fmt.softmax.exp)
    y = np.asarray(y, dtype=np.int64)
    vabs = np.abs(np.asarray(v, dtype=np.float64) * u)
    vmax = vabs.max(axis=0)
    bound = np.empty((fmt.n, fmt.d))
    for i, row in enumerate(y):
        total, err = _sum_error(row, fmt, exp_err)
        dr = err / (total * (total - err)) + 2.0 ** -(fmt.softmax.recip.out_frac + 1)
        e = np.exp((row - row.max()).astype(np.float64) * u)
        per_term = exp_err * (1.0 / total + dr) + u / 2
        bound[i] = (per_term * vabs.sum(axis=0) + dr * (e @ vabs) + u / 2
                    + np.expm1(score_error) * vmax + fmt.n * 2.0 ** -50 * vmax)
    return bound
