"""NumPy reference executor in float64: THE semantics of the cascade IR.

Semantics
---------
* Every tensor is a dense float64 array: leading batch/head dims (broadcast across inputs), then
  one axis per rank in declaration order, of the rank's extent.
* An Einsum evaluates its right-hand side at every point of its iteration space (output ranks,
  then reduced ranks), then reduces the reduced ranks with its reduce operator (sum unless
  ``max[...]`` is written) and stores the result at the output subscripts.
* *Absent points.* A point is absent when an operand is read out of range (the partial last
  chunk of a split: ``K[e, m1*M0+m0]`` with ``m1*M0+m0 >= M``), when a ``where`` filter excludes
  it, or when an operand element read there is itself absent. A map operator yields an absent
  point if any operand is absent (intersection), ``+`` and ``max(a, b)`` skip an absent operand
  (union); a reduction skips absent points, so reducing an all-absent fiber gives an *absent*
  point, not the operator's identity (an empty fiber has no elements to merge: the output point
  is never populated, as in EDGE/TeAAL fibertrees). Inside a cascade an absent point is stored as
  0 beside a presence mask that every consumer honours; in a declared *output* it is NaN -- e.g.
  AV of a query that no key reaches, where softmax over an empty set is undefined (0/0).
* ``exp(a - b)`` is 0 whenever ``a`` is -inf, even if ``b`` is -inf (an empty running max).
* *Iteration.* With ``iterate m1 until m1 >= M1`` the init Einsums run once; the body runs for
  m1 = 0 .. M1-1 with m1 fixed per step; ``T[m1+1, ...]`` writes the next state of T,
  ``T[m1, ...]`` reads the current one; then the final Einsums run, where ``T[M1, ...]`` is the
  state after the last step.
Execution is vectorised over every rank except the iterative one: each Einsum is one
broadcast expression (products summed over ranks go through ``np.einsum``, BLAS-backed).
"""

from __future__ import annotations

import math
import string

import numpy as np

from .errors import InputError
from .ir import REDUCE_IDENTITY, Binary, Call, Cascade, Const, Einsum, Expr, Op, Ref
from .runtime import (
    Context,
    Stored,
    both,
    env_for,
    filter_mask,
    gather,
    space_of,
    to_space,
)
from .verifier import bind_params, state_tensors, verify

#: Map operators with union semantics (an absent operand is skipped); the others intersect.
UNION_OPS = frozenset({Op.ADD, Op.MAX})


class ExecutionError(InputError):
    """Inputs that do not fit the cascade (missing, mis-shaped or non-finite arrays)."""


def execute(
    cascade: Cascade, inputs: dict[str, np.ndarray], params: dict[str, int] | None = None
) -> dict[str, np.ndarray]:
    """Run `cascade` on `inputs` (arrays in the notation's rank order, any leading dims).

    Parameters
    ----------
    cascade : a cascade; it is verified first.
    inputs : one array per declared input, shape ``(..., extent of each rank)``.
    params : parameter values overriding the cascade's defaults (e.g. ``{"M0": 128}``).

    Returns
    -------
    dict mapping each declared output to a float64 array ``(lead..., extents...)``; absent
    points (see Semantics) are NaN.

    Raises
    ------
    VerifyError, ExecutionError (both InputError) naming the Einsum, array or rank at fault.
    """
    verify(cascade)
    values = bind_params(cascade, params or {})
    ctx = _bind_inputs(cascade, inputs, values)
    states = state_tensors(cascade)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for e in cascade.in_phase("init"):
            _store(ctx, e, _run_einsum(ctx, e), states)
        if cascade.iteration is not None:
            _iterate(ctx)
        ctx.step = None
        for e in cascade.in_phase("final") + (
            cascade.einsums if cascade.iteration is None else ()
        ):
            _store(ctx, e, _run_einsum(ctx, e), states)
    lead_shape = np.broadcast_shapes(*(t.data.shape[: ctx.lead] for t in ctx.tensors.values()))
    result = {}
    for out in cascade.outputs:
        stored = ctx.tensors[out.name]
        shape = lead_shape + tuple(ctx.extents[r] for r in out.ranks)
        data = stored.data if stored.present is None else np.where(stored.present, stored.data,
                                                                    np.nan)
        result[out.name] = np.array(np.broadcast_to(data, shape), dtype=np.float64)
    return result


