"""Design files shared by tests of several packages (each a whole, loadable design text)."""

# A sliding window of W = 8 keys on the default architecture, one 64-token BERT point.
WINDOW_DESIGN = """\
version: 1
kind: accelerator
name: masked
architectures:
  a: {}
configs:
  win: {cascade: attention-1pass-window, architecture: a, params: {W: 8}}
models:
  bert: {d_model: 768, heads: 12, head_dim: 64, ffn: 3072}
sweep:
  models: [bert]
  seq_lens: [64]
  configs: [win]
  scopes: [attention]
"""
