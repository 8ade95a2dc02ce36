"""Metamorphic tests of the mapper's work, traffic and schedules off the paper's points
(fusemax.md §3-§4): per-Einsum actions counted by hand from the cascades, FuseMax's buffer
plan (K and V re-read once per block of query rows), the 3-pass cascade's spills, the work
bound, schedules and word sizes. Each test's docstring states its relation; expected values
are derived by hand, never taken from the model's output."""

from __future__ import annotations

import dataclasses

import pytest

from mapper.context import Workload
from mapper.evaluate import Point, evaluate
from mapper.spec import Model

from .varied import SEARCH, resized, run, varied

SHAPES = [(256, 256, 64, 64, 1000, 1000), (16, 40, 96, 128, 100, 333),
          (48, 8, 128, 96, 77, 700), (32, 64, 32, 80, 1536, 2500)]


def _actions_by_hand(config: str, e: int, f: int, p: int, m: int, m1: int) -> dict:
    """Arithmetic actions per head by array, from the cascades' Einsums and fusemax.md §4:
    per present score point (P·M), per chunk-row (M1·P), per output (F·P). An exp without an
    exp unit is 6 MACs + 1 add; with FLAT's exp unit exp(a - b) is one exp and one add."""
    pm, mp, fp = p * m, m1 * p, f * p
    if config == "flat":  # 3-pass: QK, AV on 2D; GM, SN, SD, A on FLAT's 1D PEs
        return {"2d": {"mac": (e + f) * pm, "add": 0, "max": 0, "div": 0, "exp": 0},
                "1d": {"mac": 0, "add": 2 * pm, "max": pm, "div": pm, "exp": pm}}
    one_d = {"mac": (1 + f) * mp, "add": (1 + f) * mp, "max": mp, "div": fp, "exp": 0}
    # RM max; PRM exp(a - b); SPD multiply; RD add; SPNV F multiplies; RNV F adds; AV divide
    if config == "cascade":  # FLAT's PEs: only BQK, SLNV on 2D; LM, SLN, SLD on the 1D
        one_d = {**one_d, "add": one_d["add"] + 1 * mp + 2 * pm, "max": mp + pm,
                 "exp": mp + pm}
        return {"2d": {"mac": (e + f) * pm, "add": 0, "max": 0, "div": 0, "exp": 0},
                "1d": one_d}
    # FuseMax's PEs: BQK, LM, SLN (subtract, 6 MACs, 1 add), SLD, SLNV on the 2D array
    one_d = {**one_d, "mac": one_d["mac"] + 6 * mp, "add": one_d["add"] + 2 * mp}
    return {"2d": {"mac": (e + f + 6) * pm, "add": 3 * pm, "max": pm, "div": 0, "exp": 0},
            "1d": one_d}


@pytest.mark.parametrize("config", ["flat", "cascade", "fusemax", "architecture"])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), SHAPES)
def test_arithmetic_actions_equal_the_cascades_counted_by_hand(paper, config, rows, cols, e, f,
                                                               p, m):
    """Every configuration's arithmetic actions equal the cascade's Einsums counted by hand
    over their present points (a partial last key chunk has only its keys), bound as
    fusemax.md §4 binds them, for any array shape, E != F and P != M; a serial schedule
    does the same work as a pipelined one."""
    arch = resized(paper.architectures[paper.configs[config].architecture], rows, cols)
    _, actions, _ = run(paper, config, arch, Workload(2, 3, e, f, p, m))
    expected = _actions_by_hand(config, e, f, p, m, -(-m // cols))
    assert actions.arith == {a: {k: 6 * v for k, v in acts.items()}
                             for a, acts in expected.items()}


@pytest.mark.parametrize("config", ["fusemax", "cascade", "architecture"])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p"), [
    (256, 256, 64, 64, 4096), (16, 40, 96, 128, 1000), (48, 8, 128, 96, 777)])
