"""A search's `space` as users write it: an integer range with fractional ends (it was silently
truncated: {low: 1.5, high: 3.5} searched 1..3, below its own low) and a range over a true/false
field (the message showed "<class 'bool'>")."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnforge.cli import main

HEAD = "version: 1\nkind: fpga\nname: s\nboard: zcu102\nsearch:\n  method: random\n  trials: 3\n" \
       "  seed: 0\n  space:\n"


def one_error(tmp_path: Path, capsys, dimension: str) -> str:
    design = tmp_path / "s.yaml"
    design.write_text(HEAD + f"    {dimension}\n")
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial"])
    _, err = capsys.readouterr()
    assert info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"attnforge: error: {design}:10:"), err
    assert not (tmp_path / "o").exists()
    return lines[0]


@pytest.mark.parametrize(("dimension", "shown"), [
    ("units.attn_p: {low: 1.5, high: 3.5}", "1.5"),
    ("units.attn_p: {low: 1, high: 3.5}", "3.5"),
    ("units.clock_mhz: {low: 100.5, high: 300, integer: true}", "100.5"),
])
def test_an_integer_range_with_a_fractional_end_is_an_error(dimension, shown, tmp_path, capsys):
    key = dimension.partition(":")[0]
    line = one_error(tmp_path, capsys, dimension)
    assert f"search.space.{key}: an integer range needs whole-number ends, not {shown}" in line


def test_a_range_over_a_true_false_field_names_the_type_in_words(tmp_path, capsys):
    line = one_error(tmp_path, capsys, "units.ping_pong: {low: 0, high: 1}")
    assert line.endswith("search.space.units.ping_pong: a low/high range needs a numeric field, "
                         "not true or false (give choices: [true, false])"), line


def test_an_integer_range_with_whole_float_ends_runs(tmp_path, capsys):
    design = tmp_path / "s.yaml"
    design.write_text(HEAD + "    units.attn_p: {low: 1.0, high: 2.0}\n")
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial",
              "--quiet"])
    _, err = capsys.readouterr()
    assert info.value.code == 0, err


def test_empty_choices_say_so(tmp_path, capsys):
    # was "search.space.units.attn_p.low: give choices, or both low and high"
    line = one_error(tmp_path, capsys, "units.attn_p: {choices: []}")
    assert line.endswith("search.space.units.attn_p.choices: must list at least one value"), line
