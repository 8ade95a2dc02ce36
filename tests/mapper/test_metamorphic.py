"""Metamorphic tests of the mapper off the paper's points (fusemax.md §3-§5): relations that
hold by algebra or first principles for every array shape, buffer, bandwidth, word size and
workload, checked on seeded varied designs (`tests/mapper/varied.py`). Each test's docstring
states its relation; no expected value is taken from the model's own output."""

from __future__ import annotations

import dataclasses

import pytest

from mapper.context import Workload
from mapper.lower import dram_cycles

from .varied import resized, run, varied

CASCADES = ["attention-1pass", "attention-2pass", "attention-3pass"]


def _score_einsums(name: str) -> tuple[str, str]:
    return ("QK", "AV") if name == "attention-3pass" else ("BQK", "SLNV")


@pytest.mark.parametrize(("cascade", "fused"), [
    (c, fused) for c in CASCADES for fused in (True, False)])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (256, 256, 64, 64, 1000, 1000), (16, 40, 96, 128, 100, 333), (48, 8, 128, 96, 77, 700),
    (32, 32, 64, 64, 1024, 4096)])
def test_contraction_macs_are_p_m_e_and_p_m_f(paper, cascade, fused, rows, cols, e, f, p, m):
    """QK and AV do P·M·E and P·M·F multiply-accumulates per head in every cascade, fused or
    not, whatever the tiling: a split's partial last chunk has fewer keys (its missing points
    are absent, `einsum.execute`), so padding the chunk to M0 adds array time, not MACs."""
    arch = resized(paper.architectures["fusemax"], rows, cols)
    _, actions, _ = run(paper, "fusemax", arch, Workload(2, 3, e, f, p, m), cascade=cascade,
                        fused=fused)
    qk, av = _score_einsums(cascade)
    assert actions.busy_2d_by_einsum[qk] == 6 * p * m * e
    assert actions.busy_2d_by_einsum[av] == 6 * p * m * f


