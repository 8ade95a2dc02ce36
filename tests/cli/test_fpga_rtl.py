"""`attnforge verilog|verify FPGA.yaml`: the rtl units of an explored FPGA design point.

Expected parameters are written by hand from shared/reference/edgemoe.md and
designs/edge-moe-zcu102.yaml: Q10.22 activations (32 bits, 22 fractional), 16-bit weights with
2 integer bits (Q2.14), a 16 x 16 unified linear unit, attention p 4 x 8 lanes, ViT-Tiny's
d_model 192 over 3 heads (head dim 64), 128 x 256 images in 16 x 16 patches plus the class
token (8 x 16 + 1 = 129 tokens), an 8-lane LayerNorm, and the MoE gate's 128 MACs/cycle (edgemoe.md
§3) as one adder-tree column per expert over M3ViT's 16 experts (§1: "a 16 x 192 linear"): an rtl
linear block of 128 / 16 = 8 inputs x 16 columns in the linear unit's formats.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.inprocess import one_error, run

ROOT = Path(__file__).resolve().parents[2]
ZCU102 = ROOT / "designs" / "edge-moe-zcu102.yaml"

ACT = ["act_bits=32", "act_frac=22"]
FMT = ["total_bits=32", "frac_bits=22"]
HEAD = ["p=4", "lanes=8", "d=64", "n=129"]
#: attention_reorder (all five techniques on): every rtl unit and its parameters, by hand.
FINAL = {"linear": ["in_par=16", "out_par=16", *ACT, "weight_bits=16", "weight_frac=14"],
         "gelu": FMT, "attention": HEAD + ACT, "attention_av": HEAD + ACT,
         "softmax": FMT, "normalise": FMT,
         "layernorm": ["d=192", "lanes=8", *FMT, "rsqrt_bits=30"]}
#: The MoE gate (every config: M3ViT has MoE layers): 128 MACs / 16 experts = 8 x 16, by hand.
GATE = ["in_par=8", "out_par=16", *ACT, "weight_bits=16", "weight_frac=14"]


def gate_by_hand(capsys, tmp_path: Path, params: list[str] = GATE) -> bytes:
    """`attnforge verilog --unit linear` at the gate's shape, its module named gate_linear (the
    one difference: the module line)."""
    text = by_hand(capsys, tmp_path, "linear", params)
    assert text.count(b"module linear(") == 1
    return text.replace(b"module linear(", b"module gate_linear(")


def by_hand(capsys, tmp_path: Path, unit: str, params: list[str]) -> bytes:
    """The bytes `attnforge verilog --unit UNIT --param ...` writes."""
    out = tmp_path / f"hand-{unit}"
    argv = ["verilog", "--unit", unit, "--out", str(out)]
    for param in params:
        argv += ["--param", param]
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    return (out / f"{unit}.v").read_bytes()


def emit(capsys, out: Path, *options: str, design: Path = ZCU102) -> str:
    """`attnforge verilog DESIGN OPTIONS --out OUT`: its stdout (exit 0 required)."""
    code, stdout, err = run(capsys, "verilog", str(design), *options, "--out", str(out))
    assert code == 0, err
    return stdout


def test_final_design_equals_the_units_written_by_hand(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bridged"
    emit(capsys, out, "--config", "attention_reorder")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{u}.v" for u in FINAL] + ["gate_linear.v", "units.txt"])
    for unit, params in FINAL.items():
        assert (out / f"{unit}.v").read_bytes() == by_hand(capsys, tmp_path, unit, params), unit
    assert (out / "gate_linear.v").read_bytes() == gate_by_hand(capsys, tmp_path)


def test_manifest_lists_each_unit_its_parameters_and_is_deterministic(tmp_path: Path,
                                                                     capsys) -> None:
    emit(capsys, tmp_path / "a", "--config", "attention_reorder")
    emit(capsys, tmp_path / "b", "--config", "attention_reorder")
    text = (tmp_path / "a" / "units.txt").read_text()
    assert text == (tmp_path / "b" / "units.txt").read_text()
    assert str(tmp_path) not in text
    rows = {line.split()[-1 - len(params)]: line.split()[-len(params):]
            for line in text.splitlines() for unit, params in FINAL.items()
            if f" {unit}.v " in line}
    assert rows == {f"{u}.v": p for u, p in FINAL.items()}
    gate = [line.split() for line in text.splitlines() if " gate_linear.v " in line]
    assert len(gate) == 1 and gate[0][0] == "gate" and gate[0][-len(GATE):] == GATE, text
    assert "not emitted: gate" not in text
    for unit in FINAL:
        assert (tmp_path / "a" / f"{unit}.v").read_bytes() == \
            (tmp_path / "b" / f"{unit}.v").read_bytes()


def test_baseline_emits_fewer_units_and_names_the_others(tmp_path: Path, capsys) -> None:
    out = tmp_path / "baseline"
    stdout = emit(capsys, out)  # the first config, as explain picks it
    files = {p.name for p in out.iterdir()}
    # baseline: three-pass float softmax, exact GELU, no reordering, dedicated engines
    assert not files & {"gelu.v", "softmax.v", "normalise.v", "attention.v", "attention_av.v"}
    assert {"layernorm.v", "gate_linear.v"} <= files
    assert len(files) < len(FINAL) + 1
    for unit, technique in (("gelu", "gelu_approx"), ("softmax", "single_pass_softmax"),
                            ("attention", "attention_reorder")):
        lines = [line for line in stdout.splitlines()
                 if line.startswith(f"not emitted: {unit}:")]
        assert len(lines) == 1 and technique in lines[0], stdout
    assert "config baseline" in (out / "units.txt").read_text()


def test_sweep_point_changes_only_p_and_the_linear_size(tmp_path: Path, capsys) -> None:
    out = tmp_path / "point"
    emit(capsys, out, "--config", "attention_reorder", "--attn-p", "2", "--linear-par", "8")
    point = dict(FINAL)
    point["linear"] = ["in_par=8", "out_par=8", *FINAL["linear"][2:]]
    point["attention"] = point["attention_av"] = ["p=2", *HEAD[1:], *ACT]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{u}.v" for u in point] + ["gate_linear.v", "units.txt"])
    for unit, params in point.items():
        assert (out / f"{unit}.v").read_bytes() == by_hand(capsys, tmp_path, unit, params), unit
    assert "--attn-p 2, --linear-par 8" in (out / "units.txt").read_text()
    assert (out / "gate_linear.v").read_bytes() == gate_by_hand(capsys, tmp_path)


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """designs/edge-moe-zcu102.yaml with ``old`` (present once) replaced by ``new``."""
    text = ZCU102.read_text()
    assert text.count(old) == 1
    design = tmp_path / "edited.yaml"
    design.write_text(text.replace(old, new))
    return design


def test_gate_with_fewer_macs_than_experts_is_single_input_columns(tmp_path: Path,
                                                                   capsys) -> None:
    # 4 MACs < 16 experts: 4 columns of one input, each serving 4 experts in turn: 1 x 4
    design = edited(tmp_path, "  attn_lanes: 8\n", "  attn_lanes: 8\n  gate_macs: 4\n")
    out = tmp_path / "out"
    emit(capsys, out, "--config", "attention_reorder", design=design)
    params = ["in_par=1", "out_par=4", *GATE[2:]]
    assert (out / "gate_linear.v").read_bytes() == gate_by_hand(capsys, tmp_path, params)


def test_gate_of_uneven_columns_is_not_emitted_and_says_why(tmp_path: Path, capsys) -> None:
    # 130 MACs over 16 experts: 2 columns of 9 inputs and 14 of 8, no one in_par x out_par block
    design = edited(tmp_path, "  attn_lanes: 8\n", "  attn_lanes: 8\n  gate_macs: 130\n")
    out = tmp_path / "out"
    stdout = emit(capsys, out, "--config", "attention_reorder", design=design)
    assert "gate_linear.v" not in {p.name for p in out.iterdir()}
    lines = [line for line in stdout.splitlines() if line.startswith("not emitted: gate:")]
    assert len(lines) == 1, stdout
    for fragment in ("gate_macs = 130", "experts = 16", "2 adder-tree columns of 9 inputs",
                     "14 of 8", "rtl linear"):
        assert fragment in lines[0], lines[0]
    assert lines[0] in (out / "units.txt").read_text()


def test_no_gate_without_moe_layers(tmp_path: Path, capsys) -> None:
    # moe_every 13 > 12 layers: no MoE layer, so no gate, emitted or not
    design = edited(tmp_path, "workload: {}", "workload: {moe_every: 13}")
    out = tmp_path / "out"
    stdout = emit(capsys, out, "--config", "attention_reorder", design=design)
    assert "gate_linear.v" not in {p.name for p in out.iterdir()}
    lines = (out / "units.txt").read_text().splitlines() + stdout.splitlines()
    assert not [line for line in lines if line.startswith(("gate ", "not emitted: gate"))]
    assert not [line for line in lines if "gate_linear" in line]


@pytest.mark.parametrize(("edit", "options", "fragments"), [
    (("attn_lanes: 8", "attn_lanes: 5"), ["--config", "attention_reorder"],
     [":19:", "units.attn_lanes", "config attention_reorder", "rtl attention", "lanes",
      "divide d (64)"]),
    (None, ["--config", "attention_reorder", "--attn-p", "32"],
     [":18:", "units.attn_p", "--attn-p 32", "1..16"]),
    (None, ["--config", "attention_reorder", "--attn-p", "16"],  # A·V: p at most lanes
     ["units.attn_p", "--attn-p 16", "attention_av", "at most lanes (8)"]),
])
def test_parameters_rtl_cannot_take(edit, options, fragments, tmp_path: Path,
                                    capsys) -> None:
    design = ZCU102
    if edit is not None:
        design = tmp_path / "edited.yaml"
        text = ZCU102.read_text()
        assert edit[0] in text
        design.write_text(text.replace(edit[0], edit[1]))
    out = tmp_path / "out"
    line = one_error(run(capsys, "verilog", str(design), *options, "--out", str(out)))
    assert str(design) in line
    for fragment in fragments:
        assert fragment in line, line
    assert not out.exists()


@pytest.mark.parametrize(("argv", "fragment"), [
    (["verilog", str(ROOT / "designs" / "rtl-edge-moe.yaml"), "--config", "x"],
     "--config applies to fpga designs only"),
    (["verilog", str(ZCU102), "--config", "nope"], "unknown config 'nope'"),
    (["verilog", str(ZCU102), "--param", "p=2"], "--param applies to --unit"),
])
def test_bad_options(argv, fragment, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert fragment in one_error(run(capsys, *argv, "--out", str(out)))
    assert not out.exists()


@pytest.mark.rtl
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_verify_baseline_under_icarus(tmp_path: Path, capsys) -> None:
    # the smallest bridged set: baseline's 4 x 8 dedicated engine, the 8 x 16 gate, LayerNorm
    code, stdout, err = run(capsys, "verify", str(ZCU102), "--config", "baseline", "--sim",
                            "icarus", "--build-dir", str(tmp_path / "build"))
    assert code == 0, stdout + err
    rows = [line.split() for line in stdout.splitlines() if " icarus " in line]
    assert sorted(r[0] for r in rows) == ["gate_linear", "layernorm", "linear_4x8"]
    assert all(r[-1] == "PASS" for r in rows), stdout


@pytest.mark.parametrize("command", [["verify", "--sim", "icarus"], ["synth", "--family", "xcup"]])
def test_verify_and_synth_refuse_the_same_point_before_any_tool(command, tmp_path: Path,
                                                                capsys) -> None:
    work = tmp_path / "work"
    option = "--build-dir" if command[0] == "verify" else "--work-dir"
    line = one_error(run(capsys, command[0], str(ZCU102), *command[1:], "--config",
                         "attention_reorder", "--attn-p", "32", option, str(work)))
    assert "units.attn_p" in line and "1..16" in line, line
    assert not work.exists()
