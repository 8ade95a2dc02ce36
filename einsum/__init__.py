"""Attention as cascades of extended Einsums (FuseMax notation): text notation, immutable IR,
verifier, NumPy reference executor (the semantics of the IR), pass analysis and a library."""

from .errors import InputError
from .ir import Cascade, Einsum, Op, Split, TensorDecl
from .parse import ParseError, parse

__all__ = ["Cascade", "Einsum", "InputError", "Op", "ParseError", "Split", "TensorDecl", "parse"]