def _iterate(ctx: Context) -> None:
    cascade = ctx.cascade
    rank = cascade.iterative_rank
    body = cascade.in_phase("body")
    keep = _read_after_body(cascade)
    states = state_tensors(cascade)
    for step in range(ctx.extents[rank]):
        ctx.step, ctx.next = step, {}
        for e in body:
            value = _run_einsum(ctx, e)
            if e.name in states:
                ctx.next[e.name] = value
            else:
                ctx.tensors[e.name] = value
                if e.name in keep:
                    ctx.history.setdefault(e.name, []).append(value)
        ctx.state.update(ctx.next)
    for name, steps in ctx.history.items():
        axes = cascade.einsum(name, "body").tensor_ranks
        position = ctx.lead + axes.index(rank)
        data = np.stack([np.broadcast_to(s.data, _full(ctx, s)) for s in steps], axis=position)
        present = None
        if any(s.present is not None for s in steps):
            present = np.stack([_mask_full(ctx, s) for s in steps], axis=position)
        ctx.tensors[name] = Stored(data, axes, present)


def _read_after_body(cascade: Cascade) -> set[str]:
    body = {e.name for e in cascade.in_phase("body")}
    return {n for e in cascade.in_phase("final") for n in e.operands if n in body}


def _full(ctx: Context, stored: Stored) -> tuple[int, ...]:
    return stored.data.shape[: ctx.lead] + tuple(ctx.extents[r] for r in stored.axes)


def _mask_full(ctx: Context, stored: Stored) -> np.ndarray:
    if stored.present is None:
        return np.ones(_full(ctx, stored), dtype=bool)
    return np.broadcast_to(stored.present, _full(ctx, stored))


# ---- binding ----


