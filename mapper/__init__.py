"""Lowers extended-Einsum cascades onto a spatial-array hardware model (tiling, loop order,
binding to the 2D MAC array and the 1D vector array, fusion, buffer capacity, DRAM traffic),
searches mappings and prices them (cycles, energy, area) from a cost table."""
