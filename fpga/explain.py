"""One FPGA design point explained: techniques, latency by category and by layer, DDR traffic,
and the resources unit by unit with how each count is built, against the board.

``explain(design, config, units)`` → text (what ``attnforge explain`` prints for an ``fpga``
design). Every figure comes from the same functions ``attnforge explore`` prices with
(`fpga.model.evaluate`, `fpga.area.unit_items`), so the tables add up to the results.csv row.
"""

from __future__ import annotations

from fpga import area
from fpga.area import SYNTHESIZED
from fpga.board import Board, get_board
from fpga.fit import overflow, overflow_text
from fpga.model import Result, check_finite, evaluate
from fpga.resources import Resources
from fpga.schedule import CATEGORIES, cycles_to_ms, image_timing, plan
from fpga.spec import TECHNIQUES, FpgaDesign, Techniques, Units
from fpga.units import memory

WIDTH = 100  # terminal columns the header and the stage table are laid out for


def explain(design: FpgaDesign, config: str, units: Units,
            techniques: Techniques | None = None) -> str:
    """The explanation of config ``config`` of ``design`` on ``units``, with ``techniques`` in
    place of the config's if given (the header names the ones that differ)."""
    t = techniques or design.configs[config]
    changed = [f"{name} {'on' if getattr(t, name) else 'off'}" for name in TECHNIQUES
               if getattr(t, name) != getattr(design.configs[config], name)]
    if changed:  # in parentheses: "with attention_reorder on on zcu102" read as a doubled word
        config += f" (with {', '.join(changed)})"
    board = get_board(design.board)
    r = evaluate(design, t, units)
    check_finite(r, f"{design.name}: config {config}", units)
    parts = (header(design, config, t, units, board), latency(r, units, board),
             stages(design, t, units), resources(design, t, units, board, r))
    return "\n\n".join(parts)


def header(design: FpgaDesign, config: str, t: Techniques, u: Units, board: Board) -> str:
    """Which design, board, techniques and unit parameters."""
    on = [f"{name} {'on' if getattr(t, name) else 'off'}" for name in TECHNIQUES]
    port = memory(board, u).port_bytes * 8
    narrowed = f" (narrowed to {port:g} b by the board's host port)" if port < u.axi_bits else ""
    units = (f"attention p = {count(u.attn_p, 'query slot')} x {count(u.attn_lanes, 'lane')}",
             f"gate {count(u.gate_macs, 'MAC')}", f"LayerNorm {count(u.layernorm_lanes, 'lane')}",
             f"add {count(u.add_lanes, 'lane')}",
             f"patch embedding {count(u.patch_embed_macs, 'MAC')}", f"AXI {u.axi_bits} b{narrowed}")
    return "\n".join((
        f"{design.name}: config {config} on {board.name} ({board.device}) at {u.clock_mhz:g} MHz",
        fill("techniques: ", on, ", "),
        fill("linear: ", linear_engines(design, t, u).split(" "), ""),
        fill("units: ", units, "; ")))


def count(n: int, thing: str) -> str:
    """``n`` things, e.g. ``1 lane``, ``8 lanes``, ``1,024 MACs``."""
    return f"{n:,} {thing}{'' if n == 1 else 's'}"


def fill(first: str, parts, sep: str) -> str:
    """``first`` then ``parts`` joined by ``sep`` (a space after each), wrapped at WIDTH columns
    between parts only (continuation lines indented by two); a part longer than a line stays
    whole."""
    lines, line = [], first
    for i, part in enumerate(parts):
        piece = part + (sep.rstrip() if i < len(parts) - 1 else "")
        if line.strip() and len(line) + len(piece) > WIDTH:
            lines.append(line.rstrip())
            line = "  "
        line += piece + " "
    return "\n".join([*lines, line.rstrip()])


def linear_engines(design: FpgaDesign, t: Techniques, u: Units) -> str:
    """The unified linear unit, or the dedicated engines that replace it (one per shape)."""
    if t.unified_linear:
        return (f"unified unit of in x out = {u.linear_in_par:,} x {u.linear_out_par:,} MACs"
                f"{', ping/pong weight buffers' if u.ping_pong else ''}")
    engines = plan(design.workload, u, t, design.math).engines
    by_size: dict[tuple[int, int], list[str]] = {}
    for (k, n), size in engines.items():
        by_size.setdefault(size, []).append(f"{k}->{n}")
    return ", ".join(f"{len(shapes)} dedicated engine{'s' if len(shapes) > 1 else ''} of "
                     f"in x out = {size[0]:,} x {size[1]:,} MACs ({', '.join(shapes)})"
                     for size, shapes in by_size.items())


