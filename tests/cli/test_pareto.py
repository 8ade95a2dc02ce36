"""Pareto front against a brute-force pairwise definition."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attnforge import pareto
from attnforge.pareto import front_rows, non_dominated, plot_front


def brute_force_front(points):
    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))

    return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=3, max_size=3), min_size=1, max_size=25))
def test_matches_pairwise_definition(points):
    mask = non_dominated(np.array(points))
    assert list(np.flatnonzero(mask)) == brute_force_front(points)


def test_known_two_objective_front(tmp_path):
    rows = [{"lat": 1, "energy": 9, "n": "a"}, {"lat": 2, "energy": 2, "n": "b"},
            {"lat": 3, "energy": 3, "n": "c"}, {"lat": 9, "energy": 1, "n": "d"}]
    assert front_rows(rows, ["lat", "energy"]) == [0, 1, 3]
    path = plot_front(rows, ("lat", "energy"), ["n"], tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_group_fronts_are_taken_within_each_workload():
    # Two workloads: a small one (every config cheap) and a big one. Across workloads the small
    # one's rows would dominate every big one; within each, the fronts are found separately.
    rows = [{"w": "small", "c": "a", "t": 1.0, "e": 4.0}, {"w": "small", "c": "b", "t": 2.0,
            "e": 2.0}, {"w": "small", "c": "c", "t": 3.0, "e": 3.0},
            {"w": "big", "c": "a", "t": 10.0, "e": 80.0}, {"w": "big", "c": "b", "t": 40.0,
            "e": 40.0}, {"w": "big", "c": "c", "t": 20.0, "e": 20.0}]
    relative, on_front = pareto.group_fronts(rows, ("t", "e"), ("w",))
    # best of small: t 1, e 2; best of big: t 10, e 20
    assert relative.tolist() == [[1, 2], [2, 1], [3, 1.5], [1, 4], [4, 2], [2, 1]]
    assert on_front.tolist() == [True, True, False, True, False, True]
    assert pareto.front_rows(rows, ("t", "e")) == [0, 1]  # the global front: small rows only


def test_relative_plot_is_written_and_reproducible(tmp_path):
    rows = [{"model": m, "seq_len": n, "scope": "attention", "config": c,
             "latency_s": n * (1 + i), "energy_j": n * (3 - i)}
            for m in ("bert", "xlm") for n in (1, 4) for i, c in enumerate(("flat", "fusemax"))]
    first = pareto.plot_relative(rows, ("latency_s", "energy_j"), ("model", "seq_len", "scope"),
                                 "config", tmp_path / "a.png")
    second = pareto.plot_relative(rows, ("latency_s", "energy_j"), ("model", "seq_len", "scope"),
                                  "config", tmp_path / "b.png")
    assert first.read_bytes() == second.read_bytes() and first.stat().st_size > 1000


def test_equal_points_share_one_label_naming_each_differing_value():
    # p = 1 with and without attention reordering is the same design point: the two labels
    # used to print over each other.
    rows = [{"p": 1, "reorder": True, "x": 1.0, "y": 5.0},
            {"p": 1, "reorder": False, "x": 1.0, "y": 5.0},
            {"p": 2, "reorder": True, "x": 2.0, "y": 3.0}]
    values = np.array([[1.0, 5.0], [1.0, 5.0], [2.0, 3.0]])
    assert pareto.coincident_labels(rows, values, ("p", "reorder")) == {0: "1/True|False",
                                                                 2: "2/True"}


def test_a_colour_drawn_later_never_hides_an_equal_point_of_an_earlier_one():
    # FuseMax with GQA and without it give the same numbers when the buffer bounds K/V reuse;
    # the later colour's dot covered the earlier one exactly and its legend entry had no dot
    rows = [{"w": w, "c": c, "t": t, "e": 1.0} for w in (1, 2)
            for c, t in (("flat", 2.0), ("fusemax", 1.0), ("fusemax_gqa", 1.0))]
    figure = pareto.relative_figure(rows, ("t", "e"), ("w",), "c")
    *series, ring = figure.axes[0].collections
    sizes = [float(s.get_sizes()[0]) for s in series]
    assert len(series) == 3 and sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 3
    assert float(ring.get_sizes()[0]) > sizes[0]  # the front's ring still rings every dot
    assert [s.get_zorder() for s in series] == sorted(s.get_zorder() for s in series)
