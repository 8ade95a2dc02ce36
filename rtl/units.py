"""Registry of RTL units by name: construction from CLI/design parameters, Verilog emission and
the cocotb check of one unit on one simulator (shared by the tests and ``attnforge verify``)."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from amaranth.lib import wiring

from rtl.emit import verilog_text
from rtl.errors import RtlParamError
from rtl.runner import SimResult, run_cocotb


@dataclass(frozen=True, slots=True)
class UnitKind:
    """How to build a unit (``factory(**params)``) and which cocotb module checks it."""

    factory: Callable[..., wiring.Component]
    testbench: str
    summary: str
    params: type  # the rtl.spec dataclass naming the parameters and their defaults


def _registry() -> dict[str, UnitKind]:
    from rtl import spec
    from rtl.attention import AttentionUnit
    from rtl.attention_av import AttentionAVUnit
    from rtl.attention_head import AttentionHead
    from rtl.exp import ExpUnit
    from rtl.gelu import GeluUnit
    from rtl.layernorm import LayerNormUnit
    from rtl.linear import LinearUnit
    from rtl.normalise import NormaliseUnit
    from rtl.reciprocal import ReciprocalUnit
    from rtl.softmax import SoftmaxUnit
    from rtl.systolic import SystolicArray

    return {
        "gelu": UnitKind(GeluUnit, "rtl.tb.stream_tb", "GELU, delta table + interpolation",
                         spec.GeluParams),
        "exp": UnitKind(ExpUnit, "rtl.tb.stream_tb", "exp(z) for z <= 0", spec.ExpParams),
        "softmax": UnitKind(SoftmaxUnit, "rtl.tb.stream_tb",
                            "single-pass softmax row state: running max, rescaled sum, 1/sum",
                            spec.SoftmaxParams),
        "normalise": UnitKind(NormaliseUnit, "rtl.tb.stream_tb", "p = exp(s - b) * (1/sum)",
                              spec.SoftmaxParams),
        "reciprocal": UnitKind(ReciprocalUnit, "rtl.tb.stream_tb",
                               "restoring divider, round(2**F / s)", spec.ReciprocalParams),
        "linear": UnitKind(LinearUnit, "rtl.tb.linear_tb",
                           "in_par x out_par output-stationary MAC block (unified linear unit)",
                           spec.LinearParams),
        "layernorm": UnitKind(LayerNormUnit, "rtl.tb.stream_tb",
                              "single-pass LayerNorm, lanes per beat, exact sums, rsqrt recurrence",
                              spec.LayerNormParams),
        "attention": UnitKind(AttentionUnit, "rtl.tb.attention_tb",
                              "reordered Q.K: p staggered query slots, one key beat per cycle",
                              spec.AttentionParams),
        "attention_av": UnitKind(AttentionAVUnit, "rtl.tb.attention_av_tb",
                                 "reordered A.V, fused exp(s - b) * (1/sum), one beat per cycle",
                                 spec.AttentionAVParams),
        "attention_head": UnitKind(AttentionHead, "rtl.tb.attention_head_tb",
                                   "one head: Q.K, per-slot single-pass softmax, A.V; "
                                   "read + write memory ports", spec.AttentionHeadParams),
        "systolic": UnitKind(SystolicArray, "rtl.tb.systolic_tb",
                             "rows x cols int MAC array, OS or WS, skewed feed",
                             spec.SystolicParams),
    }


def unit_names() -> list[str]:
    """Registered unit names, sorted."""
    return sorted(_registry())


def unit_kind(name: str) -> UnitKind:
    """The registered unit ``name``; RtlParamError with the valid names and a did-you-mean."""
    registry = _registry()
    if name not in registry:
        close = difflib.get_close_matches(name, registry, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RtlParamError(
            f"unknown unit {name!r}{hint}; valid units: {', '.join(sorted(registry))}")
    return registry[name]


def build_unit(name: str, params: Mapping[str, object]) -> wiring.Component:
    """Construct unit ``name`` with keyword ``params`` (each validated by the unit)."""
    kind = unit_kind(name)
    valid = list(kind.params.__dataclass_fields__)
    for key in params:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RtlParamError(f"unit {name!r} has no parameter {key!r}{hint}; valid "
                                f"parameters: {', '.join(valid)}")
    return kind.factory(**dict(params))


def validate_unit(name: str, params: Mapping[str, object]) -> None:
    """Raise RtlParamError if unit ``name`` cannot be built with ``params``; build nothing else
    (the trial component is discarded without Amaranth's unused-elaboratable warning).

    A message about a parameter left at its default says so (``--param total_bits=16`` rules
    out the default ``frac_bits`` 22)."""
    try:
        build_unit(name, params)._MustUse__silence = True
    except RtlParamError as error:
        key = str(error).partition(" ")[0]
        if key in unit_kind(name).params.__dataclass_fields__ and key not in params:
            raise RtlParamError(f"{error} ({key} was not given: its default does not fit the "
                                f"other parameters)") from None
        raise


def parse_param(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` → (key, int | float | str); RtlParamError when there is no ``=``."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise RtlParamError(f"--param must look like KEY=VALUE, not {text!r}")
    for cast in (int, float):
        try:
            return key, cast(raw)
        except ValueError:
            pass
    return key, raw


def config_json(unit: wiring.Component) -> str:
    """Canonical JSON of the unit's config (the testbench's only input)."""
    return json.dumps(unit.config(), sort_keys=True)


def variant_key(unit: wiring.Component) -> str:
    """Short stable hash of the unit's config: one build dir per distinct parameterization."""
    return hashlib.sha256(config_json(unit).encode()).hexdigest()[:10]


