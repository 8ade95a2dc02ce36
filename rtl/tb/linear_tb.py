"""cocotb testbench for the linear MAC block: the schedule and scoreboard of linear_vectors.py
on the emitted Verilog (driver: one block per cycle with random idle cycles, or back to back;
monitor: ``y``/``y_valid`` every cycle; model: fpga.golden.linear; scoreboard: word for word at
the stated latency ``rtl.linear.LATENCY``). The unit's config JSON comes from
``ATTNFORGE_RTL_CONFIG``.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock

from rtl.linear import LATENCY
from rtl.runner import CONFIG_ENV
from rtl.tb.drive import drive_schedule
from rtl.tb.linear_vectors import Scoreboard, linear_tokens, schedule


def _config() -> dict:
    return json.loads(os.environ[CONFIG_ENV])


async def run_tokens(dut, config: dict, tokens, seed: int, p_idle: float) -> None:
    """Reset, drive the schedule, check every cycle."""
    cycles, last = schedule(config, tokens, seed, p_idle)
    board = Scoreboard(config, tokens, last, LATENCY)
    await drive_schedule(dut, cycles, lambda cycle: board.observe(
        cycle, int(dut.y.value), int(dut.y_valid.value)))
    board.finish()


@cocotb.test()
async def idle_between_blocks(dut):
    """Extremes and random tokens of 1..6 blocks, 1..3 idle cycles before 40% of the blocks
    (idle inputs random: ignored while valid is low)."""
    config = _config()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await run_tokens(dut, config, linear_tokens(config, seed=31), seed=1, p_idle=0.4)


@cocotb.test()
async def back_to_back(dut):
    """Every block and token back to back (first right after last), many one-block tokens."""
    config = _config()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    tokens = linear_tokens(config, seed=32, count=30, max_blocks=2)
    await run_tokens(dut, config, tokens, seed=2, p_idle=0.0)
