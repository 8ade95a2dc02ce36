"""The stream check of stream_tb.py under Amaranth's own simulator (no HDL simulator, no build).

Used by the fast test tier: same stimulus, same golden words, same random idle/backpressure.
A clock is always added (a testbench awaiting ``tick()`` without one hangs) and the run is
bounded by ``max_cycles``.
"""

from __future__ import annotations

import random

from amaranth.hdl import Value
from amaranth.sim import Simulator

from rtl.tb.vectors import pack, unpack_signed


def run_stream(component, inputs, expected, p_valid=0.7, p_ready=0.6, seed=0,
               max_cycles=None) -> list[int]:
    """Stream packed ``inputs`` through ``component``; return the packed output words.

    Raises AssertionError on a mismatch with ``expected`` or when ``max_cycles`` (default
    ``20 * len(inputs) + 100``) pass before every expected word came out.
    """
    rng = random.Random(seed)
    i_value, o_value = Value.cast(component.i.payload), Value.cast(component.o.payload)
    in_bits, bits = len(i_value), len(o_value)
    signed_in = i_value.shape().signed
    limit = max_cycles or 20 * len(inputs) + 100
    out: list[int] = []

    async def bench(ctx):
        sent, offering = 0, False
        for _ in range(limit):
            if not offering and sent < len(inputs) and rng.random() < p_valid:
                word = inputs[sent]
                ctx.set(i_value, unpack_signed(word, in_bits) if signed_in else word)
                offering = True
            ctx.set(component.i.valid, offering)
            ctx.set(component.o.ready, rng.random() < p_ready)
            if offering and ctx.get(component.i.ready):
                sent, offering = sent + 1, False
            if ctx.get(component.o.valid) and ctx.get(component.o.ready):
                word = pack(ctx.get(o_value), bits)
                assert len(out) < len(expected), f"unexpected output word {word:#x}"
                assert word == expected[len(out)], (
                    f"output #{len(out)}: got {word:#x}, expected {expected[len(out)]:#x}")
                out.append(word)
            if len(out) == len(expected):
                return
            await ctx.tick()
        raise AssertionError(f"timeout: {len(out)} of {len(expected)} words after {limit} cycles")

    sim = Simulator(component)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def run_schedule(component, cycles, observe) -> None:
    """Drive a cycle schedule (port name -> word per cycle) into ``component`` under
    Amaranth's simulator: each cycle ``observe(ctx, cycle)`` samples the outputs, then the
    cycle's inputs are applied and the clock ticks (the Amaranth twin of
    `rtl.tb.drive.drive_schedule`, without its reset)."""
    async def bench(ctx):
        for cycle, inputs in enumerate(cycles):
            observe(ctx, cycle)
            for name, word in inputs.items():
                ctx.set(Value.cast(getattr(component, name)), word)
            await ctx.tick()

    sim = Simulator(component)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def handshakes(component, inputs, cycles: int, outputs: int | None = None
               ) -> tuple[list[int], list[int]]:
    """Cycles of every input and output handshake of a stream ``component`` fed packed
    ``inputs`` with the source always valid and the sink always ready, for ``cycles`` cycles
    or until ``outputs`` words came out."""
    ins: list[int] = []
    outs: list[int] = []
    payload = Value.cast(component.i.payload)

    async def bench(ctx):
        for cycle in range(cycles):
            more = len(ins) < len(inputs)
            if more:
                ctx.set(payload, inputs[len(ins)])
            ctx.set(component.i.valid, more)
            ctx.set(component.o.ready, 1)
            if more and ctx.get(component.i.ready):
                ins.append(cycle)
            if ctx.get(component.o.valid):
                outs.append(cycle)
                if len(outs) == outputs:
                    return
            await ctx.tick()

    sim = Simulator(component)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return ins, outs


def run_benches(unit, inputs: dict, outputs: dict, benches: list, limit: int) -> list:
    """Cycle benches (`rtl.tb.cycle_bench.CycleBench`) one after another on ``unit``, each
    starting in its cycle 0 (the cycle after the previous run's end), no reset between runs;
    ``inputs`` and ``outputs`` map the benches' signal names to the unit's signals. Raises
    AssertionError on a mismatch or when a run takes more than ``limit`` cycles; returns each
    bench's stats."""
    async def bench(ctx):
        for run in benches:
            for cycle in range(limit):
                for name, word in run.drive(cycle).items():
                    ctx.set(inputs[name], word)
                run.sample(cycle, {name: ctx.get(sig) for name, sig in outputs.items()})
                await ctx.tick()
                if run.done:
                    break
            run.finish()

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return [run.stats for run in benches]
