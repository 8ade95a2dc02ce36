"""Pass analysis (FuseMax §III): how many times a cascade must traverse each rank.

A pass over rank R is one traversal of all elements of an R fiber. When an Einsum that
iterates over R reads a value that is only complete once a *whole* earlier traversal of R has
finished (a reduction over all of R, or the final state of an iteration over R), none of its
R elements can be read before that traversal ends, so it starts a new pass. Values that still
carry R (indexed by R, by a part of a split R, or by the iterative rank at the current step) are
streamed element by element and cost no extra pass. Counting these dependencies along the
cascade gives the number of passes; N such dependencies in sequence make N+1 passes. The count
is a lower bound for every mapping of the cascade.

Passes are computed from the Einsums' dependencies only; nothing is declared by hand.
"""

from __future__ import annotations

import functools

from .ir import Cascade, Einsum, expr_refs, index_ranks


def rank_family(cascade: Cascade, rank: str) -> frozenset[str]:
    """The ranks that traverse `rank`: itself plus, for a split parent, its outer and inner part."""
    split = next((s for s in cascade.splits if s.parent == rank), None)
    return frozenset({rank} if split is None else {rank, split.outer, split.inner})


def einsum_passes(cascade: Cascade, rank: str) -> dict[int, int]:
    """Pass number of each Einsum (by position) over `rank`; 0 if it does not iterate over it."""
    family = rank_family(cascade, rank)
    streamed: dict[str, int] = {}  # tensors carrying the rank -> pass that produces them
    complete: dict[str, int] = {}  # tensors not carrying it -> pass after which they are known
    for t in cascade.inputs:
        if family & set(t.ranks):
            streamed[t.name] = 1
        else:
            complete[t.name] = 0
    result = {}
    for position, e in enumerate(cascade.einsums):
        number = _pass_of(e, family, streamed, complete)
        result[position] = number if family & set(e.ranks) else 0
        if family & set(e.output_ranks):
            streamed[e.name] = max(number, streamed.get(e.name, 0))
        else:
            complete[e.name] = number
    return result


def _pass_of(e: Einsum, family: frozenset[str], streamed: dict, complete: dict) -> int:
    touches = bool(family & set(e.ranks))
    number = 1 if touches else 0
    for ref in expr_refs(e.expr):
        carries = any(r in family for i in ref.indices for r in index_ranks(i))
        if carries:
            number = max(number, streamed.get(ref.tensor, 1))
        else:
            # a state tensor read at a fixed index (its final value) is complete only when
            # the traversal that streamed it has ended
            ready = max(complete.get(ref.tensor, 0), streamed.get(ref.tensor, 0))
            number = max(number, ready + 1 if touches else ready)
    return number


def pass_counts(cascade: Cascade) -> dict[str, int]:
    """Passes over every rank of `cascade` (split parents reported under their own name).

    Returns
    -------
    dict rank -> number of passes (0 for a rank no Einsum iterates over). For a split
    ``m = m1*M0 + m0`` the key ``"m"`` counts traversals of the whole M fiber; ``"m1"`` and
    ``"m0"`` count those of the parts alone (re-reading a bounded M0 chunk is cheap, re-reading
    all of M is what the analysis is about).
    """
    return dict(_pass_counts(cascade))


@functools.lru_cache(maxsize=256)
def _pass_counts(cascade: Cascade) -> tuple[tuple[str, int], ...]:
    # cached: a cascade is immutable and hashable, and explorations ask for the same few often
    return tuple((rank, max(einsum_passes(cascade, rank).values(), default=0))
                 for rank in cascade.all_ranks())
