"""Fuzzed bad design files never give a traceback or a results file: one message, exit 2.

Every shipped design file is mutated so that it is certainly invalid (a value of the wrong YAML
shape, an unknown key, broken YAML syntax, a bad header) and fed to ``attnforge explore``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnforge.cli import main

DESIGNS = sorted((Path(__file__).parents[2] / "designs").glob("*.yaml"))
# the command that consumes each kind of design file
COMMAND = {"rtl": "verilog"}


def _paths(node, path=()):
    """Every (path, value) in a parsed YAML tree; path items are keys or list indices."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _set(tree, path, value):
    if not path:
        return value
    *parents, last = path
    target = tree
    for part in parents:
        target = target[part]
    target[last] = value
    return tree


def _wrong_shape(value, junk):
    if isinstance(value, dict):
        return [junk] if junk else "not-a-mapping"
    if isinstance(value, list):
        return {"not_a_list": junk}
    return [[junk], {"x": junk}]


@st.composite
def bad_design_text(draw, source: str) -> str:
    tree = yaml.safe_load(source)
    mutation = draw(st.sampled_from(["shape", "unknown_key", "syntax", "header"]))
    junk = draw(st.one_of(st.integers(-10**6, 10**6), st.text(max_size=5), st.none(), st.booleans()))
    if mutation == "syntax":
        lines = source.splitlines()
        at = draw(st.integers(0, len(lines)))
        bad = draw(st.sampled_from(["key: [unclosed", "\tkey: tab", "key: {a: 1", ": : :", "- - -\n  x"]))
        return "\n".join(lines[:at] + [bad] + lines[at:]) + "\n"
    if mutation == "header":
        key = draw(st.sampled_from(["version", "kind"]))
        tree[key] = draw(st.sampled_from([99, "no-such-kind", None, [1]]))
        return yaml.safe_dump(tree, sort_keys=False)
    mappings = [(p, v) for p, v in _paths(tree) if isinstance(v, dict) and p[:1] != ("kind",)]
    if mutation == "unknown_key":
        path, mapping = draw(st.sampled_from(mappings))
        mapping[f"zz_unknown_{draw(st.integers(0, 99))}"] = [[junk]]
        return yaml.safe_dump(tree, sort_keys=False)
    paths = [(p, v) for p, v in _paths(tree) if p and p[0] not in ("version", "kind")]
    path, value = draw(st.sampled_from(paths))
    return yaml.safe_dump(_set(tree, path, _wrong_shape(value, junk)), sort_keys=False)


@pytest.mark.skipif(not DESIGNS, reason="no design files shipped yet")
@pytest.mark.parametrize("design", DESIGNS, ids=[p.name for p in DESIGNS])
def test_fuzzed_design_files_fail_cleanly(design, tmp_path_factory, capsys):
    runs = max(1, 1000 // len(DESIGNS) + 1)  # at least 1,000 bad files over all designs
    command = COMMAND.get(yaml.safe_load(design.read_text()).get("kind"), "explore")
    seen = []

    @settings(max_examples=runs, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(text=bad_design_text(design.read_text()))
    def check(text):
        work = tmp_path_factory.mktemp("fuzz")
        bad = work / "bad.yaml"
        bad.write_text(text)
        seen.append(text)
        out = work / "out"
        with pytest.raises(SystemExit) as exited:
            main([command, str(bad), "--out", str(out)] + (["--quiet"] if command == "explore" else []))
        captured = capsys.readouterr()
        assert exited.value.code == 2, captured.err
        assert "Traceback" not in captured.err + captured.out
        assert captured.err.startswith("attnforge: error: ")
        assert str(bad) in captured.err
        assert not out.exists() or not any(out.iterdir()), "no output for a bad design"

    check()
    assert len(seen) >= runs
