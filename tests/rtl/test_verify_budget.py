"""`attnforge verify` refuses, before any simulator runs, an attention unit whose testbench
would simulate for hours (n = 65536 never ended); the estimate follows the golden models'
cycle counts."""

from __future__ import annotations

import importlib

import pytest

from attnforge.cli import main
from fpga.golden import attention as qk
from fpga.golden import attention_av as av
from rtl.attention import attention_format
from rtl.attention_av import attention_av_format
from rtl.units import MAX_VERIFY_CYCLES, build_unit, sim_cycles

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def config(unit: str, **params) -> dict:
    built = build_unit(unit, params)
    built._MustUse__silence = True
    return built.config()


@pytest.mark.parametrize(("p", "lanes", "d", "n"), [(4, 8, 64, 129), (3, 3, 9, 7),
                                                    (8, 8, 16, 40), (1, 64, 64, 200),
                                                    (2, 2, 4, 33)])
def test_the_estimate_is_within_a_small_factor_of_the_golden_cycle_counts(p, lanes, d, n):
    exact_qk = qk.cycles(attention_format(p=p, lanes=lanes, d=d, n=n, scale_shift=1))
    exact_av = av.cycles(attention_av_format(p=p, lanes=lanes, d=d, n=n))
    est_qk = sim_cycles(config("attention", p=p, lanes=lanes, d=d, n=n, scale_shift=1))
    est_av = sim_cycles(config("attention_av", p=p, lanes=lanes, d=d, n=n))
    assert est_qk == est_av  # the same walk over the n x n scores
    for exact in (exact_qk, exact_av):
        assert est_qk / 2.5 <= exact <= 2.5 * est_qk, (exact, est_qk)


def test_the_defaults_fit_and_units_without_a_head_cost_nothing():
    head = sim_cycles(config("attention_head"))
    # 2 passes of max(ceil(129/4) * 129 * 64/8, 129**2) = 2 * 33 * 129 * 8 = 68,112
    assert head == 68_112 <= MAX_VERIFY_CYCLES
    assert sim_cycles(config("layernorm", d=4096, lanes=1)) == 0


def test_an_attention_head_too_large_to_simulate_is_refused_before_any_run(monkeypatch,
                                                                           capsys):
    def no_sim(*args, **kwargs):
        raise AssertionError("a simulator ran")

    # the module, not the click command of the same name that attnforge.commands exports
    monkeypatch.setattr(importlib.import_module("attnforge.commands.verify"), "check_unit",
                        no_sim)
    with pytest.raises(SystemExit) as exited:
        main(["verify", "--unit", "attention", "--param", "n=65536", "--sim", "icarus"])
    err = capsys.readouterr().err
    # ceil(65536/4) * 65536 * 64/8 = 2**33 = 8.6e9 > 65536**2 = 4.3e9
    assert exited.value.code == 2 and err.count("\n") == 1
    assert err.startswith("attnforge: error: attention: verify would simulate about 8.6e+09 "
                          "cycles per run (n 65536, d 64, lanes 8, p 4")
    assert "verify a smaller n or d" in err
