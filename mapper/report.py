"""`MappingReport`: one printable report per mapped cascade (loop nest, binding, buffer, cost).

Printed the same way by `attnforge explain` and in notebooks (``print(report)``). A phase's
counts are per instance of the cascade: one query head, or for a cascade that shares K/V
(grouped-query attention: ranks g, s) one group of S query heads; each line says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from .count import Actions
from .lower import Mapping
from .price import Cost


@dataclass(frozen=True, slots=True)
class MappingReport:
    """A mapped cascade with its counts and price."""

    mapping: Mapping
    actions: Actions
    cost: Cost

    @property
    def heads_per_instance(self) -> int:
        """Query heads one instance of the cascade computes: S for a K/V-sharing (GQA) cascade,
        else 1 (the workload's batch × heads over the mapping's instances)."""
        wl = self.mapping.workload
        return wl.batch * wl.heads // self.mapping.instances

    @property
    def unit(self) -> str:
        """What a phase's counts are counted over: ``per head`` or ``per group of S query
        heads``."""
        s = self.heads_per_instance
        return "per head" if s == 1 else f"per group of {s} query heads"

    @property
    def bottleneck(self) -> str:
        """The phase and resource that take the most cycles."""
        found = self.actions.bottleneck
        return max(found, key=found.get) if found else "none"

    def __str__(self) -> str:
        m, c, unit, s = self.mapping, self.cost, self.unit, self.heads_per_instance
        arch, wl = m.arch, m.workload
        lines = [f"{m.config_name}: cascade {m.cascade} ({m.m_passes} pass(es) over M), "
                 f"{'fused' if m.config.fused else 'unfused'}, schedule {m.config.schedule}",
                 f"workload: batch {wl.batch} × heads {wl.heads}"
                 f"{f' (K/V shared by groups of {s})' if s > 1 else ''}, "
                 + (f"P = {wl.seq_len}, M = {wl.keys}, " if wl.keys and wl.keys != wl.seq_len
                    else f"P = M = {wl.seq_len}, ") +
                 f"E = {wl.e}, F = {wl.f}",
                 f"arrays: 2D {arch.array_2d.rows}×{arch.array_2d.cols}, 1D {arch.array_1d.pes}; "
                 f"buffer {arch.buffer.buffer_bytes / 2**20:g} MiB ({arch.buffer.banks} bank(s), "
                 f"{arch.buffer.row_bits}-bit rows); tile m0 × p0 = "
                 f"{arch.array_2d.cols} × {arch.array_2d.rows}", ""]
        for phase in m.phases:
            lines += [f"phase {phase.name}:"] + [f"  {line}" for line in phase.loop_nest]
            lines.append(f"  buffer: need {phase.buffer_need_bytes / 2**20:.2f} MiB for blocks of "
                         f"{phase.rows_per_block} rows; held M fibers: "
                         f"{', '.join(phase.held) or 'none'}; spilled fraction "
                         f"{phase.spill_fraction:.2f}")
            past = ("" if phase.kind == "gemm" else "; past the buffer (used once, or the "
                    f"spilled part): {', '.join(phase.bypassed) or 'none'}")
            lines.append(f"  buffer traffic {unit}: {phase.buffer_read_words} words read, "
                         f"{phase.buffer_write_words} written{past}")
            lines.append(f"  {unit}: 2D {phase.cycles['2d']} cycles, 1D {phase.cycles['1d']} "
                         f"cycles, stalls {phase.stall_cycles}, compute {phase.compute_cycles}; "
                         f"DRAM {phase.dram_read_words} words read, {phase.dram_write_words} "
                         f"written ({phase.spill_words} spill)")
        lines += ["", "binding (per-point PE-cycles, why):"]
        for phase in m.phases:
            for w in phase.work:
                b = w.bound
                lines.append(f"  {b.name:<6} {b.phase:<6} → {b.array}  {b.cycles_per_point:>2} "
                             f"cycles/point, {w.points} points {unit}  ({b.reason})")
        lines += ["", f"latency {c.latency_s:.6g} s, energy {c.energy_j:.6g} J, DRAM traffic "
                  f"{c.traffic_bytes / 2**30:.4g} GiB, area {c.area_mm2:.1f} mm²",
                  f"utilisation: 2D {100 * c.util['2d']:.1f}%, 1D {100 * c.util['1d']:.1f}%  ("
                  + ", ".join(f"{k} {100 * v:.1f}%" for k, v in c.util_2d_by_einsum.items()) + ")",
                  f"bottleneck: {self.bottleneck}",
                  "energy: " + ", ".join(f"{k} {100 * v / c.energy_j:.1f}%" for k, v in
                                         sorted(c.energy_by_component_j.items(),
                                                key=lambda kv: -kv[1]) if v > 0)]
        return "\n".join(lines)
