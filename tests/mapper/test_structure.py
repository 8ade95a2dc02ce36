"""Structural facts of the lowered cascades (fusemax.md §4-§6), each derived independently."""

from __future__ import annotations

import dataclasses

import pytest

import einsum
from mapper.count import count
from mapper.evaluate import Point, evaluate, map_attention
from mapper.lower import Workload, lower
from mapper.spec import CostTable, GemmSearch

LENGTHS = (1024, 4096, 16384, 65536, 262144, 1048576)


def _lower(design, config: str, wl: Workload):
    spec = design.configs[config]
    arch = design.architectures[spec.architecture]
    return lower(einsum.library.get(spec.cascade), arch, spec, wl, GemmSearch(), config)


@pytest.mark.parametrize("config", ["unfused", "flat", "cascade", "architecture", "fusemax"])
@pytest.mark.parametrize("n", [1024, 65536])
def test_gemm_macs_are_bhpm_times_e_plus_f(paper, config, n):
    m = map_attention(paper, Point("xlm", n, config, "attention"))
    actions = count(m)
    contractions = sum(v for k, v in actions.busy_2d_by_einsum.items()
                       if k in ("QK", "AV", "BQK", "SLNV"))
    assert contractions == 64 * 16 * n * n * (128 + 128)


def test_binding_follows_the_units_and_data_locality(paper):
    fm = map_attention(paper, Point("bert", 4096, "fusemax", "attention"))
    on = {a: {w.bound.name for w in fm.phases[0].work if w.bound.array == a} for a in ("2d", "1d")}
    assert on["2d"] == {"BQK", "LM", "SLN", "SLD", "SLNV"}
    assert on["1d"] == {"RM", "PRM", "SPD", "RD", "SPNV", "RNV", "AV"}
    cascade = map_attention(paper, Point("bert", 4096, "cascade", "attention"))
    assert {w.bound.name for w in cascade.phases[0].work if w.bound.array == "2d"} == {"BQK", "SLNV"}


