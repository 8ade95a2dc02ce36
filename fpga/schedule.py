"""Schedule model: the units put together per layer, in Edge-MoE's order, with ping/pong overlap.

Per image: patch embedding, then per layer LayerNorm, Q, K, Q·K, [softmax passes], V, A·V,
projection, add, LayerNorm, dense MLP or MoE (gate + experts), add — one call after another, as
in the released design. The only overlap is the ping/pong weight buffer of the unified linear
unit: a linear call's weights load as soon as the weight port is idle and their buffer has
served the linear call two before, while whatever comes between runs (taking what each call
leaves of the DDR, `load_share`), so only the excess is exposed (column ``weight_load``).
Without the unified unit every engine loads its weights before it computes.

Technique off-states (each replaced by what a design without it must do):
- patch_reorder off: experts run per (token, expert) pair in token order, loading the expert's
  weights for every pair.
- single_pass_softmax off: Q·K writes raw scores; three passes (max, exp+sum, normalise) run on
  conventional float operators (``ConventionalMath``); A·V reads probabilities.
- gelu_approx off: an exact float GELU (Abramowitz-Stegun erf) in place of the table.
- unified_linear off: one dedicated engine per distinct linear shape, sharing the unified
  unit's MAC budget (largest power of two <= budget / engines), single weight buffer, GELU as a
  separate pass over DDR.
- attention_reorder off: each of the p query slots streams its own keys/values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from fpga import units as un
from fpga.board import Board
from fpga.spec import ConventionalMath, Techniques, Units
from fpga.workload import Routing, ViTSpec, route

CATEGORIES = ("patch_embed", "layernorm", "linear", "weight_load", "qk", "av", "softmax", "gelu",
              "gate", "add")


@dataclass(frozen=True, slots=True)
class Plan:
    """What the schedule needs besides the calls: the engine of every linear shape."""

    engines: dict[tuple[int, int], tuple[int, int]]
    ping_pong: bool
    fused_gelu: bool
    gelu_ii: int


def linear_shapes(spec: ViTSpec) -> tuple[tuple[int, int], ...]:
    """Distinct (k, n) linear shapes of the workload, in first-use order (gate excluded)."""
    d = spec.d_model
    shapes = [(d, d)]
    if any(not spec.is_moe(i) for i in range(spec.layers)):
        shapes += [(d, spec.mlp_hidden), (spec.mlp_hidden, d)]
    if any(spec.is_moe(i) for i in range(spec.layers)):
        shapes += [(d, spec.expert_hidden), (spec.expert_hidden, d)]
    return tuple(dict.fromkeys(shapes))


def dedicated_engine(u: Units, engines: int) -> tuple[int, int]:
    """(in_par, out_par) of one of ``engines`` dedicated engines sharing the unified budget
    (each has at least one MAC: with fewer MACs than engines they exceed the budget)."""
    budget = max(1, (u.linear_in_par * u.linear_out_par) // engines)
    macs = 1 << (budget.bit_length() - 1)
    out_par = 1 << ((macs.bit_length() - 1 + 1) // 2)
    return macs // out_par, out_par


def plan(spec: ViTSpec, u: Units, t: Techniques, m: ConventionalMath) -> Plan:
    """Engines, overlap and GELU placement for techniques ``t``."""
    shapes = linear_shapes(spec)
    gelu_ii = 1 if t.gelu_approx else un.exact_gelu_ii(m)
    if t.unified_linear:
        engine = (u.linear_in_par, u.linear_out_par)
        return Plan({s: engine for s in shapes}, u.ping_pong, True, gelu_ii)
    engine = dedicated_engine(u, len(shapes))
    return Plan({s: engine for s in shapes}, False, False, gelu_ii)


def _linear(u, mem, p: Plan, tokens, k, n, tag, gelu=False, accumulate=False) -> un.Call:
    ii = p.gelu_ii if (gelu and p.fused_gelu) else 1
    call = un.linear_call(u, mem, tokens, k, n, p.engines[(k, n)], accumulate, ii)
    return replace(call, unit=tag)


def _gelu_pass(u, mem, p: Plan, t: Techniques, m: ConventionalMath, elems: int) -> list[un.Call]:
    if p.fused_gelu:
        return []
    lanes = u.linear_out_par if t.gelu_approx else m.lanes
    return [un.elementwise_call(u, mem, "gelu", elems, lanes, p.gelu_ii)]


def mlp_calls(u, mem, spec, p: Plan, t, m) -> list[un.Call]:
    """Dense MLP: FC1 (+GELU), FC2."""
    n, d, h = spec.tokens, spec.d_model, spec.mlp_hidden
    return ([_linear(u, mem, p, n, d, h, "linear", gelu=True)]
            + _gelu_pass(u, mem, p, t, m, n * h)
            + [_linear(u, mem, p, n, h, d, "linear")])


def moe_calls(u, mem, spec, p: Plan, t, m, routing: Routing, layer: int) -> list[un.Call]:
    """Gate, then experts: queued per expert (patch reordering) or per (token, expert) pair."""
    d, h = spec.d_model, spec.expert_hidden
    counts = route(spec, routing, layer)
    groups = [c for c in counts if c > 0] if t.patch_reorder else [1] * sum(counts)
    calls = [un.gate_call(u, mem, spec)]
    for tokens in groups:
        calls.append(_linear(u, mem, p, tokens, d, h, "linear", gelu=True))
        calls += _gelu_pass(u, mem, p, t, m, tokens * h)
        calls.append(_linear(u, mem, p, tokens, h, d, "linear", accumulate=True))
    return calls


def layer_calls(u, mem, spec, p: Plan, t, m, routing, layer: int) -> list[un.Call]:
    """Every call of transformer layer ``layer`` in order."""
    n, d = spec.tokens, spec.d_model
    attn = [un.attention_call(u, mem, spec, "qk", t.attention_reorder, t.single_pass_softmax)]
    if not t.single_pass_softmax:
        attn += un.three_pass_softmax_calls(u, mem, spec, m)
    av = un.attention_call(u, mem, spec, "av", t.attention_reorder, t.single_pass_softmax)
    calls = [un.layernorm_call(u, mem, spec),
             _linear(u, mem, p, n, d, d, "linear"), _linear(u, mem, p, n, d, d, "linear"),
             *attn, _linear(u, mem, p, n, d, d, "linear"), av,
             _linear(u, mem, p, n, d, d, "linear"), un.add_call(u, mem, spec),
             un.layernorm_call(u, mem, spec)]
    if spec.is_moe(layer):
        calls += moe_calls(u, mem, spec, p, t, m, routing, layer)
    else:
        calls += mlp_calls(u, mem, spec, p, t, m)
    return calls + [un.add_call(u, mem, spec)]


def image_stages(spec, u, mem, t, m, routing) -> tuple[Plan, list[tuple[str, list[un.Call]]]]:
    """The plan and every call of one image, by stage: ``patch embedding``, then each layer,
    ``layer i dense`` or ``layer i MoE e`` (e experts hit by the routing)."""
    p = plan(spec, u, t, m)
    stages = [("patch embedding", [un.patch_embed_call(u, mem, spec)])]
    for layer in range(spec.layers):
        if spec.is_moe(layer):
            kind = f"MoE {sum(c > 0 for c in route(spec, routing, layer))}"
        else:
            kind = "dense"
        stages.append((f"layer {layer} {kind}",
                       layer_calls(u, mem, spec, p, t, m, routing, layer)))
    return p, stages


def load_share(mem: un.Memory, call: un.Call) -> float:
    """Fraction of its own pace a weight load keeps while ``call`` runs beside it.

    Both cross the one DDR: the call keeps the bytes a cycle it streams (``ddr_bytes /
    cycles``, within the DDR by `fpga.units.stream_cycles`) and the load takes what it leaves,
    up to the load's own rate alone, ``min(port, DDR)``. So a call and the load beside it never
    move more than the DDR's bytes a cycle; on the boards as they are a port binds first and
    the share is 1."""
    alone = min(mem.port_bytes, mem.ddr_bytes)
    used = call.ddr_bytes / call.cycles if call.cycles else 0.0
    return max(0.0, min(1.0, (mem.ddr_bytes - used) / alone))


_DONE = 1e-6  # cycles: a load this close to its end is done (float rounding of the shares)


def exposed_loads(calls: list[un.Call], ping_pong: bool, mem: un.Memory) -> list[int]:
    """Exposed weight-load cycles before each call (the calls run one after another).

    Ping/pong: the linear calls take the two buffers in turn; one weight port loads their
    weights in order, each load as soon as the port is idle and its buffer has finished
    serving the linear call two before, so it hides behind everything from then up to its
    own call. Behind a call a load advances at `load_share` of its own pace (``call.load``
    cycles alone, first-beat latency included); while a linear call waits for its weights,
    at its full pace. Otherwise the load is serial.
    """
    if not ping_pong:
        return [call.load for call in calls]
    loads = [call.load for call in calls if call.load]
    nxt, left, finished = 0, float(loads[0]) if loads else 0.0, 0  # load nxt has `left` to go

    def advance(cycles: float, share: float) -> None:
        nonlocal nxt, left
        while cycles > 0 and share > 0 and nxt < min(len(loads), finished + 2):
            step = min(cycles, left / share)
            cycles, left = cycles - step, left - step * share
            if left <= _DONE:
                nxt += 1
                left = float(loads[nxt]) if nxt < len(loads) else 0.0

    exposed, linear = [], 0
    for call in calls:
        wait = 0
        if call.load:
            if nxt <= linear:  # its weights are not in yet: the port runs alone until they are
                wait = math.ceil(left + sum(loads[nxt + 1:linear + 1]) - _DONE)
                advance(wait, 1.0)
            linear += 1
        advance(call.cycles, load_share(mem, call))
        finished = linear
        exposed.append(wait)
    return exposed


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of the image (the patch embedding or a layer): cycles by category (exposed
    weight loads under ``weight_load``) and its DDR bytes."""

    name: str
    cycles: dict[str, int]
    ddr_bytes: int

    @property
    def total(self) -> int:
        """All cycles of the stage (its calls run one after another)."""
        return sum(self.cycles.values())


