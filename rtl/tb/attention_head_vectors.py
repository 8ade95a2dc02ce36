"""Simulator-agnostic memory, driver and scoreboard for the attention head (rtl/attention_head.py).

:class:`HeadBench` plays one flat memory behind the head's read and write ports and the output
sink. The memory holds Q, K and V at :func:`fpga.golden.attention_head.memory_map`'s addresses
and random bits everywhere else, so phase 2 reads back only what phase 1 wrote. Each cycle the
simulator loop calls :meth:`HeadBench.drive` (inputs: ``start``, ``rd.ready``, ``data``
valid/payload, ``wr.ready``, ``out.ready``), applies them, samples the settled outputs and
calls :meth:`HeadBench.sample`, which counts the handshakes and checks: every score write (in
order) and row-state write against the golden chain (address, strobe, elements), every output
block against :func:`fpga.golden.attention_head.output_stream`, that no read touches a beat
before the writes it depends on (a read returns the memory's current contents), and ``busy``.
A read taken in cycle c returns its beat in cycle ``c + mem_latency`` at the earliest, in
order; ``p_rd``/``p_data``/``p_wr`` < 1 stall at random, ``p_out`` < 1 back-pressures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from fpga.golden.attention_av import output_stream as av_output_stream
from fpga.golden.attention_head import (
    HeadFormat,
    chain,
    memory_map,
    score_writes,
    state_writes,
)
from rtl.attention_head import head_format
from rtl.tb.attention_av_vectors import check_busy, take_output, unpack_output
from rtl.tb.read_port import ReadPort
from rtl.tb.systolic_vectors import pack_vector
from rtl.tb.vectors import unpack_signed


def _bits(count: int) -> int:
    return max(1, (count - 1).bit_length())


def fmt_of(config: dict) -> HeadFormat:
    """The golden chain's format from the unit's ``config()`` dict."""
    return head_format(**{k: v for k, v in config.items() if k != "unit"})


def operands(fmt: HeadFormat, seed: int, near: float = 4.0):
    """Q, K, V ``(n, d)`` int64 uniform in ``(-near, near)`` (reals; ``near`` 4: a real head's
    activations, scores within ``16 d 2**-scale_shift``), or ``near`` 0: full range (scores
    saturate at +-512, outputs may saturate)."""
    rng = np.random.default_rng(seed)
    bits, frac = fmt.qk.act_bits, fmt.qk.act_frac
    hi = (1 << (bits - 1)) - 1
    span = min(int(near * (1 << frac)), hi) if near else hi
    return tuple(rng.integers(-span, span, size=(fmt.n, fmt.qk.d), endpoint=True)
                 for _ in range(3))


@dataclass
class RunStats:
    """One run: first read request and last output cycle (inclusive span), beats read, writes,
    outputs, and the cycle the A·V core's first request went out (phase 2)."""

    first_request: int | None = None
    last_out: int | None = None
    beats: int = 0
    writes: int = 0
    outputs: int = 0
    phase2: int | None = None

    @property
    def cycles(self) -> int:
        return self.last_out - self.first_request + 1


