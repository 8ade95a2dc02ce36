"""Metamorphic relations of the FPGA model's memory path: bandwidth, clock, the port behind a
kernel master, ping/pong weight loads and the image's DDR traffic from the dataflow (each
test's docstring states the relation and why it must hold)."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from fractions import Fraction

import pytest

from fpga import units as un
from fpga.board import BOARDS, get_board
from fpga.model import evaluate
from fpga.spec import FpgaDesign, Units
from fpga.workload import route
from tests.fpga.varied import (
    ALL_ON,
    BASE,
    DESIGNS,
    FREE,
    IDS,
    TECHS,
    free_board,
    staggered_key_positions,
    timing_of,
)

# ---- memory and clock ----------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_less_bandwidth_is_never_faster_and_a_bigger_board_changes_only_fit(i, monkeypatch):
    """Halving the DDR peak, the host port width or the kernel port width never lowers
    latency (every call's cycles are non-decreasing in bytes per cycle, and ping/pong hides a
    load only behind time that is itself no shorter). Where a parameter must bind it strictly
    raises latency: every call waits for its first beat, so a longer DDR latency (all boards
    have one) adds cycles to each; on a DDR slowed 64-fold the calls' ports together ask for
    more than it gives, so it sets their pace and halving it again is slower. A board
    with more DSP/BRAM/LUT/FF and the same memory path gives the same latency and resources:
    only the fit can change."""
    d = DESIGNS[i]
    board = get_board(d.board)
    assert board.ddr_latency_ns > 0
    starved = replace(board, ddr_gbps=board.ddr_gbps / 64)
    for t in TECHS[:3]:
        ref = timing_of(d, t).total
        for slower in (replace(board, ddr_gbps=board.ddr_gbps / 2),
                       replace(board, host_port_bits=board.host_port_bits // 2)):
            assert timing_of(d, t, board=slower).total >= ref
        assert timing_of(d, t, board=replace(board, ddr_latency_ns=2 * board.ddr_latency_ns)
                         ).total > ref
        assert timing_of(d, t, board=replace(starved, ddr_gbps=starved.ddr_gbps / 2)
                         ).total > timing_of(d, t, board=starved).total
        assert timing_of(d, t, replace(d.units, axi_bits=d.units.axi_bits // 2)).total >= ref
        big = replace(board, name="big", dsp=10**6, bram36=10**6, lut=10**8, ff=10**8)
        r = evaluate(d, t)
        monkeypatch.setitem(BOARDS, "big", big)
        r_big = evaluate(replace(d, board="big"), t)
        assert (r_big.latency_ms, r_big.breakdown_ms, r_big.resources, r_big.ddr_mb) == (
            r.latency_ms, r.breakdown_ms, r.resources, r.ddr_mb)
        assert r_big.fits


@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_doubling_the_clock_halves_compute_bound_time_only(i):
    """Cycles are fixed by the design, so on a free memory doubling the clock halves the
    latency exactly. With a real memory the DDR's bytes per second and its nanoseconds of
    latency do not scale: the time at 2f lies between half the time at f and the time at f."""
    d = DESIGNS[i]
    board = get_board(d.board)
    free = free_board(board)
    f = min(d.units.clock_mhz, board.max_clock_mhz / 2)
    u1 = replace(d.units, clock_mhz=f)
    u2 = replace(d.units, clock_mhz=2 * f)
    for t in TECHS[:3]:
        c1, c2 = timing_of(d, t, u1, free).total, timing_of(d, t, u2, free).total
        assert c1 == c2
        ms1 = timing_of(d, t, u1).total / f
        ms2 = timing_of(d, t, u2).total / (2 * f)
        assert ms1 / 2 <= ms2 * (1 + 1e-12) and ms2 <= ms1 * (1 + 1e-12)


# ---- the memory path behind one kernel port ------------------------------------------------

U280_CHANNEL_GBPS = 14.4  # one HBM2 pseudo-channel's AXI port: 256 bits at 450 MHz


@pytest.mark.parametrize("clock_mhz", [100.0, 200.0, 300.0, 450.0, 600.0])
@pytest.mark.parametrize("axi_bits", [64, 128, 256, 512])
def test_a_kernel_port_gets_what_its_bus_and_the_memory_channel_behind_it_give(clock_mhz,
                                                                               axi_bits):
    """One kernel AXI master moves at most its own width per kernel cycle and at most what the
    port in front of the memory moves per second. On the U280 that port is an HBM
    pseudo-channel's, 256 bits at its own 450 MHz clock (14.4 GB/s), whatever the kernel's
    clock: a 512-bit kernel port at 300 MHz (19.2 GB/s) gets 14.4 GB/s, and a 256-bit one at
    600 MHz (15.4 GB/s) too. On the Zynq boards the HP port runs on the kernel's clock (up to
    333 MHz), 128 bits a cycle."""
    u = Units(clock_mhz=clock_mhz, axi_bits=axi_bits)
    hbm = un.memory(get_board("u280"), u).port_bytes * clock_mhz * 1e6 / 1e9
    assert hbm == pytest.approx(min(axi_bits / 8 * clock_mhz * 1e6 / 1e9, U280_CHANNEL_GBPS))
    hp = un.memory(get_board("zcu102"), u).port_bytes * clock_mhz * 1e6 / 1e9
    assert hp == pytest.approx(min(axi_bits * clock_mhz, 128 * min(clock_mhz, 333.0)) / 8e3)


# ---- ping/pong weight buffers --------------------------------------------------------------

def ping_pong_cycles(calls: list[un.Call], mem: un.Memory | None = None) -> int:
    """Cycle by cycle: the calls run one after another, a linear call once its weights are
    in; the one weight port loads the linear calls' weights in order into two buffers taken
    in turn, each load as soon as the port is idle and its buffer has finished serving the
    linear call two before (whatever runs in between). Without ``mem`` a load moves one cycle
    of its ``load`` a cycle. With ``mem`` (no first-beat latency) a load moves its bytes: a
    cycle in which a call runs leaves it the DDR's bytes a cycle less the call's
    (``ddr_bytes / cycles``), at most its port's; a cycle in which no call runs, the port's
    (or the DDR's, if fewer). Within a cycle, bytes left over by a finished load go to the
    next one if its buffer is free (exact fractions)."""
    linear = [i for i, c in enumerate(calls) if c.load]
    work = [Fraction(calls[i].load if mem is None else calls[i].load_bytes) for i in linear]
    done_calls: set[int] = set()
    nxt, moved, i, left, t = 0, Fraction(0), 0, None, 0
    while i < len(calls):
        runs = not calls[i].load or linear.index(i) < nxt
        if mem is None:
            budget = Fraction(1)
        else:
            alone = min(Fraction(mem.port_bytes), Fraction(mem.ddr_bytes))
            used = Fraction(calls[i].ddr_bytes, calls[i].cycles) if runs else 0
            budget = min(alone, Fraction(mem.ddr_bytes) - used)
        while budget > 0 and nxt < len(linear) and (nxt < 2 or linear[nxt - 2] in done_calls):
            step = min(budget, work[nxt] - moved)
            budget, moved = budget - step, moved + step
            if moved == work[nxt]:
                nxt, moved = nxt + 1, Fraction(0)
        if runs:
            left = calls[i].cycles if left is None else left
            left -= 1
            if left == 0:
                done_calls.add(i)
                i, left = i + 1, None
        t += 1
    return t


def test_ping_pong_loads_start_when_the_port_and_their_buffer_are_free():
    """A load waits for the weight port and for its buffer, not for the previous linear call
    to start: behind a long non-linear call (attention between two linear layers) the next
    but one layer's weights already stream in. Checked against a cycle-by-cycle run on small
    random call lists."""
    from fpga.schedule import exposed_loads

    def lin(cycles, load):
        return un.Call("linear", cycles, 0, load=load)

    calls = [lin(100, 10), un.Call("qk", 1000, 0), lin(10, 10), lin(10, 500)]
    # the third call's buffer is free once the first ends (cycle 110); the port is idle from
    # cycle 20: its 500 cycles load while qk runs
    assert ping_pong_cycles(calls) == 10 + 100 + 1000 + 10 + 10
    assert exposed_loads(calls, ping_pong=True, mem=FREE) == [10, 0, 0, 0]
    rng = random.Random(4)
    for _ in range(300):
        calls = [lin(rng.randint(1, 30), rng.randint(1, 60)) if rng.random() < 0.6
                 else un.Call("qk", rng.randint(1, 40), 0) for _ in range(rng.randint(1, 8))]
        expected = ping_pong_cycles(calls)
        assert sum(c.cycles for c in calls) + sum(exposed_loads(calls, True, FREE)) == expected


def test_a_hidden_load_takes_what_the_call_beside_it_leaves_of_the_ddr():
    """A ping/pong load behind a call crosses the same DDR: it moves the DDR's bytes a cycle
    less the call's, at most its port's. On a DDR of 8 bytes a cycle behind 4-byte ports, a
    call streaming 6 bytes a cycle leaves a load 2 a cycle (half its pace alone), one
    streaming 8 nothing, one streaming 4 or fewer its port's 4. Checked against a cycle-by-cycle run in bytes
    on random call lists (the model counts a load's cycles at its own pace, slowed by the share
    the call leaves it)."""
    from fpga.schedule import exposed_loads

    mem = un.Memory(port_bytes=4.0, ddr_bytes=8.0, latency=0)

    def lin(cycles, load, ddr_bytes=0):  # `load` cycles alone, at the port's 4 bytes a cycle
        return un.Call("linear", cycles, ddr_bytes, load=load, load_bytes=4 * load)

    # The last load (200 cycles alone, 800 bytes) starts at cycle 20, when the first call has
    # freed its buffer; qk's 200 cycles leave it min(4, 8 - rate) bytes a cycle, the second
    # linear call (no bytes) 4 bytes a cycle for 10 cycles; the rest it moves alone, exposed.
    for rate, wait in ((8, (800 - 0 - 40) // 4), (6, (800 - 400 - 40) // 4), (4, 0), (0, 0)):
        calls = [lin(10, 10), un.Call("qk", 200, rate * 200), lin(10, 10), lin(10, 200)]
        assert exposed_loads(calls, True, mem) == [10, 0, 0, wait], rate
        assert ping_pong_cycles(calls, mem) == 10 + 10 + 200 + 10 + wait + 10
    rng = random.Random(5)
    for _ in range(300):
        calls = []
        for _ in range(rng.randint(1, 8)):
            cycles = rng.randint(1, 30)
            ddr = rng.randint(0, 8 * cycles)
            calls.append(lin(cycles, rng.randint(1, 60), ddr) if rng.random() < 0.6
                         else un.Call("qk", cycles, ddr))
        expected = ping_pong_cycles(calls, mem)
        assert sum(c.cycles for c in calls) + sum(exposed_loads(calls, True, mem)) == expected


# ---- the image's DDR traffic from the dataflow ---------------------------------------------

def _dataflow_bytes(d: FpgaDesign) -> int:
    """The bytes one image moves with every technique on, from the dataflow (edgemoe.md §3):
    activations (act_bits) live in DDR between units; each unit reads its operands and writes
    its result once; a linear layer also loads its weights and biases (weight_bits); reordered
    attention streams K (V) once per batch of p queries, reads Q (writes its output) once,
    and writes (reads back) the scores, heads padded to a power of two, with each row's
    (1/sum, max) pair; LayerNorm reads its 16-bit gamma and beta; the gate reads its
    experts x d weights; an expert's FC2 reads and rewrites the rows it accumulates into; the
    patch embedding reads the pixels and the position embeddings and writes the tokens."""
    w, u = d.workload, d.units
    a, wt = u.act_bits, u.weight_bits
    n, dm = w.tokens, w.d_model

    def act(elems: int) -> int:
        return math.ceil(elems * a / 8)

    def weights(k: int, m: int) -> int:
        return math.ceil((k * m + m) * wt / 8)

    def linear(tokens: int, k: int, m: int, accumulate: bool = False) -> int:
        return act(tokens * k) + act(tokens * m) * (2 if accumulate else 1) + weights(k, m)

    heads = 1 << (w.heads - 1).bit_length()
    keys = staggered_key_positions(n, u.attn_p)
    attention = 2 * (act(keys * dm) + act(n * dm) + act(n * n * heads) + act(n * 2 * heads))
    layernorm = 2 * act(n * dm) + math.ceil(2 * dm * 16 / 8)
    total = (math.ceil(w.image_c * w.image_h * w.image_w * u.pixel_bits / 8) + 2 * act(n * dm))
    for layer in range(w.layers):
        total += 2 * layernorm + 4 * linear(n, dm, dm) + attention + 2 * 3 * act(n * dm)
        if w.is_moe(layer):
            total += act(n * dm) + math.ceil(w.experts * dm * wt / 8)
            for g in route(w, d.routing, layer):
                if g:
                    total += (linear(g, dm, w.expert_hidden)
                              + linear(g, w.expert_hidden, dm, accumulate=True))
        else:
            total += linear(n, dm, w.mlp_hidden) + linear(n, w.mlp_hidden, dm)
    return total


@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_image_traffic_is_the_dataflows(i):
    """With every technique on, the DDR bytes of an image are those of the dataflow
    (`_dataflow_bytes`), at the design's board and clock (that no board or clock changes
    them is `test_traffic_does_not_depend_on_clock_or_board_and_ping_pong_never_slows`)."""
    d = DESIGNS[i]
    assert timing_of(d, ALL_ON).ddr_bytes == _dataflow_bytes(d)


@pytest.mark.parametrize("heads", [1, 3, 4, 6])
def test_the_three_softmax_passes_read_the_scores_q_k_wrote(heads):
    """Without the single-pass softmax, Q·K writes the raw scores and A·V reads the
    probabilities in one layout (heads padded to a power of two); the max, exp-and-sum and
    normalise passes in between read that layout three times and write it once. Their
    compute is over the real N x N x heads scores."""
    w = replace(BASE.workload, heads=heads)
    u = BASE.units
    scores = math.ceil(w.tokens ** 2 * (1 << (heads - 1).bit_length()) * u.act_bits / 8)
    qk = un.attention_call(u, FREE, w, "qk", True, fused_softmax=False)
    keys = staggered_key_positions(w.tokens, u.attn_p)
    assert qk.ddr_bytes == (keys + w.tokens) * w.d_model * u.act_bits // 8 + scores
    calls = un.three_pass_softmax_calls(u, FREE, w, BASE.math)
    assert sum(c.ddr_bytes for c in calls) == 4 * scores
    assert calls[0].cycles == w.tokens ** 2 * heads  # one lane, one score a cycle


def test_an_accumulating_call_reads_back_on_the_read_channel():
    """AXI4 gives every master independent read and write data channels (each a port's width a
    cycle): an expert's FC2 that reads back and rewrites the rows it accumulates into moves
    the reads and the writes at the same time, so when the ports bind (a 32 x 32 unit, an
    expert hidden size under twice d_model) it takes the larger of the input, read-back and
    write streams, not the read-back and the writes one after the other."""
    mem = un.Memory(port_bytes=16.0, ddr_bytes=float(1 << 40), latency=0)
    u = BASE.units
    for tokens, k, n, engine in ((10, 100, 192, (32, 32)), (7, 192, 192, (64, 64)),
                                 (16, 384, 192, (32, 32))):
        call = un.linear_call(u, mem, tokens, k, n, engine, accumulate=True)
        compute = tokens * -(-n // engine[1]) * -(-k // engine[0])
        rows_in, rows_out = tokens * k * 4 / 16, tokens * n * 4 / 16
        assert call.cycles == math.ceil(max(compute, rows_in, rows_out))
        assert call.ddr_bytes == tokens * (k + 2 * n) * 4  # the read-back is traffic all the same


@pytest.mark.parametrize("slowdown", [1, 8, 64])
@pytest.mark.parametrize("i", range(len(DESIGNS)), ids=IDS)
def test_no_image_moves_its_bytes_faster_than_a_slow_ddr(i, slowdown):
    """Every byte an image moves (activations and weights alike) crosses the one DDR, so its
    cycles x the DDR's bytes a cycle >= its bytes, whatever overlaps what. On the boards as
    they are a port binds first and this holds trivially (`test_no_unit_beats_its_macs_or_
    the_ddr`); with the DDR slowed 8-fold (the design's ZCU102: 2.66 GB/s, the DDR binds) or
    64-fold it must still hold with ping/pong buffers loading behind the calls."""
    d = DESIGNS[i]
    board = get_board(d.board)
    slow = replace(board, ddr_gbps=board.ddr_gbps / slowdown)
    ddr = un.memory(slow, d.units).ddr_bytes
    for t in TECHS:
        timing = timing_of(d, t, board=slow)
        assert timing.total * ddr >= timing.ddr_bytes
    assert BASE.units.ping_pong and sum(d.units.ping_pong for d in DESIGNS) >= 6
