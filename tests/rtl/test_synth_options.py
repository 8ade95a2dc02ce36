"""`attnforge synth --router` and `--place-only`: the nextpnr arguments they give, the
post-placement Fmax read from nextpnr's log, and the CLI's labelling of an unrouted figure. No
tool runs here except in the one slow test (a tiny attention core, routed by router2)."""

from __future__ import annotations

import importlib
import math

import pytest

import rtl.synth
from rtl.synth import Estimate, PlaceRoute, estimate, placement_fmax, shim
from rtl.units import build_unit

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

# Two timing reports as nextpnr 0.11 prints them: after placement, then after routing; the
# second clock ("slow") is slower in both.
LOG = """Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 131.20 MHz (PASS at 100.00 MHz)
Info: Max frequency for clock 'slow': 40.03 MHz (FAIL at 100.00 MHz)
Info: Routing globals...
Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 109.87 MHz (PASS at 100.00 MHz)
Info: Max frequency for clock 'slow': 38.50 MHz (FAIL at 100.00 MHz)
"""


def test_router_and_no_route_reach_nextpnr():
    assert PlaceRoute().args() == ["--freq", "100.0", "--timing-allow-fail", "--seed", "1",
                                   "--router", "router1"]
    args = PlaceRoute(freq_mhz=50.0, seed=7, router="router2", route=False).args()
    assert args[args.index("--router") + 1] == "router2"
    assert args[args.index("--seed") + 1] == "7" and args[-1] == "--no-route"


def test_placement_fmax_is_the_slowest_clock_of_the_last_report():
    assert placement_fmax(LOG) == 38.5
    assert placement_fmax(LOG.split("Info: Routing")[0]) == 40.03  # stopped after placement
    assert math.isnan(placement_fmax("Info: no clocks\n"))
    # routing may end faster than the placement estimate: the last report counts, not the
    # slowest figure anywhere in the log (nor the first report)
    faster = LOG.replace("38.50 MHz", "45.00 MHz").replace("109.87", "140.00")
    assert placement_fmax(faster) == 45.0


def test_an_unknown_router_is_refused_before_any_tool_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(rtl.synth, "_synth", lambda *a, **k: pytest.fail("yosys ran"))
    with pytest.raises(ValueError, match="^router must be one of router1, router2, not 'r3'$"):
        estimate(build_unit("reciprocal", {}), None, "reciprocal", tmp_path, router="r3")


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    from attnforge.cli import main

    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    return done.value.code or 0, out, err


def test_place_only_marks_the_figure_as_unrouted(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake(unit, shimmed, top, work, freq_mhz, seed, family, router, route):
        seen.update(router=router, route=route)
        return Estimate(10, 2, 30, 4, 0, 40.03, "LFE5U-85F", routed=route)

    command = importlib.import_module("attnforge.commands.synth")  # the module, not the command
    monkeypatch.setattr(command, "estimate", fake)
    code, out, _ = _cli(["synth", "--unit", "reciprocal", "--router", "router2", "--place-only",
                         "--work-dir", str(tmp_path)], capsys)
    assert code == 0 and seen == {"router": "router2", "route": False}
    assert out.splitlines()[-2].split()[-1] == "~40.0"
    assert out.splitlines()[-1] == "~ estimate after placement, not routed"
    code, out, _ = _cli(["synth", "--unit", "reciprocal", "--work-dir", str(tmp_path)], capsys)
    assert code == 0 and seen == {"router": "router1", "route": True}
    assert out.splitlines()[-1].split()[-1] == "40.0" and "~" not in out


@pytest.mark.parametrize("flag", [["--router", "router2"], ["--place-only"]])
def test_place_and_route_flags_are_refused_on_a_synthesis_only_family(flag, capsys):
    code, _, err = _cli(["synth", "--unit", "reciprocal", "--family", "xcup", *flag], capsys)
    assert code == 2 and f"{flag[0]} set place and route, which --family xcup does not run" in err


def test_an_unknown_router_on_the_command_line_lists_the_routers(capsys):
    code, _, err = _cli(["synth", "--unit", "reciprocal", "--router", "router3"], capsys)
    assert code == 2 and "'router1', 'router2'" in err


@pytest.mark.slow
def test_router2_routes_a_tiny_attention_core(tmp_path):
    """p 1, 2 lanes, d 2, N 2 (4 partial products of a 32 x 32 multiply): router2 routes it
    (nextpnr's log says so), the routed Fmax is positive and finite; stopping after placement
    routes nothing and still gives an estimate."""
    params = {"p": 1, "lanes": 2, "d": 2, "n": 2, "scale_shift": 0}
    routed = estimate(build_unit("attention", params), shim(build_unit("attention", params)),
                      "attention", tmp_path / "routed", router="router2")
    placed = estimate(build_unit("attention", params), shim(build_unit("attention", params)),
                      "attention", tmp_path / "placed", router="router2", route=False)
    assert routed.routed and not placed.routed
    # nextpnr ran router2 for the one and stopped after placement for the other
    routed_log = (tmp_path / "routed" / "pnr.log").read_text(errors="replace")
    placed_log = (tmp_path / "placed" / "pnr.log").read_text(errors="replace")
    assert "Running router2" in routed_log and "Routing complete" in routed_log
    assert "Max frequency for clock" in placed_log and "Routing" not in placed_log
    assert routed.dsps == placed.dsps >= 2 * 4  # two 32 x 32 products, 4 MULT18X18D each
    assert 10 < routed.fmax_mhz < 500 and 10 < placed.fmax_mhz < 500
