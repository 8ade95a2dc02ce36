"""Reading stored tensors over an Einsum's iteration space (used by `einsum.executor`).

Arrays come in two layouts. *Compact*: leading dims, then one axis per rank of a given tuple,
each of full extent. *Broadcast form*: leading dims, then one axis per rank of the iteration
space, size 1 where the array does not vary. Presence masks (absent points, see
`einsum.executor`) follow the layout of the array they belong to; None means all present.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ir import Abs, Cascade, Compare, Einsum, IndexExpr, Name, Num, Ref, index_ranks
from .verifier import is_next_index


@dataclass(frozen=True, slots=True)
class Stored:
    """A tensor value: data is lead + one axis per rank in `axes`; absent points masked."""

    data: np.ndarray
    axes: tuple[str, ...]
    present: np.ndarray | None = None


@dataclass(slots=True)
class Context:
    """Mutable state of one `execute` call: bound extents and names, tensors computed so far.

    `state` / `next` hold the current / next value of each state tensor (without the iterative
    axis); `step` is the current value of the iterative rank inside the body, else None.
    """

    cascade: Cascade
    lead: int
    extents: dict[str, int]
    names: dict[str, int]
    tensors: dict[str, Stored] = field(default_factory=dict)
    state: dict[str, Stored] = field(default_factory=dict)
    next: dict[str, Stored] = field(default_factory=dict)
    history: dict[str, list[Stored]] = field(default_factory=dict)
    step: int | None = None
    body_names: frozenset[str] = frozenset()


def space_of(ctx: Context, e: Einsum) -> tuple[str, ...]:
    """The ranks an Einsum is evaluated over now (the iterative rank is fixed in the body)."""
    it = ctx.cascade.iterative_rank
    return tuple(r for r in e.ranks if not (ctx.step is not None and r == it))


def env_for(ctx: Context, space: tuple[str, ...]) -> dict[str, object]:
    """Index-expression environment: ranks -> coordinate arrays over `space`, names -> ints."""
    env: dict[str, object] = dict(ctx.names)
    for k, rank in enumerate(space):
        shape = [1] * len(space)
        shape[k] = ctx.extents[rank]
        env[rank] = np.arange(ctx.extents[rank]).reshape(shape)
    if ctx.step is not None:
        env[ctx.cascade.iterative_rank] = ctx.step
    for split in ctx.cascade.splits:
        if split.parent not in env and split.outer in env and split.inner in env:
            env[split.parent] = env[split.outer] * env[split.factor] + env[split.inner]
    return env


def index_value(expr: IndexExpr, env: dict[str, object]):
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Name):
        return env[expr.name]
    if isinstance(expr, Abs):
        return np.abs(index_value(expr.arg, env))
    left, right = index_value(expr.left, env), index_value(expr.right, env)
    return left + right if expr.op == "+" else left - right if expr.op == "-" else left * right


def _compare(cmp: Compare, env: dict[str, object]):
    values = [index_value(o, env) for o in cmp.operands]
    result = True
    for op, a, b in zip(cmp.ops, values, values[1:], strict=False):
        result = result & {"<": np.less, "<=": np.less_equal, ">": np.greater,
                           ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal}[op](a, b)
    return result


def filter_mask(ctx: Context, e: Einsum, env: dict[str, object]) -> np.ndarray | None:
    mask = None
    for cmp in e.filters:
        value = np.asarray(_compare(cmp, env), dtype=bool)
        value = value.reshape((1,) * (ctx.lead + len(space_of(ctx, e)) - value.ndim) + value.shape)
        mask = value if mask is None else mask & value
    return mask


def both(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a & b


def to_space(ctx: Context, data: np.ndarray, ranks: tuple[str, ...], space) -> np.ndarray:
    """Reorder a compact array (lead + ranks) into broadcast form over lead + space."""
    order = sorted(range(len(ranks)), key=lambda k: space.index(ranks[k]))
    data = np.transpose(data, tuple(range(ctx.lead)) + tuple(ctx.lead + k for k in order))
    shape = list(data.shape[: ctx.lead]) + [1] * len(space)
    for k in order:
        shape[ctx.lead + space.index(ranks[k])] = data.shape[ctx.lead + order.index(k)]
    return data.reshape(shape)


def _source(ctx: Context, ref: Ref) -> tuple[Stored, tuple[IndexExpr, ...]]:
    """The stored value a reference reads, and the subscripts of its stored axes.

    State tensors and (during the body) body-defined tensors are stored without the iterative
    axis, so that subscript is dropped; the verifier has checked it is m1 / m1+1 / M1.
    """
    name = ref.tensor
    if name in ctx.state:
        stored = ctx.next[name] if is_next_index(ref, ctx.cascade) else ctx.state[name]
        return stored, _drop_iterative(ctx, name, ref)
    stored = ctx.tensors[name]
    if ctx.step is not None and name in ctx.body_names:
        return stored, _drop_iterative(ctx, name, ref)
    return stored, ref.indices


def _drop_iterative(ctx: Context, name: str, ref: Ref) -> tuple[IndexExpr, ...]:
    axes = ctx.cascade.tensor_ranks()[name]
    return tuple(i for a, i in zip(axes, ref.indices, strict=True)
                 if a != ctx.cascade.iterative_rank)


def gather(ctx: Context, ref: Ref, space, env):
    """Read `ref` over `space`: (data lead+ranks, present or None, ranks) in compact form."""
    stored, indices = _source(ctx, ref)
    data, present, axes = stored.data, stored.present, list(stored.axes)
    lead = ctx.lead
    if present is not None:
        present = np.broadcast_to(present, np.broadcast_shapes(present.shape, data.shape))
    for j in reversed(range(len(indices))):
        if any(r in space for r in index_ranks(indices[j])):
            continue  # varies over the iteration space; the rest are fixed (e.g. m1 = step)
        value = int(index_value(indices[j], env))
        size = data.shape[lead + j]
        inside = 0 <= value < size
        data = np.take(data, min(max(value, 0), size - 1), axis=lead + j)
        if present is not None:
            present = np.take(present, min(max(value, 0), size - 1), axis=lead + j)
        if not inside:
            present = np.zeros(data.shape, dtype=bool)
        del axes[j]
    indices = [i for i in indices if any(r in space for r in index_ranks(i))]
    names = [i.name if isinstance(i, Name) else None for i in indices]
    if None not in names and len(set(names)) == len(names) and all(n in space for n in names):
        return data, present, tuple(names)
    return _fancy(ctx, data, present, indices, space, env)


def _fancy(ctx: Context, data, present, indices, space, env):
    """General gather by fancy indexing; out-of-range subscripts are absent."""
    lead = ctx.lead
    picks, valid = [], None
    for j, expr in enumerate(indices):
        idx = np.asarray(index_value(expr, env))
        idx = idx.reshape((1,) * (len(space) - idx.ndim) + idx.shape)
        size = data.shape[lead + j]
        inside = (idx >= 0) & (idx < size)
        valid = inside if valid is None else valid & inside
        picks.append(np.clip(idx, 0, size - 1))
    used = tuple(r for r in space if any(r in index_ranks(i) for i in indices))
    out = _squeeze(ctx, data[(Ellipsis, *picks)], space, used)
    mask = None if valid.all() else _squeeze(ctx, valid[(None,) * lead], space, used)
    if present is not None:
        gathered = _squeeze(ctx, present[(Ellipsis, *picks)], space, used)
        mask = gathered if mask is None else gathered & mask
    return out, mask, used


def _squeeze(ctx: Context, array: np.ndarray, space, used) -> np.ndarray:
    """Broadcast form over lead + space -> compact form over lead + used (full extents)."""
    lead = array.shape[: ctx.lead]
    array = np.broadcast_to(array, lead + tuple(
        ctx.extents[r] if r in used else 1 for r in space))
    return array.reshape(lead + tuple(ctx.extents[r] for r in used))
