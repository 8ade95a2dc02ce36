"""Resources of each unit as functions of its parameters (see fpga/resources.py for primitives).

Every unit is a tuple of labelled :class:`~fpga.resources.Item` s whose labels say how each
count is built (what `attnforge explain` prints); a unit's resources are their sum.

Unit by unit (defaults in brackets):
- unified linear unit: in_par x out_par MACs of act_bits x weight_bits [256 x (32x16) = 2 DSP
  each]; ping + pong weight buffers sized for the largest layer and wide enough to feed every
  MAC each cycle; fused GELU lanes (out_par of them).
- dedicated engines (no unified unit): one MAC array and one weight buffer per linear shape.
- attention: a Q·K array and an A·V array of p x lanes MACs of act_bits x act_bits [32 x (32x32)
  = 4 DSP each]; p + 1 cached tokens per array.
- single-pass softmax: running (max, sum) units — exp (two multiplies), rescale multiply,
  reciprocal divider — and normalisers in A·V (exp + one multiply), as many per query slot as
  head scores it can finish in a cycle (`heads_per_cycle`: one at 8 lanes and 64-dim heads); the
  other heads' running state in a memory per slot.
- three-pass softmax: ``math.lanes`` conventional exp + add + divide datapaths.
- GELU: approximate lanes (one small multiply + a 177-entry table) or exact float lanes.
- LayerNorm: rtl ``layernorm`` (single pass, exact sums, rsqrt recurrence): per lane x², d·x,
  D·r, n·γ; d·S2 and S1² once; its DSPs tiled from those products, LUT/FF/BRAM synthesized.
- gate (gate_macs MACs), residual add (adders), patch embedding (pixel x weight MACs and its
  on-chip weights), AXI masters.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

from fpga.golden.layernorm import LayerNormFormat
from fpga.resources import (
    AXI_MASTER_FF,
    AXI_MASTER_LUT,
    Item,
    Resources,
    axi_adapter_logic,
    buffer_item,
    dsp_per_mult,
    mac_item,
    total,
)
from fpga.schedule import Plan, linear_shapes, plan
from fpga.spec import ConventionalMath, FpgaDesign, Techniques, Units
from fpga.synthesized import layernorm_lut_ff, mac_block_lut_ff, synthesized
from fpga.units import PATCH_COLUMNS, layernorm_format
from fpga.workload import ViTSpec

GELU_TABLE_ENTRIES = 177  # step 1/32 over [0, 5.5]
DIVIDER_LUT = 400  # iterative restoring divider, ~62-bit datapath (estimate)

Unit = tuple[Item, ...]


SYNTHESIZED = "LUT/FF synthesized"  # an Item.source: rtl/'s unit, yosys, UltraScale+


def synthesized_or_estimated(estimate: Resources, unit: str, act_bits: int
                             ) -> tuple[Resources, str]:
    """``estimate`` with its LUTs and flip-flops replaced by those of rtl/'s ``unit``
    synthesized for UltraScale+ when tabulated at ``act_bits`` (`fpga.synthesized`), and the
    Item source saying so ("" for the estimate). DSPs and BRAM stay as counted."""
    found = synthesized(unit, act_bits)
    if found is None:
        return estimate, ""
    return replace(estimate, lut=found.lut, ff=found.ff), SYNTHESIZED


def mac_block_item(label: str, in_par: int, out_par: int, a_bits: int, b_bits: int,
                   copies: int = 1) -> Item:
    """`mac_item` of ``copies`` blocks of ``in_par x out_par`` MACs (in_par inputs broadcast
    to out_par adder-tree columns: rtl ``linear``), its LUTs and flip-flops those of the
    synthesized blocks when its operand widths were tabulated (at any in_par and out_par: see
    `fpga.synthesized.mac_block_lut_ff`), else the per-bit estimate."""
    item = mac_item(label, copies * in_par * out_par, a_bits, b_bits, a_bits)
    found = mac_block_lut_ff(in_par, out_par, a_bits, b_bits)
    if found is None:
        return item
    lut, ff = found
    return Item(item.label, replace(item.resources, lut=copies * lut, ff=copies * ff),
                SYNTHESIZED)


def linear_engine(u: Units, engine: tuple[int, int], shapes, buffers: int, gelu_lanes: int,
                  gelu: Item, name: str = "") -> Unit:
    """One linear engine with ``buffers`` weight buffers for the largest of ``shapes``."""
    in_par, out_par = engine
    words = max(k * n for k, n in shapes)
    biggest = max(shapes, key=lambda s: s[0] * s[1])
    row = max(k for k, _ in shapes)
    what = f"{name}: " if name else ""
    items = (mac_block_item(f"{what}in x out = {in_par:,} x {out_par:,} MACs", in_par, out_par,
                            u.act_bits, u.weight_bits),
             buffer_item(f"{what}{buffers} weight buffer{_s(buffers)} "
                         f"({biggest[0]} x {biggest[1]})", buffers, words, u.weight_bits,
                         in_par * out_par, u.linear_weight_storage == "ultra_ram"),
             buffer_item(f"{what}input row cache ({row} x {u.act_bits} b)", 1, row, u.act_bits,
                         in_par))
    if gelu_lanes:
        items += (gelu.scaled(gelu_lanes, f"{gelu_lanes:,} fused GELU lane{_s(gelu_lanes)}"),)
    return items


def fraction_bits(u: Units) -> int:
    """Bits of a value in [0, 1] in the activation format with Edge-MoE's 10 integer bits
    (an exp result, a GELU table step): 1 + (act_bits - 10), 23 for Q10.22, at least 1."""
    return max(1, u.act_bits - 9)


def gelu_lane(u: Units, approx: bool, m: ConventionalMath) -> Item:
    """One GELU lane: the table approximation (rtl ``gelu``) or an exact float datapath."""
    if approx:
        table_lut = math.ceil(GELU_TABLE_ENTRIES * 22 / 64)  # LUT6 as 64x1 RAM
        width = fraction_bits(u)
        mult = dsp_per_mult(width, 17)
        lane, source = synthesized_or_estimated(
            Resources(dsp=mult, lut=table_lut + 3 * u.act_bits, ff=4 * u.act_bits), "gelu",
            u.act_bits)
        return Item(f"{GELU_TABLE_ENTRIES} x 22 b LUT-RAM table, {width} x 17 b "
                    f"multiply: {mult} DSP", lane, source)
    fmul, fadd = 11, 7  # operators of erf (A&S 7.1.26) plus GELU's own
    return Item(f"float: {fmul} fmul x {m.fmul_dsp} + {fadd} fadd x {m.fadd_dsp} + "
                f"fexp {m.fexp_dsp} DSP, fdiv",
                Resources(dsp=fmul * m.fmul_dsp + fadd * m.fadd_dsp + m.fexp_dsp,
                          lut=(fmul + fadd + 3) * m.fop_lut + m.fdiv_lut,
                          ff=(fmul + fadd + 4) * 600))


def attention(u: Units, spec: ViTSpec) -> Unit:
    """Q·K and A·V arrays with their token caches."""
    words = math.ceil(spec.d_model / u.attn_lanes)
    width = u.attn_lanes * u.act_bits
    out: Unit = ()
    macs = f"p x lanes = {u.attn_p:,} x {u.attn_lanes:,} MACs"
    a = u.act_bits
    # Q·K: the streamed key's lanes feed one adder tree per query slot (p columns);
    # A·V: per slot, each of the value's lanes accumulates probability x value (no tree).
    arrays = {"Q·K": mac_block_item(f"Q·K: {macs}", u.attn_lanes, u.attn_p, a, a),
              "A·V": mac_block_item(f"A·V: {macs}", 1, u.attn_lanes, a, a, copies=u.attn_p)}
    for product, array in arrays.items():
        out += (array,
                buffer_item(f"{product}: p + 1 = {u.attn_p + 1:,} token caches", u.attn_p + 1,
                            words, width, 1))
    return out


def exp_dsp(u: Units) -> int:
    """DSPs of one fixed-point exp: z x log2 e and the table interpolation multiply."""
    return dsp_per_mult(u.act_bits + 1, 31) + dsp_per_mult(31, 16)


def running_softmax_unit(u: Units) -> Item:
    """One single-pass unit (rtl ``softmax``): exp, the rescale multiply of the running sum
    (act_bits x `fraction_bits`), and the reciprocal divider at the row's end."""
    rescale = dsp_per_mult(u.act_bits, fraction_bits(u))
    res, source = synthesized_or_estimated(
        Resources(dsp=exp_dsp(u) + rescale, lut=6 * u.act_bits + DIVIDER_LUT + 64,
                  ff=12 * u.act_bits), "softmax", u.act_bits)
    return Item(f"exp {exp_dsp(u)} + rescale {rescale} DSP, a reciprocal divider", res, source)


