"""A missing HDL simulator is skipped locally but fails the run in CI."""

from __future__ import annotations

import pytest

from tests.conftest import sim_params


def _icarus(params):
    return next(p for p in params if p.values == ("icarus",))


def test_missing_simulator_is_skipped_locally(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("ATTNFORGE_REQUIRE_SIMS", raising=False)
    monkeypatch.delenv("ATTNFORGE_SIMS", raising=False)
    skips = [m for m in _icarus(sim_params()).marks if m.name == "skip"]
    assert len(skips) == 1 and "iverilog" in skips[0].kwargs["reason"]


@pytest.mark.parametrize("env", [("CI", "true"), ("ATTNFORGE_REQUIRE_SIMS", "1")])
def test_missing_simulator_is_not_skipped_in_ci(monkeypatch, env):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("ATTNFORGE_SIMS", "verilator")  # ignored when simulators are required
    monkeypatch.setenv(*env)
    params = sim_params()
    assert [p.values[0] for p in params] == ["icarus", "verilator"]
    assert not [m for m in _icarus(params).marks if m.name == "skip"]
    assert all(any(m.name == "rtl" for m in p.marks) for p in params)
