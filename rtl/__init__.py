"""Amaranth generators for synthesizable attention units (PE/systolic array, exp, single-pass
softmax, GELU), emitting deterministic Verilog verified by cocotb under Icarus and Verilator."""
