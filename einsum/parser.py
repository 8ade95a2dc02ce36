"""Parser of the cascade notation (grammar in docs/notation.md) into the immutable IR.

One statement per line; ``#`` starts a comment. Errors raise `ParseError` whose message is
``source:line:col: what is wrong``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .errors import InputError
from .ir import (
    Abs,
    Arith,
    Binary,
    Call,
    Cascade,
    Compare,
    Const,
    Einsum,
    Expr,
    IndexExpr,
    Iteration,
    Name,
    Num,
    Op,
    Params,
    Pin,
    Ref,
    Split,
    TensorDecl,
    expr_ops,
    expr_refs,
    index_ranks,
)


class ParseError(InputError):
    """Malformed notation; the message starts with ``source:line:col:``."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[\[\](),=+\-*/|<>:]))"
)
_CASCADE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CMP_OPS = ("<", "<=", ">", ">=", "==", "!=")
_KEYWORDS = frozenset({"exp", "max", "sum", "inf", "where", "until"})
_SECTIONS = ("init", "body", "final")
_FUNCTIONS = ("exp", "max")
#: Deepest nesting of parentheses, calls, |...| and unary minus in one statement.
MAX_NESTING = 64
#: Most binary operators in one statement (each one deepens the expression tree by one).
MAX_OPERATORS = 256


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "num" | "name" | "op" | "end"
    text: str
    col: int


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _tokenize(line: str, where: tuple[str, int]) -> list[_Tok]:
    tokens, pos = [], 0
    code = line.split("#", 1)[0].rstrip()
    while pos < len(code):
        match = _TOKEN.match(code, pos)
        if match is None or match.end() == pos:
            col = pos + 1 + (len(code[pos:]) - len(code[pos:].lstrip()))
            raise ParseError(f"{where[0]}:{where[1]}:{col}: unexpected character "
                             f"{code[col - 1]!r}")
        kind = match.lastgroup
        tokens.append(_Tok(kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    tokens.append(_Tok("end", "", len(code) + 1))
    return tokens


class _Line:
    """Recursive-descent parser over the tokens of one line."""

    def __init__(self, text: str, source: str, lineno: int) -> None:
        self.where = (source, lineno)
        self.toks = _tokenize(text, self.where)
        self.i = 0
        self.depth = 0  # current nesting of (...), calls, |...| and unary minus
        self.operators = 0  # binary operators read so far in this statement

    # -- token helpers --
    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def error(self, message: str, tok: _Tok | None = None) -> ParseError:
        tok = tok or self.peek()
        return ParseError(f"{self.where[0]}:{self.where[1]}:{tok.col}: {message}")

    def accept(self, text: str) -> bool:
        if self.peek().kind in ("op", "name") and self.peek().text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str | None = None) -> _Tok:
        tok = self.peek()
        if not self.accept(text):
            found = "end of line" if tok.kind == "end" else repr(tok.text)
            raise self.error(f"expected {what or repr(text)}, found {found}", tok)
        return tok

    def name(self, what: str, lower: bool | None = None) -> str:
        tok = self.peek()
        if tok.kind != "name" or tok.text in _KEYWORDS:
            found = "end of line" if tok.kind == "end" else repr(tok.text)
            raise self.error(f"expected {what}, found {found}", tok)
        if lower is not None and tok.text[0].islower() != lower:
            case = "lower" if lower else "upper"
            article = "an" if case == "upper" else "a"
            raise self.error(f"{what} must start with {article} {case}-case letter, not {tok.text!r}",
                             tok)
        self.i += 1
        return tok.text

    def nest(self, tok: _Tok) -> None:
        """Enter one nesting level at `tok`; refuse a statement nested deeper than MAX_NESTING.

        The parser and every pass over the expression tree recurse once per level, so a limit
        here turns a RecursionError into a message naming the place.
        """
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"expression nested more than {MAX_NESTING} levels deep "
                             f"(parentheses, calls, |...| or unary minus); split it into "
                             f"several Einsums", tok)

    def operator(self, tok: _Tok) -> None:
        """Count one binary operator at `tok`; refuse more than MAX_OPERATORS per statement."""
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise self.error(f"statement has more than {MAX_OPERATORS} operators; split it "
                             f"into several Einsums", tok)

    def end(self) -> None:
        if self.peek().kind != "end":
            raise self.error(f"unexpected {self.peek().text!r} after the end of the statement")

    # -- index expressions --
    def index(self) -> IndexExpr:
        node = self.iterm()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op = self.peek().text
            self.operator(self.peek())
            self.i += 1
            node = Arith(op, node, self.iterm())
        return node

    def iterm(self) -> IndexExpr:
        node = self.ifactor()
        while self.peek().kind == "op" and self.peek().text == "*":
            self.operator(self.peek())
            self.i += 1
            node = Arith("*", node, self.ifactor())
        return node

    def ifactor(self) -> IndexExpr:
        tok = self.peek()
        if tok.kind == "num":
            if not tok.text.isdigit():
                raise self.error(f"index values are integers, not {tok.text!r}", tok)
            self.i += 1
            return Num(int(tok.text))
        if self.accept("("):
            self.nest(tok)
            node = self.index()
            self.expect(")")
            self.depth -= 1
            return node
        if self.accept("|"):
            self.nest(tok)
            node = Abs(self.index())
            self.expect("|", "'|' closing the absolute value")
            self.depth -= 1
            return node
        return Name(self.name("a rank, parameter or integer"))

    def compare(self) -> Compare:
        operands, ops = [self.index()], []
        while self.peek().kind == "op" and self.peek().text in _CMP_OPS:
            ops.append(self.peek().text)
            self.i += 1
            operands.append(self.index())
        if not ops:
            raise self.error("expected a comparison (<, <=, >, >=, ==, !=)")
        return Compare(tuple(ops), tuple(operands))

    # -- value expressions --
    def expr(self) -> Expr:
        node = self.term()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            op = Op.ADD if self.peek().text == "+" else Op.SUB
            self.operator(self.peek())
            self.i += 1
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            op = Op.MUL if self.peek().text == "*" else Op.DIV
            self.operator(self.peek())
            self.i += 1
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Expr:
        tok = self.peek()
        if self.accept("-"):
            self.nest(tok)
            inner = self.unary()
            self.depth -= 1
            if not isinstance(inner, Const):
                raise self.error("unary minus applies to constants only; write 0 - x", tok)
            return Const(-inner.value)
        return self.atom()

    def atom(self) -> Expr:
        tok = self.peek()
        if tok.kind == "num":
            self.i += 1
            return Const(float(tok.text))
        if self.accept("inf"):
            return Const(float("inf"))
        if self.accept("("):
            self.nest(tok)
            node = self.expr()
            self.expect(")")
            self.depth -= 1
            return node
        if self.accept("exp"):
            self.expect("(", "'(' after exp")
            self.nest(tok)
            node = Call(Op.EXP, self.expr())
        elif self.accept("max"):
            self.expect("(", "'(' after max (a max-reduction is written max[rank] expr)")
            self.nest(tok)
            left = self.expr()
            self.expect(",", "',' between the two arguments of max")
            node = Binary(Op.MAX, left, self.expr())
        else:
            return self.ref()
        self.expect(")")
        self.depth -= 1
        return node

    def ref(self) -> Ref:
        tok = self.peek()
        if tok.kind == "name" and self.peek(1).text == "(":
            raise self.error(f"unknown function {tok.text!r}{_did_you_mean(tok.text, _FUNCTIONS)}"
                             f"; the functions are exp(x) and max(a, b), the operators + - * /, "
                             f"and a reduction is written sum[rank] x or max[rank] x", tok)
        if (tok.kind == "name" and tok.text[0].islower() and tok.text not in _KEYWORDS
                and self.peek(1).text != "["):  # q[e,p] is a tensor misspelt
            raise self.error(f"rank {tok.text!r} is not a value: a value is a tensor T[ranks], a "
                             f"number, inf, exp(x) or max(a, b); ranks index tensors and appear "
                             f"in where filters (a bias that depends on positions, e.g. ALiBi's, "
                             f"is an input tensor B[m,p])", tok)
        name = self.name("a tensor, a number, exp(...) or max(a, b)", lower=False)
        self.expect("[", f"'[' after tensor {name}")
        indices: list[IndexExpr] = []
        if not self.accept("]"):
            indices.append(self.index())
            while self.accept(","):
                indices.append(self.index())
            self.expect("]", "',' or ']'")
        return Ref(name, tuple(indices), tok.col)

    # -- statements --
    def tensor_decl(self) -> TensorDecl:
        name = self.name("a tensor name", lower=False)
        self.expect("[", f"'[' after tensor {name}")
        ranks: list[str] = []
        if not self.accept("]"):
            ranks.append(self.name("a rank name", lower=True))
            while self.accept(","):
                ranks.append(self.name("a rank name", lower=True))
            self.expect("]", "',' or ']'")
        return TensorDecl(name, tuple(ranks))

    def lhs(self) -> tuple[str, tuple[IndexExpr, ...]]:
        name = self.name("an Einsum (OUT[ranks] = ...)", lower=False)
        self.expect("[", f"'[' after tensor {name}")
        indices: list[IndexExpr] = []
        if not self.accept("]"):
            indices.append(self.lhs_index())
            while self.accept(","):
                indices.append(self.lhs_index())
            self.expect("]", "',' or ']'")
        return name, tuple(indices)

    def lhs_index(self) -> IndexExpr:
        if self.peek().kind == "name" and self.peek(1).text == "=":
            rank = self.name("a rank name", lower=True)
            self.expect("=")
            return Pin(rank, self.index())
        return self.index()

    def reduce_prefix(self) -> tuple[str | None, tuple[str, ...]]:
        tok = self.peek()
        if tok.text in ("sum", "max") and self.peek(1).text == "[":
            self.i += 2
            ranks = [self.name("a reduced rank", lower=True)]
            while self.accept(","):
                ranks.append(self.name("a reduced rank", lower=True))
            self.expect("]", "',' or ']'")
            return tok.text, tuple(ranks)
        return None, ()


