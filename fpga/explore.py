"""Design points and result rows of the ``fpga`` kind (what `attnforge explore` evaluates).

Points: every named config at the design's unit parameters (group ``config``), then the sweep:
attention parallelism p x square linear-unit sizes, with and without attention reordering
(group ``sweep``). A row holds the headline figures, resources, whether they fit the board
(``fits``) and what overflows it (``overflow``: one line, empty when it fits, see `fpga.fit`), the
per-unit latency breakdown (``t_<unit>_ms``) and the DDR bandwidth the attention stream asks for
(``attn_ddr_gbps``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fpga.board import get_board
from fpga.fit import overflow, overflow_text
from fpga.model import check_finite, evaluate
from fpga.reference import PAPER_ABLATION_MS
from fpga.schedule import CATEGORIES
from fpga.spec import TECHNIQUES, FpgaDesign, Techniques, Units
from fpga.workload import ViTSpec

PAPER_BOARD = "zcu102"  # the board of the paper's published ablation (edgemoe.md §4)


@dataclass(frozen=True, slots=True)
class Point:
    """One design point (frozen, picklable)."""

    group: str
    config: str
    techniques: Techniques
    attn_p: int
    linear_par: tuple[int, int]


def points(design: FpgaDesign) -> list[Point]:
    """Configs first (in file order), then the sweep in (reorder, p, size) order."""
    u = design.units
    out = [Point("config", name, t, u.attn_p, (u.linear_in_par, u.linear_out_par))
           for name, t in design.configs.items()]
    sweep = design.sweep
    if sweep is None:
        return out
    base = design.configs[sweep.config]
    reorders = (True, False) if sweep.with_and_without_attention_reorder else (
        base.attention_reorder,)
    for reorder in reorders:
        t = replace(base, attention_reorder=reorder)
        for p in sweep.attn_p:
            for size in sweep.linear_par:
                out.append(Point("sweep", sweep.config, t, p, (size, size)))
    return out


def row(design: FpgaDesign, point: Point) -> dict[str, object]:
    """One CSV row for ``point``."""
    u = replace(design.units, attn_p=point.attn_p, linear_in_par=point.linear_par[0],
                linear_out_par=point.linear_par[1])
    r = evaluate(design, point.techniques, u)
    check_finite(r, f"{design.name}: config {point.config}{_sweep_label(point)}", u)
    qk_av = r.breakdown_ms["qk"] + r.breakdown_ms["av"]
    out: dict[str, object] = {
        "group": point.group, "config": point.config, "board": design.board,
        "attn_p": point.attn_p,
        "linear_in_par": point.linear_par[0], "linear_out_par": point.linear_par[1],
        "attention_reorder": point.techniques.attention_reorder,
        "latency_ms": round(r.latency_ms, 4), "dsp": r.resources.dsp,
        "bram36": r.resources.bram36, "lut": r.resources.lut, "ff": r.resources.ff,
        "uram": r.resources.uram,
        "power_w": round(r.power_w, 3), "energy_j": round(r.energy_j, 5), "fits": r.fits,
        "overflow": overflow_text(overflow(r.resources, get_board(design.board))),
        "ddr_mb": round(r.ddr_mb, 3), "ddr_gbps": round(r.ddr_gbps, 3),
        "attn_ddr_gbps": round(r.attn_demand_gbps, 3),
        "qk_av_share": round(qk_av / r.latency_ms, 4),
    }
    for cat in CATEGORIES:
        out[f"t_{cat}_ms"] = round(r.breakdown_ms[cat], 4)
    paper = paper_latency_ms(design, point)
    out["paper_latency_ms"] = paper if paper is not None else ""
    return out


def _sweep_label(point: Point) -> str:
    """`` (sweep p 8, linear 32 x 32, reorder off)`` for a sweep point, '' for a config."""
    if point.group != "sweep":
        return ""
    reorder = "on" if point.techniques.attention_reorder else "off"
    return (f" (sweep p {point.attn_p}, linear {point.linear_par[0]} x {point.linear_par[1]}, "
            f"reorder {reorder})")


def paper_latency_ms(design: FpgaDesign, point: Point) -> float | None:
    """The paper's latency for a config point that is one of its ablation steps as published:
    the step's name and its techniques (each step adds the next of TECHNIQUES to the one
    before), on the ZCU102 with the paper's workload and units (the defaults); else None."""
    steps = list(PAPER_ABLATION_MS)  # baseline, then one step per technique, in order
    if point.group != "config" or point.config not in steps:
        return None
    on = steps.index(point.config)
    published = Techniques(**{name: i < on for i, name in enumerate(TECHNIQUES)})
    same = (point.techniques == published and design.board == PAPER_BOARD
            and design.units == Units() and design.workload == ViTSpec())
    return PAPER_ABLATION_MS[point.config] if same else None


def variant_keys(rows) -> tuple[str, ...]:
    """A grid's or search's override columns: those before ``group`` (the explorer puts a
    row's overrides first)."""
    keys = list(rows[0]) if rows else []
    return tuple(keys[:keys.index("group")]) if "group" in keys else ()


