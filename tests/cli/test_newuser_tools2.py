"""Round-2 regressions from trying the tools beyond `explore` as a new user (cascade files,
simulate, the rtl commands, explain, the bench scripts): each bad input is one clear error
naming the file, option or key, with a non-zero exit and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.inprocess import one_error, run

ROOT = Path(__file__).parents[2]

THREE_PASS = """\
cascade mine
input Q[e,p], K[e,m], V[f,m]
output AV[f,p]
QK[m,p] = Q[e,p] * K[e,m]
GM[p] = max[m] QK[m,p]
SN[m,p] = exp(QK[m,p] - GM[p])
SD[p] = SN[m,p]
A[m,p] = SN[m,p] / SD[p]
AV[f,p] = A[m,p] * V[f,m]
"""


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("max[m] QK", "max[z] QK", "Einsum GM (line 5"),  # a reduction over a rank it lacks
    ("A[m,p] * V", "X[m,p] * V", "reads X"),  # a tensor never defined
])
def test_an_inconsistent_cascade_file_is_named(old, new, fragment, tmp_path, capsys):
    # The verifier's message named the cascade and line but not the file that holds them.
    path = tmp_path / "mine.af"
    path.write_text(THREE_PASS.replace(old, new))
    line = one_error(run(capsys, "cascade", str(path)))
    assert line.startswith(f"attnforge: error: {path}: cascade mine: "), line
    assert fragment in line, line
