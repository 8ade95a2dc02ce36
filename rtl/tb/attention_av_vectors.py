"""Simulator-agnostic memory, driver and scoreboard for the A·V core (rtl/attention_av.py).

:class:`AttentionAVBench` plays the memory behind the unit's one port and the output sink.
Each cycle the simulator loop calls :meth:`AttentionAVBench.drive` (the inputs to apply:
``start``, ``req.ready``, ``data`` valid/payload, ``out.ready``), applies them, samples the
settled outputs and calls :meth:`AttentionAVBench.sample`, which counts that cycle's handshakes
and checks every request against :func:`fpga.golden.attention_av.request_order` and every
output block against :func:`fpga.golden.attention_av.output_stream`. The memory answers a
request taken in cycle c with its beat in cycle ``c + mem_latency`` at the earliest (in
request order); ``p_req``/``p_data`` < 1 stall either side at random, ``p_out`` < 1
back-pressures the outputs. ``start`` is pulsed in cycle 0 of each run. Score-beat elements of
slots without a query and row-state elements past the second hold random bits (the unit must
ignore them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from fpga.golden.attention import slot_query
from fpga.golden.attention_av import SCORES, STATE, AttentionAVFormat, output_stream, request_order
from fpga.golden.softmax import softmax_row_state
from rtl.attention_av import attention_av_format
from rtl.tb.read_port import ReadPort
from rtl.tb.systolic_vectors import pack_vector
from rtl.tb.vectors import unpack_signed


def _bits(count: int) -> int:
    return max(1, (count - 1).bit_length())


def av_format(config: dict) -> AttentionAVFormat:
    """The golden model's format from a unit's ``config()`` dict."""
    return attention_av_format(**{k: v for k, v in config.items() if k != "unit"})


@dataclass(frozen=True)
class Operands:
    """One head's inputs: scores (n, n), row state ``recip``, ``b`` (n,), values (n, d)."""

    s: np.ndarray
    recip: np.ndarray
    b: np.ndarray
    v: np.ndarray


def operands(fmt: AttentionAVFormat, seed: int, stress: bool) -> Operands:
    """Realistic inputs (scores within +-16, the golden softmax's own row state, |V| < 4), or
    ``stress``: full-range V and scores, ``b`` anywhere (scores above it give exp 1.0) and any
    ``recip`` word up to ~2.0, so outputs saturate."""
    rng = np.random.default_rng(seed)
    bits, frac, n = fmt.act_bits, fmt.act_frac, fmt.n
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if stress:
        s = rng.integers(lo, hi, size=(n, n), endpoint=True)
        b = rng.integers(lo, hi, size=n, endpoint=True)
        recip = rng.integers(0, (1 << (fmt.softmax.recip.out_frac + 1)) - 1, size=n,
                             endpoint=True)
        v = rng.integers(lo, hi, size=(n, fmt.d), endpoint=True)
        v[0], v[1] = hi, lo  # the extreme values, every lane
        return Operands(s, recip, b, v)
    near = min(16 << frac, hi)
    s = rng.integers(-near, near, size=(n, n), endpoint=True)
    recip, b = softmax_row_state(s, fmt.softmax)
    vnear = min(4 << frac, hi)
    v = rng.integers(-vnear, vnear, size=(n, fmt.d), endpoint=True)
    return Operands(s, recip, b, v)


