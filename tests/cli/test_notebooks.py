"""The notebooks are committed clean: no outputs, the venv's `python3` kernel, no local paths.

Running them is nbmake's job: `.venv/bin/python -m pytest --nbmake notebooks -p no:cacheprovider`.
"""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist():
    assert {path.name for path in NOTEBOOKS} >= {
        "fusemax_reproduction.ipynb", "edge_moe.ipynb", "design_space.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_clean(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None, cell["id"]
        source = "".join(cell["source"])
        # outputs go to a temporary directory, never a fixed path on the author's machine
        assert "/work/" not in source and "/home/" not in source, cell["id"]
    assert any("tempfile.mkdtemp" in "".join(cell["source"]) for cell in code)
