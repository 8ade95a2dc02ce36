"""Simulator-agnostic memory, driver and scoreboard for the attention core (rtl/attention.py).

:class:`AttentionBench` plays the memory behind the unit's one port and the score sink. Each
cycle the simulator loop calls :meth:`AttentionBench.drive` (the inputs to apply: ``start``,
``req.ready``, ``data`` valid/payload, ``score.ready``), applies them, samples the outputs
after they settle and calls :meth:`AttentionBench.sample`, which counts the handshakes of that
cycle and checks every request against :func:`fpga.golden.attention.request_order` and every
score against :func:`fpga.golden.attention.score_stream`. The memory answers a request taken in
cycle c with its beat in cycle ``c + mem_latency`` at the earliest (in request order), and with
``p_data < 1`` or ``p_req < 1`` stalls either side at random; ``p_score < 1`` back-pressures
the scores. ``start`` is pulsed in cycle 0 of each run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from fpga.golden.attention import AttentionFormat, Q, request_order, score_stream
from rtl.tb.read_port import ReadPort
from rtl.tb.systolic_vectors import pack_vector
from rtl.tb.vectors import unpack_signed


def _bits(count: int) -> int:
    return max(1, (count - 1).bit_length())


def attention_format(config: dict) -> AttentionFormat:
    """The golden model's format from a unit's ``config()`` dict."""
    return AttentionFormat(**{k: v for k, v in config.items() if k != "unit"})


def operands(fmt: AttentionFormat, seed: int, full_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """Q and K, ``(n, d)`` int64: full-range values (most scores saturate), or values below 4
    in magnitude (scores a real head sees: ``|S| < 16 d / 2**scale_shift``), with the extreme
    operands in the first rows."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (fmt.act_bits - 1)), (1 << (fmt.act_bits - 1)) - 1
    if full_range:
        q = rng.integers(lo, hi, size=(fmt.n, fmt.d), endpoint=True)
        k = rng.integers(lo, hi, size=(fmt.n, fmt.d), endpoint=True)
    else:
        near = min(4 << fmt.act_frac, hi)
        q = rng.integers(-near, near, size=(fmt.n, fmt.d), endpoint=True)
        k = rng.integers(-near, near, size=(fmt.n, fmt.d), endpoint=True)
    q[0], k[0] = lo, lo  # the largest product, every lane
    if fmt.n > 1:
        q[1], k[1] = hi, lo
    return q, k


def unpack_request(word: int, fmt: AttentionFormat) -> tuple[int, int, int]:
    """(tensor, token, block) from the packed ``req`` payload (fields LSB first)."""
    token_bits = _bits(fmt.n)
    return (word & 1, word >> 1 & ((1 << token_bits) - 1),
            word >> (1 + token_bits) & ((1 << _bits(fmt.blocks)) - 1))


def unpack_score(word: int, fmt: AttentionFormat) -> tuple[int, int, int]:
    """(query, key, score) from the packed ``score`` payload (fields LSB first)."""
    b = _bits(fmt.n)
    mask = (1 << b) - 1
    return (word & mask, word >> b & mask,
            unpack_signed(word >> (2 * b) & ((1 << fmt.act_bits) - 1), fmt.act_bits))


@dataclass
class RunStats:
    """What one run measured: the cycles of the first request and the last score (inclusive
    span ``last_score - first_request + 1``), beats read, scores taken."""

    first_request: int | None = None
    last_score: int | None = None
    beats: int = 0
    scores: int = 0

    @property
    def cycles(self) -> int:
        return self.last_score - self.first_request + 1


