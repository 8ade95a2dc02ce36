"""cocotb testbench for the A·V core: rtl.tb.attention_av_vectors' memory model (driver and
monitor of the request, data and output streams) and scoreboard (fpga.golden.attention_av) on
the emitted Verilog. Each cycle: inputs applied at the falling edge, outputs sampled in
ReadOnly, handshakes counted there. The unit's config JSON comes from ``ATTNFORGE_RTL_CONFIG``.
"""

from __future__ import annotations

import cocotb

from fpga.golden.attention_av import beats, cycles
from rtl.tb import cycle_bench as cb
from rtl.tb.attention_av_vectors import AttentionAVBench, av_format, operands, run_limit

INPUTS = {"start": "start", "req_ready": "req__ready", "data_valid": "data__valid",
          "data_payload": "data__payload", "out_ready": "out__ready"}
OUTPUTS = {"req_valid": "req__valid", "req": "req__payload", "data_ready": "data__ready",
           "out_valid": "out__valid", "out": "out__payload", "busy": "busy"}
PAYLOADS = {"req": "req_valid", "out": "out_valid"}
PORTS = cb.Ports(INPUTS, OUTPUTS, PAYLOADS)


@cocotb.test()
async def no_stalls_cycle_count(dut):
    """Memory and output sink never stall: cycles from the first request to the last output
    and beats read equal fpga.golden.attention_av.cycles / beats."""
    config = cb.config()
    fmt = av_format(config)
    await cb.reset(dut, PORTS)
    bench = AttentionAVBench(config, operands(fmt, seed=1, stress=False), seed=1)
    stats = await cb.run(dut, PORTS, bench, run_limit(fmt, 1.0))
    dut._log.info(f"measured: {stats.cycles} cycles, {stats.beats} beats "
                  f"(closed form {cycles(fmt)} cycles, {beats(fmt)} beats)")
    assert stats.beats == beats(fmt), f"{stats.beats} beats, expected {beats(fmt)}"
    assert stats.cycles == cycles(fmt), f"{stats.cycles} cycles, expected {cycles(fmt)}"


@cocotb.test()
async def stalls_and_backpressure_twice(dut):
    """Random request and data stalls and output back-pressure on stress operands (outputs
    saturate), then a second head started right after without a reset (memory latency 3)."""
    config = cb.config()
    fmt = av_format(config)
    await cb.reset(dut, PORTS)
    await cb.run(dut, PORTS, AttentionAVBench(config, operands(fmt, seed=2, stress=True), seed=2,
                                    p_req=0.7, p_data=0.6, p_out=0.5), run_limit(fmt, 0.5))
    await cb.run(dut, PORTS, AttentionAVBench(config, operands(fmt, seed=3, stress=False), seed=3,
                                    p_req=0.8, p_data=0.8, p_out=0.3, mem_latency=3),
              run_limit(fmt, 0.3))
