"""Decode and prefill-with-cache points: ``sweep.query_lens`` sets P (queries) apart from M.

``seq_len`` stays the key/value length M (the cache); each ``query_len`` is P <= M. Every
expected value is derived by algebra from the design's numbers (E, F, M, P, word size, DRAM
bandwidth, array rows), never read off the mapper's output; the one identity (P = M through
``query_lens`` prices exactly as a design without it) compares two paths of the code.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from attnforge.cli import main
from attnforge.kinds.accelerator import KIND
from einsum.errors import InputError
from mapper import evaluate as ev
from mapper import summary

PAPER = Path(__file__).parents[2] / "designs" / "fusemax-paper.yaml"
M = 4096
E = F = 64  # bert's head_dim
QUERY_LENS = (1, 128, M)


def _text(query_lens: str | None, seq_lens: str = f"[{M}]",
          configs: str = "[unfused, flat, fusemax]") -> str:
    """The paper design on bert at ``seq_lens``, attention only, with ``query_lens`` if given."""
    text = PAPER.read_text()
    sweep = (f"  models: [bert]\n  seq_lens: {seq_lens}\n"
             + (f"  query_lens: {query_lens}\n" if query_lens is not None else "")
             + f"  configs: {configs}\n  scopes: [attention]\n")
    old = ("  models: [bert, trxl, t5, xlm]\n  seq_lens: [1024, 4096, 16384, 65536, 262144, "
           "1048576]\n  configs: [unfused, flat, cascade, architecture, fusemax]\n"
           "  scopes: [attention, end_to_end]\n")
    assert old in text
    return text.replace(old, sweep)


def _load(tmp_path: Path, text: str):
    path = tmp_path / "decode.yaml"
    path.write_text(text)
    return KIND.load(path)


@pytest.fixture(scope="module")
def decode(tmp_path_factory):
    return _load(tmp_path_factory.mktemp("decode"), _text(str(list(QUERY_LENS))))


def _points(mapping, names: tuple[str, ...]) -> int:
    return sum(w.points for p in mapping.phases for w in p.work if w.bound.name in names)


@pytest.mark.parametrize("config,names", [("fusemax", ("BQK", "SLNV")), ("flat", ("QK", "AV"))])
@pytest.mark.parametrize("p", QUERY_LENS)
def test_qk_and_av_macs_are_p_m_e_plus_f_per_head(decode, config, names, p):
    mapping = ev.map_attention(decode, ev.Point("bert", M, config, "attention", 0, p))
    assert mapping.workload.extents()["p"] == p and mapping.workload.extents()["m"] == M
    assert _points(mapping, names) == p * M * (E + F)


def test_query_len_equal_to_seq_len_prices_as_a_design_without_query_lens(decode, tmp_path):
    plain = _load(tmp_path, _text(None))
    for config in ("unfused", "flat", "fusemax"):
        ours = ev.row(decode, ev.Point("bert", M, config, "attention", 0, M))
        theirs = ev.row(plain, ev.Point("bert", M, config, "attention"))
        assert ours.pop("query_len") == M
        assert ours == theirs


def test_decode_reads_k_and_v_once_in_one_block(decode):
    mapping = ev.map_attention(decode, ev.Point("bert", M, "fusemax", "attention", 0, 1))
    (phase,) = mapping.phases
    assert phase.blocks == 1
    # K and V once (M·(E+F)), the one query row of Q (E); the output row written (F)
    assert phase.dram_read_words == M * (E + F) + E
    assert phase.dram_write_words == F


def test_decode_is_memory_bound_and_uses_one_row_of_the_2d_array(decode):
    arch = decode.architectures["fusemax"]
    row = ev.row(decode, ev.Point("bert", M, "fusemax", "attention", 0, 1))
    model = decode.models["bert"]
    kv_bytes = decode.sweep.batch * model.heads * M * (E + F) * arch.word_bytes
    assert row["latency_s"] >= kv_bytes / arch.dram.bandwidth_bytes_per_s
    # One query row: each 2D Einsum point occupies one PE-cycle of row 0 of a 256 × 256 score
    # tile, so at most cols of the rows × cols PEs are busy in any cycle: util <= 1 / rows.
    assert 0 < row["util_2d"] <= 1 / arch.array_2d.rows
    _, actions, _ = ev.evaluate(decode, ev.Point("bert", M, "fusemax", "attention", 0, 1))
    assert max(actions.bottleneck, key=actions.bottleneck.get).endswith("dram")


def test_lean_decode_is_refused_with_the_reason(decode):
    # LeanAttention's split over compute units is a `where` filter over c, h, m1: not a
    # key/query mask the mapper prices (report only: no claim about its speed).
    import dataclasses

    configs = {**decode.configs, "lean": dataclasses.replace(decode.configs["fusemax"],
                                                             cascade="lean-decode")}
    design = dataclasses.replace(decode, configs=configs)
    with pytest.raises(InputError, match="lean-decode: Einsum OM's filter .* ranks other than"):
        ev.map_attention(design, ev.Point("bert", M, "lean", "attention", 0, 1))


def test_rows_carry_query_len_only_when_the_sweep_sets_it(decode, tmp_path):
    plain = _load(tmp_path, _text(None))
    assert "query_len" not in ev.row(plain, ev.Point("bert", M, "fusemax", "attention"))
    columns = list(ev.row(decode, ev.Point("bert", M, "fusemax", "attention", 0, 1)))
    assert columns[columns.index("seq_len") + 1] == "query_len"
    assert [p.query_len for p in ev.points(decode)][::3] == list(QUERY_LENS)
    assert "query_len" in summary.pair_keys(decode)
    assert "query_len" not in summary.pair_keys(plain)
    assert "query_len" in KIND.workload_keys(decode)


@pytest.mark.parametrize("query_lens,seq_lens,index,words", [
    ("[1, 8192]", f"[{M}]", 1, "must be at most the shortest sequence length 4096"),
    ("[1, 128]", "[64, 4096]", 1, "must be at most the shortest sequence length 64"),
    ("[0]", f"[{M}]", 0, "must be an integer in 1..4096, not 0"),
])
def test_a_query_length_beyond_the_keys_is_a_located_error(tmp_path, capsys, query_lens,
                                                           seq_lens, index, words):
    path = tmp_path / "bad.yaml"
    path.write_text(_text(query_lens, seq_lens))
    with pytest.raises(SystemExit) as info:
        main(["explore", str(path), "--out", str(tmp_path / "o"), "--backend", "serial",
              "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert re.search(rf"bad\.yaml:\d+:\d+: sweep\.query_lens\[{index}\]: .*{words}", err), err


def test_a_masked_cascade_with_fewer_queries_than_keys_is_refused(tmp_path, capsys):
    text = _text("[1, 4096]", configs="[fusemax]").replace(
        "fusemax:      {cascade: attention-1pass,", "fusemax:      {cascade: attention-1pass-causal,")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as info:
        main(["explore", str(path), "--out", str(tmp_path / "o"), "--backend", "serial",
              "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert re.search(r"bad\.yaml:\d+:\d+: sweep\.query_lens\[0\]: .*fusemax.*attention-1pass-"
                     r"causal.*P = M", err), err
    assert "query_lens[1]" not in err  # P = M = 4096 is the mask as written


def test_explore_writes_query_len_and_pairs_on_it(tmp_path):
    from attnforge.backends import BackendChoice
    from attnforge.explorer import explore

    path = tmp_path / "d.yaml"
    path.write_text(_text("[1, 128]", configs="[flat, fusemax]"))
    outcome = explore(path, tmp_path / "o", BackendChoice("serial"))
    with (tmp_path / "o" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["query_len"] for r in rows] == ["1", "1", "128", "128"]
    design = KIND.load(path)
    flat = {int(r["query_len"]): r for r in rows if r["config"] == "flat"}
    ours = {int(r["query_len"]): r for r in rows if r["config"] == "fusemax"}
    expected = sum(float(flat[q]["latency_s"]) / float(ours[q]["latency_s"]) for q in (1, 128)) / 2
    found = summary.averages(rows, "fusemax", "flat", "attention", summary.pair_keys(design))
    assert found[0] == pytest.approx(expected)
    assert "pairs points of the same model, seq_len, scope, query_len" in outcome.summary
    assert "(6.70x" not in outcome.summary  # the paper's P = M averages are not decode's
    util = outcome.summary.splitlines()[-1].split()
    assert util[0] == "fusemax" and len(util) == 3  # a column per query length, not a mean
    assert [float(u.rstrip("%")) for u in util[1:]] == pytest.approx(
        [100 * float(ours[q]["util_2d"]) for q in (1, 128)], abs=0.05)


def test_explain_takes_a_query_length(tmp_path, capsys):
    path = tmp_path / "d.yaml"
    path.write_text(_text("[1, 128]"))
    with pytest.raises(SystemExit) as info:
        main(["explain", str(path), "--config", "fusemax", "--query-len", "1"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert f"P = 1, M = {M}" in out
    with pytest.raises(SystemExit) as info:
        main(["explain", str(path), "--query-len", str(M + 1)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"--query-len must be an integer in 1..{M}" in err


def test_end_to_end_adds_the_linear_layers_of_the_new_tokens_only(decode):
    # bert: Q, K, V, O projections 768 × 768 each, FFN 768 × 3072 twice; batch × P tokens
    per_token = 4 * 768 * 768 + 2 * 768 * 3072
    for p in (1, 128):
        _, attention, _ = ev.evaluate(decode, ev.Point("bert", M, "fusemax", "attention", 0, p))
        _, whole, _ = ev.evaluate(decode, ev.Point("bert", M, "fusemax", "end_to_end", 0, p))
        linear = whole.arith["2d"]["mac"] - attention.arith["2d"]["mac"]
        assert linear == decode.sweep.batch * p * per_token