def _bind_inputs(cascade: Cascade, inputs: dict, names: dict[str, int]) -> Context:
    extents: dict[str, int] = {}
    arrays = {}
    for decl in cascade.inputs:
        if decl.name not in inputs:
            raise ExecutionError(f"input array {decl.name} is missing (cascade {cascade.name} "
                                 f"needs {', '.join(t.name for t in cascade.inputs)})")
        array = np.asarray(inputs[decl.name], dtype=np.float64)
        if array.ndim < len(decl.ranks):
            raise ExecutionError(f"input array {decl.name} must have at least {len(decl.ranks)} "
                                 f"dims ({decl}), not shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ExecutionError(f"input array {decl.name} contains NaN or infinite values")
        for rank, size in zip(decl.ranks, array.shape[array.ndim - len(decl.ranks):], strict=True):
            if extents.setdefault(rank, size) != size:
                raise ExecutionError(f"input array {decl.name}: rank {rank} has extent {size} "
                                     f"but another input gives it {extents[rank]}")
            if size < 1:
                raise ExecutionError(f"input array {decl.name}: rank {rank} must have extent "
                                     f">= 1, not {size}")
        arrays[decl.name] = array
    lead = max(a.ndim - len(d.ranks) for d, a in zip(cascade.inputs, arrays.values(), strict=True))
    leads = {}
    for decl, array in zip(cascade.inputs, arrays.values(), strict=True):
        padded = array.reshape((1,) * (lead + len(decl.ranks) - array.ndim) + array.shape)
        arrays[decl.name] = padded
        leads[decl.name] = padded.shape[:lead]
    try:
        np.broadcast_shapes(*leads.values())
    except ValueError:
        shapes = ", ".join(f"{k} {v}" for k, v in leads.items())
        raise ExecutionError(f"leading (batch/head) dims of the inputs do not broadcast: "
                             f"{shapes}") from None
    _derive_extents(cascade, extents, names)
    all_names = dict(names)
    all_names.update({r.upper(): n for r, n in extents.items()})
    body = frozenset(e.name for e in cascade.in_phase("body")) if cascade.iteration else frozenset()
    ctx = Context(cascade, lead, extents, all_names, body_names=body)
    for decl in cascade.inputs:
        ctx.tensors[decl.name] = Stored(arrays[decl.name], decl.ranks)
    return ctx


def rank_extents(
    cascade: Cascade, input_extents: dict[str, int], params: dict[str, int] | None = None
) -> dict[str, int]:
    """Every rank's extent from the input ranks' extents and the parameters.

    E.g. attention-1pass with ``{"e": 64, "p": 4096, "m": 1000, "f": 64}`` and the default
    M0 = 256 gives m1 = ceil(1000/256) = 4, m0 = 256. Useful for counting the work of each
    Einsum (the product of its ranks' extents, before filters and the partial last chunk).

    Raises
    ------
    InputError
        For an unknown or missing parameter, a missing input rank or an extent below 1.
    """
    names = bind_params(cascade, params or {})
    extents = dict(input_extents)
    for decl in cascade.inputs:
        for rank in decl.ranks:
            if rank not in extents:
                raise ExecutionError(f"extent of rank {rank} (of input {decl}) is missing")
    _derive_extents(cascade, extents, names)
    return {r: extents[r] for r in cascade.all_ranks()}


def _derive_extents(cascade: Cascade, extents: dict[str, int], names: dict[str, int]) -> None:
    for split in cascade.splits:
        factor = names[split.factor]
        if factor < 1:
            raise ExecutionError(f"parameter {split.factor} (chunk of {split.parent}) must be "
                                 f">= 1, not {factor}")
        extents[split.inner] = factor
        extents[split.outer] = math.ceil(extents[split.parent] / factor)
    for rank in cascade.all_ranks():
        if rank not in extents and rank.upper() in names:
            extents[rank] = names[rank.upper()]
            if extents[rank] < 1:
                raise ExecutionError(f"parameter {rank.upper()} (extent of rank {rank}) must "
                                     f"be >= 1, not {extents[rank]}")


# ---- one Einsum ----


def _run_einsum(ctx: Context, e: Einsum) -> Stored:
    space = space_of(ctx, e)
    out = space[: len(space) - len(e.reduced_ranks)]
    env = env_for(ctx, space)
    fast = _contract_fast(ctx, e, space, out, env)
    if fast is not None:
        data, present = fast
    else:
        data, present = _evaluate(ctx, e.expr, space, env)
        present = both(present, filter_mask(ctx, e, env))
        if e.reduced_ranks:
            full = _full_shape(ctx, data, space)
            data = np.broadcast_to(data, full)
            if present is not None:
                data = np.where(present, data, REDUCE_IDENTITY[Op(e.reduce_op)])
            axes = tuple(range(ctx.lead + len(out), ctx.lead + len(space)))
            data = np.max(data, axis=axes) if e.reduce_op == "max" else np.sum(data, axis=axes)
            present = None if present is None else np.any(present, axis=axes, keepdims=False)
            if present is not None and present.all():
                present = None
    full = data.shape[: ctx.lead] + tuple(ctx.extents[r] for r in out)
    data = np.broadcast_to(data, np.broadcast_shapes(data.shape, (1,) * ctx.lead + full[ctx.lead:]))
    if present is not None:
        data = np.where(present, data, 0.0)
    return Stored(data, out, present)


def _full_shape(ctx: Context, data: np.ndarray, space: tuple[str, ...]) -> tuple[int, ...]:
    """Full broadcast shape over lead + `space` for an array in broadcast form."""
    return data.shape[: ctx.lead] + tuple(ctx.extents[r] for r in space)


def _store(ctx: Context, e: Einsum, value: Stored, states: frozenset[str]) -> None:
    if e.phase == "init" and e.name in states:
        ctx.state[e.name] = value
    else:
        ctx.tensors[e.name] = value


# ---- value expressions, in broadcast form over lead + space ----


def _evaluate(ctx: Context, expr: Expr, space, env) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(expr, Const):
        return np.full((1,) * (ctx.lead + len(space)), expr.value), None
    if isinstance(expr, Ref):
        data, present, ranks = gather(ctx, expr, space, env)
        return to_space(ctx, data, ranks, space), (
            None if present is None else to_space(ctx, present, ranks, space))
    if isinstance(expr, Call):
        if isinstance(expr.arg, Binary) and expr.arg.op is Op.SUB:
            a, pa = _evaluate(ctx, expr.arg.left, space, env)
            b, pb = _evaluate(ctx, expr.arg.right, space, env)
            value, empty = np.exp(a - b), np.isneginf(a)
            return (np.where(empty, 0.0, value) if empty.any() else value), both(pa, pb)
        a, pa = _evaluate(ctx, expr.arg, space, env)
        return np.exp(a), pa
    a, pa = _evaluate(ctx, expr.left, space, env)
    b, pb = _evaluate(ctx, expr.right, space, env)
    fn = {Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply, Op.DIV: np.divide,
          Op.MAX: np.maximum}[expr.op]
    if expr.op not in UNION_OPS or (pa is None and pb is None):
        return fn(a, b), both(pa, pb)
    # union: an absent operand is skipped, the point is absent only if both are
    value = fn(a, b)
    if pa is not None:
        value = np.where(pa, value, b)
    if pb is not None:
        value = np.where(pb, value, a)
    return value, None if pa is None or pb is None else pa | pb


# ---- fast path: products summed over ranks, via np.einsum ----


def _product_refs(expr: Expr) -> list[Ref] | None:
    if isinstance(expr, Ref):
        return [expr]
    if isinstance(expr, Binary) and expr.op is Op.MUL:
        left, right = _product_refs(expr.left), _product_refs(expr.right)
        return None if left is None or right is None else left + right
    return None


def _contract_fast(ctx: Context, e: Einsum, space, out, env):
    """Sum-of-products Einsums as one np.einsum call; None when not applicable."""
    refs = _product_refs(e.expr)
    if refs is None or e.reduce_op != "sum":
        return None
    operands = [list(gather(ctx, ref, space, env)) for ref in refs]
    mask = filter_mask(ctx, e, env)
    if mask is not None and not _fold_mask(ctx, operands, mask, space):
        return None
    letters = dict(zip(space, string.ascii_letters, strict=False))
    terms, arrays = [], []
    for data, present, ranks in operands:
        arrays.append(data if present is None else np.where(present, data, 0.0))
        terms.append("..." + "".join(letters[r] for r in ranks))
    spec = ",".join(terms) + "->..." + "".join(letters[r] for r in out)
    value = np.einsum(spec, *arrays, optimize=True)
    return value, _present_after_sum(ctx, operands, out, letters)


def _present_after_sum(ctx: Context, operands: list, out, letters) -> np.ndarray | None:
    """Presence of a sum of products: some point of the reduced fiber has all operands present.

    Counted as a sum of products of 0/1 masks (operands without a mask count as all-present,
    which cannot turn a count of zero into non-zero, so they are left out).
    """
    masked = [(np.broadcast_to(p, d.shape).astype(np.float64), r)
              for d, p, r in operands if p is not None]
    if not masked:
        return None
    kept = [r for r in out if any(r in ranks for _, ranks in masked)]
    spec = ",".join("..." + "".join(letters[r] for r in ranks) for _, ranks in masked)
    count = np.einsum(spec + "->..." + "".join(letters[r] for r in kept),
                      *(m for m, _ in masked), optimize=True)
    present = count > 0
    if present.all():
        return None
    shape = present.shape[: ctx.lead] + tuple(
        present.shape[ctx.lead + kept.index(r)] if r in kept else 1 for r in out)
    return present.reshape(shape)


def _fold_mask(ctx: Context, operands: list, mask: np.ndarray, space) -> bool:
    """Fold a filter mask (broadcast form) into an operand covering its ranks, if one does."""
    varying = {space[k] for k in range(len(space)) if mask.shape[ctx.lead + k] > 1}
    for operand in operands:
        data, present, ranks = operand
        if varying <= set(ranks):
            squeezed = mask.reshape(mask.shape[: ctx.lead] + tuple(
                mask.shape[ctx.lead + k] for k in range(len(space)) if space[k] in varying))
            kept = [space[k] for k in range(len(space)) if space[k] in varying]
            compact = _expand(ctx, squeezed, kept, ranks)
            operand[1] = compact if present is None else present & compact
            return True
    return False


def _expand(ctx: Context, mask: np.ndarray, kept: list[str], ranks) -> np.ndarray:
    """Put a mask over ranks `kept` into the layout lead + `ranks` (size-1 elsewhere)."""
    perm = sorted(range(len(kept)), key=lambda k: ranks.index(kept[k]))
    mask = np.transpose(mask, tuple(range(ctx.lead)) + tuple(ctx.lead + k for k in perm))
    shape = list(mask.shape[: ctx.lead]) + [1] * len(ranks)
    for pos, k in enumerate(perm):
        shape[ctx.lead + ranks.index(kept[k])] = mask.shape[ctx.lead + pos]
    return mask.reshape(shape)