def normalise_unit(u: Units) -> Item:
    """One normaliser in A·V (rtl ``normalise``): exp(s - b) (`fraction_bits`) times 1/sum
    (31 bits)."""
    times = dsp_per_mult(fraction_bits(u), 31)
    res, source = synthesized_or_estimated(
        Resources(dsp=exp_dsp(u) + times, lut=6 * u.act_bits, ff=10 * u.act_bits), "normalise",
        u.act_bits)
    return Item(f"exp {exp_dsp(u)} + x 1/sum {times} DSP", res, source)


def heads_per_cycle(u: Units, spec: ViTSpec) -> int:
    """Most head scores one query slot completes in a cycle: its ``attn_lanes`` dimensions a
    cycle hold at most ceil(lanes / head_dim) ends of heads (heads are head_dim apart)."""
    return min(spec.heads, math.ceil(u.attn_lanes / spec.head_dim))


def softmax(u: Units, spec: ViTSpec, t: Techniques, m: ConventionalMath) -> Unit:
    """Single-pass units sized to the scores' arrival rate (`heads_per_cycle` per query slot,
    the other heads' running state in a memory beside each), or the three-pass datapath."""
    if t.single_pass_softmax:
        per_slot = heads_per_cycle(u, spec)
        units = u.attn_p * per_slot
        share = (f"p x ceil(lanes / head dim) = {u.attn_p:,} x ceil({u.attn_lanes:,} / "
                 f"{spec.head_dim}) = {units:,} unit{_s(units)}")
        items = (running_softmax_unit(u).scaled(units, f"running max and sum: {share}"),
                 normalise_unit(u).scaled(units, f"normalise in A·V: {units:,}"))
        shared = spec.heads - per_slot
        if shared:  # a slot's unit reads and writes one head's (max, sum) at a time
            items += (buffer_item(f"running (max, sum) of the other {shared} head{_s(shared)}: "
                                  f"{u.attn_p:,} slot memor{'y' if u.attn_p == 1 else 'ies'}",
                                  u.attn_p, shared * 2, u.act_bits, 2),)
        return items
    lane = Resources(dsp=2 * m.fadd_dsp + m.fexp_dsp + m.fmul_dsp,
                     lut=4 * m.fop_lut + m.fdiv_lut, ff=4000)
    return (Item(f"three-pass float: {m.lanes:,} lane{_s(m.lanes)} x (2 fadd x {m.fadd_dsp} + "
                 f"fexp {m.fexp_dsp} + fmul {m.fmul_dsp} DSP, fdiv)",
                 lane.scaled(m.lanes)),)