@dataclass(frozen=True, slots=True)
class Timing:
    """Cycles per image by category, total cycles, DDR bytes, peak attention demand, and the
    same by stage (the totals are the stages' sums)."""

    cycles: dict[str, int]
    total: int
    ddr_bytes: int
    attn_demand_bytes_per_cycle: float
    stages: tuple[Stage, ...]


def _stage(name: str, calls: list[un.Call], loads: list[int]) -> Stage:
    by_cat = dict.fromkeys(CATEGORIES, 0)
    for call, load in zip(calls, loads, strict=True):
        by_cat[call.unit] += call.cycles
        by_cat["weight_load"] += load
    return Stage(name, by_cat, sum(c.ddr_bytes + c.load_bytes for c in calls))


def image_timing(spec: ViTSpec, board: Board, u: Units, t: Techniques, m: ConventionalMath,
                 routing: Routing) -> Timing:
    """Latency breakdown of one image, by category and by stage."""
    mem = un.memory(board, u)
    p, named = image_stages(spec, u, mem, t, m, routing)
    calls = [call for _, stage_calls in named for call in stage_calls]
    loads = exposed_loads(calls, p.ping_pong, mem)  # ping/pong hides loads across stage boundaries
    stages, start = [], 0
    for name, stage_calls in named:
        stages.append(_stage(name, stage_calls, loads[start:start + len(stage_calls)]))
        start += len(stage_calls)
    by_cat = {cat: sum(s.cycles[cat] for s in stages) for cat in CATEGORIES}
    demand = max((c.demand for c in calls if c.unit in ("qk", "av")), default=0.0)
    return Timing(by_cat, sum(by_cat.values()), sum(s.ddr_bytes for s in stages), demand,
                  tuple(stages))


def cycles_to_ms(cycles: int, clock_mhz: float) -> float:
    """Milliseconds of ``cycles`` at ``clock_mhz``."""
    return cycles / (clock_mhz * 1e3)
