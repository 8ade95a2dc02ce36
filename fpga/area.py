"""Resources of each unit as functions of its parameters (see fpga/resources.py for primitives).

Unit by unit (defaults in brackets):
- unified linear unit: in_par x out_par MACs of act_bits x weight_bits [256 x (32x16) = 2 DSP
  each]; ping + pong weight buffers sized for the largest layer and wide enough to feed every
  MAC each cycle; fused GELU lanes (out_par of them).
- dedicated engines (no unified unit): one MAC array and one weight buffer per linear shape.
- attention: a Q·K array and an A·V array of p x lanes MACs of act_bits x act_bits [32 x (32x32)
  = 4 DSP each]; p + 1 cached tokens per array.
- single-pass softmax: one running (max, sum) unit per (query slot, head) — exp (two multiplies),
  rescale multiply, reciprocal divider — and in A·V one exp plus one multiply per (slot, head).
- three-pass softmax: ``math.lanes`` conventional exp + add + divide datapaths.
- GELU: approximate lanes (one small multiply + a 177-entry table) or exact float lanes.
- gate (gate_macs MACs), LayerNorm (lanes x three multiplies + one rsqrt), residual add (adders),
  patch embedding (pixel x weight MACs and its on-chip weights), AXI masters.
"""

from __future__ import annotations

import math

from fpga.resources import Resources, axi_masters, bram_buffer, dsp_per_mult, mac_array
from fpga.schedule import Plan, linear_shapes, plan
from fpga.spec import ConventionalMath, FpgaDesign, Techniques, Units
from fpga.workload import ViTSpec

GELU_TABLE_ENTRIES = 177  # step 1/32 over [0, 5.5]
DIVIDER_LUT = 400  # iterative restoring divider, ~62-bit datapath (estimate)


def linear_engine(u: Units, spec: ViTSpec, engine: tuple[int, int], shapes, buffers: int,
                  gelu_lanes: int, gelu: Resources) -> Resources:
    """One linear engine with ``buffers`` weight buffers for the largest of ``shapes``."""
    in_par, out_par = engine
    macs = mac_array(in_par * out_par, u.act_bits, u.weight_bits, u.act_bits)
    words = max(k * n for k, n in shapes)
    bram = buffers * bram_buffer(words, u.weight_bits, in_par * out_par)
    row_cache = Resources(ff=max(k for k, _ in shapes) * u.act_bits)
    return macs + Resources(bram18=bram) + row_cache + gelu.scaled(gelu_lanes)


def gelu_lane(u: Units, approx: bool, m: ConventionalMath) -> Resources:
    """One GELU lane: the table approximation or an exact float datapath."""
    if approx:
        table_lut = math.ceil(GELU_TABLE_ENTRIES * 22 / 64)  # LUT6 as 64x1 RAM
        return Resources(dsp=dsp_per_mult(u.act_bits - 9, 17), lut=table_lut + 3 * u.act_bits,
                         ff=4 * u.act_bits)
    fmul, fadd = 11, 7  # operators of erf (A&S 7.1.26) plus GELU's own
    return Resources(dsp=fmul * m.fmul_dsp + fadd * m.fadd_dsp + m.fexp_dsp,
                     lut=(fmul + fadd + 3) * m.fop_lut + m.fdiv_lut, ff=(fmul + fadd + 4) * 600)


def attention(u: Units, spec: ViTSpec) -> Resources:
    """Q·K and A·V arrays with their token caches."""
    array = mac_array(u.attn_p * u.attn_lanes, u.act_bits, u.act_bits, u.act_bits)
    words = math.ceil(spec.d_model / u.attn_lanes)
    cache = bram_buffer(words, u.attn_lanes * u.act_bits, 1) * (u.attn_p + 1)
    return (array + Resources(bram18=cache)).scaled(2)


def softmax(u: Units, spec: ViTSpec, t: Techniques, m: ConventionalMath) -> Resources:
    """Single-pass units per (slot, head), or the conventional three-pass datapath."""
    if t.single_pass_softmax:
        exp = Resources(dsp=dsp_per_mult(u.act_bits + 1, 31) + dsp_per_mult(31, 16),
                        lut=6 * u.act_bits, ff=8 * u.act_bits)
        running = exp + Resources(dsp=dsp_per_mult(u.act_bits, 23), lut=DIVIDER_LUT + 64,
                                  ff=4 * u.act_bits)
        normalise = exp + Resources(dsp=dsp_per_mult(23, 31), ff=2 * u.act_bits)
        return (running + normalise).scaled(u.attn_p * spec.heads)
    lane = Resources(dsp=2 * m.fadd_dsp + m.fexp_dsp + m.fmul_dsp,
                     lut=4 * m.fop_lut + m.fdiv_lut, ff=4000)
    return lane.scaled(m.lanes)


def others(u: Units, spec: ViTSpec) -> dict[str, Resources]:
    """Gate, LayerNorm, residual add, patch embedding, AXI masters."""
    d = spec.d_model
    gate = mac_array(u.gate_macs, u.act_bits, u.weight_bits, u.act_bits) + Resources(
        bram18=bram_buffer(spec.experts * d, u.weight_bits, u.gate_macs))
    ln_lane = Resources(dsp=2 * dsp_per_mult(u.act_bits, u.act_bits)
                        + dsp_per_mult(u.act_bits, u.weight_bits), lut=3 * u.act_bits,
                        ff=6 * u.act_bits)
    layernorm = ln_lane.scaled(u.layernorm_lanes) + Resources(
        dsp=dsp_per_mult(u.act_bits, u.act_bits) * 3, lut=1500, ff=2000,
        bram18=bram_buffer(d, u.act_bits, u.layernorm_lanes))
    add = Resources(lut=u.add_lanes * u.act_bits, ff=3 * u.add_lanes * u.act_bits)
    k = spec.image_c * spec.patch**2
    patch = mac_array(u.patch_embed_macs, u.pixel_bits, u.weight_bits, u.act_bits) + Resources(
        bram18=bram_buffer(k * d, u.weight_bits, u.patch_embed_macs))
    return {"gate": gate, "layernorm": layernorm, "add": add, "patch_embed": patch,
            "axi": axi_masters(u.axi_masters)}


def design_resources(u: Units, spec: ViTSpec, t: Techniques, m: ConventionalMath, p: Plan,
                     shapes) -> dict[str, Resources]:
    """Resources of every unit of the design, by unit name."""
    gelu = gelu_lane(u, t.gelu_approx, m)
    if t.unified_linear:
        linear = linear_engine(u, spec, (u.linear_in_par, u.linear_out_par), shapes,
                               2 if u.ping_pong else 1, u.linear_out_par, gelu)
        gelu_unit = Resources()
    else:
        linear = Resources()
        for shape in shapes:
            linear = linear + linear_engine(u, spec, p.engines[shape], [shape], 1, 0, gelu)
        gelu_unit = gelu.scaled(u.linear_out_par if t.gelu_approx else m.lanes)
    parts = {"linear": linear, "gelu": gelu_unit, "attention": attention(u, spec),
             "softmax": softmax(u, spec, t, m)}
    parts.update(others(u, spec))
    return parts


def unit_resources(design: FpgaDesign, t: Techniques, u: Units | None = None
                   ) -> dict[str, Resources]:
    """`design_resources` of ``design`` with techniques ``t`` on units ``u`` (default the
    design's): its engines planned as the schedule plans them."""
    u = u or design.units
    spec = design.workload
    return design_resources(u, spec, t, design.math, plan(spec, u, t, design.math),
                            linear_shapes(spec))
