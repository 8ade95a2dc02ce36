"""A·V core with fused normalisation (rtl/attention_av.py): the golden model against float64
softmax(Q·K/8)·V within a derived bound, against the existing fused model and hand-worked
cases; the reordered request and output order (against Edge-MoE's HLS loop nest); parameter
validation, ports; Amaranth simulation and the emitted Verilog on Icarus and Verilator (every
request and output checked, random stalls and back-pressure); the measured cycle count against
the closed form and the FPGA model."""

from __future__ import annotations

import numpy as np
import pytest

from fpga.golden import attention as qk
from fpga.golden.attention_av import (
    SCORES,
    STATE,
    AttentionAVFormat,
    V,
    beats,
    error_bound,
    finishing,
    output_order,
    outputs,
    request_order,
)
from fpga.golden.softmax import attention_av_fixed, softmax_row_state

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SMALL = {"n": 9, "d": 16, "lanes": 4}  # 4 blocks per token

# ---- golden model: arithmetic ---------------------------------------------------------------

ONE = 1 << 22


def test_golden_hand_worked_half_and_rounding():
    """Two equal scores: exp(0) = 1.0 each, sum 2, recip 2**30 / 2 = 2**29 (Q1.30), so
    P = 1.0 * 0.5 = 2**21 each. O = (v0 + v1) / 2 in LSBs, rounded half up: (3 + 0)/2 = 1.5
    -> 2; (-3 + 0)/2 = -1.5 -> -1; (5 + 2)/2 = 3.5 -> 4; (-4 + 2)/2 = -1 exactly."""
    fmt = AttentionAVFormat(p=1, lanes=2, d=4, n=2)
    s = np.full((2, 2), 7 * ONE)
    recip, b = np.full(2, 1 << 29), np.full(2, 7 * ONE)
    v = np.array([[3, -3, 5, -4], [0, 0, 2, 2]])
    assert outputs(s, recip, b, v, fmt).tolist() == [[2, -1, 4, -1]] * 2


def test_golden_saturates_not_wraps():
    """recip = 2**31 - 1 (~2.0, beyond a real softmax's <= 1) and scores above b (exp clamps
    to 1.0): P = round(2**22 (2**31 - 1) / 2**30) = 2**23 (2.0) for both keys; V = +-512-ish
    gives sum 2 * 2 * 511.99 > 512: saturated to the largest/smallest Q10.22."""
    fmt = AttentionAVFormat(p=1, lanes=2, d=2, n=2)
    hi, lo = (1 << 31) - 1, -(1 << 31)
    s = np.full((2, 2), ONE)
    recip, b = np.full(2, (1 << 31) - 1), np.zeros(2, dtype=np.int64)
    v = np.array([[hi, lo], [hi, lo]])
    assert outputs(s, recip, b, v, fmt).tolist() == [[hi, lo], [hi, lo]]


def test_golden_equals_the_fused_softmax_model():
    """With the row state the golden softmax computes, O equals
    fpga.golden.softmax.attention_av_fixed (softmax_fixed, int64 p @ v, one rounding)."""
    fmt = AttentionAVFormat(p=3, lanes=4, d=8, n=11)
    rng = np.random.default_rng(5)
    s = rng.integers(-(40 << 22), 40 << 22, size=(11, 11))
    v = rng.integers(-(1 << 31), 1 << 31, size=(11, 8))
    recip, b = softmax_row_state(s)
    assert np.array_equal(outputs(s, recip, b, v, fmt), attention_av_fixed(s, v))


def test_golden_against_float64_softmax_qk_v():
    """Q, K, V with |x| < 4 at d = 64: scores by the Q·K golden model (floor of Q·K/8), row
    state by the golden single-pass softmax, O against float64 softmax(Q·K/8)·V within
    error_bound (exp's and 1/sum's documented errors propagated; the scores' floor adds
    2**-22). The bound is informative (< 1e-3 on values < 4) and the error is not zero."""
    n, d = 40, 64
    rng = np.random.default_rng(8)
    q, k, v = (rng.integers(-(4 << 22) + 1, 4 << 22, size=(n, d)) for _ in range(3))
    y = qk.scores(q, k, qk.AttentionFormat(n=n)).astype(np.int64)
    fmt = AttentionAVFormat(n=n)
    recip, b = softmax_row_state(y)
    got = outputs(y, recip, b, v, fmt) / 2.0 ** 22
    t = (q / 2.0 ** 22) @ (k / 2.0 ** 22).T / 8
    e = np.exp(t - t.max(axis=1, keepdims=True))
    want = (e / e.sum(axis=1, keepdims=True)) @ (v / 2.0 ** 22)
    bound = error_bound(y, v, fmt, score_error=2.0 ** -22)
    err = np.abs(got - want)
    assert np.all(err <= bound)
    assert bound.max() < 1e-3 and err.max() > 2.0 ** -22


