"""Edge-MoE's published results (edgemoe.md §4), used only to compare against, never to fit."""

from __future__ import annotations

PAPER_LATENCY_MS = 34.64
PAPER_POWER_W = 14.54
PAPER_ENERGY_J = 0.504

# Cumulative ablation: config name -> latency per image (ms).
PAPER_ABLATION_MS: dict[str, float] = {
    "baseline": 650.3,
    "patch_reorder": 433.4,
    "single_pass_softmax": 353.4,
    "gelu_approx": 212.9,
    "unified_linear": 104.3,
    "attention_reorder": 34.6,
}
