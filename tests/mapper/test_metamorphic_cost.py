"""Metamorphic tests of pricing off the paper's points: energy is the action counts times
fusemax.md §5's per-action energies (recomputed here from the counts and the table's
published values, not through `mapper.price`), area is the table's unit areas times the
units, both scale linearly with the table, and `attnforge explain` prints the numbers
`attnforge explore` writes for the same point."""

from __future__ import annotations

import csv
import dataclasses
import re

import pytest

from attnforge.cli import main
from mapper.spec import CostTable

from .varied import run, varied

# fusemax.md §5 (and docs/mapper.md's table for what §5 leaves out: leakage, exp unit, SRAM
# area), written out here so the test does not read the model's own preset
MAC, ADD, MAX, DIV, EXP = 17.16, 8.34, 0.028, 36.25, 94.6475
RF_READ, RF_WRITE, RF_UM2, RF_LEAK = 2.19, 1.91, 16849.0, 0.000431  # 32 x 16-bit entries
DRAM_PER_64B, ROW_READ, ROW_WRITE = 249.6, 485.0, 451.0
LEAK = {"mac": 0.180192, "add": 0.084574, "max": 0.000013, "div": 0.0, "exp": 0.99658}
UM2 = {"mac": 1545.0, "add": 1030.0, "max": 49.3, "div": 23741.0, "exp": 8240.0}
SRAM_UM2_PER_BIT = 94176000.0 / (32 * 2**20 * 8)
MD = CostTable(preset="fusemax-md")


def _rf_scale(pe, arch) -> float:
    """The per_entry rule: an RF of d entries of w bits costs (d·w)/(32·16) of §5's RF."""
    return pe.rf_entries * 8 * arch.word_bytes / (32 * 16)


def _pe_leak(pe, arch) -> float:
    units = {"mac": pe.mac, "add": pe.add, "max": pe.max, "div": pe.divider,
             "exp": pe.exp == "unit"}
    return RF_LEAK * _rf_scale(pe, arch) + sum(LEAK[u] for u, has in units.items() if has)


def _pe_um2(pe, arch) -> float:
    # a PE's adder is the MAC's own when it has a MAC (docs/mapper.md: "adder area beside a
    # MAC: not counted")
    units = {"mac": pe.mac, "add": pe.add and not pe.mac, "max": pe.max, "div": pe.divider,
             "exp": pe.exp == "unit"}
    return RF_UM2 * _rf_scale(pe, arch) + sum(UM2[u] for u, has in units.items() if has)


@pytest.mark.parametrize("seed", range(24))
def test_energy_is_the_action_counts_times_the_tables_energies(paper, seed):
    """Energy = Σ actions × per-action energy: arithmetic per unit, RF accesses at the
    per_entry RF's energies, buffer words at a 4096-bit row's energy over its words, DRAM
    per 64-bit access, and every PE unit's and RF's leakage over the latency (§5's table has
    no buffer leakage)."""
    config, arch, wl = varied(paper, seed)
    _, acts, cost = run(paper, config, arch, wl, table=MD)
    unit = {"mac": MAC, "add": ADD, "max": MAX, "div": DIV, "exp": EXP}
    pj = sum(n * unit[k] for a in acts.arith for k, n in acts.arith[a].items())
    pes = {"2d": arch.array_2d.pe, "1d": arch.array_1d.pe}
    for a, pe in pes.items():
        pj += _rf_scale(pe, arch) * (acts.rf_reads[a] * RF_READ + acts.rf_writes[a] * RF_WRITE)
    words_per_row = arch.buffer.row_bits / (8 * arch.word_bytes)
    pj += (acts.buffer_read_words * ROW_READ + acts.buffer_write_words * ROW_WRITE) / words_per_row
    pj += (acts.dram_read_bytes + acts.dram_write_bytes) / 8 * DRAM_PER_64B
    per_cycle = (arch.array_2d.rows * arch.array_2d.cols * _pe_leak(pes["2d"], arch)
                 + arch.array_1d.pes * _pe_leak(pes["1d"], arch))
    pj += acts.latency_cycles * per_cycle
    assert cost.energy_j == pytest.approx(pj * 1e-12, rel=1e-9)