def _einsum(line: _Line, phase: str, lineno: int) -> Einsum:
    name, lhs = line.lhs()
    line.expect("=", "'=' after the output tensor")
    reduce_op, declared = line.reduce_prefix()
    expr = line.expr()
    filters: list[Compare] = []
    if line.accept("where"):
        filters.append(line.compare())
        while line.accept(","):
            filters.append(line.compare())
    line.end()
    output = tuple(dict.fromkeys(r for index in lhs for r in index_ranks(index)))
    read = dict.fromkeys(r for ref in expr_refs(expr) for i in ref.indices for r in index_ranks(i))
    reduced = tuple(r for r in read if r not in output)
    if reduce_op is None and reduced:
        reduce_op = "sum"
    prefix = f"{reduce_op}[{','.join(declared)}] " if declared else ""
    where = f" where {', '.join(str(f) for f in filters)}" if filters else ""
    text = f"{name}[{','.join(str(i) for i in lhs)}] = {prefix}{expr}{where}"
    return Einsum(
        name=name, text=text, lhs=lhs, expr=expr, output_ranks=output, ranks=output + reduced,
        reduced_ranks=reduced, reduce_op=reduce_op,
        map_ops=tuple(op.value for op in expr_ops(expr)),
        operands=tuple(dict.fromkeys(ref.tensor for ref in expr_refs(expr))),
        filters=tuple(filters), phase=phase, line=lineno, declared_reduce=declared,
    )


