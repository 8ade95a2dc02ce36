"""`fpga.explain`: the unit-by-unit resources and the per-layer latency add up, and their figures
match counts derived here from the paper's unit descriptions (edgemoe.md §3-4)."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from fpga.explain import explain
from fpga.model import evaluate
from fpga.spec import FpgaDesign, Techniques, Units
from fpga.workload import ViTSpec, route

BASELINE = Techniques(False, False, False, False, False)
DESIGN = FpgaDesign(name="t", board="zcu102", configs={"final": Techniques(),
                                                        "baseline": BASELINE})
N, D, HEADS, LAYERS = 129, 192, 3, 12  # M3ViT (edgemoe.md §1)
# rtl layernorm at 8 lanes: per lane x² (32 x 32: 2 x 2 DSP48E2), 192·x (9 x 32: 2), D·r
# (41 x 33: 2 x 2), n·γ (32 x 16: 2); per row 192·S2 (71 x 9: 4) and S1² (40 x 40: 6)
LN_DSP = 8 * (4 + 2 + 4 + 2) + 4 + 6


def resource_lines(text: str) -> list[tuple[str, list[str], str]]:
    """(unit, [DSP, BRAM36, LUT, FF, URAM], label) of every item line (a unit's later lines have
    a blank unit column), up to the total."""
    block = text.split("resources, unit by unit:\n")[1].splitlines()[1:]
    out, unit = [], ""
    for line in block:
        if line.startswith("total"):
            break
        words = line.split()
        if not line.startswith(" "):
            unit, words = words[0], words[1:]
        label = re.sub(r" \[LUT/FF synthesized\]$", "", " ".join(words[5:]))  # test_synthesized
        out.append((unit, words[:5], label))
    return out


def resource_rows(text: str) -> dict[str, list[int]]:
    """DSP of every item line, by unit."""
    rows: dict[str, list[int]] = {}
    for unit, figures, _ in resource_lines(text):
        rows.setdefault(unit, []).append(int(figures[0].replace(",", "")))
    return rows


def total_line(text: str) -> list[str]:
    return next(line for line in text.splitlines() if line.startswith("total ")).split()


def test_final_design_dsp_unit_by_unit():
    # edgemoe.md: 16 x 16 MACs of 32-bit activations x 16-bit weights (a 27 x 18 DSP48E2 needs
    # two), 16 GELU lanes (one small multiply each); Q·K and A·V arrays of p x 8 lanes = 32
    # MACs of 32 x 32 bits (2 x 2 DSPs each); gate 128 MACs x 2; patch embedding 256 MACs of
    # 8 x 16 bits (one DSP each).
    rows = resource_rows(explain(DESIGN, "final", Units()))
    assert sum(rows["linear"]) == 16 * 16 * 2 + 16
    assert sum(rows["attention"]) == 2 * 4 * 8 * 4
    assert sum(rows["gate"]) == 128 * 2
    assert sum(rows["patch_embed"]) == 256
    assert sum(rows["add"]) == 0


def test_resource_items_add_up_to_the_total_explore_reports():
    for config, t in DESIGN.configs.items():
        text = explain(DESIGN, config, Units())
        dsp = sum(sum(v) for v in resource_rows(text).values())
        r = evaluate(DESIGN, t)
        assert dsp == r.resources.dsp == int(total_line(text)[1].replace(",", ""))
        assert float(total_line(text)[2].replace(",", "")) == r.resources.bram36


def stage_rows(text: str) -> list[tuple[str, float, float]]:
    """(stage name, total ms, DDR MB) of the stage table."""
    lines = text.split("stage (ms)")[1].split("\n\n")[0].splitlines()[1:]
    out = []
    for line in lines:
        if line.startswith("MoE e:"):
            break
        name = re.match(r"(patch embedding|layer \d+ (dense|MoE \d+))", line).group(1)
        numbers = line[len(name):].split()
        out.append((name, float(numbers[0]), float(numbers[-1])))
    return out


@pytest.mark.parametrize("config", ["final", "baseline"])
def test_stages_add_up_to_the_latency_and_traffic(config):
    text = explain(DESIGN, config, Units())
    r = evaluate(DESIGN, DESIGN.configs[config])
    rows = stage_rows(text)
    assert [" ".join(name.split()[:2]) for name, _, _ in rows] == (
        ["patch embedding"] + [f"layer {i}" for i in range(LAYERS)])
    # each stage is rounded to 0.001 ms and 0.01 MB
    assert sum(ms for _, ms, _ in rows) == pytest.approx(r.latency_ms, abs=0.001 * len(rows))
    assert sum(mb for _, _, mb in rows) == pytest.approx(r.ddr_mb, abs=0.01 * len(rows))


def test_moe_layers_name_their_experts_and_pairs():
    spec = ViTSpec()
    text = explain(DESIGN, "final", Units())
    # top-2 routing: every token goes to 2 experts, 2 x 129 pairs per MoE layer
    assert f"MoE e: e of 16 experts hit; {N} tokens x top-2 = {2 * N} token-expert pairs per " \
        "MoE layer" in text
    for name, _, _ in stage_rows(text):
        layer = re.match(r"layer (\d+)", name)
        if not layer:
            continue
        i = int(layer.group(1))
        if i % 2 == 0:
            assert name.endswith(" dense")
        else:
            counts = route(spec, DESIGN.routing, i)
            hit = sum(1 for c in counts if c > 0)
            assert name.endswith(f" MoE {hit}")


def test_a_dense_layers_qk_is_the_reordered_stream_over_the_narrowed_port():
    # edgemoe.md §3.5: ceil((N + p - 1) / p) batches each stream the N key tokens (d 32-bit
    # values) once; ZCU102's PL reaches DDR through 128-bit HP ports, 16 B per 300 MHz cycle,
    # which this stream (one 256-bit beat per compute cycle) saturates; plus the first-beat
    # latency (200 ns = 60 cycles).
    text = explain(DESIGN, "final", Units())
    head = text.split("stage (ms)")[1].splitlines()[0].split()
    layer0 = next(line for line in text.splitlines() if line.startswith("layer 0 dense"))
    qk = float(layer0.removeprefix("layer 0 dense").split()[head.index("qk")])
    cycles = math.ceil((N + 3) / 4) * N * D * 4 / 16 + 60
    assert qk == pytest.approx(cycles / 300e3, abs=0.0005)


def test_an_overflowing_point_says_what_overflows():
    text = explain(DESIGN, "final", Units(attn_p=16, linear_in_par=24, linear_out_par=24))
    # p = 16, 24 x 24: linear 576 x 2 + 24 GELU lanes, attention 2 x 16 x 8 x 4, softmax one
    # (running 10 + normalise 10 DSP) pair per slot: 8 lanes finish a 64-dim head score every
    # 8 cycles (edgemoe.md units, docs)
    dsp = 24 * 24 * 2 + 24 + 2 * 16 * 8 * 4 + 16 * 20 + 256 + 256 + LN_DSP
    assert f"does not fit zcu102: DSP {dsp:,} > 2,520 (+{dsp - 2520:,})" in text
    assert "fits zcu102" not in text.replace("does not fit zcu102", "")


def test_header_names_the_engines_that_replace_the_unified_unit():
    text = " ".join(explain(DESIGN, "baseline", Units()).split())  # lines wrapped at 100
    # five distinct linear shapes (d->d, d->4d, 4d->d, d->2d, 2d->d) share 256 MACs: 32 each
    assert "linear: 5 dedicated engines of in x out = 4 x 8 MACs (192->192, 192->768, " \
        "768->192, 192->384, 384->192)" in text
    assert "linear: unified unit of in x out = 16 x 16 MACs, ping/pong weight buffers" in \
        explain(DESIGN, "final", Units())


# --- found by trying `attnforge explain` as a new user -------------------------------------

WIDTH = 100  # a common terminal


@pytest.mark.parametrize("config", ["final", "baseline"])
def test_header_latency_and_stage_table_fit_a_100_column_terminal(config):
    # The units line ran to 195-280 columns and the stage table to 137-150.
    text = explain(DESIGN, config, Units())
    before = text.split("resources, unit by unit:")[0]
    assert max(map(len, before.splitlines())) <= WIDTH


def test_moe_stages_with_two_weighted_experts_hit_exactly_those_two():
    # top-2 routing where only two experts have a positive weight: every token takes both, so
    # each MoE layer hits 2 experts with 2 x 129 token-expert pairs.
    from fpga.workload import Routing

    design = FpgaDesign(name="t", board="zcu102", configs={"final": Techniques()},
                        routing=Routing(hits=(3.0, 1.0) + (0.0,) * 14))
    names = [name for name, _, _ in stage_rows(explain(design, "final", Units()))]
    assert [n for n in names if "MoE" in n] == [f"layer {i} MoE 2" for i in range(1, LAYERS, 2)]


def aligned_columns(text: str) -> None:
    """Every row of the resource table from its header to ``used`` ends its five figures
    where the header's DSP, BRAM36, LUT, FF, URAM end, and starts its label under ``how``."""
    lines = text.split("resources, unit by unit:\n")[1].splitlines()
    header = lines[0]
    how = header.index("how")
    ends = [m.end() for m in re.finditer(r"\S+", header[:how])][1:]
    used = next(i for i, line in enumerate(lines) if line.startswith("used"))
    for line in lines[1:used + 1]:
        figures = [m.end() for m in re.finditer(r"\S+", line[:how])][-5:]
        assert figures == ends, line
        assert len(line) <= how or (line[how - 2:how] == "  " and line[how] != " "), line


