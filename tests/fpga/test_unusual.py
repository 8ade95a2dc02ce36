"""Unusual but valid fpga designs: workloads and units far from M3ViT's defaults are explained
with the figures explore writes for them, their counts follow the parameters they depend on, and
their labels stay sensible (found by trying them, see each test's comment)."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest

from fpga import area
from fpga.explain import explain
from fpga.explore import Point, row
from fpga.spec import FpgaDesign, Techniques, Units
from fpga.workload import ViTSpec

FINAL = Techniques()
BASELINE = Techniques(False, False, False, False, False)


def design(workload: ViTSpec | None = None, units: Units | None = None) -> FpgaDesign:
    return FpgaDesign(name="u", board="zcu102", workload=workload or ViTSpec(),
                      units=units or Units(),
                      configs={"final": FINAL, "baseline": BASELINE})


def figures(text: str) -> dict[str, float]:
    """The headline figures and the resource total an explanation prints."""
    head = re.search(r"^latency ([\d.]+) ms per image .*, ([\d.]+) W, ([\d.]+) J$", text, re.M)
    ddr = re.search(r"^DDR ([\d.]+) MB per image \(([\d.]+) GB/s", text, re.M)
    total = next(line for line in text.splitlines() if line.startswith("total ")).split()[1:5]
    dsp, bram36, lut, ff = (float(x.replace(",", "")) for x in total)
    return {"latency_ms": float(head[1]), "power_w": float(head[2]), "energy_j": float(head[3]),
            "ddr_mb": float(ddr[1]), "dsp": dsp, "bram36": bram36, "lut": lut, "ff": ff}


UNUSUAL = {
    "no MoE layer": (ViTSpec(moe_every=13), Units()),
    "every layer MoE": (ViTSpec(moe_every=1), Units()),
    "one layer": (ViTSpec(layers=1, moe_every=1), Units()),
    "one head": (ViTSpec(heads=1), Units()),
    "4 heads of 48": (ViTSpec(heads=4), Units(attn_lanes=40)),
    "192 heads of 1": (ViTSpec(heads=192), Units()),
    "top_k = experts": (ViTSpec(experts=4, top_k=4), Units()),
    "one expert": (ViTSpec(experts=1, top_k=1), Units()),
    "one patch": (ViTSpec(image_h=16, image_w=16), Units(attn_p=2)),
    "d_model 190": (ViTSpec(d_model=190, heads=5), Units(attn_lanes=7)),
    "hidden < d_model": (ViTSpec(mlp_hidden=64, expert_hidden=32), Units()),
    "16-bit activations": (ViTSpec(), Units(act_bits=16)),
    "64-bit AXI, no ping/pong": (ViTSpec(), Units(axi_bits=64, ping_pong=False)),
    "1 MHz": (ViTSpec(), Units(clock_mhz=1)),
}


@pytest.mark.parametrize("name", list(UNUSUAL))
@pytest.mark.parametrize("config", ["final", "baseline"])
def test_explain_prints_the_row_explore_writes(name, config):
    workload, units = UNUSUAL[name]
    d = design(workload, units)
    t = d.configs[config]
    r = row(d, Point("config", config, t, units.attn_p, (units.linear_in_par,
                                                          units.linear_out_par)))
    shown = figures(explain(d, config, units, t))
    assert shown["latency_ms"] == pytest.approx(r["latency_ms"], abs=0.006)
    assert shown["power_w"] == pytest.approx(r["power_w"], abs=0.006)
    assert shown["energy_j"] == pytest.approx(r["energy_j"], abs=6e-5)
    assert shown["ddr_mb"] == pytest.approx(r["ddr_mb"], abs=0.06)
    assert (shown["dsp"], shown["bram36"], shown["lut"], shown["ff"]) == (
        r["dsp"], r["bram36"], r["lut"], r["ff"])


def test_a_workload_without_moe_layers_has_no_gate():
    # moe_every 13 > 12 layers: no layer routes tokens, yet the 128-MAC gate (256 DSP) and its
    # 16 x 192 weights (57 BRAM18) were counted. Without it the final design has
    # linear 16 x 16 x 2 + 16 GELU lanes, attention 2 x 4 x 8 x 4, softmax 4 x 20, patch 256
    # and LayerNorm 8 x 12 + 10 DSP (rtl layernorm: per lane x², d·x, D·r, n·γ; d·S2 and S1²);
    # BRAM18: linear 2 x 228 and patch 228 (576 rows of 4,096 b: 114 x 2 of 512 x 36 b), the
    # AXI data FIFOs (UG1399: 16 outstanding x 16-beat bursts = 256 words of 256 b, 8 BRAM18
    # of 512 x 36 side by side): a read FIFO on each of the 5 masters, a write FIFO on the 4
    # that write (the token caches and LayerNorm's memories, 24 words of 256 b, are LUT-RAM:
    # 19 RAM32M16 cost 16 x 256 / 14 = 293 against 8 BRAM18 x 129).
    d = design(ViTSpec(moe_every=13))
    text = explain(d, "final", d.units)
    assert figures(text)["dsp"] == 512 + 16 + 256 + 80 + 256 + 8 * 12 + 10 == 1226
    assert figures(text)["bram36"] == (2 * 228 + 228 + (5 + 4) * 8) / 2 == 378
    assert not re.search(r"^gate ", text, re.M)
    assert area.unit_resources(d, FINAL)["gate"].dsp == 0
    # one MoE layer is enough to need it
    with_moe = design(ViTSpec(moe_every=12))
    assert area.unit_resources(with_moe, FINAL)["gate"].dsp == 128 * 2


def test_gelu_multiply_width_is_never_negative():
    # act_bits 8 printed a "-1 x 17 b multiply" in the GELU lane's label
    for bits in (2, 8, 9, 10):
        lane = area.gelu_lane(Units(act_bits=bits, weight_bits=8), True, design().math)
        width = int(re.search(r"(-?\d+) x 17 b multiply", lane.label)[1])
        assert width == max(1, bits - 9) and lane.resources.dsp == 1


def test_sixteen_bit_activations_are_estimated_not_marked_synthesized():
    # xcup_units.csv holds the 32-bit (Q10.22) units only; at 16 bits a GELU lane is the per-bit
    # estimate: a 177 x 22 b LUT6-RAM table (ceil(177 x 22 / 64) = 61 LUT) + 3 LUT per bit.
    # Only the patch embedding (pixel x weight: no activation operand) stays synthesized.
    d = design(units=Units(act_bits=16))
    text = explain(d, "final", d.units)
    marked = [line.split()[0] for line in text.splitlines() if "[LUT/FF synthesized]" in line]
    assert marked == ["patch_embed", "[LUT/FF"]  # the patch MACs and the legend
    gelu = next(line for line in text.splitlines() if "fused GELU lanes" in line).split()
    assert gelu[2] == f"{16 * (math.ceil(177 * 22 / 64) + 3 * 16):,}"


def test_the_header_counts_one_of_a_thing_in_the_singular():
    # "1 query slots x 1 lanes; gate 1 MACs", "e of 1 experts hit"
    units = Units(attn_p=1, attn_lanes=1, gate_macs=1, layernorm_lanes=1, add_lanes=1,
                  patch_embed_macs=1)
    d = design(ViTSpec(experts=1, top_k=1), units)
    text = explain(d, "final", units)
    assert ("units: attention p = 1 query slot x 1 lane; gate 1 MAC; LayerNorm 1 lane; add 1 "
            "lane;\n  patch embedding 1 MAC;") in text
    assert "MoE e: e of 1 expert hit; 129 tokens x top-1 = 129 token-expert pairs" in text


@pytest.mark.parametrize("heads", [1, 2, 3, 4, 6, 12, 48, 192])
def test_softmax_units_follow_the_heads_a_slot_finishes_per_cycle(heads):
    # a slot's 8 lanes cover 8 of the d_model = 192 dimensions a cycle: they end at most
    # ceil(8 / head_dim) heads (heads head_dim apart), and never more than there are heads
    head_dim = 192 // heads
    per_slot = min(heads, -(-8 // head_dim))
    d = design(ViTSpec(heads=heads))
    softmax = area.unit_resources(d, FINAL)["softmax"]
    assert softmax.dsp == 4 * per_slot * (10 + 10)


def test_more_parallelism_is_never_slower_on_unusual_workloads():
    for workload in (ViTSpec(heads=4), ViTSpec(image_h=32, image_w=32), ViTSpec(moe_every=1)):
        d = design(workload)
        for field, values in (("attn_lanes", (1, 3, 8, 13, 48)), ("attn_p", (1, 2, 3, 5)),
                              ("linear_in_par", (1, 3, 16, 17))):
            latency = []
            for v in values:
                u = replace(d.units, **{field: v})
                point = Point("config", "final", FINAL, u.attn_p,
                              (u.linear_in_par, u.linear_out_par))
                latency.append(row(replace(d, units=u), point)["latency_ms"])
            assert all(b <= a for a, b in zip(latency, latency[1:], strict=False)), (field,
                                                                                      latency)


def test_the_softmax_multiplies_follow_the_activation_width():
    # exp(s - b) is a fraction in [0, 1] of the activation format: 1 + (act_bits - 10) bits
    # (23 for Q10.22). The normaliser multiplies it by 1/sum (31 bits), the running unit's
    # rescale multiplies the act_bits-wide sum by it; both stayed 23 bits wide at any act_bits.
    # On the 27 x 18 DSP48E2: 23 x 31 = 2 x 2, 7 x 31 and 15 x 31 = 2, 32 x 23 = 2 x 2,
    # 24 x 15 and 16 x 7 = 1. exp: z x log2 e (act_bits + 1) x 31 = 2 x 2 at 32 and 24 bits,
    # 2 at 16; the interpolation 31 x 16 = 2.
    for bits, exp, rescale, times in ((32, 4 + 2, 4, 4), (24, 4 + 2, 1, 2), (16, 2 + 2, 1, 2)):
        u = Units(act_bits=bits)
        assert area.running_softmax_unit(u).resources.dsp == exp + rescale, bits
        assert area.normalise_unit(u).resources.dsp == exp + times, bits


@pytest.mark.slow
@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("unit, lane", [("softmax", area.running_softmax_unit),
                                        ("normalise", area.normalise_unit)])
def test_narrower_softmax_units_have_the_dsps_yosys_infers(tmp_path, unit, lane, bits):
    # rtl's units at act_bits with Edge-MoE's 10 integer bits: the DSP48E2 cells yosys infers
    # for them equal the model's operand tiling (8 and 10 normaliser DSP were counted before).
    from rtl.synth import estimate
    from rtl.units import build_unit

    built = build_unit(unit, {"total_bits": bits, "frac_bits": bits - 10})
    found = estimate(built, None, unit, tmp_path, family="xcup")
    assert found.dsps == lane(Units(act_bits=bits)).resources.dsp


def test_a_workload_too_large_to_route_is_refused_and_routing_is_drawn_once():
    # image_h: 100000000 ran for ever: the routing model draws every token's experts.
    from fpga.workload import MAX_PATCHES, Routing, route

    big = ViTSpec(image_h=4096 * 2, image_w=4096)  # 512 x 256 = 131,072 patches of 16 x 16
    assert big.patches == 2 * MAX_PATCHES
    assert [key for key, _ in big.problems()] == ["patch"]
    assert ViTSpec(image_h=4096, image_w=4096).problems() == []
    spec = ViTSpec()
    assert route(spec, Routing(), 1) is route(spec, Routing(), 1)  # every point shares it


def test_the_linear_limit_counts_only_the_mlps_the_layers_have():
    # with every layer MoE the widest linear layer is the expert's 384, not the dense 768
    from fpga.spec import parallelism_limits

    assert parallelism_limits(ViTSpec(moe_every=1))["linear_in_par"][0] == 384
    assert parallelism_limits(ViTSpec(moe_every=13))["linear_in_par"][0] == 768  # no MoE layer
    assert parallelism_limits(ViTSpec())["linear_in_par"][0] == 768


def test_a_workload_with_too_many_expert_calls_or_layers_is_refused(tmp_path):
    # layers: 1000000 ran for more than 5 minutes; top_k 4096 of 4096 experts took 88 s a point
    # without patch reordering (every (token, expert) pair is a call of its own)
    from attnforge.specload import SpecError, load_spec
    from fpga.spec import FpgaDesign
    from fpga.workload import MAX_EXPERT_PAIRS

    wide = ViTSpec(experts=4096, top_k=4096)
    assert wide.expert_pairs == 129 * 4096 * 6  # tokens x top_k x the 6 odd layers
    assert [key for key, _ in wide.problems()] == ["top_k"]
    assert ViTSpec(layers=12, moe_every=1).expert_pairs == 129 * 2 * 12
    assert ViTSpec().expert_pairs <= MAX_EXPERT_PAIRS
    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nkind: fpga\nname: w\nboard: zcu102\n"
                    "workload: {layers: 1000000}\n")
    with pytest.raises(SpecError, match=r"d\.yaml:5:20: workload\.layers: must be at most 1024"):
        load_spec(path, FpgaDesign)


def test_read_only_masters_are_some_of_the_masters(tmp_path):
    # the write data FIFOs are counted on axi_masters - axi_read_only_masters: more read-only
    # masters than masters would be a negative count
    from attnforge.specload import SpecError, load_spec

    path = tmp_path / "d.yaml"
    path.write_text("version: 1\nkind: fpga\nname: w\nboard: zcu102\n"
                    "units: {axi_masters: 2, axi_read_only_masters: 3}\n")
    with pytest.raises(SpecError, match=r"d\.yaml:5:48: units\.axi_read_only_masters: must be "
                                        r"at most axi_masters \(2\), not 3"):
        load_spec(path, FpgaDesign)
    # all read-only: no write FIFO line, 2 read FIFOs of 256 x 256 b (8 BRAM18 each)
    items = area.axi_items(Units(axi_masters=2, axi_read_only_masters=2))
    assert [i.resources.bram18 for i in items] == [0, 2 * 8]
