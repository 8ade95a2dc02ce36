"""Summaries of result rows: FuseMax's speedup and energy ratio over each baseline.

Averages are arithmetic means over the (model, seq_len) points of a scope, as the paper reports
them: speedup = baseline latency / FuseMax latency, energy ratio = FuseMax energy / baseline's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .spec import Design

Row = Mapping[str, object]


def _index(rows: Sequence[Row]) -> dict[tuple, Row]:
    return {(r["model"], r["seq_len"], r["config"], r["scope"], r.get("array_dim")): r
            for r in rows}


def ratios(rows: Sequence[Row], target: str, baseline: str, scope: str
           ) -> list[tuple[str, int, float, float]]:
    """(model, seq_len, speedup, energy ratio) of ``target`` over ``baseline`` per point."""
    index = _index(rows)
    out = []
    for (model, n, config, sc, dim), r in index.items():
        other = index.get((model, n, baseline, sc, dim))
        if config != target or sc != scope or other is None:
            continue
        out.append((str(model), int(n), float(other["latency_s"]) / float(r["latency_s"]),
                    float(r["energy_j"]) / float(other["energy_j"])))
    return out


def averages(rows: Sequence[Row], target: str, baseline: str, scope: str
             ) -> tuple[float, float] | None:
    """Mean speedup and mean energy ratio, or None without matching points."""
    found = ratios(rows, target, baseline, scope)
    if not found:
        return None
    return (sum(f[2] for f in found) / len(found), sum(f[3] for f in found) / len(found))


def headline_table(design: Design, rows: Sequence[Row], target: str = "fusemax") -> str:
    """FuseMax over each baseline and scope, ours beside the design file's paper values."""
    paper = {(p.baseline, p.scope): p for p in design.paper}
    lines = [f"{target} over    scope        speedup (paper)      energy ratio (paper)"]
    for baseline in design.sweep.configs:
        for scope in design.sweep.scopes:
            ours = averages(rows, target, baseline, scope) if baseline != target else None
            if ours is None:
                continue
            ref = paper.get((baseline, scope))
            ps = f"({ref.speedup:.2f}x, {100 * (ours[0] / ref.speedup - 1):+.1f}%)" if ref else ""
            pe = (f"({100 * ref.energy_ratio:.0f}%, {100 * (ours[1] / ref.energy_ratio - 1):+.1f}%)"
                  if ref else "")
            lines.append(f"{baseline:<12} {scope:<12} {ours[0]:6.2f}x {ps:<16} "
                         f"{100 * ours[1]:5.1f}% {pe}")
    return "\n".join(lines)


def point_table(rows: Sequence[Row], baseline: str, scope: str, target: str = "fusemax") -> str:
    """Per-point speedup / energy ratio of ``target`` over ``baseline`` (models × lengths)."""
    found = ratios(rows, target, baseline, scope)
    lengths = sorted({f[1] for f in found})
    models = list(dict.fromkeys(f[0] for f in found))
    cell = {(f[0], f[1]): f for f in found}
    head = "model  " + " ".join(f"{n // 1024:>10}K" for n in lengths)
    lines = [f"{target} over {baseline}, {scope}: speedup/energy ratio", head]
    for model in models:
        parts = [f"{cell[model, n][2]:5.2f}x/{100 * cell[model, n][3]:3.0f}%" if (model, n) in cell
                 else " " * 11 for n in lengths]
        lines.append(f"{model:<6} " + " ".join(parts))
    return "\n".join(lines)


def util_table(rows: Sequence[Row], configs: Sequence[str], scope: str = "attention") -> str:
    """2D-array utilisation per config and length (mean over models)."""
    lengths = sorted({int(r["seq_len"]) for r in rows})
    lines = [f"2D utilisation ({scope}, mean over models)",
             "config        " + " ".join(f"{n // 1024:>6}K" for n in lengths)]
    for config in configs:
        cells = []
        for n in lengths:
            vals = [float(r["util_2d"]) for r in rows
                    if r["config"] == config and r["scope"] == scope and int(r["seq_len"]) == n]
            cells.append(f"{100 * sum(vals) / len(vals):6.1f}%" if vals else " " * 7)
        lines.append(f"{config:<13} " + " ".join(cells))
    return "\n".join(lines)
