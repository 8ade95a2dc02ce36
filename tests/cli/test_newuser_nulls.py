"""A key left empty (`linear:` with nothing after it, YAML null) in a design file: a section
(a nested mapping) left empty is an error at its line, never read as "not given"; a scalar whose
type allows None (``acc_bits``, ``buffer_reference_dim``) still takes null as its "automatic"
value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from attnforge.specload import SpecError, load_spec_text
from rtl.spec import SINGLE_UNITS
from tests.cli.inprocess import one_error, run

DESIGNS = Path(__file__).parents[2] / "designs"


@pytest.mark.parametrize("unit", SINGLE_UNITS)
def test_an_rtl_unit_left_empty_is_an_error_not_unselected(unit, tmp_path, capsys):
    design = tmp_path / "units.yaml"
    design.write_text(f"version: 1\nkind: rtl\nname: x\nsystolic: [{{rows: 2, cols: 2}}]\n"
                      f"{unit}:\n")
    out = tmp_path / "v"
    line = one_error(run(capsys, "verilog", str(design), "--out", str(out)))
    assert f"{design}:5:" in line and f" {unit}: " in line, line
    assert f"`{unit}: {{}}`" in line, line  # says how to select it with the defaults
    assert not out.exists()


def test_an_rtl_unit_that_is_the_only_one_and_empty_names_its_key(tmp_path, capsys):
    # was "name: the design selects no unit", pointing away from the line the user wrote
    design = tmp_path / "gelu.yaml"
    design.write_text("version: 1\nkind: rtl\nname: x\ngelu:\n")
    line = one_error(run(capsys, "verilog", str(design), "--out", str(tmp_path / "v")))
    assert f"{design}:4:" in line and " gelu: " in line and "selects no unit" not in line, line


def test_an_fpga_sweep_left_empty_is_an_error(tmp_path, capsys):
    text = (DESIGNS / "edge-moe-zcu102.yaml").read_text()
    head, _, _ = text.partition("\nsweep:\n")
    design = tmp_path / "fpga.yaml"
    design.write_text(head + "\nsweep:\n")
    line_no = len((head + "\n").splitlines()) + 1
    line = one_error(run(capsys, "explore", str(design), "--out", str(tmp_path / "o")))
    assert f"{design}:{line_no}:" in line and " sweep: " in line and "empty" in line, line
    assert not (tmp_path / "o").exists()


def test_a_required_section_left_empty_says_empty_not_scalar(tmp_path, capsys):
    text = (DESIGNS / "edge-moe-zcu102.yaml").read_text()
    design = tmp_path / "fpga.yaml"
    design.write_text(text.replace("workload: {}", "workload:"))
    line_no = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("workload:"))
    line = one_error(run(capsys, "explore", str(design), "--out", str(tmp_path / "o")))
    assert f"{design}:{line_no}:" in line and "workload: must be a mapping" in line, line
    assert "empty" in line and "scalar" not in line, line


def test_an_accelerator_section_left_empty_is_an_error(tmp_path, capsys):
    text = (DESIGNS / "fusemax-pareto.yaml").read_text()
    design = tmp_path / "acc.yaml"
    design.write_text(text.replace("cost_table: {preset: cacti-45nm}", "cost_table:"))
    line = one_error(run(capsys, "explore", str(design), "--out", str(tmp_path / "o")))
    assert " cost_table: " in line and "empty" in line, line


def test_a_scalar_left_empty_says_empty_not_none(tmp_path, capsys):
    design = tmp_path / "gelu.yaml"
    design.write_text("version: 1\nkind: rtl\nname: x\ngelu: {total_bits: }\n")
    line = one_error(run(capsys, "verilog", str(design), "--out", str(tmp_path / "v")))
    assert f"{design}:4:" in line and "gelu.total_bits: must be an integer, not empty" in line


def test_null_still_means_automatic_where_the_type_allows_it(tmp_path, capsys):
    design = tmp_path / "linear.yaml"
    design.write_text("version: 1\nkind: rtl\nname: x\nlinear: {in_par: 2, out_par: 2, "
                      "acc_bits: null}\n")
    code, out, err = run(capsys, "verilog", str(design), "--out", str(tmp_path / "v"))
    assert code == 0, err
    assert (tmp_path / "v" / "linear.v").is_file()


@dataclass(frozen=True, slots=True)
class Part:
    size: int = 1


@dataclass(frozen=True, slots=True)
class Whole:
    part: Part | None = None
    limit: int | None = field(default=None, metadata={"min": 1})


@pytest.mark.parametrize("body", ["part:\n", "part: null\n", "part: ~\n"])
def test_loader_refuses_an_optional_section_given_as_null(body):
    with pytest.raises(SpecError) as caught:
        load_spec_text("version: 1\nkind: t\n" + body, Whole, "w.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (3, "part")
    assert "`part: {}`" in problem.message


def test_loader_keeps_null_for_an_optional_scalar_and_absence_for_a_section():
    assert load_spec_text("version: 1\nkind: t\nlimit:\n", Whole, "w.yaml") == Whole()
    assert load_spec_text("version: 1\nkind: t\npart: {}\n", Whole, "w.yaml") == Whole(Part())


# ----------------------------------------------------------------------------- non-finite numbers
# YAML reads `.inf`, `.nan` and an overflowing `1e400` as floats; a field with only a lower bound
# took inf (a clock of .inf MHz wrote a results.csv of NaN latencies, exit 0).


@pytest.mark.parametrize(("old", "new", "key"), [
    ("clock_mhz: 940", "clock_mhz: .inf", "architectures.fusemax.clock_mhz"),
    ("{bandwidth_bytes_per_s: 429496729600}", "{bandwidth_bytes_per_s: 1e400}",
     "architectures.fusemax.dram.bandwidth_bytes_per_s"),
    ("{preset: cacti-45nm}", "{preset: cacti-45nm, mac_pj: .inf}", "cost_table.mac_pj"),
    ("{preset: cacti-45nm}", "{preset: cacti-45nm, mac_pj: .nan}", "cost_table.mac_pj"),
])
def test_a_number_that_is_not_finite_is_an_error(old, new, key, tmp_path, capsys):
    text = (DESIGNS / "fusemax-pareto.yaml").read_text()
    design = tmp_path / "acc.yaml"
    design.write_text(text.replace(old, new, 1))
    line_no = next(i for i, row in enumerate(text.splitlines(), 1) if old in row)
    line = one_error(run(capsys, "explore", str(design), "--out", str(tmp_path / "o")))
    assert f"{design}:{line_no}:" in line and f" {key}: must be a finite number" in line, line
    assert not (tmp_path / "o").exists()


def test_a_search_range_end_that_is_not_finite_is_an_error(tmp_path, capsys):
    text = (DESIGNS / "fusemax-pareto.yaml").read_text()
    design = tmp_path / "acc.yaml"
    design.write_text(text + "search:\n  method: random\n  trials: 2\n  seed: 0\n  space:\n"
                      "    architectures.fusemax.clock_mhz: {low: 100, high: .inf}\n")
    line = one_error(run(capsys, "explore", str(design), "--out", str(tmp_path / "o")))
    assert "search.space.architectures.fusemax.clock_mhz.high: must be a finite number" in line


def test_a_number_that_is_not_finite_does_not_hide_the_files_other_problems(tmp_path, capsys):
    # docs/rtl.md's example: the units' own checks (problems()) still run beside the loader's
    design = tmp_path / "bad-rtl.yaml"
    design.write_text("version: 1\nkind: rtl\nname: bad\n"
                      "gelu: {total_bits: 32, frac_bits: 22, range_max: .inf}\n"
                      "exp: {total_bits: 1}\n"
                      "systolic:\n  - {rows: 8, cols: 8, dataflow: os}\n  - {rows: 0, cols: 8}\n"
                      "  - {rows: 8, cols: 8}\n")
    code, _, err = run(capsys, "verilog", str(design), "--out", str(tmp_path / "v"))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0] == f"attnforge: error: 4 problems in {design}:", err
    assert [line.split(": ")[1] for line in lines[1:]] == [
        "gelu.range_max", "exp.total_bits", "systolic[1].rows", "systolic[2]"]
    assert lines[1].endswith("gelu.range_max: must be a finite number, not inf")


def test_a_nan_with_a_bound_is_reported_once(tmp_path, capsys):
    text = (DESIGNS / "fusemax-pareto.yaml").read_text()
    design = tmp_path / "acc.yaml"
    design.write_text(text.replace("{preset: cacti-45nm}", "{preset: cacti-45nm, mac_pj: .nan}"))
    line = one_error(run(capsys, "explore", str(design), "--out", str(tmp_path / "o")))
    assert line.endswith("cost_table.mac_pj: must be a finite number, not nan"), line


# ----------------------------------------------------------------------------- did-you-mean
# difflib compares case-sensitively: 'OS' got no hint towards 'os', 'FPGA' none towards 'fpga'.


def test_a_choice_in_the_wrong_case_gets_a_hint(tmp_path, capsys):
    design = tmp_path / "case.yaml"
    design.write_text("version: 1\nkind: rtl\nname: x\n"
                      "systolic: [{rows: 2, cols: 2, dataflow: OS}]\n")
    line = one_error(run(capsys, "verilog", str(design), "--out", str(tmp_path / "v")))
    assert line.endswith("systolic[0].dataflow: must be one of 'os', 'ws', not 'OS'; "
                         "did you mean 'os'?"), line


def test_a_kind_in_the_wrong_case_gets_a_hint(tmp_path, capsys):
    design = tmp_path / "kind.yaml"
    design.write_text("version: 1\nkind: FPGA\nname: x\nboard: zcu102\n")
    line = one_error(run(capsys, "explore", str(design), "--out", str(tmp_path / "o")))
    assert "unknown kind 'FPGA'; did you mean 'fpga'?" in line, line


def test_an_entry_of_a_named_section_left_empty_gets_the_same_hint(tmp_path, capsys):
    text = (DESIGNS / "edge-moe-zcu102.yaml").read_text()
    design = tmp_path / "fpga.yaml"
    head, _, _ = text.partition("\nconfigs:")
    design.write_text(head + "\nconfigs:\n  mine:\n")
    line = one_error(run(capsys, "explore", str(design), "--out", str(tmp_path / "o")))
    assert "configs.mine: must be a mapping, not empty (null): write `mine: {}`" in line, line
