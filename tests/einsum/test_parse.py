"""The notation parser: accepted forms and errors that point at line and column."""

import pytest

import einsum
from einsum import ParseError
from einsum.ir import Abs, Arith, Compare, Const, Name, Num, Pin

HEADER = "cascade t\ninput Q[e,p], K[e,m]\noutput O[p]\n"


def einsums(body: str):
    return einsum.parse(HEADER + body).einsums


def test_implicit_sum_and_explicit_max():
    s, g = einsums("S[m,p] = Q[e,p] * K[e,m]\nG[p] = max[m] S[m,p]\n")
    assert s.reduce_op == "sum" and s.declared_reduce == ()
    assert g.reduce_op == "max" and g.declared_reduce == ("m",)


def test_operators_and_precedence():
    (x,) = einsums("X[m,p] = max(Q[e,p], K[e,m]) - Q[e,p] / K[e,m] * Q[e,p] + exp(-inf)\n")
    # post-order: max, div, mul, sub, exp, add
    assert x.map_ops == ("max", "div", "mul", "sub", "exp", "add")


def test_constants():
    (x,) = einsums("X[p] = -inf\n")
    assert x.expr == Const(float("-inf"))
    (y,) = einsums("Y[p] = 1 / Q[e,p]\n")
    assert y.expr.left == Const(1.0)


def test_split_iteration_pins_and_filters():
    c = einsum.parse(
        "cascade t\ninput K[e,m]\noutput O[e]\nparam M0 = 8, W\nsplit m = m1*M0 + m0\n"
        "iterate m1 until m1 >= M1\ninit:\nR[e,m1=0] = 0\nB[e,m1,m0] = K[e,m1*M0+m0]\n"
        "body:\nR[e,m1+1] = R[e,m1] + B[e,m1,m0] where |m - m0| < W, 0 <= m1 < 3\n"
        "final:\nO[e] = R[e,M1]\n")
    assert c.params == {"M0": 8, "W": None}
    assert c.iteration.rank == "m1"
    init_r, split_b, body_r, _ = c.einsums
    assert init_r.lhs[1] == Pin("m1", Num(0)) and init_r.phase == "init"
    assert split_b.expr.indices[1] == Arith("+", Arith("*", Name("m1"), Name("M0")), Name("m0"))
    assert body_r.lhs[1] == Arith("+", Name("m1"), Num(1))
    assert body_r.filters[0] == Compare(("<",), (Abs(Arith("-", Name("m"), Name("m0"))),
                                                 Name("W")))
    assert body_r.filters[1].ops == ("<=", "<")
    assert [e.phase for e in c.einsums] == ["init", "init", "body", "final"]


def test_comments_and_blank_lines_are_ignored():
    c = einsum.parse("# header\n\ncascade t # name\ninput Q[e,p]\noutput O[p]\n"
                     "O[p] = Q[e,p]  # sum over e\n")
    assert c.einsums[0].line == 6 and c.einsums[0].text == "O[p] = Q[e,p]"


@pytest.mark.parametrize(("text", "where", "message"), [
    ("O[p] = Q[e,p] *\n", "4:16", "expected a tensor"),
    ("O[p] = Q[e,p\n", "4:13", "expected ',' or ']'"),
    ("O[p] = Q[e,p] % 2\n", "4:15", "unexpected character '%'"),
    ("O[p] = exp Q[e,p]\n", "4:12", "expected '(' after exp"),
    ("O[p] = max(Q[e,p])\n", "4:18", "',' between the two arguments of max"),
    ("O[p] = -Q[e,p]\n", "4:8", "unary minus applies to constants only"),
    ("O[p] = q[e,p]\n", "4:8", "must start with an upper-case letter"),
    ("O[p] = Q[e,p] where m\n", "4:22", "expected a comparison"),
    ("O[p] = Q[1.5,p]\n", "4:10", "index values are integers"),
    ("O[p] = Q[e,p] Q[e,p]\n", "4:15", "unexpected 'Q'"),
    ("init:\n", "4:1", "need an 'iterate' declaration"),
])
def test_errors_point_at_line_and_column(text, where, message):
    with pytest.raises(ParseError) as info:
        einsum.parse(HEADER + text, source="my.af")
    assert str(info.value).startswith(f"my.af:{where}: ")
    if message:
        assert message in str(info.value)


def test_declarations_after_einsums_and_missing_name():
    with pytest.raises(ParseError, match=r"<string>:5:1: 'param' declarations must come before"):
        einsum.parse(HEADER + "O[p] = Q[e,p]\nparam X = 1\n")
    with pytest.raises(ParseError, match="missing 'cascade NAME'"):
        einsum.parse("input Q[e,p]\n")
    with pytest.raises(ParseError, match=r":1:9: cascade name must be"):
        einsum.parse("cascade Bad Name\n")


