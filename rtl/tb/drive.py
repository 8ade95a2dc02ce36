"""The cycle-schedule driver shared by the cocotb testbenches of clocked units without a
handshake (systolic array, linear block): inputs change on the falling edge, outputs are
sampled there too (the registers were updated at that cycle's rising edge)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cocotb.triggers import FallingEdge, RisingEdge


async def drive_schedule(dut, cycles: Sequence[dict[str, int]],
                         observe: Callable[[int], None]) -> None:
    """Reset for two cycles with the last (idle) cycle's inputs applied, then for each cycle
    of ``cycles`` (port name -> word): ``observe(cycle)``, then apply its inputs. The clock
    must be running."""
    for name, word in cycles[-1].items():  # idle inputs during reset
        getattr(dut, name).value = word
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    for cycle, inputs in enumerate(cycles):
        await FallingEdge(dut.clk)
        observe(cycle)
        for name, word in inputs.items():
            getattr(dut, name).value = word
