"""From an explored FPGA design point to the rtl/ units that implement it.

One pure function, `bridge`, says which rtl unit builds each unit of a ``kind: fpga`` design at
one config and unit parameters, as fpga/area.py prices them (its docstring and items name the rtl
unit of each): the unified linear unit is rtl ``linear`` (``in_par x out_par`` MACs), a dedicated
engine (``unified_linear`` off) an rtl ``linear`` of its planned shape, an approximate GELU lane
rtl ``gelu``, the single-pass softmax's running units and normalisers rtl ``softmax`` and
``normalise``, the reordered Q·K and A·V arrays rtl ``attention`` and ``attention_av`` (one head
of ``head_dim`` elements over the workload's tokens), the LayerNorm rtl ``layernorm`` at the
format `fpga.units.layernorm_format` gives it, the MoE gate rtl ``linear`` of its adder-tree
columns (``gate_macs / experts`` inputs x ``experts``; `_gate`). Number formats: ``act_bits``
activations with Edge-MoE's 10 integer bits (the fraction as `fpga.units.layernorm_format` takes
it), weights of ``weight_bits`` with 2 integer bits (edgemoe.md §2); every other rtl parameter
keeps its default (the Edge-MoE formats). A unit whose technique is off, or that rtl/ has no generator
for, is a `Skipped` with the reason.

`check` validates every bridged unit with rtl/'s own rules and turns the first failure into a
located error naming the design file, the config (and sweep point), the FPGA key and the rtl
range.
"""

from __future__ import annotations

from dataclasses import dataclass

from fpga.schedule import linear_shapes, plan
from fpga.spec import FpgaDesign, Techniques, Units
from fpga.units import layernorm_format

#: Integer bits of a weight (edgemoe.md §2: 16 bits with 2 integer bits).
WEIGHT_INT_BITS = 2


@dataclass(frozen=True, slots=True)
class Source:
    """Where an rtl parameter's value comes from: the FPGA design key (dotted, as in the file)
    and how the value was derived from it (e.g. ``d_model / heads = 64``)."""

    key: str
    how: str


@dataclass(frozen=True, slots=True)
class Bridged:
    """One rtl module implementing FPGA unit ``fpga_unit`` (its part ``part``): rtl ``unit``
    with ``params`` (only those derived from the design; the rest default), emitted as
    ``module``.v; ``sources`` maps each param to the design key it comes from."""

    fpga_unit: str
    part: str
    unit: str
    module: str
    params: tuple[tuple[str, int], ...]
    sources: tuple[tuple[str, Source], ...]

    def values(self) -> dict[str, int]:
        """The parameters as keyword arguments of the rtl unit."""
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An FPGA unit (or part) with no rtl module emitted, and why (one line)."""

    fpga_unit: str
    reason: str


def _param(name: str, value: int, key: str, how: str = "") -> tuple[str, int, Source]:
    """A parameter, its value and its `Source` (``how`` defaults to ``key = value``)."""
    return name, value, Source(key, how or f"{key} = {value}")


def _bridged(fpga_unit: str, part: str, unit: str, module: str,
             params: list[tuple[str, int, Source]]) -> Bridged:
    return Bridged(fpga_unit, part, unit, module, tuple((n, v) for n, v, _ in params),
                   tuple((n, s) for n, _, s in params))


def _act(u: Units, d_model: int, total: str, frac: str) -> list[tuple[str, int, Source]]:
    """An activation format's two parameters (rtl names ``total``, ``frac``): ``act_bits``
    with Edge-MoE's 10 integer bits, as `fpga.units.layernorm_format` derives it."""
    act_frac = layernorm_format(u, d_model).frac_bits
    return [_param(total, u.act_bits, "units.act_bits"),
            _param(frac, act_frac, "units.act_bits",
                   f"units.act_bits = {u.act_bits} with 10 integer bits: {act_frac} fraction")]


def _linear(u: Units, d_model: int, in_par: int, out_par: int, in_key: str, out_key: str
            ) -> list[tuple[str, int, Source]]:
    """rtl ``linear``'s parameters for an ``in_par x out_par`` block of the design's formats."""
    weight_frac = max(0, u.weight_bits - WEIGHT_INT_BITS)
    return ([_param("in_par", in_par, in_key), _param("out_par", out_par, out_key)]
            + _act(u, d_model, "act_bits", "act_frac")
            + [_param("weight_bits", u.weight_bits, "units.weight_bits"),
               _param("weight_frac", weight_frac, "units.weight_bits",
                      f"units.weight_bits = {u.weight_bits} with {WEIGHT_INT_BITS} integer "
                      f"bits: {weight_frac} fraction")])


