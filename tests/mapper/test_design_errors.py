"""Bad `accelerator` design files: one clear message, exit code 2, no traceback, no results."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnforge.cli import main
from tests.mapper.designs import WINDOW_DESIGN

PAPER = Path(__file__).parents[2] / "designs" / "fusemax-paper.yaml"


def _run(tmp_path: Path, text: str, capsys, command: str = "explore") -> tuple[int, str]:
    design = tmp_path / "bad.yaml"
    design.write_text(text)
    args = [command, str(design)] + (["--out", str(tmp_path / "out"), "--backend", "serial",
                                      "--quiet"] if command == "explore" else [])
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "results.csv").exists()
    return exit_info.value.code, err


@pytest.mark.parametrize("old,new,line_part,words", [
    ("    word_bytes: 2\n  flat:", "    word_bytes: 2\n    clock_mhx: 1\n  flat:",
     "architectures.fusemax.clock_mhx", ["unknown key", "did you mean 'clock_mhz'"]),
    ("      rows: 256\n      cols: 256\n      pe: {mac: true, add: true, max: true,",
     "      rows: many\n      cols: 256\n      pe: {mac: true, add: true, max: true,",
     "architectures.fusemax.array_2d.rows", ["int"]),
    ("buffer: {buffer_bytes: 16777216,", "buffer: {buffer_bytes: -5,",
     "architectures.fusemax.buffer.buffer_bytes", ["must be at least 1, not -5"]),
    ("buffer: {buffer_bytes: 16777216,", "buffer: {buffer_bytes: 4096,",
     "architectures.fusemax.buffer.buffer_bytes", ["too small for any mapping"]),
    ("  models: [bert, trxl, t5, xlm]", "  models: [bert, trxl, t5, xml]",
     "sweep.models[3]", ["unknown model 'xml'", "did you mean 'xlm'"]),
    # the shipped cost table prices each buffer with CACTI: an organisation its table lacks
    ("row_bits: 4096, banks: 32}", "row_bits: 4096, banks: 3}",
     "architectures.fusemax.buffer.banks", ["no 3 banks", "1, 2, 4, 8, 16, 32, 64"]),
    ("buffer: {buffer_bytes: 33554432,", "buffer: {buffer_bytes: 335544320,",
     "architectures.flat.buffer.buffer_bytes", ["covers", "not 335544320"]),
    # 2**28 tokens overflowed int64 counts silently (2D MACs 3% of the energy), 2**32 crashed
    ("  seq_lens: [1024,", "  seq_lens: [268435456,", "sweep.seq_lens[0]",
     ["must be an integer in 1..16,777,216, not 268435456"]),
])
@pytest.mark.parametrize("command", ["explore", "explain"])
def test_bad_design_gives_one_message_and_exit_2(tmp_path, capsys, old, new, line_part, words,
                                                 command):
    text = PAPER.read_text()
    assert old in text
    code, err = _run(tmp_path, text.replace(old, new, 1), capsys, command)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "bad.yaml:" in lines[0] and line_part in lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def test_unknown_cascade_in_a_config_is_one_message(tmp_path, capsys):
    text = PAPER.read_text().replace("cascade: attention-3pass, architecture: flat, fused: false",
                                     "cascade: attention-3pas, architecture: flat, fused: false")
    code, err = _run(tmp_path, text, capsys, "explain")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "configs.unfused.cascade" in err and "did you mean 'attention-3pass'" in err


def test_unknown_cascade_and_bind_are_reported_at_their_keys(tmp_path, capsys):
    text = PAPER.read_text().replace(
        "fusemax:      {cascade: attention-1pass, architecture: fusemax, fused: true,",
        "fusemax:      {cascade: attention-1pass, bind: {SLNX: 1d}, architecture: fusemax, "
        "fused: true,")
    code, err = _run(tmp_path, text, capsys, "explore")
    assert code == 2 and "configs.fusemax.bind.SLNX" in err and "unknown Einsum (of attention-1pass) 'SLNX'; did you mean 'SLN" in err


@pytest.mark.parametrize("command", ["explore", "explain"])
def test_unknown_cascade_parameter_is_reported_at_its_params_key(tmp_path, capsys, command):
    # it was reported at configs.win.cascade (7:18, the cascade's value)
    text = WINDOW_DESIGN.replace("params: {W: 8}", "params: {W: 8, Wx: 4096}")
    code, err = _run(tmp_path, text, capsys, command)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    line = WINDOW_DESIGN.splitlines()[6]
    col = line.index("params: {W: 8}") + len("params: {W: 8, Wx: ") + 1
    assert f"bad.yaml:7:{col}: configs.win.params.Wx: cascade attention-1pass-window has no " \
        "parameter 'Wx'; its parameters: M0, W; did you mean 'W'?" in err, err