@pytest.mark.parametrize("seed", range(24))
def test_area_is_the_units_times_the_tables_areas(paper, seed):
    """Area = 2D PEs × (units + RF) + 1D PEs × (units + RF) + buffer bits × the CACTI area
    per bit §5's table carries; it depends on the architecture only."""
    config, arch, wl = varied(paper, seed)
    _, _, cost = run(paper, config, arch, wl, table=MD)
    um2 = (arch.array_2d.rows * arch.array_2d.cols * _pe_um2(arch.array_2d.pe, arch)
           + arch.array_1d.pes * _pe_um2(arch.array_1d.pe, arch)
           + arch.buffer.buffer_bytes * 8 * SRAM_UM2_PER_BIT)
    assert cost.area_mm2 == pytest.approx(um2 / 1e6, rel=1e-12)


@pytest.mark.parametrize("seed", range(0, 24, 3))
def test_energy_scales_with_the_tables_energies_and_not_the_time(paper, seed):
    """Every energy of the table × 3 (leakage included) gives 3 × the energy, the same
    latency and the same area: pricing is linear in the table and does not feed back into
    the mapping."""
    config, arch, wl = varied(paper, seed)
    fields = ("mac_pj", "add_pj", "max_pj", "div_pj", "exp_unit_pj", "dram_pj_per_64b",
              "buffer_row_read_pj", "buffer_row_write_pj", "mac_leak_pj", "add_leak_pj",
              "max_leak_pj", "div_leak_pj", "exp_unit_leak_pj", "rf_read_pj", "rf_write_pj",
              "rf_leak_pj")
    from mapper.costs import resolve

    table = resolve(MD)
    tripled = dataclasses.replace(table, **{k: 3 * getattr(table, k) for k in fields})
    _, acts, cost = run(paper, config, arch, wl, table=MD)
    _, acts3, cost3 = run(paper, config, arch, wl, table=tripled)
    assert acts3 == acts and cost3.latency_s == cost.latency_s
    assert cost3.area_mm2 == cost.area_mm2
    assert cost3.energy_j == pytest.approx(3 * cost.energy_j, rel=1e-12)


DESIGN = """\
version: 1
kind: accelerator
name: off-paper
architectures:
  fm:
    buffer: {buffer_bytes: 2097152, row_bits: 4096, banks: 32}
    array_2d: {rows: 48, cols: 40}
    array_1d: {pes: 48}
  fl:
    buffer: {buffer_bytes: 1048576, row_bits: 4096, banks: 4}
    array_2d: {rows: 32, cols: 96, pe: {max: false, exp: none, rf_entries: 4}}
    array_1d: {pes: 32, pe: {divider: true, exp: unit, rf_entries: 16}}
    word_bytes: 4
configs:
  unfused: {cascade: attention-3pass, architecture: fl, fused: false}
  flat: {cascade: attention-3pass, architecture: fl}
  fusemax: {cascade: attention-1pass, architecture: fm}
  architecture: {cascade: attention-1pass, architecture: fm, schedule: serial}
models:
  odd: {d_model: 672, heads: 7, head_dim: 96, ffn: 1000}
sweep:
  models: [odd]
  seq_lens: [1000, 3333]
  configs: [unfused, flat, fusemax, architecture]
  batch: 3
cost_table: {preset: cacti-45nm}
"""


def _cli(args, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    return out


def test_explain_prints_exactly_the_row_explore_writes(tmp_path, capsys):
    """One point, two commands, one model: explain's latency, energy, DRAM traffic, area and
    utilisations equal explore's CSV row for every config, scope and length of an off-paper
    design (rectangular arrays, head dim 96, 32-bit words, lengths not powers of two)."""
    design = tmp_path / "off.yaml"
    design.write_text(DESIGN)
    _cli(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial",
          "--quiet"], capsys)
    with (tmp_path / "o" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 4 * 2
    for r in rows:
        out = _cli(["explain", str(design), "--config", r["config"], "--seq-len",
                    r["seq_len"], "--scope", r["scope"]], capsys)
        found = re.search(r"latency (\S+) s, energy (\S+) J, DRAM traffic (\S+) GiB, "
                          r"area (\S+) mm²\nutilisation: 2D (\S+)%, 1D (\S+)%", out)
        assert found, out
        latency, energy, gib, area, u2, u1 = (float(x) for x in found.groups())
        assert latency == pytest.approx(float(r["latency_s"]), rel=1e-5)
        assert energy == pytest.approx(float(r["energy_j"]), rel=1e-5)
        assert gib == pytest.approx(float(r["traffic_bytes"]) / 2**30, rel=1e-3)
        assert area == pytest.approx(float(r["area_mm2"]), abs=0.05)
        assert u2 == pytest.approx(100 * float(r["util_2d"]), abs=0.05)
        assert u1 == pytest.approx(100 * float(r["util_1d"]), abs=0.05)