def test_fusemax_per_tile_work_matches_the_paper_hint(paper):
    # per 256×256 tile: 2D = E + 1 (LM) + 8 (sub + 6 MAC + 1 add) + 1 (SLD) + F per PE;
    # 1D per query row = 1 (RM) + 8 (PRM) + 1 (SPD) + 1 (RD) + F (SPNV) + F (RNV), + F divisions
    e = f = 64
    n = 4096
    phase = map_attention(paper, Point("bert", n, "fusemax", "attention")).phases[0]
    tiles = (n // 256) ** 2
    assert phase.cycles["2d"] == tiles * (e + 1 + 8 + 1 + f)
    assert phase.cycles["1d"] == tiles * (1 + 8 + 1 + 1 + 2 * f) + (n // 256) * f


@pytest.mark.parametrize("model,e", [("bert", 64), ("xlm", 128)])
def test_fusemax_utilisation_is_1d_bound_and_rises_with_length(paper, model, e):
    for n in LENGTHS:
        cost = evaluate(paper, Point(model, n, "fusemax", "attention"))[2]
        m1 = n // 256
        expected = m1 * (2 * e + 10) / (m1 * (2 * e + 11) + e)  # 2D busy / 1D-bound span
        assert cost.util["2d"] == pytest.approx(expected, rel=1e-3)
    assert expected >= 0.99


def test_fusemax_2d_utilisation_headlines(paper):
    util = {n: evaluate(paper, Point("bert", n, "fusemax", "attention"))[2].util["2d"]
            for n in LENGTHS}
    assert util[1024] == pytest.approx(0.89, abs=0.01)
    assert all(util[n] >= 0.99 for n in LENGTHS if n >= 65536)


@pytest.mark.parametrize("model,expected", [("bert", 0.125), ("xlm", 0.25)])
def test_flat_utilisation_while_compute_bound_then_drops(paper, model, expected):
    util = {n: evaluate(paper, Point(model, n, "flat", "attention"))[2].util["2d"]
            for n in LENGTHS}
    assert util[4096] == pytest.approx(expected, rel=1e-3)  # (E + F) / (4 · 256)
    assert util[1048576] < expected


def test_fusemax_buffer_need_does_not_grow_with_m(paper):
    needs = {_lower(paper, "fusemax", Workload(1, 1, 64, 64, 4096, keys)).phases[0]
             .buffer_need_bytes for keys in (1024, 65536, 1048576, 4 * 1048576)}
    assert len(needs) == 1
    for n in LENGTHS:
        assert map_attention(paper, Point("xlm", n, "fusemax", "attention")).phases[0] \
            .spill_fraction == 0.0


def test_flat_buffer_need_grows_with_m_and_spills_past_capacity(paper):
    cap = paper.architectures["flat"].buffer.buffer_bytes
    spill = {}
    for keys in (16384, 65536 // 2, 131072, 262144, 1048576):
        phase = _lower(paper, "flat", Workload(1, 1, 64, 64, 4096, keys)).phases[0]
        spill[keys] = phase.spill_fraction
        # one block of 256 query rows holds one M fiber of QK (then SN, in place)
        assert phase.buffer_need_bytes >= 256 * keys * 2
    assert spill[16384] == 0.0 and spill[32768] == 0.0
    # 256 rows × 128K keys × 2 B = 64 MiB against 32 MiB: about half spills (fusemax.md §6)
    assert 256 * 131072 * 2 == 2 * cap
    assert spill[131072] == pytest.approx(0.5, abs=0.02)
    assert spill[262144] > 0.7 and spill[1048576] > spill[262144]


@pytest.mark.parametrize("config", ["unfused", "flat", "cascade", "architecture", "fusemax"])
@pytest.mark.parametrize("n", [1024, 262144])
def test_dram_traffic_at_least_compulsory(paper, config, n):
    _, actions, _ = evaluate(paper, Point("t5", n, config, "attention"))
    compulsory = 64 * 8 * (n * 64 * 4) * 2  # Q, K, V read and AV written, 2-byte words
    assert actions.dram_read_bytes + actions.dram_write_bytes >= compulsory


def test_fusemax_attention_energy_is_at_least_95_percent_2d_macs(paper):
    # fusemax.md §5: "At these numbers [§5's table], at least 95% of FuseMax's attention energy
    # is 2D-array MAC compute" - priced with §5's table (under cacti-45nm the buffer's ~90 pJ
    # per word takes 7-10%: docs/mapper.md)
    design = dataclasses.replace(paper, cost_table=CostTable(preset="fusemax-md"))
    for model in paper.sweep.models:
        for n in LENGTHS:
            cost = evaluate(design, Point(model, n, "fusemax", "attention"))[2]
            assert cost.energy_by_component_j["2d mac"] >= 0.95 * cost.energy_j, (model, n)


def test_fused_kv_traffic_matches_a_brute_force_walk_of_the_nest(paper):
    """Walk p2 → m-tiles on a tiny FuseMax (4 × 4 array, 2 KiB buffer) and count DRAM words."""
    arch = dataclasses.replace(paper.architectures["fusemax"])
    arch = dataclasses.replace(arch, array_2d=dataclasses.replace(arch.array_2d, rows=4, cols=4),
                               array_1d=dataclasses.replace(arch.array_1d, pes=4),
                               buffer=dataclasses.replace(arch.buffer, buffer_bytes=2048))
    spec = paper.configs["fusemax"]
    e = f = 8
    p, m = 40, 24
    phase = lower(einsum.library.get(spec.cascade), arch, spec, Workload(1, 1, e, f, p, m),
                  GemmSearch()).phases[0]
    rows = phase.rows_per_block
    reads = writes = 0
    held_q = None
    for start in range(0, p, rows):
        block = range(start, min(start + rows, p))
        for _m_tile in range(0, m, 4):
            reads += 4 * e + 4 * f  # one tile of K and of V per block and m-tile
            if held_q != start:
                reads += len(block) * e  # the block's queries, once
                held_q = start
        writes += len(block) * f
    assert (phase.dram_read_words, phase.dram_write_words) == (reads, writes)
    assert rows < p  # the block is smaller than P: K and V really are re-read


def test_array_dim_equal_to_the_design_is_the_design(paper):
    # with no buffer_reference_dim, the buffer scales from the architecture's own array size:
    # a 128 x 128 design swept at d = 128 keeps its buffer; at d = 256 everything doubles
    from mapper.evaluate import architecture
    from mapper.spec import Array1D, Array2D, Buffer

    small = dataclasses.replace(paper.architectures["fusemax"], array_2d=Array2D(
        128, 128, paper.architectures["fusemax"].array_2d.pe), array_1d=Array1D(
        128, paper.architectures["fusemax"].array_1d.pe), buffer=Buffer(4 << 20, 2048, 8))
    design = dataclasses.replace(paper, architectures={**paper.architectures, "fusemax": small},
                                 sweep=dataclasses.replace(paper.sweep,
                                                           buffer_reference_dim=None))
    assert architecture(design, Point("bert", 1024, "fusemax", "attention", 128)) == small
    doubled = architecture(design, Point("bert", 1024, "fusemax", "attention", 256)).buffer
    assert (doubled.buffer_bytes, doubled.row_bits, doubled.banks) == (8 << 20, 4096, 16)