@pytest.mark.parametrize("cascade", CASCADES)
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (256, 256, 64, 64, 1024, 1024), (16, 40, 96, 128, 100, 333), (32, 32, 64, 64, 512, 4096)])
def test_unfused_gemm_phases_compute_their_einsums_iteration_space(paper, cascade, rows, cols,
                                                                   e, f, p, m):
    """An unfused GEMM phase multiplies what its Einsum does, no more: a rank both operands
    and the output carry (SLNV's chunk m1: SLN[m1,m0,p] · BV[f,m1,m0]) is a batch of M1
    independent (P × M0)·(M0 × F) GEMMs, not one (M1·P × M0)·(M0 × F·M1) GEMM, which would
    multiply every chunk's scores by every chunk's values (M1 times the work), and a partial
    last chunk's GEMM runs over the keys it has (M - (M1 - 1)·M0). So a phase's GEMMs
    multiply exactly the Einsum's present points (P·M·E for QK/BQK, P·M·F for AV/SLNV),
    it writes its output (P·M words for QK/BQK, F·M1·P for SLNV) at least once, and it
    takes at least MACs / PEs cycles."""
    arch = resized(paper.architectures["fusemax"], rows, cols)
    mapping, _, _ = run(paper, "unfused", arch, Workload(1, 1, e, f, p, m), cascade=cascade)
    exact = {"QK": p * m * e, "AV": p * m * f, "BQK": p * m * e, "SLNV": p * m * f}
    out = {"QK": p * m, "AV": f * p, "BQK": p * m, "SLNV": f * -(-m // cols) * p}
    gemms = [phase for phase in mapping.phases if phase.gemm is not None]
    assert [phase.work[0].bound.name for phase in gemms] == [*_score_einsums(cascade)]
    for phase in gemms:
        name = phase.work[0].bound.name
        macs = sum(q.gemm.m * q.gemm.n * q.gemm.k * q.gemm.count for q in phase.gemm_parts)
        assert macs == exact[name], name
        assert out[name] <= phase.dram_write_words, name
        assert phase.compute_cycles >= macs / (rows * cols)


SEEDS = range(24)


def _varied(paper, seed):
    config, arch, wl = varied(paper, seed)
    return config, arch, wl, run(paper, config, arch, wl)


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_and_heads_scale_everything_but_one_pipeline_fill_linearly(paper, seed):
    """B·H instances of a head share nothing (no cross-head reuse: each reads its own Q, K, V),
    so actions, buffer and DRAM traffic are exactly linear in B·H, and B and H are
    interchangeable; latency is affine: heads run back to back through the pipeline, whose
    one-time fill (`Mapping.fill_drain_cycles`) is paid once. Energy is then affine too
    (leakage × latency), and area does not depend on the workload at all."""
    config, arch, wl, (mapping, one, cost) = _varied(paper, seed)
    base = dataclasses.replace(wl, batch=1, heads=1)
    runs = {n: run(paper, config, arch, dataclasses.replace(base, batch=n)) for n in (1, 2, 3)}
    for n in (2, 3):
        _, acts, c = runs[n]
        _, acts1, c1 = runs[1]
        assert acts.dram_read_bytes == n * acts1.dram_read_bytes
        assert acts.dram_write_bytes == n * acts1.dram_write_bytes
        assert acts.buffer_read_words == n * acts1.buffer_read_words
        assert acts.arith == {a: {k: n * v for k, v in acts1.arith[a].items()}
                              for a in acts1.arith}
        once = runs[1][0].fill_drain_cycles
        assert acts.latency_cycles - once == pytest.approx(n * (acts1.latency_cycles - once))
        assert c.area_mm2 == c1.area_mm2
    e = [runs[n][2].energy_j for n in (1, 2, 3)]
    assert e[2] - e[1] == pytest.approx(e[1] - e[0], rel=1e-9)
    swapped = run(paper, config, arch, dataclasses.replace(wl, batch=wl.heads, heads=wl.batch))
    assert swapped[1] == one and swapped[2] == cost


@pytest.mark.parametrize("seed", SEEDS)
def test_more_dram_bandwidth_never_slows_and_helps_only_dram_bound_phases(paper, seed):
    """Doubling DRAM bandwidth halves every transfer's cycles and changes no fused mapping
    (the buffer decides the blocks): latency never rises; a phase bound by DRAM speeds up
    and one bound by compute does not. (An unfused GEMM's search may trade traffic for
    speed, so only its latency is compared.)"""
    config, arch, wl, (mapping, acts, _) = _varied(paper, seed)
    fast = resized(arch, arch.array_2d.rows, arch.array_2d.cols,
                   bandwidth=2 * arch.dram.bandwidth_bytes_per_s)
    quick, quick_acts, _ = run(paper, config, fast, wl)
    assert quick_acts.latency_cycles <= acts.latency_cycles * (1 + 1e-12)
    if not mapping.config.fused:
        return
    assert quick_acts.dram_read_bytes == acts.dram_read_bytes
    phase = mapping.phases[0]
    dram = dram_cycles(arch, phase.dram_read_words + phase.dram_write_words)
    n = mapping.instances
    if dram > phase.compute_cycles:  # DRAM-bound: the time is the transfer, or compute
        expected = max(dram / 2, phase.compute_cycles)
    else:
        expected = phase.compute_cycles
    assert quick_acts.latency_cycles == pytest.approx(n * expected + quick.fill_drain_cycles)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_bigger_buffer_never_adds_dram_traffic_spills_or_time(paper, seed):
    """A buffer that holds more query rows re-reads K and V fewer times and spills less; a
    mapping that fitted still fits (the fused block and the GEMM search only gain options):
    DRAM traffic and the spilled fraction never rise with the buffer, nor does the time per
    head (for unfused points, whose GEMM search ranks by latency, only the time). The
    fused block is the largest that fits (FLAT's policy: fewest K/V re-reads), so a
    multi-pass cascade's one-time prologue (one block's passes in order) may grow with it:
    the relation is on latency less that one-time fill."""
    config, arch, wl, (mapping, acts, _) = _varied(paper, seed)
    big = resized(arch, arch.array_2d.rows, arch.array_2d.cols, 4 * arch.buffer.buffer_bytes)
    bigger, big_acts, _ = run(paper, config, big, wl)
    assert (big_acts.latency_cycles - bigger.fill_drain_cycles
            <= (acts.latency_cycles - mapping.fill_drain_cycles) * (1 + 1e-12))
    if mapping.m_passes == 1:
        assert big_acts.latency_cycles <= acts.latency_cycles * (1 + 1e-12)
    if mapping.config.fused:
        assert (big_acts.dram_read_bytes + big_acts.dram_write_bytes
                <= acts.dram_read_bytes + acts.dram_write_bytes)
        assert bigger.phases[0].spill_fraction <= mapping.phases[0].spill_fraction
        assert bigger.phases[0].rows_per_block >= mapping.phases[0].rows_per_block


@pytest.mark.parametrize("seed", SEEDS)
def test_utilisation_never_exceeds_one_and_latency_covers_the_work(paper, seed):
    """No array does more than one PE-cycle of work per PE per cycle: utilisation <= 1, and
    the latency is at least the QK and AV MACs (P·M·(E + F) per head) over the 2D PEs and at
    least the DRAM traffic over the bandwidth."""
    config, arch, wl, (mapping, acts, cost) = _varied(paper, seed)
    assert 0 < cost.util["2d"] <= 1 and 0 <= cost.util["1d"] <= 1
    heads = wl.batch * wl.heads
    macs = heads * wl.seq_len * (wl.keys or wl.seq_len) * (wl.e + wl.f)
    assert acts.latency_cycles >= macs / (arch.array_2d.rows * arch.array_2d.cols)
    bytes_per_cycle = arch.dram.bandwidth_bytes_per_s / (arch.clock_mhz * 1e6)
    traffic = acts.dram_read_bytes + acts.dram_write_bytes
    assert acts.latency_cycles >= traffic / bytes_per_cycle * (1 - 1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_narrower_mask_never_costs_more(paper, seed):
    """A mask only removes score points, so it only skips tiles: a window |m - p| < W costs
    no more time, DRAM traffic, buffer reads or arithmetic than a wider one, and none costs
    more than no mask (a window wider than the sequence costs exactly as much); causal never
    more than unmasked. Off the paper's shapes: rectangular arrays, P != M, partial tiles."""
    config, arch, wl = varied(paper, seed)
    if not paper.configs[config].fused:
        config = "fusemax"
        arch = resized(paper.architectures["fusemax"], arch.array_2d.rows, arch.array_2d.cols,
                       max(arch.buffer.buffer_bytes, 4 << 20))

    def cost(actions):
        return (actions.latency_cycles, actions.dram_read_bytes, actions.buffer_read_words,
                actions.arith["2d"]["mac"], sum(actions.arith["1d"].values()))

    dense = cost(run(paper, config, arch, wl, cascade="attention-1pass")[1])
    previous = dense
    for w in (1 << 30, 4096, 1000, 300, 64, 1):
        found = cost(run(paper, config, arch, wl, cascade="attention-1pass-window",
                         params={"W": w})[1])
        assert all(a <= b * (1 + 1e-12) for a, b in zip(found, previous, strict=True)), w
        if w == 1 << 30:
            assert found == dense
        previous = found
    causal = cost(run(paper, config, arch, wl, cascade="attention-1pass-causal")[1])
    assert all(a <= b for a, b in zip(causal, dense, strict=True))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_faster_clock_helps_compute_not_dram(paper, seed):
    """Doubling the clock at the same DRAM bandwidth halves every compute time in seconds
    and leaves every transfer's seconds alone, so latency in seconds falls by at most half
    (exactly half when nothing is DRAM-bound) and never rises; fused counts do not change."""
    config, arch, wl, (mapping, acts, cost) = _varied(paper, seed)
    fast = dataclasses.replace(arch, clock_mhz=2 * arch.clock_mhz)
    quick, quick_acts, quick_cost = run(paper, config, fast, wl)
    assert cost.latency_s / 2 * (1 - 1e-12) <= quick_cost.latency_s
    assert quick_cost.latency_s <= cost.latency_s * (1 + 1e-12)
    if mapping.config.fused:
        assert quick_acts.arith == acts.arith
        assert quick_acts.dram_read_bytes == acts.dram_read_bytes
        if "dram" not in " ".join(quick_acts.bottleneck):
            assert quick_cost.latency_s == pytest.approx(cost.latency_s / 2, rel=1e-12)