@dataclass
class _State:
    name: str | None = None
    inputs: tuple[TensorDecl, ...] = ()
    outputs: tuple[TensorDecl, ...] = ()
    params: dict | None = None
    splits: tuple[Split, ...] = ()
    iteration: Iteration | None = None
    section: str | None = None


def _declaration(line: _Line, word: str, state: _State, raw: str) -> None:
    """Handle one declaration line (cascade/input/output/param/split/iterate)."""
    if word == "cascade":
        rest = raw.split("#", 1)[0].strip()[len("cascade"):].strip()
        if not _CASCADE_NAME.fullmatch(rest):
            raise line.error(f"cascade name must be lower-case letters, digits and '-', "
                             f"not {rest!r}", line.peek(1))
        state.name = rest
        return
    line.i += 1
    if word in ("input", "output"):
        decls = [line.tensor_decl()]
        while line.accept(","):
            decls.append(line.tensor_decl())
        line.end()
        setattr(state, word + "s", getattr(state, word + "s") + tuple(decls))
    elif word == "param":
        _param(line, state)
    elif word == "split":
        parent = line.name("the rank being split", lower=True)
        line.expect("=")
        outer = line.name("the outer rank", lower=True)
        line.expect("*", "'*' (split m = m1*M0 + m0)")
        factor = line.name("the chunk-size parameter", lower=False)
        line.expect("+", "'+' (split m = m1*M0 + m0)")
        inner = line.name("the inner rank", lower=True)
        line.end()
        state.splits += (Split(parent, outer, inner, factor),)
    else:  # iterate
        rank = line.name("the iterative rank", lower=True)
        line.expect("until", "'until' (iterate m1 until m1 >= M1)")
        stop = line.compare()
        line.end()
        state.iteration = Iteration(rank, stop)


