"""Regressions found by trying `attnforge explore` on fpga designs as a new user: a named config
that does not fit its board, in the file or in a grid or search variant, is one located error
naming the config, the board and every resource it overflows (exit 2, nothing written); bad
sweep lists are errors too."""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attnforge.report_html import page
from fpga.synthesized import layernorm_blocks, mac_block_lut_ff, table

DESIGN = Path(__file__).parents[2] / "designs" / "edge-moe-zcu102.yaml"
HEAD = "version: 1\nkind: fpga\nname: big\n"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`attnforge ARGS` in a subprocess (stdin closed, as in a script)."""
    return subprocess.run([sys.executable, "-m", "attnforge", *args], cwd=cwd, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=120)


def explore(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    (tmp_path / "d.yaml").write_text(text)
    return run_cli("explore", "d.yaml", "--out", "o", "--backend", "serial", cwd=tmp_path)


def one_error(result: subprocess.CompletedProcess, tmp_path: Path) -> str:
    """The single `attnforge: error:` line of a run that exited 2 and wrote nothing."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnforge: error: "), result.stderr
    assert not (tmp_path / "o").exists()
    return lines[0].removeprefix("attnforge: error: ")


# The final design's DSP (docs/fpga.md, unit by unit): linear size^2 MACs x 2 + size GELU lanes,
# attention 2 arrays x p x 8 lanes x 4, softmax p slots x 20 (a slot finishes one 64-dim head
# score every 8 cycles: one running and one normalise unit of 10 DSP keep up), gate 256,
# patch 256, LN 106 (rtl layernorm: 8 lanes x (x² 4 + 192·x 2 + D·r 4 + n·γ 2) + 192·S2 4 +
# S1² 6).
def final_dsp(p: int, size: int) -> int:
    return size * size * 2 + size + 2 * p * 8 * 4 + p * 20 + 256 + 256 + 8 * 12 + 10


# Its BRAM18 at p = 16, 32 x 32, each buffer as columns x rows of one BRAM18 shape (512 x 36,
# 1K x 18, ...): two linear buffers of 144 rows x 1024*16 b = ceil(16384/36) = 456 x 1;
# patch weights 192*768 read 256 a cycle, 576 rows x 4096 b = ceil(4096/36) x ceil(576/512)
# = 114 x 2; the AXI data FIFOs (UG1399: 16 outstanding x 16 beats = 256 words of 256 b,
# ceil(256/36) = 8 x 1), a read FIFO on each of the 5 masters and a write FIFO on the 4 that
# write. The memories of at most 32 words are LUT-RAM, RAM32M16 cells of
# 32 x 14 b in 8 LUTs (yosys's cost, 16 per 14 bits, under 129 a BRAM18 of 36): 2 arrays x
# (p + 1) token caches of 24 x 256 b, ceil(256/14) x 8 = 152 LUTs each; the gate's 24 x
# 128*16 b weights ceil(2048/14) x 8 = 1,176; the linear unit's input row cache, 768 / 32 = 24
# blocks of 32 x 32 b, ceil(1024/14) x 8 = 592; each of the 16 slots' (max, sum) of its other
# 2 heads, 2 x 64 b, ceil(64/14) x 8 = 40; LayerNorm's (as synthesized).
BRAM18_P16_32 = 2 * 456 + 114 * 2 + (5 + 4) * 8
LUTRAM_P16 = (2 * 17 * math.ceil(256 / 14) * 8 + math.ceil(2048 / 14) * 8
              + math.ceil(1024 / 14) * 8 + 16 * math.ceil(64 / 14) * 8)


