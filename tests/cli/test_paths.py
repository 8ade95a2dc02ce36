"""attnforge.paths: files are replaced whole or not at all."""

from __future__ import annotations

import pytest

from attnforge.paths import replaced_atomically


def test_a_clean_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old")
    with replaced_atomically(path) as temp:
        assert temp.parent == path.parent and temp.suffix == ".csv" and temp != path
        temp.write_text("new")
        assert path.read_text() == "old"  # readers see the old file until the rename
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "AV.npz"
    path.write_text("old")
    with pytest.raises(RuntimeError), replaced_atomically(path) as temp:
        temp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["AV.npz"]
