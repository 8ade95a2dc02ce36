"""Regressions found by a new user trying CACTI-priced buffers and per-workload fronts: plots and
tables that name what they show, search ranges the CACTI table cannot price caught before
anything runs, and no output directory left behind by bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from attnforge import pareto, report_html
from attnforge.kinds import get_kind, label_keys_of

DESIGN = """\
version: 1
kind: accelerator
name: mine
architectures:
  a:
    buffer: {buffer_bytes: 4194304, row_bits: 2048, banks: 8}
    array_2d: {rows: 128, cols: 128}
    array_1d: {pes: 128}
configs:
  f: {cascade: attention-1pass, architecture: a, fused: true, schedule: pipelined}
models:
  bert: {d_model: 768, heads: 12, head_dim: 64, ffn: 3072}
sweep:
  models: [bert]
  seq_lens: [4096]
  configs: [f]
  scopes: [attention]
  batch: 1
cost_table: {preset: cacti-45nm}
objectives: [energy_j, area_mm2]
"""
BANKS = "architectures.a.buffer.banks"
ROW_BITS = "architectures.a.buffer.row_bits"


def write_design(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(DESIGN + extra)
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnforge", *args], cwd=cwd, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=300)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `attnforge: error:` line of a run that exited 2 without a traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnforge: error:"), result.stderr
    return lines[0]


def legend_texts(figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


# --- report.html of a multi-workload exploration ------------------------------------------

WORKLOAD_ROWS = [{"model": m, "config": c, "latency_s": scale * t, "energy_j": scale * e}
                 for m, scale in (("small", 1.0), ("big", 100.0))
                 for c, t, e in (("fast", 1.0, 4.0), ("frugal", 2.0, 2.0), ("neither", 3.0, 3.0))]


def test_page_colours_the_alternatives_not_a_workload_key(monkeypatch, tmp_path):
    # The page coloured by its first label key; the accelerator's fallback labels start with
    # `model`, a workload key, so the paper page's legend read "bert: on the front of 12 of 48
    # workloads". Hand-worked: in each workload fast and frugal are on the front, neither not.
    seen = []
    real = report_html.relative_figure

    def spy(rows, objectives, group_keys, colour_key, title=""):
        figure = real(rows, objectives, group_keys, colour_key, title)
        seen.append(legend_texts(figure))
        return figure

    monkeypatch.setattr(report_html, "relative_figure", spy)
    report_html.write_html(WORKLOAD_ROWS, ("latency_s", "energy_j"), ("model", "config"),
                           tmp_path / "r.html", "t", workload_keys=("model",))
    assert seen == [["fast: on the front of 2 of 2 workloads",
                     "frugal: on the front of 2 of 2 workloads",
                     "neither: on the front of 0 of 2 workloads", "on its workload's front"]]


def test_front_table_orders_workloads_numerically():
    # Sorted by repr, seq_len came out 1024, 1048576, 16384, 262144.
    lengths = (262144, 1024, 1048576, 16384)
    rows = [{"seq_len": n, "config": "x", "latency_s": float(n), "energy_j": 1.0}
            for n in lengths]
    table = report_html.front_table(rows, ("latency_s", "energy_j"), ("config",), ("seq_len",))
    shown = [lengths[int(line.split("<td>")[1].split("<")[0])]  # `#`: the row's position
             for line in table.splitlines() if line.startswith("<tr><td>")]
    assert shown == sorted(lengths)


# --- labels name the grid's variants ----------------------------------------------------

def test_grid_override_columns_label_the_points(tmp_path):
    # Every variant of a grid over banks used to be labelled "f/bert/4096".
    kind = get_kind("accelerator")
    rows = [{BANKS: b, "model": "bert", "seq_len": 4096, "config": "f", "scope": "attention",
             "array_dim": 128, "energy_j": 1.0 + b, "area_mm2": 2.0} for b in (1, 8)]
    design = kind.load(write_design(tmp_path))
    assert label_keys_of(kind, design, rows, ("energy_j", "area_mm2"), (BANKS,)) == (BANKS,
                                                                                     "config")
    # an override that does not vary labels nothing
    assert label_keys_of(kind, design, rows[:1], ("energy_j",), (BANKS,)) == ("config",)


def test_explore_grid_labels_and_colours_by_its_variants(tmp_path, monkeypatch):
    from attnforge.backends import BackendChoice
    from attnforge.explorer import explore
    from attnforge.kinds import accelerator

    captured = {}
    monkeypatch.setattr(accelerator, "plot_front",
                        lambda rows, objectives, labels, path, title: captured.update(
                            labels=labels))
    path = write_design(tmp_path, f"grid:\n  {BANKS}: [1, 8]\n")
    explore(path, tmp_path / "out", BackendChoice("serial"))
    assert captured["labels"] == (BANKS, "config")
    page = (tmp_path / "out" / "report.html").read_text()
    header = page[page.index('<table id="front">'):].splitlines()[1]
    assert header.startswith(f"<tr><th>#</th><th>{BANKS}</th><th>config</th>")


def test_front_figure_names_its_labels_and_scales_each_axis():
    # "fusemax/512" did not say that 512 is the array size; a 1.6x energy span on a log axis
    # was ticked "4.85 x 10^-1".
    rows = [{"config": "a", "array_dim": d, "t": t, "e": e}
            for d, t, e in ((16, 1000.0, 1.5), (64, 100.0, 1.2), (256, 1.0, 1.0))]
    figure = pareto.front_figure(rows, ("t", "e"), ("config", "array_dim"))
    assert "Pareto front (labels: config/array_dim)" in legend_texts(figure)
    axes = figure.axes[0]
    assert (axes.get_xscale(), axes.get_yscale()) == ("log", "linear")  # 1000x vs 1.5x


def test_few_colours_keeps_the_legend_short():
    # 5 configs x 2 x 8 clock values = 80 colours made the legend overflow the figure;
    # greedily from the fewest values: 2, then x5 = 10 <= 20, then x8 = 80 > 20 is left out.
    rows = [{"config": c, "flat": f, "fusemax": m} for c in range(5) for f in range(2)
            for m in range(8)]
    assert pareto.few_colours(rows, ("fusemax", "flat", "config")) == ("flat", "config")
    assert pareto.few_colours(rows, ("fusemax",)) == ("fusemax",)
    figure = pareto.relative_figure([dict(r, w=0, t=1.0 + r["fusemax"], e=1.0) for r in rows],
                                    ("t", "e"), ("w",), ("fusemax", "flat", "config"))
    assert len(legend_texts(figure)) == 10 + 1


# --- bad searches and --array-dim ----------------------------------------------------------

def test_search_range_over_banks_is_checked_value_by_value(tmp_path):
    # Both ends (1, 64) are tabulated, so only a trial drawing 36 failed, after the output
    # directory and its store had been made.
    search = f"search:\n  method: random\n  trials: 4\n  seed: 0\n  space:\n    {BANKS}: " \
             "{low: 1, high: 64}\n"
    path = write_design(tmp_path, search)
    line = one_error_line(run_cli("explore", path.name, "--out", "o", cwd=tmp_path))
    assert line.startswith(f"attnforge: error: mine.yaml:26:5: search.space.{BANKS}: with "
                           f"{BANKS}=3: ")
    assert "of 1..64 only 1, 2, 4, 8, 16, 32, 64 do: give those as choices" in line
    assert not (tmp_path / "o").exists()


def test_trial_that_breaks_a_rule_leaves_no_output_directory(tmp_path):
    # A long range is checked at its ends only: a trial inside it (a width CACTI lacks) stops
    # the run; the directory this run made, holding no point, goes with it.
    search = f"search:\n  method: random\n  trials: 2\n  seed: 0\n  space:\n    {ROW_BITS}: " \
             "{low: 64, high: 8192}\n"
    path = write_design(tmp_path, search)
    line = one_error_line(run_cli("explore", path.name, "--out", "new/o", cwd=tmp_path))
    assert f"search.space.{ROW_BITS}: with {ROW_BITS}=" in line and "-bit accesses" in line
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()  # a directory the user made stays
    one_error_line(run_cli("explore", path.name, "--out", "kept", cwd=tmp_path))
    assert (tmp_path / "kept").is_dir()


def test_explain_array_dim_names_the_configuration_and_its_architecture(tmp_path):
    # It said "the f architecture's buffer", naming the configuration as an architecture.
    path = write_design(tmp_path)
    line = one_error_line(run_cli("explain", path.name, "--array-dim", "24", cwd=tmp_path))
    assert "--array-dim 24: configuration f's architecture a: its buffer scaled to a 24 × 24 " \
           "array (buffer.row_bits)" in line
    assert "384-bit" in line  # 2048 bits at d = 128 (the design's own size) scaled to 24: 2048·24/128


def test_summary_of_a_grid_is_per_variant(tmp_path):
    # A grid over cost_table.preset printed one "fusemax over flat" ratio: the rows were indexed
    # without the grid's columns, so it was the last variant's alone, shown for the design.
    from attnforge.backends import BackendChoice
    from attnforge.explorer import explore

    path = tmp_path / "p.yaml"
    pareto_design = Path(__file__).parents[2] / "designs" / "fusemax-pareto.yaml"
    path.write_text(pareto_design.read_text().replace("array_dims: [16, 32, 64, 128, 256, 512]",
                                                      "array_dims: [64, 256]")
                    + "grid:\n  cost_table.preset: [fusemax-md, cacti-45nm]\n")
    outcome = explore(path, tmp_path / "o", BackendChoice("serial"))
    for preset in ("fusemax-md", "cacti-45nm"):
        rows = {(r["array_dim"], r["config"]): r for r in outcome.rows
                if r["cost_table.preset"] == preset}
        mean = sum(float(rows[d, "fusemax"]["energy_j"]) / float(rows[d, "flat"]["energy_j"])
                   for d in (64, 256)) / 2
        section = outcome.summary.split(f"with cost_table.preset={preset}:")[1]
        line = next(x for x in section.splitlines() if x.startswith("flat "))
        assert line.split()[-1] == f"{100 * mean:.1f}%"
    assert "   64   bert     262144  fusemax" in outcome.summary  # the length is shown


def test_row_energy_fields_under_cacti_are_an_error(tmp_path):
    # `{preset: cacti-45nm, buffer_row_read_pj: 1}` and `... 100000` gave the same energy, as
    # CACTI prices the buffer: the override was silently ignored.
    path = tmp_path / "mine.yaml"
    path.write_text(DESIGN.replace("{preset: cacti-45nm}",
                                   "{preset: cacti-45nm, buffer_row_read_pj: 1}"))
    line = one_error_line(run_cli("explain", path.name, cwd=tmp_path))
    assert line.startswith("attnforge: error: mine.yaml:19:54: cost_table.buffer_row_read_pj: "
                           "has no effect: the preset cacti-45nm's buffer_model is cacti")
    # under the row_energy model the same field prices the buffer: a costlier row costs more
    energies = []
    for pj in (1, 100000):
        path.write_text(DESIGN.replace("{preset: cacti-45nm}", "{preset: cacti-45nm, "
                                       f"buffer_model: row_energy, buffer_row_read_pj: {pj}}}"))
        result = run_cli("explain", path.name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        energies.append(float(result.stdout.split(", energy ")[1].split()[0]))
    assert energies[1] > energies[0]


def test_repeated_objective_is_an_error(tmp_path):
    # `objectives: [latency_s, latency_s]` explored and plotted latency against itself.
    path = tmp_path / "mine.yaml"
    path.write_text(DESIGN.replace("[energy_j, area_mm2]", "[energy_j, energy_j]"))
    line = one_error_line(run_cli("explore", path.name, "--out", "o", cwd=tmp_path))
    assert line.startswith("attnforge: error: mine.yaml:20:24: objectives[1]: must differ from "
                           "objectives[0] ('energy_j')")
    assert not (tmp_path / "o").exists()


def test_grid_summary_prints_no_empty_variant_headings(tmp_path):
    # One config and no array sweep: each variant's heading is followed by its own points
    # (the table of a design without FuseMax's configurations), never left bare.
    from attnforge.backends import BackendChoice
    from attnforge.explorer import explore

    outcome = explore(write_design(tmp_path, f"grid:\n  {BANKS}: [1, 8]\n"), tmp_path / "o",
                      BackendChoice("serial"))
    blocks = outcome.summary.split("\n\n")
    assert blocks[0] == "mine: 2 points"
    headings = [i for i, block in enumerate(blocks) if block.startswith("with ")]
    assert [blocks[i] for i in headings] == [f"with {BANKS}=1:", f"with {BANKS}=8:"]
    for i in headings:
        assert blocks[i + 1].startswith("model ") and len(blocks[i + 1].splitlines()) == 2


def test_front_figure_names_dominated_points_when_few():
    # A single-workload paper design showed four grey points no one could tell apart.
    rows = [{"config": c, "t": t, "e": e} for c, t, e in
            (("fusemax", 1.0, 1.0), ("flat", 7.0, 1.3), ("unfused", 11.0, 1.4))]
    texts = sorted(t.get_text() for t in pareto.front_figure(rows, ("t", "e"),
                                                             ("config",)).axes[0].texts)
    assert texts == ["flat", "fusemax", "unfused"]
    many = [{"config": f"c{i}", "t": 1.0 + i, "e": 1.0 + i} for i in range(pareto.MAX_LABELS + 1)]
    texts = [t.get_text() for t in pareto.front_figure(many, ("t", "e"), ("config",)).axes[0].texts]
    assert texts == ["c0"]  # one point dominates the rest; too many to name them all


def test_exponent_numbers_without_a_dot_are_numbers(tmp_path):
    # PyYAML's YAML 1.1 rules read 1e9 and 4.294967296e11 as text: "must be a number, not
    # '4.294967296e11'". 4.294967296e11 = 400 * 2^30 exactly.
    path = tmp_path / "mine.yaml"
    path.write_text(DESIGN.replace("    buffer:", "    dram: {bandwidth_bytes_per_s: "
                                   "4.294967296e11}\n    buffer:")
                    .replace("{preset: cacti-45nm}", "{preset: cacti-45nm, mac_pj: 1716E-2}"))
    design = get_kind("accelerator").load(path)
    assert design.architectures["a"].dram.bandwidth_bytes_per_s == 400 * 2**30
    assert design.cost_table.mac_pj == 17.16
    path.write_text(DESIGN.replace("buffer_bytes: 4194304", "buffer_bytes: 4e6"))
    line = one_error_line(run_cli("explain", path.name, cwd=tmp_path))
    assert line.endswith("architectures.a.buffer.buffer_bytes: must be an integer, not 4000000.0")


def test_register_file_fields_of_the_other_rf_model_are_an_error(tmp_path):
    # fusemax-md prices RFs per entry: `rf_bit_um2: 1000` left the area at 146.8 mm².
    kind = get_kind("accelerator")
    path = tmp_path / "mine.yaml"
    for table, key, model in (("{preset: fusemax-md, rf_bit_um2: 1000}", "rf_bit_um2",
                               "preset fusemax-md's rf_model is per_entry"),
                              ("{rf_model: accelergy_smartbuffer, rf_um2: 5}", "rf_um2",
                               "rf_model is accelergy_smartbuffer")):
        path.write_text(DESIGN.replace("{preset: cacti-45nm}", table))
        found = kind.problems(_spec_only(path))
        assert found[0][0] == f"cost_table.{key}" and f"has no effect: the {model}" in found[0][1]
    # the field each model reads is accepted
    path.write_text(DESIGN.replace("{preset: cacti-45nm}",
                                   "{preset: accelergy-artifact, rf_bit_um2: 7}"))
    kind.load(path)


def _spec_only(path: Path):
    """The design as its types load it, before the kind's own rules."""
    from attnforge.specload import load_spec
    from mapper.spec import Design

    return load_spec(path, Design, kind="accelerator")