def test_sections_in_order_once():
    text = ("cascade t\ninput A[k]\noutput Z[]\niterate k until k >= K\nbody:\n"
            "R[k+1] = A[k]\ninit:\n")
    with pytest.raises(ParseError, match=r":7:1: section init: must come after body:"):
        einsum.parse(text)


def test_documented_examples_parse_and_match_the_library():
    import re
    from pathlib import Path

    from einsum import library

    doc = (Path(__file__).parents[2] / "docs" / "notation.md").read_text()
    blocks = [b for b in re.findall(r"```\n(.*?)```", doc, re.S)
              if b.startswith("cascade ") and b.count("cascade ") == 1]
    assert len(blocks) >= 2
    for block in blocks:
        parsed = einsum.parse(block)
        einsum.verify(parsed)
        shipped = library.get(parsed.name)
        assert [e.text for e in parsed.einsums] == [e.text for e in shipped.einsums]


# ---- cases that once failed (QA round) ----


@pytest.mark.parametrize(("rhs", "col", "message"), [
    ("(" * 5000 + "Q[e,p]" + ")" * 5000, 8 + 64, "nested more than 64 levels deep"),
    ("exp(" * 100 + "Q[e,p]" + ")" * 100, 8 + 4 * 64, "nested more than 64 levels deep"),
    ("Q[" + "(" * 3000 + "e" + ")" * 3000 + ",p]", 10 + 64, "nested more than 64 levels deep"),
    ("-" * 3000 + "1", 8 + 64, "nested more than 64 levels deep"),
    (" + ".join(["Q[e,p]"] * 5000), 8 + 256 * 9 + 7, "more than 256 operators"),
    ("Q[" + "+".join(["e"] * 5000) + ",p]", 10 + 256 * 2 + 1, "more than 256 operators"),
])
def test_deep_or_long_expressions_are_refused_with_their_place(rhs, col, message):
    # 5000 parentheses once raised RecursionError from the library; the limit names the token
    with pytest.raises(ParseError) as info:
        einsum.parse(HEADER + "O[p] = " + rhs + "\n", source="deep.af")
    assert str(info.value).startswith(f"deep.af:4:{col}: "), str(info.value)
    assert message in str(info.value)


def test_nesting_and_operators_up_to_the_limits_parse_and_verify():
    nested = "(" * 64 + "Q[e,p]" + ")" * 64
    long = " + ".join(["Q[e,p]"] * 257)  # 256 operators
    for rhs in (nested, long):
        c = einsum.parse(HEADER + "O[p] = " + rhs + "\n")
        einsum.verify(c)
        assert str(c.einsums[0].expr).count("Q[e,p]") == rhs.count("Q[e,p]")


@pytest.mark.parametrize(("rhs", "col", "hint"), [
    ("sqrt(Q[e,p])", 8, ""),  # said "must start with an upper-case letter"
    ("Q[e,p] * log(Q[e,p])", 17, ""),
    ("ex(Q[e,p])", 8, " (did you mean 'exp'?)"),
    ("Exp(Q[e,p])", 8, " (did you mean 'exp'?)"),
    ("Max(Q[e,p], Q[e,p])", 8, " (did you mean 'max'?)"),
])
def test_unknown_function_lists_the_functions_and_operators(rhs, col, hint):
    with pytest.raises(ParseError) as info:
        einsum.parse(HEADER + "O[p] = " + rhs + "\n", source="f.af")
    name = rhs[col - 8:].split("(")[0]
    assert str(info.value) == (
        f"f.af:4:{col}: unknown function {name!r}{hint}; the functions are exp(x) and max(a, b), "
        f"the operators + - * /, and a reduction is written sum[rank] x or max[rank] x")


@pytest.mark.parametrize(("rhs", "col", "rank"), [
    ("Q[e,p] - 0.5 * (p - m)", 24, "p"),  # ALiBi written with ranks as values
    ("Q[e,p] * e", 17, "e"),
    ("m", 8, "m"),
])
def test_a_rank_used_as_a_value_is_named_as_such(rhs, col, rank):
    # said "a tensor, a number, exp(...) or max(a, b) must start with an upper-case letter"
    with pytest.raises(ParseError) as info:
        einsum.parse(HEADER + "O[p] = " + rhs + "\n", source="f.af")
    assert str(info.value) == (
        f"f.af:4:{col}: rank {rank!r} is not a value: a value is a tensor T[ranks], a number, "
        f"inf, exp(x) or max(a, b); ranks index tensors and appear in where filters (a bias "
        f"that depends on positions, e.g. ALiBi's, is an input tensor B[m,p])")
