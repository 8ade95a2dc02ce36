"""`attnforge explore` on fpga designs: results.csv columns, sweep, Pareto plot, bad files → 2."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from attnforge.cli import main
from attnforge.kinds import kind_of
from fpga.explore import points, row, summary
from fpga.spec import FpgaDesign, Techniques

DESIGN = Path(__file__).parents[2] / "designs" / "edge-moe-zcu102.yaml"
REQUIRED = ("config", "latency_ms", "dsp", "bram36", "lut", "ff", "uram", "power_w", "energy_j",
            "attn_ddr_gbps", "t_qk_ms", "t_av_ms", "t_linear_ms", "t_softmax_ms", "t_gelu_ms")


@pytest.fixture(scope="module")
def explored(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fpga-explore")
    with pytest.raises(SystemExit) as exited:
        main(["explore", str(DESIGN), "--out", str(out), "--quiet", "--backend", "serial"])
    assert exited.value.code == 0
    assert (out / "pareto.png").stat().st_size > 0
    return out


@pytest.fixture(scope="module")
def rows(explored) -> list[dict[str, str]]:
    with open(explored / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_columns_and_configs(rows):
    assert set(REQUIRED) <= set(rows[0])
    configs = [r["config"] for r in rows if r["group"] == "config"]
    assert configs == ["baseline", "patch_reorder", "single_pass_softmax", "gelu_approx",
                       "unified_linear", "attention_reorder"]


def test_sweep_covers_p_and_sizes_with_and_without_reordering(rows):
    sweep = [r for r in rows if r["group"] == "sweep"]
    assert len(sweep) == 5 * 3 * 2
    assert {int(r["attn_p"]) for r in sweep} == {1, 2, 4, 8, 16}


def test_bandwidth_column_constant_with_reordering_linear_without(rows):
    sweep = [r for r in rows if r["group"] == "sweep" and r["linear_in_par"] == "16"]
    on = {int(r["attn_p"]): float(r["attn_ddr_gbps"]) for r in sweep
          if r["attention_reorder"] == "True"}
    off = {int(r["attn_p"]): float(r["attn_ddr_gbps"]) for r in sweep
           if r["attention_reorder"] == "False"}
    assert max(on.values()) == pytest.approx(min(on.values()))
    assert on[4] == pytest.approx(32 * 300e6 / 1e9)  # one 256-bit beat per 300 MHz cycle
    for p in (2, 4, 8):
        assert off[p] / off[1] == pytest.approx(p, rel=0.1)


# DSP of the final design, unit by unit (docs/fpga.md): linear 256 MACs x 2 + 16 GELU lanes,
# attention 2 arrays x p x 8 lanes x 4, softmax p slots x 20 (a slot's 8 lanes finish one
# 64-dim head score every 8 cycles: one running + one normalise unit of 10 DSP each keep up),
# gate 256, patch 256, LN 106: rtl layernorm's 8 lanes x (x² 32 x 32: 4, 192·x: 2, D·r
# 41 x 33: 4, n·γ 32 x 16: 2) + 192·S2 (71 x 9 cut 17 + 17 + 17 + 20: 4) + S1² (40 x 40: 6).
LN_DSP = 8 * (4 + 2 + 4 + 2) + 4 + 6


def final_dsp(p: int, size: int) -> int:
    return size * size * 2 + size + 2 * p * 8 * 4 + p * 20 + 256 + 256 + LN_DSP


def test_final_dsp_formula_matches_the_paper_point(rows):
    paper = [r for r in rows if r["config"] == "attention_reorder" and r["group"] == "config"]
    assert int(paper[0]["dsp"]) == final_dsp(4, 16) == 512 + 16 + 256 + 80 + 256 + 256 + 106


# LUT of the final design, unit by unit, derived here from the documented rules alone
# (docs/fpga.md "Resources of the final design, unit by unit" and "One memory rule";
# fpga/area.py's module docstring; fpga/synthesized.py's block rule), reading the synthesized
# tables in fpga/data directly and nothing of fpga.area / fpga.fit.
DATA = Path(__file__).parents[2] / "fpga" / "data"
ZCU102_LUT = 274_080  # XCZU9EG (DS891)


def _table(name: str) -> list[dict[str, int]]:
    with open(DATA / name, newline="") as f:
        return [{k: int(v) if v.lstrip("-").isdigit() else v for k, v in r.items()}
                for r in csv.DictReader(f)]


def block_lut(in_par: int, out_par: int, a_bits: int, w_bits: int) -> int:
    """rtl `linear` block LUTs: a tabulated shape as is, else shared + out_par x column, the
    column ``two - one`` and the shared part ``one - column`` at the same input count (every
    block of the sweep has a tabulated input count, so nothing is interpolated or rounded)."""
    lut = {(r["in_par"], r["out_par"]): r["lut"] for r in _table("xcup_mac_blocks.csv")
           if (r["act_bits"], r["weight_bits"]) == (a_bits, w_bits)}
    if (in_par, out_par) in lut:
        return lut[(in_par, out_par)]
    one, two = lut[(in_par, 1)], lut[(in_par, 2)]
    column = two - one
    return (one - column) + out_par * column


def unit_lut(name: str) -> int:
    return next(r["lut"] for r in _table("xcup_units.csv") if r["unit"] == name)


def memory_lut(depth: int, width: int) -> int:
    """LUTs of a one-write, one-read memory under yosys's costs (docs "One memory rule"):
    registers 1 a bit; LUT-RAM 2 a LUT of the cell scaled by the bits used, + 0.5 a bit per
    extra bank (read mux) + 0.5 a bank (write decode) when banked, whole cells counted;
    block RAM 129 a BRAM18 of the cheapest single-configuration tiling. Cheapest wins,
    registers then LUT-RAM on a tie; only LUT-RAM costs LUTs."""
    cells = {"RAM32M16": (32, 14, 8), "RAM64M8": (64, 7, 8), "RAM128X1D": (128, 1, 4),
             "RAM256X1D": (256, 1, 8)}
    best_lutram = None
    for deep, bits, luts in cells.values():
        banks = -(-depth // deep)
        cost = 2 * luts * banks * width / bits + 0.5 * (banks - 1) * width
        cost += 0.5 * banks if banks > 1 else 0
        count = -(-width // bits) * banks * luts
        if best_lutram is None or cost < best_lutram[0]:
            best_lutram = (cost, count)
    bram = min(-(-width // w) * -(-depth // h) for w, h in
               ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))) * 129
    if depth * width <= min(best_lutram[0], bram) or bram < best_lutram[0]:
        return 0
    return best_lutram[1]


def final_lut(p: int, size: int) -> int:
    """LUT of the final design (every technique on) with attention parallelism ``p`` and a
    ``size x size`` linear unit, ZCU102 defaults otherwise (fpga/spec.py, M3ViT)."""
    d, hidden, lanes, heads, experts = 192, 768, 8, 3, 16
    head_dim = d // heads
    linear = (block_lut(size, size, 32, 16)                      # MAC block, 32 x 16 b
              + 2 * memory_lut(d * hidden // size**2, 16 * size**2)  # ping/pong weights
              + memory_lut(hidden // size, 32 * size)            # input row cache
              + size * unit_lut("gelu"))                         # fused GELU lanes
    token_cache = memory_lut(d // lanes, lanes * 32)
    attention = (block_lut(lanes, p, 32, 32) + p * block_lut(1, lanes, 32, 32)
                 + 2 * (p + 1) * token_cache)
    # one running and one normalise unit per slot (8 lanes < 64-dim heads: a slot ends at most
    # one head a cycle), the slot's other heads' (max, sum) in a memory read 2 words a cycle
    assert lanes < head_dim
    softmax = p * (unit_lut("softmax") + unit_lut("normalise")
                   + memory_lut((heads - 1) * 2 // 2, 2 * 32))
    gate = block_lut(128 // experts, experts, 32, 16) + memory_lut(experts * d // 128, 128 * 16)
    ln = next(r["lut"] + r["lutram"] for r in _table("xcup_layernorm.csv")
              if (r["d"], r["lanes"], r["act_bits"]) == (d, 8, 32))
    add = 8 * 32
    patch = (block_lut(16, 16, 9, 16)  # 256 MACs as 16 x 16 columns of unsigned 8 b pixels
             + memory_lut(3 * 16 * 16 * d // 256, 256 * 16))
    axi = 5 * 2500
    return linear + attention + softmax + gate + ln + add + patch + axi


def test_final_lut_derivation_reproduces_the_documented_paper_point():
    # docs/fpga.md: "LUT 106,300 of 274,080, 3,448 of them LUT-RAM (attention token caches
    # 10 x 152, gate weights 1,176, input row cache 592, each slot's (max, sum) 4 x 40)"
    assert 10 * memory_lut(24, 256) + memory_lut(24, 2048) + memory_lut(48, 512) \
        + 4 * memory_lut(2, 64) == 3_448
    assert final_lut(4, 16) == 106_300
    assert memory_lut(96, 1) == 24 and memory_lut(97, 1) == 16  # the docs' two examples


def test_sweep_points_that_do_not_fit_say_by_how_much(rows):
    sweep = [r for r in rows if r["group"] == "sweep"]
    lut_over = set()
    for r in sweep:
        p, size = int(r["attn_p"]), int(r["linear_in_par"])
        dsp, lut = final_dsp(p, size), final_lut(p, size)
        assert int(r["dsp"]) == dsp
        assert int(r["lut"]) == lut  # attention reordering changes no resource
        assert (r["fits"] == "True") == (dsp <= 2520 and lut <= ZCU102_LUT) \
            == (r["overflow"] == "")
        over = [f"DSP {dsp:,} > 2,520 (+{dsp - 2520:,})"] if dsp > 2520 else []
        if lut > ZCU102_LUT:
            over.append(f"LUT {lut:,} > {ZCU102_LUT:,} (+{lut - ZCU102_LUT:,})")
            lut_over.add((p, size))
        assert r["overflow"] == ", ".join(over)  # their BRAM and FF fit the ZCU102
    # By the rules above, p = 16 at 32 x 32 needs 109,536 (block) + 592 + 32 x 558 (linear)
    # + 22,241 + 16 x 1,225 + 34 x 152 (attention) + 16 x (1,946 + 1,600 + 40) (softmax) +
    # the p- and size-free rest 12,386 + 1,176 + 8,349 + 256 + 9,176 + 12,500 = 276,212 LUT,
    # 2,132 over; p = 8 at 32 x 32 drops 8 x (1,390 + 1,225 + 2 x 152 + 3,586) = 52,040.
    assert lut_over == {(16, 32)}
    assert final_lut(16, 32) - ZCU102_LUT == 276_212 - 274_080
    # every 32x32 point (2,782 DSP at p = 1); p = 16 at 16x16 is 2,490
    assert sum(r["fits"] == "False" for r in sweep) == 2 * 5


def test_summary_and_report_show_the_overflow(explored):
    page = (explored / "report.html").read_text()
    assert "10 of 30 sweep points do not fit zcu102 and are left out of pareto.png" in page
    assert "10 points with fits False are impossible designs" in page
    table = page[page.index('<table id="front">'):]
    head = re.findall(r"<th>([^<]*)</th>", table[:table.index("</tr>")])
    fits = [re.findall(r"<td[^>]*>([^<]*)</td>", row)[head.index("fits")]
            for row in table.split("</tr>")[1:] if "<td" in row]
    assert fits and set(fits) == {"True"}  # no point that does not fit is on the front


def test_kind_is_registered():
    assert kind_of(DESIGN).name == "fpga"


BAD = {
    "board": ("board: zcu102", "board: zcu1022", "unknown board 'zcu1022'"),
    "unknown key": ("  attn_p: 4", "  attn_pp: 4", "did you mean"),
    "negative": ("  attn_p: 4", "  attn_p: -4", "units.attn_p"),
    "clock": ("  clock_mhz: 300", "  clock_mhz: 3000", "units.clock_mhz: must be <= 700"),
    "sweep config": ("  config: attention_reorder", "  config: nope", "sweep.config"),
    "hits": ("routing: {seed: 0}", "routing: {seed: 0, hits: [1, 2]}", "routing.hits"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_design_files_one_message_exit_2(case, tmp_path, capsys):
    old, new, expected = BAD[case]
    text = DESIGN.read_text()
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(SystemExit) as exited:
        main(["explore", str(bad), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert expected in err and "Traceback" not in err
    assert str(bad) in err
    assert not (tmp_path / "out" / "results.csv").exists()


@pytest.mark.parametrize("hits, expected", [
    ("[1, .nan" + ", 1" * 14 + "]", "finite non-negative"),
    ("[1" + ", 0" * 15 + "]", "at least top_k = 2"),
    ("[-1" + ", 1" * 15 + "]", "finite non-negative"),
])
def test_bad_routing_weights(hits, expected, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DESIGN.read_text().replace("routing: {seed: 0}",
                                              f"routing: {{seed: 0, hits: {hits}}}"))
    with pytest.raises(SystemExit) as exited:
        main(["explore", str(bad), "--out", str(tmp_path / "out"), "--quiet"])
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err


def _paper_column(design) -> dict[str, object]:
    from fpga import explore as fx

    return {p.config: fx.row(design, p)["paper_latency_ms"] for p in fx.points(design)
            if p.group == "config"}


def test_paper_latency_only_for_the_published_setup():
    # A ratio to the paper's 300 MHz ZCU102 figures means nothing at another clock, on another
    # board, or for a config that only borrows an ablation step's name.
    from dataclasses import replace

    from fpga.reference import PAPER_ABLATION_MS
    from fpga.spec import Techniques

    design = kind_of(DESIGN).load(DESIGN)
    assert _paper_column(design) == PAPER_ABLATION_MS
    for changed in (replace(design, board="zcu104"),
                    replace(design, units=replace(design.units, clock_mhz=200.0)),
                    replace(design, units=replace(design.units, attn_p=8)),
                    replace(design, workload=replace(design.workload, layers=6))):
        assert set(_paper_column(changed).values()) == {""}
    renamed = replace(design, configs={"baseline": Techniques(), "gelu_approx": Techniques()},
                      sweep=None)
    assert _paper_column(renamed) == {"baseline": "", "gelu_approx": ""}


def test_a_grid_prints_its_variant_on_each_config_line(tmp_path, capsys):
    design = tmp_path / "grid.yaml"
    design.write_text(DESIGN.read_text() + "\ngrid:\n  units.clock_mhz: [200, 300]\n")
    with pytest.raises(SystemExit) as exited:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial"])
    assert exited.value.code == 0
    out = capsys.readouterr().out.splitlines()
    configs = [line.split()[:2] for line in out if line.startswith("units.clock_mhz=")]
    names = ["baseline", "patch_reorder", "single_pass_softmax", "gelu_approx", "unified_linear",
             "attention_reorder"]
    assert configs == [[f"units.clock_mhz={c}", n] for c in ("200.0", "300.0") for n in names]
    assert out.count("sweep at 16x16 linear unit, units.clock_mhz=300.0:") == 1
    # the paper's figures sit beside the 300 MHz rows only
    paper = [line.split()[3] for line in out if line.startswith("units.clock_mhz=")]
    assert paper == ["-"] * 6 + ["650.3", "433.4", "353.4", "212.9", "104.3", "34.6"]


def test_the_config_table_says_what_paper_ms_and_ratio_are():
    # the ratio column of 0.38-0.85 was printed without a word on what it compares
    shipped = kind_of(DESIGN).load(DESIGN)
    rows = [row(shipped, point) for point in points(shipped) if point.group == "config"]
    assert "paper_ms: Edge-MoE's published cumulative ablation (ZCU102, 300 MHz); ratio = " \
        "latency_ms / paper_ms;" in summary(shipped, rows)
    design = FpgaDesign(name="t", board="zcu104", configs={"final": Techniques()})
    rows = [row(design, point) for point in points(design)]
    assert rows[0]["paper_latency_ms"] == ""  # not the paper's board: nothing to compare with
    assert "paper_ms:" not in summary(design, rows)