def unpack_request(word: int, fmt: AttentionAVFormat) -> tuple[int, int, int, int]:
    """(kind, token, block, batch) from the packed ``req`` payload (fields LSB first)."""
    fields = []
    for width in (2, _bits(fmt.n), _bits(fmt.blocks), _bits(-(-(fmt.n + fmt.p - 1) // fmt.p))):
        fields.append(word & ((1 << width) - 1))
        word >>= width
    return tuple(fields)


def unpack_output(word: int, fmt: AttentionAVFormat) -> tuple[int, int, tuple[int, ...]]:
    """(query, block, lanes elements) from the packed ``out`` payload."""
    qb, bb, bits = _bits(fmt.n), _bits(fmt.blocks), fmt.act_bits
    data = word >> (qb + bb)
    elems = tuple(unpack_signed(data >> (i * bits) & ((1 << bits) - 1), bits)
                  for i in range(fmt.lanes))
    return word & ((1 << qb) - 1), word >> qb & ((1 << bb) - 1), elems


@dataclass
class RunStats:
    """What one run measured: the cycles of the first request and the last output (inclusive
    span ``last_out - first_request + 1``), beats read, output blocks taken."""

    first_request: int | None = None
    last_out: int | None = None
    beats: int = 0
    outputs: int = 0

    @property
    def cycles(self) -> int:
        return self.last_out - self.first_request + 1


def take_output(stats, expected: list, got, cycle: int) -> None:
    """Scoreboard one output taken in ``cycle``: the next expected one, in order; counted in
    ``stats`` (``outputs``, ``last_out``)."""
    k = stats.outputs
    assert k < len(expected), f"cycle {cycle}: extra output {got}"
    assert got == expected[k], f"output #{k}: got {got}, expected {expected[k]} (cycle {cycle})"
    stats.outputs, stats.last_out = k + 1, cycle


def check_busy(busy: int, done: bool, stats, total: int, cycle: int) -> None:
    """``busy`` is high from start until the cycle the last of ``total`` outputs is taken."""
    assert busy == int(not done or stats.last_out == cycle), (
        f"cycle {cycle}: busy {busy} with {stats.outputs} of {total} outputs taken")


class AttentionAVBench:
    """Memory model, output sink and scoreboard for one run of the unit (module docstring)."""

    def __init__(self, config: dict, ops: Operands, seed: int, p_req: float = 1.0,
                 p_data: float = 1.0, p_out: float = 1.0, mem_latency: int = 1):
        self.fmt = av_format(config)
        self.ops = ops
        self.requests = request_order(self.fmt)
        self.expected = output_stream(ops.s, ops.recip, ops.b, ops.v, self.fmt)
        self.rng = random.Random(seed)
        self.p_req, self.p_out = p_req, p_out
        self.port = ReadPort(self.rng, self._beat, p_data, mem_latency)
        self.taken = 0
        self.stats = RunStats()
        self._ready = {"req": 0, "out": 0}

    @property
    def done(self) -> bool:
        return self.stats.outputs == len(self.expected)

    def _beat(self, index: int) -> int:
        f, (kind, token, block, batch) = self.fmt, self.requests[index]
        junk = [self.rng.randrange(1 << f.act_bits) - (1 << (f.act_bits - 1))
                for _ in range(f.lanes)]
        if kind == STATE:
            junk[:2] = [int(self.ops.b[token]), int(self.ops.recip[token])]
        elif kind == SCORES:
            for s in range(f.p):
                q = slot_query(f.n, f.p, batch * f.p, token, s)
                if q is not None:
                    junk[s] = int(self.ops.s[q, token])
        else:
            junk = self.ops.v[token, block * f.lanes:(block + 1) * f.lanes]
        return pack_vector(junk, f.act_bits)

    def drive(self, cycle: int) -> dict[str, int]:
        """The inputs of ``cycle``: a held beat stays offered until taken."""
        data = self.port.drive(cycle)
        self._ready = {"req": int(self.rng.random() < self.p_req),
                       "out": int(self.rng.random() < self.p_out)}
        return {"start": int(cycle == 0), "req_ready": self._ready["req"], **data,
                "out_ready": self._ready["out"]}

    def sample(self, cycle: int, out: dict[str, int]) -> None:
        """Count and check the handshakes of ``cycle`` from the settled outputs: ``req_valid``,
        ``req`` and ``out`` (packed payloads), ``data_ready``, ``out_valid``, ``busy``."""
        if out["req_valid"] and self._ready["req"]:
            got = unpack_request(out["req"], self.fmt)
            assert self.taken < len(self.requests), f"cycle {cycle}: extra request {got}"
            want = self.requests[self.taken]
            assert got == want, f"request #{self.taken}: got {got}, expected {want} ({cycle})"
            self.port.request(cycle, self.taken)
            self.taken += 1
        self.port.sample(out["data_ready"])
        if out["out_valid"] and self._ready["out"]:
            take_output(self.stats, self.expected, unpack_output(out["out"], self.fmt), cycle)
        if cycle > 0:
            check_busy(out["busy"], self.done, self.stats, len(self.expected), cycle)

    def finish(self) -> RunStats:
        assert self.taken == len(self.requests), (
            f"{self.taken} of {len(self.requests)} requests issued")
        self.stats.first_request, self.stats.beats = self.port.first_request, self.port.beats
        assert self.done, f"{self.stats.outputs} of {len(self.expected)} outputs"
        return self.stats


def run_limit(fmt: AttentionAVFormat, p_worst: float) -> int:
    """Cycles after which a run counts as stalled: generous for the stall probabilities."""
    return int(len(request_order(fmt)) * (3 + 4 / max(p_worst, 0.05))) + 200


def run_amaranth(unit, benches: list[AttentionAVBench], limit: int) -> list[RunStats]:
    """The benches one after another (each run starts in its cycle 0, the cycle after the
    previous run's last output) on ``unit`` under Amaranth's simulator, no reset between runs.
    Raises AssertionError on a mismatch or when a run takes more than ``limit`` cycles."""
    from amaranth.hdl import Value

    from rtl.tb.amsim import run_benches

    ports = {"start": unit.start, "req_ready": unit.req.ready, "data_valid": unit.data.valid,
             "data_payload": Value.cast(unit.data.payload), "out_ready": unit.out.ready}
    outs = {"req_valid": unit.req.valid, "req": Value.cast(unit.req.payload),
            "data_ready": unit.data.ready, "out_valid": unit.out.valid,
            "out": Value.cast(unit.out.payload), "busy": unit.busy}
    return run_benches(unit, ports, outs, benches, limit)
