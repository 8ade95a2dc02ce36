"""cocotb testbench for the attention head: rtl.tb.attention_head_vectors' memory (read and
write ports), output sink and scoreboard (fpga.golden.attention_head) on the emitted Verilog.
Each cycle: inputs applied at the falling edge, outputs sampled in ReadOnly, handshakes counted
there. The unit's config JSON comes from ``ATTNFORGE_RTL_CONFIG``.
"""

from __future__ import annotations

import cocotb

from fpga.golden import attention as qk
from fpga.golden import attention_av as av
from fpga.golden.attention_head import cycles
from rtl.tb import cycle_bench as cb
from rtl.tb.attention_head_vectors import HeadBench, fmt_of, operands, run_limit

INPUTS = {"start": "start", "rd_ready": "rd__ready", "data_valid": "data__valid",
          "data_payload": "data__payload", "wr_ready": "wr__ready", "out_ready": "out__ready"}
OUTPUTS = {"rd_valid": "rd__valid", "rd": "rd__payload", "data_ready": "data__ready",
           "wr_valid": "wr__valid", "wr": "wr__payload", "out_valid": "out__valid",
           "out": "out__payload", "busy": "busy"}
PAYLOADS = {"rd": "rd_valid", "wr": "wr_valid", "out": "out_valid"}
PORTS = cb.Ports(INPUTS, OUTPUTS, PAYLOADS)


@cocotb.test()
async def no_stalls_cycle_count(dut):
    """Memory and sink never stall: beats read equal the two cores' beats; cycles are at
    least fpga.golden.attention_head.cycles (equal when no softmax stalls the scores)."""
    config = cb.config()
    fmt = fmt_of(config)
    await cb.reset(dut, PORTS)
    stats = await cb.run(dut, PORTS, HeadBench(config, *operands(fmt, seed=1), seed=1), run_limit(fmt, 1))
    want = qk.beats(fmt.qk) + av.beats(fmt.av)
    dut._log.info(f"measured: {stats.cycles} cycles, {stats.beats} beats (closed form "
                  f"{cycles(fmt)} cycles, {want} beats)")
    assert stats.beats == want, f"{stats.beats} beats, expected {want}"
    assert stats.cycles >= cycles(fmt), f"{stats.cycles} cycles < {cycles(fmt)}"


@cocotb.test()
async def stalls_and_backpressure_twice(dut):
    """Random read, data and write stalls and output back-pressure on full-range operands
    (scores saturate), then a second head right after without a reset (memory latency 3)."""
    config = cb.config()
    fmt = fmt_of(config)
    await cb.reset(dut, PORTS)
    await cb.run(dut, PORTS, HeadBench(config, *operands(fmt, seed=2, near=0), seed=2, p_rd=0.7,
                             p_data=0.6, p_wr=0.5, p_out=0.5), run_limit(fmt, 0.5))
    await cb.run(dut, PORTS, HeadBench(config, *operands(fmt, seed=3), seed=3, p_rd=0.8, p_data=0.8,
                             p_wr=0.6, p_out=0.3, mem_latency=3), run_limit(fmt, 0.3))