def test_golden_rejects_bad_inputs():
    fmt = AttentionAVFormat(p=1, lanes=2, d=2, n=2)
    z = np.zeros((2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match=r"v must have shape \(2, 2\)"):
        outputs(z, np.ones(2, dtype=np.int64), np.zeros(2, dtype=np.int64), np.zeros((2, 3),
                dtype=np.int64), fmt)
    with pytest.raises(ValueError, match="recip must lie in the unsigned 31-bit range"):
        outputs(z, np.full(2, 1 << 31), np.zeros(2, dtype=np.int64), z, fmt)
    with pytest.raises(TypeError, match="must hold integers"):
        outputs(z.astype(float), np.ones(2, dtype=np.int64), np.zeros(2, dtype=np.int64), z, fmt)


# ---- golden model: the reordered schedule ---------------------------------------------------


def test_request_and_output_order_hand_worked():
    """n = 3, p = 2, one block per token: batch 0 loads rows 0 and 1 at keys 0 and 1; query 0
    completes at key 2. Batch 1 loads row 2 at key 0 (slot 0); slot 1 still holds query 1,
    which completes at key 0; query 2 completes at key 2."""
    fmt = AttentionAVFormat(p=2, lanes=2, d=2, n=3)
    assert request_order(fmt) == [
        (STATE, 0, 0, 0), (SCORES, 0, 0, 0), (V, 0, 0, 0),
        (STATE, 1, 0, 0), (SCORES, 1, 0, 0), (V, 1, 0, 0),
        (SCORES, 2, 0, 0), (V, 2, 0, 0),
        (STATE, 2, 0, 1), (SCORES, 0, 0, 1), (V, 0, 0, 1),
        (SCORES, 1, 0, 1), (V, 1, 0, 1), (SCORES, 2, 0, 1), (V, 2, 0, 1)]
    assert output_order(fmt) == [(0, 0), (1, 0), (2, 0)]


@pytest.mark.parametrize(("n", "p", "blocks"), [(9, 1, 4), (9, 2, 4), (9, 3, 2), (9, 4, 4),
                                                (10, 4, 1), (129, 4, 8), (17, 16, 2)])
def test_schedule_invariants(n, p, blocks):
    """Every row state once, in query order, right before its position's scores; one score beat
    and d/lanes value beats per position; each query completes at the last position a slot
    holds it, and every (query, block) leaves once."""
    fmt = AttentionAVFormat(p=p, lanes=max(p, 2), d=max(p, 2) * blocks, n=n)
    order = request_order(fmt)
    assert len(order) == beats(fmt)
    states = [i for i, r in enumerate(order) if r[0] == STATE]
    assert [order[i][1] for i in states] == list(range(n))
    assert all(order[i + 1][0] == SCORES for i in states)
    assert sum(r[0] == SCORES for r in order) == qk.key_positions(n, p)
    assert sum(r[0] == V for r in order) == qk.key_positions(n, p) * blocks
    last = {}
    for base, k in qk.positions(fmt):
        for s in range(p):
            q = qk.slot_query(n, p, base, k, s)
            if q is not None:
                last[q] = (base, k, s)
    done = {finishing(fmt, base, k): (base, k) for base, k in qk.positions(fmt)}
    done.pop(None, None)
    assert {q: (b, k, s) for (s, q), (b, k) in done.items()} == last
    assert sorted(output_order(fmt)) == [(q, e) for q in range(n) for e in range(blocks)]


def edge_moe_hls_av(n: int, p: int, blocks: int):
    """The loop nest of Edge-MoE's HLS ``compute_attn_matmul_v`` (sharc-lab/Edge-MoE
    src/attention.cpp), written out independently: attn_patch from 0 to n + p - 1 step p,
    v_patch over n, dim blocks; stop once ``base >= n and v_patch >= (n + p - 1) % p``; at
    block 0 a softmax-info row is read when ``v_patch < p and base + v_patch < n`` and the
    position's p scores are read; then the value block. Output: slot 0's block when
    ``v_patch == n - 1``, else slot ``v_patch + 1``'s when ``v_patch < p - 1`` and the batch
    is not the first. Returns (reads, outputs as (slot, block))."""
    reads, outs, overflow = [], [], (n + p - 1) % p
    for batch, base in enumerate(range(0, n + p - 1, p)):
        for vp in range(n):
            if overflow > 0 and base >= n and vp >= overflow:
                return reads, outs
            for e in range(blocks):
                if e == 0:
                    if vp < p and base + vp < n:
                        reads.append((STATE, base + vp, 0, batch))
                    reads.append((SCORES, vp, 0, batch))
                reads.append((V, vp, e, batch))
                if vp == n - 1:
                    outs.append((0, e))
                elif vp < p - 1 and batch > 0:
                    outs.append((vp + 1, e))
    return reads, outs


@pytest.mark.parametrize(("n", "p"), [(9, 1), (9, 2), (9, 3), (9, 4), (10, 4), (129, 4),
                                      (129, 3), (17, 16), (2, 2)])
def test_order_is_edge_moe_hls_loop_nest(n, p):
    fmt = AttentionAVFormat(p=p, lanes=max(p, 2), d=2 * max(p, 2), n=n)
    reads, outs = edge_moe_hls_av(n, p, 2)
    assert request_order(fmt) == reads
    slots = [finishing(fmt, base, k)[0] for base, k in qk.positions(fmt)
             if finishing(fmt, base, k) is not None]
    assert [(s, e) for s in slots for e in range(2)] == outs
