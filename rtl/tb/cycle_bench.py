"""The cocotb side of the cycle benches (the ``rtl.tb.*_vectors`` memory models and
scoreboards, which also run under Amaranth's simulator): reset, and the per-cycle loop.

Each cycle the bench's inputs are applied at the falling edge and the settled outputs are
handed to it in ReadOnly, where it counts handshakes. A payload output is read only while its
``valid`` is high (it may hold undefined bits otherwise).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Protocol

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl.runner import CONFIG_ENV


@dataclass(frozen=True)
class Ports:
    """Bench signal names to the DUT's Verilog ports."""

    inputs: dict[str, str]
    outputs: dict[str, str]
    payloads: dict[str, str]  # payload output -> the output that says it is valid


class CycleBench(Protocol):
    done: bool

    def drive(self, cycle: int) -> dict[str, int]: ...

    def sample(self, cycle: int, outputs: dict[str, int]) -> None: ...

    def finish(self): ...


def config() -> dict:
    """The unit's parameters, as rtl.units.check_unit passes them (``ATTNFORGE_RTL_CONFIG``)."""
    return json.loads(os.environ[CONFIG_ENV])


async def reset(dut, ports: Ports) -> None:
    """Start the clock, hold reset two cycles with every input 0."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for port in ports.inputs.values():
        getattr(dut, port).value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


def settled(dut, ports: Ports) -> dict[str, int]:
    """The outputs in ReadOnly; a payload is 0 while its valid is low."""
    out = {name: int(getattr(dut, port).value) for name, port in ports.outputs.items()
           if name not in ports.payloads}
    for name, valid in ports.payloads.items():
        out[name] = int(getattr(dut, ports.outputs[name]).value) if out[valid] else 0
    return out


async def run(dut, ports: Ports, bench: CycleBench, limit: int):
    """Step ``bench`` (its cycle 0 is this call's first cycle) until it is done or ``limit``
    cycles pass; returns ``bench.finish()``, which checks what is left."""
    for cycle in range(limit):
        await FallingEdge(dut.clk)
        for name, word in bench.drive(cycle).items():
            getattr(dut, ports.inputs[name]).value = word
        await ReadOnly()
        bench.sample(cycle, settled(dut, ports))
        if bench.done:
            break
    return bench.finish()
