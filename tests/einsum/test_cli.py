"""`attnforge cascades` / `attnforge cascade`: output, JSON, --run, and bad input (exit 2)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attnforge.cli import main


def run(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def softmax_attention(q, k, v):
    logits = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    w = np.exp(logits - logits.max(-1, keepdims=True))
    return (w / w.sum(-1, keepdims=True)) @ v


def test_cascades_table(capsys):
    code, out, _ = run(capsys, "cascades")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    # fusemax.md §3: Cascade 4 is QK, GM | SN, SD | A, AV (3 passes, 6 Einsums); Cascade 5 has
    # 5 init (BK, BV, RM, RD, RNV) + 11 body (BQK .. RNV) + 1 final (AV) = 17 Einsums, 1 pass
    assert rows["attention-3pass"] == ["3", "6"]
    assert rows["attention-2pass"][0] == "2"
    assert rows["attention-1pass"] == ["1", "17"]
    assert rows["lean-decode"][0] == "1"


def test_cascade_json(capsys):
    code, out, _ = run(capsys, "cascade", "attention-1pass", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["name"] == "attention-1pass" and data["passes"] == 1
    assert "LM[m1,p] = max[m0] BQK[m1,m0,p]" in data["einsums"]
    assert data["pass_counts"]["m"] == 1 and len(data["einsums"]) == 17


def test_cascade_text(capsys):
    code, out, _ = run(capsys, "cascade", "attention-3pass")
    assert code == 0
    assert "3 pass(es) over M" in out and "GM[p] = max[m] QK[m,p]" in out


def test_run_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 9, 4)), rng.normal(
        size=(2, 3, 9, 6))
    np.savez(tmp_path / "in.npz", Q=q, K=k, V=v)
    code, out, _ = run(capsys, "cascade", "attention-1pass", "--run", str(tmp_path / "in.npz"),
                       "--out", str(tmp_path / "out.npz"), "--param", "M0=4")
    assert code == 0 and "AV (2, 3, 5, 6)" in out
    with np.load(tmp_path / "out.npz") as data:
        np.testing.assert_allclose(data["AV"], softmax_attention(q, k, v), rtol=1e-10,
                                   atol=1e-12)


def test_run_gqa(tmp_path, capsys):
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(4, 3, 2)), rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 5, 3))
    np.savez(tmp_path / "in.npz", Q=q, K=k, V=v)
    code, _, _ = run(capsys, "cascade", "attention-1pass-gqa", "--run", str(tmp_path / "in.npz"),
                     "--out", str(tmp_path / "out.npz"))
    assert code == 0
    expected = softmax_attention(q, np.repeat(k, 2, axis=0), np.repeat(v, 2, axis=0))
    with np.load(tmp_path / "out.npz") as data:
        np.testing.assert_allclose(data["AV"], expected, rtol=1e-10, atol=1e-12)


def bad_af(tmp_path, text):
    path = tmp_path / "bad.af"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("make_args", "message"), [
    (lambda t: ["cascade", "atention-1pass"],
     "unknown cascade 'atention-1pass' (did you mean 'attention-1pass'?)"),
    (lambda t: ["cascade", bad_af(t, "cascade x\ninput Q[e,p]\noutput O[p]\nO[p] = Q[e,p] +\n")],
     "bad.af:4:16: expected a tensor"),
    (lambda t: ["cascade", bad_af(t, "cascade x\ninput Q[e,p]\noutput O[p]\nO[p] = R[e,p]\n")],
     "cascade x: Einsum O (line 4, body): reads R, which is never defined"),
    (lambda t: ["cascade", str(t / "missing.af")], "missing.af: cannot read"),
    (lambda t: ["cascade", "attention-1pass", "--param", "M0=big"],
     "--param M0: value must be an integer, not 'big'"),
    (lambda t: ["cascade", "attention-1pass", "--param", "MO=4"],
     "no parameter 'MO' (did you mean 'M0'?)"),
    (lambda t: ["cascade", "attention-1pass", "--run", str(t / "nope.npz"), "--out",
                str(t / "o.npz")], "nope.npz: no such file"),
])
def test_bad_input_exit_2(tmp_path, capsys, make_args, message):
    code, out, err = run(capsys, *make_args(tmp_path))
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("arrays", "message"), [
    ({"Q": (3, 4), "K": (5, 4)}, "array V is missing (found: K, Q)"),
    ({"Q": (3, 4), "K": (5, 3), "V": (5, 2)}, "array Q has head dim E = 4 but K has 3"),
    ({"Q": (3, 4), "K": (5, 4), "V": (6, 2)}, "array K has M = 5 keys but V has 6"),
    ({"Q": (4,), "K": (5, 4), "V": (5, 2)}, "array Q must have at least 2 dims"),
    ({"Q": (2, 3, 4), "K": (3, 5, 4), "V": (3, 5, 2)}, "do not broadcast"),
])
def test_bad_arrays_exit_2(tmp_path, capsys, arrays, message):
    np.savez(tmp_path / "in.npz", **{k: np.ones(s) for k, s in arrays.items()})
    code, _, err = run(capsys, "cascade", "attention-3pass", "--run", str(tmp_path / "in.npz"),
                       "--out", str(tmp_path / "out.npz"))
    assert code == 2
    assert "in.npz: " in err and message in err, err
    assert not (tmp_path / "out.npz").exists()


def test_gqa_head_mismatch_exit_2(tmp_path, capsys):
    np.savez(tmp_path / "in.npz", Q=np.ones((5, 3, 2)), K=np.ones((2, 4, 2)), V=np.ones((2, 4, 2)))
    code, _, err = run(capsys, "cascade", "attention-1pass-gqa", "--run",
                       str(tmp_path / "in.npz"), "--out", str(tmp_path / "out.npz"))
    assert code == 2 and "array Q has 5 heads, not a multiple of K's 2 heads" in err


def test_console_script_end_to_end(tmp_path):
    # the installed entry point, in a fresh process: an unknown name is one line, exit 2
    proc = subprocess.run([sys.executable, "-m", "attnforge", "cascade", "attention-4pass"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("attnforge: error: unknown cascade 'attention-4pass'")
    assert list(Path(tmp_path).iterdir()) == []


def test_non_numeric_array_exit_2(tmp_path, capsys):
    np.savez(tmp_path / "in.npz", Q=np.array([["a"]]), K=np.ones((2, 1)), V=np.ones((2, 1)))
    code, _, err = run(capsys, "cascade", "attention-3pass", "--run", str(tmp_path / "in.npz"),
                       "--out", str(tmp_path / "out.npz"))
    assert code == 2 and "array Q must be real numbers, not <U1" in err
