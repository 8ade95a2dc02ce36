"""Export a cascade as a networkx DiGraph of tensor and Einsum nodes.

Nodes: ``("tensor", name)`` for inputs and plain tensors; a state tensor of an iterative
cascade gets one node per version -- ``("tensor", "RM[0]")`` (initial), ``("tensor",
"RM[m1]")`` (current step), ``("tensor", "RM[m1+1]")`` (next step), ``("tensor", "RM[M1]")``
(final) -- so the graph stays acyclic. ``("einsum", i)`` is the i-th Einsum of the cascade.
Edges: tensor -> Einsum (read), Einsum -> tensor (write), and ``kind="carry"`` edges from
the initial to the current version and from the next to the final version of a state.
"""

from __future__ import annotations

import networkx as nx

from .ir import Cascade, Name, Num, Pin, Ref, expr_refs
from .verifier import is_next_index, state_tensors


def to_networkx(cascade: Cascade) -> nx.DiGraph:
    """The cascade's dataflow DAG (see module docstring for node and edge kinds)."""
    graph = nx.DiGraph(name=cascade.name)
    states = state_tensors(cascade)
    ranks = cascade.tensor_ranks()
    rank = cascade.iterative_rank
    for t in cascade.inputs:
        graph.add_node(("tensor", t.name), kind="tensor", name=t.name, ranks=t.ranks, role="input")
    for i, e in enumerate(cascade.einsums):
        graph.add_node(("einsum", i), kind="einsum", name=e.name, text=e.text, phase=e.phase,
                       ranks=e.ranks, reduce_op=e.reduce_op, map_ops=e.map_ops, line=e.line)
        for ref in _refs(e):
            graph.add_edge(_tensor_node(graph, cascade, ref, states, ranks, rank), ("einsum", i),
                           kind="read")
        out = _written(e, states, rank)
        graph.add_node(("tensor", out), kind="tensor", name=e.name, ranks=ranks[e.name],
                       role="state" if e.name in states else "intermediate")
        graph.add_edge(("einsum", i), ("tensor", out), kind="write")
    for name in states:
        final = ("tensor", f"{name}[{rank.upper()}]")
        if final not in graph:
            graph.add_node(final, kind="tensor", name=name, ranks=ranks[name], role="state")
        for a, b in ((f"{name}[0]", f"{name}[{rank}]"),
                     (f"{name}[{rank}+1]", f"{name}[{rank.upper()}]")):
            if ("tensor", a) in graph and ("tensor", b) in graph:
                graph.add_edge(("tensor", a), ("tensor", b), kind="carry")
    for t in cascade.outputs:
        if ("tensor", t.name) in graph:
            graph.nodes["tensor", t.name]["role"] = "output"
    return graph


def _refs(e) -> list[Ref]:
    return list(dict.fromkeys(expr_refs(e.expr)))


def _written(e, states, rank) -> str:
    if e.name not in states:
        return e.name
    if any(isinstance(i, Pin) for i in e.lhs):
        return f"{e.name}[0]"
    return f"{e.name}[{rank}+1]"


def _tensor_node(graph, cascade: Cascade, ref: Ref, states, ranks, rank):
    if ref.tensor not in states:
        return ("tensor", ref.tensor)
    axis = ranks[ref.tensor].index(rank)
    index = ref.indices[axis]
    if is_next_index(ref, cascade):
        version = f"{rank}+1"
    elif index == Name(rank.upper()):
        version = rank.upper()
    elif index == Num(0):
        version = "0"
    else:
        version = rank
    node = ("tensor", f"{ref.tensor}[{version}]")
    if node not in graph:
        graph.add_node(node, kind="tensor", name=ref.tensor, ranks=ranks[ref.tensor],
                       role="state")
    return node