def _param(line: _Line, state: _State) -> None:
    params = state.params if state.params is not None else {}
    while True:
        tok = line.peek()
        key = line.name("a parameter name", lower=False)
        if key in params:
            raise line.error(f"parameter {key} declared twice", tok)
        value = None
        if line.accept("="):
            num = line.peek()
            if num.kind != "num" or not num.text.isdigit():
                raise line.error(f"parameter {key} default must be a non-negative integer", num)
            line.i += 1
            value = int(num.text)
        params[key] = value
        if not line.accept(","):
            break
    line.end()
    state.params = params


_DECLARATIONS = ("cascade", "input", "output", "param", "split", "iterate")


def parse(text: str, source: str = "<string>") -> Cascade:
    """Parse cascade notation into a `Cascade` (not yet verified; see `einsum.verify`).

    Raises
    ------
    ParseError
        On malformed notation, with ``source:line:col:`` of the offending token.
    """
    state = _State()
    einsums: list[Einsum] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _Line(raw, source, lineno)
        first = line.peek()
        if first.kind == "end":
            continue
        if first.text in _SECTIONS and line.peek(1).text == ":":
            line.i += 2
            line.end()
            _enter_section(line, state, first)
        elif first.kind == "name" and first.text in _DECLARATIONS and line.peek(1).text != "[":
            if einsums and first.text != "cascade":
                raise line.error(f"'{first.text}' declarations must come before the Einsums")
            _declaration(line, first.text, state, raw)
        else:
            if state.iteration is not None and state.section is None:
                raise line.error("an iterative cascade puts its Einsums under init:, body: "
                                 "and final:", first)
            einsums.append(_einsum(line, state.section or "body", lineno))
    if state.name is None:
        raise ParseError(f"{source}:1:1: missing 'cascade NAME' declaration")
    return Cascade(
        name=state.name, inputs=state.inputs, outputs=state.outputs,
        params=Params.of(state.params or {}), einsums=tuple(einsums),
        splits=state.splits, iteration=state.iteration, source=source, text=text,
    )


def _enter_section(line: _Line, state: _State, tok: _Tok) -> None:
    if state.iteration is None:
        raise line.error("init:/body:/final: sections need an 'iterate' declaration first", tok)
    order = _SECTIONS.index(tok.text)
    if state.section is not None and order <= _SECTIONS.index(state.section):
        raise line.error(f"section {tok.text}: must come after {state.section}: "
                         f"(order init, body, final), once each", tok)
    state.section = tok.text