def bridge(design: FpgaDesign, t: Techniques, u: Units
           ) -> tuple[tuple[Bridged, ...], tuple[Skipped, ...]]:
    """The rtl modules of ``design``'s units with techniques ``t`` on units ``u``, in the
    order fpga/area.py lists the units, and the units (or parts) without one.

    Module names are the rtl unit names (what ``attnforge verilog --unit NAME`` writes), except
    the dedicated linear engines, ``linear_<in>x<out>`` (one per distinct planned shape), and
    the MoE gate's rtl ``linear``, ``gate_linear``."""
    w = design.workload
    d = w.d_model
    out: list[Bridged] = []
    skipped: list[Skipped] = []
    if t.unified_linear:
        out.append(_bridged("linear", "unified linear unit", "linear", "linear",
                            _linear(u, d, u.linear_in_par, u.linear_out_par,
                                    "units.linear_in_par", "units.linear_out_par")))
    else:
        engines = plan(w, u, t, design.math).engines
        for shape in dict.fromkeys(engines[s] for s in linear_shapes(w)):
            users = ", ".join(f"{k}->{n}" for k, n in linear_shapes(w) if engines[(k, n)] == shape)
            how = f"planned dedicated engine for {users}"
            out.append(_bridged("linear", f"dedicated engine ({users})", "linear",
                                f"linear_{shape[0]}x{shape[1]}",
                                _linear(u, d, shape[0], shape[1], "configs", "configs")
                                ))
            out[-1] = _with_how(out[-1], {"in_par": how, "out_par": how})
    if t.gelu_approx:
        out.append(_bridged("gelu", "approximate GELU lane", "gelu", "gelu",
                            _act(u, d, "total_bits", "frac_bits")))
    else:
        skipped.append(Skipped("gelu", "gelu_approx is off: the exact float GELU has no rtl "
                                       "unit"))
    head = [_param("p", u.attn_p, "units.attn_p"),
            _param("lanes", u.attn_lanes, "units.attn_lanes"),
            _param("d", w.head_dim, "workload.d_model",
                   f"head dim = workload.d_model / heads = {d} / {w.heads} = {w.head_dim}"),
            _param("n", w.tokens, "workload.patch",
                   f"tokens = (image_h / patch) x (image_w / patch) + 1 = {w.tokens}")]
    act = _act(u, d, "act_bits", "act_frac")
    if t.attention_reorder:
        out.append(_bridged("attention", "reordered Q·K core", "attention", "attention",
                            head + act))
        if t.single_pass_softmax:
            out.append(_bridged("attention", "reordered A·V core (fused normalise)",
                                "attention_av", "attention_av", head + act))
        else:
            skipped.append(Skipped("attention", "A·V not emitted: rtl attention_av fuses the "
                                                "single-pass normalise; single_pass_softmax "
                                                "is off"))
    else:
        skipped.append(Skipped("attention", "attention_reorder is off: the Q·K and A·V arrays "
                                            "without reordering have no rtl unit"))
    if t.single_pass_softmax:
        fmt = _act(u, d, "total_bits", "frac_bits")
        out.append(_bridged("softmax", "running max and sum", "softmax", "softmax", fmt))
        out.append(_bridged("softmax", "normalise in A·V", "normalise", "normalise", fmt))
    else:
        skipped.append(Skipped("softmax", "single_pass_softmax is off: the three-pass float "
                                          "softmax has no rtl unit"))
    if any(w.is_moe(i) for i in range(w.layers)):
        gate = _gate(u, w)
        if isinstance(gate, Skipped):
            skipped.append(gate)
        else:
            out.append(gate)
    fmt = layernorm_format(u, d)
    out.append(_bridged("layernorm", "single-pass LayerNorm", "layernorm", "layernorm", [
        _param("d", fmt.d, "workload.d_model"),
        _param("lanes", fmt.lanes, "units.layernorm_lanes"),
        *_act(u, d, "total_bits", "frac_bits"),
        _param("rsqrt_bits", fmt.rsqrt_bits, "units.act_bits",
               f"rsqrt precision for units.act_bits = {u.act_bits}: {fmt.rsqrt_bits}")]))
    for name, what in (("add", "residual adders"), ("patch_embed", "patch embedding"),
                       ("axi", "HLS AXI masters")):
        skipped.append(Skipped(name, f"no rtl unit for the {what}"))
    return tuple(out), tuple(skipped)