def test_a_named_config_that_does_not_fit_is_a_located_error(tmp_path):
    # It used to print the table and exit 0: nothing said 4,668 DSP overflow 1,728.
    result = explore(tmp_path, HEAD + "board: zcu104\n"
                     "units: {attn_p: 16, linear_in_par: 32, linear_out_par: 32}\n")
    dsp, bram36 = final_dsp(16, 32), BRAM18_P16_32 / 2
    assert (dsp, bram36) == (4042, 606)
    message = one_error(result, tmp_path)
    assert message.startswith("d.yaml:5:8: units: config 'edge_moe' does not fit zcu104")
    # LUTs: the MAC arrays as synthesized rtl linear blocks (fpga/data/xcup_mac_blocks.csv:
    # 32 x 32 linear, Q·K 16 slots of 8 lanes, A·V 16 x 8 single-input columns, the gate's
    # 8 inputs x 16 experts, the patch embedding's 16 x 16 pixel MACs at 9 x 16 bits), the
    # 32 GELU lanes and 16 (running, normalise) softmax pairs as synthesized (xcup_units.csv),
    # the 8-lane LayerNorm as synthesized with its LUT-RAM (xcup_layernorm.csv), the adders
    # 8 x 32, 5 AXI masters x 2,500, the caches' and gate's LUT-RAM: more than the ZCU104's
    # 230,400 (and the ZCU102's 274,080: test_explore).
    xcup = table()
    arrays = (mac_block_lut_ff(32, 32, 32, 16)[0] + mac_block_lut_ff(8, 16, 32, 32)[0]
              + 16 * mac_block_lut_ff(1, 8, 32, 32)[0] + mac_block_lut_ff(8, 16, 32, 16)[0]
              + mac_block_lut_ff(16, 16, 9, 16)[0])
    ln = layernorm_blocks()[(192, 8, 32)]
    lut = (arrays + 32 * xcup["gelu"].lut
           + 16 * (xcup["softmax"].lut + xcup["normalise"].lut) + ln.lut + ln.lutram + 8 * 32
           + 5 * 2500 + LUTRAM_P16)
    assert (f": DSP {dsp:,} > 1,728 (+{dsp - 1728:,}), BRAM36 {bram36:g} > 312 "
            f"(+{bram36 - 312:g}), LUT {lut:,} > 230,400 (+{lut - 230_400:,});") in message
    assert "FF " not in message


def test_ultra_ram_on_a_board_without_it_is_a_located_error_naming_uram(tmp_path):
    # The ZCU102 has no URAM. Bound to UltraRAM, the 2 linear weight buffers and the patch
    # weights (576 rows of 16 x 16 x 16 = 256 x 16 = 4,096 b each) take ceil(4,096 / 72) x
    # ceil(576 / 4,096) = 57 URAM288 each (UG573: 4K x 72 b); nothing else overflows.
    result = explore(tmp_path, HEAD + "board: zcu102\nunits: {linear_weight_storage: ultra_ram, "
                     "patch_weight_storage: ultra_ram}\n")
    uram = 3 * math.ceil(4096 / 72) * math.ceil(576 / 4096)
    message = one_error(result, tmp_path)
    assert message.startswith("d.yaml:5:8: units: config 'edge_moe' does not fit zcu102")
    assert f": URAM {uram} > 0 (+{uram});" in message
    assert "DSP " not in message and "BRAM36 " not in message


def test_configs_overflowing_alike_share_one_message(tmp_path):
    result = explore(tmp_path, HEAD + "board: zcu102\n"
                     "units: {attn_p: 16, linear_in_par: 24, linear_out_par: 24}\n"
                     "configs: {first: {}, second: {}}\n")
    dsp = final_dsp(16, 24)
    assert f"configs 'first', 'second' do not fit zcu102 (XCZU9EG-2FFVB1156): DSP {dsp:,} > " \
        f"2,520 (+{dsp - 2520:,}); only sweep points may overflow" in one_error(result, tmp_path)


def test_configs_overflowing_differently_each_get_their_problem(tmp_path):
    result = explore(tmp_path, HEAD + "board: zcu104\nunits: {attn_p: 16}\n"
                     "configs: {a: {}, b: {gelu_approx: false}}\n")
    assert result.returncode == 2 and not (tmp_path / "o").exists()
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "attnforge: error: 2 problems in d.yaml:"
    assert "units: config 'a' does not fit zcu104" in lines[1]
    assert "units: config 'b' does not fit zcu104" in lines[2]


# a 24 x 24 linear unit: p = 16 overflows the ZCU102 (final_dsp(16, 24) = 3,124), p <= 8 fits
ONE_CONFIG = (HEAD + "board: zcu102\nunits: {linear_in_par: 24, linear_out_par: 24}\n"
              "configs: {final: {}}\n")


