"""Regressions found by trying the tool commands (cascade, simulate, verilog, verify, synth) as
a new user: each bad input gets one `attnforge: error:` line naming the file, option or key,
exit code 2, no traceback, and nothing half-written left behind."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from attnforge.cli import main

DESIGNS = Path(__file__).parents[2] / "designs"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`attnforge ARGV` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def assert_one_error(result: tuple[int, str, str], *fragments: str) -> None:
    """Exit 2 and one `attnforge: error:` line on stderr containing every fragment."""
    code, _, err = result
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnforge: error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def qkv(tmp_path: Path) -> Path:
    """Q (5, 4), K (7, 4), V (7, 3) in an .npz."""
    rng = np.random.default_rng(1)
    path = tmp_path / "qkv.npz"
    np.savez(path, Q=rng.standard_normal((5, 4)), K=rng.standard_normal((7, 4)),
             V=rng.standard_normal((7, 3)))
    return path


# ----------------------------------------------------------------------------- cascade --run


def test_npz_member_that_is_not_an_npy_file(tmp_path: Path, capsys) -> None:
    # numpy.load hands back raw bytes for such a member; `.dtype` on them was a traceback.
    source = tmp_path / "junk.npz"
    with zipfile.ZipFile(source, "w") as archive:
        for name in "QKV":
            archive.writestr(f"{name}.npy", b"not an array")
    result = run(capsys, "cascade", "attention-1pass", "--run", str(source), "--out",
                 str(tmp_path / "av.npz"))
    assert_one_error(result, "junk.npz", "Q.npy")
    assert not (tmp_path / "av.npz").exists()


def test_overflowing_scores_write_nothing(tmp_path: Path, capsys) -> None:
    # Finite inputs whose Q·K overflows float64 gave an all-NaN AV and exit 0.
    source = tmp_path / "big.npz"
    np.savez(source, Q=np.full((2, 4), 1e308), K=np.full((3, 4), 1e308), V=np.ones((3, 2)))
    result = run(capsys, "cascade", "attention-1pass", "--run", str(source), "--out",
                 str(tmp_path / "av.npz"))
    assert_one_error(result, "big.npz", "not finite", "nothing written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz"]


def test_window_that_reaches_no_key_writes_nothing(qkv: Path, capsys) -> None:
    # |m - p| < 0 holds nowhere: every query row was absent, AV all NaN, exit 0.
    out = qkv.parent / "av.npz"
    result = run(capsys, "cascade", "attention-1pass-window", "--param", "W=0", "--run",
                 str(qkv), "--out", str(out))
    assert_one_error(result, "not finite")
    assert not out.exists()


def test_out_is_the_input(qkv: Path, capsys) -> None:
    # --out equal to --run replaced the user's Q, K, V by AV.
    before = qkv.read_bytes()
    result = run(capsys, "cascade", "attention-1pass", "--run", str(qkv), "--out", str(qkv))
    assert_one_error(result, "--out", "--run input")
    assert qkv.read_bytes() == before


@pytest.mark.parametrize("argv, fragments", [
    (["attention-1pass", "--param", "M0=0"], ["--param M0", "at least 1", "not 0"]),
    (["lean-decode", "--param", "C=0"], ["--param C", "rank c", "not 0"]),
    (["attention-1pass", "--param", "M0=4", "--param", "M0=8"], ["--param M0", "twice"]),
])
def test_bad_params_without_run(argv: list[str], fragments: list[str], capsys) -> None:
    # Shown (even as JSON) with an empty chunk; a repeated --param silently took the last.
    assert_one_error(run(capsys, "cascade", *argv), *fragments)


def test_missing_param_names_the_option_not_the_arrays(qkv: Path, capsys) -> None:
    result = run(capsys, "cascade", "attention-1pass-window", "--run", str(qkv), "--out",
                 str(qkv.parent / "av.npz"))
    assert_one_error(result, "--param", "W")
    assert "qkv.npz" not in result[2]


def test_run_writes_the_reference_result(qkv: Path, capsys) -> None:
    out = qkv.parent / "av.npz"
    code, _, err = run(capsys, "cascade", "attention-1pass", "--param", "M0=3", "--run",
                       str(qkv), "--out", str(out))
    assert code == 0, err
    with np.load(qkv) as data:
        q, k, v = data["Q"], data["K"], data["V"]
    logits = q @ k.T / 2.0  # sqrt(E) with E = 4
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = weights / weights.sum(axis=1, keepdims=True) @ v
    with np.load(out) as data:
        np.testing.assert_allclose(data["AV"], expected, rtol=0, atol=1e-12)
    assert sorted(p.name for p in qkv.parent.iterdir()) == ["av.npz", "qkv.npz"]
