"""Varied fpga designs for the metamorphic tests: seeded variations of
designs/edge-moe-zcu102.yaml built by ``dataclasses.replace`` (boards, image sizes from N = 2 to
129, heads, experts, top-k, routing, p, lanes, linear sizes, clocks, AXI widths), technique
settings (all on, all off, three distinct mixes), a memory path that never binds, and the
staggered attention schedule walked from its description."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from attnforge.kinds.fpga import KIND
from fpga import units as un
from fpga.board import Board, get_board
from fpga.schedule import image_timing
from fpga.spec import TECHNIQUES, FpgaDesign, Techniques, Units
from fpga.workload import Routing, ViTSpec

DESIGN_FILE = Path(__file__).parents[2] / "designs" / "edge-moe-zcu102.yaml"
BASE: FpgaDesign = KIND.load(DESIGN_FILE)
ALL_ON = Techniques()


def valid(d: FpgaDesign) -> bool:
    return not (d.problems() or d.workload.problems() or d.routing.problems()
                or d.sweep is not None and d.sweep.problems())


def design(rng: random.Random) -> FpgaDesign:
    """One random design near M3ViT's scale: a few layers, small images (N from 2 to 129)."""
    heads = rng.choice((1, 2, 3, 4, 6))
    head_dim = rng.choice((8, 16, 24, 32, 64))
    experts = rng.choice((1, 2, 4, 8, 16))
    side = rng.choice(((16, 16), (32, 32), (32, 64), (64, 64), (128, 256), (48, 80)))
    w = ViTSpec(image_h=side[0], image_w=side[1], d_model=heads * head_dim, heads=heads,
                layers=rng.randint(1, 4), mlp_hidden=rng.choice((64, 96, 384, 768)),
                experts=experts, expert_hidden=rng.choice((32, 100, 384)),
                top_k=rng.randint(1, experts), moe_every=rng.randint(1, 3))
    u = replace(BASE.units, attn_p=rng.randint(1, min(16, w.tokens)),
                attn_lanes=rng.choice([x for x in (1, 3, 8, 16, head_dim) if x <= w.d_model]),
                linear_in_par=rng.choice((4, 8, 16, 32)), linear_out_par=rng.choice((4, 16, 32)),
                clock_mhz=rng.choice((150.0, 300.0, 450.0)), axi_bits=rng.choice((64, 256, 512)),
                ping_pong=rng.random() < 0.7, gate_macs=rng.choice((16, 128)))
    hits: tuple[float, ...] = ()
    if rng.random() < 0.4:
        hits = tuple(float(rng.randint(0, 3)) for _ in range(experts))
        if sum(h > 0 for h in hits) < w.top_k:
            hits = ()
    return replace(BASE, board=rng.choice(("zcu102", "zcu104", "u280")), workload=w, units=u,
                   routing=Routing(seed=rng.randint(0, 9), hits=hits), sweep=None)


def designs(count: int, seed: int) -> list[FpgaDesign]:
    rng = random.Random(seed)
    out: list[FpgaDesign] = []
    while len(out) < count:
        d = design(rng)
        if valid(d):
            out.append(d)
    return out


DESIGNS = [BASE, *designs(11, seed=7)]
IDS = [f"d{i}" for i in range(len(DESIGNS))]


def techniques(rng: random.Random) -> Techniques:
    return Techniques(*(rng.random() < 0.5 for _ in TECHNIQUES))


ALL_OFF = Techniques(*(False for _ in TECHNIQUES))


def mixed_techniques(count: int, seed: int) -> list[Techniques]:
    """``count`` distinct seeded technique settings, neither all on nor all off."""
    rng, out = random.Random(seed), []
    while len(out) < count:
        t = techniques(rng)
        if t not in (ALL_ON, ALL_OFF, *out):
            out.append(t)
    return out


TECHS = [ALL_ON, ALL_OFF, *mixed_techniques(3, seed=0)]

# A memory path that never binds: every transfer takes under a cycle, no first-beat latency.
FREE = un.Memory(port_bytes=float(1 << 40), ddr_bytes=float(1 << 40), latency=0)


def free_board(board: Board) -> Board:
    return replace(board, ddr_gbps=1e12, host_port_bits=1 << 40, host_port_mhz=1e9,
                   ddr_latency_ns=0.0)


def timing_of(d: FpgaDesign, t: Techniques, u: Units | None = None,
              board: Board | None = None):
    """`fpga.schedule.image_timing` of design ``d`` with ``t``, on ``u`` and ``board`` (default
    the design's)."""
    return image_timing(d.workload, board or get_board(d.board), u or d.units, t, d.math,
                        d.routing)


def staggered_key_positions(n: int, p: int) -> int:
    """Key positions of the staggered schedule, walked from its description (edgemoe.md §3.5):
    batch b caches queries bp .. bp+p-1, slot s loading its query at key position s; until
    then it still holds query (b-1)p + s, which needs keys 0 .. s-1. A batch walks up to the
    last key a slot it holds still needs; the loop runs ceil((N+p-1)/p) times."""
    total = 0
    for b in range(-(-(n + p - 1) // p)):
        need = 0
        for s in range(p):
            if b * p + s < n:
                need = n  # a new query needs every key
            if 0 <= (b - 1) * p + s < n:
                need = max(need, s)  # the previous query still needs keys 0 .. s-1
        total += need
    return total