def test_absurd_parallelism_is_answered_with_the_columns_aligned():
    # p = 10**9 used to push every figure out of its 6-8 character column.
    p = 10**9
    text = explain(DESIGN, "final", Units(attn_p=p))
    aligned_columns(text)
    # Q·K and A·V: p x 8 MACs x 4 DSP each; softmax p x 20; the rest as at p = 4
    dsp = 2 * p * 8 * 4 + p * 20 + 16 * 16 * 2 + 16 + 256 + 256 + LN_DSP
    assert total_line(text)[1] == f"{dsp:,}"
    assert f"Q·K: p x lanes = {p:,} x 8 MACs of 32 x 32 b, 4 DSP each" in text
    aligned_columns(explain(DESIGN, "baseline", Units(linear_in_par=10**6,
                                                        linear_out_par=10**6)))


def test_one_of_a_kind_is_singular():
    text = explain(DESIGN, "final", Units(linear_in_par=1, linear_out_par=1, add_lanes=1))
    assert "1 fused GELU lane x (" in text and "1 fused GELU lanes" not in text
    assert "1 adder of 32 b" in text


def ints(*groups: str) -> list[int]:
    return [int(g.replace(",", "")) for g in groups]


# Operand widths -> DSP48E2 slices (27 x 18 signed multiplier): 32 x 16 needs two (32 > 27),
# 32 x 32 four (2 x 2 tiles), 8 x 16, 9 x 16 and 23 x 17 one.
DSP_PER = {(32, 16): 2, (32, 32): 4, (8, 16): 1, (9, 16): 1}

