"""cocotb testbench for the attention core: rtl.tb.attention_vectors' memory model (driver and
monitor of the request, data and score streams) and scoreboard (fpga.golden.attention) on the
emitted Verilog. Each cycle: inputs applied at the falling edge, outputs sampled in ReadOnly,
handshakes counted there. The unit's config JSON comes from ``ATTNFORGE_RTL_CONFIG``.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from fpga.golden.attention import beats, cycles
from rtl.runner import CONFIG_ENV
from rtl.tb.attention_vectors import AttentionBench, RunStats, attention_format, operands, run_limit

INPUTS = {"start": "start", "req_ready": "req__ready", "data_valid": "data__valid",
          "data_payload": "data__payload", "score_ready": "score__ready"}
OUTPUTS = {"req_valid": "req__valid", "req": "req__payload", "data_ready": "data__ready",
           "score_valid": "score__valid", "score": "score__payload", "busy": "busy"}

PAYLOADS = {"req": "req_valid", "score": "score_valid"}


def _config() -> dict:
    return json.loads(os.environ[CONFIG_ENV])


async def _reset(dut) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for port in INPUTS.values():
        getattr(dut, port).value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


def _outputs(dut) -> dict[str, int]:
    """The settled outputs; a payload is read only while its ``valid`` is high (it may hold
    undefined bits otherwise)."""
    out = {name: int(getattr(dut, port).value) for name, port in OUTPUTS.items()
           if name not in PAYLOADS}
    for name, valid in PAYLOADS.items():
        out[name] = int(getattr(dut, OUTPUTS[name]).value) if out[valid] else 0
    return out


async def run(dut, bench: AttentionBench, limit: int) -> RunStats:
    """One head through the unit (started in this run's cycle 0); checks every handshake."""
    for cycle in range(limit):
        await FallingEdge(dut.clk)
        for name, word in bench.drive(cycle).items():
            getattr(dut, INPUTS[name]).value = word
        await ReadOnly()
        bench.sample(cycle, _outputs(dut))
        if bench.done:
            break
    return bench.finish()


@cocotb.test()
async def no_stalls_cycle_count(dut):
    """Memory and score sink never stall: cycles from the first request to the last score and
    beats read equal fpga.golden.attention.cycles / beats."""
    config = _config()
    fmt = attention_format(config)
    await _reset(dut)
    q, k = operands(fmt, seed=1, full_range=False)
    stats = await run(dut, AttentionBench(config, q, k, seed=1), run_limit(fmt, 1.0))
    dut._log.info(f"measured: {stats.cycles} cycles, {stats.beats} beats "
                  f"(closed form {cycles(fmt)} cycles, {beats(fmt)} beats)")
    assert stats.beats == beats(fmt), f"{stats.beats} beats, expected {beats(fmt)}"
    assert stats.cycles == cycles(fmt), f"{stats.cycles} cycles, expected {cycles(fmt)}"


@cocotb.test()
async def stalls_and_backpressure_twice(dut):
    """Random request and data stalls and score back-pressure on full-range operands (scores
    saturate), then a second head started right after without a reset (memory latency 3)."""
    config = _config()
    fmt = attention_format(config)
    await _reset(dut)
    q, k = operands(fmt, seed=2, full_range=True)
    await run(dut, AttentionBench(config, q, k, seed=2, p_req=0.7, p_data=0.6, p_score=0.5),
              run_limit(fmt, 0.5))
    q, k = operands(fmt, seed=3, full_range=False)
    await run(dut, AttentionBench(config, q, k, seed=3, p_req=0.8, p_data=0.8, p_score=0.3,
                                  mem_latency=3), run_limit(fmt, 0.3))