@pytest.mark.parametrize("section, key", [
    ("grid:\n  units.attn_p: [4, 16]\n", "grid.units.attn_p"),
    ("search:\n  trials: 2\n  space:\n    units.attn_p: {choices: [4, 16]}\n",
     "search.space.units.attn_p"),
    ("search:\n  trials: 2\n  space:\n    units.attn_p: {low: 4, high: 16}\n",
     "search.space.units.attn_p"),
])
def test_grid_and_search_variants_obey_the_fit_rule(tmp_path, section, key):
    result = explore(tmp_path, ONE_CONFIG + section)
    dsp = final_dsp(16, 24)
    message = one_error(result, tmp_path)
    line = ONE_CONFIG.count("\n") + section.split("\n").index(next(
        part for part in section.split("\n") if "units.attn_p" in part)) + 1
    assert message.startswith(f"d.yaml:{line}:")
    assert f"{key}: with units.attn_p=16: units: config 'final' does not fit zcu102" in message
    assert f"DSP {dsp:,} > 2,520 (+{dsp - 2520:,})" in message
    # a rule over the whole `units` section is not one that tying two fields together keeps
    assert "comma-joined" not in message


def test_a_grid_over_boards_names_the_board_that_overflows(tmp_path):
    result = explore(tmp_path, HEAD + "board: zcu102\nunits: {attn_p: 8}\n"
                     "grid:\n  board: [zcu102, zcu104, u280]\n")
    dsp = final_dsp(8, 16)
    message = one_error(result, tmp_path)
    assert message.startswith("d.yaml:7:3: grid.board: with board='zcu104': units: config "
                              f"'edge_moe' does not fit zcu104 (XCZU7EV-2FFVC1156): DSP {dsp:,}"
                              f" > 1,728 (+{dsp - 1728:,})")


