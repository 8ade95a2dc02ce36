"""Counting: what a mapping does, per component, summed over every (batch, head) instance.

``count(mapping) -> Actions`` (arithmetic actions per array, register-file, buffer and DRAM
accesses, busy PE-cycles per Einsum, cycles). No energy or time units here: see `mapper.price`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .binding import ACTIONS
from .gemm import GemmMapping
from .lower import Mapping, phase_cycles
from .spec import Architecture

ARRAYS = ("2d", "1d")


@dataclass(frozen=True, slots=True)
class Actions:
    """Counts of one evaluated piece of work (a mapped cascade, a GEMM, or a sum of them).

    ``arith[array][action]`` counts actions of ACTIONS; ``busy[array]`` PE-cycles spent working;
    ``busy_2d_by_einsum`` the 2D share per Einsum; words are array words, bytes DRAM bytes;
    ``latency_cycles`` the elapsed cycles (compute overlapped with DRAM per phase).
    """

    arith: dict[str, dict[str, int]]
    busy: dict[str, int]
    busy_2d_by_einsum: dict[str, int]
    rf_reads: dict[str, int]
    rf_writes: dict[str, int]
    buffer_read_words: int
    buffer_write_words: int
    dram_read_bytes: int
    dram_write_bytes: int
    latency_cycles: float
    bottleneck: dict[str, float] = field(default_factory=dict)

    def __add__(self, other: Actions) -> Actions:
        """Work done one after the other: counts and cycles add."""
        return Actions(
            {a: _add(self.arith[a], other.arith[a]) for a in ARRAYS},
            _add(self.busy, other.busy), _add(self.busy_2d_by_einsum, other.busy_2d_by_einsum),
            _add(self.rf_reads, other.rf_reads), _add(self.rf_writes, other.rf_writes),
            self.buffer_read_words + other.buffer_read_words,
            self.buffer_write_words + other.buffer_write_words,
            self.dram_read_bytes + other.dram_read_bytes,
            self.dram_write_bytes + other.dram_write_bytes,
            self.latency_cycles + other.latency_cycles,
            _add(self.bottleneck, other.bottleneck))


def _add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}


def count(mapping: Mapping) -> Actions:
    """All actions of a mapped cascade over its ``instances`` heads."""
    n = mapping.instances
    arith = {a: dict.fromkeys(ACTIONS, 0) for a in ARRAYS}
    busy, by_einsum = dict.fromkeys(ARRAYS, 0), {}
    rf_r, rf_w = dict.fromkeys(ARRAYS, 0), dict.fromkeys(ARRAYS, 0)
    buf_r = buf_w = dram_r = dram_w = 0
    cycles, bottleneck = float(mapping.fill_drain_cycles), {}
    for phase in mapping.phases:
        for w in phase.work:
            array = w.bound.array
            for action, per_point in w.bound.actions.items():
                arith[array][action] += n * w.points * per_point
            work = n * w.points * w.bound.cycles_per_point
            busy[array] += work
            if array == "2d":
                by_einsum[w.bound.name] = by_einsum.get(w.bound.name, 0) + work
        for a in ARRAYS:
            rf_r[a] += n * phase.rf_reads[a]
            rf_w[a] += n * phase.rf_writes[a]
        buf_r += n * phase.buffer_read_words
        buf_w += n * phase.buffer_write_words
        dram_r += n * phase.dram_read_words * mapping.arch.word_bytes
        dram_w += n * phase.dram_write_words * mapping.arch.word_bytes
        per_head, limit = phase_cycles(mapping.arch, phase)
        cycles += n * per_head
        bottleneck[f"{phase.name}: {limit}"] = n * per_head
    return Actions(arith, busy, by_einsum, rf_r, rf_w, buf_r, buf_w, dram_r, dram_w, cycles,
                   bottleneck)


def count_gemm(mapping: GemmMapping, arch: Architecture, name: str) -> Actions:
    """All actions of ``mapping.gemm.count`` instances of a mapped GEMM."""
    n = mapping.gemm.count
    arith = {a: dict.fromkeys(ACTIONS, 0) for a in ARRAYS}
    arith["2d"]["mac"] = n * mapping.macs
    outputs = n * mapping.gemm.m * mapping.gemm.n
    return Actions(arith, {"2d": n * mapping.macs, "1d": 0}, {name: n * mapping.macs},
                   {"2d": 0, "1d": 0}, {"2d": outputs, "1d": 0},
                   n * mapping.buffer_read_words, n * mapping.buffer_write_words,
                   n * mapping.dram_read_words * arch.word_bytes,
                   n * mapping.dram_write_words * arch.word_bytes,
                   n * mapping.latency_cycles, {f"gemm {name}": n * mapping.latency_cycles})
