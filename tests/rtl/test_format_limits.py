"""Limits found by the parameter fuzz (test_param_fuzz.py), each where a unit was accepted but
its verification was nonsense: the golden model overflowed int64, the format could not hold a
value the unit relies on, or the testbench's stimulus left the format's range. No simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fpga.golden.exp import exp2_table, exp_fixed
from fpga.golden.softmax import softmax_row_state
from rtl.errors import RtlParamError
from rtl.exp_core import exp_format, max_t_frac
from rtl.softmax_format import max_frac_bits, softmax_format
from rtl.tb.layernorm_vectors import param_sets
from rtl.tb.vectors import exp_stimulus, softmax_stimulus
from rtl.units import validate_unit

WIDE_EXP = {"total_bits": 40, "in_frac": 39, "const_bits": 22, "table_log2": 12,
            "entry_frac": 32, "out_frac": 32}


def test_t_frac_stops_where_the_interpolation_product_leaves_int64():
    # largest table step T[0] - T[1] = 2**32 (1 - 2**(-1/4096)) = 726,737.9...: 20 bits, so
    # r may have 62 - 20 = 42 bits and t_frac = 12 + 42 = 54
    step = 2**32 * (1 - 2 ** (-1 / 4096))
    assert math.floor(step + 0.5).bit_length() == 20
    assert max_t_frac(12, 32) == 54
    exp_format(**WIDE_EXP, t_frac=54)
    with pytest.raises(RtlParamError, match=r"^t_frac must be an integer in 12\.\.54, not 61$"):
        exp_format(**WIDE_EXP, t_frac=61)  # accepted before; verify then failed bit-exactness
    # the default table (2**8 steps, 30 bits) steps by at most 2**30 (1 - 2**(-1/256)) =
    # 2,903,338 (rounded): 22 bits, so t_frac up to 8 + 62 - 22 = 48 (the default is 24)
    assert max_t_frac(8, 30) == 48


def exp_reference(z: int, fmt) -> int:
    """exp_fixed's arithmetic on Python integers (no overflow), for one z <= 0."""
    def shift_round(x: int, s: int) -> int:
        return (x + (1 << (s - 1))) >> s if s > 0 else x

    t = shift_round(-z * fmt.log2e_fixed, fmt.in_frac + fmt.const_bits - fmt.t_frac)
    n, f = t >> fmt.t_frac, t & ((1 << fmt.t_frac) - 1)
    rem_bits = fmt.t_frac - fmt.table_log2
    j, r = f >> rem_bits, f & ((1 << rem_bits) - 1)
    table = [int(v) for v in exp2_table(fmt)]
    m = table[j] + shift_round((table[j + 1] - table[j]) * r, rem_bits)
    return shift_round(m, n + fmt.entry_frac - fmt.out_frac)


def test_at_the_t_frac_limit_the_golden_exp_is_exact():
    fmt = exp_format(**WIDE_EXP, t_frac=54)
    rng = np.random.default_rng(5)
    z = [0, -1, -(1 << 39), -(1 << 37) - 12345, *(-int(v) for v in rng.integers(0, 1 << 39, 50))]
    assert [int(v) for v in exp_fixed(np.array(z), fmt)] == [exp_reference(v, fmt) for v in z]


@pytest.mark.parametrize(("total_bits", "limit"), [(3, 1), (4, 2), (32, 30), (33, 30),
                                                   (40, 23)])
def test_softmax_fraction_bits_leave_room_for_one_and_for_int64(total_bits, limit):
    # 1.0 needs two integer bits of a signed word: frac <= total - 2; the golden rescale
    # product (sum < 2**(total-1)) * (exp <= 2**frac) below 2**62: frac <= 63 - total
    assert max_frac_bits(total_bits) == limit == min(total_bits - 2, 63 - total_bits, 30)
    softmax_format(total_bits, limit, const_bits=min(22, 62 - total_bits), t_frac=limit + 1,
                   table_log2=1)
    with pytest.raises(RtlParamError, match=rf"^frac_bits must be an integer in 1\.\.{limit}, "):
        softmax_format(total_bits, limit + 1, const_bits=min(22, 62 - total_bits))


@pytest.mark.parametrize("total_bits", [3, 4, 32, 40])
def test_a_saturated_row_sum_keeps_one_over_sum_within_its_bits(total_bits):
    frac = max_frac_bits(total_bits)
    fmt = softmax_format(total_bits, frac, const_bits=min(22, 62 - total_bits),
                         t_frac=frac + 1, table_log2=1, recip_frac=20)
    hi = (1 << (total_bits - 1)) - 1
    row = np.array([[hi] * 64, list(range(64))])  # equal top scores: the sum saturates
    recip, _ = softmax_row_state(np.clip(row, None, hi), fmt)
    assert all(0 < int(r) <= 1 << 20 for r in recip)  # 1/sum <= 1.0 (recip_frac 20)


@pytest.mark.parametrize(("unit", "params", "message"), [
    ("softmax", {"total_bits": 2}, "total_bits must be an integer in 3..40, not 2"),
    ("attention_av", {"act_bits": 2}, "act_bits must be an integer in 3..40, not 2"),
    ("attention_av", {"act_bits": 40, "act_frac": 24, "const_bits": 22},
     "act_frac must be an integer in 1..23, not 24"),
    ("attention_head", {"act_bits": 4, "act_frac": 3},
     "act_frac must be an integer in 1..2, not 3"),
])
def test_the_narrow_and_wide_softmax_formats_are_refused(unit, params, message):
    with pytest.raises(RtlParamError) as error:
        validate_unit(unit, params)
    assert str(error.value).startswith(message)


def test_the_exp_stimulus_stays_in_range_when_in_frac_nearly_fills_the_word():
    config = {"unit": "exp", **WIDE_EXP, "t_frac": 54}
    inputs, expected = exp_stimulus(config, 200, seed=1)  # raised ValueError before
    z = [w - (1 << 40) if w >> 39 else w for w in inputs]
    assert min(z) >= -(1 << 39) and max(z) < 1 << 39 and len(expected) == len(inputs) == 200


def test_the_softmax_stimulus_stays_in_range_at_three_bits():
    config = {"unit": "softmax", "total_bits": 3, "frac_bits": 1, "const_bits": 1,
              "t_frac": 2, "table_log2": 1, "entry_frac": 4, "recip_frac": 2}
    inputs, expected = softmax_stimulus(config, 60, seed=1)  # raised ValueError before
    assert all(w < 1 << 4 for w in inputs) and expected  # 3 score bits + the last flag


def test_the_layernorm_parameters_stay_in_range_when_param_frac_fills_the_word():
    from rtl.layernorm import layernorm_format

    fmt = layernorm_format(d=6, lanes=3, total_bits=40, frac_bits=38, param_bits=32,
                           param_frac=31, rsqrt_bits=48)
    for gamma, beta in param_sets(fmt, np.random.default_rng(1)):
        for values in (gamma, beta):
            assert values.min() >= -(1 << 31) and values.max() <= (1 << 31) - 1
