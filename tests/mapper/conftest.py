"""Shared fixtures: the shipped paper design and small architectures for brute-force checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnforge.specload import load_spec
from mapper.spec import Design

DESIGNS = Path(__file__).parents[2] / "designs"


@pytest.fixture(scope="session")
def paper() -> Design:
    return load_spec(DESIGNS / "fusemax-paper.yaml", Design)
