"""`fpga.explain`: the unit-by-unit resources and the per-layer latency add up, and their figures
match counts derived here from the paper's unit descriptions (edgemoe.md §3-4)."""

from __future__ import annotations

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


def resource_rows(text: str) -> dict[str, list[int]]:
    """DSP of every item line, by unit (a unit's later lines have a blank unit column)."""
    block = text.split("resources, unit by unit:\n")[1].splitlines()[1:]
    rows: dict[str, list[int]] = {}
    unit = ""
    for line in block:
        if line.startswith("total"):
            break
        unit = line[:12].strip() or unit
        rows.setdefault(unit, []).append(int(line[12:19].replace(",", "")))
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
        name = re.match(r"(patch embedding|layer \d+ \([^)]*\))", line).group(1)
        numbers = line[len(name):].split()
        out.append((name, float(numbers[0]), float(numbers[-1])))
    return out


@pytest.mark.parametrize("config", ["final", "baseline"])
def test_stages_add_up_to_the_latency_and_traffic(config):
    text = explain(DESIGN, config, Units())
    r = evaluate(DESIGN, DESIGN.configs[config])
    rows = stage_rows(text)
    assert [name.split(" (")[0] for name, _, _ in rows] == (
        ["patch embedding"] + [f"layer {i}" for i in range(LAYERS)])
    # each stage is rounded to 0.001 ms and 0.01 MB
    assert sum(ms for _, ms, _ in rows) == pytest.approx(r.latency_ms, abs=0.001 * len(rows))
    assert sum(mb for _, _, mb in rows) == pytest.approx(r.ddr_mb, abs=0.01 * len(rows))


def test_moe_layers_name_their_experts_and_pairs():
    spec = ViTSpec()
    for name, _, _ in stage_rows(explain(DESIGN, "final", Units())):
        layer = re.match(r"layer (\d+)", name)
        if not layer:
            continue
        i = int(layer.group(1))
        if i % 2 == 0:
            assert name.endswith("(dense)")
        else:
            counts = route(spec, DESIGN.routing, i)
            hit = sum(1 for c in counts if c > 0)
            assert name.endswith(f"(MoE, {hit} experts, {2 * N} pairs)")


def test_a_dense_layers_qk_is_the_reordered_stream_over_the_narrowed_port():
    # edgemoe.md §3.5: ceil((N + p - 1) / p) batches each stream the N key tokens (d 32-bit
    # values) once; ZCU102's PL reaches DDR through 128-bit HP ports, 16 B per 300 MHz cycle,
    # which this stream (one 256-bit beat per compute cycle) saturates; plus the first-beat
    # latency (200 ns = 60 cycles).
    text = explain(DESIGN, "final", Units())
    head = text.split("stage (ms)")[1].splitlines()[0].split()
    layer0 = next(line for line in text.splitlines() if line.startswith("layer 0 (dense)"))
    qk = float(layer0.split(")")[1].split()[head.index("qk")])
    cycles = math.ceil((N + 3) / 4) * N * D * 4 / 16 + 60
    assert qk == pytest.approx(cycles / 300e3, abs=0.0005)


def test_an_overflowing_point_says_what_overflows():
    text = explain(DESIGN, "final", Units(attn_p=16))
    # p = 16: attention 2 x 16 x 8 x 4, softmax 16 x 3 heads x 20 (edgemoe.md units, docs)
    dsp = 16 * 16 * 2 + 16 + 2 * 16 * 8 * 4 + 16 * HEADS * 20 + 256 + 256 + 92
    assert f"does not fit zcu102: DSP {dsp:,} > 2,520 (+{dsp - 2520:,})" in text
    assert "fits zcu102" not in text.replace("does not fit zcu102", "")


def test_header_names_the_engines_that_replace_the_unified_unit():
    text = explain(DESIGN, "baseline", Units())
    # five distinct linear shapes (d->d, d->4d, 4d->d, d->2d, 2d->d) share 256 MACs: 32 each
    assert "5 dedicated linear engines" in text
    assert text.count("on 4 x 8") == 5
    assert "unified linear 16 x 16 ping/pong" in explain(DESIGN, "final", Units())