def variant_label(r, keys) -> str:
    """The override values of a row's variant, e.g. ``units.attn_p=2, board=zcu104``."""
    return ", ".join(f"{k}={r[k]}" for k in keys)


def by_variant(rows) -> list[tuple[str, list]]:
    """(label, rows) per design variant in first-seen order ("" for a design without grid or
    search)."""
    keys = variant_keys(rows)
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(variant_label(r, keys), []).append(r)
    return list(groups.items())


def boards_of(rows) -> str:
    """The boards the rows were evaluated on, e.g. ``zcu102`` or ``zcu102, zcu104``."""
    return ", ".join(dict.fromkeys(str(r["board"]) for r in rows))


CONFIG_HEAD = ("config                 latency_ms  paper_ms  ratio   DSP  BRAM36    LUT      FF"
               "  power_W  energy_J  QK+AV")
URAM_HEAD = "  URAM"  # after FF, only when some row binds a buffer to UltraRAM


def summary(design: FpgaDesign, rows) -> str:
    """The config table (a grid's or search's variant first on each line), with the paper's
    latency where a config is one of its published ablation steps (see `paper_latency_ms`),
    and a URAM column (URAM288 blocks) after FF only if some row uses UltraRAM."""
    keys = variant_keys(rows)
    configs = [r for r in rows if r["group"] == "config"]
    labels = [variant_label(r, keys) for r in configs]
    width = max(map(len, labels), default=0)
    uram = any(int(r["uram"]) for r in rows)
    table_head = CONFIG_HEAD
    if uram:
        at = CONFIG_HEAD.index("  power_W")
        table_head = CONFIG_HEAD[:at] + URAM_HEAD + CONFIG_HEAD[at:]
    head = f"{'variant':<{width}}  {table_head}" if keys else table_head
    points = f"{len(rows)} point{'' if len(rows) == 1 else 's'}"
    lines = [f"{design.name} on {boards_of(rows)}: {points}", head]
    lines += [(f"{label:<{width}}  " if keys else "") + _config_line(r, uram)
              for label, r in zip(labels, configs, strict=True)]
    if any(r["paper_latency_ms"] != "" for r in configs):
        lines += ["paper_ms: Edge-MoE's published cumulative ablation (ZCU102, 300 MHz); ratio "
                  "= latency_ms / paper_ms;",
                  "  docs/fpga.md, 'Ablation', says where the model and the paper differ"]
    return "\n".join(lines)


def _config_line(r, uram: bool) -> str:
    paper = r["paper_latency_ms"]
    ratio = f"{float(r['latency_ms']) / float(paper):5.2f}" if paper != "" else "    -"
    paper_s = f"{float(paper):8.1f}" if paper != "" else "       -"
    uram_s = f" {int(r['uram']):{len(URAM_HEAD) - 1}d}" if uram else ""
    return (f"{r['config']:<22} {float(r['latency_ms']):10.2f} {paper_s}  {ratio} "
            f"{int(r['dsp']):5d} {float(r['bram36']):7.1f} {int(r['lut']):6d} {int(r['ff']):7d}"
            f"{uram_s} {float(r['power_w']):8.2f} {float(r['energy_j']):9.4f} "
            f"{100 * float(r['qk_av_share']):5.1f}%")


def sweep_table(design: FpgaDesign, rows) -> str:
    """Latency, DSP, attention bandwidth and what overflows the board, over p at the swept
    linear-unit size nearest the design's (the smaller of two equally near), per variant."""
    sweep = [r for r in rows if r["group"] == "sweep"]
    if not sweep:
        return ""
    sizes = {int(r["linear_in_par"]) for r in sweep}
    size = min(sizes, key=lambda s: (abs(s - design.units.linear_in_par), s))
    lines = []
    for heading, variant in by_variant(sweep):
        where = f", {heading}" if heading else ""
        lines += [f"sweep at {size}x{size} linear unit{where}:",
                  "   p  reorder  latency_ms   DSP  fits  attn_ddr_GB/s  overflow"]
        lines += [f"{int(r['attn_p']):4d}  {r['attention_reorder']!s:<7} "
                  f"{float(r['latency_ms']):11.2f} {int(r['dsp']):5d}  {r['fits']!s:<5} "
                  f"{float(r['attn_ddr_gbps']):13.2f}  {r['overflow']}".rstrip()
                  for r in variant if int(r["linear_in_par"]) == size]
    return "\n".join(lines)


def unfit_note(design: FpgaDesign, rows) -> str:
    """How many sweep points do not fit their board (left out of pareto.png unless none fits);
    empty if all fit."""
    sweep = [r for r in rows if r["group"] == "sweep"]
    unfit = [r for r in sweep if not r["fits"]]
    if not unfit:
        return ""
    where = "(column overflow in results.csv says by how much)"
    if len(unfit) == len(sweep):
        return (f"none of the {len(sweep)} sweep points fits {boards_of(sweep)}: pareto.png "
                f"shows them all, none buildable {where}")
    return (f"{len(unfit)} of {len(sweep)} sweep points do not fit {boards_of(sweep)} and are "
            f"left out of pareto.png {where}")