def _gate_macs(u: Units, spec: ViTSpec) -> Item:
    """The gate's MACs: one adder-tree column per expert, the gate_macs inputs dealt among them
    as evenly as they go (gate_macs mod experts columns have one input more; the narrowest
    sets a token's cycles, `fpga.units.gate_call`); fewer MACs than experts are single-input
    columns, each serving several experts in turn. A column's synthesized cost is linear in its
    inputs between the tabulated counts (`fpga.synthesized.mac_block_lut_ff`), so columns of
    n and n + 1 inputs cost what that many columns of their mean, gate_macs / experts, do."""
    e = spec.experts
    inputs, rest = divmod(u.gate_macs, e)
    if not inputs:
        return mac_block_item(f"{u.gate_macs:,} MAC{_s(u.gate_macs)} (1 input x {u.gate_macs} "
                              f"column{_s(u.gate_macs)}, "
                              f"{e} experts in turn)", 1, u.gate_macs, u.act_bits, u.weight_bits)
    if not rest:
        return mac_block_item(f"{u.gate_macs:,} MAC{_s(u.gate_macs)} ({inputs} input{_s(inputs)} x {e} "
                              f"expert{_s(e)})",
                              inputs, e, u.act_bits, u.weight_bits)
    return uneven_columns_item(f"{u.gate_macs:,} MACs ({inputs + 1} inputs x {rest} + {inputs} x "
                               f"{e - rest} expert{_s(e - rest)})", u.gate_macs, e, u.act_bits, u.weight_bits,
                               u.act_bits)


def uneven_columns_item(label: str, macs: int, columns: int, a_bits: int, b_bits: int,
                        acc_bits: int) -> Item:
    """`mac_item` of ``macs`` MACs dealt as evenly as they go among ``columns`` adder-tree
    columns (``macs mod columns`` of them one input more), LUT/FF those of as many synthesized
    columns of ``macs / columns`` inputs (`fpga.synthesized.mac_block_lut_ff`) when its operand
    widths were tabulated, else the per-bit estimate (``acc_bits`` accumulators)."""
    item = mac_item(label, macs, a_bits, b_bits, acc_bits)
    found = mac_block_lut_ff(Fraction(macs, columns), columns, a_bits, b_bits)
    if found is None:
        return item
    return Item(item.label, replace(item.resources, lut=found[0], ff=found[1]), SYNTHESIZED)