def _gate(u: Units, w) -> Bridged | Skipped:
    """The MoE gate as fpga/area.py prices it (``_gate_macs``): ``gate_macs`` MACs as one
    adder-tree column per expert, ``gate_macs / experts`` inputs each, is rtl ``linear``
    ``in_par = gate_macs / experts`` x ``out_par = experts``; fewer MACs than experts, single-input
    columns serving the experts in turn, ``1 x gate_macs``. MACs that do not divide evenly
    among the experts are columns of two input counts, which no one rtl ``linear`` (every
    column ``in_par`` inputs) is: `Skipped`, saying so."""
    e, macs = w.experts, u.gate_macs
    inputs, rest = divmod(macs, e)
    if inputs and rest:
        return Skipped("gate", f"units.gate_macs = {macs} over workload.experts = {e} is priced "
                               f"(fpga/area.py) as {rest} adder-tree column{_s(rest)} of "
                               f"{inputs + 1} inputs and {e - rest} of {inputs}; rtl linear's "
                               f"columns all have in_par inputs, so no one rtl linear is that "
                               f"gate (a multiple of {e} MACs is)")
    if not inputs:  # single-input columns, each serving several experts in turn
        params = _linear(u, w.d_model, 1, macs, "units.gate_macs", "units.gate_macs")
        how = {"in_par": f"units.gate_macs = {macs} < workload.experts = {e}: 1 input per column",
               "out_par": f"units.gate_macs = {macs} single-input columns, {e} experts in turn"}
    else:
        params = _linear(u, w.d_model, inputs, e, "units.gate_macs", "workload.experts")
        how = {"in_par": f"units.gate_macs / workload.experts = {macs} / {e} = {inputs} inputs "
                         f"per expert column",
               "out_par": f"workload.experts = {e} columns, one per expert"}
    return _with_how(_bridged("gate", "MoE gate (expert logits)", "linear", "gate_linear",
                              params), how)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _with_how(b: Bridged, how: dict[str, str]) -> Bridged:
    """``b`` with the `Source.how` of the named parameters replaced."""
    sources = tuple((n, Source(s.key, how.get(n, s.how))) for n, s in b.sources)
    return Bridged(b.fpga_unit, b.part, b.unit, b.module, b.params, sources)


def manifest(title: str, units: tuple[Bridged, ...], skipped: tuple[Skipped, ...]) -> str:
    """``units.txt``: a header line, one row per module (FPGA unit, part, rtl unit, file,
    parameters) and one per unit not emitted; no paths beyond the file names (same design and
    point, same bytes)."""
    rows = [(b.fpga_unit, b.part, b.unit, f"{b.module}.v",
             " ".join(f"{k}={v}" for k, v in b.params)) for b in units]
    head = ("fpga unit", "part", "rtl unit", "file", "parameters")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = [f"# {title}"]
    for row in [head, *rows]:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:4]))
                     + "  " + row[4])
    lines += [f"not emitted: {s.fpga_unit}: {s.reason}" for s in skipped]
    return "\n".join(line.rstrip() for line in lines) + "\n"


@dataclass(frozen=True, slots=True)
class Point:
    """One point of an FPGA design: the config, its techniques and units, and how it was
    picked (``label``: ``config attention_reorder, --attn-p 2``) for messages and the
    manifest."""

    config: str
    techniques: Techniques
    units: Units
    label: str


def pick_point(design: FpgaDesign, config: str | None, attn_p: int | None,
               linear_par: int | None) -> Point:
    """The point ``attnforge explain``, ``verilog``, ``verify`` and ``synth`` take from these
    options (one rule for all four): ``config`` (default the design's first), at ``attn_p`` and
    a square ``linear_par`` x ``linear_par`` linear unit when given (a sweep point; each value
    checked against the workload)."""
    from dataclasses import replace

    from attnforge.commands.explain import pick_choice
    from einsum.errors import InputError
    from fpga.spec import limit_problem

    name = pick_choice("config", config, tuple(design.configs), design.configs)
    label = f"config {name}"
    for option, key, value in (("--attn-p", "attn_p", attn_p),
                               ("--linear-par", "linear_in_par", linear_par)):
        if value is None:
            continue
        if value < 1:
            raise InputError(f"{option} must be a positive integer, not {value}")
        if message := limit_problem(key, value, design.workload):
            raise InputError(f"{option} {message}")
        label += f", {option} {value}"
    u = design.units
    u = replace(u, attn_p=attn_p or u.attn_p, linear_in_par=linear_par or u.linear_in_par,
                linear_out_par=linear_par or u.linear_out_par)
    return Point(name, design.configs[name], u, label)


#: The option that sets an FPGA key at a sweep point (the value is then not the file's).
POINT_OPTIONS = {"units.attn_p": "--attn-p", "units.linear_in_par": "--linear-par",
                 "units.linear_out_par": "--linear-par"}


def check(path, point: Point, units: tuple[Bridged, ...]) -> None:
    """Raise a one-line SpecError at the FPGA key of the first parameter rtl/ cannot take
    (``file:line:col: units.attn_p: config ..., --attn-p 32: rtl attention p must be ...``);
    nothing when every unit builds."""
    from attnforge.specload import located_error
    from rtl.errors import RtlParamError
    from rtl.units import validate_unit

    for b in units:
        try:
            validate_unit(b.unit, b.values())
        except RtlParamError as error:
            message = str(error)
            name = message.partition(" ")[0]
            source = dict(b.sources).get(name)
            if source is None:  # a rule over several parameters: the unit's first one
                source = b.sources[0][1]
            given = POINT_OPTIONS.get(source.key, "")
            where = f" (set by {given})" if given and given in point.label else ""
            raise located_error(path, [(source.key, (
                f"{point.label}: {source.how}{where} is rtl {b.unit} parameter {name}, which "
                f"rtl/ cannot take: {message}; the {b.fpga_unit} unit ({b.part}) has no rtl "
                f"module at this point"))]) from None
