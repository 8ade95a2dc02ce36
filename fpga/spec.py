"""Design-file types of the ``fpga`` kind (built by attnforge's loader, used by fpga/ only).

A design names a board, the M3ViT workload, the unit parameters, the latencies of conventional
operators (for the alternatives Edge-MoE's techniques replace), power coefficients, named configs
(which of the five techniques are on) and a sweep (attention parallelism p x linear-unit sizes).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from fpga.board import BOARDS, board_names
from fpga.workload import Routing, ViTSpec

TECHNIQUES = ("patch_reorder", "single_pass_softmax", "gelu_approx", "unified_linear",
              "attention_reorder")


@dataclass(frozen=True, slots=True)
class Techniques:
    """Which of Edge-MoE's five techniques are on (edgemoe.md §3)."""

    patch_reorder: bool = True
    single_pass_softmax: bool = True
    gelu_approx: bool = True
    unified_linear: bool = True
    attention_reorder: bool = True


Storage = Literal["block_ram", "ultra_ram"]  # where a weight buffer lives
AXI4_MAX_BITS = 1024  # the widest AXI4 data bus (ARM IHI 0022); the narrowest, 8, is a bound


@dataclass(frozen=True, slots=True)
class Units:
    """Unit parameters (defaults: the paper's design, edgemoe.md §3-4)."""

    clock_mhz: float = field(default=300.0, metadata={"gt": 0})
    axi_bits: int = field(default=256, metadata={"min": 8})
    act_bits: int = field(default=32, metadata={"min": 2})
    weight_bits: int = field(default=16, metadata={"min": 2})
    pixel_bits: int = field(default=8, metadata={"min": 1})
    linear_in_par: int = field(default=16, metadata={"min": 1})
    linear_out_par: int = field(default=16, metadata={"min": 1})
    ping_pong: bool = True
    attn_p: int = field(default=4, metadata={"min": 1})
    attn_lanes: int = field(default=8, metadata={"min": 1})
    gate_macs: int = field(default=128, metadata={"min": 1})
    layernorm_lanes: int = field(default=8, metadata={"min": 1})
    add_lanes: int = field(default=8, metadata={"min": 1})
    patch_embed_macs: int = field(default=256, metadata={"min": 1})
    axi_masters: int = field(default=5, metadata={"min": 1})  # inout1-4 + weights bundles
    # of which only read (Edge-MoE's weights bundle): no write data buffer
    axi_read_only_masters: int = field(default=1, metadata={"min": 0})
    # each master's outstanding requests and longest burst, per direction (Vitis HLS's
    # num_*_outstanding and max_*_burst_length defaults; Edge-MoE's m_axi pragmas set neither)
    axi_outstanding: int = field(default=16, metadata={"min": 1})
    axi_max_burst: int = field(default=16, metadata={"min": 1})
    # where each group of large weight buffers lives: block RAM as the memory rule maps it, or
    # UltraRAM as HLS binds it when told (BIND_STORAGE impl=uram; never chosen by `auto`).
    # linear: the linear unit's ping/pong (or the dedicated engines' weights); patch: the patch
    # embedding's weights
    linear_weight_storage: Storage = "block_ram"
    patch_weight_storage: Storage = "block_ram"

    def problems(self) -> list[tuple[str, str]]:
        """Read-only masters are some of the masters; the AXI width is one AXI4 has (ARM IHI
        0022: a data bus of 8, 16, 32, 64, 128, 256, 512 or 1,024 bits)."""
        out = []
        bits = self.axi_bits
        if bits > AXI4_MAX_BITS or bits & (bits - 1):
            out.append(("axi_bits", f"must be an AXI4 data width, a power of two from 8 to "
                                    f"{AXI4_MAX_BITS:,} bits, not {bits:,}"))
        if self.axi_read_only_masters > self.axi_masters:
            out.append(("axi_read_only_masters", f"must be at most axi_masters "
                                                 f"({self.axi_masters}), not "
                                                 f"{self.axi_read_only_masters}"))
        return out


