"""cocotb testbench for the systolic array: the schedule and scoreboard of systolic_vectors.py
on the emitted Verilog. Besides checking every result against NumPy, it measures the cycles from
the first input to the last result of single GEMMs and writes them to ``latency.json`` in the
test directory as ``[[M, N, K, cycles], ...]`` (the pytest side compares them with sim/).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock

from rtl.runner import CONFIG_ENV
from rtl.tb.drive import drive_schedule
from rtl.tb.systolic_vectors import Scoreboard, gemm_cases, schedule

OUTPUTS = {"os": ("result", "done"), "ws": ("y", "y_valid")}
LATENCY_FILE = "latency.json"


async def run_gemms(dut, config: dict, gemms) -> list[int]:
    """Reset, drive the schedule, check, return each GEMM's last-result cycle. The clock must
    be running."""
    cycles = schedule(config, gemms)
    board = Scoreboard(config, gemms)
    outputs = OUTPUTS[config["dataflow"]]
    await drive_schedule(dut, cycles, lambda cycle: board.observe(
        cycle, {name: int(getattr(dut, name).value) for name in outputs}))
    board.finish()
    return board.last_cycle


def _config() -> dict:
    return json.loads(os.environ[CONFIG_ENV])


@cocotb.test()
async def back_to_back_gemms(dut):
    """Extremes, zeros, full and partial folds, streamed back to back, against NumPy."""
    config = _config()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await run_gemms(dut, config, gemm_cases(config, seed=21, count=8))


@cocotb.test()
async def single_fold_latency(dut):
    """Each GEMM alone from reset: record cycles from first input to last result."""
    config = _config()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    rows = []
    for a, b in gemm_cases(config, seed=22, count=4)[3:]:
        last = await run_gemms(dut, config, [(a, b)])
        rows.append([a.shape[0], b.shape[1], a.shape[1], last[0]])
    Path(LATENCY_FILE).write_text(json.dumps(rows))
