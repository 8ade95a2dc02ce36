"""The paper's headline averages (fusemax.md §8), from the shipped design file.

Speedups must come within 5% of the published averages, and so must the energy ratios over
Unfused. The energy ratios over FLAT are known not to (the model's FLAT spends too little energy
beyond its MACs, see docs/mapper.md): the strict xfail flags the day they do. Every claim is
checked under both cost-table presets (the shipped design's fusemax-md and accelergy-artifact).
"""

from __future__ import annotations

import dataclasses

import pytest

from mapper import evaluate as ev
from mapper import summary
from mapper.spec import CostTable


@pytest.fixture(scope="module", params=["fusemax-md", "accelergy-artifact"])
def rows(paper, request):
    design = dataclasses.replace(paper, cost_table=CostTable(preset=request.param))
    return [ev.row(design, point) for point in ev.points(design)
            if point.config in ("fusemax", "flat", "unfused")]


CLAIMS = [("flat", "attention", 6.7, 0.79), ("unfused", "attention", 10.0, 0.77),
          ("flat", "end_to_end", 5.3, 0.83), ("unfused", "end_to_end", 7.6, 0.82)]


@pytest.mark.parametrize("baseline,scope,speedup,energy", CLAIMS)
def test_average_speedup_within_5_percent(rows, baseline, scope, speedup, energy):
    ours, _ = summary.averages(rows, "fusemax", baseline, scope)
    assert ours == pytest.approx(speedup, rel=0.05)


OFF = pytest.mark.xfail(strict=True, reason="FLAT's energy beyond its MACs is under-modelled")
ENERGY_CLAIMS = [pytest.param(*claim, marks=OFF) if claim[0] == "flat" else claim
                 for claim in CLAIMS]


@pytest.mark.parametrize("baseline,scope,speedup,energy", ENERGY_CLAIMS)
def test_average_energy_ratio_within_5_percent(rows, baseline, scope, speedup, energy):
    _, ours = summary.averages(rows, "fusemax", baseline, scope)
    assert ours == pytest.approx(energy, rel=0.05)


def test_end_to_end_at_1m_tokens(rows):
    at_1m = [r for r in rows if r["seq_len"] == 1048576]
    for baseline, published in (("unfused", 10.0), ("flat", 7.5)):
        found = summary.ratios(at_1m, "fusemax", baseline, "end_to_end")
        mean = sum(f[2] for f in found) / len(found)
        assert mean == pytest.approx(published, rel=0.1)


def test_xlm_gains_least_over_flat(rows):
    found = summary.ratios(rows, "fusemax", "flat", "attention")
    by_model = {m: [f[2] for f in found if f[0] == m] for m in {f[0] for f in found}}
    assert max(by_model["xlm"]) < min(min(v) for m, v in by_model.items() if m != "xlm")
    assert 3.0 < min(f[2] for f in found) and max(f[2] for f in found) < 9.5