def toplevel(unit: wiring.Component) -> str:
    """Verilog module name of a unit: its registry name."""
    return unit.config()["unit"]


def check_unit(unit: wiring.Component, sim: str, build_dir: Path, waves: bool = False,
               top: str | None = None) -> SimResult:
    """Emit ``unit`` (as module ``top``, default its unit name) and run its registered cocotb
    testbench on ``sim`` in ``build_dir``."""
    top = top or toplevel(unit)
    kind = unit_kind(unit.config()["unit"])
    return run_cocotb(sim, verilog_text(unit, top), top, kind.testbench, build_dir,
                      config_json(unit), waves=waves)


MAX_VERIFY_CYCLES = 1_000_000
"""Most simulated cycles per testbench run that ``attnforge verify`` starts, as estimated by
`sim_cycles` (the default attention head: about 70,000). Measured: the default Q·K core's two
tests simulate about 155,000 cycles (35,093 in the one without stalls) in 37 s under Icarus
on a loaded 2-core machine, so a run at the limit takes some 4 minutes there (n = 65536, about
8.6e9 cycles, would take weeks)."""

#: Testbench runs of the attention family simulate a whole head: per unit, how many
#: ``max(ceil(n/p) * n * d/lanes, n**2)`` it takes (Q·K and A·V about one each, the head both).
_HEAD_PASSES = {"attention": 1, "attention_av": 1, "attention_head": 2}


def sim_cycles(config: dict) -> int:
    """An estimate of the cycles one testbench run of the unit with ``config`` simulates
    (within 2.5x either way of `fpga.golden.attention.cycles` / `fpga.golden.attention_av.cycles`
    on the cases tried: A·V at p 8, lanes 8, d 16, n 40 takes 672 against 1,600, at p 1,
    lanes 64, d 64, n 200 80,211 against 40,000); 0 for units whose stimulus does not grow
    with their parameters."""
    passes = _HEAD_PASSES.get(config["unit"], 0)
    if not passes:
        return 0
    n, p, blocks = config["n"], config["p"], config["d"] // config["lanes"]
    return passes * max(-(-n // p) * n * blocks, n * n)


def check_sim_budget(module: str, config: dict) -> None:
    """RtlParamError when one testbench run of ``module`` would simulate more than
    :data:`MAX_VERIFY_CYCLES` (minutes a run under Icarus)."""
    cycles = sim_cycles(config)
    if cycles > MAX_VERIFY_CYCLES:
        raise RtlParamError(
            f"{module}: verify would simulate about {cycles:.2g} cycles per run (n {config['n']}, "
            f"d {config['d']}, lanes {config['lanes']}, p {config['p']}: "
            f"max(ceil(n/p)·n·d/lanes, n²) per pass); it takes at most {MAX_VERIFY_CYCLES:,}: "
            f"verify a smaller n or d (verilog and synth take any size)")
