"""Binding: which array runs each Einsum of a cascade, and its per-point PE work.

Rule (overridable per Einsum by a configuration's ``bind``):

- copies and initialisations (no operator) cost nothing and run nowhere (``none``);
- a contraction (``mul`` mapped, ``sum`` reduced) over a score tile (it has the inner M rank
  and P) runs on the 2D array's MACs; one without the inner M rank (the 2-pass cascade's
  ``SNV[f,p] = SLNV[f,m1,p] * CF[m1,p]``) is per-query-row work like the 1-pass cascade's
  SPNV: on the 2D array only one PE per row could do it;
- an Einsum over a whole score tile (it has the inner M rank and P) runs on the 2D array when its
  PEs have every unit it needs and every tile-sized operand it reads is produced on the 2D
  array (data stays in the array); otherwise on the 1D array;
- everything else (per query row) runs on the 1D array.
"""

from __future__ import annotations

from dataclasses import dataclass

from einsum import Cascade, Einsum
from einsum.errors import InputError

from .spec import EXP_MAC_SEQUENCE, Architecture, Config, PEUnits

ACTIONS = ("mac", "add", "max", "div", "exp")
"""Per-point arithmetic actions: exp is an exp-unit action; a MAC-sequence exp counts MACs."""


@dataclass(frozen=True, slots=True)
class Bound:
    """One Einsum bound to an array with its per-point work.

    ``cycles_per_point`` is PE-cycles per iteration-space point; ``actions`` maps each name of
    ACTIONS to the count per point.
    """

    index: int
    name: str
    phase: str
    array: str
    cycles_per_point: int
    actions: dict[str, int]
    reason: str


def is_contraction(einsum: Einsum) -> bool:
    """``mul`` at each point, summed over a vanishing rank (a GEMM-like Einsum)."""
    return "mul" in einsum.map_ops and einsum.reduce_op == "sum" and bool(einsum.reduced_ranks)


def point_work(einsum: Einsum, pe: PEUnits) -> tuple[int, dict[str, int]]:
    """(PE-cycles, actions) per point of ``einsum`` on a PE with units ``pe``.

    A MAC is one cycle; add, sub, max, div one each; with an exp unit, exp(a - b) is one
    pipelined cycle in which the PE's adder does the subtract and the exp unit the exponential
    (two actions: the exp unit, 5 fp MACs + 1 multiplier, has no adder of its own, and FuseMax's
    artifact charges FLAT's SN with one add and one exponential); without one an exp is 6 MACs
    + 1 add. A reduce without a mapped multiply costs one add (sum) or one max per point.
    """
    acts = dict.fromkeys(ACTIONS, 0)
    overlapped = 0
    ops = list(einsum.map_ops)
    if is_contraction(einsum):
        ops.remove("mul")
        acts["mac"] += 1
    elif einsum.reduce_op == "sum":
        acts["add"] += 1
    elif einsum.reduce_op == "max":
        acts["max"] += 1
    if "exp" in ops and pe.exp == "unit":
        ops.remove("exp")
        acts["exp"] += 1
        if "sub" in ops:
            ops.remove("sub")
            acts["add"] += 1
            overlapped = 1
    for op in ops:
        if op == "exp":
            acts["mac"] += EXP_MAC_SEQUENCE - 1
            acts["add"] += 1
        elif op in ("add", "sub"):
            acts["add"] += 1
        elif op == "mul":
            acts["mac"] += 1
        else:
            acts[op] += 1
    return sum(acts.values()) - overlapped, acts


def _supports(einsum: Einsum, pe: PEUnits) -> bool:
    ops = set(einsum.map_ops) | ({einsum.reduce_op} if einsum.reduce_op else set())
    return all(pe.supports(op) for op in ops)


def bind(cascade: Cascade, arch: Architecture, config: Config, tile_ranks: tuple[str, str]
         ) -> tuple[Bound, ...]:
    """Bind every Einsum of ``cascade``; ``tile_ranks`` = (inner M rank, P rank).

    Raises
    ------
    InputError
        If ``config.bind`` names an unknown Einsum, or the bound array lacks a needed unit.
    """
    names = {e.name for e in cascade.einsums}
    for name in config.bind:
        if name not in names:
            raise InputError(f"config bind: unknown Einsum {name!r} in cascade {cascade.name} "
                             f"(Einsums: {', '.join(sorted(names))})")
    where: dict[str, str] = {}
    ranks_of = cascade.tensor_ranks()
    bound = []
    for index, einsum in enumerate(cascade.einsums):
        array, reason = _choose(einsum, arch, config, tile_ranks, where, ranks_of)
        if array != "none":
            pe = arch.array_2d.pe if array == "2d" else arch.array_1d.pe
            if not _supports(einsum, pe):
                raise InputError(f"Einsum {einsum.name} ({einsum.text}) needs "
                                 f"{sorted(set(einsum.map_ops) | {einsum.reduce_op or 'add'})}; "
                                 f"the {array} array's PEs lack a unit for it")
            cycles, acts = point_work(einsum, pe)
        else:
            cycles, acts = 0, dict.fromkeys(ACTIONS, 0)
        where[einsum.name] = array if array != "none" else where.get(einsum.name, "none")
        bound.append(Bound(index, einsum.name, einsum.phase, array, cycles, acts, reason))
    return tuple(bound)


def _choose(einsum: Einsum, arch: Architecture, config: Config, tile_ranks: tuple[str, str],
            where: dict[str, str], ranks_of: dict[str, tuple[str, ...]]) -> tuple[str, str]:
    if einsum.name in config.bind:
        return config.bind[einsum.name], "forced by the configuration"
    if not einsum.map_ops and not einsum.reduce_op:
        return "none", "copy or initialisation"
    if is_contraction(einsum) and set(tile_ranks) <= set(einsum.ranks):
        return "2d", "contraction on the MACs"
    if set(tile_ranks) <= set(einsum.ranks):
        if not _supports(einsum, arch.array_2d.pe):
            return "1d", "2D PEs lack a unit"
        remote = [op for op in einsum.operands if where.get(op) == "1d"
                  and set(tile_ranks) <= set(ranks_of.get(op, ()))]
        if remote:
            return "1d", f"operand {remote[0]} is on the 1D array"
        return "2d", "tile-sized, units present"
    return "1d", "per query row"
