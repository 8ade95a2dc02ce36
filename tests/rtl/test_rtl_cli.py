"""`attnforge verilog` / `verify` / `synth` argument handling, determinism and the design file."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnforge.cli import main
from attnforge.specload import load_spec
from rtl.spec import RtlDesign

DESIGN = Path(__file__).parents[2] / "designs" / "rtl-edge-moe.yaml"


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_design_selects_the_units():
    modules = [m for m, _, _ in load_spec(DESIGN, RtlDesign).selected()]
    assert modules == ["gelu", "exp", "softmax", "normalise", "systolic_8x8_os",
                       "systolic_8x8_ws"]


def test_verilog_from_design_is_byte_identical(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert run(["verilog", str(DESIGN), "--out", str(first)], capsys)[0] == 0
    assert run(["verilog", str(DESIGN), "--out", str(second)], capsys)[0] == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "systolic_8x8_ws.v" in names and "gelu.v" in names
    for name in names:
        text = (first / name).read_text()
        assert text == (second / name).read_text()
        assert str(Path.home()) not in text and "/work" not in text and str(tmp_path) not in text
        assert f"module {name[:-2]}(" in text


def test_verilog_unit_with_params(tmp_path, capsys):
    code, out, _ = run(["verilog", "--unit", "systolic", "--param", "rows=2", "--param", "cols=3",
                        "--param", "dataflow=ws", "--out", str(tmp_path)], capsys)
    # named by size and dataflow as from a design file (it was plain "systolic")
    assert code == 0 and out.strip().endswith("systolic_2x3_ws.v")
    assert "input [15:0] x;" in (tmp_path / "systolic_2x3_ws.v").read_text()  # 2 rows × int8


@pytest.mark.parametrize(("args", "message"), [
    (["--unit", "gleu"], "unknown unit 'gleu' (did you mean 'gelu'?); valid units: attention, attention_av, attention_head, exp,"),
    (["--unit", "gelu", "--param", "width"], "--param must look like KEY=VALUE, not 'width'"),
    (["--unit", "gelu", "--param", "entry=3"], "has no parameter 'entry' (did you mean"),
    (["--unit", "gelu", "--param", "total_bits=0"], "total_bits must be an integer in 2..48, not 0"),
    (["--unit", "gelu", "--param", "range_max=5.51"], "the table cannot cover the range"),
    (["--unit", "systolic", "--param", "rows=0"], "rows must be an integer in 1..32, not 0"),
    ([], "give either a DESIGN.yaml or --unit NAME"),
])
def test_bad_arguments_one_line_exit_2(args, message, tmp_path, capsys):
    code, _, err = run(["verilog", *args, "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert err.startswith("attnforge: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_design_value_names_file_and_unit(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nkind: rtl\nname: x\ngelu: {entry_bits: 0}\n")
    code, _, err = run(["verilog", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and f"{bad}:4:20: gelu.entry_bits: must be an integer in 1..40, not 0" in err


def test_unknown_design_key_did_you_mean(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nkind: rtl\nname: x\ngelu: {}\nsoftmx: {}\n")
    code, _, err = run(["verilog", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "bad.yaml:5:1: softmx: unknown key; did you mean 'softmax'?" in err


@pytest.mark.rtl
def test_verify_prints_a_table(tmp_path, capsys, hdl_sim_ready):
    design = tmp_path / "d.yaml"
    design.write_text("version: 1\nkind: rtl\nname: small\n"
                      "systolic: [{rows: 2, cols: 2, dataflow: os}]\n")
    code, out, _ = run(["verify", str(design), "--sim", hdl_sim_ready,
                        "--build-dir", str(tmp_path / "b")], capsys)
    assert code == 0, out
    assert f"systolic_2x2_os  {hdl_sim_ready}" in out and "2/2" in out and "PASS" in out


@pytest.mark.slow
def test_synth_prints_a_table(tmp_path, capsys):
    """The divider has no multiplier (DSP 0) and registers its state (FF > 0)."""
    code, out, _ = run(["synth", "--unit", "reciprocal", "--work-dir", str(tmp_path)], capsys)
    assert code == 0
    header, row = out.strip().splitlines()[-2:]
    assert "device: LFE5U-85F" in out  # ECP5 is the default family; cells named as ECP5's
    assert header.split() == ["unit", "LUT4", "CCU2C", "FF", "MULT18X18D", "DP16KD", "Fmax", "MHz"]
    name, luts, carries, ffs, dsps, brams, fmax = row.split()
    assert name == "reciprocal" and int(dsps) == 0 and int(brams) == 0
    assert int(ffs) >= 55 + 33  # quotient (55 bits) and divisor (33 bits) registers
    assert float(fmax) > 0


def test_a_design_files_default_that_no_longer_fits_says_it_is_the_default(tmp_path, capsys):
    # `--param total_bits=16` said frac_bits' default 22 does not fit; the design file did not,
    # so `gelu: {total_bits: 16}` read as if the user had written frac_bits 22.
    design = tmp_path / "r.yaml"
    design.write_text("version: 1\nkind: rtl\nname: x\ngelu: {total_bits: 16}\n")
    code, _, err = run(["verilog", str(design), "--out", str(tmp_path / "v")], capsys)
    assert code == 2
    assert err.strip().endswith("r.yaml:4:7: gelu.frac_bits: must be an integer in 0..15, not 22 "
                                "(22 is the default; it does not fit the other parameters)")


@pytest.mark.parametrize(("body", "where"), [
    ("systolic: []\n", "4:11: systolic: an empty list selects no array"),  # was at 3:7 name:
    ("systolic:\n  []\n", "5:3: systolic: an empty list selects no array"),
    ("", "3:7: name: the design selects no unit"),
])
def test_a_design_selecting_nothing_is_reported_where_it_says_so(body, where, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nkind: rtl\nname: x\n" + body)
    code, _, err = run(["verilog", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and f"{bad}:{where}" in err, err


def test_an_empty_systolic_list_beside_another_unit_selects_that_unit(tmp_path):
    design = tmp_path / "ok.yaml"
    design.write_text("version: 1\nkind: rtl\nname: x\ngelu: {}\nsystolic: []\n")
    assert [m for m, _, _ in load_spec(design, RtlDesign).selected()] == ["gelu"]
