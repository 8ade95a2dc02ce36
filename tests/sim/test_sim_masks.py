"""Masked attention tile by tile: skipping the tiles a mask excludes leaves the values of
`einsum.execute` unchanged, and the simulator skips exactly the tiles without an admitted point
(found here by enumerating every (query, key) point)."""

import json

import numpy as np
import pytest

from attnforge.cli import main
from einsum import execute, library
from sim.attention import build_tasks, simulate_attention
from tests.mapper.designs import WINDOW_DESIGN

from .test_sim_attention import mapping, qkv

MASKS = [("attention-1pass-causal", {}, lambda m, p: m <= p),
         ("attention-1pass-window", {"W": 3}, lambda m, p: abs(m - p) < 3),
         ("attention-1pass-window", {"W": 9}, lambda m, p: abs(m - p) < 9)]
SHAPES = [(4, 4, 3, 5, 10, 13), (4, 4, 4, 4, 16, 16), (2, 3, 2, 1, 1, 7), (3, 2, 6, 2, 7, 1),
          (4, 4, 3, 3, 24, 8), (2, 4, 3, 3, 9, 26)]


def admitted_tiles(pred, rows, cols, p, m) -> int:
    """Tiles with at least one (p, m) point the predicate admits, by enumeration."""
    pp, mm = np.meshgrid(np.arange(p), np.arange(m), indexing="ij")
    ok = pred(mm, pp)
    return sum(bool(ok[i:i + rows, j:j + cols].any()) for i in range(0, p, rows)
               for j in range(0, m, cols))


@pytest.mark.parametrize("schedule", ["pipelined", "serial"])
@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "r{}-c{}-e{}-f{}-p{}-m{}".format(*s))
@pytest.mark.parametrize(("cascade", "params", "pred"), MASKS,
                         ids=["causal", "window3", "window9"])
def test_skipping_masked_tiles_keeps_the_executors_values(cascade, params, pred, shape, flat,
                                                          schedule):
    rows, cols, e, f, p, m = shape
    mapped = mapping(rows, cols, e, f, p, m, schedule, flat, cascade=cascade, **params)
    q, k, v = qkv(e, f, p, m, seed=p * m)
    result = simulate_attention(mapped, q, k, v)
    expected = execute(library.get(cascade, M0=cols, **params), {"Q": q, "K": k, "V": v})["AV"]
    # a query row no key reaches (window: p >= M + W - 1) is 0/0 in both
    np.testing.assert_allclose(result.av, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert result.tiles == admitted_tiles(pred, rows, cols, p, m)
    assert result.tiles == mapped.mask.admitted


def test_skipped_tiles_have_no_tasks():
    # causal, 4 × 4 tiles of 4 × 4: 10 tiles on or below the diagonal. Every tile that runs
    # has the same 8 tasks: the 2D runs BQK+LM and SLN+SLD+SLNV (one task each), RM, then
    # PRM, SPD, RD, SPNV, RNV on the 1D array (one task each); then AV once per p-tile
    per_tile, finals = 2 + 1 + 5, 4
    dense = build_tasks(mapping(4, 4, 3, 3, 16, 16), pipelined=True)
    causal = build_tasks(mapping(4, 4, 3, 3, 16, 16, cascade="attention-1pass-causal"),
                         pipelined=True)
    assert dense.tiles == 16 and len(dense.array) == 16 * per_tile + finals
    assert causal.tiles == 10 and len(causal.array) == 10 * per_tile + finals


def test_a_fully_masked_p_tile_still_divides():
    # W = 1 with 8 queries over 2 keys: queries 2.. reach no key; their tiles are skipped and
    # their output is 0/0, as the executor says
    mapped = mapping(2, 2, 2, 2, 8, 2, cascade="attention-1pass-window", W=1)
    q, k, v = qkv(2, 2, 8, 2)
    result = simulate_attention(mapped, q, k, v)
    assert result.tiles == 1
    expected = execute(library.get("attention-1pass-window", M0=2, W=1),
                       {"Q": q, "K": k, "V": v})["AV"]
    assert np.isnan(expected[:, 2:]).all()
    np.testing.assert_allclose(result.av, expected, rtol=1e-12, equal_nan=True)


def test_simulate_a_designs_window_checks_its_values(tmp_path, capsys):
    # the design's W reaches the simulator and the reference executor: W = 8 keys on 8 × 8
    # tiles at 64 tokens, |i - j| <= 1: 3 · 8 - 2 = 22 tiles run
    design = tmp_path / "w.yaml"
    design.write_text(WINDOW_DESIGN)
    with pytest.raises(SystemExit) as info:
        main(["simulate", "design", str(design), "--config", "win", "--seq-len", "64",
              "--array-dim", "8", "--values", "--json"])
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    result = json.loads(out)
    assert result["tiles"] == 22 and result["cycles"] == result["mapper_cycles"]
    assert result["max_abs_error_vs_executor"] < 1e-12