class AttentionBench:
    """Memory model, score sink and scoreboard for one run of the unit (module docstring)."""

    def __init__(self, config: dict, q, k, seed: int, p_req: float = 1.0,
                 p_data: float = 1.0, p_score: float = 1.0, mem_latency: int = 1):
        self.fmt = attention_format(config)
        self.q, self.k = q, k
        self.requests = request_order(self.fmt)
        self.expected = score_stream(q, k, self.fmt)
        self.rng = random.Random(seed)
        self.p_req, self.p_score = p_req, p_score
        self.port = ReadPort(self.rng, self._beat, p_data, mem_latency)
        self.taken = 0  # requests taken
        self.stats = RunStats()
        self._ready = {"req": 0, "score": 0}

    @property
    def done(self) -> bool:
        return self.stats.scores == len(self.expected)

    def _beat(self, index: int) -> int:
        tensor, token, block = self.requests[index]
        rows = self.q if tensor == Q else self.k
        lanes = self.fmt.lanes
        return pack_vector(rows[token, block * lanes:(block + 1) * lanes], self.fmt.act_bits)

    def drive(self, cycle: int) -> dict[str, int]:
        """The inputs of ``cycle``: a held beat stays offered until taken."""
        data = self.port.drive(cycle)
        self._ready = {"req": int(self.rng.random() < self.p_req),
                       "score": int(self.rng.random() < self.p_score)}
        return {"start": int(cycle == 0), "req_ready": self._ready["req"], **data,
                "score_ready": self._ready["score"]}

    def sample(self, cycle: int, out: dict[str, int]) -> None:
        """Count and check the handshakes of ``cycle`` from the settled outputs: ``req_valid``,
        ``req`` and ``score`` (packed payloads), ``data_ready``, ``score_valid``, ``busy``."""
        if out["req_valid"] and self._ready["req"]:
            got = unpack_request(out["req"], self.fmt)
            assert self.taken < len(self.requests), f"cycle {cycle}: extra request {got}"
            want = self.requests[self.taken]
            assert got == want, f"request #{self.taken}: got {got}, expected {want} ({cycle})"
            self.port.request(cycle, self.taken)
            self.taken += 1
        self.port.sample(out["data_ready"])
        if out["score_valid"] and self._ready["score"]:
            got, n = unpack_score(out["score"], self.fmt), self.stats.scores
            assert n < len(self.expected), f"cycle {cycle}: extra score {got}"
            assert got == self.expected[n], (
                f"score #{n}: got {got}, expected {self.expected[n]} (cycle {cycle})")
            self.stats.scores, self.stats.last_score = n + 1, cycle
        if cycle > 0:
            assert out["busy"] == int(not self.done or self.stats.last_score == cycle), (
                f"cycle {cycle}: busy {out['busy']} with {self.stats.scores} of "
                f"{len(self.expected)} scores taken")

    def finish(self) -> RunStats:
        assert self.taken == len(self.requests), (
            f"{self.taken} of {len(self.requests)} requests issued")
        self.stats.first_request, self.stats.beats = self.port.first_request, self.port.beats
        assert self.done, f"{self.stats.scores} of {len(self.expected)} scores"
        return self.stats


def run_limit(fmt: AttentionFormat, p_worst: float) -> int:
    """Cycles after which a run counts as stalled: generous for the stall probabilities."""
    beats = len(request_order(fmt)) + fmt.n * fmt.n
    return int(beats * (3 + 4 / max(p_worst, 0.05))) + 200


def run_amaranth(unit, benches: list[AttentionBench], limit: int) -> list[RunStats]:
    """The benches one after another (each run starts in its cycle 0, the cycle after the
    previous run's last score) on ``unit`` under Amaranth's simulator, no reset between runs.
    Raises AssertionError on a mismatch or when a run takes more than ``limit`` cycles."""
    from amaranth.hdl import Value

    from rtl.tb.amsim import run_benches

    ports = {"start": unit.start, "req_ready": unit.req.ready, "data_valid": unit.data.valid,
             "data_payload": Value.cast(unit.data.payload), "score_ready": unit.score.ready}
    outs = {"req_valid": unit.req.valid, "req": Value.cast(unit.req.payload),
            "data_ready": unit.data.ready, "score_valid": unit.score.valid,
            "score": Value.cast(unit.score.payload), "busy": unit.busy}
    return run_benches(unit, ports, outs, benches, limit)
