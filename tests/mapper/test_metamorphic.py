"""Metamorphic tests of the mapper off the paper's points (fusemax.md §3-§5): relations that
hold by algebra or first principles for every array shape, buffer, bandwidth, word size and
workload, checked on seeded varied designs (`tests/mapper/varied.py`). Each test's docstring
states its relation; no expected value is taken from the model's own output."""

from __future__ import annotations

import pytest

from mapper.context import Workload

from .varied import resized, run

CASCADES = ["attention-1pass", "attention-2pass", "attention-3pass"]


def _score_einsums(name: str) -> tuple[str, str]:
    return ("QK", "AV") if name == "attention-3pass" else ("BQK", "SLNV")


@pytest.mark.parametrize("cascade", CASCADES)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize(("rows", "cols", "e", "f", "p", "m"), [
    (256, 256, 64, 64, 1000, 1000), (16, 40, 96, 128, 100, 333), (48, 8, 128, 96, 77, 700),
    (32, 32, 64, 64, 1024, 4096)])
def test_contraction_macs_are_p_m_e_and_p_m_f(paper, cascade, fused, rows, cols, e, f, p, m):
    """QK and AV do P·M·E and P·M·F multiply-accumulates per head in every cascade, fused or
    not, whatever the tiling: a split's partial last chunk has fewer keys (its missing points
    are absent, `einsum.execute`), so padding the chunk to M0 adds array time, not MACs."""
    if cascade == "attention-2pass" and not fused:
        pytest.skip("the unfused mapper refuses the 2-pass cascade (SD has no p-less operand)")
    arch = resized(paper.architectures["fusemax"], rows, cols)
    _, actions, _ = run(paper, "fusemax", arch, Workload(2, 3, e, f, p, m), cascade=cascade,
                        fused=fused)
    qk, av = _score_einsums(cascade)
    assert actions.busy_2d_by_einsum[qk] == 6 * p * m * e
    assert actions.busy_2d_by_einsum[av] == 6 * p * m * f
