"""One attention head end to end in Edge-MoE's dataflow (edgemoe.md §3.2, §3.5): the Q·K core
(:class:`rtl.attention.AttentionUnit`), ``p`` single-pass softmax units
(:class:`rtl.softmax.SoftmaxUnit`) and the A·V core (:class:`rtl.attention_av.AttentionAVUnit`),
bit-exact with :mod:`fpga.golden.attention_head`. Wiring, a phase FSM and address generation
only: no arithmetic of its own.

Phases: **1** — the Q·K core reads Q and K; each score is written to memory (beat ``scores +
batch n + key``, element ``slot``: the beat the A·V core reads) and, in the same handshake,
enters its slot's softmax unit, which keeps the row's running (max, sum); at a row's end its
``(b, 1/sum)`` is written to beat ``state + query``. **2** — once the Q·K core is idle and all
``n`` row states are written, the A·V core reads row states, scores and V and streams the
output rows. Address map: :func:`fpga.golden.attention_head.memory_map`.

One softmax per query slot, not a shared one: the score stream interleaves up to ``p`` rows
(per key position one score of every live slot), and a row's running maximum is a one-cycle
loop in the softmax unit, so a shared unit would need per-row state and new forwarding logic.
Slot ``s`` only ever sees rows ``s, s + p, ...``, one after another, each in its arrival order
(keys ``s .. n-1, 0 .. s-1``).

Ports (``clk``, ``rst``: synchronous, active high; streams are ``amaranth.lib.stream``):

- ``start`` (in): a one-cycle pulse while ``busy`` is low starts a head; ``busy`` (out) is high
  from the next cycle until the cycle after the last output is taken.
- ``rd`` (out stream): {``addr``}: one beat read per request, never waiting for data; ``data``
  (in stream): the beats in request order (``lanes`` signed ``act_bits``).
- ``wr`` (out stream): {``addr``, ``strobe``: one bit per element, ``data``: ``lanes``
  elements}; a score write strobes its slot's element (the score on every lane), a row-state
  write elements 0 (``b``) and 1 (``1/sum``, unsigned).
- ``out`` (out stream): the A·V core's {``query``, ``block``, ``data``}.

Two memory ports, one read and one write, as AXI has independent read and write channels:
phase 1 reads Q/K beats while it writes scores and row states; each core is one read master
and the two never read at the same time. Write arbitration: a row state (lowest slot first)
wins over a score, which then waits a cycle (the Q·K core holds).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from fpga.golden.attention import batches
from fpga.golden.attention_av import SCORES, STATE
from fpga.golden.attention_head import HeadFormat, memory_map
from rtl.attention import AttentionUnit, attention_format
from rtl.attention_av import AttentionAVUnit, attention_av_format
from rtl.errors import validating
from rtl.softmax import SoftmaxUnit


def _bits(count: int) -> int:
    """Bits of a counter over ``count`` values (at least 1)."""
    return max(1, (count - 1).bit_length())


def head_format(p=4, lanes=8, d=64, n=129, act_bits=32, act_frac=22, scale_shift=None,
                const_bits=30, t_frac=24, table_log2=8, entry_frac=30,
                recip_frac=30) -> HeadFormat:
    """Both cores' validated formats; RtlParamError naming the first bad parameter (the A·V
    core's ranges first: they are the narrower)."""
    fav = attention_av_format(p, lanes, d, n, act_bits, act_frac, const_bits, t_frac,
                              table_log2, entry_frac, recip_frac)
    fqk = attention_format(p, lanes, d, n, act_bits, act_frac, scale_shift)
    return HeadFormat(fqk, fav)


@dataclass(frozen=True, slots=True)
class _Parts:
    """The composed units: the Q·K core, the A·V core, one softmax per query slot."""

    qk: AttentionUnit
    av: AttentionAVUnit
    sm: tuple[SoftmaxUnit, ...]