def patch_macs(u: Units) -> Item:
    """The patch embedding's MACs as rtl ``linear`` columns: ``patch_embed_macs`` pixel inputs
    dealt among :data:`PATCH_COLUMNS` output columns (16 x 16 for Edge-MoE's 256; fewer MACs
    than columns are single-input columns). A pixel is an unsigned fraction, so a signed
    multiplier takes it one bit wider (``pixel_bits + 1``)."""
    macs, bits = u.patch_embed_macs, u.pixel_bits + 1
    columns = min(PATCH_COLUMNS, macs)
    inputs, rest = divmod(macs, columns)
    shape = (f"{inputs} input{_s(inputs)} x {columns} column{_s(columns)}" if not rest else
             f"{inputs + 1} inputs x {rest} + {inputs} x {columns - rest} "
             f"column{_s(columns - rest)}")
    return uneven_columns_item(f"{macs:,} MAC{_s(macs)} ({shape}; unsigned {u.pixel_bits}-bit "
                               f"pixels as {bits}-bit signed)", macs, columns, bits,
                               u.weight_bits, u.act_bits)


def layernorm_products(fmt: LayerNormFormat) -> tuple[dict[str, int], dict[str, int]]:
    """DSPs of the RTL's products (signed operand widths; an unsigned one gains a sign bit):
    per lane x² (total x total), d·x (the constant d, x), D·r (D, the rsqrt mantissa) and
    n·γ (n, param); once per row d·S2 (both unsigned) and S1². A constant d that is a power
    of two makes d·x and d·S2 shifts (no DSP)."""
    d_bits = fmt.d.bit_length() + 1
    shift = fmt.d & (fmt.d - 1) == 0
    lane = {"x²": dsp_per_mult(fmt.total_bits, fmt.total_bits),
            "d·x": 0 if shift else dsp_per_mult(d_bits, fmt.total_bits),
            "D·r": dsp_per_mult(fmt.diff_bits, fmt.rsqrt_bits + 3),
            "n·γ": dsp_per_mult(fmt.n_bits, fmt.param_bits)}
    row = {"d·S2": 0 if shift else dsp_per_mult(d_bits, fmt.s2_bits + 1),
           "S1²": dsp_per_mult(fmt.s1_bits, fmt.s1_bits)}
    return lane, row


def layernorm(u: Units, spec: ViTSpec) -> Unit:
    """The single-pass LayerNorm (rtl ``layernorm``): DSPs tiled from its products
    (`layernorm_products`), LUT/FF/BRAM of the unit synthesized at this row length and width
    (`fpga.synthesized.layernorm_lut_ff`, interpolated between tabulated lane counts), else the
    per-bit estimate: per lane three adders' LUTs and six registers, 1,500 LUT / 2,000 FF of
    statistics and rsqrt, the row and γ/β memories as the memory rule implements them."""
    lanes, d = u.layernorm_lanes, spec.d_model
    fmt = layernorm_format(u, d)
    lane, row = layernorm_products(fmt)
    dsp = lanes * sum(lane.values()) + sum(row.values())
    what = (f"{lanes:,}-lane single-pass LayerNorm (rtl layernorm): {lanes:,} x ("
            + " + ".join(f"{k} {v}" for k, v in lane.items()) + ") + "
            + " + ".join(f"{k} {v}" for k, v in row.items()) + " DSP")
    found = layernorm_lut_ff(d, lanes, u.act_bits, fmt.param_bits)
    if found is not None:
        how = "synthesized" if found.synthesized else "interpolated between synthesized lanes"
        memories = f"{found.bram18} BRAM18" if found.bram18 else "LUT-RAM"
        return (Item(f"{what}; row and γ/β memories in {memories} ({how})",
                     Resources(dsp=dsp, bram18=found.bram18, lut=found.lut, ff=found.ff),
                     SYNTHESIZED),)
    estimate = Resources(dsp=dsp, lut=lanes * 3 * u.act_bits + 1500,
                         ff=lanes * 6 * u.act_bits + 2000)
    return (Item(f"{what}; LUT/FF per-bit estimate (rtl layernorm was not tabulated at d {d}, "
                 f"{u.act_bits} b)", estimate),
            buffer_item(f"row buffer ({d} x {u.act_bits} b)", 1, d, u.act_bits, lanes),
            buffer_item(f"γ/β buffer ({d} x 2 x {fmt.param_bits} b)", 1, d, 2 * fmt.param_bits,
                        lanes))


