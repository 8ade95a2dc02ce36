"""A design's ``configs.NAME.cascade`` naming a cascade file of one's own (``*.af``).

The variant under test is softmax with temperature T = 2 in the 1-pass cascade. Since
max_m(s_m / T) = max_m(s_m) / T for T > 0, the running max can track the scaled scores: the
library's ``LM = max[m0] BQK`` becomes ``max[m0] BQK * 0.5`` and ``SLN = exp(BQK - RM)``
becomes ``exp(BQK * 0.5 - RM)``; RM, PRM and the rest are unchanged, so
AV = softmax(Q Kᵀ / (√E · T)) V. The scale is one multiply folded into each of two
elementwise Einsums on the 2D array (LM, SLN): 2 MACs per score, nothing on the 1D array.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from attnforge.kinds.accelerator import KIND
from einsum import attention, library
from mapper import evaluate as ev

from .inprocess import one_error, run

LIBRARY_AF = Path(library.__file__).parent / "attention-1pass.af"
T = 2  # the temperature; 1/T = 0.5 is written into the variant
B, H, E, SEQ, DIM = 64, 12, 64, 4096, 128  # batch, heads, head_dim, P = M, array rows = cols
CLOCK_HZ = 940e6  # the architecture's default clock


def temperature_text() -> str:
    """The library's 1-pass cascade with softmax temperature T (see the module docstring)."""
    text = LIBRARY_AF.read_text(encoding="utf-8")
    edits = (("cascade attention-1pass", "cascade attention-1pass-temperature"),
             ("LM[m1,p] = max[m0] BQK[m1,m0,p]\n", f"LM[m1,p] = max[m0] BQK[m1,m0,p] * {1 / T}\n"),
             ("SLN[m1,m0,p] = exp(BQK[m1,m0,p] - RM[m1+1,p])",
              f"SLN[m1,m0,p] = exp(BQK[m1,m0,p] * {1 / T} - RM[m1+1,p])"))
    for old, new in edits:
        assert text.count(old) == 1, old  # the library file changed: revisit the variant
        text = text.replace(old, new)
    return text


def design_text(cascade: str, extra: str = "") -> str:
    """A design with the library's 1-pass cascade and ``cascade`` side by side."""
    return f"""version: 1
kind: accelerator
name: own
architectures:
  a:
    buffer: {{buffer_bytes: 4194304, row_bits: 2048, banks: 16}}
    array_2d: {{rows: {DIM}, cols: {DIM}}}
    array_1d: {{pes: {DIM}}}
configs:
  library:
    cascade: attention-1pass
    architecture: a
  own:
    cascade: {cascade}
    architecture: a
{extra}models:
  bert: {{d_model: 768, heads: {H}, head_dim: {E}, ffn: 3072}}
sweep:
  models: [bert]
  seq_lens: [{SEQ}]
  configs: [library, own]
  scopes: [attention]
  batch: {B}
"""


def write_design(folder: Path, cascade: str = "temperature.af", af_text: str | None = None,
                 extra: str = "") -> Path:
    """design.yaml in ``folder`` with the variant (or ``af_text``) as ``folder/temperature.af``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "temperature.af").write_text(af_text or temperature_text(), encoding="utf-8")
    path = folder / "design.yaml"
    path.write_text(design_text(cascade, extra), encoding="utf-8")
    return path


def cascade_position(path: Path) -> str:
    """``file:line:col`` of the own config's cascade value."""
    lines = path.read_text(encoding="utf-8").splitlines()
    line = lines.index("  own:") + 2
    return f"{path}:{line}:{lines[line - 1].index(':') + 3}"


def test_variant_computes_softmax_with_temperature(tmp_path):
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(16, 8)), rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
    cascade = library.get(str(write_design(tmp_path).parent / "temperature.af"), M0=8)
    scores = q @ k.T / (np.sqrt(8) * T)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected = weights / weights.sum(axis=1, keepdims=True) @ v
    np.testing.assert_allclose(attention(cascade, q, k, v), expected, rtol=1e-12)


