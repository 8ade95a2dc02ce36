"""Pareto front against a brute-force pairwise definition."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
