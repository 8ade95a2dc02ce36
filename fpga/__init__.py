"""Parametric FPGA model in the style of Edge-MoE: unit latency and resource models, the M3ViT
workload, board resources, and bit-accurate golden models of its softmax and GELU."""
