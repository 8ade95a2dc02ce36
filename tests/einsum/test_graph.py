"""networkx export: an acyclic dataflow graph of tensor and Einsum nodes."""

import networkx as nx
import pytest

from einsum import library
from einsum.graph import to_networkx


@pytest.mark.parametrize("name", library.names())
def test_every_library_cascade_is_a_dag(name):
    cascade = library.get(name)
    graph = to_networkx(cascade)
    assert nx.is_directed_acyclic_graph(graph)
    einsum_nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == "einsum"]
    assert len(einsum_nodes) == len(cascade.einsums)
    # every Einsum reads exactly its operands (state versions count as the same tensor)
    for i, e in enumerate(cascade.einsums):
        read = {graph.nodes[u]["name"] for u in graph.predecessors(("einsum", i))}
        assert read == set(e.operands)


def test_3pass_structure():
    graph = to_networkx(library.get("attention-3pass"))
    order = [graph.nodes[n]["name"] for n in nx.topological_sort(graph)
             if graph.nodes[n]["kind"] == "einsum"]
    assert order == ["QK", "GM", "SN", "SD", "A", "AV"]
    assert graph.nodes["tensor", "AV"]["role"] == "output"
    assert graph.nodes["tensor", "Q"]["role"] == "input"
    # SN reads QK and GM; A reads SN and SD; AV reads A and V (Cascade 4)
    assert {graph.nodes[u]["name"] for u in graph.predecessors(("einsum", 2))} == {"QK", "GM"}
    assert {graph.nodes[u]["name"] for u in graph.predecessors(("einsum", 4))} == {"SN", "SD"}
    assert {graph.nodes[u]["name"] for u in graph.predecessors(("einsum", 5))} == {"A", "V"}


def test_state_versions_in_1pass():
    graph = to_networkx(library.get("attention-1pass"))
    for version in ("RM[0]", "RM[m1]", "RM[m1+1]", "RM[M1]"):
        assert ("tensor", version) in graph
    assert graph.edges[("tensor", "RM[0]"), ("tensor", "RM[m1]")]["kind"] == "carry"
    assert graph.edges[("tensor", "RM[m1+1]"), ("tensor", "RM[M1]")]["kind"] == "carry"
    # the final division reads the final states of RNV and RD
    final = len(library.get("attention-1pass").einsums) - 1
    assert set(graph.predecessors(("einsum", final))) == {("tensor", "RNV[M1]"),
                                                          ("tensor", "RD[M1]")}
