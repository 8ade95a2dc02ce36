"""Edge-MoE's reordered A·V core with the softmax normalisation fused (edgemoe.md §3.2, §3.5):
``O = P V`` for one head, ``P[i, j] = exp(S[i, j] - b_i) (1/sum_i)`` rebuilt on the fly, ``p``
query slots of ``lanes`` MACs, every request on one memory port; bit-exact with
:mod:`fpga.golden.attention_av`, whose docstring defines the arithmetic and the order.

A unit of its own, not a mode of :class:`rtl.attention.AttentionUnit`: the two share the
schedule (:func:`fpga.golden.attention.positions`) but no datapath — Q·K multiplies two
streamed operands and emits scalars; A·V rebuilds probabilities through exp pipelines and
emits rows from per-slot accumulators — so a mode would be two components behind one switch.

Ports (``clk``, ``rst``: synchronous, active high; streams are ``amaranth.lib.stream``):

- ``start`` (in): a one-cycle pulse while ``busy`` is low starts one head; ``busy`` (out) is
  high from the cycle after ``start`` until the cycle after the head's last output is taken.
- ``req`` (out stream): {``kind``: 0 value, 1 scores, 2 row state; ``token``; ``block``;
  ``batch``}, one request per beat, in :func:`fpga.golden.attention_av.request_order`, never
  waiting for data.
- ``data`` (in stream): ``lanes`` signed ``act_bits`` elements (element i at bits
  ``[i act_bits, (i+1) act_bits)``), in request order: a value beat is value token ``token``'s
  block ``block``; a score beat holds slot s's score at key ``token`` in element s
  (``p <= lanes``; elements of slots without a query are ignored); a row-state beat holds
  ``b`` in element 0 and ``1/sum`` (unsigned, ``recip_frac`` fraction bits) in element 1.
- ``out`` (out stream): {``query``; ``block``; ``data``: ``lanes`` signed ``act_bits``}, one
  block of an output row, in :func:`fpga.golden.attention_av.output_order`.

Why one port: like the Q·K core, the unit is one AXI master; a position costs ``d/lanes + 1``
beats (+1 when a row state enters a slot), so the port runs at one beat per cycle and the
probabilities never wait (the score beat precedes the value beats it scales).

Pipeline (in order, advancing as a whole while the output register can move; no other stall):
the beat and its position flags (a row state's ``b`` is written into its slot here, before the
next beat's exp arguments ``sat(S - b)`` are formed); :data:`rtl.exp_core.EXP_LATENCY` stages
of ``p`` exp pipelines beside a delay line carrying the beat; then a row state's ``1/sum`` is
written into its slot, a score beat's ``p`` probabilities ``shift_round(exp * recip,
recip_frac)`` are registered, or a value beat's ``p x lanes`` exact products with them are;
then each slot's accumulator (a rotating chain of ``d/lanes`` words, its head always the
current block) adds them (or restarts at the slot's first key) and a completing query's block,
rounded and saturated, fills the output register.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from fpga.golden.attention import batches, keys_in_batch
from fpga.golden.attention_av import SCORES, STATE, AttentionAVFormat, V, acc_bits
from rtl.errors import RtlParamError, check_int, validating
from rtl.exp_core import EXP_LATENCY, ExpPipeline
from rtl.fixed import saturate, shift_round
from rtl.softmax_format import max_frac_bits, softmax_format

MAX_P = 16
MAX_LANES = 64
MAX_D = 4096
MAX_N = 65536
FLAGS = ("valid", "kind", "block", "slot", "start", "done", "done_slot", "query", "final",
         "payload")
"""What travels with a beat: handshake, kind, block, slot (row state; value beat: the slot
whose query starts here when ``start``), the completing query (``done``), ``final``, data."""
POSITION_FLAGS = ("block", "slot", "start", "done", "done_slot", "query", "final")
"""The flags of a beat's position, which travel beside its products (no kind, data or valid)."""


def _bits(count: int) -> int:
    """Bits of a counter over ``count`` values (at least 1)."""
    return max(1, (count - 1).bit_length())


