"""Sweeps: overrides on frozen trees, grids, and seeded optuna searches."""

from dataclasses import dataclass

import pytest

from attnforge.sweep import (
    Dimension,
    Search,
    apply_overrides,
    field_type,
    grid_points,
    search_points,
)


@dataclass(frozen=True, slots=True)
class Array:
    rows: int
    cols: int


@dataclass(frozen=True, slots=True)
class Design:
    array: Array
    clock_mhz: float


BASE = Design(Array(4, 4), 100.0)


def test_overrides_replace_along_the_path_and_leave_the_base_alone():
    new = apply_overrides(BASE, (("array.rows", 16), ("clock_mhz", 940.0)))
    assert new == Design(Array(16, 4), 940.0)
    assert BASE == Design(Array(4, 4), 100.0)


def test_grid_is_the_cartesian_product_first_key_slowest():
    points = grid_points({"array.rows": [1, 2], "array.cols": [3, 4, 5]})
    assert len(points) == 6
    assert points[0] == (("array.rows", 1), ("array.cols", 3))
    assert points[1] == (("array.rows", 1), ("array.cols", 4))
    assert points[-1] == (("array.rows", 2), ("array.cols", 5))


def test_field_type_and_bad_paths():
    assert field_type(Design, "array.rows") is int
    with pytest.raises(ValueError, match="did you mean 'rows'"):
        field_type(Design, "array.rowz")
    with pytest.raises(ValueError, match="has no fields"):
        field_type(Design, "clock_mhz.x")


def test_dimension_problems():
    assert Dimension(choices=(1, 2)).problems() == []
    assert Dimension(low=1, high=2).problems() == []
    assert Dimension().problems()
    assert Dimension(low=3, high=2).problems()
    assert Dimension(low=0, high=2, log=True).problems()


def _run(method: str, seed: int):
    search = Search(space={"array.rows": Dimension(low=1, high=64, integer=True),
                           "array.cols": Dimension(choices=(1, 2, 4, 8))},
                    method=method, trials=40, batch=8, seed=seed)

    def evaluate(points):
        rows = []
        for point in points:
            design = apply_overrides(BASE, point)
            area = design.array.rows * design.array.cols
            rows.append({"latency": 1.0 / area, "area": float(area)})
        return rows

    return search_points(search, ["latency", "area"], evaluate)


@pytest.mark.parametrize("method", ["random", "nsga2"])
def test_search_is_seeded(method):
    first, again, other = _run(method, 1), _run(method, 1), _run(method, 2)
    assert len(first) == 40
    assert [p for p, _ in first] == [p for p, _ in again]
    assert [p for p, _ in first] != [p for p, _ in other]
    assert all(1 <= dict(p)["array.rows"] <= 64 for p, _ in first)


def test_search_varies_comma_joined_fields_together():
    # A comma-joined key picks one of its value lists per trial (fields tied by a rule).
    search = Search(space={"array.rows, array.cols": Dimension(choices=((1, 1), (2, 2), (4, 4))),
                           "clock_mhz": Dimension(low=100.0, high=200.0)},
                    method="random", trials=10, batch=5, seed=0)

    def evaluate(points):
        return [{"area": float(apply_overrides(BASE, p).array.rows ** 2)} for p in points]

    found = search_points(search, ["area"], evaluate)
    assert len(found) == 10
    for point, row in found:
        values = dict(point)
        assert list(values) == ["array.rows", "array.cols", "clock_mhz"]
        assert values["array.rows"] == values["array.cols"] in (1, 2, 4)
        assert row["area"] == values["array.rows"] * values["array.cols"]
