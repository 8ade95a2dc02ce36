"""YAML features users reach for in design files: merge keys (`<<: *base`) to share a
configuration's fields. They were a ConstructorError traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from attnforge.cli import main
from attnforge.specload import SpecError, load_spec_text


@dataclass(frozen=True, slots=True)
class Techniques:
    a: bool = False
    b: bool = False
    c: int = 0


@dataclass(frozen=True, slots=True)
class Root:
    configs: dict[str, Techniques] = field(default_factory=dict)


HEADER = "version: 1\nkind: t\n"


def load(body: str) -> Root:
    return load_spec_text(HEADER + body, Root, "m.yaml")


def test_a_merge_key_copies_the_anchored_fields_and_own_keys_win():
    root = load("configs:\n  base: &base {a: true, b: true, c: 3}\n"
                "  other:\n    <<: *base\n    b: false\n")
    assert root.configs == {"base": Techniques(True, True, 3), "other": Techniques(True, False, 3)}


def test_a_list_of_merges_takes_the_first_source_of_each_key():
    root = load("configs:\n  x: &x {a: true, c: 1}\n  y: &y {c: 2, b: true}\n"
                "  z:\n    <<: [*x, *y]\n")
    assert root.configs["z"] == Techniques(True, True, 1)


def test_a_merged_key_that_is_unknown_is_reported_where_it_is_written():
    with pytest.raises(SpecError) as caught:
        load("configs:\n  base: &base {a: true, d: 1}\n  other:\n    <<: *base\n")
    found = {(p.line, p.key) for p in caught.value.problems}
    assert found == {(4, "configs.base.d"), (4, "configs.other.d")}


@pytest.mark.parametrize("value", ["3", "[1, 2]"])
def test_a_merge_of_something_that_is_not_a_mapping_is_one_problem(value):
    with pytest.raises(SpecError) as caught:
        load(f"configs:\n  other:\n    <<: {value}\n")
    (problem,) = caught.value.problems
    assert problem.line == 5 and "<<" in problem.key and "mapping" in problem.message


def test_explore_an_fpga_design_with_a_merge_key(tmp_path: Path, capsys) -> None:
    design = tmp_path / "merge.yaml"
    design.write_text(
        "version: 1\nkind: fpga\nname: merge\nboard: zcu102\nconfigs:\n"
        "  base: &base {patch_reorder: true, single_pass_softmax: true, gelu_approx: true,\n"
        "                unified_linear: true, attention_reorder: false}\n"
        "  reorder:\n    <<: *base\n    attention_reorder: true\n")
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o"), "--backend", "serial",
              "--quiet"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert "merge on zcu102: 2 points" in out


# ----------------------------------------------------------------------------- unreadable values
# A tag PyYAML's safe loader cannot construct (`!foo`, `!!python/object`, the `=` value key)
# was a ConstructorError traceback wherever the value was first read.


@pytest.mark.parametrize(("body", "col"), [("configs:\n  x: !foo {a: true}\n  y: {a: !bar 1}\n", 10),
                                           ("configs: {x: {a: =}}\n", 18),
                                           ("configs: {x: {a: !!python/object:os.system x}}\n", 18),
                                           ("!k configs: {}\n", 1)])
def test_a_value_with_an_unknown_tag_is_one_problem(body, col):
    with pytest.raises(SpecError) as caught:
        load(body)
    (problem,) = caught.value.problems
    assert (problem.line - 2, problem.col) == (body.count("\n"), col), problem
    assert "cannot read" in problem.message
    assert problem.key in ("configs.y.a", "configs.x.a", "")  # "" for a key that is unreadable


def test_explore_a_design_with_an_unknown_tag(tmp_path: Path, capsys) -> None:
    design = tmp_path / "tag.yaml"
    design.write_text("version: 1\nkind: fpga\nname: !custom x\nboard: zcu102\n")
    with pytest.raises(SystemExit) as info:
        main(["explore", str(design), "--out", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert info.value.code == 2 and err.startswith(f"attnforge: error: {design}:3:7: "), err
    assert len(err.strip().splitlines()) == 1
