"""``kind: rtl`` design files: which units to generate and verify, with their parameters.

Each section is optional; a present section selects that unit. ``systolic`` is a list (several
array shapes/dataflows). Field defaults equal the units' defaults (the Edge-MoE formats).
Example::

    version: 1
    kind: rtl
    name: edge-moe-units
    gelu: {}
    softmax: {recip_frac: 30}
    systolic: [{rows: 8, cols: 8, dataflow: os}]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class GeluParams:
    total_bits: int = 32
    frac_bits: int = 22
    step_log2: int = 5
    range_max: float = 5.5
    entry_bits: int = 22


@dataclass(frozen=True, slots=True)
class ExpParams:
    total_bits: int = 32
    in_frac: int = 22
    out_frac: int = 22
    const_bits: int = 30
    t_frac: int = 24
    table_log2: int = 8
    entry_frac: int = 30


@dataclass(frozen=True, slots=True)
class SoftmaxParams:
    total_bits: int = 32
    frac_bits: int = 22
    const_bits: int = 30
    t_frac: int = 24
    table_log2: int = 8
    entry_frac: int = 30
    recip_frac: int = 30


@dataclass(frozen=True, slots=True)
class ReciprocalParams:
    in_frac: int = 22
    out_frac: int = 30
    in_bits: int = 32


@dataclass(frozen=True, slots=True)
class SystolicParams:
    rows: int = 8
    cols: int = 8
    dataflow: Literal["os", "ws"] = "os"
    in_width: int = 8
    acc_width: int = 32


@dataclass(frozen=True, slots=True)
class LinearParams:
    """The unified linear unit's MAC block (rtl/linear.py); ``acc_bits`` None means
    act_bits + weight_bits + 10."""

    in_par: int = 16
    out_par: int = 16
    act_bits: int = 32
    act_frac: int = 22
    weight_bits: int = 16
    weight_frac: int = 14
    acc_bits: int | None = None


@dataclass(frozen=True, slots=True)
class LayerNormParams:
    """The single-pass LayerNorm unit (rtl/layernorm.py); ``lanes`` must divide ``d``."""

    d: int = 192
    lanes: int = 8
    total_bits: int = 32
    frac_bits: int = 22
    param_bits: int = 16
    param_frac: int = 11
    eps: float = 1e-6
    rsqrt_bits: int = 30


@dataclass(frozen=True, slots=True)
class AttentionParams:
    """Edge-MoE's reordered Q·K core (rtl/attention.py): ``p`` query slots of ``lanes`` MACs,
    ``n`` tokens of ``d`` elements (``lanes`` divides ``d``); ``scale_shift`` None means
    log2(sqrt(d)) (d a power of 4)."""

    p: int = 4
    lanes: int = 8
    d: int = 64
    n: int = 129
    act_bits: int = 32
    act_frac: int = 22
    scale_shift: int | None = None


@dataclass(frozen=True, slots=True)
class AttentionAVParams:
    """Edge-MoE's reordered A·V core with fused normalisation (rtl/attention_av.py): ``p``
    query slots (``p <= lanes``) of ``lanes`` MACs, ``n`` tokens of ``d`` elements; the exp
    and 1/sum formats as the softmax unit's."""

    p: int = 4
    lanes: int = 8
    d: int = 64
    n: int = 129
    act_bits: int = 32
    act_frac: int = 22
    const_bits: int = 30
    t_frac: int = 24
    table_log2: int = 8
    entry_frac: int = 30
    recip_frac: int = 30


@dataclass(frozen=True, slots=True)
class AttentionHeadParams:
    """One head end to end (rtl/attention_head.py): the Q·K core, ``p`` softmax units and the
    A·V core with these shared parameters (``p <= lanes``; ``scale_shift`` None means
    log2(sqrt(d)), d a power of 4)."""

    p: int = 4
    lanes: int = 8
    d: int = 64
    n: int = 129
    act_bits: int = 32
    act_frac: int = 22
    scale_shift: int | None = None
    const_bits: int = 30
    t_frac: int = 24
    table_log2: int = 8
    entry_frac: int = 30
    recip_frac: int = 30


