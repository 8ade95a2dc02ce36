"""A key/query mask of a simulated attention cascade (1-pass, or every pass of a multi-pass
one), evaluated point by point per tile.

The simulator decides independently of the mapper's closed form (`mapper.masks`) which score
tiles run: it evaluates the ``where`` filter of the cascade's masked body Einsum on every
(query p, key m) point of a tile with NumPy (`ScoreMask.points`), and skips a tile without an
admitted point; a tile with one runs in full, the excluded scores set to -inf (their exp is 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from einsum.ir import index_ranks
from einsum.runtime import index_value

from .spec import SimInputError

_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "==": np.equal, "!=": np.not_equal}


@dataclass(frozen=True, slots=True)
class ScoreMask:
    """The filters of body Einsum ``einsum`` with parameters and extents ``names`` bound."""

    einsum: str
    filters: tuple
    names: tuple[tuple[str, int], ...]

    def points(self, p_lo: int, rows: int, m_lo: int, cols: int) -> np.ndarray:
        """Boolean [rows, cols]: query p_lo + r may attend key m_lo + c."""
        env: dict[str, object] = dict(self.names)
        env["p"] = np.arange(p_lo, p_lo + rows).reshape(rows, 1)
        env["m"] = np.arange(m_lo, m_lo + cols).reshape(1, cols)
        found = np.ones((rows, cols), dtype=bool)
        for cmp in self.filters:
            values = [index_value(o, env) for o in cmp.operands]
            for op, a, b in zip(cmp.ops, values, values[1:], strict=False):
                found &= np.broadcast_to(_COMPARE[op](a, b), found.shape)
        return found


def score_mask(cascade, extents: dict[str, int]) -> ScoreMask | None:
    """The cascade's mask (None without filters); SimInputError for a filter that is not a
    key/query mask on a body Einsum of an iterative cascade."""
    found = [e for e in cascade.einsums if e.filters]
    if not found:
        return None
    e = found[0]
    ranks = {r for cmp in e.filters for o in cmp.operands for r in index_ranks(o)}
    if len(found) > 1 or e.phase != "body" or not ranks <= {"m", "p"}:
        raise SimInputError(f"simulate: cascade {cascade.name}: Einsum {e.name}'s filter is not "
                            "a key/query mask (one filter over m and p on a body Einsum of a "
                            "1-pass or multi-pass cascade); the attention simulator skips "
                            "masked tiles of such masks only")
    names = {k: v for k, v in cascade.params.items() if v is not None}
    names.update({r.upper(): n for r, n in extents.items()})
    return ScoreMask(e.name, tuple(e.filters), tuple(sorted(names.items())))