def test_a_file_is_parsed_once_until_it_changes(tmp_path, monkeypatch):
    import einsum.library

    calls = []
    real = einsum.library.parse
    monkeypatch.setattr(einsum.library, "parse", lambda *a, **k: calls.append(1) or real(*a, **k))
    path = write_design(tmp_path).parent / "temperature.af"
    for m0 in (None, 8, 16):
        cascade = library.get(str(path), **({} if m0 is None else {"M0": m0}))
        assert cascade.params["M0"] == (m0 or 256)
    assert len(calls) == 1
    path.write_text(temperature_text().replace("param M0 = 256", "param M0 = 64"), "utf-8")
    assert library.get(str(path)).params["M0"] == 64 and len(calls) == 2


def test_variant_maps_with_the_library_latency_and_two_more_macs_per_score(tmp_path):
    design = KIND.load(write_design(tmp_path))
    assert design.configs["own"].cascade == str(tmp_path / "temperature.af")
    found = {}
    for config in ("library", "own"):
        point = ev.Point("bert", SEQ, config, "attention")
        mapping, actions, cost = ev.evaluate(design, point)
        found[config] = actions, cost
    assert mapping.cascade == str(tmp_path / "temperature.af")
    # per head and tile of DIM x DIM scores, in PE-cycles per PE (fusemax.md's cost per point):
    # 2D: BQK E + SLNV E MACs, LM 1 max, SLD 1 add, SLN exp(a-b) = 6 MACs + 1 add + 1 sub
    # 1D per query row and key tile: RM 1, PRM 8, SPD 1, RD 1, SPNV E, RNV E; AV E per row
    tiles = (SEQ // DIM) ** 2
    cycles_2d = (E + E + 1 + 1 + 8) * tiles
    cycles_1d = (11 + 2 * E) * SEQ // DIM * SEQ // DIM + E * SEQ // DIM
    assert cycles_2d + 2 * tiles < cycles_1d  # the two multiplies fit in the 2D array's slack
    for config in ("library", "own"):  # the 1D array bounds both, head after head
        assert found[config][0].bottleneck == {"fused: 1d array": cycles_1d * B * H}
    # paid once: the 1D array starts after the first tile's BQK and LM, LM now 2 cycles, not 1
    assert found["own"][0].latency_cycles == found["library"][0].latency_cycles + 1
    assert found["own"][1].latency_s - found["library"][1].latency_s == pytest.approx(
        1 / CLOCK_HZ, rel=1e-6)
    scores = B * H * SEQ * SEQ
    library_macs = (E + E + 6) * scores  # QK, AV and the exp's MAC sequence
    assert found["library"][0].arith["2d"]["mac"] == library_macs
    assert found["own"][0].arith["2d"]["mac"] == library_macs + 2 * scores


def test_explore_resolves_against_the_design_folder_not_the_cwd(tmp_path, monkeypatch, capsys):
    path = write_design(tmp_path / "designs")
    (tmp_path / "temperature.af").write_text("not a cascade\n", encoding="utf-8")  # a decoy
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "explore", "designs/design.yaml", "--out", "out", "--quiet",
                       "--backend", "process", "--workers", "2")
    assert code == 0, err
    rows = (tmp_path / "out" / "results.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    latency = {r.split(",")[header.index("config")]: r.split(",")[header.index("latency_s")]
               for r in rows[1:]}
    assert set(latency) == {"library", "own"}  # the variant costs one more cycle (see above)
    assert float(latency["own"]) - float(latency["library"]) == pytest.approx(1 / CLOCK_HZ,
                                                                              rel=1e-6)
    assert path.exists()


def test_explain_names_the_file(tmp_path, capsys):
    code, out, err = run(capsys, "explain", str(write_design(tmp_path)), "--config", "own")
    assert code == 0, err
    assert f"cascade {tmp_path / 'temperature.af'} (1 pass(es) over M)" in out


def test_simulate_runs_a_file_as_the_library_cascade(tmp_path, capsys):
    path = write_design(tmp_path, af_text=LIBRARY_AF.read_text(encoding="utf-8"))
    cycles = {}
    for config in ("library", "own"):
        code, out, err = run(capsys, "simulate", str(path), "--config", config, "--seq-len",
                             "512", "--array-dim", "64")
        assert code == 0, err
        cycles[config] = re.search(r"^cycles +(\d+) for 1 head", out, re.M).group(1)
    assert cycles["own"] == cycles["library"]


