"""cocotb testbench for the attention core: rtl.tb.attention_vectors' memory model (driver and
monitor of the request, data and score streams) and scoreboard (fpga.golden.attention) on the
emitted Verilog. Each cycle: inputs applied at the falling edge, outputs sampled in ReadOnly,
handshakes counted there. The unit's config JSON comes from ``ATTNFORGE_RTL_CONFIG``.
"""

from __future__ import annotations

import cocotb

from fpga.golden.attention import beats, cycles
from rtl.tb import cycle_bench as cb
from rtl.tb.attention_vectors import AttentionBench, attention_format, operands, run_limit

INPUTS = {"start": "start", "req_ready": "req__ready", "data_valid": "data__valid",
          "data_payload": "data__payload", "score_ready": "score__ready"}
OUTPUTS = {"req_valid": "req__valid", "req": "req__payload", "data_ready": "data__ready",
           "score_valid": "score__valid", "score": "score__payload", "busy": "busy"}
PAYLOADS = {"req": "req_valid", "score": "score_valid"}
PORTS = cb.Ports(INPUTS, OUTPUTS, PAYLOADS)


@cocotb.test()
async def no_stalls_cycle_count(dut):
    """Memory and score sink never stall: cycles from the first request to the last score and
    beats read equal fpga.golden.attention.cycles / beats."""
    config = cb.config()
    fmt = attention_format(config)
    await cb.reset(dut, PORTS)
    q, k = operands(fmt, seed=1, full_range=False)
    stats = await cb.run(dut, PORTS, AttentionBench(config, q, k, seed=1), run_limit(fmt, 1.0))
    dut._log.info(f"measured: {stats.cycles} cycles, {stats.beats} beats "
                  f"(closed form {cycles(fmt)} cycles, {beats(fmt)} beats)")
    assert stats.beats == beats(fmt), f"{stats.beats} beats, expected {beats(fmt)}"
    assert stats.cycles == cycles(fmt), f"{stats.cycles} cycles, expected {cycles(fmt)}"


@cocotb.test()
async def stalls_and_backpressure_twice(dut):
    """Random request and data stalls and score back-pressure on full-range operands (scores
    saturate), then a second head started right after without a reset (memory latency 3)."""
    config = cb.config()
    fmt = attention_format(config)
    await cb.reset(dut, PORTS)
    q, k = operands(fmt, seed=2, full_range=True)
    await cb.run(dut, PORTS, AttentionBench(config, q, k, seed=2, p_req=0.7, p_data=0.6, p_score=0.5),
              run_limit(fmt, 0.5))
    q, k = operands(fmt, seed=3, full_range=False)
    await cb.run(dut, PORTS, AttentionBench(config, q, k, seed=3, p_req=0.8, p_data=0.8, p_score=0.3,
                                  mem_latency=3), run_limit(fmt, 0.3))
