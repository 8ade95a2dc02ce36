"""Run the systolic-array schedule and scoreboard under Amaranth's simulator."""

from __future__ import annotations

from amaranth.hdl import Value

from rtl.tb.amsim import run_schedule
from rtl.tb.systolic_vectors import Scoreboard, schedule

OUTPUTS = {"os": ("result", "done"), "ws": ("y", "y_valid")}


def run_gemms(array, gemms) -> list[int]:
    """Stream ``gemms`` through ``array``; returns each GEMM's last-result cycle."""
    config = array.config()
    board = Scoreboard(config, gemms)
    cycles = schedule(config, gemms)

    outputs = OUTPUTS[config["dataflow"]]
    run_schedule(array, cycles, lambda ctx, cycle: board.observe(
        cycle, {name: ctx.get(Value.cast(getattr(array, name))) for name in outputs}))
    board.finish()
    return board.last_cycle
