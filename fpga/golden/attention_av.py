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

import math
from dataclasses import dataclass, field

import numpy as np

from fpga.golden.attention import key_positions, positions
from fpga.golden.exp import ExpFormat
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


def exp_relative_error(z, fmt: ExpFormat):
    """``rho(z)``: bound on ``|x / exp(z) - 1|``, ``x`` the value :func:`fpga.golden.exp.exp_fixed`
    holds before its final rounding (``m 2**-(n + entry_frac)``), for real ``z <= 0`` (the exact
    value of the fixed-point argument; float or array).

    ``x = 2**-n m`` and ``exp(z) = 2**-t``, ``t = -z log2 e``. Two independent factors:

    - exponent: ``|t^ - t| <= |z| 2**-(const_bits+1) + 2**-(t_frac+1)`` (the constant log2 e
      rounded to ``const_bits``, the product rounded to ``t_frac``), so ``2**-t^ = 2**-t (1 + a)``,
      ``|a| <= 2**|t^ - t| - 1``;
    - mantissa: linear interpolation of the convex ``2**-f`` between knots ``h`` apart
      (``h = 2**-table_log2``) is above it by at most ``h**2/8 ln2**2 2**-f_j``, relative to
      ``2**-f >= 2**-(f_j + h)``: ``h**2/8 ln2**2 2**h``; the rounded entries (half an LSB, any
      convex combination of them) and the rounded interpolation product (half an LSB) add one
      LSB ``2**-entry_frac`` on a mantissa ``>= 1/2``: ``2**-(entry_frac-1)`` relative.

    ``rho = (1 + rho_exponent)(1 + rho_mantissa) - 1``.
    """
    ln2, h = math.log(2.0), 2.0 ** -fmt.table_log2
    shift = np.abs(z) * 2.0 ** -(fmt.const_bits + 1) + 2.0 ** -(fmt.t_frac + 1)
    exponent = np.expm1(ln2 * shift)
    mantissa = h * h / 8.0 * ln2 * ln2 * 2.0 ** h + 2.0 ** -(fmt.entry_frac - 1)
    return (1.0 + exponent) * (1.0 + mantissa) - 1.0


def exp_abs_error(z, fmt: ExpFormat):
    """Bound on ``|exp_fixed(z) 2**-out_frac - exp(z)|`` for real ``z <= 0`` (float or array):
    ``rho e + min(u/2, (1 + rho) e)``, ``e = exp(z)``, ``rho`` = :func:`exp_relative_error`,
    ``u = 2**-out_frac``. The final round half up moves the pre-rounding value ``x`` by at most
    ``u/2``, and by exactly ``x`` when ``x < u/2`` (it gives 0), so by at most
    ``min(u/2, x)``, ``x <= (1 + rho) e``. Below the format's range the argument saturates and
    the result is 0: the error is ``e``, which the second term covers (``e < u/2`` there).
    At ``z = 0`` the bound is 0: ``t = 0`` selects ``T[0] = 2**entry_frac`` and the shift
    leaves exactly ``2**out_frac``."""
    rho, e = exp_relative_error(z, fmt), np.exp(z)
    bound = rho * e + np.minimum(2.0 ** -(fmt.out_frac + 1), (1.0 + rho) * e)
    return np.where(np.asarray(z) == 0, 0.0, bound)  # exp_fixed(0) = T[0] = 1.0 exactly


@dataclass(frozen=True, slots=True)
class _SumError:
    """One row's running sum against its exact value (:func:`_sum_error`).

    ``total``: the exact ``S = sum_j exp(y_j - b)``; ``err``: bound ``D`` on ``|sum_fixed - S|``;
    ``top``: index of the last rescale (the row maximum's first arrival; keys after it add
    ``exp(y_j - b)`` with the final ``b``, exactly the exps the probabilities use); ``top_err``:
    bound on the error of the sum right after that rescale (``R = 1 + sum_{j < top} e_j``).
    """

    total: float
    err: float
    top: int
    top_err: float


def _sum_error(row: np.ndarray, fmt: AttentionAVFormat) -> _SumError:
    """The running sum of one row of quantised scores, in its arrival order, against exact
    arithmetic (:func:`error_bound`). The first score sets ``sum = 1.0`` exactly (from the
    reset state, either branch); a rescale ``round(sum f~) + 1`` turns an error ``D`` into
    ``D (f + a_f) + S_t a_f + u/2``; an add adds its exp's error ``a``."""
    u, exp_fmt = 2.0 ** -fmt.act_frac, fmt.softmax.exp
    values = row.astype(np.float64) * u
    total, err, top, top_err = 1.0, 0.0, 0, 0.0
    for j in range(1, len(values)):
        gap = values[j] - values[top]
        if gap > 0:  # rescale: sum = round(sum * exp(-gap)) + 1
            f, df = math.exp(-gap), float(exp_abs_error(-gap, exp_fmt))
            err = err * (f + df) + total * df + u / 2
            total, top, top_err = total * f + 1.0, j, err
        else:  # add: sum += exp(gap)
            err += float(exp_abs_error(gap, exp_fmt))
            total += math.exp(gap)
    return _SumError(total, err, top, top_err)