# Each label shape, and the DSP its arithmetic gives (from the label's own numbers).
DSP_LABELS = (
    (r"(?:in x out|p x lanes) = ([\d,]+) x ([\d,]+) MACs of (\d+) x (\d+) b, (\d+) DSP each",
     lambda a, b, x, y, per: (a * b * per, per == DSP_PER[(x, y)])),
    (r"^([\d,]+) MACs of (\d+) x (\d+) b, (\d+) DSP each",
     lambda n, x, y, per: (n * per, per == DSP_PER[(x, y)])),
    (r"^([\d,]+) MACs? \((\d+) inputs? x (\d+) experts?\) of (\d+) x (\d+) b, (\d+) DSP each",
     lambda n, i, e, x, y, per: (n * per, per == DSP_PER[(x, y)] and i * e == n)),
    (r"^([\d,]+) MACs? \((\d+) inputs? x (\d+) columns?; unsigned (\d+)-bit pixels as (\d+)-bit "
     r"signed\) of (\d+) x (\d+) b, (\d+) DSP each",
     lambda n, i, c, p, s, x, y, per: (n * per, per == DSP_PER[(x, y)] and i * c == n
                                       and s == p + 1 == x)),
    (r"^([\d,]+)-lane single-pass LayerNorm \(rtl layernorm\): ([\d,]+) x \(x² (\d+) \+ "
     r"d·x (\d+) \+ D·r (\d+) \+ n·γ (\d+)\) \+ d·S2 (\d+) \+ S1² (\d+) DSP",
     lambda n, m, a, b, c, e, f, g: (n * (a + b + c + e) + f + g,
                                     n == m and (a, b, c, e, f, g) == (4, 2, 4, 2, 4, 6))),
    (r"^([\d,]+) (?:fused|separate) GELU lanes? x \(177 x 22 b LUT-RAM table, 23 x 17 b "
     r"multiply: (\d+) DSP\)$", lambda n, per: (n * per, per == 1)),
    (r"^([\d,]+) separate GELU lanes? x \(float: (\d+) fmul x (\d+) \+ (\d+) fadd x (\d+) \+ "
     r"fexp (\d+) DSP, fdiv\)$", lambda n, a, b, c, d, e: (n * (a * b + c * d + e), True)),
    (r"^running max and sum: p x ceil\(lanes / head dim\) = [\d,]+ x ceil\([\d,]+ / \d+\) = "
     r"([\d,]+) units? x \(exp (\d+) \+ rescale (\d+) DSP, a "
     r"reciprocal divider\)$", lambda n, e, r: (n * (e + r), True)),
    (r"^normalise in A·V: ([\d,]+) x \(exp (\d+) \+ x 1/sum (\d+) DSP\)$",
     lambda n, e, r: (n * (e + r), True)),
    (r"^three-pass float: ([\d,]+) lanes? x \(2 fadd x (\d+) \+ fexp (\d+) \+ fmul (\d+) DSP, "
     r"fdiv\)$", lambda n, a, b, c: (n * (2 * a + b + c), True)),
)


