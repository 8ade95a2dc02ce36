"""A design whose figures leave float64 (a clock hundreds of orders of magnitude below a real
one, a DDR energy near float64's largest) is an error naming the point and the figure, in
explore's rows and in explain alike: it was an `inf` latency, a `nan%` share and exit 0 in
explore, and an OverflowError traceback in explain."""

from __future__ import annotations

import math

import pytest

from einsum.errors import InputError
from fpga.explain import explain
from fpga.explore import points, row
from fpga.spec import FpgaDesign, Power, Techniques, Units

# 129 tokens take millions of cycles; at 1e-320 MHz (1e-317 cycles a millisecond, a subnormal)
# that is beyond float64's largest, about 1.8e308 ms
TINY_CLOCK = Units(clock_mhz=1e-320)
# a picojoule figure near float64's largest times 159.5 MB per image overflows
HUGE_DDR_ENERGY = Power(ddr_pj_per_byte=1e308)


def design(units: Units | None = None, power: Power | None = None) -> FpgaDesign:
    return FpgaDesign(name="d", board="u280", units=units or Units(), power=power or Power(),
                      configs={"final": Techniques()})


@pytest.mark.parametrize(("spec", "figure"), [
    (design(units=TINY_CLOCK), "latency_ms comes out inf"),
    (design(power=HUGE_DDR_ENERGY), "power_w comes out inf"),
])
def test_a_figure_beyond_float64_is_an_error_in_explore_and_explain(spec, figure):
    (point,) = points(spec)
    with pytest.raises(InputError) as in_row:
        row(spec, point)
    with pytest.raises(InputError) as in_explain:
        explain(spec, "final", spec.units)
    for caught in (in_row, in_explain):
        message = str(caught.value)
        assert message.startswith("d: config final: ") and figure in message
        assert "beyond float64" in message and "\n" not in message


def test_an_ordinary_design_is_not_refused():
    """The check must not fire on the paper's design (its figures are finite)."""
    spec = design()
    (point,) = points(spec)
    assert math.isfinite(row(spec, point)["latency_ms"])
    assert explain(spec, "final", spec.units).splitlines()[-1] == "fits u280"