def latency(r: Result, u: Units, board: Board) -> str:
    """Per-image latency by category (the results.csv ``t_<unit>_ms`` columns), DDR traffic,
    and what the attention stream asks of one AXI port against what the port gives."""
    cycles = round(r.latency_ms * u.clock_mhz * 1e3)
    port_gbps = memory(board, u).port_bytes * u.clock_mhz * 1e6 / 1e9
    lines = [f"latency {r.latency_ms:.2f} ms per image ({cycles:,} cycles), {r.power_w:.2f} W, "
             f"{r.energy_j:.4f} J",
             f"DDR {r.ddr_mb:.1f} MB per image ({r.ddr_gbps:.2f} GB/s on average)",
             f"attention stream: asks {r.attn_demand_gbps:.2f} GB/s of one AXI port, which gives "
             f"{port_gbps:.2f} GB/s",
             "category         ms   share"]
    for cat in CATEGORIES:
        ms = r.breakdown_ms[cat]
        if ms:
            lines.append(f"{cat:<12} {ms:7.2f}  {100 * ms / r.latency_ms:5.1f}%")
    return "\n".join(lines)


def stages(design: FpgaDesign, t: Techniques, u: Units) -> str:
    """Milliseconds per stage (patch embedding, each layer) and category, with DDR MB.

    A category with no time is left out, and so is one whose time is all in one stage that
    does nothing else (the patch embedding): that stage's total says it. A cell with no cycles
    is ``-`` (a nonzero cell below 0.0005 ms still shows ``0.000``).
    """
    timing = image_timing(design.workload, get_board(design.board), u, t, design.math,
                          design.routing)
    used = [c for c in CATEGORIES if timing.cycles[c]
            and not any(s.cycles[c] == s.total == timing.cycles[c] for s in timing.stages)]
    head = ["stage (ms)", "total", *used, "DDR MB"]
    rows = [[s.name, _ms(s.total, u), *(_ms(s.cycles[c], u) for c in used),
             f"{s.ddr_bytes / 1e6:.2f}"] for s in timing.stages]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [r[0].ljust(widths[0]) + "  " + " ".join(
        cell.rjust(w) for cell, w in zip(r[1:], widths[1:], strict=True)) for r in [head, *rows]]
    spec = design.workload
    if any(spec.is_moe(i) for i in range(spec.layers)):
        lines.append(f"MoE e: e of {count(spec.experts, 'expert')} hit; {spec.tokens} tokens x top-"
                     f"{spec.top_k} = {spec.tokens * spec.top_k} token-expert pairs per MoE layer")
    return "\n".join(lines)


def _ms(cycles: int, u: Units) -> str:
    return f"{cycles_to_ms(cycles, u.clock_mhz):.3f}" if cycles else "-"


def resources(design: FpgaDesign, t: Techniques, u: Units, board: Board, r: Result) -> str:
    """Every unit's labelled items, the total, the board's totals and the share used; each
    column as wide as its widest figure. URAM counts URAM288 blocks (the last column, so the
    first four stay DSP, BRAM36, LUT, FF); its share on a board without URAM is ``-`` when
    none is used."""
    rows = [("unit", "DSP", "BRAM36", "LUT", "FF", "URAM", "how")]
    parts = area.unit_items(design, t, u)
    for name, items in parts.items():
        for i, item in enumerate(items):
            label = f"{item.label} [{item.source}]" if item.source else item.label
            rows.append((name if i == 0 else "", *_figures(item.resources), label))
    total = r.resources
    rows.append(("total", *_figures(total), ""))
    rows.append((board.name, f"{board.dsp:,d}", f"{board.bram36:,d}", f"{board.lut:,d}",
                 f"{board.ff:,d}", f"{board.uram:,d}", board.device))
    pairs = ((total.dsp, board.dsp), (total.bram36, board.bram36), (total.lut, board.lut),
             (total.ff, board.ff), (total.uram, board.uram))
    rows.append(("used", *(_share(used, available) for used, available in pairs), ""))
    columns = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(columns)]
    lines = ["resources, unit by unit:"]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(
            row[1:columns], widths[1:], strict=True)]
        lines.append(("  ".join([" ".join(cells), row[columns]])).rstrip())
    if any(item.source == SYNTHESIZED for items in parts.values() for item in items):
        lines.append(f"[{SYNTHESIZED}]: rtl/'s unit synthesized for UltraScale+ by yosys "
                     "(fpga/data/xcup_*.csv); other LUT/FF are per-bit estimates")
    text = overflow_text(overflow(total, board))
    lines.append(f"does not fit {board.name}: {text}" if text else f"fits {board.name}")
    return "\n".join(lines)


def _share(used: float, available: int) -> str:
    """``used`` as a percentage of ``available``; ``-`` for none of none, ``inf%`` for some of
    none (a URAM buffer on a board without URAM)."""
    if not available:
        return "inf%" if used else "-"
    return f"{100 * used / available:,.1f}%"


def _figures(res: Resources) -> tuple[str, str, str, str, str]:
    return f"{res.dsp:,d}", f"{res.bram36:,.1f}", f"{res.lut:,d}", f"{res.ff:,d}", f"{res.uram:,d}"
