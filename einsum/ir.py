"""The immutable IR of extended-Einsum cascades.

A `Cascade` is an ordered tuple of `Einsum` s over named tensors whose axes are named *ranks*.
Rank names are lower case (``m``, ``m1``, ``p``); the extent of rank ``r`` is the upper-case name
``R`` (``M``, ``M1``, ``P``), bound from the input arrays' shapes, from a parameter, or derived
from a split (``split m = m1*M0 + m0`` gives ``M1 = ceil(M / M0)``).

Two small expression languages live here:

* *index expressions* (`Num`, `Name`, `Arith`, `Abs`, `Pin`) -- integer arithmetic over ranks and
  parameters, used inside tensor subscripts (``K[e, m1*M0+m0]``, ``RM[m1+1, p]``) and in filters
  (``m <= p``, ``|m - p| < W``);
* *value expressions* (`Ref`, `Const`, `Call`, `Binary`) -- float64 arithmetic over tensor
  elements, the right-hand side of an Einsum.

Every node is a frozen dataclass; a cascade built once never changes (`dataclasses.replace`
makes a modified copy). The semantics of every node is `einsum.execute`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Op(enum.StrEnum):
    """Operators of the notation. Values are the names used in `Einsum.map_ops` / `reduce_op`."""

    MUL = "mul"
    ADD = "add"
    SUB = "sub"
    DIV = "div"
    MAX = "max"
    EXP = "exp"
    SUM = "sum"


#: Operators applied per point of an Einsum's iteration space.
ELEMENTWISE_OPS = frozenset({Op.MUL, Op.ADD, Op.SUB, Op.DIV, Op.MAX, Op.EXP})
#: Operators that combine the points of a reduced rank; identity of each (it fills absent points
#: inside a fiber; a fiber with no present point reduces to an absent point, see executor).
REDUCE_IDENTITY = MappingProxyType({Op.SUM: 0.0, Op.MAX: float("-inf")})

PHASES = ("init", "body", "final")


# ---- index expressions (integers over ranks and parameters) ----


@dataclass(frozen=True, slots=True)
class Num:
    """An integer literal in an index or filter expression."""

    value: int

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True)
class Name:
    """A rank (lower-case first letter) or a parameter / extent (upper-case first letter)."""

    name: str

    @property
    def is_rank(self) -> bool:
        return self.name[0].islower()

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Arith:
    """Integer ``left op right`` with op in ``+ - *``."""

    op: str
    left: IndexExpr
    right: IndexExpr

    def __str__(self) -> str:
        return f"{_wrap(self.left, self.op)}{self.op}{_wrap(self.right, self.op, right=True)}"


@dataclass(frozen=True, slots=True)
class Abs:
    """``|arg|``."""

    arg: IndexExpr

    def __str__(self) -> str:
        return f"|{self.arg}|"


@dataclass(frozen=True, slots=True)
class Pin:
    """A left-hand-side subscript fixing an iterative rank, ``m1=0`` (init block only)."""

    rank: str
    value: IndexExpr

    def __str__(self) -> str:
        return f"{self.rank}={self.value}"


IndexExpr = Num | Name | Arith | Abs | Pin


def _wrap(node: IndexExpr, parent_op: str, right: bool = False) -> str:
    text = str(node)
    if isinstance(node, Arith) and (
        (parent_op == "*" and node.op in "+-") or (right and parent_op == "-" and node.op in "+-")
    ):
        return f"({text})"
    return text


def index_names(expr: IndexExpr) -> tuple[str, ...]:
    """All names (ranks and parameters) in an index expression, first occurrence order."""
    if isinstance(expr, Name):
        return (expr.name,)
    if isinstance(expr, Arith):
        left = index_names(expr.left)
        return left + tuple(n for n in index_names(expr.right) if n not in left)
    if isinstance(expr, Abs | Pin):
        return index_names(expr.arg if isinstance(expr, Abs) else expr.value)
    return ()


def index_ranks(expr: IndexExpr) -> tuple[str, ...]:
    """The rank variables an index expression depends on (a `Pin` depends on none)."""
    if isinstance(expr, Pin):
        return ()
    return tuple(n for n in index_names(expr) if n[0].islower())


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison chain ``a < b <= c`` (all must hold); ops from ``< <= > >= == !=``."""

    ops: tuple[str, ...]
    operands: tuple[IndexExpr, ...]

    def __str__(self) -> str:
        parts = [str(self.operands[0])]
        for op, operand in zip(self.ops, self.operands[1:], strict=True):
            parts.append(f" {op} {operand}")
        return "".join(parts)


# ---- value expressions (float64 over tensor elements) ----


@dataclass(frozen=True, slots=True)
class Ref:
    """A tensor element ``T[i0, i1, ...]``; one index expression per axis of T."""

    tensor: str
    indices: tuple[IndexExpr, ...]
    col: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.tensor}[{','.join(str(i) for i in self.indices)}]"


