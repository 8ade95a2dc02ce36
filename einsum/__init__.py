"""Attention as cascades of extended Einsums (FuseMax notation): text notation, immutable IR,
verifier, NumPy reference executor (the semantics of the IR), pass analysis and a library.

Entry points: `parse`, `verify`, `execute`, `attention` (user-facing row-major arrays),
`library.names` / `library.get`, `passes.pass_counts`, `graph.to_networkx`.
"""

from . import library, passes
from .boundary import attention
from .errors import InputError
from .executor import ExecutionError, execute, rank_extents
from .ir import Cascade, Einsum, Op, Split, TensorDecl
from .parser import ParseError, parse
from .verifier import VerifyError, verify

__all__ = [
    "Cascade", "Einsum", "ExecutionError", "InputError", "Op", "ParseError", "Split",
    "TensorDecl", "VerifyError", "attention", "execute", "library", "parse", "passes", "rank_extents",
    "verify",
]
