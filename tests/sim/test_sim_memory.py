"""Fold scheduling behind double-buffered SRAMs and one DRAM channel: hand-worked cases and the
numba kernel against its cycle-by-cycle Python twin."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.memory import schedule
from sim.twins import schedule_per_cycle


def run(lengths, fetch, c_tile, writes, bw):
    start = np.zeros(len(lengths), np.int64)
    end, busy = schedule(np.array(lengths, np.int64), np.array(fetch, np.int64),
                         np.array(c_tile, np.int64), np.array(writes, np.int64), float(bw), start)
    return start.tolist(), int(end), int(busy)


def test_prefetch_overlaps_compute_and_writes_queue_behind_it():
    # bw 2: fetch0 (8 words) cycles 0-3, fetch1 (4) cycles 4-5; fold0 runs 4-13; write0 (6)
    # 14-16; fold1 runs 14-23; write1 24-26 -> the run ends at cycle count 27.
    assert run([10, 10], [8, 4], [0, 1], [6, 6], 2) == ([4, 14], 27, 4 + 2 + 3 + 3)


def test_a_fold_opening_c_tile_q_waits_for_tile_q_minus_2_to_be_written():
    # writes of 10 words at bw 1: tile 0 written 2-11, so fold 2 (tile 2, same half) starts at 12;
    # tile 1 (fold 1 ends at 4) is written 12-21, tile 2 (fold 2 ends at 14) 22-31 -> ends at 32;
    # the channel moved 3 x 10 words
    assert run([2, 2, 2], [0, 0, 0], [0, 1, 2], [10, 10, 10], 1) == ([0, 2, 12], 32, 30)


def test_accumulating_folds_share_a_c_tile_and_do_not_wait():
    # three 3-cycle folds back to back into one C tile, written once (5 words) after the last
    assert run([3, 3, 3], [0, 0, 0], [0, 0, 0], [0, 0, 5], 1)[:2] == ([0, 3, 6], 9 + 5)


def test_unlimited_bandwidth_runs_folds_back_to_back():
    lengths = [5, 7, 2, 9]
    start, end, _ = run(lengths, [100, 3, 0, 50], [0, 1, 2, 3], [9, 9, 9, 9], math.inf)
    assert start == [0, 5, 12, 14] and end == sum(lengths)


@st.composite
def fold_sequences(draw):
    n = draw(st.integers(1, 8))
    lengths = draw(st.lists(st.integers(1, 15), min_size=n, max_size=n))
    fetch = draw(st.lists(st.sampled_from([0, 0, 1, 5, 17, 40]), min_size=n, max_size=n))
    new_tile = [True] + draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))
    c_tile = (np.cumsum(new_tile) - 1).tolist()
    writes = [draw(st.integers(1, 30)) if f == n - 1 or new_tile[f + 1] else 0 for f in range(n)]
    bw = draw(st.sampled_from([math.inf, 0.5, 1.0, 2.0, 3.5, 8.0]))
    return lengths, fetch, c_tile, writes, bw


@given(case=fold_sequences())
@settings(max_examples=300, deadline=None, database=None)
def test_schedule_equals_its_per_cycle_twin(case):
    lengths, fetch, c_tile, writes, bw = case
    twin_start = np.zeros(len(lengths), np.int64)
    end, busy = schedule_per_cycle(lengths, fetch, c_tile, writes, bw, twin_start)
    assert run(lengths, fetch, c_tile, writes, bw) == (twin_start.tolist(), end, busy)
