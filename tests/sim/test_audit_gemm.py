"""sim/gemm and sim/systolic facts the rest of the suite left unpinned (found by mutating them
by hand): the closed-form fold length against the kernels' measured one, and an operand that
is re-read across folds (IS's B) fetched once when its whole matrix fits its SRAM. Expected
values are worked by hand from the timing model and the tile algebra in the modules'
docstrings."""

from __future__ import annotations

import pytest

from sim.gemm import simulate_gemm
from sim.spec import SimInputError, gemm, memory, systolic_array
from sim.systolic import closed_form_length, fold_latency


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (3, 5), (8, 4)])
@pytest.mark.parametrize("t_len", [1, 7])
def test_closed_form_length_is_the_measured_one(rows, cols, t_len):
    """OS: MAC s of PE(i, j) at cycle s + i + j, the last (s = T - 1, i = R - 1, j = C - 1)
    at T + R + C - 3, so L = T + R + C - 2. WS/IS: R cycles of preload, then the sum of step s,
    column j leaves at 2R + s + j - 1, the last at 2R + T + C - 3: L = 2R + T + C - 2. The
    kernels measure it on a one-fold GEMM whose streamed extent is T."""
    expected = {"os": t_len + rows + cols - 2, "ws": 2 * rows + t_len + cols - 2,
                "is": 2 * rows + t_len + cols - 2}
    shapes = {"os": (rows, cols, t_len), "ws": (t_len, cols, rows), "is": (cols, t_len, rows)}
    for dataflow, length in expected.items():
        assert closed_form_length(systolic_array(rows, cols, dataflow), t_len) == length
        assert fold_latency(rows, cols, dataflow, *shapes[dataflow]) == length


@pytest.mark.parametrize(("sram_kb", "b_fetches"), [(2, 1), (0.5, 8)])
def test_is_b_rows_are_fetched_once_when_b_fits_its_sram(sram_kb, b_fetches):
    """IS on 8 x 8, M = K = 64, N = 16: K on the rows (8 row folds, inner), M on the columns
    (8 column folds, outer), N streamed. Each fold reads B[K-fold, :], so every column fold
    walks all 8 B tiles again. B is 64 x 16 = 1,024 words: resident in a 2 KiB SRAM (2,048
    one-byte words; A, 4,096 words, is not), fetched once; in 0.5 KiB (512 words) it is not,
    and each tile is fetched again in each of the 8 column folds. A's 64 tiles are each used
    by one fold: 4,096 words either way."""
    result = simulate_gemm(systolic_array(8, 8, "is"), gemm(64, 16, 64), memory(sram_kb=sram_kb))
    assert result.folds == 64
    assert result.dram_reads == {"A": 64 * 64, "B": b_fetches * 64 * 16, "C": 0}


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_partial_sums_read_back_once_per_continued_k_fold(dataflow):
    """4 x 4 array, M = 5, N = 6, K = 7. WS/IS put K on the rows: 2 row folds (inner) per
    column fold, and the second continues the first's C tile, reading its partial sums back:
    (2 - 1) · M · N = 30 words (WS: T = M rows of each N-fold; IS: T = N rows of each M-fold of
    Cᵀ). OS accumulates in the PEs and reads none back."""
    result = simulate_gemm(systolic_array(4, 4, dataflow), gemm(5, 6, 7), memory())
    assert result.sram_reads["C"] == (0 if dataflow == "os" else (2 - 1) * 5 * 6)


def test_a_tile_between_half_and_all_of_its_sram_is_rejected():
    """OS 4 x 4, K = 200: an A tile is 4 x 200 = 800 words; a 1 KiB SRAM holds 1,024 one-byte
    words, but double buffering leaves a tile half of it, 512."""
    with pytest.raises(SimInputError, match="tile of A has 800 words but one half .* holds 512"):
        simulate_gemm(systolic_array(4, 4, "os"), gemm(4, 1, 200), memory(sram_kb=1))