class AttentionHead(wiring.Component):
    """One head: Q·K, per-slot softmax, A·V; see the module docstring.

    Parameters
    ----------
    p, lanes, d, n, act_bits, act_frac, scale_shift : as :class:`rtl.attention.AttentionUnit`
        (and ``p <= lanes``, ``lanes >= 2``, ``act_bits <= 40`` for the A·V core).
    const_bits, t_frac, table_log2, entry_frac, recip_frac : the exp and 1/sum formats, shared
        by the softmax units and the A·V core.

    Raises RtlParamError naming the first bad parameter and its range.
    """

    def __init__(self, p: int = 4, lanes: int = 8, d: int = 64, n: int = 129,
                 act_bits: int = 32, act_frac: int = 22, scale_shift: int | None = None,
                 const_bits: int = 30, t_frac: int = 24, table_log2: int = 8,
                 entry_frac: int = 30, recip_frac: int = 30):
        with validating(self):
            self.fmt = head_format(p, lanes, d, n, act_bits, act_frac, scale_shift, const_bits,
                                   t_frac, table_log2, entry_frac, recip_frac)
        self.map = memory_map(self.fmt)
        addr = _bits(self.map.size)
        elems = data.ArrayLayout(signed(act_bits), lanes)
        out = data.StructLayout({"query": _bits(n), "block": _bits(self.fmt.qk.blocks),
                                 "data": elems})  # the A·V core's
        write = data.StructLayout({"addr": addr, "strobe": lanes,
                                   "data": data.ArrayLayout(unsigned(act_bits), lanes)})
        super().__init__({
            "start": In(1), "busy": Out(1),
            "rd": Out(stream.Signature(data.StructLayout({"addr": addr}))),
            "data": In(stream.Signature(elems)),
            "wr": Out(stream.Signature(write)),
            "out": Out(stream.Signature(out)),
        })

    def config(self) -> dict:
        f, e = self.fmt, self.fmt.av.softmax.exp
        return {"unit": "attention_head", "p": f.qk.p, "lanes": f.qk.lanes, "d": f.qk.d,
                "n": f.n, "act_bits": f.qk.act_bits, "act_frac": f.qk.act_frac,
                "scale_shift": f.qk.scale_shift, "const_bits": e.const_bits, "t_frac": e.t_frac,
                "table_log2": e.table_log2, "entry_frac": e.entry_frac,
                "recip_frac": f.av.softmax.recip.out_frac}

    def elaborate(self, platform):
        m = Module()
        c = self.config()
        core = {k: c[k] for k in ("p", "lanes", "d", "n", "act_bits", "act_frac")}
        exp = {k: c[k] for k in ("const_bits", "t_frac", "table_log2", "entry_frac",
                                 "recip_frac")}
        parts = _Parts(AttentionUnit(**core, scale_shift=c["scale_shift"]),
                       AttentionAVUnit(**core, **exp),
                       tuple(SoftmaxUnit(total_bits=c["act_bits"], frac_bits=c["act_frac"],
                                         **exp) for _ in range(c["p"])))
        m.submodules.qk, m.submodules.av = parts.qk, parts.av
        for s, unit in enumerate(parts.sm):
            m.submodules[f"softmax_{s}"] = unit
        go = self.start & ~self.busy  # a head starts: the Q·K core and the counters
        state_taken = Signal()  # a row state is written this cycle
        phase2 = self._phases(m, parts, go, state_taken)
        self._reads(m, parts, phase2)
        self._writes(m, parts, go, state_taken)
        wiring.connect(m, wiring.flipped(self.out), parts.av.out)
        return m

    def _phases(self, m: Module, parts: _Parts, go, state_taken) -> Signal:
        """The phase FSM; returns the phase-2 flag (the A·V core owns the read port)."""
        n = self.fmt.n
        states = Signal(range(n + 1))  # row states written this head
        phase1, phase2 = Signal(), Signal()
        with m.If(state_taken):
            m.d.sync += states.eq(states + 1)
        m.d.comb += [self.busy.eq(phase1 | (phase2 & parts.av.busy)), parts.qk.start.eq(go)]
        with m.If(go):
            m.d.sync += [phase1.eq(1), phase2.eq(0), states.eq(0)]
        hand_over = phase1 & ~parts.qk.busy & (states == n)
        m.d.comb += parts.av.start.eq(hand_over)
        with m.If(hand_over):
            m.d.sync += [phase1.eq(0), phase2.eq(1)]
        return phase2

    def _reads(self, m: Module, parts: _Parts, phase2) -> None:
        """Read requests of the active core, addressed by :class:`MemoryMap`; beats to it."""
        f, mm, qk, av = self.fmt, self.map, parts.qk, parts.av
        blocks = f.qk.blocks
        qreq, areq = qk.req.payload, av.req.payload
        q_addr = Mux(qreq.tensor, mm.k, mm.q) + qreq.token * blocks + qreq.block
        a_addr = Mux(areq.kind == STATE, mm.state + areq.token,
                     Mux(areq.kind == SCORES, mm.scores + areq.batch * f.n + areq.token,
                         mm.v + areq.token * blocks + areq.block))
        m.d.comb += [self.rd.valid.eq(qk.req.valid | av.req.valid),
                     self.rd.payload.addr.eq(Mux(qk.req.valid, q_addr, a_addr)),
                     qk.req.ready.eq(self.rd.ready), av.req.ready.eq(self.rd.ready),
                     qk.data.payload.eq(self.data.payload.as_value()),
                     av.data.payload.eq(self.data.payload.as_value()),
                     qk.data.valid.eq(self.data.valid & ~phase2),
                     av.data.valid.eq(self.data.valid & phase2),
                     self.data.ready.eq(Mux(phase2, av.data.ready, qk.data.ready))]

    def _writes(self, m: Module, parts: _Parts, go, state_taken) -> None:
        """Scores into memory and their slot's softmax in one handshake; row states (lowest
        slot first) take the write port before a score."""
        f, mm, score = self.fmt, self.map, parts.qk.score
        n, p = f.n, f.qk.p
        # the score's position: a key below the previous one starts the next batch
        base, row, prev = (Signal(range((batches(n, p) + 1) * p)),
                           Signal(range(batches(n, p) * n + 1)), Signal(range(n)))
        new_batch = score.payload.key < prev
        pos_base = Mux(new_batch, base + p, base)
        pos_row = Mux(new_batch, row + n, row)
        query, key = score.payload.query, score.payload.key
        slot = Signal(_bits(p))
        m.d.comb += slot.eq(Mux(query >= pos_base, query - pos_base, query + p - pos_base))
        last = key == Mux(slot == 0, n - 1, slot - 1)
        with m.If(go):
            m.d.sync += [base.eq(0), row.eq(0), prev.eq(0)]
        with m.Elif(score.valid & score.ready):
            m.d.sync += [base.eq(pos_base), row.eq(pos_row), prev.eq(key)]

        state_valid = Signal(p)
        m.d.comb += state_valid.eq(Cat(*(u.o.valid for u in parts.sm)))
        winner = Signal(_bits(p))
        for s in reversed(range(p)):
            with m.If(state_valid[s]):
                m.d.comb += winner.eq(s)
        any_state = state_valid != 0
        sm_ready = Signal(p)
        m.d.comb += sm_ready.eq(Cat(*(u.i.ready for u in parts.sm)))
        score_ok = score.valid & sm_ready.bit_select(slot, 1) & ~any_state
        m.d.comb += [score.ready.eq(self.wr.ready & ~any_state & sm_ready.bit_select(slot, 1)),
                     self.wr.valid.eq(any_state | score_ok)]
        rows = [Signal(range(n + p), name=f"row_{s}", init=s) for s in range(p)]
        for s, (unit, r) in enumerate(zip(parts.sm, rows, strict=True)):
            m.d.comb += [unit.i.valid.eq(score.valid & score.ready & (slot == s)),
                         unit.i.payload.score.eq(score.payload.score),
                         unit.i.payload.last.eq(last),
                         unit.o.ready.eq(self.wr.ready & (winner == s))]
            with m.If(go):
                m.d.sync += r.eq(s)
            with m.Elif(unit.o.valid & unit.o.ready):
                m.d.sync += r.eq(r + p)
        m.d.comb += state_taken.eq(any_state & self.wr.ready)
        wr = self.wr.payload
        with m.If(any_state):
            for s, (unit, r) in enumerate(zip(parts.sm, rows, strict=True)):
                with m.If(winner == s):
                    m.d.comb += [wr.addr.eq(mm.state + r), wr.strobe.eq(0b11),
                                 wr.data[0].eq(unit.o.payload.max),
                                 wr.data[1].eq(unit.o.payload.recip)]
        with m.Else():
            m.d.comb += [wr.addr.eq(mm.scores + pos_row + key), wr.strobe.eq(1 << slot)]
            m.d.comb += [wr.data[i].eq(score.payload.score) for i in range(f.qk.lanes)]
