"""The `kind: rtl` design-file parameter types default to exactly the golden models' formats
(they are written out in rtl/spec.py for the loader; this keeps them from drifting)."""

from __future__ import annotations

import dataclasses

import pytest

from fpga.golden.exp import ExpFormat
from fpga.golden.gelu import GeluFormat
from rtl.spec import ExpParams, GeluParams


def defaults(cls) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls)}


@pytest.mark.parametrize(("params", "golden"), [(GeluParams, GeluFormat), (ExpParams, ExpFormat)])
def test_design_defaults_equal_the_golden_formats(params, golden):
    assert defaults(params) == {k: v for k, v in defaults(golden).items() if k in defaults(params)}
    assert set(defaults(params)) <= set(defaults(golden))