def others(u: Units, spec: ViTSpec) -> dict[str, Unit]:
    """Gate (none without MoE layers), LayerNorm, residual add, patch embedding, AXI masters."""
    d = spec.d_model
    gate: Unit = ()  # a workload without MoE layers (moe_every > layers) has no gate
    if any(spec.is_moe(i) for i in range(spec.layers)):
        gate = (_gate_macs(u, spec),
                buffer_item(f"weights ({spec.experts} x {d})", 1, spec.experts * d,
                            u.weight_bits, u.gate_macs))
    add = (Item(f"{u.add_lanes:,} adder{_s(u.add_lanes)} of {u.act_bits} b",
                Resources(lut=u.add_lanes * u.act_bits, ff=3 * u.add_lanes * u.act_bits)),)
    k = spec.image_c * spec.patch**2
    patch = (patch_macs(u),
             buffer_item(f"weights ({k} x {d})", 1, k * d, u.weight_bits, u.patch_embed_macs,
                         u.patch_weight_storage == "ultra_ram"))
    return {"gate": gate, "layernorm": layernorm(u, spec), "add": add, "patch_embed": patch,
            "axi": axi_items(u)}


def axi_items(u: Units) -> Unit:
    """The HLS m_axi adapters: each one's logic (an estimate) and its data FIFOs, one per
    direction it uses, of outstanding x max_burst words of the port's width (UG1399,
    "Controlling AXI4 Burst Behavior": buff_rdata, buff_wdata)."""
    n, writers = u.axi_masters, u.axi_masters - u.axi_read_only_masters
    depth = u.axi_outstanding * u.axi_max_burst
    fifo = f"{u.axi_outstanding} outstanding x {u.axi_max_burst}-beat bursts"
    items = (Item(f"{n:,} AXI master{_s(n)} x ({AXI_MASTER_LUT:,} LUT, {AXI_MASTER_FF:,} FF: "
                  f"estimates)", axi_adapter_logic(n)),
             buffer_item(f"{n:,} read data FIFO{_s(n)} ({fifo})", n, depth, u.axi_bits, 1))
    if writers:
        items += (buffer_item(f"{writers:,} write data FIFO{_s(writers)} ({fifo})", writers,
                              depth, u.axi_bits, 1),)
    return items


def design_items(u: Units, spec: ViTSpec, t: Techniques, m: ConventionalMath, p: Plan,
                 shapes) -> dict[str, Unit]:
    """The labelled resources of every unit of the design, by unit name."""
    gelu = gelu_lane(u, t.gelu_approx, m)
    if t.unified_linear:
        linear = linear_engine(u, (u.linear_in_par, u.linear_out_par), shapes,
                               2 if u.ping_pong else 1, u.linear_out_par, gelu)
        gelu_unit: Unit = ()
    else:
        linear = ()
        for k, n in shapes:
            linear += linear_engine(u, p.engines[(k, n)], [(k, n)], 1, 0, gelu,
                                    f"{k}->{n} engine")
        lanes = u.linear_out_par if t.gelu_approx else m.lanes
        gelu_unit = (gelu.scaled(lanes, f"{lanes:,} separate GELU lane{_s(lanes)}"),)
    parts = {"linear": linear, "gelu": gelu_unit, "attention": attention(u, spec),
             "softmax": softmax(u, spec, t, m)}
    parts.update(others(u, spec))
    return parts


def _s(count: int) -> str:
    """The plural ending for ``count`` things."""
    return "" if count == 1 else "s"


def unit_items(design: FpgaDesign, t: Techniques, u: Units | None = None) -> dict[str, Unit]:
    """`design_items` of ``design`` with techniques ``t`` on units ``u`` (default the design's):
    its engines planned as the schedule plans them."""
    u = u or design.units
    spec = design.workload
    return design_items(u, spec, t, design.math, plan(spec, u, t, design.math),
                        linear_shapes(spec))


def unit_resources(design: FpgaDesign, t: Techniques, u: Units | None = None
                   ) -> dict[str, Resources]:
    """The resources of every unit (the sum of its `unit_items`)."""
    items = unit_items(design, t, u)
    return {name: total(item.resources for item in unit) for name, unit in items.items()}