def error_bound(y, v, fmt: AttentionAVFormat = AttentionAVFormat(),
                score_error: float = 0.0) -> np.ndarray:
    """Bound (n, d) on ``|O * 2**-act_frac - softmax(t) V|`` for the row state the golden
    softmax computes from the scores ``y`` (int, (n, n), each row in the order the softmax saw
    it), V the reals of ``v`` (int, (n, d)), and real scores ``t`` with ``t - y 2**-act_frac``
    in ``[0, score_error)`` (the Q·K core's floor: ``score_error = 2**-act_frac``). Assumes no
    saturation of the running sum or the output (``sum < 2**(act_bits-1-act_frac)``, e.g.
    ``n < 512`` at Q10.22; ``|O| < 2**(act_bits-1-act_frac)``). A row whose sum error bound is
    not below its sum gets inf.

    Per row, with ``u = 2**-act_frac``, ``b`` the row maximum (first arriving at key ``M``),
    ``e_j = exp(y_j u - b) <= 1``, ``S = sum e_j >= 1``, ``o = sum_j e_j V_j / S`` (the exact
    output for these scores); the exp's output ``e~_j`` is within ``a_j`` =
    :func:`exp_abs_error` of ``e_j`` (relative ``rho`` plus the final rounding; 0 at the
    maximum):

    - running sum ``T~`` (:func:`_sum_error`, along the row's own order): within ``D`` of
      ``S``; right after the last rescale (key ``M``) it is ``R~``, within ``D_R`` of
      ``R = sum_{j <= M} e_j``, and every later key adds exactly the ``e~_j`` its probability
      uses, so ``T~ - S = (R~ - R) + sum_{j > M} (e~_j - e_j)``;
    - 1/sum, rounded half up: ``r~ = 1/T~ + q``, ``|q| <= 2**-(recip_frac+1)``,
      ``1/T~ <= 1/(S - D)``;
    - ``P~_j = e~_j r~ + c_j``, the rounding ``|c_j| <= min(u/2, e~_j r~)`` (a product below
      half an LSB rounds to 0);
    - the accumulator sums ``P~_j V_j`` exactly, and the algebra
      ``sum_j e~_j V_j - T~ o = sum_{j < M} (e~_j - e_j) V_j + sum_{j > M} (e~_j - e_j)(V_j - o)
      - (R~ - R) o`` gives
      ``|sum_j P~_j V_j - o| <= [sum_{j<M} a_j |V_j| + sum_{j>M} a_j |V_j - o| + D_R |o|] / (S - D)
      + 2**-(recip_frac+1) sum_j (e_j + a_j) |V_j| + sum_j |c_j| |V_j|``: the exp errors that
      reach both a probability and the sum cancel against ``o`` (the probabilities sum to 1),
      and the relative exp error enters as ``rho sum_j p_j |V_j - o|``-like weighted averages,
      not ``n`` times the worst term; only the roundings of exps and probabilities above half an
      LSB count once per key;
    - ``u/2`` for the output's round half up;
    - real scores: moving every score by less than ``w = score_error`` (all the same sign)
      scales each ``p_j`` by a factor in ``(e**-w, e**w)``: ``(e**w - 1) sum_j p_j |V_j|``;
    - float64's own error: ``2 n 2**-50 max_j |V_j|`` (the reference softmax and its ``n``-term
      sums; this bound's ``o`` and ``|V_j - o|``, which enter multiplied by less than 1).
    """
    u = 2.0 ** -fmt.act_frac
    y = np.asarray(y, dtype=np.int64)
    vreal = np.asarray(v, dtype=np.float64) * u
    vabs = np.abs(vreal)
    slack = 2 * fmt.n * 2.0 ** -50 * vabs.max(axis=0) + u / 2
    recip_round = 2.0 ** -(fmt.softmax.recip.out_frac + 1)
    bound = np.empty((fmt.n, fmt.d))
    for i, row in enumerate(y):
        state = _sum_error(row, fmt)
        if state.err >= state.total:
            bound[i] = np.inf
            continue
        z = (row - row.max()).astype(np.float64) * u
        e, a = np.exp(z), exp_abs_error(z, fmt.softmax.exp)
        o = (e @ vreal) / state.total
        r_hi = 1.0 / (state.total - state.err)
        before, after = slice(0, state.top), slice(state.top + 1, None)
        cancelled = (a[before] @ vabs[before] + a[after] @ np.abs(vreal[after] - o)
                     + state.top_err * np.abs(o))
        rounding = np.minimum(u / 2, (e + a) * (r_hi + recip_round))
        bound[i] = (r_hi * cancelled + recip_round * ((e + a) @ vabs) + rounding @ vabs
                    + np.expm1(score_error) * (e @ vabs) / state.total + slack)
    return bound