# the groups after the four named ones are numbered from 5
BUFFER = (r"(?:(?P<buffers>\d+) weight buffers? .*|p \+ 1 = (?P<caches>[\d,]+) token caches"
          r"|weights \(.*\)|row buffer \(.*\)|γ/β buffer \(.*\)|input row cache \(.*\)"
          r"|running \(max, sum\) of the other \d+ heads?: (?P<slots>[\d,]+) slot memor(?:y|ies)"
          r"|(?P<fifos>[\d,]+) (?:read|write) data FIFOs? \(\d+ outstanding x \d+-beat bursts\)"
          r"): ")


def memories(m: re.Match) -> int:
    """How many copies of one memory a buffer label's match counts."""
    return int((m["buffers"] or m["caches"] or m["slots"] or m["fifos"] or "1").replace(",", ""))


def registers_of_label(label: str) -> int | None:
    """FFs a buffer label held in registers gives (rows x width each), or None."""
    m = re.search(BUFFER + r"([\d,]+) FF( each)? in registers \(([\d,]+) x ([\d,]+) b\)$", label)
    if not m:
        return None
    per, rows, width = ints(*m.group(5, 7, 8))
    assert per == rows * width, label
    return memories(m) * per
LUTRAM_CELLS = {"RAM32M16": (32, 14, 8), "RAM64M8": (64, 7, 8), "RAM128X1D": (128, 1, 4),
                "RAM256X1D": (256, 1, 8)}
"""UltraScale+ LUT-RAM cells (depth, bits, LUTs) for a write and a read port (UG574)."""


def lutram_of_label(label: str) -> int | None:
    """LUTs a LUT-RAM buffer label's arithmetic gives, checking its cells against the
    UltraScale+ cell geometry; None if the label is not a LUT-RAM buffer."""
    m = re.search(BUFFER + r"([\d,]+) LUT( each)? of LUT-RAM \(([\d,]+) x ([\d,]+) b as ([\d,]+) "
                  r"x ([\d,]+) (\w+) of (\d+) x (\d+) b, (\d+) LUT each\)$", label)
    if not m:
        return None
    count = memories(m)
    per, rows, width, columns, banks = ints(*m.group(5, 7, 8, 9, 10))
    cell, deep, bits, luts = m.group(11), *ints(*m.group(12, 13, 14))
    assert LUTRAM_CELLS[cell] == (deep, bits, luts), label
    assert (columns, banks) == (math.ceil(width / bits), math.ceil(rows / deep)), label
    assert per == columns * banks * luts, label
    return count * per


def uram_of_label(label: str) -> int | None:
    """URAM288 a buffer label's arithmetic gives, checking its tiling against the URAM288's one
    shape (4K x 72 bits, UG573); None if the label is not a URAM buffer."""
    m = re.search(BUFFER + r"([\d,]+) URAM288( each)? \(([\d,]+) x ([\d,]+) b as ([\d,]+) x "
                  r"([\d,]+) of ([\d,]+) x (\d+) b\)$", label)
    if not m:
        return None
    per, rows, width, columns, deep, depth, bits = ints(*m.group(5, 7, 8, 9, 10, 11, 12))
    assert (depth, bits) == (4096, 72), label
    assert (columns, deep) == (math.ceil(width / 72), math.ceil(rows / 4096)), label
    assert per == columns * deep, label
    return memories(m) * per


def bram18_of_label(label: str) -> int | None:
    """BRAM18 a buffer label's arithmetic gives, checking its reason against the BRAM18 facts
    (18 Kib; one port reads at most 36 bits a cycle); None if the label is not a buffer."""
    m = re.search(BUFFER + r"([\d,]+) BRAM18( each)? \((.*)\)$", label)
    if not m:
        return None
    count = memories(m)
    per = ints(m.group(5))[0]
    shape = re.fullmatch(r"([\d,]+) x ([\d,]+) b as ([\d,]+) x ([\d,]+) of ([\d,]+) x (\d+) b",
                         m.group(7))
    rows, width, columns, deep, depth, bits = ints(*shape.groups())
    # a BRAM18 is 512 x 36, 1K x 18, 2K x 9, 4K x 4, 8K x 2 or 16K x 1 bits
    assert (depth, bits) in {(512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)}
    assert (columns, deep) == (math.ceil(width / bits), math.ceil(rows / depth)), label
    assert per == columns * deep, label
    return count * per


