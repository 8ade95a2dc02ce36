"""Attention as cascades of extended Einsums (FuseMax notation): text notation, immutable IR,
verifier, NumPy reference executor (the semantics of the IR), pass analysis and a library."""
