"""specload: YAML → frozen dataclasses, every problem with file:line:col and dotted key."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

import pytest

from attnforge.specload import SpecError, load_spec, load_spec_text


class Dataflow(Enum):
    OS = "os"
    WS = "ws"


@dataclass(frozen=True, slots=True)
class Array:
    rows: int = field(metadata={"min": 1})
    cols: int = field(default=4, metadata={"min": 1})


@dataclass(frozen=True, slots=True)
class Arch:
    pe_array: Array
    clock_mhz: float = field(default=940.0, metadata={"gt": 0})
    dataflow: Dataflow = Dataflow.OS
    mode: Literal["fast", "exact"] = "fast"
    sizes: tuple[int, ...] = ()
    costs: dict[str, float] = field(default_factory=dict)

    def problems(self):
        if self.pe_array.rows * self.pe_array.cols > 10_000:
            return [("pe_array.rows", "the array has more than 10000 PEs")]
        return []


@dataclass(frozen=True, slots=True)
class Root:
    arch: Arch
    name: str | None = None


HEADER = "version: 1\nkind: test\n"


def load(body: str) -> Root:
    return load_spec_text(HEADER + body, Root, "d.yaml")


def messages(body: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(body)
    return [str(problem) for problem in caught.value.problems]


def test_builds_typed_frozen_tree_with_defaults():
    root = load("arch:\n  pe_array: {rows: 8}\n  dataflow: ws\n  sizes: [1, 2]\n"
                "  costs: {mac: 1.5}\n  clock_mhz: 500\n")
    assert root == Root(Arch(Array(8, 4), 500.0, Dataflow.WS, "fast", (1, 2), {"mac": 1.5}))
    assert isinstance(root.arch.clock_mhz, float)


def test_every_problem_reported_at_once_with_position_and_key():
    found = messages("arch:\n  pe_aray: {rows: 4}\n  clock_mhz: -3\n  dataflow: oss\n")
    assert found == [
        "d.yaml:4:3: arch.pe_aray: unknown key; did you mean 'pe_array'? "
        "(valid keys: pe_array, clock_mhz, dataflow, mode, sizes, costs)",
        "d.yaml:4:3: arch.pe_array: missing required key",
        "d.yaml:5:14: arch.clock_mhz: must be greater than 0, not -3.0",
        "d.yaml:6:13: arch.dataflow: must be one of 'os', 'ws', not 'oss'; did you mean 'os'?",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("arch:\n  pe_array: {rows: 0}\n", "d.yaml:4:20: arch.pe_array.rows: must be at least 1, not 0"),
        ("arch:\n  pe_array: {rows: x}\n", "d.yaml:4:20: arch.pe_array.rows: must be an integer, not 'x'"),
        ("arch:\n  pe_array: {rows: true}\n", "arch.pe_array.rows: must be an integer, not True"),
        ("arch:\n  pe_array: {rows: 2}\n  sizes: [1, a]\n", "d.yaml:5:14: arch.sizes[1]: must be an integer"),
        ("arch:\n  pe_array: {rows: 2}\nname: [1]\n", "d.yaml:5:7: name: must be a string, not a list"),
        ("arch:\n  pe_array: {rows: 200, cols: 200}\n", "d.yaml:4:20: arch.pe_array.rows: the array has more"),
        ("arch:\n  pe_array: {rows: 2}\n  pe_array: {rows: 3}\n", "d.yaml:5:3: arch.pe_array: duplicate key"),
        ("arch: 3\n", "d.yaml:3:7: arch: must be a mapping, not a scalar"),
        ("arch:\n  pe_array: {rows: 2}\n  mode: slow\n", "arch.mode: must be one of 'fast', 'exact'"),
    ],
)
def test_single_problem_messages(body, expected):
    (found,) = messages(body)
    assert expected in found


def test_header_is_required():
    with pytest.raises(SpecError) as caught:
        load_spec_text("version: 2\narch: {pe_array: {rows: 1}}\n", Root, "d.yaml")
    text = str(caught.value)
    assert "d.yaml:1:10: version: must be one of 1, not 2" in text
    assert "kind: missing required key" in text


@pytest.mark.parametrize("text", ["a: [\n", "", "- 1\n- 2\n", "version: 1\nkind: [x]\n"])
def test_malformed_files_raise_spec_error(text):
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, Root, "d.yaml")
    assert str(caught.value).startswith("d.yaml:")


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "absent.yaml", Root)
