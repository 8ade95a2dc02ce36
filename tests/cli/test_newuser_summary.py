"""What `attnforge explore` prints for a user's own accelerator design: its points' numbers,
even without FuseMax's configurations or a square-array sweep (it printed only
"mine: 1 points")."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from attnforge.cli import main

DESIGN = """\
version: 1
kind: accelerator
name: mine
architectures:
  a: {}
configs:
  one: {cascade: attention-1pass, architecture: a, fused: true}
  three: {cascade: attention-3pass, architecture: a, fused: false}
models:
  m: {d_model: 768, heads: 12, head_dim: 64, ffn: 3072}
sweep:
  models: [m]
  seq_lens: [1024]
  configs: [CONFIGS]
  scopes: [attention]
"""


def explore(tmp_path: Path, capsys, configs: str, text: str = DESIGN
            ) -> tuple[str, list[dict[str, str]]]:
    design = tmp_path / "mine.yaml"
    design.write_text(text.replace("CONFIGS", configs))
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial",
              "--quiet"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    with (tmp_path / "o" / "results.csv").open() as handle:
        return out, list(csv.DictReader(handle))


@pytest.mark.parametrize("configs", ["one", "one, three"])
def test_summary_lists_each_points_latency_and_energy(configs, tmp_path, capsys):
    out, rows = explore(tmp_path, capsys, configs)
    lines = out.splitlines()
    assert lines[0] == f"mine: {len(rows)} point{'s' * (len(rows) > 1)}"
    for row in rows:
        shown = [line for line in lines if f" {row['config']} " in f" {line} "]
        assert len(shown) == 1, out
        assert f"{float(row['latency_s']):.4g}" in shown[0], shown[0]
        assert f"{float(row['energy_j']):.4g}" in shown[0], shown[0]


def test_one_point_is_not_points(tmp_path, capsys):
    out, _ = explore(tmp_path, capsys, "one")
    assert "1 points" not in out and "(1 point: 1 evaluated" in out, out


# ----------------------------------------------------------------------------- sweep lists
# An empty list wrote "mine: 0 points" and empty results with exit 0 (and made `explain` and
# `simulate` fail with an IndexError traceback); a repeated value evaluated the same point twice.


@pytest.mark.parametrize("key", ["models", "seq_lens", "configs", "scopes"])
@pytest.mark.parametrize("command", ["explore", "explain", "simulate"])
def test_an_empty_sweep_list_is_an_error_at_its_key(key, command, tmp_path, capsys):
    text = DESIGN.replace("CONFIGS", "one")
    line_no = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith(f"  {key}:"))
    lines = text.splitlines()
    lines[line_no - 1] = f"  {key}: []"
    design = tmp_path / "mine.yaml"
    design.write_text("\n".join(lines) + "\n")
    argv = [command, str(design)] + (["--out", str(tmp_path / "o")] if command == "explore" else [])
    with pytest.raises(SystemExit) as info:
        main(argv)
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert err.startswith(f"attnforge: error: {design}:{line_no}:") and f"sweep.{key}: " in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("old", "new", "key"), [
    ("seq_lens: [1024]", "seq_lens: [1024, 2048, 1024]", "sweep.seq_lens[2]"),
    ("configs: [CONFIGS]", "configs: [one, one]", "sweep.configs[1]"),
    ("scopes: [attention]", "scopes: [attention, attention]", "sweep.scopes[1]"),
    ("scopes: [attention]", "scopes: [attention]\n  array_dims: [64, 64]", "sweep.array_dims[1]"),
])
def test_a_repeated_sweep_value_is_an_error(old, new, key, tmp_path, capsys):
    design = tmp_path / "mine.yaml"
    design.write_text(DESIGN.replace(old, new).replace("CONFIGS", "one"))
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert f" {key}: repeats " in err and len(err.strip().splitlines()) == 1, err


# ----------------------------------------------------------------------------- paper values
# A `paper:` entry whose baseline names no config (a typo) was dropped without a word: the
# summary printed FLAT's row with no paper value beside it.

PAPER = Path(__file__).parents[2] / "designs" / "fusemax-paper.yaml"


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("{baseline: flat, scope: attention,", "{baseline: flt, scope: attention,",
     "paper[0].baseline: must name a config (unfused, flat, cascade, architecture, fusemax), "
     "not 'flt'; did you mean 'flat'?"),
    ("{baseline: unfused, scope: attention,", "{baseline: flat, scope: attention,",
     "paper[1]: repeats baseline 'flat' in scope 'attention' (paper[0])"),
])
def test_a_paper_value_that_would_never_be_printed_is_an_error(old, new, fragment, tmp_path,
                                                               capsys):
    text = PAPER.read_text()
    assert old in text
    design = tmp_path / "paper.yaml"
    design.write_text(text.replace(old, new))
    line_no = next(i for i, row in enumerate(text.splitlines(), 1) if old in row)
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert err.startswith(f"attnforge: error: {design}:{line_no}:") and fragment in err, err


# ----------------------------------------------------------------------------- simulate + grid
# `explain` says it shows the design as written and not its grid; `simulate` said nothing.


@pytest.mark.parametrize("as_json", [False, True])
def test_simulate_says_it_does_not_apply_the_grid(as_json, tmp_path, capsys):
    design = tmp_path / "grid.yaml"
    design.write_text(DESIGN.replace("CONFIGS", "one")
                      + "grid:\n  architectures.a.clock_mhz: [500, 900]\n")
    argv = ["simulate", str(design)] + (["--json"] if as_json else [])
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    note = ("note: the design as written; explore runs its grid (2 variants over "
            "architectures.a.clock_mhz)")
    if as_json:
        import json

        json.loads(out)  # stdout stays JSON
        assert err.strip() == note, err
    else:
        assert out.splitlines()[0] == note, out


# ----------------------------------------------------------------------------- out of range
# A clock or bandwidth hundreds of orders of magnitude off gave inf/NaN latencies: results.csv
# written, then a matplotlib ValueError traceback from the log-scaled plot.


@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's overflow warning went to stderr
@pytest.mark.parametrize("backend", ["serial", "process"])
@pytest.mark.parametrize(("old", "new"), [
    ("a: {}", "a: {clock_mhz: 1e300}"),
    ("a: {}", "a: {dram: {bandwidth_bytes_per_s: 1e-300}}"),
])
def test_results_beyond_float64_are_one_error_naming_the_point(old, new, backend, tmp_path,
                                                                capsys):
    design = tmp_path / "mine.yaml"
    design.write_text(DESIGN.replace("CONFIGS", "one").replace(old, new))
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", backend,
              "--quiet"])
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "one / m / seq 1024 / attention" in lines[0] and "float64" in lines[0], lines[0]


# ----------------------------------------------------------------------------- unmappable cascades
# A config naming a library cascade the mapper cannot lower (extra ranks, a parameter without a
# default, an unfused schedule its Einsums do not allow) failed while the points ran, with an
# unlocated "extent of rank g (of input Q[e,g,s,p]) is missing".


@pytest.mark.parametrize(("cascade", "fused", "fragment"), [
    ("attention-1pass-window", "true", "needs parameter W"),  # the mask's W has no default
    ("lean-decode", "false", "does not model `where` filters"),  # its split is not a mask
])
@pytest.mark.parametrize("command", ["explore", "explain"])
def test_a_config_whose_cascade_cannot_be_mapped_is_an_error_at_its_key(
        cascade, fused, fragment, command, tmp_path, capsys):
    old = "one: {cascade: attention-1pass, architecture: a, fused: true}"
    design = tmp_path / "mine.yaml"
    text = DESIGN.replace("CONFIGS", "one").replace(
        old, f"one: {{cascade: {cascade}, architecture: a, fused: {fused}}}")
    design.write_text(text)
    line_no = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  one:"))
    argv = [command, str(design)] + (["--out", str(tmp_path / "o")] if command == "explore" else [])
    with pytest.raises(SystemExit) as info:
        main(argv)
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert err.startswith(f"attnforge: error: {design}:{line_no}:"), err
    assert f"configs.one.cascade: {cascade} cannot be mapped" in err and fragment in err, err
    assert not (tmp_path / "o").exists()


def test_a_buffer_too_small_for_the_model_is_reported_at_the_buffer_not_the_cascade(tmp_path,
                                                                                    capsys):
    design = tmp_path / "mine.yaml"
    text = DESIGN.replace("CONFIGS", "one").replace("a: {}", "a: {buffer: {buffer_bytes: 1048576}}")
    text = text.replace("head_dim: 64", "head_dim: 4096")
    design.write_text(text)
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert f"{design}:5:" in err and "architectures.a.buffer.buffer_bytes: " in err, err
    assert "config one, model m" in err and "cannot be mapped" not in err, err



def test_columns_stay_aligned_under_a_long_config_name(tmp_path, capsys):
    # a 19-character name pushed its row's scope, latency and energy out of their columns
    design = DESIGN.replace("  three:", "  fusemax_causal_gqa: {cascade: attention-1pass, "
                            "architecture: a}\n  three:")
    out, rows = explore(tmp_path, capsys, "one, fusemax_causal_gqa", design)
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("model "))
    table = [line for line in lines if line.startswith("m ")]
    assert len(table) == len(rows) == 2, out
    for line, row in zip(table, rows, strict=True):
        assert line[header.index("scope"):].startswith("attention "), out
        for key in ("latency_s", "energy_j"):  # right-aligned under their names
            end = header.index(key) + len(key)
            assert line[:end].split()[-1] == f"{float(row[key]):.4g}", out


@pytest.mark.parametrize(("configs", "said"), [("one, three", True), ("one", False)])
def test_several_configs_without_fusemax_say_why_there_are_no_ratios(configs, said, tmp_path,
                                                                     capsys):
    out, _ = explore(tmp_path, capsys, configs)
    line = ("no ratios: the summary compares the config named fusemax with each other config, "
            "and none of 'one', 'three' is named so")
    assert (line in out) == said, out
    assert "over" not in out  # no ratio table either way
