"""User-facing attention on row-major arrays: softmax(Q K^T / sqrt(E)) V through a cascade.

User arrays are ``Q (..., [Hq,] P, E)``, ``K (..., [Hk,] M, E)``, ``V (..., [Hk,] M, F)``; the
cascade's notation orders ranks as ``Q[e, ..., p]``. This module transposes at the boundary,
folds the 1/sqrt(E) scale into Q (FuseMax §3) and maps head axes onto the cascade's head ranks:

* no head rank in the notation: heads are leading dims, broadcast like batch dims;
* one head rank (``Q[e,h,p]``, ``K[e,h,m]``): the axis before P (or M) is that rank;
* two on Q, one on K/V (``Q[e,g,s,p]``, ``K[e,g,m]``): head sharing; Hq is split into
  (G, S) with G = Hk, so query head ``g*S + s`` uses K/V head g (MHA: S = 1; MQA: G = 1).
"""

from __future__ import annotations

import numpy as np

from .executor import ExecutionError, execute
from .ir import Cascade

_CORE = {"Q": ("e", "p"), "K": ("e", "m"), "V": ("f", "m")}
_ROW = {"Q": ("p", "e"), "K": ("m", "e"), "V": ("m", "f")}


def attention(cascade: Cascade, Q, K, V, **params: int) -> np.ndarray:  # noqa: N803
    """softmax(Q K^T / sqrt(E)) V computed by `cascade`; returns ``(..., [Hq,] P, F)`` float64.

    Raises
    ------
    ExecutionError
        For arrays whose shapes do not fit the cascade (naming the array and the axis), or a
        cascade whose declarations are not attention's (naming the declaration).
    """
    arrays = {"Q": np.asarray(Q, dtype=np.float64), "K": np.asarray(K, dtype=np.float64),
              "V": np.asarray(V, dtype=np.float64)}
    decls = {t.name: t.ranks for t in cascade.inputs}
    if set(decls) != set(_CORE) or [t.name for t in cascade.outputs] != ["AV"]:
        raise ExecutionError(f"cascade {cascade.name} is not an attention cascade "
                             f"(inputs Q, K, V and output AV)")
    heads = {n: tuple(r for r in decls[n] if r not in _CORE[n]) for n in decls}
    _check_declarations(cascade, heads)
    for name, array in arrays.items():
        need = 2 + (1 if heads[name] else 0)
        if array.ndim < need:
            raise ExecutionError(f"array {name} must have at least {need} dims "
                                 f"(..., {'H, ' if heads[name] else ''}{', '.join(r.upper() for r in _ROW[name])}), "
                                 f"not shape {array.shape}")
    if arrays["Q"].shape[-1] != arrays["K"].shape[-1]:
        raise ExecutionError(f"array Q has head dim E = {arrays['Q'].shape[-1]} but K has "
                             f"{arrays['K'].shape[-1]}")
    if arrays["K"].shape[-2] != arrays["V"].shape[-2]:
        raise ExecutionError(f"array K has M = {arrays['K'].shape[-2]} keys but V has "
                             f"{arrays['V'].shape[-2]}")
    arrays["Q"] = arrays["Q"] / np.sqrt(arrays["Q"].shape[-1])
    shapes = _head_split(arrays, heads)
    inputs = {n: _to_notation(arrays[n], shapes[n], heads[n], decls[n], n) for n in arrays}
    out = execute(cascade, inputs, params)["AV"]
    return _from_notation(out, tuple(cascade.outputs[0].ranks), heads["Q"])


def _check_declarations(cascade: Cascade, heads: dict[str, tuple[str, ...]]) -> None:
    """An ExecutionError naming the declaration that the head mapping above cannot serve."""
    decls = {t.name: t for t in cascade.inputs + cascade.outputs}

    def fail(name: str, why: str) -> ExecutionError:
        return ExecutionError(f"cascade {cascade.name}: declaration {decls[name]} {why}; "
                              f"attention() needs Q[e,..,p], K[e,..,m], V[f,..,m] and "
                              f"AV[f,..,p] with the head ranks of Q")

    for name, core in _CORE.items():
        missing = [r for r in core if r not in decls[name].ranks]
        if missing:
            raise fail(name, f"lacks rank{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    q, k = heads["Q"], heads["K"]
    if heads["V"] != k:
        raise fail("V", f"has head ranks ({', '.join(heads['V'])}) unlike K's ({', '.join(k)})")
    if len(q) > 2:
        raise fail("Q", f"has {len(q)} head ranks ({', '.join(q)}); at most 2 (g, s)")
    if len(k) > 1 or (k and (not q or k[0] != q[0])):
        raise fail("K", f"has head ranks ({', '.join(k)}); allowed: none or Q's first head "
                        f"rank{' ' + q[0] if q else ''}")
    if len(q) == 2 and not k:
        raise fail("K", f"has no head rank; with two on Q ({', '.join(q)}) K and V need {q[0]}")
    av = decls["AV"].ranks
    if sorted(av) != sorted(q + ("f", "p")):
        raise fail("AV", f"must have exactly the ranks {', '.join(('f',) + q + ('p',))}")


def _head_split(arrays: dict, heads: dict) -> dict[str, tuple[int, ...]]:
    """Extents of each array's head ranks, from the user's head axes."""
    shapes = {n: () for n in arrays}
    q, k = heads["Q"], heads["K"]
    if not q:
        return shapes
    hq = arrays["Q"].shape[-3]
    hk = arrays["K"].shape[-3] if k else 1
    if heads["V"] and arrays["V"].shape[-3] != hk:
        raise ExecutionError(f"array V has {arrays['V'].shape[-3]} heads but K has {hk}")
    if len(q) == 1:
        if k and hk != hq:
            raise ExecutionError(f"array K has {hk} heads but Q has {hq}; this cascade needs "
                                 f"equal head counts (use attention-1pass-gqa to share K/V)")
        shapes.update(Q=(hq,), K=(hk,) * len(k), V=(hk,) * len(k))
    else:
        if hq % hk:
            raise ExecutionError(f"array Q has {hq} heads, not a multiple of K's {hk} heads "
                                 f"(grouped-query attention needs Hq = G*S with G = Hk)")
        shapes.update(Q=(hk, hq // hk), K=(hk,), V=(hk,))
    return shapes


def _to_notation(array, head_shape, head_ranks, ranks, name) -> np.ndarray:
    core = 3 if head_ranks else 2
    lead = array.shape[: array.ndim - core]
    split = array.reshape(lead + head_shape + array.shape[-2:])
    user = head_ranks + _ROW[name]
    order = [user.index(r) for r in ranks]
    n = len(lead)
    return np.transpose(split, tuple(range(n)) + tuple(n + k for k in order))


def _from_notation(out: np.ndarray, ranks: tuple[str, ...], head_ranks) -> np.ndarray:
    user = head_ranks + ("p", "f")
    n = out.ndim - len(ranks)
    order = [ranks.index(r) for r in user]
    result = np.transpose(out, tuple(range(n)) + tuple(n + k for k in order))
    if len(head_ranks) > 1:
        result = result.reshape(result.shape[:n] + (-1,) + result.shape[-2:])
    return np.ascontiguousarray(result)
