"""Seeded off-paper designs for the metamorphic tests: the paper's architectures with other
array shapes, buffers, DRAM bandwidths and word sizes, and workloads with P != M, E != F and
lengths that are not powers of two (each varied with `dataclasses.replace`)."""

from __future__ import annotations

import dataclasses
import random

import einsum
from mapper.context import Workload
from mapper.count import Actions, count
from mapper.lower import Mapping, lower
from mapper.price import Cost, price
from mapper.spec import Architecture, Config, CostTable, Design, GemmSearch

SEARCH = GemmSearch(samples=512, seed=0)


def resized(arch: Architecture, rows: int, cols: int, buffer_bytes: int | None = None,
            bandwidth: float | None = None, word_bytes: int | None = None) -> Architecture:
    """``arch`` with a rows × cols 2D array (rows 1D PEs) and, if given, another buffer size,
    DRAM bandwidth (bytes/s) or word size."""
    arch = dataclasses.replace(
        arch, array_2d=dataclasses.replace(arch.array_2d, rows=rows, cols=cols),
        array_1d=dataclasses.replace(arch.array_1d, pes=rows))
    if buffer_bytes is not None:
        arch = dataclasses.replace(arch, buffer=dataclasses.replace(arch.buffer,
                                                                    buffer_bytes=buffer_bytes))
    if bandwidth is not None:
        arch = dataclasses.replace(arch, dram=dataclasses.replace(
            arch.dram, bandwidth_bytes_per_s=bandwidth))
    if word_bytes is not None:
        arch = dataclasses.replace(arch, word_bytes=word_bytes)
    return arch


def varied(design: Design, seed: int) -> tuple[str, Architecture, Workload]:
    """A seeded (config, architecture, workload) off the paper's points: non-square arrays,
    buffers from 1/64 (at least 1 MiB: CACTI's table) to 1/4 of the paper's (so long keys
    spill), bandwidths from 1/4 to 4x, 16- or 32-bit words, P != M, E != F, lengths that are
    not powers of two. The buffer always holds one tile of each operand."""
    rng = random.Random(seed)
    config = rng.choice(sorted(design.configs))
    arch = design.architectures[design.configs[config].architecture]
    rows, cols = rng.choice([8, 16, 32, 48, 64, 128]), rng.choice([8, 16, 40, 64, 96, 128])
    word = rng.choice([2, 2, 4])
    buffer = max(arch.buffer.buffer_bytes * rng.choice([1, 2, 4, 8, 16]) // 64,
                 4 * rows * cols * word, 1 << 20)  # CACTI's table starts at 1 MiB
    bandwidth = arch.dram.bandwidth_bytes_per_s * rng.choice([0.25, 0.5, 1, 2, 4])
    e, f = rng.choice([(64, 64), (96, 128), (128, 96), (32, 80)])
    p = rng.choice([100, 333, 1000, 1536, 4099])
    m = rng.choice([p, 77, 700, 2500, 6000])
    return config, resized(arch, rows, cols, buffer, bandwidth, word), Workload(
        rng.choice([1, 2]), rng.choice([1, 3]), e, f, p, m)


def run(design: Design, config: str, arch: Architecture, workload: Workload,
        table: CostTable | None = None, **changes) -> tuple[Mapping, Actions, Cost]:
    """Lower, count and price one attention point (``changes`` replace Config fields, e.g.
    ``cascade=``, ``fused=``, ``schedule=``)."""
    spec: Config = dataclasses.replace(design.configs[config], **changes)
    mapping = lower(einsum.library.get(spec.cascade, **spec.params), arch, spec, workload,
                    SEARCH, config)
    actions = count(mapping)
    return mapping, actions, price(actions, arch, table or design.cost_table)
