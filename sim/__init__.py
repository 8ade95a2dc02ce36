"""Cycle-level simulator of mapped designs (systolic arrays, buffers, DRAM), used to check the
analytical model of mapper/ and to reach what it cannot."""