@dataclass(frozen=True, slots=True)
class ConventionalMath:
    """Conventional single-precision operators, for exact GELU and three-pass softmax.

    Latencies in cycles (representative vendor floating-point IP figures for single precision at
    a few hundred MHz: multiply 5, add 7, divide 14, exp 17, fixed<->float convert 6), and the
    resources of one operator. A float accumulation in a pipelined loop can only start every
    ``fadd`` cycles (its loop-carried dependence), whatever ``pipelined`` says.
    """

    fmul: int = field(default=5, metadata={"min": 1})
    fadd: int = field(default=7, metadata={"min": 1})
    fdiv: int = field(default=14, metadata={"min": 1})
    fexp: int = field(default=17, metadata={"min": 1})
    fcvt: int = field(default=6, metadata={"min": 1})
    pipelined: bool = True
    lanes: int = field(default=1, metadata={"min": 1})
    fmul_dsp: int = field(default=3, metadata={"min": 0})
    fadd_dsp: int = field(default=2, metadata={"min": 0})
    fexp_dsp: int = field(default=7, metadata={"min": 0})
    fop_lut: int = field(default=450, metadata={"min": 0})
    fdiv_lut: int = field(default=800, metadata={"min": 0})


@dataclass(frozen=True, slots=True)
class Power:
    """Dynamic-power coefficients at the design clock (estimates, XPE-style) and DDR energy.

    ``uram_mw`` (one URAM288) is BRAM18's scaled by capacity, 288 / 18 = 16 x 1.5 mW: an
    estimate, not an XPE figure (none was found to cite); likely high, as a URAM reads 72
    bits a cycle, not 16 times a BRAM18's 36."""

    dsp_mw: float = field(default=1.2, metadata={"min": 0})
    bram18_mw: float = field(default=1.5, metadata={"min": 0})
    uram_mw: float = field(default=24.0, metadata={"min": 0})
    lut_uw: float = field(default=6.0, metadata={"min": 0})
    ff_uw: float = field(default=1.5, metadata={"min": 0})
    ddr_pj_per_byte: float = field(default=160.0, metadata={"min": 0})


@dataclass(frozen=True, slots=True)
class Sweep:
    """Latency-vs-DSP sweep: attention parallelism x square linear-unit sizes, on one config."""

    config: str = "attention_reorder"
    attn_p: tuple[int, ...] = (1, 2, 4, 8, 16)
    linear_par: tuple[int, ...] = (8, 16, 32)
    with_and_without_attention_reorder: bool = True

    def problems(self) -> list[tuple[str, str]]:
        """Every p and size at least 1; neither list empty (that would drop the sweep without a
        word) nor repeating a value (the same rows twice)."""
        out = []
        for name, what in (("attn_p", "p"), ("linear_par", "size")):
            values = getattr(self, name)
            if not values:
                out.append((name, "must list at least one value (or leave the key out for the "
                                  "default)"))
            for i, value in enumerate(values):
                if value < 1:
                    out.append((f"{name}[{i}]", f"every {what} must be >= 1, not {value}"))
                elif value in values[:i]:
                    first = values.index(value)
                    out.append((f"{name}[{i}]", f"repeats {value}, already at index {first}"))
        return out