def attention_av_format(p=4, lanes=8, d=64, n=129, act_bits=32, act_frac=22, const_bits=30,
                        t_frac=24, table_log2=8, entry_frac=30,
                        recip_frac=30) -> AttentionAVFormat:
    """Validated :class:`AttentionAVFormat`; RtlParamError naming the first bad parameter."""
    check_int("p", p, 1, MAX_P)
    check_int("lanes", lanes, 2, MAX_LANES)
    check_int("d", d, 1, MAX_D)
    if d % lanes:
        raise RtlParamError(f"lanes must divide d ({d}), not {lanes}")
    if p > lanes:
        raise RtlParamError(f"p must be at most lanes ({lanes}): one beat carries a key "
                            f"position's p scores, not {p}")
    check_int("n", n, max(p, 2), MAX_N)
    check_int("act_bits", act_bits, 3, 40)
    check_int("act_frac", act_frac, 1, max_frac_bits(act_bits))  # as the softmax's
    check_int("recip_frac", recip_frac, 1, min(act_bits - 1, 31))
    fmt = softmax_format(act_bits, act_frac, const_bits, t_frac, table_log2, entry_frac,
                         recip_frac)
    return AttentionAVFormat(p, lanes, d, n, fmt)


@dataclass(frozen=True, slots=True)
class _Walk:
    """One walker over the schedule's beats: the beat's kind and position, and whether it is
    the run's last (``final``)."""

    kind: Signal
    base: Signal
    batch: Signal
    k: Signal
    block: Signal
    final: Signal


def _walk(m: Module, f: AttentionAVFormat, name: str, step) -> _Walk:
    """Counters walking :func:`fpga.golden.attention_av.request_order`, one beat per cycle in
    which ``step`` is high; after the final beat they are back at the first."""
    nb, blocks = batches(f.n, f.p), f.blocks
    last_base = (nb - 1) * f.p
    base = Signal(range(last_base + 1), name=f"{name}_base")
    batch = Signal(_bits(nb), name=f"{name}_batch")
    k = Signal(range(f.n), name=f"{name}_k")
    block = Signal(_bits(blocks), name=f"{name}_block")
    kind = Signal(2, name=f"{name}_kind", init=STATE)  # position (0, 0) loads row 0
    final = Signal(name=f"{name}_final")
    last_k = Mux(base == last_base, keys_in_batch(f.n, f.p, nb - 1) - 1, f.n - 1)
    end_key = (kind == V) & (block == blocks - 1) & (k == last_k)
    m.d.comb += final.eq(end_key & (base == last_base))

    def first(b, kk):  # the kind a position starts with: a row state when it loads one
        loads = (b + kk < f.n) if f.p >= f.n else (kk < f.p) & (b + kk < f.n)
        return Mux(loads, STATE, SCORES)

    with m.If(step):
        with m.If(kind == STATE):
            m.d.sync += kind.eq(SCORES)
        with m.Elif(kind == SCORES):
            m.d.sync += kind.eq(V)
        with m.Elif(block != blocks - 1):
            m.d.sync += block.eq(block + 1)
        with m.Elif(k != last_k):
            m.d.sync += [block.eq(0), k.eq(k + 1), kind.eq(first(base, k + 1))]
        with m.Else():
            wrap = base == last_base
            nxt = Mux(wrap, 0, base + f.p)
            m.d.sync += [block.eq(0), k.eq(0), base.eq(nxt), kind.eq(first(nxt, 0)),
                         batch.eq(Mux(wrap, 0, batch + 1))]
    return _Walk(kind, base, batch, k, block, final)


