"""Unit latency models: cycles and DDR bytes of one call of each Edge-MoE unit, from its parameters.

Every call streams its operands over AXI masters while it computes; a call takes
``max(compute cycles, per-port transfer cycles, total bytes / DDR rate) + first-beat latency``
(:func:`stream_cycles`). A kernel AXI port wider than the board's host port is narrowed to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fpga.board import Board
from fpga.golden.attention import key_positions
from fpga.golden.layernorm import LayerNormFormat
from fpga.spec import ConventionalMath, Units
from fpga.workload import ViTSpec


@dataclass(frozen=True, slots=True)
class Memory:
    """The memory path seen by one kernel AXI master, per kernel clock cycle."""

    port_bytes: float  # one AXI master, after narrowing to the host port
    ddr_bytes: float  # all masters together (DDR peak)
    latency: int  # first-beat latency, cycles


def memory(board: Board, units: Units) -> Memory:
    """Bytes per cycle of one port and of the DDR, and the latency, at ``units.clock_mhz``.

    A host port on the kernel's clock moves its width a cycle up to its fastest clock, and
    proportionally less per cycle beyond; one on its own clock moves its width at that clock,
    whatever the kernel's (more than its width per kernel cycle when the kernel is slower)."""
    ratio = board.host_port_mhz / units.clock_mhz
    host_bits = board.host_port_bits * (ratio if board.host_port_own_clock else min(1.0, ratio))
    port_bits = min(float(units.axi_bits), host_bits)
    ddr = board.ddr_gbps * 1e9 / (units.clock_mhz * 1e6)
    return Memory(port_bits / 8.0, ddr, math.ceil(board.ddr_latency_ns * units.clock_mhz / 1e3))


def stream_cycles(mem: Memory, compute: float, *port_bytes: float) -> int:
    """Cycles of a call computing ``compute`` cycles while moving ``port_bytes`` (one per port)."""
    transfer = max([b / mem.port_bytes for b in port_bytes] + [sum(port_bytes) / mem.ddr_bytes])
    return math.ceil(max(compute, transfer)) + mem.latency


@dataclass(frozen=True, slots=True)
class Call:
    """One unit call: its category (the breakdown column), cycles, DDR bytes, weight-load cycles.

    ``load`` is the time to fetch this call's weights into an on-chip buffer; the schedule
    decides how much of it is hidden (ping/pong) or exposed.
    """

    unit: str
    cycles: int
    ddr_bytes: int
    load: int = 0
    load_bytes: int = 0
    demand: float = 0.0  # DDR bytes per compute cycle the unit asks for (attention)


def _b(n_elems: int, bits: int) -> int:
    return math.ceil(n_elems * bits / 8)


def linear_call(u: Units, mem: Memory, tokens: int, k: int, n: int, engine: tuple[int, int],
                accumulate: bool = False, gelu_ii: int = 1) -> Call:
    """One linear layer ``tokens x k -> tokens x n`` on an ``(in_par, out_par)`` engine.

    Output-stationary: per token, loop over ceil(n/out_par) output blocks and ceil(k/in_par)
    input blocks, one block product per cycle. A fused GELU with initiation interval
    ``gelu_ii > 1`` stalls each output block by ``gelu_ii - 1`` cycles. ``accumulate``
    (MoE expert FC2) reads and rewrites the output rows: the reads back on the output port's
    read channel, beside its writes (an AXI master's read and write channels are independent).
    """
    in_par, out_par = engine
    blocks = tokens * math.ceil(n / out_par)
    compute = blocks * math.ceil(k / in_par) + blocks * (gelu_ii - 1)
    read = _b(tokens * k, u.act_bits)
    write = _b(tokens * n, u.act_bits)
    streams = (read, write, write) if accumulate else (read, write)
    weight_bytes = _b(k * n, u.weight_bits) + _b(n, u.weight_bits)
    return Call("linear", stream_cycles(mem, compute, *streams), sum(streams),
                load=stream_cycles(mem, 0, weight_bytes), load_bytes=weight_bytes)


def _heads_pow2(heads: int) -> int:
    return 1 << max(0, (heads - 1).bit_length())