def test_missing_file(tmp_path, capsys):
    path = write_design(tmp_path, cascade="missing.af")
    line = one_error(run(capsys, "explore", str(path), "--out", str(tmp_path / "out")))
    assert line == (f"attnforge: error: {cascade_position(path)}: configs.own.cascade: "
                    f"no such cascade file '{tmp_path / 'missing.af'}'")


def test_parse_error_is_located_in_the_af_file(tmp_path, capsys):
    text = temperature_text().replace("SLD[m1,p] = SLN[m1,m0,p]", "SLD[m1,p] = SLN[m1,m0,p] $")
    path = write_design(tmp_path, af_text=text)
    af_line = text.splitlines().index("SLD[m1,p] = SLN[m1,m0,p] $") + 1
    line = one_error(run(capsys, "explain", str(path)))
    assert line.startswith(f"attnforge: error: {cascade_position(path)}: configs.own.cascade: "
                           f"{tmp_path / 'temperature.af'}:{af_line}:26: unexpected character")


def test_verify_error_is_located_in_the_af_file(tmp_path, capsys):
    text = temperature_text().replace("/ RD[M1,p]", "/ RDX[M1,p]")
    path = write_design(tmp_path, af_text=text)
    af_line = len(text.rstrip("\n").splitlines())
    line = one_error(run(capsys, "explain", str(path)))
    assert line.startswith(f"attnforge: error: {cascade_position(path)}: configs.own.cascade: "
                           f"{tmp_path / 'temperature.af'}:{af_line}:1: cascade "
                           f"attention-1pass-temperature: Einsum AV")
    assert "did you mean 'RD'?" in line


def test_ranks_beyond_attention_get_the_mappers_message(tmp_path, capsys):
    text = re.sub(r"\[e,", "[d,", temperature_text()).replace("Q[e,p]", "Q[d,p]")
    path = write_design(tmp_path, af_text=text)
    line = one_error(run(capsys, "explain", str(path)))
    assert line == (f"attnforge: error: {cascade_position(path)}: configs.own.cascade: "
                    f"{tmp_path / 'temperature.af'} cannot be mapped: extent of rank d (of "
                    f"input Q[d,p]) is missing")


def test_bind_of_an_einsum_the_file_lacks(tmp_path, capsys):
    path = write_design(tmp_path, extra="    bind: {PRMM: 1d}\n")
    line = one_error(run(capsys, "explain", str(path)))
    assert re.search(r"configs\.own\.bind\.PRMM: unknown Einsum \(of .*temperature\.af\) "
                     r"'PRMM'; did you mean 'PRM'\?", line), line


@pytest.mark.parametrize("value", ["temperature.af", "./temperature.af"])
def test_grid_needs_an_absolute_path(tmp_path, capsys, value):
    path = write_design(tmp_path, cascade="attention-2pass")
    path.write_text(path.read_text(encoding="utf-8")
                    + f"grid:\n  configs.own.cascade: [attention-1pass, {value}]\n",
                    encoding="utf-8")
    line = one_error(run(capsys, "explore", str(path), "--out", str(tmp_path / "out")))
    assert "must be an absolute path in a grid or search" in line, line


def test_editing_the_file_reprices_the_stored_points(tmp_path, capsys):
    # The store keyed a point by the design, which names the file, not by its contents: an
    # explore after editing the file reused the points priced from the old text.
    path = write_design(tmp_path)
    out = tmp_path / "out"

    def own_latency() -> float:
        code, _, err = run(capsys, "explore", str(path), "--out", str(out), "--quiet")
        assert code == 0, err
        rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
        return next(float(r["latency_s"]) for r in rows if r["config"] == "own")

    tempered = own_latency()
    # the library's own text in the file: the two multiplies by 1/T go, and with them the
    # one start-up cycle they cost (test_explore_resolves_against_the_design_folder_not_the_cwd)
    (tmp_path / "temperature.af").write_text(LIBRARY_AF.read_text(encoding="utf-8"),
                                             encoding="utf-8")
    plain = own_latency()
    assert tempered - plain == pytest.approx(1 / CLOCK_HZ, rel=1e-6)