@dataclass(frozen=True, slots=True)
class RtlDesign:
    """The units a design selects: a key left out is not selected (``None``); ``key: {}`` selects
    the unit at its defaults (an empty ``key:`` is an error: the loader refuses a null section)."""

    name: str
    gelu: GeluParams | None = None
    exp: ExpParams | None = None
    softmax: SoftmaxParams | None = None
    normalise: SoftmaxParams | None = None
    reciprocal: ReciprocalParams | None = None
    linear: LinearParams | None = None
    layernorm: LayerNormParams | None = None
    attention: AttentionParams | None = None
    attention_av: AttentionAVParams | None = None
    attention_head: AttentionHeadParams | None = None
    systolic: tuple[SystolicParams, ...] | None = None  # None: no key; (): ``systolic: []``

    def problems(self) -> list[tuple[str, str]]:
        """Every selected unit's first bad parameter at its key (``gelu.total_bits``,
        ``systolic[1].rows``), and a second entry that would make the same Verilog module."""
        chosen = self.selected()
        if not chosen and self.systolic == ():  # at the key, not at name:
            return [("systolic", "an empty list selects no array, and the design selects no "
                                 "other unit (list one, e.g. [{rows: 8, cols: 8}], or add "
                                 "e.g. `gelu: {}`)")]
        if not chosen:
            return [("name", "the design selects no unit (add e.g. `gelu: {}`)")]
        from rtl.errors import RtlParamError
        from rtl.units import validate_unit

        found, seen = [], {}
        for key, (module, unit, params) in zip(self._keys(), chosen, strict=True):
            if module in seen:
                found.append((key, f"makes module {module} again ({seen[module]} makes it "
                                   f"already); each entry must differ"))
                continue
            seen[module] = key
            try:
                validate_unit(unit, params)
            except RtlParamError as error:
                found.append(_located(key, params, str(error), _defaults(unit)))
        return found

    def _keys(self) -> list[str]:
        """The dotted key of every selected unit, in the order of `selected`."""
        keys = [u for u in SINGLE_UNITS if getattr(self, u) is not None]
        return keys + [f"systolic[{i}]" for i in range(len(self.systolic or ()))]

    def selected(self) -> list[tuple[str, str, dict]]:
        """(module name, unit name, parameters) of every selected unit, in file order."""
        chosen = []
        for unit in SINGLE_UNITS:
            params = getattr(self, unit)
            if params is not None:
                chosen.append((unit, unit, asdict(params)))
        for p in self.systolic or ():
            chosen.append((systolic_module(p), "systolic", asdict(p)))
        return chosen


SINGLE_UNITS = ("gelu", "exp", "softmax", "normalise", "reciprocal", "linear", "layernorm",
                "attention", "attention_av", "attention_head")
"""The units a design selects at most once, in the order `RtlDesign.selected` lists them."""


def module_name(unit: str, params: dict) -> str:
    """The Verilog module (and file) name of ``unit`` with ``params`` (given ones; the rest
    default): the unit's name, or for a systolic array `systolic_module` (its size and
    dataflow), the same from a design file and from ``--unit``."""
    return systolic_module(SystolicParams(**params)) if unit == "systolic" else unit


def systolic_module(p: SystolicParams) -> str:
    """``systolic_<rows>x<cols>_<dataflow>``, plus ``_in<w>_acc<w>`` for widths other than the
    defaults (two arrays differing only in width are two modules)."""
    name = f"systolic_{p.rows}x{p.cols}_{p.dataflow}"
    default = SystolicParams()
    if (p.in_width, p.acc_width) != (default.in_width, default.acc_width):
        name += f"_in{p.in_width}_acc{p.acc_width}"
    return name


def _located(key: str, params: dict, message: str, defaults: dict) -> tuple[str, str]:
    """A unit's parameter message ("total_bits must be ...") at that parameter's key, saying
    when the value is the parameter's default (the file may not have written it: e.g.
    ``total_bits: 16`` rules out the default ``frac_bits`` 22)."""
    name, _, rest = message.partition(" ")
    if name in params and rest:
        if name in defaults and params[name] == defaults[name]:
            rest += f" ({params[name]} is the default; it does not fit the other parameters)"
        return f"{key}.{name}", rest
    return key, message


def _defaults(unit: str) -> dict:
    """The default parameters of ``unit``."""
    from rtl.units import unit_kind

    return asdict(unit_kind(unit).params())