@dataclass(frozen=True, slots=True)
class Const:
    """A float constant (``0``, ``1``, ``-inf``)."""

    value: float

    def __str__(self) -> str:
        if self.value == float("-inf"):
            return "-inf"
        if self.value == float("inf"):
            return "inf"
        return repr(int(self.value)) if self.value.is_integer() else repr(self.value)


@dataclass(frozen=True, slots=True)
class Call:
    """``exp(arg)``. Convention: ``exp(a - b)`` is 0 whenever ``a`` is -inf (even if b is)."""

    op: Op
    arg: Expr

    def __str__(self) -> str:
        return f"{self.op.value}({self.arg})"


@dataclass(frozen=True, slots=True)
class Binary:
    """``left op right``: op in mul, add, sub, div (infix) or max (written ``max(a, b)``)."""

    op: Op
    left: Expr
    right: Expr

    def __str__(self) -> str:
        if self.op is Op.MAX:
            return f"max({self.left}, {self.right})"
        sym = {Op.MUL: "*", Op.ADD: "+", Op.SUB: "-", Op.DIV: "/"}[self.op]
        return f"{_vwrap(self.left, self.op)} {sym} {_vwrap(self.right, self.op, right=True)}"


Expr = Ref | Const | Call | Binary

_PRECEDENCE = {Op.ADD: 1, Op.SUB: 1, Op.MUL: 2, Op.DIV: 2}


def _vwrap(node: Expr, parent: Op, right: bool = False) -> str:
    text = str(node)
    if isinstance(node, Binary) and node.op in _PRECEDENCE:
        mine, theirs = _PRECEDENCE[node.op], _PRECEDENCE[parent]
        if mine < theirs or (right and mine == theirs and parent in (Op.SUB, Op.DIV)):
            return f"({text})"
    return text


def expr_refs(expr: Expr) -> tuple[Ref, ...]:
    """Tensor references of a value expression, left to right."""
    if isinstance(expr, Ref):
        return (expr,)
    if isinstance(expr, Call):
        return expr_refs(expr.arg)
    if isinstance(expr, Binary):
        return expr_refs(expr.left) + expr_refs(expr.right)
    return ()


def expr_ops(expr: Expr) -> tuple[Op, ...]:
    """Elementwise operators of a value expression in evaluation (post-) order."""
    if isinstance(expr, Call):
        return expr_ops(expr.arg) + (expr.op,)
    if isinstance(expr, Binary):
        return expr_ops(expr.left) + expr_ops(expr.right) + (expr.op,)
    return ()


# ---- declarations ----


@dataclass(frozen=True, slots=True)
class TensorDecl:
    """An input or output tensor with its rank names in axis order, e.g. ``Q[e,p]``."""

    name: str
    ranks: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name}[{','.join(self.ranks)}]"


@dataclass(frozen=True, slots=True)
class Split:
    """``split parent = outer*factor + inner``: outer has extent ceil(P/factor), inner factor.

    The last chunk is partial when the factor does not divide the parent extent; its missing
    points are absent (see `einsum.execute`).
    """

    parent: str
    outer: str
    inner: str
    factor: str

    def __str__(self) -> str:
        return f"split {self.parent} = {self.outer}*{self.factor} + {self.inner}"

    @property
    def expr(self) -> IndexExpr:
        """The parent's index expression in terms of outer and inner ranks."""
        return Arith("+", Arith("*", Name(self.outer), Name(self.factor)), Name(self.inner))


@dataclass(frozen=True, slots=True)
class Iteration:
    """``iterate rank until rank >= BOUND``: the iterative rank and its stop condition."""

    rank: str
    stop: Compare

    def __str__(self) -> str:
        return f"iterate {self.rank} until {self.stop}"