def test_one_pass_reads_k_and_v_once_per_block_whatever_m(paper, config, rows, cols, e, f, p):
    """fusemax.md §4: the 1-pass buffer holds Q and the running state for a block of query
    rows plus one tile of K and V, nothing that grows with M: the block (and so the number
    of blocks) does not depend on M, nothing spills, and DRAM reads are Q once plus K and V
    once per block (E·P + blocks·(E + F)·M words), writes AV once (F·P)."""
    arch = resized(paper.architectures[paper.configs[config].architecture], rows, cols)
    found = set()
    for m in (300, 1000, 4099, 65536):
        phase = run(paper, config, arch, Workload(1, 1, e, f, p, m))[0].phases[0]
        found.add((phase.rows_per_block, phase.blocks))
        assert phase.spill_fraction == 0.0
        assert phase.dram_read_words == e * p + phase.blocks * (e + f) * m
        assert phase.dram_write_words == f * p
        assert phase.blocks == -(-p // phase.rows_per_block)
    assert len(found) == 1


@pytest.mark.parametrize(("rows", "cols", "buffer_mib"), [(256, 256, 32), (16, 40, 1),
                                                          (64, 32, 2)])
def test_three_pass_spills_grow_with_m_once_the_buffer_is_exceeded(paper, rows, cols,
                                                                   buffer_mib):
    """fusemax.md §2, §6: the 3-pass cascade re-reads an M fiber of QK (then SN) in later
    passes, so a block of query rows holds R·M words; at the smallest block (R = the array's
    rows) nothing spills while R·M words fit beside the rest, some does once R·M words alone
    exceed the buffer, and the spilled fraction and spill traffic never fall as M grows."""
    arch = resized(paper.architectures["flat"], rows, cols, buffer_mib << 20)
    cap_words = (buffer_mib << 20) // arch.word_bytes
    previous = (0.0, 0)
    for m in (cols, 1000, 4099, 16384, 65536, 262144, 1 << 20):
        phase = run(paper, "flat", arch, Workload(1, 1, 64, 64, 4 * rows, m))[0].phases[0]
        spill = (phase.spill_fraction, phase.spill_words)
        assert spill >= previous
        if rows * m > cap_words:
            assert phase.spill_fraction > 0 and phase.spill_words > 0
        if 4 * rows * m * 2 < cap_words // 2:  # the whole P's QK and SN fit with room to spare
            assert phase.spill_fraction == 0.0
        previous = spill
    assert previous[0] > 0.5  # at 1M keys most of the held fibers spill


@pytest.mark.parametrize(("rows", "cols", "e", "f"), [(256, 256, 64, 64), (16, 40, 96, 128),
                                                      (48, 8, 128, 96), (32, 64, 128, 32)])
def test_long_fused_one_pass_approaches_the_busier_arrays_work_from_above(paper, rows, cols, e,
                                                                          f):
    """FuseMax pipelined (compute-bound, enough bandwidth): per tile the 2D PEs do E + 1 + 8
    + 1 + F cycles of work (BQK, LM, SLN, SLD, SLNV), each 1D PE 1 + 8 + 1 + 1 + 2F (RM,
    PRM, SPD, RD, SPNV, RNV), plus F per p-tile for the final division. Per head the time
    is at least the busier array's work, and the excess (a one-time fill) vanishes as M
    grows: within 1 % at long M, never below the bound, and the 2D array's utilisation
    (its MACs and other work over its PE-cycles) never exceeds 100 %."""
    arch = resized(paper.architectures["fusemax"], rows, cols,
                   bandwidth=64 * paper.architectures["fusemax"].dram.bandwidth_bytes_per_s)
    ratios = []
    p = 4 * rows
    for m in (10 * cols, 100 * cols, 1000 * cols):
        _, actions, cost = run(paper, "fusemax", arch, Workload(2, 2, e, f, p, m))
        tiles = -(-p // rows) * -(-m // cols)
        two_d = tiles * (e + f + 10)
        one_d = tiles * (2 * f + 11) + -(-p // rows) * f
        bound = 4 * max(two_d, one_d)
        assert actions.latency_cycles >= bound
        assert actions.latency_cycles >= 4 * p * m * (e + f) / (rows * cols)
        ratios.append(actions.latency_cycles / bound)
        assert cost.util["2d"] <= 1 and cost.util["1d"] <= 1
    assert ratios == sorted(ratios, reverse=True) and ratios[-1] < 1.01


@pytest.mark.parametrize("seed", range(24))
def test_a_serial_schedule_is_never_faster_than_a_pipelined_one(paper, seed):
    """A pipelined schedule may overlap what a serial one runs one after another and is
    never forced to wait where the serial one is not: for the same mapping, serial latency
    >= pipelined latency, with the same actions and traffic."""
    config, arch, wl = varied(paper, seed)
    piped = run(paper, config, arch, wl, schedule="pipelined")[1]
    serial = run(paper, config, arch, wl, schedule="serial")[1]
    assert serial.latency_cycles >= piped.latency_cycles
    assert serial.arith == piped.arith
    assert serial.dram_read_bytes == piped.dram_read_bytes


@pytest.mark.parametrize("seed", range(24))
def test_wider_words_with_a_proportional_buffer_double_the_bytes_not_the_words(paper, seed):
    """Doubling the word size and the buffer's bytes keeps every count in words (the same
    rows fit, the same tiles run) and doubles DRAM bytes; compute cycles do not change, so
    latency never falls (DRAM takes twice as long)."""
    config, arch, wl = varied(paper, seed)
    # an unfused GEMM's search ranks by latency, which the bytes change: run such a config fused
    fused = {} if paper.configs[config].fused else {"fused": True}
    mapping, acts, _ = run(paper, config, arch, wl, **fused)
    wide = resized(arch, arch.array_2d.rows, arch.array_2d.cols, 2 * arch.buffer.buffer_bytes,
                   word_bytes=2 * arch.word_bytes)
    wider, wide_acts, _ = run(paper, config, wide, wl, **fused)
    assert wide_acts.dram_read_bytes == 2 * acts.dram_read_bytes
    assert wide_acts.dram_write_bytes == 2 * acts.dram_write_bytes
    assert wide_acts.buffer_read_words == acts.buffer_read_words
    assert wide_acts.arith == acts.arith
    assert wider.phases[0].compute_cycles == mapping.phases[0].compute_cycles
    assert wide_acts.latency_cycles >= acts.latency_cycles


def test_the_gemm_search_is_seeded(paper):
    """Same seed, same mapping: the unfused points are deterministic."""
    config, arch, wl = "unfused", paper.architectures["flat"], Workload(1, 1, 64, 64, 1000)
    first = run(paper, config, arch, wl)[1]
    again = run(paper, config, arch, dataclasses.replace(wl))[1]
    assert first == again and SEARCH.seed == 0


@pytest.mark.parametrize(("rows", "cols", "e", "f"), [(256, 256, 64, 64), (256, 256, 128, 128),
                                                      (32, 96, 96, 128), (64, 40, 32, 80)])
def test_flat_2d_utilisation_is_e_plus_f_over_four_tile_widths(paper, rows, cols, e, f):
    """fusemax.md §4, §8 generalised: on FLAT's binding each 2D PE does E + F MACs per tile
    while each 1D PE spends one cycle per key on each of GM, SN, SD and A (4·C per tile), so
    a compute-bound, 1D-bound FLAT point uses (E + F) / (4·C) of its 2D array (12.5 % at
    E = F = 64 on 256 columns, 25 % at 128), whatever the array's shape."""
    arch = resized(paper.architectures["flat"], rows, cols, 64 << 20,
                   bandwidth=64 * paper.architectures["flat"].dram.bandwidth_bytes_per_s)
    assert e + f < 4 * cols  # the 1D array is the busier one
    _, _, cost = run(paper, "flat", arch, Workload(64, 12, e, f, 8 * rows, 16 * cols))
    assert cost.util["2d"] == pytest.approx((e + f) / (4 * cols), rel=2e-3)
    assert cost.util["1d"] == pytest.approx(1.0, rel=2e-3)


@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), SHAPES)
def test_two_pass_per_row_corrections_run_on_the_1d_array(paper, rows, cols, e, f, p, m):
    """fusemax.md §4 binds per-query-row work (running max, correction factors, rescaled
    numerators: RM, PRM, SPD, SPNV, RNV) to the 1D array and tile-sized work to the 2D array.
    The 2-pass cascade's pass-2 corrections are the same kind of work: CF[m1,p], SD[p] =
    SLD·CF and SNV[f,p] = SLNV·CF have no key inside a chunk (m0), so on the 2D array only one
    PE per row could work on them. Hence FuseMax's 2D array does exactly the 1-pass cascade's
    tile work (E + 1 + 8 + 1 + F per tile: BQK, LM, SLN, SLD, SLNV) and the 1D array the rest:
    GM and CF (1 + 8 per chunk-row), SD and SNV (1 + F MACs per chunk-row), the division."""
    arch = resized(paper.architectures["fusemax"], rows, cols)
    phase = run(paper, "fusemax", arch, Workload(1, 1, e, f, p, m),
                cascade="attention-2pass")[0].phases[0]
    p_tiles, m1 = -(-p // rows), -(-m // cols)
    assert phase.cycles["2d"] == p_tiles * m1 * (e + f + 10)
    assert phase.cycles["1d"] == p_tiles * (m1 * (1 + 8 + 1 + f) + f)


@pytest.mark.parametrize("seed", range(24))
def test_unfused_attention_pays_the_score_matrix_round_trips(paper, seed):
    """fusemax.md §6: unfused, QK, the softmax and AV are separate phases through DRAM, so
    beyond reading Q, K, V and writing AV once, the P × M scores go out and back (QK written
    by the GEMM, read by the softmax) and so do the probabilities A (written by the softmax,
    read by the AV GEMM): at least E·P + E·M + F·M + F·P + 4·P·M words per head."""
    _, arch, wl = varied(paper, seed)
    arch = resized(paper.architectures["flat"], arch.array_2d.rows, arch.array_2d.cols,
                   arch.buffer.buffer_bytes, arch.dram.bandwidth_bytes_per_s, arch.word_bytes)
    _, acts, _ = run(paper, "unfused", arch, wl)
    p, m = wl.seq_len, wl.keys or wl.seq_len
    words = (acts.dram_read_bytes + acts.dram_write_bytes) / arch.word_bytes
    assert words >= wl.batch * wl.heads * (wl.e * (p + m) + wl.f * (m + p) + 4 * p * m)


@pytest.mark.parametrize("seed", range(0, 24, 2))
@pytest.mark.parametrize("kv_heads", [None, 1])
def test_end_to_end_adds_the_layers_linear_macs_to_attention(paper, seed, kv_heads):
    """End to end = attention + the layer's linear GEMMs for B·P tokens: Q and output
    projections d_model × H·hd each, K and V projections d_model × G·hd each (G = kv_heads,
    H without), two FFN layers d_model × ffn: 2·tokens·d_model·(H·hd + G·hd + ffn) MACs
    more, on any array; their time adds (they run before and after attention)."""
    config, arch, _ = varied(paper, seed)
    model = Model(d_model=640, heads=10, head_dim=64, ffn=1000, kv_heads=kv_heads)
    cascade = "attention-1pass-gqa" if kv_heads and paper.configs[config].fused else None
    configs = {**paper.configs}
    if cascade:
        configs[config] = dataclasses.replace(configs[config], cascade=cascade)
    design = dataclasses.replace(
        paper, models={"m": model}, configs=configs,
        architectures={**paper.architectures, configs[config].architecture: arch},
        gemm_search=SEARCH)
    attention = evaluate(design, Point("m", 1000, config, "attention"))[1]
    both = evaluate(design, Point("m", 1000, config, "end_to_end"))[1]
    tokens, g = paper.sweep.batch * 1000, kv_heads or 10
    extra = 2 * tokens * 640 * (10 * 64 + g * 64 + 1000)
    assert both.arith["2d"]["mac"] - attention.arith["2d"]["mac"] == extra
    assert both.latency_cycles - attention.latency_cycles >= extra / (
        arch.array_2d.rows * arch.array_2d.cols)


@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), SHAPES)
def test_unfused_one_pass_phases_exchange_every_tensor_through_dram(paper, rows, cols, e, f, p,
                                                                    m):
    """Unfused, each phase runs to completion through DRAM, so what one phase makes and a
    later one reads goes out and back, running state included: the 1-pass cascade's last
    phase (PRM, SPD, RD, SPNV, RNV, AV) reads SLD (M1·P), SLNV (F·M1·P) and the running max
    RM of every chunk (M1·P; PRM = exp(RM[m1] - RM[m1+1]) needs all of them) that the
    softmax phase wrote, and writes AV (F·P)."""
    arch = resized(paper.architectures["fusemax"], rows, cols)
    mapping, _, _ = run(paper, "unfused", arch, Workload(1, 1, e, f, p, m),
                        cascade="attention-1pass")
    m1 = -(-m // cols)
    softmax, last = mapping.phases[1], mapping.phases[3]
    assert {w.bound.name for w in last.work} == {"PRM", "SPD", "RD", "SPNV", "RNV", "AV"}
    assert last.dram_read_words == m1 * p + f * m1 * p + m1 * p
    assert last.dram_write_words == f * p
    # the softmax phase reads BQK (P·M present scores) and writes SLN, SLD and RM
    assert softmax.dram_read_words == p * m
    assert softmax.dram_write_words == p * m + 2 * m1 * p