@pytest.mark.parametrize("units", [
    Units(), Units(linear_in_par=12, linear_out_par=7, attn_p=3, attn_lanes=5),
    Units(linear_in_par=1, linear_out_par=1, attn_p=1, layernorm_lanes=1, axi_masters=1),
    Units(linear_in_par=32, linear_out_par=32, attn_p=16, clock_mhz=200),
    Units(linear_in_par=12, linear_out_par=7, linear_weight_storage="ultra_ram",
          patch_weight_storage="ultra_ram")])
@pytest.mark.parametrize("config", ["final", "baseline"])
def test_every_labels_arithmetic_gives_the_figures_on_its_line(units, config):
    for unit, figures, label in resource_lines(explain(DESIGN, config, units)):
        dsp, lut, ff, uram = ints(figures[0], figures[2], figures[3], figures[4])
        assert uram == (uram_of_label(label) or 0), (unit, label)
        bram36 = float(figures[1].replace(",", ""))
        label = re.sub(r"^\d+->\d+ engine: ", "", label)
        found = [(rx, f) for rx, f in DSP_LABELS if re.search(rx, label)]
        if found:
            rx, f = found[0]
            value, widths_ok = f(*ints(*re.search(rx, label).groups()))
            assert (value, widths_ok) == (dsp, True), (unit, label)
        else:
            assert dsp == 0, (unit, label)
        bram18 = bram18_of_label(label)
        if (luts := lutram_of_label(label)) is not None:
            assert (lut, ff) == (luts, 0), (unit, label)
        if axi := re.fullmatch(r"([\d,]+) AXI masters? x \(([\d,]+) LUT, ([\d,]+) FF: "
                               r"estimates\)", label):
            n, lut1, ff1 = ints(*axi.groups())
            assert (lut, ff) == (n * lut1, n * ff1)
        if fifo := re.match(r"[\d,]+ (?:read|write) data FIFOs? \((\d+) outstanding x "
                            r"(\d+)-beat bursts\): .*\(([\d,]+) x ([\d,]+) b", label):
            # UG1399: a FIFO of outstanding x burst words of the port's width
            outstanding, burst, rows, width = ints(*fifo.groups())
            assert (rows, width) == (outstanding * burst, units.axi_bits), label
        if memories := re.search(r"; row and γ/β memories in (\d+) BRAM18 \(", label):
            bram18 = int(memories.group(1))  # as synthesized (test_layernorm_pricing)
        if (flops := registers_of_label(label)) is not None:
            assert (lut, ff) == (0, flops), (unit, label)
        assert bram36 == (bram18 or 0) / 2, (unit, label)


@pytest.mark.parametrize("techniques, asks", [
    (Techniques(), 32 * 300e6 / 1e9),  # reordered: one 256-bit beat per 300 MHz cycle
    # not reordered: each of p = 4 slots streams its own keys, ceil(N / 4) x N x 24 compute
    # cycles for N x N tokens of 768 B
    (Techniques(attention_reorder=False), N * N * D * 4 / (math.ceil(N / 4) * N * 24) * 0.3)])
def test_explain_says_what_the_attention_stream_asks_of_the_port(techniques, asks):
    design = FpgaDesign(name="t", board="zcu102", configs={"c": techniques})
    text = explain(design, "c", Units())
    # ZCU102's HP ports are 128 bits wide: 16 B per 300 MHz cycle = 4.8 GB/s
    assert f"attention stream: asks {asks:.2f} GB/s of one AXI port, which gives 4.80 GB/s" in text


def test_a_changed_technique_is_named_in_parentheses_before_the_board():
    # "config baseline with attention_reorder on on zcu102": the technique's "on" ran into the board's
    reordered = dataclasses.replace(BASELINE, attention_reorder=True)
    first = explain(DESIGN, "baseline", Units(), reordered).splitlines()[0]
    assert first.startswith("t: config baseline (with attention_reorder on) on zcu102 (")
    assert " on on " not in first
    assert explain(DESIGN, "baseline", Units()).startswith("t: config baseline on zcu102 (")
