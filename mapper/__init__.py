"""Lowers extended-Einsum cascades onto a spatial-array hardware model (tiling, loop order,
binding to the 2D MAC array and the 1D vector array, fusion, buffer capacity, DRAM traffic),
searches mappings and prices them (cycles, energy, area) from a cost table.

Flow: `lower.lower(cascade, arch, config, workload, search) -> Mapping` →
`count.count(mapping) -> Actions` → `price.price(actions, arch, cost_table) -> Cost`;
`report.MappingReport` prints one mapped cascade; `evaluate` turns a design point into a row;
`gemm.search_gemm` is the seeded, vectorised GEMM mapping search. Spec types: `spec`.
"""
