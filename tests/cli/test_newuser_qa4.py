"""A hardware engineer's first hour with the fpga kind, from README.md, docs/*.md and --help
only: the commands and numbers the docs quote must be what the tool prints today, and a grid
that cannot mean what it says is one located error (exit 2), never a traceback or a point that
silently drops one of the values asked for."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest

from fpga.reference import PAPER_ABLATION_MS
from tests.cli.inprocess import one_error, run

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
ZCU102 = ROOT / "designs" / "edge-moe-zcu102.yaml"
HEAD = "version: 1\nkind: fpga\nname: x\nboard: zcu102\n"


def doc_text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def explain_total(capsys, *argv: str) -> tuple[str, str]:
    """(the `total` line, the last line) of `attnforge explain ARGV`, which must exit 0."""
    code, out, err = run(capsys, "explain", *argv)
    assert code == 0, err
    lines = out.strip().splitlines()
    (total,) = [line for line in lines if line.startswith("total")]
    return total, lines[-1]


# ---- docs against behaviour -------------------------------------------------------------------

# The refused example's BRAM by hand (docs/fpga.md's memory rule): at 32 x 32 each of the two
# linear weight buffers reads 32 * 32 * 16 = 16,384 bits a cycle and holds 768 * 192 / 1024 = 144
# rows: ceil(16384 / 36) = 456 BRAM18 side by side, one row of them; the patch weights 114 x 2 =
# 228 BRAM18 whatever the linear size; the AXI FIFOs (5 + 4) x 8 = 72 BRAM18.
BIG_BRAM36 = (2 * math.ceil(16384 / 36) * math.ceil(144 / 512) + 228 + 72) / 2


def test_the_refused_example_of_both_docs_is_what_explore_prints(tmp_path, monkeypatch, capsys):
    fpga_md = doc_text("fpga.md")
    design = re.search(r"\$ cat big\.yaml\n(.*?)\$ attnforge explore big\.yaml --out o\n(.*?)\n",
                       fpga_md, re.S)
    assert design, "docs/fpga.md no longer shows big.yaml"
    (tmp_path / "big.yaml").write_text(design.group(1))
    monkeypatch.chdir(tmp_path)
    printed = one_error(run(capsys, "explore", "big.yaml", "--out", "o", "--backend", "serial"))
    assert f"BRAM36 {BIG_BRAM36:,.0f} > 312" in printed
    assert printed == design.group(2)
    (explore_md,) = [line for line in doc_text("explore.md").splitlines()
                     if line.startswith("big.yaml:5:8:")]
    assert explore_md == printed.removeprefix("attnforge: error: ")


def test_the_explained_overflow_docs_quote_is_what_explain_prints(capsys):
    """docs/fpga.md: "the last line then says what overflows, e.g. `does not fit zcu102: DSP
    3,370 > 2,520 (+850)` for `OPTIONS`": OPTIONS as written must give that last line."""
    found = re.search(r"e\.g\.\s+`(does not fit zcu102: [^`]+)`\s+for\s+`([^`]+)`",
                      doc_text("fpga.md"))
    assert found, "docs/fpga.md no longer quotes an overflowing explain"
    quoted, options = found.groups()
    # the final design at p = 8, 32 x 32 by hand: linear 32^2 MACs x 2 DSP + 32 GELU lanes,
    # attention 2 x 8 x 8 lanes x 4, softmax 8 slots x 20, gate 256, patch 256, LayerNorm 106
    dsp = 32 * 32 * 2 + 32 + 2 * 8 * 8 * 4 + 8 * 20 + 256 + 256 + 106
    assert quoted == f"does not fit zcu102: DSP {dsp:,} > 2,520 (+{dsp - 2520:,})"
    _, last = explain_total(capsys, str(ZCU102), *options.split())
    assert last == quoted


def test_the_zcu104_explain_docs_quote_is_what_explain_prints(capsys):
    """docs/fpga.md quotes `attnforge explain designs/edge-moe-zcu104.yaml ...`: DSP, BRAM36,
    LUT and URAM of the paper's design with the patch weights in URAM."""
    found = re.search(r"`attnforge explain\s+(designs/edge-moe-zcu104\.yaml[^`]*)`:\s*"
                      r"([\d,]+) DSP,\s+([\d.]+) BRAM36,\s+([\d,]+) LUT,\s+(\d+) URAM",
                      doc_text("fpga.md"))
    assert found, "docs/fpga.md no longer quotes explain on the ZCU104"
    command, dsp, bram36, lut, uram = found.groups()
    # by hand: 378 BRAM36 with every buffer in block RAM, less the patch weights' 114, which take
    # ceil(4096 / 72) = 57 URAM288 ports of 72 bits
    assert (float(bram36), int(uram)) == (378 - 114, math.ceil(4096 / 72))
    path, *options = command.split()
    total, last = explain_total(capsys, str(ROOT / path), *options)
    assert total.split()[1:6] == [dsp, bram36, lut, "70,393", uram]
    assert last == "fits zcu104"


# ---- grids that cannot mean what they say -----------------------------------------------------

def explore_error(tmp_path, monkeypatch, capsys, body: str) -> str:
    (tmp_path / "d.yaml").write_text(HEAD + body)
    monkeypatch.chdir(tmp_path)
    line = one_error(run(capsys, "explore", "d.yaml", "--out", "o", "--backend", "serial",
                         "--quiet"))
    assert not (tmp_path / "o").exists()
    return line


def test_a_grid_over_a_whole_section_is_one_error_not_a_traceback(tmp_path, monkeypatch,
                                                                   capsys):
    line = explore_error(tmp_path, monkeypatch, capsys, "grid:\n  units: [{attn_p: 2}]\n")
    assert line.startswith("attnforge: error: d.yaml:6:3: grid.units: ")
    assert "names a section, not a field" in line and "(e.g. units." in line


def test_a_grid_into_a_section_the_design_leaves_out_is_one_error(tmp_path, monkeypatch,
                                                                   capsys):
    """`sweep` is optional (None without it): a grid cannot set a field of nothing."""
    line = explore_error(tmp_path, monkeypatch, capsys,
                         "grid:\n  sweep.attn_p: [[1, 2], [4]]\n")
    assert line.startswith("attnforge: error: d.yaml:6:3: grid.sweep.attn_p: ")
    assert "sweep" in line and "not set" in line


def test_a_grid_field_varied_under_two_keys_is_an_error(tmp_path, monkeypatch, capsys):
    """attn_p 1 was silently replaced by the tied key's 2 (one point, attn_p 2)."""
    line = explore_error(tmp_path, monkeypatch, capsys,
                         "grid:\n  units.attn_p: [1]\n  units.attn_p, units.attn_lanes: "
                         "[[2, 4]]\n")
    assert line == ("attnforge: error: d.yaml:7:3: grid.units.attn_p, units.attn_lanes: "
                    "units.attn_p is already varied at line 6; a field may be varied under one "
                    "key only")


def test_a_field_twice_in_one_tied_key_is_an_error(tmp_path, monkeypatch, capsys):
    line = explore_error(tmp_path, monkeypatch, capsys,
                         "grid:\n  units.attn_p, units.attn_p: [[1, 2]]\n")
    assert line == ("attnforge: error: d.yaml:6:3: grid.units.attn_p, units.attn_p: "
                    "names units.attn_p twice")


@pytest.mark.parametrize(("grid", "where", "message"), [
    ("units.attn_p: [1, 2, 1]", "d.yaml:6:24: grid.units.attn_p[2]",
     "repeats 1, already at index 0 (the same points twice)"),
    ("units.clock_mhz: [300, 300.0]", "d.yaml:6:26: grid.units.clock_mhz[1]",
     "repeats 300.0, already at index 0 (the same points twice)"),
    ("units.attn_p, units.attn_lanes: [[1, 8], [2, 8], [1, 8]]",
     "d.yaml:6:52: grid.units.attn_p, units.attn_lanes[2]",
     "repeats [1, 8], already at index 0 (the same points twice)"),
])
def test_a_grid_list_repeating_a_value_is_an_error(grid, where, message, tmp_path, monkeypatch,
                                                   capsys):
    """As a sweep list repeating a value is (docs/explore.md): the same points twice."""
    line = explore_error(tmp_path, monkeypatch, capsys, f"grid:\n  {grid}\n")
    assert line == f"attnforge: error: {where}: {message}"


# ---- a board named in the wrong case ----------------------------------------------------------

def test_a_board_in_capitals_gets_a_did_you_mean(tmp_path, monkeypatch, capsys):
    (tmp_path / "d.yaml").write_text(HEAD.replace("zcu102", "ZCU102"))
    monkeypatch.chdir(tmp_path)
    line = one_error(run(capsys, "explain", "d.yaml"))
    assert line == ("attnforge: error: d.yaml:4:8: board: unknown board 'ZCU102' (did you mean "
                    "'zcu102'?); valid boards: u280, zcu102, zcu104")


# ---- figures beyond float64 ----------------------------------------------------------------------

@pytest.mark.parametrize("command", ["explain", "explore"])
def test_a_clock_far_below_any_real_one_is_one_error_not_inf_or_a_traceback(command, tmp_path,
                                                                            monkeypatch, capsys):
    """explore printed latency inf, QK+AV nan% and exited 0; explain raised OverflowError."""
    (tmp_path / "d.yaml").write_text(HEAD + "units: {clock_mhz: 1e-320}\n")
    monkeypatch.chdir(tmp_path)
    extra = ("--out", "o", "--backend", "serial", "--quiet") if command == "explore" else ()
    line = one_error(run(capsys, command, "d.yaml", *extra))
    assert line.startswith("attnforge: error: x: config edge_moe: latency_ms comes out inf, "
                           "beyond float64")
    assert not (tmp_path / "o" / "results.csv").exists()


def test_a_second_design_into_the_same_out_loses_nothing_of_the_first(tmp_path, monkeypatch,
                                                                       capsys):
    """docs/explore.md: another design rewrites DIR's files, the store keeps both designs'
    points, and rerunning the first rewrites its files from the store, evaluating nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text(HEAD + "sweep: {config: edge_moe, attn_p: [1, 2], "
                                            "linear_par: [8]}\n")
    (tmp_path / "b.yaml").write_text(HEAD.replace("zcu102", "u280"))
    options = ("--out", "o", "--backend", "serial", "--quiet")
    assert run(capsys, "explore", "a.yaml", *options)[0] == 0
    first = (tmp_path / "o" / "results.csv").read_bytes()
    assert run(capsys, "explore", "b.yaml", *options)[0] == 0
    assert (tmp_path / "o" / "results.csv").read_bytes() != first
    code, out, _ = run(capsys, "explore", "a.yaml", *options)
    assert code == 0 and "(5 points: 0 evaluated, 5 reused from the store)" in out
    assert (tmp_path / "o" / "results.csv").read_bytes() == first


def test_the_readme_utilisation_figures_are_the_paper_designs(tmp_path, capsys):
    """README: "FuseMax 2D utilisation A% at 1K, >= B% from 64K; FLAT C% (E = 64) / D% (E = 128)
    up to 64K tokens (at 1M: E% / F%)" against results.csv of designs/fusemax-paper.yaml
    (attention rows; FuseMax as the mean over the four models, as explore's table prints it).
    It said FLAT 12.5% / 25% without a range, which 256K and 1M tokens do not keep."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"FuseMax 2D utilisation ([\d.]+)% at 1K, ≥ ([\d.]+)% from 64K; FLAT "
                      r"([\d.]+)% \(E = 64\) / ([\d.]+)% \(E = 128\)\s+up to 64K tokens "
                      r"\(at 1M:\s+([\d.]+)% /\s+([\d.]+)%\)", readme)
    assert found, "README.md's utilisation sentence changed"
    fuse_1k, fuse_64k, flat_64, flat_128, flat_64_1m, flat_128_1m = map(float, found.groups())
    out = tmp_path / "o"
    code, _, err = run(capsys, "explore", str(ROOT / "designs" / "fusemax-paper.yaml"), "--out",
                       str(out), "--backend", "serial", "--quiet")
    assert code == 0, err
    with (out / "results.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["scope"] == "attention"]
    head_dim = {"bert": 64, "trxl": 64, "t5": 64, "xlm": 128}  # designs/fusemax-paper.yaml

    def util(config: str, seq_len: int) -> dict[str, float]:
        return {r["model"]: 100 * float(r["util_2d"]) for r in rows
                if r["config"] == config and int(r["seq_len"]) == seq_len}

    for seq_len in (1024, 4096, 16384, 65536):
        for model, value in util("flat", seq_len).items():
            assert round(value, 1) == (flat_64 if head_dim[model] == 64 else flat_128)
    for model, value in util("flat", 1048576).items():
        assert round(value, 1) == (flat_64_1m if head_dim[model] == 64 else flat_128_1m)
    fusemax = {n: sum(util("fusemax", n).values()) / 4 for n in (1024, 65536, 262144, 1048576)}
    assert round(fusemax[1024], 1) == fuse_1k
    assert min(fusemax[n] for n in (65536, 262144, 1048576)) >= fuse_64k - 0.05


def test_the_overflow_column_example_of_both_docs_is_a_real_row(tmp_path, capsys):
    """docs/fpga.md and docs/explore.md quote "e.g. `DSP N > 2,520 (+M)`" from the overflow
    column of designs/edge-moe-zcu102.yaml's results: the first sweep point that overflows, at
    p = 1 and 32 x 32 (by hand: 32^2 MACs x 2 + 32 GELU lanes + 2 x 1 x 8 lanes x 4 + 1 slot x 20
    + gate 256 + patch 256 + LayerNorm 106). It said 2,768 from before LayerNorm's 106 DSP."""
    dsp = 32 * 32 * 2 + 32 + 2 * 1 * 8 * 4 + 1 * 20 + 256 + 256 + 106
    expected = f"DSP {dsp:,} > 2,520 (+{dsp - 2520:,})"
    out = tmp_path / "o"
    code, _, err = run(capsys, "explore", str(ZCU102), "--out", str(out), "--backend", "serial",
                       "--quiet")
    assert code == 0, err
    with (out / "results.csv").open() as handle:
        overflows = [r["overflow"] for r in csv.DictReader(handle) if r["overflow"]]
    assert overflows[0] == expected
    for name in ("fpga.md", "explore.md"):
        (quoted,) = re.findall(r"e\.g\.\s+`(DSP [\d,]+ > 2,520\s+\(\+[\d,]+\))`", doc_text(name))
        assert " ".join(quoted.split()) == expected, name


def test_the_edge_moe_notebooks_speedups_are_the_models(tmp_path, capsys):
    """notebooks/edge_moe.ipynb: "the model's baseline is about 2.5 times faster than the
    paper's (B vs P ms), so the five techniques together give a smaller total speedup (S×) than
    the paper's T×": B, S against explore's ablation rows, P and T against the paper's published
    latencies (fpga.reference). It said 8.7× where 257.54 / 29.91 is 8.61."""
    notebook = json.loads((ROOT / "notebooks" / "edge_moe.ipynb").read_text(encoding="utf-8"))
    text = " ".join("".join(cell["source"]) for cell in notebook["cells"]
                    if cell["cell_type"] == "markdown")
    found = re.search(r"about ([\d.]+) times faster than the paper's \((\d+) vs (\d+) ms\), so "
                      r"the five techniques together give a smaller total speedup \(([\d.]+)×\) "
                      r"than the paper's ([\d.]+)×", " ".join(text.split()))
    assert found, "the notebook's ablation sentence changed"
    faster, base, paper_base, speedup, paper_speedup = map(float, found.groups())
    out = tmp_path / "o"
    code, _, err = run(capsys, "explore", str(ZCU102), "--out", str(out), "--backend", "serial",
                       "--quiet")
    assert code == 0, err
    with (out / "results.csv").open() as handle:
        ms = {r["config"]: float(r["latency_ms"]) for r in csv.DictReader(handle)
              if r["group"] == "config"}
    paper = PAPER_ABLATION_MS
    assert (base, paper_base) == (round(ms["baseline"]), round(paper["baseline"]))
    assert faster == round(paper["baseline"] / ms["baseline"], 1)
    assert speedup == round(ms["baseline"] / ms["attention_reorder"], 1)
    assert paper_speedup == round(paper["baseline"] / paper["attention_reorder"], 1)


# ---- an AXI width no AXI4 port has ---------------------------------------------------------------

@pytest.mark.parametrize("bits", [9, 100, 384, 2048])
def test_an_axi_width_that_is_no_axi4_width_is_an_error(bits, tmp_path, monkeypatch, capsys):
    """AXI4 (ARM IHI 0022) data buses are 8, 16, 32, ..., 1,024 bits; 100 was priced as 12.5 B
    a beat and 4,096 as a 114-BRAM18-wide FIFO per master, with no word."""
    (tmp_path / "d.yaml").write_text(HEAD + f"units: {{axi_bits: {bits}}}\n")
    monkeypatch.chdir(tmp_path)
    line = one_error(run(capsys, "explain", "d.yaml"))
    assert line == (f"attnforge: error: d.yaml:5:19: units.axi_bits: must be an AXI4 data width, "
                    f"a power of two from 8 to 1,024 bits, not {bits:,}")


@pytest.mark.parametrize("bits", [8, 64, 1024])
def test_every_axi4_width_is_accepted(bits, tmp_path, monkeypatch, capsys):
    (tmp_path / "d.yaml").write_text(HEAD + f"units: {{axi_bits: {bits}}}\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "explain", "d.yaml")
    assert code == 0, err
    assert f"AXI {bits} b" in out


# ---- parallelism the workload cannot use, for every unit ----------------------------------------

# M3ViT (edgemoe.md): d_model 192, 16 experts, 16 x 16 patches of 3 channels (768 inputs). A
# LayerNorm or add lane beyond d_model's 192 features, a gate MAC beyond d_model x experts =
# 3,072 (one column per expert, each as wide as a token) and a patch MAC beyond 768 inputs x 192
# outputs = 147,456 have nothing to do: explain gave the same latency with twice the DSP and LUT.
@pytest.mark.parametrize(("name", "limit", "why"), [
    ("layernorm_lanes", 192, "lanes beyond d_model, 192, stay idle"),
    ("add_lanes", 192, "lanes beyond d_model, 192, stay idle"),
    ("gate_macs", 192 * 16, "MACs beyond d_model x experts, 192 x 16, stay idle"),
    ("patch_embed_macs", 3 * 16 * 16 * 192,
     "MACs beyond a patch's inputs x d_model, 768 x 192, stay idle"),
])
def test_every_units_useless_parallelism_is_an_error(name, limit, why, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.yaml").write_text(HEAD.replace("zcu102", "u280") +
                                      f"units: {{{name}: {limit}}}\n")
    assert run(capsys, "explain", "ok.yaml")[0] == 0
    (tmp_path / "d.yaml").write_text(HEAD + f"units: {{{name}: {limit + 1}}}\n")
    line = one_error(run(capsys, "explain", "d.yaml"))
    assert line == (f"attnforge: error: d.yaml:5:{11 + len(name)}: units.{name}: must be at most "
                    f"{limit:,} ({why}), not {limit + 1:,}")


@pytest.mark.parametrize("key", ['"units.attn_p,"', '"units.attn_p, "', '","', '", units.attn_p"'])
def test_a_key_with_an_empty_field_names_the_key_as_written(key, tmp_path, monkeypatch, capsys):
    """A stray comma gave "grid.: unknown field '' in ''" (or "names  twice")."""
    line = explore_error(tmp_path, monkeypatch, capsys, f"grid:\n  {key}: [[1, 2]]\n")
    written = key.strip('"')
    assert line == (f"attnforge: error: d.yaml:6:3: grid.{written}: has an empty field name (a "
                    f"comma with no dotted key on one side)")


def test_a_search_key_with_a_stray_comma_names_the_key_as_written(tmp_path, monkeypatch, capsys):
    line = explore_error(tmp_path, monkeypatch, capsys, 'search:\n  trials: 2\n  space:\n'
                                                        '    "units.attn_p,": {choices: [[1]]}\n')
    assert line == ("attnforge: error: d.yaml:8:5: search.space.units.attn_p,: has an empty "
                    "field name (a comma with no dotted key on one side)")


def test_an_empty_grid_key_is_one_error(tmp_path, monkeypatch, capsys):
    line = explore_error(tmp_path, monkeypatch, capsys, 'grid:\n  "": [1]\n')
    assert line == "attnforge: error: d.yaml:6:3: grid.: is empty: name a field by its dotted key"