def attention_call(u: Units, mem: Memory, spec: ViTSpec, product: str, reorder: bool,
                   fused_softmax: bool) -> Call:
    """Q·K (``product="qk"``) or A·V (``"av"``) of one layer, all heads, with p query slots.

    With reordering: p query tokens are cached; each key (value) token is streamed once per
    batch and multiplied with all p cached queries; the slots load staggered by one token, so
    ceil((N + p - 1)/p) batches of N tokens (a last batch that only completes the previous
    queries streams (N - 1) mod p, `fpga.golden.attention.key_positions`) x ceil(d/lanes)
    blocks, one beat each: the stream needs one beat per cycle whatever p is (rtl
    ``attention`` measures this count). Without reordering the p query slots each stream
    their own keys: N x N tokens are fetched and a compute-bound cycle needs p beats.
    The scores (heads padded to a power of two) go to DDR once and come back once.
    """
    n, d, p = spec.tokens, spec.d_model, u.attn_p
    blocks = math.ceil(d / u.attn_lanes)
    if reorder:
        streamed = key_positions(n, p)
        compute = streamed * blocks
    else:
        compute = math.ceil(n / p) * n * blocks
        streamed = n * n
    stream_bytes = _b(streamed * d, u.act_bits)
    scores = _b(n * n * _heads_pow2(spec.heads), u.act_bits)
    rows = _b(n * d, u.act_bits)  # Q read (qk) or the output written (av)
    info = _b(n * 2 * _heads_pow2(spec.heads), u.act_bits) if fused_softmax else 0
    cycles = stream_cycles(mem, compute, stream_bytes, rows, scores + info)
    return Call(product, cycles, stream_bytes + rows + scores + info,
                demand=stream_bytes / compute)


def exact_gelu_latency(m: ConventionalMath) -> int:
    """Critical path of 0.5 x (1 + erf(x / sqrt 2)) in float, erf by Abramowitz-Stegun 7.1.26.

    erf(a) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-a^2), t = 1 / (1 + p a): the
    polynomial branch (mul, add, div, 4 x (mul + add), mul) is longer than the exp branch
    (mul, exp), then mul, add. GELU adds convert, mul, add, mul, mul, convert.
    """
    poly = m.fmul + m.fadd + m.fdiv + 4 * (m.fmul + m.fadd) + m.fmul
    erf = max(poly, m.fmul + m.fexp) + m.fmul + m.fadd
    return 2 * m.fcvt + erf + 3 * m.fmul + m.fadd


def exact_gelu_ii(m: ConventionalMath) -> int:
    """Initiation interval of one exact-GELU lane: 1 pipelined, else its whole latency."""
    return 1 if m.pipelined else exact_gelu_latency(m)


def elementwise_call(u: Units, mem: Memory, unit: str, elems: int, lanes: int, ii: int,
                     reads: int = 1, writes: int = 1, stored: int | None = None) -> Call:
    """A separate pass over ``elems`` activations in DDR: ``lanes`` units, one per ``ii``;
    each read and write moves the ``stored`` elements they sit among (default ``elems``)."""
    compute = math.ceil(elems / lanes) * ii
    ports = [_b(elems if stored is None else stored, u.act_bits)] * (reads + writes)
    return Call(unit, stream_cycles(mem, compute, *ports), sum(ports))


def three_pass_softmax_calls(u: Units, mem: Memory, spec: ViTSpec,
                             m: ConventionalMath) -> list[Call]:
    """The conventional softmax between Q·K and A·V: max pass, exp-and-sum pass, normalise pass.

    The sum is a float accumulation: pipelined it can start every ``fadd`` cycles; unpipelined
    every convert + subtract + exp + add. The normalise pass computes exp and a divide per score.
    Each pass computes the N x N x heads scores and moves them in the layout Q·K writes and
    A·V reads (heads padded to a power of two, `attention_call`).
    """
    elems = spec.tokens * spec.tokens * spec.heads
    stored = spec.tokens * spec.tokens * _heads_pow2(spec.heads)
    lanes = m.lanes
    sum_ii = m.fadd if m.pipelined else m.fcvt + m.fadd + m.fexp + m.fadd
    norm_ii = 1 if m.pipelined else 2 * m.fcvt + m.fadd + m.fexp + m.fdiv
    return [
        elementwise_call(u, mem, "softmax", elems, lanes, ii, reads=1, writes=writes,
                         stored=stored)
        for ii, writes in ((1, 0), (sum_ii, 0), (norm_ii, 1))]


LAYERNORM_STATS_CYCLES = 4  # the last beat summed; d·S2 and S1²; V; V normalised
LAYERNORM_OUT_CYCLES = 1 + 6  # the row-memory read issue, then six output registers


def layernorm_format(u: Units, d: int) -> LayerNormFormat:
    """rtl ``layernorm``'s format for these units and row length ``d``: ``act_bits``
    activations with Edge-MoE's 10 integer bits (at least one fraction bit), Q5.11 gamma/beta
    (edgemoe.md §2), the RTL's default rsqrt precision (2^-30) or, if higher, its minimum (the
    normalised value's fraction bits)."""
    ref = LayerNormFormat()
    frac = max(1, u.act_bits - 10)
    n_frac = frac + ref.param_bits - ref.param_frac
    return LayerNormFormat(d, u.layernorm_lanes, u.act_bits, frac, ref.param_bits,
                           ref.param_frac, ref.eps, max(ref.rsqrt_bits, n_frac))


