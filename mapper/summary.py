"""Summaries of result rows: the reference config's speedup and energy ratio over each baseline.

The reference is the config named ``fusemax`` (`REFERENCE`); every other config of the sweep is a
baseline. A ratio pairs the reference's point with the baseline's point of the same model,
sequence length, query length when swept, and scope (and square array size when the sweep has ``array_dims``; a grid's
variants are summarised one at a time by the caller) — never on a field each architecture sets
for itself. Averages are arithmetic means over a scope's pairs, as the paper reports them:
speedup = baseline latency / reference latency, energy ratio = reference energy / baseline's.
A baseline whose cascade applies a different mask (what a causal or window ``where`` filter
admits, whichever Einsum it filters, or none) does different work: its ratios are marked ``*``
and a note names both masks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import einsum

from . import masks
from .spec import Design

Row = Mapping[str, object]

REFERENCE = "fusemax"
"""The config the headline compares every other config against (by this name)."""

WORKLOAD_KEYS = ("model", "seq_len", "scope")
"""Row fields a ratio's two points share: the work (what the user swept), not the hardware."""


def pair_keys(design: Design) -> tuple[str, ...]:
    """The row fields ratios pair on: `WORKLOAD_KEYS`, plus ``query_len`` when the sweep sets
    query lengths (rows have the column only then) and ``array_dim`` when it sizes square
    arrays (otherwise a row's ``array_dim`` is its own architecture's row count)."""
    return (WORKLOAD_KEYS + (("query_len",) if design.sweep.query_lens else ())
            + (("array_dim",) if design.sweep.array_dims else ()))


def ratios(rows: Sequence[Row], target: str, baseline: str, scope: str,
           keys: Sequence[str] = WORKLOAD_KEYS) -> list[tuple[str, int, float, float]]:
    """(model, seq_len, speedup, energy ratio) of ``target`` over ``baseline`` per point of
    ``scope``, the two points paired on the row fields ``keys``."""
    theirs = {tuple(r[k] for k in keys): r for r in rows if r["config"] == baseline}
    out = []
    for r in rows:
        other = theirs.get(tuple(r[k] for k in keys))
        if r["config"] != target or r["scope"] != scope or other is None:
            continue
        out.append((str(r["model"]), int(r["seq_len"]),
                    float(other["latency_s"]) / float(r["latency_s"]),
                    float(r["energy_j"]) / float(other["energy_j"])))
    return out


def averages(rows: Sequence[Row], target: str, baseline: str, scope: str,
             keys: Sequence[str] = WORKLOAD_KEYS) -> tuple[float, float] | None:
    """Mean speedup and mean energy ratio, or None without matching points."""
    found = ratios(rows, target, baseline, scope, keys)
    if not found:
        return None
    return (sum(f[2] for f in found) / len(found), sum(f[3] for f in found) / len(found))


def mask_of(design: Design, config: str) -> str:
    """The mask a config's cascade applies, as text (``BQK where m <= p``, parameters
    appended), or ``""`` for none."""
    return _mask_text(design, config, named=True)


def mask_key(design: Design, config: str) -> str:
    """What a config's mask admits, without the name of the Einsum it filters: the 3-pass
    ``QK where m <= p`` and the 1-pass ``BQK where m <= p`` admit the same (query, key)
    pairs, so the two cascades do the same attention."""
    return _mask_text(design, config, named=False)


def _mask_text(design: Design, config: str, named: bool) -> str:
    """A config's filters (each prefixed ``NAME where`` if ``named``), parameters but M0
    appended; ``""`` without a filter."""
    spec = design.configs[config]
    cascade = einsum.library.get(spec.cascade, **spec.params)
    found = "; ".join(f"{e.name} where " * named + " and ".join(map(str, e.filters))
                      for e in masks.filtered(cascade))
    params = ", ".join(f"{k} = {v}" for k, v in spec.params.items() if k != "M0")
    return f"{found} ({params})" if found and params else found


def headline_table(design: Design, rows: Sequence[Row], target: str = REFERENCE) -> str:
    """``target`` over each baseline and scope, ours beside the design file's paper values; a
    line naming each baseline with no point to pair, and one naming masks that differ."""
    # the paper's averages are over whole sequences (P = M): not printed beside decode ratios
    paper = {} if design.sweep.query_lens else {(p.baseline, p.scope): p for p in design.paper}
    keys = pair_keys(design)
    width = max([12, *(len(c) + 1 for c in design.sweep.configs)])  # a name and its mark
    lines = [f"reference: {target} (the config named {REFERENCE}); each ratio pairs points of "
             f"the same {', '.join(keys)}",
             f"{f'{target} over':<{width}} {'scope':<12} {'speedup (paper)':<24} "
             f"energy ratio (paper)"]
    ours_mask, ours_key = mask_of(design, target), mask_key(design, target)
    unpaired, other_work = [], []
    for baseline in design.sweep.configs:
        if baseline == target:
            continue
        differs = mask_key(design, baseline) != ours_key
        shown = False
        for scope in design.sweep.scopes:
            ours = averages(rows, target, baseline, scope, keys)
            if ours is None:
                continue
            shown = True
            ref = paper.get((baseline, scope))
            ps = f"({ref.speedup:.2f}x, {100 * (ours[0] / ref.speedup - 1):+.1f}%)" if ref else ""
            pe = (f"({100 * ref.energy_ratio:.0f}%, {100 * (ours[1] / ref.energy_ratio - 1):+.1f}%)"
                  if ref else "")
            name = baseline + ("*" if differs else "")
            lines.append(f"{name:<{width}} {scope:<12} {ours[0]:6.2f}x {ps:<16} "
                         f"{100 * ours[1]:5.1f}% {pe}")
        if not shown and any(r["config"] == baseline for r in rows):
            unpaired.append(baseline)
        elif shown and differs:
            other_work.append(baseline)
    if other_work:
        lines.append(f"* different work: {target} applies {ours_mask or 'no mask'}; "
                     + "; ".join(f"{b} {mask_of(design, b) or 'no mask'}" for b in other_work)
                     + " (the ratio counts the masked-out work as saved)")
    if unpaired:
        lines.append(f"not compared: {', '.join(unpaired)} (no point shares {', '.join(keys)} "
                     f"with a point of {target})")
    return "\n".join(lines)


def point_table(rows: Sequence[Row], baseline: str, scope: str, target: str = REFERENCE,
                keys: Sequence[str] = WORKLOAD_KEYS) -> str:
    """Per-point speedup / energy ratio of ``target`` over ``baseline`` (models × lengths)."""
    found = ratios(rows, target, baseline, scope, keys)
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
    """2D-array utilisation per config and length (mean over models); with query lengths one
    column per sequence length K and query length P, headed ``KK/P``."""
    def column(r: Row) -> tuple[int, int]:
        return int(r["seq_len"]), int(r.get("query_len", 0))

    lengths = sorted({column(r) for r in rows})
    lines = [f"2D utilisation ({scope}, mean over models)",
             "config        " + " ".join(f"{f'{n // 1024}K' + (f'/{q}' if q else ''):>7}"
                                        for n, q in lengths)]
    for config in configs:
        cells = []
        for n in lengths:
            vals = [float(r["util_2d"]) for r in rows
                    if r["config"] == config and r["scope"] == scope and column(r) == n]
            cells.append(f"{100 * sum(vals) / len(vals):6.1f}%" if vals else " " * 7)
        lines.append(f"{config:<13} " + " ".join(cells))
    return "\n".join(lines)
