"""The 2-pass cascade (TileFlow / Choi et al.) unfused, as fusemax.md §6 builds Unfused for
the 3-pass one: each contraction reused across query rows is a GEMM phase (BQK; SLNV batched
over the chunks m1 it keeps), the other Einsums vector phases, every intermediate written to
DRAM once and read back once per phase that reads it. Expected values are derived by hand
from the cascade (einsum/library/attention-2pass.af), never from the model's output."""

from __future__ import annotations

import pytest

from attnforge.cli import main
from mapper.context import Workload
from mapper.lower import dram_cycles

from .varied import resized, run, varied

CASCADE = "attention-2pass"
PHASES = ["gemm BQK", "vector LM+SLN+SLD", "gemm SLNV", "vector GM+CF+SD+SNV+AV"]
SHAPES = [(8, 8, 16, 24, 64, 64), (8, 8, 16, 24, 64, 60), (16, 40, 96, 128, 100, 333),
          (48, 8, 128, 96, 77, 700)]


def _unfused(paper, rows, cols, wl, **changes):
    arch = resized(paper.architectures["fusemax"], rows, cols, **changes)
    return run(paper, "unfused", arch, wl, cascade=CASCADE)


@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), SHAPES)
def test_phases_and_their_multiplies(paper, rows, cols, e, f, p, m):
    """Four phases: the GEMMs BQK and SLNV, the chunk softmax (LM, SLN, SLD) between them and
    the correction (GM, CF, SD, SNV, AV) after. The GEMM phases multiply what the cascade
    does per head: BQK P·M·E, SLNV P·M·F (a partial last chunk has only its keys). SD[p] =
    SLD[m1,p]·CF[m1,p] and SNV[f,p] = SLNV[f,m1,p]·CF[m1,p] reuse no word across query rows
    (every operand has p): they are the 1D array's M1·P and F·M1·P multiplies."""
    mapping, acts, _ = _unfused(paper, rows, cols, Workload(2, 3, e, f, p, m))
    assert [ph.name for ph in mapping.phases] == PHASES
    assert [ph.kind for ph in mapping.phases] == ["gemm", "vector", "gemm", "vector"]
    m1 = -(-m // cols)
    macs = {w.bound.name: (w.bound.array, w.points * w.bound.actions["mac"])
            for ph in mapping.phases for w in ph.work if w.bound.name in
            ("BQK", "SLNV", "SD", "SNV")}
    assert macs == {"BQK": ("2d", p * m * e), "SLNV": ("2d", p * m * f),
                    "SD": ("1d", m1 * p), "SNV": ("1d", f * m1 * p)}
    gemm_macs = sum(q.gemm.m * q.gemm.n * q.gemm.k * q.gemm.count
                    for ph in mapping.phases for q in ph.gemm_parts)
    assert gemm_macs == p * m * (e + f)
    assert acts.busy_2d_by_einsum["BQK"] == 6 * p * m * e
    assert acts.busy_2d_by_einsum["SLNV"] == 6 * p * m * f


@pytest.mark.parametrize("m", [64, 60])
def test_dram_traffic_is_the_sum_of_the_phases_tensors(paper, m):
    """With a buffer holding everything (16 MiB against kilobytes), each phase reads each
    input once and writes each output once, per head (M1 = ceil(M / 8) chunks):
    BQK reads Q (E·P), K (E·M), writes BQK (P·M); the chunk softmax reads BQK, writes SLN
    (P·M), LM and SLD (M1·P each); SLNV reads SLN and V (F·M), writes SLNV (F·M1·P); the
    correction reads LM, SLD, SLNV and writes AV (F·P)."""
    e, f, p, b, h = 16, 24, 64, 2, 3
    mapping, acts, _ = _unfused(paper, 8, 8, Workload(b, h, e, f, p, m))
    m1 = -(-m // 8)
    reads = [e * p + e * m, p * m, p * m + f * m, 2 * m1 * p + f * m1 * p]
    writes = [p * m, p * m + 2 * m1 * p, f * m1 * p, f * p]
    assert [ph.dram_read_words for ph in mapping.phases] == reads
    assert [ph.dram_write_words for ph in mapping.phases] == writes
    assert all(ph.spill_words == 0 for ph in mapping.phases)
    assert acts.dram_read_bytes == b * h * sum(reads) * 2
    assert acts.dram_write_bytes == b * h * sum(writes) * 2


@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (8, 8, 16, 16, 64, 128), (16, 32, 64, 96, 96, 320)])
def test_compute_bound_latency_is_the_sum_of_the_phases(paper, rows, cols, e, f, p, m):
    """At 10^6 times the DRAM bandwidth every phase is compute bound, so per head the
    latency is the GEMMs' and the vector phases' compute, one after the other, plus one fill
    of the 2D array (R + C - 2) for the whole run. With R | P and C | M (M0 = C, M1 = M / C):
    BQK (P/R)(M/C)·E cycles; LM, SLN (sub + exp as 6 MACs + 1 add), SLD on the 2D array,
    1 + 8 + 1 cycles per tile point: 10·M1·P/R; SLNV M1 GEMMs (P × C)·(C × F):
    M1·(P/R)·ceil(F/C)·C; on the 1D array (R PEs) GM 1, CF 8, SD 1, SNV F cycles per
    (m1, p) and AV one division per (f, p): (M1·(10 + F) + F)·P/R."""
    fast = paper.architectures["fusemax"].dram.bandwidth_bytes_per_s * 1e6
    b, h = 1, 2
    mapping, acts, _ = _unfused(paper, rows, cols, Workload(b, h, e, f, p, m), bandwidth=fast)
    m1, pt = m // cols, p // rows
    phases = [pt * m1 * e, 10 * m1 * pt, m1 * pt * -(-f // cols) * cols, (m1 * (10 + f) + f) * pt]
    assert [ph.compute_cycles for ph in mapping.phases] == phases
    for ph in mapping.phases:
        assert dram_cycles(mapping.arch, ph.dram_read_words + ph.dram_write_words) < 1
    assert acts.latency_cycles == pytest.approx(b * h * sum(phases) + rows + cols - 2)


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("schedule", ["pipelined", "serial"])
def test_unfused_is_never_faster_than_fused(paper, seed, schedule):
    """On the same arrays, buffer, DRAM and schedule, the fused 2-pass cascade does the same
    arithmetic without the unfused phases' DRAM round trips of BQK, SLN, LM, SLD and SLNV,
    so unfusing it never makes it faster; the DRAM traffic is strictly larger.

    One dataflow difference is allowed for: a partial last key chunk occupies the whole
    fused tile, so fused SLNV spends its F cycles per query tile on it whatever its keys,
    while the unfused output-stationary GEMM runs that chunk's keys in time (the other
    chunks cost it ceil(F/C)·C >= F). A serial schedule exposes that saving (up to
    instances · P tiles · F cycles); a pipelined one hides it behind the overlapped arrays."""
    _, arch, wl = varied(paper, seed)
    arch = resized(paper.architectures["fusemax"], arch.array_2d.rows, arch.array_2d.cols,
                   arch.buffer.buffer_bytes, arch.dram.bandwidth_bytes_per_s, arch.word_bytes)
    _, unfused, _ = run(paper, "unfused", arch, wl, cascade=CASCADE, schedule=schedule)
    _, fused, _ = run(paper, "fusemax", arch, wl, cascade=CASCADE, schedule=schedule)
    partial = (wl.keys or wl.seq_len) % arch.array_2d.cols != 0
    saving = wl.batch * wl.heads * -(-wl.seq_len // arch.array_2d.rows) * wl.f
    allowed = saving if partial and schedule == "serial" else 0
    assert unfused.latency_cycles >= fused.latency_cycles - allowed
    assert unfused.dram_read_bytes + unfused.dram_write_bytes > (
        fused.dram_read_bytes + fused.dram_write_bytes)


def test_a_long_fiber_spills_in_the_correction_phase(paper):
    """The correction phase holds each query row's M1 local maxima LM across its two passes
    (GM over all chunks, then CF per chunk): one M fiber at a time at least, spilling the
    rest once the buffer is too small (fusemax.md §6), re-read by the one later pass. At
    M = 2^22 on an 8 x 8 array a row's fiber is M1 = 2^19 words, the whole 1 MiB buffer of
    2-byte words, beside the phase's 4 DRAM tensors' double-buffered 8 x 8 tiles (512
    words): 512 words of each of the P rows' fibers spill (LM is already in DRAM, written by
    the chunk softmax, so they are only re-read)."""
    e = f = 64
    p, m = 64, 1 << 22
    roomy, _, _ = _unfused(paper, 8, 8, Workload(1, 1, e, f, p, m))
    small, _, _ = _unfused(paper, 8, 8, Workload(1, 1, e, f, p, m), buffer_bytes=1 << 20)
    assert roomy.phases[3].held == small.phases[3].held == ("LM",)
    assert roomy.phases[3].spill_fraction == 0.0
    assert small.phases[3].spill_fraction > 0.0 and small.phases[3].rows_per_block == 1
    assert small.phases[3].spill_fraction == 512 / 2**19
    assert small.phases[3].spill_words == p * 512


DESIGN = """\
version: 1
kind: accelerator
name: mine
architectures:
  a: {buffer: {buffer_bytes: BUFFER}}
configs:
  two: {cascade: attention-2pass, architecture: a, fused: false}
models:
  m: {d_model: 768, heads: 12, head_dim: 64, ffn: 3072}
sweep:
  models: [m]
  seq_lens: [1024]
  configs: [two]
  scopes: [attention]
"""


@pytest.mark.parametrize("command", ["explore", "explain"])
def test_cli_runs_it_and_locates_a_buffer_too_small(command, tmp_path, capsys):
    """`explore` and `explain` run an unfused 2-pass config. Each vector phase reads or
    writes 4 DRAM tensors (BQK in, SLN, LM, SLD out; LM, SLD, SLNV in, AV out), a
    double-buffered tile of 256 x 256 words each: 4 x 2 x 256 x 256 x 2 B = 1 MiB. A buffer
    of 1,000,000 bytes holds three of those tiles, not four: the error is one line at the
    buffer's key (config and model named)."""
    design = tmp_path / "mine.yaml"
    design.write_text(DESIGN.replace("BUFFER", "16777216"))
    argv = [command, str(design)] + (["--out", str(tmp_path / "o"), "--backend", "serial",
                                      "--quiet"] if command == "explore" else [])
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    if command == "explain":
        assert "GEMM SLNV" in out and "vector phase GM, CF, SD, SNV, AV" in out
    assert 3 * 2 * 256 * 256 * 2 < 1_000_000 < 4 * 2 * 256 * 256 * 2
    text = DESIGN.replace("BUFFER", "1000000")
    design.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "buffer_bytes" in row)
    with pytest.raises(SystemExit) as info:
        main(argv)
    _, err = capsys.readouterr()
    assert info.value.code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"attnforge: error: {design}:{line}:"), err
    assert "architectures.a.buffer.buffer_bytes" in err and "config two" in err, err


def test_fused_and_unfused_do_the_same_arithmetic(paper):
    """Fusion changes where values live, not what is computed: per Einsum, the same points
    and per-point actions fused and unfused (same binding rule on the same arrays)."""
    arch = resized(paper.architectures["fusemax"], 16, 16)
    wl = Workload(1, 2, 32, 48, 160, 200)
    fused, a, _ = run(paper, "fusemax", arch, wl, cascade=CASCADE)
    unfused, b, _ = run(paper, "unfused", arch, wl, cascade=CASCADE)
    assert a.arith == b.arith
    work = {w.bound.name: (w.points, w.bound.array) for w in fused.phases[0].work}
    assert work == {w.bound.name: (w.points, w.bound.array)
                    for ph in unfused.phases for w in ph.work}