def layernorm_row_cycles(u: Units, d: int) -> int:
    """Cycles from a row's first input beat to the next row's first input beat at full rate.

    rtl ``layernorm`` takes one row at a time (one row memory): ``ceil(d / lanes)`` beats in, one
    per cycle; from the last one its input is held off while the statistics settle
    (:data:`LAYERNORM_STATS_CYCLES`), the rsqrt recurrence runs (`layernorm_rsqrt_steps`) and
    the output pass reads the row again (:data:`LAYERNORM_OUT_CYCLES` to its first beat), then
    the beats go out one per cycle; the next row enters the cycle after the last of them. So
    ``beats - 1`` cycles in, the delay to the first output, ``beats - 1`` out, and one more:
    90 cycles for 192 elements on 8 lanes, where the streams alone would need 48 (a second row
    memory would let rows overlap; the unit priced here has one)."""
    beats = math.ceil(d / u.layernorm_lanes)
    steps = layernorm_format(u, d).rsqrt_bits + 2
    delay = LAYERNORM_STATS_CYCLES + steps + LAYERNORM_OUT_CYCLES
    return (beats - 1) + delay + (beats - 1) + 1


def layernorm_call(u: Units, mem: Memory, spec: ViTSpec) -> Call:
    """One LayerNorm over the ``tokens`` rows on rtl ``layernorm``: its gamma/beta first
    (``ceil(d / lanes)`` parameter beats: each call of a layer has its own), then the rows one
    after another (`layernorm_row_cycles`). The AXI masters' FIFOs fetch the next row and drain
    the last while the unit computes, so the call is compute-bound unless a port is slower."""
    n, d = spec.tokens, spec.d_model
    compute = math.ceil(d / u.layernorm_lanes) + n * layernorm_row_cycles(u, d)
    data = _b(n * d, u.act_bits)
    params = _b(2 * d, layernorm_format(u, d).param_bits)
    return Call("layernorm", stream_cycles(mem, compute, data + params, data),
                2 * data + params)


def add_call(u: Units, mem: Memory, spec: ViTSpec) -> Call:
    """Residual add, ``add_lanes`` wide: two reads and a write."""
    n, d = spec.tokens, spec.d_model
    data = _b(n * d, u.act_bits)
    return Call("add", stream_cycles(mem, n * math.ceil(d / u.add_lanes), data, data, data),
                3 * data)


def columns(macs: int, wanted: int) -> tuple[int, int]:
    """(columns, inputs of the narrowest) of ``macs`` MACs dealt as evenly as they go among
    ``wanted`` adder-tree columns (``macs mod columns`` of them one input more), or among
    ``macs`` single-input columns when there are fewer MACs than columns wanted. Every column
    finishes the same inputs, so the narrowest one sets the pace: an extra input of a wider
    column cannot serve another column's output."""
    cols = min(macs, wanted)
    return cols, macs // cols


def gate_call(u: Units, mem: Memory, spec: ViTSpec) -> Call:
    """MoE gate: one adder-tree column per expert (`columns`; fewer MACs than experts: each
    column serves ceil(experts / columns) experts in turn), ceil(d / narrowest inputs) cycles
    per expert a column serves, then a softmax over the expert logits and a top-k insertion,
    one expert per cycle each (per token)."""
    n, d, e = spec.tokens, spec.d_model, spec.experts
    cols, inputs = columns(u.gate_macs, e)
    compute = n * (math.ceil(e / cols) * math.ceil(d / inputs) + 2 * e)
    data = _b(n * d, u.act_bits)
    weights = _b(e * d, u.weight_bits)
    return Call("gate", stream_cycles(mem, compute, data, weights), data + weights)


PATCH_COLUMNS = 16  # the patch embedding's output columns (Edge-MoE's blocks of 16 outputs)


def patch_embed_call(u: Units, mem: Memory, spec: ViTSpec) -> Call:
    """16x16 stride-16 convolution as patches x (c p^2) x d MACs on ``patch_embed_macs``
    dealt among :data:`PATCH_COLUMNS` output columns (`columns`): per patch ceil(d / columns)
    output blocks x ceil(c p^2 / the narrowest column's inputs) cycles."""
    k = spec.image_c * spec.patch**2
    cols, inputs = columns(u.patch_embed_macs, PATCH_COLUMNS)
    compute = spec.patches * math.ceil(spec.d_model / cols) * math.ceil(k / inputs)
    pixels = _b(spec.image_c * spec.image_h * spec.image_w, u.pixel_bits)
    out = _b(spec.tokens * spec.d_model, u.act_bits)
    return Call("patch_embed", stream_cycles(mem, compute, pixels, out, out), pixels + 2 * out)
