"""One fold, cycle by cycle: values against NumPy, lengths and counts against the wavefront
algebra, numba kernels against their plain-Python twins, `fold_latency`."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import twins
from sim.spec import SimInputError, systolic_array
from sim.systolic import fold_latency, os_fold, run_fold, stationary_fold

folds = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 9)).flatmap(
    lambda rct: st.tuples(st.just(rct[0]), st.just(rct[1]), st.integers(1, rct[0]),
                          st.integers(1, rct[1]), st.just(rct[2])))


def operands(dataflow, r, c, t_len, seed=0):
    rng = np.random.default_rng(seed)
    if dataflow == "os":
        return rng.standard_normal((r, t_len)), rng.standard_normal((t_len, c)), np.zeros((r, c))
    return rng.standard_normal((t_len, r)), rng.standard_normal((r, c)), np.zeros((t_len, c))


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@given(fold=folds)
@settings(max_examples=40, deadline=None, database=None)
def test_fold_computes_the_product_numpy_does(dataflow, fold):
    rows, cols, r, c, t_len = fold
    row_op, col_op, out = operands(dataflow, r, c, t_len)
    run = run_fold(systolic_array(rows, cols, dataflow), r, c, t_len, row_op, col_op, out)
    np.testing.assert_allclose(out, row_op @ col_op, rtol=1e-12, atol=1e-12)
    assert run.macs == r * c * t_len
    assert int(run.timeline.sum()) == run.macs


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@given(fold=folds)
@settings(max_examples=40, deadline=None, database=None)
def test_fold_length_follows_the_wavefront(dataflow, fold):
    # OS: MAC s of PE(i,j) at cycle s+i+j, last at (T-1)+(R-1)+(C-1) -> T+R+C-2 cycles.
    # WS/IS: R preload cycles, then MAC s of PE(i,j) at R+s+i+j, sum leaves row R-1 -> 2R+T+C-2.
    rows, cols, r, c, t_len = fold
    run = run_fold(systolic_array(rows, cols, dataflow), r, c, t_len,
                   *operands(dataflow, r, c, t_len))
    expected = t_len + rows + cols - 2 if dataflow == "os" else 2 * rows + t_len + cols - 2
    assert run.length == expected


def test_os_timeline_is_the_diagonal_count():
    rows, cols, r, c, t_len = 4, 5, 3, 4, 6
    run = run_fold(systolic_array(rows, cols, "os"), r, c, t_len, *operands("os", r, c, t_len))
    s, i, j = np.meshgrid(np.arange(t_len), np.arange(r), np.arange(c), indexing="ij")
    expected = np.bincount((s + i + j).ravel(), minlength=run.length)
    np.testing.assert_array_equal(run.timeline, expected)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_edge_reads_are_each_operand_word_once(dataflow):
    r, c, t_len = 3, 2, 7
    run = run_fold(systolic_array(5, 4, dataflow), r, c, t_len, *operands(dataflow, r, c, t_len))
    # OS: A tile r×T enters the rows, B tile T×c the columns; WS/IS: T×r streamed, r×c preloaded.
    assert run.edge_reads == ((r * t_len, t_len * c) if dataflow == "os" else (t_len * r, r * c))


@given(fold=folds, seed=st.integers(0, 99))
@settings(max_examples=60, deadline=None, database=None)
def test_kernels_equal_their_python_twins(fold, seed):
    rows, cols, r, c, t_len = fold
    size = 2 * rows + t_len + cols
    for kernel, twin, flow in ((os_fold, twins.os_fold_py, "os"),
                               (stationary_fold, twins.stationary_fold_py, "ws")):
        row_op, col_op, _ = operands(flow, r, c, t_len, seed)
        if flow == "ws":
            row_op, col_op = col_op, row_op  # stationary kernels take (w, x)
        results = []
        for fn in (kernel, twin):
            out = np.zeros((r, c) if flow == "os" else (t_len, c))
            line = np.zeros(size, np.int64)
            results.append((tuple(int(v) for v in fn(rows, cols, r, c, t_len, row_op, col_op,
                                                      out, line)), out, line))
        (k_res, k_out, k_line), (p_res, p_out, p_line) = results
        assert k_res == p_res
        np.testing.assert_allclose(k_out, p_out, rtol=1e-12)
        np.testing.assert_array_equal(k_line, p_line)


@pytest.mark.parametrize(("dataflow", "m", "n", "k", "expected"), [
    ("os", 4, 4, 10, 10 + 4 + 4 - 2),   # K + rows + cols - 2
    ("os", 1, 1, 1, 1 + 4 + 4 - 2),     # unused PEs still cost their pipeline cycles
    ("ws", 7, 3, 4, 2 * 4 + 7 + 4 - 2),  # 2 rows + M + cols - 2
    ("is", 3, 4, 2, 2 * 4 + 4 + 4 - 2),  # 2 rows + N + cols - 2 (N = 4)
])
def test_fold_latency(dataflow, m, n, k, expected):
    assert fold_latency(4, 4, dataflow, m, n, k) == expected


def test_fold_latency_1d_array():
    # a 1×8 OS array: one output row, A enters one row, K + 1 + 8 - 2 cycles
    assert fold_latency(1, 8, "os", 1, 8, 5) == 5 + 1 + 8 - 2


@pytest.mark.parametrize(("args", "words"), [
    ((4, 4, "os", 5, 4, 3), "does not fit one fold"),
    ((4, 4, "ws", 2, 2, 5), "does not fit one fold"),
    ((4, 4, "is", 5, 2, 2), "does not fit one fold"),
    ((0, 4, "os", 1, 1, 1), "array rows must be a positive integer"),
    ((4, 4, "xs", 1, 1, 1), "did you mean"),
    ((4, 4, "os", 1, -2, 1), "N must be a positive integer"),
])
def test_fold_latency_rejects(args, words):
    with pytest.raises(SimInputError, match=words):
        fold_latency(*args)
