"""The numbers a simulated attention mapping moves, tile by tile (one head).

2D contractions and reductions are computed by the same cycle-level kernels that time them
(`os_fold`, `stationary_fold` without preload, `row_chain`); a per-row operand of a 2D
elementwise Einsum is delivered along the row links by `row_chain`; 1D Einsums and 2D per-PE
arithmetic evaluate the Einsum's expression on the tile with NumPy. Tensors carry their tile
axes (``m0``, ``p``, ``e``, ``f``; the m1 rank is the tile loop). The result equals
`einsum.execute` of the same cascade (tests/sim/test_sim_attention.py).
"""

from __future__ import annotations

import numpy as np

from einsum.ir import Binary, Call, Const, Op, Ref, expr_refs, index_ranks

from .attention import INPUT_RANKS, _einsums, _geometry, across_tiles, mask_of, norm
from .spec import SimInputError
from .systolic import os_fold, row_chain, stationary_fold

Tile = tuple[np.ndarray, tuple[str, ...]]
LOCAL = ("m0", "p", "e", "f")


def input_shapes(mapping, cascade) -> dict[str, tuple[int, ...]]:
    """Shapes of Q, K, V of one instance: Q[e,p], K[e,m], V[f,m] of a head, or a GQA group's
    Q[e,g,s,p], K[e,g,m], V[f,g,m] (g = 1: the group's K/V head, s its S query heads)."""
    ext = mapping.workload.extents()
    return {d.name: tuple(ext[r] for r in d.ranks) for d in cascade.inputs}


