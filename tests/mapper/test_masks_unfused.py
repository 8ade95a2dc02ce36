"""Masks in unfused configurations beyond the causal 3-pass and 1-pass at 4K
(`tests/mapper/test_masks_multipass.py`): a sliding window over partial tiles, the 2-pass
cascade's chunk-batched SLNV and its vector phases, and grouped-query attention.

Every expected value is derived here from the mask, point by point with NumPy, and the
block-sparse rule of `mapper.sparse` (p-tiles admitting the same key tiles form one GEMM
over those keys; key chunk j runs over the query rows that admit it), never read off the
mapper.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from attnforge.specload import load_spec
from einsum import library
from mapper.lower import Workload, lower
from mapper.spec import Config, Design, GemmSearch

ROOT = Path(__file__).parents[2]
E = 64


@pytest.fixture(scope="module")
def flat():
    """FLAT as the paper design builds it: 256 x 256 arrays, 32 MiB buffer."""
    return load_spec(ROOT / "designs" / "fusemax-paper.yaml", Design).architectures["flat"]


def _map(cascade, workload, arch):
    return {ph.name: ph for ph in lower(cascade, arch, Config(cascade.name, "a", fused=False),
                                        workload, GemmSearch(16, 0)).phases}


def _tiles(n: int, admits) -> tuple[np.ndarray, np.ndarray]:
    """(admitted [p-tile, m-tile] grid of 256 x 256 tiles by enumeration of every (p, m)
    point, tile sizes)."""
    p, m = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    points = admits(m, p)
    t = -(-n // 256)
    grid = np.array([[points[256 * i:256 * i + 256, 256 * j:256 * j + 256].any()
                      for j in range(t)] for i in range(t)])
    return grid, np.array([min(256, n - 256 * i) for i in range(t)])


def _parts(phase) -> Counter:
    return Counter({(g.gemm.m, g.gemm.n, g.gemm.k): g.gemm.count for g in phase.gemm_parts})


def test_an_unfused_window_over_partial_tiles_groups_rows_by_their_key_tiles(flat):
    # N = 1000 on 256 x 256 tiles (the last 232), |m - p| < 300: each p-tile's admitted key
    # tiles by enumeration; p-tiles admitting the same set share one GEMM
    n, w = 1000, 300
    grid, size = _tiles(n, lambda m, p: abs(m - p) < w)
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(grid):
        groups.setdefault(tuple(row), []).append(i)
    qk, av = Counter(), Counter()
    for key, members in groups.items():
        rows, keys = sum(size[i] for i in members), int(size[list(key)].sum())
        qk[(rows, keys, E)] += 1
        av[(rows, E, keys)] += 1
    # p-tile 0 reaches key 554 (tiles 0-2), 1 and 2 every tile, 3 keys from 469 (tiles 1-3):
    # p-tiles 1 and 2 form one GEMM of 512 rows
    assert sorted(groups.values()) == [[0], [1, 2], [3]]
    ph = _map(library.get("attention-3pass-window", W=w), Workload(1, 1, E, E, n), flat)
    assert _parts(ph["gemm QK"]) == qk and _parts(ph["gemm AV"]) == av
    # the vector phase reads and writes the admitted tiles' scores (partly masked run in full)
    scores = sum(size[i] * size[j] for i, j in zip(*np.nonzero(grid), strict=True))
    vec = ph["vector GM+SN+SD+A"]
    assert vec.dram_read_words == vec.dram_write_words == scores


def test_an_unfused_causal_2pass_chunks_and_vector_phases_by_hand(flat):
    # 4K (T = 16 chunks of M0 = 256): BQK is 16 GEMMs (256 x 64)·(64 x 256 (i + 1)); chunk j's
    # SLNV runs over the 256 (T - j) rows that admit it. LM+SLN+SLD reads the admitted scores
    # (T (T + 1) / 2 tiles) and writes SLN over them and LM, SLD per (chunk, query row) of
    # the admitted tiles
    n, t = 4096, 16
    ph = _map(library.get("attention-2pass-causal"), Workload(1, 1, E, E, n), flat)
    assert _parts(ph["gemm BQK"]) == Counter({(256, 256 * (i + 1), E): 1 for i in range(t)})
    assert _parts(ph["gemm SLNV"]) == Counter({(256 * (t - j), E, 256): 1 for j in range(t)})
    tiles = t * (t + 1) // 2
    vec = ph["vector LM+SLN+SLD"]
    assert vec.dram_read_words == tiles * 256 * 256
    assert vec.dram_write_words == tiles * 256 * 256 + 2 * tiles * 256


def test_an_unfused_gqa_causal_group_stacks_its_query_heads_in_each_band(flat):
    # 8 query heads per K/V head: p-tile i's band is one GEMM over the group's 8 x 256 query
    # rows and the 256 (i + 1) keys they admit
    n, t, s = 4096, 16, 8
    ph = _map(library.get("attention-1pass-gqa-causal"), Workload(1, 64, E, E, n, group=s),
              flat)
    assert _parts(ph["gemm BQK"]) == Counter({(s * 256, 256 * (i + 1), E): 1
                                              for i in range(t)})
    assert _parts(ph["gemm SLNV"]) == Counter({(s * 256 * (t - j), E, 256): 1
                                               for j in range(t)})