@dataclass(frozen=True, slots=True)
class Einsum:
    """One extended Einsum ``LHS = [reduce[ranks]] expr [where filter, ...]``.

    Attributes
    ----------
    name : the output tensor's name.
    text : the Einsum in the notation (one line, normalised spacing).
    lhs : the output subscripts (rank names, ``m1+1`` for an iterative update, `Pin` in init).
    expr : the right-hand side value expression.
    output_ranks : the output's varying ranks (a pinned rank, ``m1=0``, is not one).
    ranks : the whole iteration space: output ranks then reduced ranks.
    reduced_ranks : ranks read on the right but absent from the output.
    reduce_op : "sum" | "max" | None (None when nothing is reduced).
    map_ops : elementwise operators applied per point, in evaluation order.
    operands : tensor names read, first occurrence order.
    filters : comparisons restricting the iteration space (``m <= p``); excluded points are
        absent.
    phase : "init" | "body" | "final" ("body" for every Einsum of a non-iterative cascade).
    line : 1-based line in the source text.
    declared_reduce : the ranks written in an explicit ``max[m0]`` / ``sum[e]`` prefix (the
        verifier checks they equal `reduced_ranks`); empty for an implicit sum.
    """

    name: str
    text: str
    lhs: tuple[IndexExpr, ...]
    expr: Expr
    output_ranks: tuple[str, ...]
    ranks: tuple[str, ...]
    reduced_ranks: tuple[str, ...]
    reduce_op: str | None
    map_ops: tuple[str, ...]
    operands: tuple[str, ...]
    filters: tuple[Compare, ...]
    phase: str
    line: int
    declared_reduce: tuple[str, ...] = ()

    @property
    def tensor_ranks(self) -> tuple[str, ...]:
        """The output tensor's axis ranks, pinned ones included (``RM[m1=0,p]`` -> m1, p)."""
        return tuple(_lhs_rank(index) for index in self.lhs)

    def __str__(self) -> str:
        return self.text


def _lhs_rank(index: IndexExpr) -> str:
    if isinstance(index, Pin):
        return index.rank
    ranks = index_ranks(index)
    return ranks[0] if ranks else str(index)


@dataclass(frozen=True, slots=True, eq=False)
class Params(Mapping):
    """Read-only, hashable, picklable parameter map: name -> default (None: no default)."""

    pairs: tuple[tuple[str, int | None], ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, int | None]) -> Params:
        return cls(tuple(values.items()))

    def __getitem__(self, key: str) -> int | None:
        for name, value in self.pairs:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __hash__(self) -> int:
        return hash(self.pairs)

    def __repr__(self) -> str:
        return f"Params({dict(self.pairs)!r})"


@dataclass(frozen=True, slots=True)
class Cascade:
    """A named cascade of Einsums, in definition order (init, then body, then final).

    Attributes
    ----------
    name : cascade name (``attention-1pass``).
    inputs, outputs : declared tensors with their ranks.
    params : parameter name -> default value (None: must be given at run time), read-only.
    einsums : all Einsums in definition order.
    iterative_rank : the rank carrying state from step i to i+1, or None.
    iteration : the ``iterate`` declaration (rank and stop condition), or None.
    splits : rank splits.
    source : where the text came from (file path or ``<string>``).
    text : the cascade's source text.
    """

    name: str
    inputs: tuple[TensorDecl, ...]
    outputs: tuple[TensorDecl, ...]
    params: Params
    einsums: tuple[Einsum, ...]
    splits: tuple[Split, ...] = ()
    iteration: Iteration | None = None
    source: str = field(default="<string>", compare=False)
    text: str = field(default="", compare=False, repr=False)

    @property
    def iterative_rank(self) -> str | None:
        return None if self.iteration is None else self.iteration.rank

    def einsum(self, name: str, phase: str | None = None) -> Einsum:
        """The Einsum defining `name` (the body one for a state tensor unless `phase` given)."""
        found = [e for e in self.einsums if e.name == name and phase in (None, e.phase)]
        if not found:
            raise KeyError(name)
        return next((e for e in found if e.phase == "body"), found[0])

    def in_phase(self, phase: str) -> tuple[Einsum, ...]:
        return tuple(e for e in self.einsums if e.phase == phase)

    def tensor_ranks(self) -> dict[str, tuple[str, ...]]:
        """Every tensor's axis ranks: inputs, then each Einsum's output."""
        ranks = {t.name: t.ranks for t in self.inputs}
        for e in self.einsums:
            ranks.setdefault(e.name, e.tensor_ranks)
        return ranks

    def all_ranks(self) -> tuple[str, ...]:
        """Every rank named anywhere (split parents included), first occurrence order."""
        seen: dict[str, None] = {}
        for t in self.inputs:
            seen.update(dict.fromkeys(t.ranks))
        for s in self.splits:
            seen.update(dict.fromkeys((s.parent, s.outer, s.inner)))
        for e in self.einsums:
            seen.update(dict.fromkeys(e.tensor_ranks + e.ranks))
        return tuple(r for r in seen if r[:1].islower())

    def split_of(self, rank: str) -> Split | None:
        """The split that has `rank` as parent, outer or inner part, if any."""
        return next((s for s in self.splits if rank in (s.parent, s.outer, s.inner)), None)

    def with_params(self, **values: int) -> Cascade:
        """A copy with parameter defaults replaced (unknown names raise KeyError)."""
        merged = dict(self.params)
        for key, value in values.items():
            if key not in merged:
                raise KeyError(key)
            merged[key] = value
        return Cascade(
            self.name, self.inputs, self.outputs, Params.of(merged), self.einsums,
            self.splits, self.iteration, self.source, self.text,
        )

    def __str__(self) -> str:
        return self.text