def attention_values(mapping, cascade, q, k, v, progress=None) -> np.ndarray:
    """AV of one instance: AV[f,p] of a head from Q[e,p], K[e,m], V[f,m], or AV[f,g,s,p] of a
    GQA group from Q[e,g,s,p], K[e,g,m], V[f,g,m] (each query head s against the shared K/V,
    as the tiles of the group run); SimInputError on wrong shapes."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    want = input_shapes(mapping, cascade)
    for name, arr in (("Q", q), ("K", k), ("V", v)):
        if arr.shape != want[name]:
            raise SimInputError(f"simulate: {name} must have shape {list(want[name])}, "
                                f"not {list(arr.shape)}")
    if {d.name: tuple(d.ranks) for d in cascade.inputs} == INPUT_RANKS[0]:
        return _head(mapping, cascade, q, k, v, progress)
    heads = q.shape[2]
    out = [_head(mapping, cascade, q[:, 0, s], k[:, 0], v[:, 0],
                 None if progress is None else _part(progress, s, heads)) for s in range(heads)]
    return np.stack(out, axis=1)[:, None]


def _part(progress, s: int, heads: int):
    def update(done: int, total: int) -> None:
        progress(s * total + done, heads * total)
    return update


def _head(mapping, cascade, q, k, v, progress) -> np.ndarray:
    """AV[f, p] of one query head (over one K/V head)."""
    geo = _geometry(mapping)
    einsums = _einsums(mapping, cascade)
    if cascade.iteration is None:
        return _multipass(mapping, cascade, einsums, geo, (q, k, v), progress)
    state = {e.name for e, _ in einsums if any("+1" in str(i) for i in e.lhs)}
    inits = {e.name: e for e in cascade.einsums if e.phase == "init"}
    mask = mask_of(mapping, cascade)
    av = np.zeros((geo.f, geo.p))
    m_tiles, p_tiles = -(-geo.m // geo.cols), -(-geo.p // geo.rows)
    for i in range(p_tiles):
        p0, r = i * geo.rows, min(geo.rows, geo.p - i * geo.rows)
        current = {name: _initial(inits[name], geo, r) for name in state}
        for j in range(m_tiles):
            m0, c = j * geo.cols, min(geo.cols, geo.m - j * geo.cols)
            admitted = None if mask is None else mask.points(p0, r, m0, c)
            if admitted is not None and not admitted.any():
                continue  # a skipped tile: its scores are all -inf, the state stays as it is
            tiles = {"Q": (q[:, p0:p0 + r], ("e", "p")), "K": (k[:, m0:m0 + c], ("e", "m0")),
                     "V": (v[:, m0:m0 + c], ("f", "m0"))}
            env = dict(tiles)
            env.update({name: tiles[e.operands[0]] for name, e in inits.items()
                        if len(e.operands) == 1 and e.operands[0] in tiles})
            previous = dict(current)
            for e, b in einsums:
                if e.phase != "body":
                    continue
                value = _einsum(e, b.array, _lookup(env, previous, current, state), geo, r, c)
                if admitted is not None and e.name == mask.einsum:
                    value = _masked(value, admitted)
                env[e.name] = value
                if e.name in state:
                    current[e.name] = value
            if progress is not None:
                progress(i * m_tiles + j + 1, p_tiles * m_tiles)
        for e, b in einsums:
            if e.phase == "final":
                value = _einsum(e, b.array, _lookup({}, current, current, state), geo, r, 0)
                av[:, p0:p0 + r] = _align(value, ("f", "p"))
    return av


def _multipass(mapping, cascade, einsums, geo, qkv, progress) -> np.ndarray:
    """Pass by pass over the m-tiles of each p-tile; M-reduced tensors accumulate."""
    q, k, v = qkv
    pass_of = {w.bound.name: w.pass_index for w in mapping.phases[0].work}
    accumulated = {e.name: e.reduce_op for e, _ in einsums if across_tiles(e)}
    output = cascade.outputs[0].name
    av = np.zeros((geo.f, geo.p))
    m_tiles, p_tiles = -(-geo.m // geo.cols), -(-geo.p // geo.rows)
    passes = sorted(k for k in set(pass_of.values()) if k)
    bound = {e.name for e, _ in einsums}
    copies = {e.name: e.operands[0] for e in cascade.einsums if e.name not in bound
              and len(e.operands) == 1 and e.operands[0] in ("Q", "K", "V")}
    mask = mask_of(mapping, cascade)
    for i in range(p_tiles):
        p0, r = i * geo.rows, min(geo.rows, geo.p - i * geo.rows)
        held: dict[tuple[int, str], Tile] = {}
        acc: dict[str, Tile] = {}
        for step, kpass in enumerate(passes):
            for j in range(m_tiles):
                m0, c = j * geo.cols, min(geo.cols, geo.m - j * geo.cols)
                admitted = None if mask is None else mask.points(p0, r, m0, c)
                if admitted is not None and not admitted.any():
                    continue  # skipped in every pass: its scores are all -inf
                env = {"Q": (q[:, p0:p0 + r], ("e", "p")), "K": (k[:, m0:m0 + c], ("e", "m0")),
                       "V": (v[:, m0:m0 + c], ("f", "m0"))}
                env.update({name: env[src] for name, src in copies.items()})
                env.update({name: t for (jj, name), t in held.items() if jj == j})
                env.update(acc)
                for e, b in einsums:
                    if pass_of[e.name] != kpass:
                        continue
                    value = _einsum(e, b.array, _lookup(env, {}, {}, set()), geo, r, c)
                    if admitted is not None and e.name == mask.einsum:
                        value = _masked(value, admitted)
                    if e.name in accumulated:
                        acc[e.name] = _combine(acc.get(e.name), value, accumulated[e.name])
                    else:
                        held[(j, e.name)] = value
                        env[e.name] = value
                if progress is not None:
                    done = (i * len(passes) + step) * m_tiles + j + 1
                    progress(done, p_tiles * len(passes) * m_tiles)
        if not acc:  # a mask admits no key of this p-tile: softmax over nothing, 0/0
            av[:, p0:p0 + r] = np.nan
            continue
        env = dict(acc)
        for e, b in einsums:  # Einsums without M (the mapper's pass 0) after the last pass
            if pass_of[e.name] == 0:
                env[e.name] = _einsum(e, b.array, _lookup(env, {}, {}, set()), geo, r, 0)
        av[:, p0:p0 + r] = _align(env[output], ("f", "p"))
    return av


def _masked(tile: Tile, admitted: np.ndarray) -> Tile:
    """The masked Einsum's tile with its excluded scores set to -inf (admitted: [p, m0])."""
    arr, axes = tile
    keep = _align((admitted, ("p", "m0")), axes)
    return np.where(keep, arr, -np.inf), axes


def _combine(old: Tile | None, new: Tile, op: str) -> Tile:
    if old is None:
        return new
    arr = old[0] + new[0] if op == "sum" else np.maximum(old[0], new[0])
    return arr, new[1]


def _initial(einsum, geo, r) -> Tile:
    if not isinstance(einsum.expr, Const):
        raise SimInputError(f"simulate: state {einsum.name} must start from a constant")
    axes = tuple(k for k in einsum.tensor_ranks if k in LOCAL)
    shape = tuple(r if k == "p" else {"f": geo.f, "e": geo.e}[k] for k in axes)
    return np.full(shape, einsum.expr.value), axes


def _lookup(env, previous, current, state):
    def find(ref: Ref) -> Tile:
        if ref.tensor in state:
            before = any(str(index) == "m1" for index in ref.indices)
            return (previous if before else current)[ref.tensor]
        if ref.tensor not in env:
            raise SimInputError(f"simulate: tensor {ref.tensor} is not available in the tile")
        return env[ref.tensor]
    return find


def _local(ranks) -> tuple[str, ...]:
    return tuple(k for k in norm(ranks) if k in LOCAL)


