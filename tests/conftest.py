"""Simulator plumbing for the RTL tiers: PATH set-up, simulator parametrization, build dirs.

A test that takes an ``hdl_sim`` argument runs once per HDL simulator (Icarus, Verilator). A
missing simulator is skipped locally with the reason; with ``CI`` set (true/1/yes) or
``ATTNFORGE_REQUIRE_SIMS=1`` it fails instead, so CI never silently skips the Verilog tier.
``ATTNFORGE_SIMS=icarus`` (comma list) narrows the set for a quick local loop.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtl.runner import SIMULATORS, ensure_tool_path, missing_tools

ensure_tool_path()
BUILD_ROOT = Path(__file__).resolve().parents[1] / "build" / "rtl"


def sims_required() -> bool:
    """True when a missing simulator must fail the run (CI, or ATTNFORGE_REQUIRE_SIMS=1)."""
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return ci or os.environ.get("ATTNFORGE_REQUIRE_SIMS", "") == "1"


def sim_params() -> list:
    """One pytest param per selected simulator, marked ``rtl``; skipped when missing locally."""
    chosen = os.environ.get("ATTNFORGE_SIMS", ",".join(SIMULATORS)).split(",")
    params = []
    for sim in SIMULATORS:
        if sim not in chosen and not sims_required():
            continue
        marks = [pytest.mark.rtl]
        reason = missing_tools(sim)
        if reason is not None and not sims_required():
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(sim, marks=marks, id=sim))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hdl_sim" in metafunc.fixturenames:
        metafunc.parametrize("hdl_sim", sim_params())


@pytest.fixture
def hdl_sim_ready(hdl_sim: str) -> str:
    """The simulator name; fails (CI) when its tools are missing."""
    reason = missing_tools(hdl_sim)
    if reason is not None:
        pytest.fail(f"{reason} (required: CI or ATTNFORGE_REQUIRE_SIMS=1 is set)")
    return hdl_sim


@pytest.fixture
def hdl_build_dir(request: pytest.FixtureRequest):
    """``build_dir(toplevel, sim, variant)`` → a directory private to this xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")

    def build_dir(toplevel: str, sim: str, variant: str) -> Path:
        return BUILD_ROOT / toplevel / variant / f"{sim}-{worker}"

    return build_dir
