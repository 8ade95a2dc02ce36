"""Cycle-level simulator of mapped designs (systolic arrays, buffers, DRAM), used to check the
analytical model of mapper/ and to reach what it cannot.

- `sim.gemm.simulate_gemm` — one GEMM on an R × C array (OS/WS/IS, 1D arrays too) with
  double-buffered SRAMs and a DRAM channel; cycle counts identical to SCALE-Sim 3.0's.
- `sim.systolic.fold_latency` — cycles of one fold from first operand in to last result out.
- `sim.attention.simulate_attention` — a fused attention mapping of `mapper`, tile by tile.

See docs/sim.md for the timing model and the comparison with SCALE-Sim.
"""