def _align(tile: Tile, space: tuple[str, ...]) -> np.ndarray:
    """The tile's array with axes reordered to `space`, size-1 axes for ranks it lacks."""
    arr, axes = tile
    order = [axes.index(k) for k in space if k in axes]
    arr = np.transpose(arr, order)
    present = [k for k in space if k in axes]
    shape = [arr.shape[present.index(k)] if k in axes else 1 for k in space]
    return arr.reshape(shape)


def _einsum(e, array: str, find, geo, r: int, c: int) -> Tile:
    out_axes = _local(e.output_ranks)
    reduced = set(norm(e.reduced_ranks))
    refs = expr_refs(e.expr)
    if array == "2d" and e.reduce_op == "sum" and "mul" in e.map_ops and reduced in ({"e"},
                                                                                        {"m0"}):
        return _contract(e, refs, reduced, find, geo, r, c)
    if array == "2d" and e.reduce_op in ("max", "sum") and reduced == {"m0"} and not e.map_ops:
        x = _align(find(refs[0]), ("p", "m0"))
        out = np.zeros(r)
        row_chain(geo.rows, geo.cols, r, c, np.ascontiguousarray(x), np.zeros(r),
                  0 if e.reduce_op == "max" else 1, out, np.zeros((r, c)))
        return out, ("p",)
    space = _local(e.ranks)
    values = {ref: _deliver(find(ref), array, space, geo, r, c) for ref in refs}
    result = _evaluate(e.expr, values)
    result = np.broadcast_to(result, [_extent(k, geo, r, c) for k in space])
    axes = tuple(space.index(k) for k in space if k not in out_axes)
    if e.reduce_op == "sum":
        result = result.sum(axis=axes)
    elif e.reduce_op == "max":
        result = result.max(axis=axes)
    return np.array(result), out_axes


def _deliver(tile: Tile, array, space, geo, r, c) -> np.ndarray:
    """A per-row operand of a tile-wide 2D Einsum reaches its PEs along the row links."""
    if array == "2d" and set(space) >= {"m0", "p"} and tile[1] == ("p",):
        grid = np.zeros((r, c))
        row_chain(geo.rows, geo.cols, r, c, np.zeros((r, c)), np.ascontiguousarray(tile[0]), 2,
                  np.zeros(r), grid)
        return _align((grid, ("p", "m0")), space)
    return _align(tile, space)


def _extent(rank, geo, r, c) -> int:
    return {"m0": c, "p": r, "e": geo.e, "f": geo.f}[rank]


def _contract(e, refs, reduced, find, geo, r, c) -> Tile:
    with_p = [ref for ref in refs if "p" in _ranks(ref)]
    other = [ref for ref in refs if "p" not in _ranks(ref)]
    if len(with_p) != 1 or len(other) != 1:
        raise SimInputError(f"simulate: contraction {e.name} needs one operand with p")
    timeline = np.zeros(2 * geo.rows + geo.cols + max(geo.e, geo.f), np.int64)
    if reduced == {"e"}:  # output stationary: rows = p, columns = m0, T = E
        a = np.ascontiguousarray(_align(find(with_p[0]), ("p", "e")))
        b = np.ascontiguousarray(_align(find(other[0]), ("e", "m0")))
        out = np.zeros((r, c))
        os_fold(geo.rows, geo.cols, r, c, geo.e, a, b, out, timeline)
        return out, ("p", "m0")
    # over m0: the tile sits in the PEs (transposed view: rows = m0, cols = p), V streams
    w = np.ascontiguousarray(_align(find(with_p[0]), ("m0", "p")))
    x = np.ascontiguousarray(_align(find(other[0]), ("f", "m0")))
    out = np.zeros((geo.f, r))
    stationary_fold(geo.cols, geo.rows, c, r, geo.f, w, x, out, timeline, False)
    return out, ("f", "p")


def _ranks(ref: Ref) -> set[str]:
    return set(norm(k for index in ref.indices for k in index_ranks(index)))


_BINARY = {Op.MUL: np.multiply, Op.ADD: np.add, Op.SUB: np.subtract, Op.DIV: np.divide,
           Op.MAX: np.maximum}


def _evaluate(expr, values) -> np.ndarray:
    if isinstance(expr, Ref):
        return values[expr]
    if isinstance(expr, Const):
        return np.float64(expr.value)
    if isinstance(expr, Call):
        if isinstance(expr.arg, Binary) and expr.arg.op is Op.SUB:
            a, b = _evaluate(expr.arg.left, values), _evaluate(expr.arg.right, values)
            with np.errstate(invalid="ignore", over="ignore"):
                return np.where(np.isneginf(a), 0.0, np.exp(a - b))
        return np.exp(_evaluate(expr.arg, values))
    with np.errstate(invalid="ignore", divide="ignore"):
        return _BINARY[expr.op](_evaluate(expr.left, values), _evaluate(expr.right, values))