def test_a_grid_whose_variants_fit_runs(tmp_path):
    result = explore(tmp_path, ONE_CONFIG + "grid:\n  units.attn_p: [2, 8]\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "results.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("old, new, expected", [
    ("  attn_p: [1, 2, 4, 8, 16]", "  attn_p: []", "sweep.attn_p: must list at least one value"),
    ("  linear_par: [8, 16, 32]", "  linear_par: []",
     "sweep.linear_par: must list at least one value"),
    ("  attn_p: [1, 2, 4, 8, 16]", "  attn_p: [1, 4, 4]",
     "sweep.attn_p[2]: repeats 4, already at index 1"),
])
def test_empty_or_repeating_sweep_lists(tmp_path, old, new, expected):
    # An empty list silently dropped the sweep; a repeated value wrote the same rows twice.
    text = DESIGN.read_text()
    assert old in text
    message = one_error(explore(tmp_path, text.replace(old, new)), tmp_path)
    assert expected in message
    line = text.split(old)[0].count("\n") + 1
    assert message.startswith(f"d.yaml:{line}:")


def test_report_page_leaves_impossible_points_out_of_the_front():
    # report.html's front used to list fpga points that do not fit the board (p = 16 first).
    rows = [{"name": "a", "x": 1.0, "y": 1.0, "ok": False},
            {"name": "b", "x": 2.0, "y": 2.0, "ok": True},
            {"name": "c", "x": 3.0, "y": 1.5, "ok": True}]
    assert "1 of 3 points are not dominated" in page(rows, ("x", "y"), ("name",), "t")
    text = page(rows, ("x", "y"), ("name",), "t", feasible_key="ok")
    assert "<p>3 design points;" in text and "1 points with ok False are impossible" in text
    assert "2 of 2 points are not dominated" in text
    table = text[text.index('<table id="front">'):]
    assert re.findall(r"<tr><td>(\d+)</td>", table) == ["1", "2"]  # positions in results.csv
    none = page(rows[:1], ("x", "y"), ("name",), "t", feasible_key="ok")
    assert "no Pareto front" in none and '<table id="front">' not in none


@pytest.mark.parametrize("routing, expected", [
    ("{seed: -1}", "d.yaml:5:17: routing.seed: must be at least 0, not -1"),
    ("{hits: [1e308, 1e308" + ", 1" * 14 + "]}", "d.yaml:5:17: routing.hits: must have a finite sum"),
])
def test_routing_the_seeded_draw_cannot_use(tmp_path, routing, expected):
    # Both used to pass the loader and crash in the worker with a traceback (NumPy rejects a
    # negative seed; the weights' sum overflowed to inf and the draw's probabilities to NaN).
    message = one_error(explore(tmp_path, HEAD + f"board: zcu102\nrouting: {routing}\n"),
                        tmp_path)
    assert message.startswith(expected)


def test_a_design_must_name_its_board(tmp_path):
    # Leaving `board:` out silently modelled a ZCU102.
    message = one_error(explore(tmp_path, HEAD + "units: {attn_p: 4}\n"), tmp_path)
    assert message.startswith("d.yaml:") and "board" in message


def test_a_problem_inside_a_swept_list_gets_no_tied_fields_hint(tmp_path):
    # The repeat is in the grid's own value: "vary together under one comma-joined key" misled.
    message = one_error(explore(tmp_path, DESIGN.read_text()
                                + "\ngrid:\n  sweep.attn_p: [[1, 2], [4, 4]]\n"), tmp_path)
    assert message.endswith("grid.sweep.attn_p: with sweep.attn_p=(4, 4): sweep.attn_p[1]: "
                            "repeats 4, already at index 0")


def test_a_sweep_where_nothing_fits_says_so(tmp_path):
    # The named config, with an 8 x 8 linear unit and 64 patch MACs, fits the ZCU104 (the
    # paper's units need 378 BRAM36 of its 312); the 32 x 32 sweep points do not.
    result = explore(tmp_path, HEAD + "board: zcu104\nconfigs: {final: {}}\n"
                     "units: {linear_in_par: 8, linear_out_par: 8, patch_embed_macs: 64}\n"
                     "sweep: {config: final, attn_p: [8, 16], linear_par: [32]}\n")
    assert result.returncode == 0, result.stderr
    assert "none of the 4 sweep points fits zcu104: pareto.png shows them all" in result.stdout
    for p in (8, 16):
        dsp = final_dsp(p, 32) - (256 - 64)  # 64 patch MACs of one DSP each, not 256
        assert f"DSP {dsp:,} > 1,728 (+{dsp - 1728:,}), BRAM36 " in result.stdout
    page = (tmp_path / "o" / "report.html").read_text()
    assert "4 points with fits False are impossible designs" in page
    assert "1 of 1 points are not dominated" in page  # the named config, which fits


def test_explain_an_fpga_point_and_its_option_errors(tmp_path):
    # explain refused fpga designs ("needs a design of kind 'accelerator'"): the unit-by-unit
    # DSP count the issue asks for was only in the docs, not for a user's own parameters.
    result = run_cli("explain", str(DESIGN), "--config", "attention_reorder", "--attn-p", "16",
                     "--linear-par", "24", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dsp = final_dsp(16, 24)
    assert f"does not fit zcu102: DSP {dsp:,} > 2,520 (+{dsp - 2520:,})" in result.stdout
    assert "config attention_reorder on zcu102" in result.stdout
    for args, message in ((["--seq-len", "64"], "--seq-len applies to accelerator designs only"),
                          (["--attn-p", "0"], "--attn-p must be a positive integer, not 0"),
                          (["--config", "final"], "--config: unknown config 'final'")):
        result = run_cli("explain", str(DESIGN), *args, cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    pareto = DESIGN.parent / "fusemax-pareto.yaml"
    result = run_cli("explain", str(pareto), "--linear-par", "8", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "attnforge: error: --linear-par applies to fpga designs only"


def test_explain_shows_why_a_design_does_not_fit_instead_of_refusing_it(tmp_path):
    # explain refused such a design with explore's "impossible design" error, so the one
    # command that shows where the resources go was unavailable exactly when they overflow.
    (tmp_path / "d.yaml").write_text(
        HEAD + "board: zcu102\nunits: {attn_p: 16, linear_in_par: 24, linear_out_par: 24}\n")
    result = run_cli("explain", "d.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dsp = final_dsp(16, 24)
    assert result.stdout.rstrip().endswith(
        f"does not fit zcu102: DSP {dsp:,} > 2,520 (+{dsp - 2520:,})")
    # the types' own rules still apply
    (tmp_path / "d.yaml").write_text(HEAD + "board: zcu102\nunits: {attn_p: 0}\n")
    assert one_error(run_cli("explain", "d.yaml", cwd=tmp_path), tmp_path) == \
        "d.yaml:5:17: units.attn_p: must be at least 1, not 0"


@pytest.mark.parametrize("section, note", [
    ("grid:\n  units.attn_p: [2, 16]\n", "explore runs its grid (2 variants over units.attn_p)"),
    ("search:\n  trials: 2\n  space:\n    units.attn_p: {low: 1, high: 8}\n",
     "explore runs its search (over units.attn_p)"),
])
def test_explain_says_it_does_not_apply_the_grid_or_search(tmp_path, section, note):
    # explain silently showed the design as written, as if the grid did not exist.
    (tmp_path / "d.yaml").write_text(ONE_CONFIG + section)
    result = run_cli("explain", "d.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()[:2]
    assert first == f"note: the design as written; {note}"
    assert second.startswith("big: config final on zcu102")


def test_explain_rejects_a_grid_that_explore_rejects(tmp_path):
    # A misspelt grid field was ignored by explain (and refused by explore).
    (tmp_path / "d.yaml").write_text(ONE_CONFIG + "grid:\n  units.attn_pp: [2, 8]\n")
    message = one_error(run_cli("explain", "d.yaml", cwd=tmp_path), tmp_path)
    line = ONE_CONFIG.count("\n") + 2
    assert message.startswith(f"d.yaml:{line}:3: grid.units.attn_pp: unknown field 'attn_pp'")
    assert "did you mean 'attn_p'?" in message


def test_explain_names_every_option_of_the_other_kind(tmp_path):
    # Only the first was named: a user fixing it met the next one on the following run.
    result = run_cli("explain", str(DESIGN), "--array-dim", "4", "--model", "x", "--seq-len", "3",
                     cwd=tmp_path)
    assert one_error(result, tmp_path) == \
        "--model, --seq-len and --array-dim apply to accelerator designs only"
    pareto = DESIGN.parent / "fusemax-pareto.yaml"
    result = run_cli("explain", str(pareto), "--attn-p", "2", "--linear-par", "8", cwd=tmp_path)
    assert one_error(result, tmp_path) == "--attn-p and --linear-par apply to fpga designs only"


def test_parallelism_beyond_what_the_workload_can_use_is_refused(tmp_path):
    # p = 10**9 was priced (124 G DSP, 197 MW) at the latency of p = 65: M3ViT has 129 tokens
    # (128 patches + class), d_model 192 and its widest linear layer 768 (the dense MLP).
    text = (HEAD + "board: zcu102\nunits: {attn_p: 130, attn_lanes: 193, linear_in_par: 769}\n"
            "sweep: {config: edge_moe, attn_p: [129, 130]}\n")
    (tmp_path / "d.yaml").write_text(text)
    result = run_cli("explore", "d.yaml", "--out", "o", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "attnforge: error: 4 problems in d.yaml:"
    assert lines[1:] == [
        "  d.yaml:5:17: units.attn_p: must be at most 129 (query slots beyond the 129 tokens "
        "stay empty), not 130",
        "  d.yaml:5:34: units.attn_lanes: must be at most 192 (lanes beyond d_model, 192, stay "
        "idle), not 193",
        "  d.yaml:5:54: units.linear_in_par: must be at most 768 (MACs beyond the widest linear "
        "layer, 768, stay idle), not 769",
        "  d.yaml:6:41: sweep.attn_p[1]: must be at most 129 (query slots beyond the 129 tokens "
        "stay empty), not 130"]
    result = run_cli("explain", str(DESIGN), "--attn-p", "130", cwd=tmp_path)
    assert one_error(result, tmp_path) == ("--attn-p must be at most 129 (query slots beyond the "
                                           "129 tokens stay empty), not 130")


def test_explain_reaches_the_sweeps_points_without_reordering(tmp_path):
    # The sweep varies p, the linear size and attention reordering; explain could set the first
    # two only, so a point without reordering could not be explained unless a config had it.
    result = run_cli("explore", str(DESIGN), "--out", "o", "--backend", "serial", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with (tmp_path / "o" / "results.csv").open() as f:
        row = next(r for r in csv.DictReader(f) if r["group"] == "sweep" and r["attn_p"] == "8"
                   and r["linear_in_par"] == "16" and r["attention_reorder"] == "False")
    result = run_cli("explain", str(DESIGN), "--config", "attention_reorder", "--attn-p", "8",
                     "--no-attention-reorder", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first, *_ = result.stdout.splitlines()
    assert first.startswith("edge-moe-zcu102: config attention_reorder (with attention_reorder "
                            "off) on zcu102")
    assert f"latency {float(row['latency_ms']):.2f} ms per image" in result.stdout
    total = next(line for line in result.stdout.splitlines() if line.startswith("total "))
    assert total.split()[1] == f"{int(row['dsp']):,}"


def test_a_workload_that_rules_out_a_default_says_it_is_the_default(tmp_path):
    # A 16 x 16 image is one 16 x 16 patch: 2 tokens with the class token, so the default
    # attn_p = 4 and the default sweep's p = 4, 8, 16 leave query slots empty. The file never
    # wrote a 4 (units is absent: reported at the file's top), so the message says whose it is.
    result = explore(tmp_path, HEAD + "board: zcu102\nworkload: {image_h: 16, image_w: 16}\n"
                     "sweep: {config: edge_moe, attn_p: [1, 3]}\n")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    why = "must be at most 2 (query slots beyond the 2 tokens stay empty)"
    assert result.stderr.strip().splitlines()[1:] == [
        f"  d.yaml:1:1: units.attn_p: {why}, not 4 (the default)",
        f"  d.yaml:6:39: sweep.attn_p[1]: {why}, not 3"]
    result = explore(tmp_path, HEAD + "board: zcu102\nworkload: {image_h: 16, image_w: 16}\n"
                     "units: {attn_p: 2}\nsweep: {config: edge_moe}\n")
    lines = result.stderr.strip().splitlines()
    assert lines[1:] == [f"  d.yaml:7:8: sweep.attn_p[{i}]: {why}, not {p} (the default list)"
                         for i, p in ((2, 4), (3, 8), (4, 16))]


def test_a_grid_over_image_sizes_checks_p_against_each_sizes_tokens(tmp_path):
    # 128 x 256 has 8 x 16 + 1 = 129 tokens, 32 x 32 has 2 x 2 + 1 = 5: p = 8 fits the first
    # only; varying p with the size keeps every variant valid and both run.
    grid = "grid:\n  workload.image_h, workload.image_w{}: [[128, 256{}], [32, 32{}]]\n"
    result = explore(tmp_path, HEAD + "board: zcu102\nunits: {attn_p: 8}\n"
                     + grid.format("", "", ""))
    assert one_error(result, tmp_path) == (
        "d.yaml:7:3: grid.workload.image_h, workload.image_w: with workload.image_h=32, "
        "workload.image_w=32: units.attn_p: must be at most 5 (query slots beyond the 5 tokens "
        "stay empty), not 8; fields tied by a rule vary together under one comma-joined key")
    result = explore(tmp_path, HEAD + "board: zcu102\n"
                     + grid.format(", units.attn_p", ", 8", ", 5"))
    assert result.returncode == 0, result.stderr
    with (tmp_path / "o" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["workload.image_h"], r["attn_p"]) for r in rows] == [("128", "8"), ("32", "5")]


def test_a_config_that_does_not_fit_default_units_is_located_at_the_board(tmp_path):
    # With no `units:` in the file the error pointed at 1:1. The baseline's dedicated engines
    # keep one weight buffer per linear shape: 380.5 BRAM36 against the ZCU104's 312.
    result = explore(tmp_path, HEAD + "board: zcu104\n"
                     "configs: {a: {gelu_approx: false, unified_linear: false}}\n")
    assert one_error(result, tmp_path).startswith(
        "d.yaml:4:8: board: config 'a' does not fit zcu104 (XCZU7EV-2FFVC1156): BRAM36 ")


def test_a_sweep_over_linear_sizes_never_prices_a_bigger_unit_with_fewer_luts(tmp_path):
    # Found by QA: 17 x 17 and 24 x 24 were not synthesized and fell back to the per-bit
    # estimate (about a third of the synthesized LUTs per MAC), so explore reported a 17 x 17
    # design with fewer LUTs than the 16 x 16 one. Everything but the linear unit (and its
    # GELU lanes, one per column) is the same across the sweep, so LUT and FF must grow with size.
    result = explore(tmp_path, HEAD + "board: zcu102\nsweep: {config: edge_moe, attn_p: [4], "
                     "linear_par: [8, 12, 16, 17, 24], with_and_without_attention_reorder: false}\n")
    assert result.returncode == 0, result.stderr
    with (tmp_path / "o" / "results.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["group"] == "sweep"]
    assert [int(r["linear_in_par"]) for r in rows] == [8, 12, 16, 17, 24]
    for column in ("lut", "ff"):
        values = [int(r[column]) for r in rows]
        assert values == sorted(values) and len(set(values)) == 5, (column, values)
