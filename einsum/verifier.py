"""Static checks of a cascade: definition order, rank use, reductions, extents, iteration.

`verify` raises `VerifyError` naming the cascade, the Einsum (with its source line) and the
rank or tensor at fault. A verified cascade can be executed by `einsum.execute` for any inputs
whose shapes agree with its rank names.
"""

from __future__ import annotations

import difflib

from .errors import InputError
from .ir import (
    Arith,
    Cascade,
    Einsum,
    IndexExpr,
    Name,
    Num,
    Pin,
    Ref,
    expr_refs,
    index_names,
    index_ranks,
)


class VerifyError(InputError):
    """An inconsistent cascade: the message names the Einsum and the rank or tensor."""


def did_you_mean(word: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or the empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def state_tensors(cascade: Cascade) -> frozenset[str]:
    """Tensors carried by the iterative rank: written at ``r+1`` in the body."""
    if cascade.iteration is None:
        return frozenset()
    rank = cascade.iterative_rank
    return frozenset(
        e.name for e in cascade.in_phase("body") if any(_is_next(i, rank) for i in e.lhs)
    )


def _is_next(index: IndexExpr, rank: str) -> bool:
    return (isinstance(index, Arith) and index.op == "+" and index.left == Name(rank)
            and index.right == Num(1))


def is_next_index(ref: Ref, cascade: Cascade) -> bool:
    """True when `ref` reads the next state (``T[m1+1, ...]``) of a state tensor."""
    return any(_is_next(i, cascade.iterative_rank) for i in ref.indices)


def check_params(cascade: Cascade, given: dict[str, int]) -> None:
    """Raise InputError for an unknown parameter (with did-you-mean) or a non-integer value."""
    for key, value in given.items():
        if key not in cascade.params:
            known = ", ".join(cascade.params) or "none"
            raise InputError(f"cascade {cascade.name} has no parameter {key!r}"
                             f"{did_you_mean(key, cascade.params)}; its parameters: {known}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"parameter {key} of cascade {cascade.name} must be an integer, "
                             f"not {value!r}")


def bind_params(cascade: Cascade, given: dict[str, int]) -> dict[str, int]:
    """Merge run-time parameter values over the cascade's defaults.

    Raises
    ------
    InputError
        For an unknown parameter (with did-you-mean), a non-integer value, or a parameter
        without default that was not given.
    """
    check_params(cascade, given)
    values = dict(cascade.params)
    values.update(given)
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise InputError(f"cascade {cascade.name} needs parameter {missing[0]} (no default); "
                         f"give it, e.g. {missing[0]}=16")
    return values


def verify(cascade: Cascade) -> None:
    """Check `cascade`; return None or raise `VerifyError` naming the Einsum and rank."""
    _Checker(cascade).run()


class _Checker:
    def __init__(self, cascade: Cascade) -> None:
        self.c = cascade
        self.it = cascade.iterative_rank
        self.states = state_tensors(cascade)
        self.ranks: dict[str, tuple[str, ...]] = {}
        # computed once: per-Einsum rescans of the cascade made verify quadratic
        self.all_ranks = frozenset(cascade.all_ranks())
        self.extents = frozenset(r.upper() for r in self.all_ranks)
        self.body_names = frozenset(x.name for x in cascade.in_phase("body"))
        self.body_so_far: set[str] = set()  # body Einsums checked so far

    def fail(self, message: str, e: Einsum | None = None) -> VerifyError:
        where = f"Einsum {e.name} (line {e.line}, {e.phase}): " if e is not None else ""
        return VerifyError(f"cascade {self.c.name}: {where}{message}")

    def run(self) -> None:
        self.declarations()
        for e in self.c.einsums:
            self.einsum(e)
        for out in self.c.outputs:
            if out.name not in self.ranks:
                raise self.fail(f"output {out.name} is never defined by an Einsum")
            if self.ranks[out.name] != out.ranks:
                raise self.fail(f"output {out} is declared with ranks {out.ranks} but defined "
                                f"with {self.ranks[out.name]}")
        if not self.c.outputs:
            raise self.fail("declares no output")

    def declarations(self) -> None:
        c = self.c
        for t in c.inputs:
            if t.name in self.ranks:
                raise self.fail(f"input {t.name} declared twice")
            self.ranks[t.name] = t.ranks
        input_ranks = {r for t in c.inputs for r in t.ranks}
        for s in c.splits:
            if s.factor not in c.params:
                raise self.fail(f"{s}: chunk size {s.factor} is not a declared parameter")
            if s.parent not in input_ranks:
                raise self.fail(f"{s}: rank {s.parent} is not a rank of any input")
        if c.iteration is not None:
            rank, stop = c.iteration.rank, c.iteration.stop
            if stop.ops != (">=",) or stop.operands != (Name(rank), Name(rank.upper())):
                raise self.fail(f"stop condition must be '{rank} >= {rank.upper()}' (run the "
                                f"body for every step of rank {rank}), not '{stop}'")
        known = input_ranks | {r for s in c.splits for r in (s.outer, s.inner)}
        for rank in c.all_ranks():
            if rank not in known and rank.upper() not in c.params:
                raise self.fail(f"rank {rank} has no extent: it is not a rank of an input or "
                                f"a split, and there is no parameter {rank.upper()}")

    def einsum(self, e: Einsum) -> None:
        self.lhs(e)
        for ref in expr_refs(e.expr):
            self.ref(e, ref)
        self.reduction(e)
        space = set(e.ranks) | {s.parent for s in self.c.splits
                                if s.outer in e.ranks and s.inner in e.ranks}
        for cmp in e.filters:
            for name in {n for o in cmp.operands for n in index_names(o)}:
                self.name_known(e, name, space, f"filter '{cmp}'")
        if e.name not in self.ranks or (e.phase == "body" and e.name in self.states):
            self.ranks[e.name] = e.tensor_ranks
        if e.phase == "body":
            self.body_so_far.add(e.name)

    def lhs(self, e: Einsum) -> None:
        seen: set[str] = set()
        for index in e.lhs:
            if isinstance(index, Pin):
                if e.phase != "init" or index.rank != self.it or index.value != Num(0):
                    raise self.fail(f"rank {index.rank}: a pinned subscript must be "
                                    f"'{self.it or 'r'}=0' on the iterative rank, in init:", e)
            elif _is_next(index, self.it) and e.phase != "body":
                raise self.fail(f"rank {self.it}: '{index}' (next state) only in body:", e)
            elif not (isinstance(index, Name) and index.is_rank) and not _is_next(index, self.it):
                raise self.fail(f"output subscript '{index}' must be a rank name", e)
            rank = index.rank if isinstance(index, Pin) else index_ranks(index)[0]
            if rank in seen:
                raise self.fail(f"rank {rank} appears twice in the output subscripts", e)
            seen.add(rank)
        self.definition(e)

    def definition(self, e: Einsum) -> None:
        if e.name in self.ranks:
            state_update = e.phase == "body" and e.name in self.states
            if not state_update:
                raise self.fail(self._twice(e), e)
            if self.ranks[e.name] != e.tensor_ranks:
                raise self.fail(f"state {e.name} has ranks {self.ranks[e.name]} in init: but "
                                f"{e.tensor_ranks} in body:", e)
        elif e.phase == "body" and e.name in self.states:
            raise self.fail(f"state tensor {e.name} must be initialised in init: as "
                            f"{e.name}[..{self.it}=0..] before the body updates it", e)
        if self.it is not None:
            has_it = self.it in e.tensor_ranks
            if e.phase == "body" and not has_it:
                raise self.fail(f"a body Einsum must have the iterative rank {self.it} among "
                                f"its output ranks", e)

    def _twice(self, e: Einsum) -> str:
        first = next((x for x in self.c.einsums if x.name == e.name), None)
        where = (f"first at line {first.line}" if first is not None and first is not e
                 else "it is also an input")
        if self.it is None:
            return (f"tensor {e.name} is defined twice ({where}); each tensor is defined once "
                    f"(a cascade without 'iterate' has no state tensors)")
        return (f"tensor {e.name} is defined twice ({where}); only a state tensor, initialised "
                f"in init: and updated at {self.it}+1 in body:, may be")

    def ref(self, e: Einsum, ref: Ref) -> None:
        if ref.tensor not in self.ranks and ref.tensor == e.name:
            how = (f"only a state tensor may read its current value, as "
                   f"{e.name}[{self.it}+1,..] = {e.name}[{self.it},..] + ... in body:"
                   if self.it is not None else
                   "a running value needs an iterative rank (iterate r until r >= R) and a "
                   "state tensor; otherwise give the result a new name")
            raise self.fail(f"reads {ref.tensor}, the tensor it defines (refers to itself); "
                            f"{how}", e)
        if ref.tensor not in self.ranks:
            later = any(x.name == ref.tensor for x in self.c.einsums)
            why = "is defined later (definition order)" if later else "is never defined"
            raise self.fail(f"reads {ref.tensor}, which {why}"
                            f"{'' if later else did_you_mean(ref.tensor, self.ranks)}", e)
        axes = self.ranks[ref.tensor]
        if len(ref.indices) != len(axes):
            raise self.fail(f"{ref} has {len(ref.indices)} subscripts but {ref.tensor} has "
                            f"{len(axes)} ranks {axes}", e)
        if self.it is not None and e.phase == "init" and ref.tensor in self.body_names:
            raise self.fail(f"init: reads {ref.tensor}, which the body defines", e)
        for axis, index in zip(axes, ref.indices, strict=True):
            self.subscript(e, ref, axis, index)

    def subscript(self, e: Einsum, ref: Ref, axis: str, index: IndexExpr) -> None:
        if axis == self.it and axis is not None:
            self.iterative_subscript(e, ref, index)
            return
        if isinstance(index, Name) and index.name == axis:
            return
        split = next((s for s in self.c.splits if s.parent == axis), None)
        if split is not None and index == split.expr:
            return
        expected = f"'{axis}'" + (f" or '{split.expr}'" if split else "")
        raise self.fail(f"rank {axis} of {ref.tensor} is subscripted '{index}' in {ref}; "
                        f"expected {expected}", e)

    def iterative_subscript(self, e: Einsum, ref: Ref, index: IndexExpr) -> None:
        it = self.it
        state = ref.tensor in self.states
        if e.phase == "final":
            ok = index == Name(it.upper()) if state else index == Name(it)
            want = f"'{it.upper()}' (final state)" if state else f"'{it}'"
        elif e.phase == "body" and state:
            ok = index == Name(it) or _is_next(index, it)
            want = f"'{it}' or '{it}+1'"
            if ok and _is_next(index, it) and ref.tensor not in self.body_so_far:
                raise self.fail(f"rank {it}: reads {ref.tensor}[{it}+1] before the body "
                                f"Einsum that computes it", e)
        else:
            ok, want = index == Name(it), f"'{it}'"
        if not ok:
            raise self.fail(f"rank {it} (iterative) of {ref.tensor} is subscripted '{index}' "
                            f"in {ref}; expected {want}", e)

    def reduction(self, e: Einsum) -> None:
        if e.declared_reduce:
            if set(e.declared_reduce) != set(e.reduced_ranks):
                have = ", ".join(e.reduced_ranks) or "none"
                raise self.fail(f"{e.reduce_op}[{','.join(e.declared_reduce)}] must name exactly "
                                f"the reduced ranks (those read but not in the output): {have}",
                                e)
        for rank in e.ranks:
            if rank.upper() in self.c.params or rank in self.all_ranks:
                continue
            raise self.fail(f"rank {rank} has no extent", e)
        for ref in expr_refs(e.expr):
            for index in ref.indices:
                for name in index_names(index):
                    self.name_known(e, name, set(e.ranks), str(ref))

    def name_known(self, e: Einsum, name: str, space: set[str], where: str) -> None:
        if name[0].islower():
            if name not in space:
                raise self.fail(f"rank {name} in {where} is not in the iteration space "
                                f"({', '.join(e.ranks)})", e)
            return
        if name not in self.c.params and name not in self.extents:
            raise self.fail(f"{name} in {where} is neither a parameter nor a rank extent"
                            f"{did_you_mean(name, set(self.c.params) | self.extents)}", e)
