"""Run the systolic-array schedule and scoreboard under Amaranth's simulator."""

from __future__ import annotations

from amaranth.hdl import Value
from amaranth.sim import Simulator

from rtl.tb.systolic_vectors import Scoreboard, schedule

OUTPUTS = {"os": ("result", "done"), "ws": ("y", "y_valid")}


def run_gemms(array, gemms) -> list[int]:
    """Stream ``gemms`` through ``array``; returns each GEMM's last-result cycle."""
    config = array.config()
    board = Scoreboard(config, gemms)
    cycles = schedule(config, gemms)

    async def bench(ctx):
        for cycle, inputs in enumerate(cycles):
            board.observe(cycle, {name: ctx.get(Value.cast(getattr(array, name)))
                                  for name in OUTPUTS[config["dataflow"]]})
            for name, word in inputs.items():
                ctx.set(Value.cast(getattr(array, name)), word)
            await ctx.tick()

    sim = Simulator(array)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    board.finish()
    return board.last_cycle