def parallelism_limits(w: ViTSpec) -> dict[str, tuple[int, str]]:
    """The largest useful value of each parallelism parameter of `Units` on workload ``w``,
    with why: beyond it the extra hardware has nothing to do."""
    moe = [w.is_moe(i) for i in range(w.layers)]
    widest = max(w.d_model, w.mlp_hidden if not all(moe) else 0,
                 w.expert_hidden if any(moe) else 0)  # only the MLPs the layers have
    linear = f"MACs beyond the widest linear layer, {widest}, stay idle"
    lanes = (w.d_model, f"lanes beyond d_model, {w.d_model}, stay idle")
    pixels = w.image_c * w.patch**2  # a patch's inputs
    return {"attn_p": (w.tokens, f"query slots beyond the {w.tokens} tokens stay empty"),
            "attn_lanes": lanes, "layernorm_lanes": lanes, "add_lanes": lanes,
            "linear_in_par": (widest, linear), "linear_out_par": (widest, linear),
            # one adder-tree column per expert, each at most a token's d_model inputs wide
            "gate_macs": (w.d_model * w.experts, f"MACs beyond d_model x experts, {w.d_model} x "
                                                 f"{w.experts}, stay idle"),
            "patch_embed_macs": (pixels * w.d_model, f"MACs beyond a patch's inputs x d_model, "
                                                     f"{pixels} x {w.d_model}, stay idle")}


def limit_problem(name: str, value: int, w: ViTSpec) -> str:
    """The message for parallelism parameter ``name`` = ``value`` beyond its limit on ``w``,
    else ''."""
    limit, why = parallelism_limits(w)[name]
    return f"must be at most {limit:,} ({why}), not {value:,}" if value > limit else ""


def _if_default(spec, name: str, what: str = "default") -> str:
    """`` (the default)`` when ``spec.name`` has its type's default value: a workload can rule
    out a default the file never wrote (a value at a key absent from the file is reported at
    the file's top or at the section)."""
    return f" (the {what})" if getattr(spec, name) == getattr(type(spec)(), name) else ""


@dataclass(frozen=True, slots=True)
class FpgaDesign:
    """A whole ``kind: fpga`` design file."""

    name: str
    board: str  # required: a design names the device it must fit (no silent ZCU102)
    workload: ViTSpec = field(default_factory=ViTSpec)
    routing: Routing = field(default_factory=Routing)
    units: Units = field(default_factory=Units)
    math: ConventionalMath = field(default_factory=ConventionalMath)
    power: Power = field(default_factory=Power)
    configs: dict[str, Techniques] = field(default_factory=lambda: {"edge_moe": Techniques()})
    sweep: Sweep | None = None

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.board not in BOARDS:
            close = difflib.get_close_matches(self.board.lower(), board_names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append(("board", f"unknown board {self.board!r}{hint}; valid boards: "
                                 f"{', '.join(board_names())}"))
        elif self.units.clock_mhz > BOARDS[self.board].max_clock_mhz:
            out.append(("units.clock_mhz", f"must be <= {BOARDS[self.board].max_clock_mhz} MHz on "
                                           f"{self.board}, not {self.units.clock_mhz}"))
        hits = self.routing.hits
        if hits and len(hits) != self.workload.experts:
            out.append(("routing.hits", f"must have one weight per expert "
                                        f"({self.workload.experts}), not {len(hits)}"))
        elif hits and sum(h > 0 for h in hits) < self.workload.top_k:
            out.append(("routing.hits", f"must give at least top_k = {self.workload.top_k} "
                                        f"experts a positive weight"))
        for name in parallelism_limits(self.workload):
            if message := limit_problem(name, getattr(self.units, name), self.workload):
                out.append((f"units.{name}", message + _if_default(self.units, name)))
        if self.sweep is not None:
            for key, name in (("attn_p", "attn_p"), ("linear_par", "linear_in_par")):
                for i, value in enumerate(getattr(self.sweep, key)):
                    if message := limit_problem(name, value, self.workload):
                        out.append((f"sweep.{key}[{i}]", message + _if_default(self.sweep, key,
                                                                                "default list")))
        if not self.configs:
            out.append(("configs", "must name at least one config"))
        if self.sweep is not None and self.sweep.config not in self.configs:
            out.append(("sweep.config", f"must be one of the configs "
                                        f"({', '.join(self.configs)}), not {self.sweep.config!r}"))
        return out
