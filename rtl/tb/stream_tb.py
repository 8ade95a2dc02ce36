"""cocotb testbench for a streaming unit with ports ``i``/``o`` (valid/ready): driver with
random idle cycles, monitor with random backpressure, scoreboard against the golden words.

Runs inside the simulator process; the unit's config JSON comes from ``ATTNFORGE_RTL_CONFIG``
(the same dict the component's ``config()`` returned). Each coroutine is one traffic pattern.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from rtl.runner import CONFIG_ENV
from rtl.tb.vectors import stimulus

# Units that take many cycles per word (the divider: ~55) get fewer vectors per pattern.
SCALE = {"reciprocal": 0.15}


def _config() -> dict:
    return json.loads(os.environ[CONFIG_ENV])


def _vectors(count: int, seed: int):
    config = _config()
    return stimulus(config, max(int(count * SCALE.get(config["unit"], 1.0)), 30), seed)


async def _reset(dut) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    dut.i__payload.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def run_stream(dut, inputs, expected, p_valid: float, p_ready: float, seed: int):
    """Drive ``inputs`` and check the outputs equal ``expected`` word for word, in order.

    Each cycle the driver offers the next word with probability ``p_valid`` (held until taken),
    and the sink is ready with probability ``p_ready``. Fails on a mismatch, an output that was
    not expected, or a stall (no progress for 1000 cycles).
    """
    await _reset(dut)
    rng = random.Random(seed)
    sent = got = idle = 0
    offering = False
    while got < len(expected):
        await FallingEdge(dut.clk)
        if not offering and sent < len(inputs) and rng.random() < p_valid:
            dut.i__payload.value = inputs[sent]
            offering = True
        dut.i__valid.value = int(offering)
        dut.o__ready.value = int(rng.random() < p_ready)
        await ReadOnly()
        progress = False
        if offering and int(dut.i__ready.value):
            sent, offering, progress = sent + 1, False, True
        if int(dut.o__valid.value) and int(dut.o__ready.value):
            word = int(dut.o__payload.value)
            assert got < len(expected), f"unexpected output word {word:#x}"
            assert word == expected[got], (
                f"output #{got}: got {word:#x}, expected {expected[got]:#x}")
            got, progress = got + 1, True
        idle = 0 if progress else idle + 1
        assert idle < 1000, f"stalled after {sent} inputs and {got} outputs"


@cocotb.test()
async def full_rate(dut):
    """Edge cases and random vectors, source always valid, sink always ready."""
    inputs, expected = _vectors(1500, seed=11)
    await run_stream(dut, inputs, expected, 1.0, 1.0, seed=1)


@cocotb.test()
async def idle_and_backpressure(dut):
    """Random idle cycles on the source and random backpressure from the sink."""
    inputs, expected = _vectors(600, seed=12)
    await run_stream(dut, inputs, expected, 0.6, 0.5, seed=2)


@cocotb.test()
async def heavy_backpressure(dut):
    """Sink mostly stalled: the pipeline must hold every word."""
    inputs, expected = _vectors(200, seed=13)
    await run_stream(dut, inputs, expected, 0.9, 0.15, seed=3)