class AttentionAVUnit(wiring.Component):
    """Reordered A·V core with fused normalisation for one head; see the module docstring.

    Parameters
    ----------
    p : query slots 1..16, at most ``lanes`` (default 4). lanes : MACs per slot, elements per
        beat 2..64 (8). d : elements per token 1..4096, a multiple of ``lanes`` (64).
    n : tokens max(p, 2)..65536 (129).
    act_bits, act_frac : scores, ``b``, V and O format, 2..40 and 1..min(act_bits-1, 30)
        (32, 22: Q10.22).
    const_bits, t_frac, table_log2, entry_frac : the exp's (:func:`rtl.exp_core.exp_format`).
    recip_frac : fraction bits of 1/sum, 1..min(act_bits-1, 31) (30), as the softmax unit's.

    Raises RtlParamError naming the first bad parameter and its range.
    """

    def __init__(self, p: int = 4, lanes: int = 8, d: int = 64, n: int = 129,
                 act_bits: int = 32, act_frac: int = 22, const_bits: int = 30,
                 t_frac: int = 24, table_log2: int = 8, entry_frac: int = 30,
                 recip_frac: int = 30):
        with validating(self):
            self.fmt = attention_av_format(p, lanes, d, n, act_bits, act_frac, const_bits,
                                           t_frac, table_log2, entry_frac, recip_frac)
        f = self.fmt
        req = data.StructLayout({"kind": 2, "token": _bits(n), "block": _bits(f.blocks),
                                 "batch": _bits(batches(n, p))})
        elems = data.ArrayLayout(signed(act_bits), lanes)
        out = data.StructLayout({"query": _bits(n), "block": _bits(f.blocks), "data": elems})
        super().__init__({
            "start": In(1), "busy": Out(1),
            "req": Out(stream.Signature(req)),
            "data": In(stream.Signature(elems)),
            "out": Out(stream.Signature(out)),
        })

    def config(self) -> dict:
        f, e = self.fmt, self.fmt.softmax.exp
        return {"unit": "attention_av", "p": f.p, "lanes": f.lanes, "d": f.d, "n": f.n,
                "act_bits": f.act_bits, "act_frac": f.act_frac, "const_bits": e.const_bits,
                "t_frac": e.t_frac, "table_log2": e.table_log2, "entry_frac": e.entry_frac,
                "recip_frac": f.softmax.recip.out_frac}

    def elaborate(self, platform):
        m = Module()
        self._requests(m)
        adv = Signal()  # the pipeline moves (it holds only while the output is not taken)
        m.d.comb += [adv.eq(~self.out.valid | self.out.ready), self.data.ready.eq(adv)]
        walk = _walk(m, self.fmt, "beat", self.data.valid & self.data.ready)
        beat, maxima = self._take(m, walk, adv)
        ys, line = self._exp(m, beat, maxima, adv)
        products, flags = self._scale(m, ys, line, adv)
        self._accumulate(m, products, flags, adv)
        return m

    def _requests(self, m: Module) -> None:
        """``req``: the schedule walked once per ``start``."""
        running = Signal()
        walk = _walk(m, self.fmt, "req", self.req.valid & self.req.ready)
        m.d.comb += [self.req.valid.eq(running), self.req.payload.kind.eq(walk.kind),
                     self.req.payload.token.eq(Mux(walk.kind == STATE, walk.base + walk.k,
                                                   walk.k)),
                     self.req.payload.block.eq(walk.block),
                     self.req.payload.batch.eq(walk.batch)]
        with m.If(self.req.valid & self.req.ready & walk.final):
            m.d.sync += running.eq(0)
        with m.If(self.start & ~self.busy):
            m.d.sync += [running.eq(1), self.busy.eq(1)]

    def _advance(self, m: Module, src: dict, stage: str, adv, keep=FLAGS) -> dict:
        """The flags ``keep`` of ``src`` registered beside pipeline stage ``stage``."""
        f = self.fmt
        shapes = {"valid": 1, "kind": 2, "block": _bits(f.blocks), "slot": _bits(f.p),
                  "start": 1, "done": 1, "done_slot": _bits(f.p), "query": _bits(f.n),
                  "final": 1, "payload": f.lanes * f.act_bits}
        regs = {name: Signal(shapes[name], name=f"{name}_{stage}") for name in keep}
        with m.If(adv):
            m.d.sync += [regs[name].eq(src[name]) for name in keep]
        return regs

    def _take(self, m: Module, walk: _Walk, adv) -> tuple[dict, list[Signal]]:
        """The beat and its position flags, registered; a row state's ``b`` enters its slot
        (returned: each slot's ``b``)."""
        f = self.fmt
        n, p = f.n, f.p
        taken = self.data.valid & self.data.ready
        src = {"valid": taken, "kind": walk.kind, "block": walk.block, "slot": walk.k,
               "start": walk.k < p if p < n else 1, "final": walk.final,
               "payload": self.data.payload.as_value()}
        # the query completing at this position: slot 0's at key n-1, else slot k+1's
        last_base = (batches(n, p) - 1) * p
        own = (walk.k == n - 1) & (walk.base < n if last_base >= n else 1)
        prev = walk.base - p + walk.k + 1
        if p > 1:
            late = (walk.k + 1 < p) & (walk.base >= p) & (prev < n)
            src.update(done=own | late, done_slot=Mux(own, 0, walk.k + 1),
                       query=Mux(own, walk.base, prev))
        else:
            src.update(done=own, done_slot=0, query=walk.base)
        beat = self._advance(m, src, "0", adv)
        maxima = [Signal(signed(f.act_bits), name=f"b_{s}") for s in range(p)]
        with m.If(adv & beat["valid"] & (beat["kind"] == STATE)):
            for s, b in enumerate(maxima):
                with m.If(beat["slot"] == s):
                    m.d.sync += b.eq(beat["payload"][:f.act_bits].as_signed())
        return beat, maxima

    def _exp(self, m: Module, beat: dict, maxima: list, adv):
        """``p`` exp pipelines on ``sat(S_s - b_s)``; the beat travels beside them."""
        f = self.fmt
        ys = []
        for s in range(f.p):
            pipe = ExpPipeline(f.softmax.exp)
            m.submodules[f"exp_{s}"] = pipe
            score = beat["payload"][s * f.act_bits:(s + 1) * f.act_bits].as_signed()
            m.d.comb += [pipe.en.eq(adv), pipe.z.eq(saturate(score - maxima[s], f.act_bits))]
            ys.append(pipe.y)
        line = beat
        for stage in range(1, EXP_LATENCY + 1):
            line = self._advance(m, line, str(stage), adv)
        return ys, line

    def _scale(self, m: Module, ys, line: dict, adv):
        """Row state: ``1/sum`` into its slot. Scores: the ``p`` probabilities. Value beat:
        the ``p x lanes`` exact products with them (registered with the beat's flags)."""
        f = self.fmt
        rbits = f.softmax.recip.out_frac + 1
        recips = [Signal(rbits, name=f"recip_{s}") for s in range(f.p)]
        probs = [Signal(f.prob_bits, name=f"prob_{s}") for s in range(f.p)]
        is_kind = {kind: adv & line["valid"] & (line["kind"] == kind) for kind in (STATE, SCORES)}
        with m.If(is_kind[STATE]):
            for s, r in enumerate(recips):
                with m.If(line["slot"] == s):
                    m.d.sync += r.eq(line["payload"][f.act_bits:f.act_bits + rbits])
        with m.If(is_kind[SCORES]):
            m.d.sync += [pr.eq(shift_round(y * r, rbits - 1))
                         for pr, y, r in zip(probs, ys, recips, strict=True)]
        v = [line["payload"][i * f.act_bits:(i + 1) * f.act_bits].as_signed()
             for i in range(f.lanes)]
        products = []
        for s, pr in enumerate(probs):
            row = [Signal(signed(f.prob_bits + f.act_bits), name=f"prod_{s}_{i}",
                          reset_less=True) for i in range(f.lanes)]
            with m.If(adv):
                m.d.sync += [x.eq(pr * vi) for x, vi in zip(row, v, strict=True)]
            products.append(row)
        flags = self._advance(m, line, "m", adv, keep=POSITION_FLAGS)
        flags["valid"] = Signal(name="valid_m")
        with m.If(adv):
            m.d.sync += flags["valid"].eq(line["valid"] & (line["kind"] == V))
        return products, flags

    def _accumulate(self, m: Module, products, flags: dict, adv) -> None:
        """Each slot's rotating accumulator chain; a completing query's block is rounded,
        saturated and registered on ``out``."""
        f = self.fmt
        width = acc_bits(f)
        fresh = []
        for s, row in enumerate(products):
            chain = [[Signal(signed(width), name=f"acc_{s}_{j}_{i}", reset_less=True)
                      for i in range(f.lanes)] for j in range(f.blocks)]
            restart = flags["start"] & (flags["slot"] == s)
            new = [Mux(restart, 0, head) + x for head, x in zip(chain[0], row, strict=True)]
            with m.If(adv & flags["valid"]):
                for j in range(f.blocks - 1):
                    m.d.sync += [a.eq(b) for a, b in zip(chain[j], chain[j + 1], strict=True)]
                m.d.sync += [a.eq(x) for a, x in zip(chain[-1], new, strict=True)]
            fresh.append(new)
        final = Signal()
        take = self.out.valid & self.out.ready
        with m.If(take & final):
            m.d.sync += self.busy.eq(0)
        with m.If(adv):
            m.d.sync += [self.out.valid.eq(flags["valid"] & flags["done"]),
                         final.eq(flags["final"]),
                         self.out.payload.query.eq(flags["query"]),
                         self.out.payload.block.eq(flags["block"])]
            for i in range(f.lanes):
                total = fresh[0][i]
                for s in range(1, f.p):
                    total = Mux(flags["done_slot"] == s, fresh[s][i], total)
                m.d.sync += self.out.payload.data[i].eq(
                    saturate(shift_round(total, f.act_frac), f.act_bits))