class HeadBench:
    """Memory, output sink and scoreboard for one head (module docstring)."""

    def __init__(self, config: dict, q, k, v, seed: int, p_rd: float = 1.0,
                 p_data: float = 1.0, p_wr: float = 1.0, p_out: float = 1.0,
                 mem_latency: int = 1):
        self.fmt = f = fmt_of(config)
        self.map = mm = memory_map(f)
        self.rng = random.Random(seed)
        lanes, bits = f.qk.lanes, f.qk.act_bits
        self.mem = [[self.rng.randrange(1 << bits) for _ in range(lanes)]
                    for _ in range(mm.size)]
        for region, x in ((mm.q, q), (mm.k, k), (mm.v, v)):
            for t in range(f.n):
                for e in range(f.qk.blocks):
                    self.mem[region + t * f.qk.blocks + e] = [
                        int(a) & ((1 << bits) - 1) for a in x[t, e * lanes:(e + 1) * lanes]]
        y, recip, b, _ = chain(q, k, v, f)
        self.scores = score_writes(y, f)
        self.states = state_writes(recip, b, f)
        self.expected = av_output_stream(y, recip, b, v, f.av)
        self.p_rd, self.p_wr, self.p_out = p_rd, p_wr, p_out
        # a beat is read at delivery: a write before it must already be in memory
        self.port = ReadPort(self.rng, lambda addr: pack_vector(self.mem[addr], bits),
                             p_data, mem_latency)
        self.score_count = 0
        self.states_seen: set[int] = set()
        self.stats = RunStats()
        self._ready = {"rd": 0, "wr": 0, "out": 0}

    @property
    def done(self) -> bool:
        return self.stats.outputs == len(self.expected)

    def drive(self, cycle: int) -> dict[str, int]:
        """The inputs of ``cycle``: a held beat stays offered until taken."""
        data = self.port.drive(cycle)
        self._ready = {"rd": int(self.rng.random() < self.p_rd),
                       "wr": int(self.rng.random() < self.p_wr),
                       "out": int(self.rng.random() < self.p_out)}
        return {"start": int(cycle == 0), "rd_ready": self._ready["rd"], **data,
                "wr_ready": self._ready["wr"], "out_ready": self._ready["out"]}

    def _unpack_write(self, word: int) -> tuple[int, int, list[int]]:
        f = self.fmt
        ab, lanes, bits = _bits(self.map.size), f.qk.lanes, f.qk.act_bits
        addr, strobe = word & ((1 << ab) - 1), word >> ab & ((1 << lanes) - 1)
        rest = word >> (ab + lanes)
        return addr, strobe, [rest >> (i * bits) & ((1 << bits) - 1) for i in range(lanes)]

    def _write(self, cycle: int, word: int) -> None:
        f, mm = self.fmt, self.map
        addr, strobe, elems = self._unpack_write(word)
        bits = f.qk.act_bits
        if mm.state <= addr < mm.size:
            assert strobe == 0b11, f"cycle {cycle}: row-state write with strobe {strobe:b}"
            assert addr not in self.states_seen, f"cycle {cycle}: row state {addr} twice"
            got = (unpack_signed(elems[0], bits), elems[1])
            assert got == self.states[addr], (
                f"row state of query {addr - mm.state}: got (b, recip) {got}, expected "
                f"{self.states[addr]} (cycle {cycle})")
            self.states_seen.add(addr)
        else:
            i = self.score_count
            assert i < len(self.scores), f"cycle {cycle}: extra write to {addr}"
            want_addr, slot, score = self.scores[i]
            got = (addr, strobe, unpack_signed(elems[slot], bits))
            assert got == (want_addr, 1 << slot, score), (
                f"score write #{i}: got (addr, strobe, score) {got}, expected "
                f"{(want_addr, 1 << slot, score)} (cycle {cycle})")
            self.score_count += 1
        for e in range(f.qk.lanes):
            if strobe >> e & 1:
                self.mem[addr][e] = elems[e]
        self.stats.writes += 1

    def sample(self, cycle: int, out: dict[str, int]) -> None:
        """Count and check the handshakes of ``cycle`` from the settled outputs: ``rd_valid``,
        ``rd`` (address), ``data_ready``, ``wr_valid``, ``wr``, ``out_valid``, ``out``,
        ``busy``."""
        if out["rd_valid"] and self._ready["rd"]:
            addr = out["rd"]
            assert addr < self.map.size, f"cycle {cycle}: read of address {addr}"
            if addr >= self.map.scores and self.stats.phase2 is None:
                self.stats.phase2 = cycle
                assert self.score_count == len(self.scores), "phase 2 before all scores"
                assert len(self.states_seen) == self.fmt.n, "phase 2 before all row states"
            self.port.request(cycle, addr)
        self.port.sample(out["data_ready"])
        if out["wr_valid"] and self._ready["wr"]:
            self._write(cycle, out["wr"])
        if out["out_valid"] and self._ready["out"]:
            take_output(self.stats, self.expected, unpack_output(out["out"], self.fmt.av), cycle)
        if cycle > 0:
            check_busy(out["busy"], self.done, self.stats, len(self.expected), cycle)

    def finish(self) -> RunStats:
        self.stats.first_request, self.stats.beats = self.port.first_request, self.port.beats
        assert self.score_count == len(self.scores), (
            f"{self.score_count} of {len(self.scores)} score writes")
        assert len(self.states_seen) == self.fmt.n, f"{len(self.states_seen)} row states"
        assert self.done, f"{self.stats.outputs} of {len(self.expected)} outputs"
        return self.stats


def run_limit(fmt: HeadFormat, p_worst: float) -> int:
    """Cycles after which a run counts as stalled: generous for the stall probabilities."""
    work = memory_map(fmt).size * fmt.n + 60 * fmt.n
    return int(work * (3 + 4 / max(p_worst, 0.05))) + 500


PORTS_IN = ("start", "rd_ready", "data_valid", "data_payload", "wr_ready", "out_ready")
PORTS_OUT = ("rd_valid", "rd", "data_ready", "wr_valid", "wr", "out_valid", "out", "busy")


def run_amaranth(unit, benches: list[HeadBench], limit: int) -> list[RunStats]:
    """The benches one after another (each run starts in its cycle 0, the cycle after the
    previous run's last output) on ``unit`` under Amaranth's simulator, no reset between runs.
    Raises AssertionError on a mismatch or when a run takes more than ``limit`` cycles."""
    from amaranth.hdl import Value

    from rtl.tb.amsim import run_benches

    ports = {"start": unit.start, "rd_ready": unit.rd.ready, "data_valid": unit.data.valid,
             "data_payload": Value.cast(unit.data.payload), "wr_ready": unit.wr.ready,
             "out_ready": unit.out.ready}
    outs = {"rd_valid": unit.rd.valid, "rd": Value.cast(unit.rd.payload),
            "data_ready": unit.data.ready, "wr_valid": unit.wr.valid,
            "wr": Value.cast(unit.wr.payload), "out_valid": unit.out.valid,
            "out": Value.cast(unit.out.payload), "busy": unit.busy}
    return run_benches(unit, ports, outs, benches, limit)
