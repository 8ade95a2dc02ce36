"""One FPGA design point explained: techniques, latency by category and by layer, DDR traffic,
and the resources unit by unit with how each count is built, against the board.

``explain(design, config, units)`` → text (what ``attnforge explain`` prints for an ``fpga``
design). Every figure comes from the same functions ``attnforge explore`` prices with
(`fpga.model.evaluate`, `fpga.area.unit_items`), so the tables add up to the results.csv row.
"""

from __future__ import annotations

from fpga import area
from fpga.board import Board, get_board
from fpga.fit import overflow, overflow_text
from fpga.model import Result, evaluate
from fpga.resources import Resources
from fpga.schedule import CATEGORIES, cycles_to_ms, image_timing, plan
from fpga.spec import TECHNIQUES, FpgaDesign, Techniques, Units
from fpga.units import memory


def explain(design: FpgaDesign, config: str, units: Units) -> str:
    """The explanation of config ``config`` of ``design`` on ``units``."""
    t = design.configs[config]
    board = get_board(design.board)
    r = evaluate(design, t, units)
    parts = (header(design, config, t, units, board), latency(r, units),
             stages(design, t, units), resources(design, t, units, board, r))
    return "\n\n".join(parts)


def header(design: FpgaDesign, config: str, t: Techniques, u: Units, board: Board) -> str:
    """Which design, board, techniques and unit parameters."""
    on = ", ".join(f"{name} {'on' if getattr(t, name) else 'off'}" for name in TECHNIQUES)
    port = memory(board, u).port_bytes * 8
    narrowed = f" (narrowed to {port:g} b by the board's host port)" if port < u.axi_bits else ""
    return "\n".join((
        f"{design.name}: config {config} on {board.name} ({board.device}) at {u.clock_mhz:g} MHz",
        f"techniques: {on}",
        f"units: {linear_engines(design, t, u)}, attention p = {u.attn_p} x {u.attn_lanes} lanes,"
        f" gate {u.gate_macs} MACs, LayerNorm {u.layernorm_lanes} lanes, add {u.add_lanes} lanes,"
        f" patch embedding {u.patch_embed_macs} MACs, AXI {u.axi_bits} b{narrowed}"))


def linear_engines(design: FpgaDesign, t: Techniques, u: Units) -> str:
    """The unified linear unit, or the dedicated engines that replace it (one per shape)."""
    if t.unified_linear:
        return (f"unified linear {u.linear_in_par} x {u.linear_out_par}"
                f"{' ping/pong' if u.ping_pong else ''}")
    engines = plan(design.workload, u, t, design.math).engines
    shapes = ", ".join(f"{k}->{n} on {e[0]} x {e[1]}" for (k, n), e in engines.items())
    return f"{len(engines)} dedicated linear engines ({shapes})"


def latency(r: Result, u: Units) -> str:
    """Per-image latency by category (the results.csv ``t_<unit>_ms`` columns)."""
    cycles = round(r.latency_ms * u.clock_mhz * 1e3)
    lines = [f"latency {r.latency_ms:.2f} ms per image ({cycles:,} cycles); DDR {r.ddr_mb:.1f} MB"
             f" ({r.ddr_gbps:.2f} GB/s on average); {r.power_w:.2f} W, {r.energy_j:.4f} J",
             "category         ms   share"]
    for cat in CATEGORIES:
        ms = r.breakdown_ms[cat]
        if ms:
            lines.append(f"{cat:<12} {ms:7.2f}  {100 * ms / r.latency_ms:5.1f}%")
    return "\n".join(lines)


def stages(design: FpgaDesign, t: Techniques, u: Units) -> str:
    """Milliseconds per stage (patch embedding, each layer) and category, with DDR MB."""
    timing = image_timing(design.workload, get_board(design.board), u, t, design.math,
                          design.routing)
    used = [c for c in CATEGORIES if timing.cycles[c]]
    width = max(len(s.name) for s in timing.stages)
    cols = [max(len(c), 7) for c in used]
    head = (f"{'stage (ms)':<{width}}  {'total':>7}  "
            + "  ".join(f"{c:>{w}}" for c, w in zip(used, cols, strict=True)) + "   DDR MB")
    lines = [head]
    for s in timing.stages:
        cells = "  ".join(f"{cycles_to_ms(s.cycles[c], u.clock_mhz):>{w}.3f}"
                          for c, w in zip(used, cols, strict=True))
        lines.append(f"{s.name:<{width}}  {cycles_to_ms(s.total, u.clock_mhz):7.3f}  {cells}"
                     f"  {s.ddr_bytes / 1e6:7.2f}")
    return "\n".join(lines)


def resources(design: FpgaDesign, t: Techniques, u: Units, board: Board, r: Result) -> str:
    """Every unit's labelled items, the total, the board's totals and the share used."""
    lines = ["resources, unit by unit:",
             f"{'unit':<12} {'DSP':>6} {'BRAM36':>7} {'LUT':>8} {'FF':>8}  how"]
    for name, items in area.unit_items(design, t, u).items():
        for i, item in enumerate(items):
            lines.append(_resource_line(name if i == 0 else "", item.resources, item.label))
    total = r.resources
    lines.append(_resource_line("total", total, ""))
    lines.append(f"{board.name:<12} {board.dsp:6,d} {board.bram36:7,d} {board.lut:8,d} "
                 f"{board.ff:8,d}  {board.device}")
    shares = (total.dsp / board.dsp, total.bram36 / board.bram36, total.lut / board.lut,
              total.ff / board.ff)
    lines.append(f"{'used':<12} " + " ".join(f"{100 * s:{w}.1f}%"
                                             for s, w in zip(shares, (5, 6, 7, 7), strict=True)))
    text = overflow_text(overflow(total, board))
    lines.append(f"does not fit {board.name}: {text}" if text else f"fits {board.name}")
    return "\n".join(lines)


def _resource_line(unit: str, res: Resources, label: str) -> str:
    return (f"{unit:<12} {res.dsp:6,d} {res.bram36:7,.1f} {res.lut:8,d} {res.ff:8,d}  "
            f"{label}").rstrip()
