"""Bit-exact integer golden models (NumPy int64) of the Edge-MoE arithmetic units: GELU
approximation, exp for non-positive arguments, reciprocal and single-pass softmax. The RTL units
in rtl/ are verified against these; each is checked here against float64 within a stated bound."""
