"""Parallel coordinates and the self-contained HTML page of an exploration."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnforge import report_html
from attnforge.explorer import explore
from attnforge.kinds import feasible_key_of, label_keys_of, objectives_of
from attnforge.pareto import normalise_axes, plot_parallel, spread
from attnforge.report_html import write_html

DESIGNS = Path(__file__).resolve().parents[2] / "designs"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def brute_force_front(points):
    def dominates(a, b):
        return (all(x <= y for x, y in zip(a, b, strict=True))
                and any(x < y for x, y in zip(a, b, strict=True)))

    return {i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)}


class TableRows(HTMLParser):
    """The text of every cell of the table with id 'front', row by row."""

    def __init__(self):
        super().__init__()
        self.rows, self.inside, self.cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "front") in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def front_indices(page: str) -> tuple[list[str], set[int]]:
    parser = TableRows()
    parser.feed(page)
    head, *body = parser.rows
    return head, {int(cells[0]) for cells in body}


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"',
                                                         page)]


def assert_self_contained(page: str):
    assert not re.search(r"https?:", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


# --- normalisation and label placement of the parallel-coordinates plot ----------------------


def test_normalise_axes_matches_hand_computation():
    values = np.array([[1.0, 5.0, -1.0, 7.0], [10.0, 3.0, 1.0, 7.0], [100.0, 4.0, 3.0, 7.0]])
    got = normalise_axes(values, log=True)
    # column 0 on log10: 0, 1, 2 → 0, 0.5, 1; column 1 on log10 between log 3 and log 5;
    # column 2 has a negative value so it stays linear; column 3 is constant → 0.5.
    l3, l4, l5 = np.log10([3.0, 4.0, 5.0])
    expected = np.array([[0.0, 1.0, 0.0, 0.5], [0.5, 0.0, 0.5, 0.5],
                         [1.0, (l4 - l3) / (l5 - l3), 1.0, 0.5]])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(normalise_axes(values, log=False)[:, 0], [0.0, 9 / 99, 1.0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(1e-3, 1e3), min_size=3, max_size=3), min_size=1, max_size=20),
       st.booleans())
def test_normalise_axes_keeps_order_within_unit_interval(points, log):
    values = np.array(points)
    got = normalise_axes(values, log)
    assert got.min() >= 0 and got.max() <= 1
    for column in range(values.shape[1]):
        a, b = np.meshgrid(values[:, column], values[:, column])
        ga, gb = np.meshgrid(got[:, column], got[:, column])
        assert not ((a < b) & (ga > gb)).any()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_spread_labels_keep_gap_and_order(heights):
    gap = 0.05
    placed = spread(heights, gap)
    order = sorted(range(len(heights)), key=lambda i: (heights[i], i))
    ranked = [placed[i] for i in order]
    assert all(b - a >= gap - 1e-9 for a, b in zip(ranked, ranked[1:], strict=False))
    # groups are centred on their labels' heights, so the mean height is kept
    assert abs(sum(placed) - sum(heights)) <= 1e-9 * len(heights)


def test_spread_centres_a_crowded_group():
    # three labels at 0.5 and one far away: the three sit gap apart around 0.5
    assert spread([0.5, 0.5, 0.9, 0.5], 0.1) == pytest.approx([0.4, 0.5, 0.9, 0.6])


def test_spread_leaves_separated_labels_in_place():
    assert spread([0.9, 0.1, 0.5], 0.05) == [0.9, 0.1, 0.5]


def test_parallel_plot_is_a_reproducible_png(tmp_path):
    rows = [{"a": 1, "b": 9, "c": 3, "n": "x"}, {"a": 2, "b": 2, "c": 2, "n": "y"},
            {"a": 3, "b": 3, "c": 3, "n": "z"}]
    first = plot_parallel(rows, ("a", "b", "c"), ["n"], tmp_path / "p1.png").read_bytes()
    second = plot_parallel(rows, ("a", "b", "c"), ["n"], tmp_path / "p2.png").read_bytes()
    assert first[:8] == PNG_MAGIC and first == second


# --- the HTML page ---------------------------------------------------------------------------


def random_rows(seed: int, count: int = 40):
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 8, size=(count, 3))
    return [{"name": f"p{i}", "size": int(rng.integers(1, 4)), "lat": float(v[0]),
             "dsp": int(v[1]), "bram": float(v[2]) / 2} for i, v in enumerate(values)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_page_table_is_the_brute_force_front(tmp_path, seed):
    rows = random_rows(seed)
    objectives = ("lat", "dsp", "bram")
    path = write_html(rows, objectives, ["name", "size"], tmp_path / "r.html", "random",
                      summary="a <summary> & text")
    page = path.read_text(encoding="utf-8")
    head, shown = front_indices(page)
    expected = brute_force_front([[row[k] for k in objectives] for row in rows])
    assert shown == expected and 1 <= len(expected) < len(rows)
    assert head[:6] == ["#", "name", "size", "lat", "dsp", "bram"]
    for index in expected:
        assert f"<td class=\"text\">{rows[index]['name']}</td>" in page
    assert "a &lt;summary&gt; &amp; text" in page
    assert_self_contained(page)
    # one parallel-coordinates plot and one 2D front per pair of the three objectives
    pngs = embedded_pngs(page)
    assert len(pngs) == 1 + 3 and all(png[:8] == PNG_MAGIC for png in pngs)


def test_page_is_reproducible_and_two_objectives_have_no_parallel_plot(tmp_path):
    rows = random_rows(3, 15)
    first = write_html(rows, ("lat", "dsp"), ["name"], tmp_path / "a.html", "t").read_bytes()
    second = write_html(rows, ("lat", "dsp"), ["name"], tmp_path / "b.html", "t").read_bytes()
    assert first == second
    assert len(embedded_pngs(first.decode())) == 1
    assert not list(tmp_path.glob(".*.tmp*"))


def test_page_without_objectives_says_so(tmp_path):
    page = write_html([{"a": 1}], (), (), tmp_path / "r.html", "none").read_text()
    assert "names no objectives" in page and "<table" not in page


def test_extra_images_are_embedded(tmp_path):
    png = b"\x89PNG\r\n\x1a\nnot really"
    page = write_html(random_rows(4, 5), ("lat", "dsp"), ["name"], tmp_path / "r.html", "t",
                      images=[("kind plot", png)]).read_text()
    assert png in embedded_pngs(page) and "kind plot" in page


# --- objectives and labels of a kind -------------------------------------------------------


class Bare:
    name = "bare"


class WithMethods(Bare):
    def objectives(self, design):
        return ("x", "y", "z")

    def label_keys(self, design):
        return ("k",)


class DesignWithObjectives:
    objectives = ("lat", "dsp")


def test_objectives_and_labels_fall_back():
    rows = [{"name": "a", "const": 1, "size": 2, "lat": 1.0, "dsp": 3, "other": "q"},
            {"name": "b", "const": 1, "size": 3, "lat": 2.0, "dsp": 1, "other": "r"}]
    assert objectives_of(WithMethods(), object()) == ("x", "y", "z")
    assert objectives_of(Bare(), DesignWithObjectives()) == ("lat", "dsp")
    assert objectives_of(Bare(), object()) == ()
    assert label_keys_of(WithMethods(), object(), rows, ("lat",)) == ("k",)
    # leading columns before the first objective, without the constant one
    assert label_keys_of(Bare(), object(), rows, ("lat", "dsp")) == ("name", "size")


# --- `explore` writes report.html for every kind ---------------------------------------------


@pytest.mark.parametrize("design", ["fusemax-pareto.yaml", "edge-moe-zcu102.yaml"])
def test_explore_writes_a_self_contained_page(tmp_path, design):
    from attnforge.backends import BackendChoice
    from attnforge.explorer import plan

    outcome = explore(DESIGNS / design, tmp_path, BackendChoice("serial"))
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    the_plan = plan(DESIGNS / design)
    objectives = objectives_of(the_plan.kind, the_plan.design)
    assert len(objectives) >= 2
    _, shown = front_indices(page)
    # a row the kind marks impossible (an fpga point that does not fit) is on no front
    feasible = feasible_key_of(the_plan.kind, the_plan.design)
    kept = [i for i, r in enumerate(outcome.rows) if not feasible or r[feasible]]
    front = brute_force_front([[float(outcome.rows[i][k]) for k in objectives] for i in kept])
    assert shown == {kept[i] for i in front}
    # the kind's own pareto.png is embedded byte for byte
    assert (tmp_path / "pareto.png").read_bytes() in embedded_pngs(page)


def test_fronts_are_per_workload_when_the_kind_names_workload_keys(tmp_path):
    # Two workloads of very different size: across them the small one's rows dominate every
    # big one; with workload keys each workload gets its own front (hand-worked: in each, the
    # fast config and the frugal one are on it, the third is dominated by the frugal one).
    rows = [{"model": m, "config": c, "latency_s": scale * t, "energy_j": scale * e}
            for m, scale in (("small", 1.0), ("big", 100.0))
            for c, t, e in (("fast", 1.0, 4.0), ("frugal", 2.0, 2.0), ("neither", 3.0, 3.0))]
    path = report_html.write_html(rows, ("latency_s", "energy_j"), ("config",),
                                  tmp_path / "r.html", "t", workload_keys=("model",))
    text = path.read_text()
    assert "4 of 6 points are not dominated" in text and "2 workloads" in text
    table = text[text.index('<table id="front">'):]
    assert table.count("<tr><td>") == 4 and "neither" not in table
    plain = report_html.write_html(rows, ("latency_s", "energy_j"), ("config",),
                                   tmp_path / "g.html", "t").read_text()
    assert "2 of 6 points are not dominated" in plain  # the global front: small's two
