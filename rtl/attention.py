"""Edge-MoE's reordered Q·K attention core (edgemoe.md §3.5): all ``n x n`` scores of one head
from ``p`` query slots of ``lanes`` MACs, reading Q and K through one memory port; bit-exact
with :mod:`fpga.golden.attention`, whose docstring defines the arithmetic and the order.

Ports (``clk``, ``rst``: synchronous, active high; streams are ``amaranth.lib.stream``):

- ``start`` (in): a one-cycle pulse while ``busy`` is low starts one head; ``busy`` (out) is
  high from the cycle after ``start`` until the cycle after the head's last score is taken.
- ``req`` (out stream): payload {``tensor``: 1 bit, 0 = Q, 1 = K; ``token``; ``block``}, one
  request per beat, in :func:`fpga.golden.attention.request_order`. Requests never wait for
  data: the unit issues the next one in the cycle after a handshake.
- ``data`` (in stream): payload ``lanes`` signed ``act_bits`` elements (element i at bits
  ``[i act_bits, (i+1) act_bits)``) of the requested token's block, in request order.
- ``score`` (out stream): payload {``query``, ``key``, ``score``: signed ``act_bits``,
  ``act_frac`` fraction bits}, in :func:`fpga.golden.attention.score_order`.

The tokens ``n`` are a parameter (elaborated into the counters), not a run-time input.

Port sharing: the port delivers one beat per cycle. A query load costs beats of its own: at key
positions ``k < p`` (``base + k < n``) each key beat is preceded by the same block of query
``base + k``, written into slot ``k`` (a ``d / lanes``-deep memory per slot, overwriting the
block the slot's previous query used at position ``k - 1``). Every key beat is multiplied with
all ``p`` slots in one cycle. So one head reads ``beats = (key_positions + n) d / lanes`` beats
(:func:`fpga.golden.attention.beats`) and, with no stall anywhere, takes
``mem_latency + beats + 4`` cycles from the first request to the last score
(:func:`fpga.golden.attention.cycles`): one beat per cycle whatever ``p`` is, as long as
``p <= d / lanes`` (a key position's scores leave one per cycle while its next beats arrive;
with more live queries than beats the score port sets the pace, and the golden ``cycles``
counts that exactly).

Pipeline (advances as a whole; it holds while a key position's scores wait for the score buffer
to empty): key beat and slot reads registered, products registered, per-slot block sums
(adder trees) registered, then the exact accumulators; after a key token's last block the
scaled, saturated scores of the slots holding an existing query go into a ``p``-entry buffer
that drains one score per cycle, lowest slot first.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from fpga.golden.attention import AttentionFormat, acc_bits, batches, keys_in_batch
from rtl.errors import RtlParamError, check_int, validating
from rtl.fixed import adder_tree, saturate

MAX_P = 16
MAX_LANES = 64
MAX_D = 4096
MAX_N = 65536
MAX_BITS = 64


def _bits(count: int) -> int:
    """Bits of a counter over ``count`` values (at least 1)."""
    return max(1, (count - 1).bit_length())


def attention_format(p: int = 4, lanes: int = 8, d: int = 64, n: int = 129, act_bits: int = 32,
                     act_frac: int = 22, scale_shift: int | None = None) -> AttentionFormat:
    """Validated :class:`AttentionFormat`; RtlParamError naming the first bad parameter.
    ``scale_shift`` None means ``log2(sqrt(d))`` (1/sqrt(d) is a shift), which needs ``d`` a
    power of 4."""
    check_int("p", p, 1, MAX_P)
    check_int("lanes", lanes, 1, MAX_LANES)
    check_int("d", d, 1, MAX_D)
    if d % lanes:
        raise RtlParamError(f"lanes must divide d ({d}), not {lanes}")
    check_int("n", n, max(p, 2), MAX_N)
    check_int("act_bits", act_bits, 2, MAX_BITS)
    check_int("act_frac", act_frac, 0, act_bits - 1)
    if scale_shift is None:
        root = d.bit_length() - 1
        if d & (d - 1) or root % 2:
            raise RtlParamError(f"scale_shift must be given when d ({d}) is not a power of 4 "
                                f"(1/sqrt(d) is then no power of two)")
        scale_shift = root // 2
    check_int("scale_shift", scale_shift, 0, MAX_BITS)
    return AttentionFormat(p, lanes, d, n, act_bits, act_frac, scale_shift)


@dataclass(frozen=True, slots=True)
class _Walk:
    """One walker over the schedule's beats: where it stands, and whether that beat is the
    run's last (``final``)."""

    is_q: Signal
    base: Signal
    k: Signal
    block: Signal
    final: Signal


def _walk(m: Module, f: AttentionFormat, name: str, step) -> _Walk:
    """Counters walking :func:`fpga.golden.attention.request_order`, one beat per cycle in
    which ``step`` is high; after the final beat they are back at the first."""
    nb, blocks = batches(f.n, f.p), f.blocks
    last_base = (nb - 1) * f.p
    base = Signal(range(last_base + 1), name=f"{name}_base")
    k = Signal(range(f.n), name=f"{name}_k")
    block = Signal(_bits(blocks), name=f"{name}_block")
    is_q = Signal(name=f"{name}_is_q", init=1)  # position (0, 0) loads query 0
    final = Signal(name=f"{name}_final")
    last_k = Mux(base == last_base, keys_in_batch(f.n, f.p, nb - 1) - 1, f.n - 1)
    end_key = (block == blocks - 1) & (k == last_k)
    m.d.comb += final.eq(~is_q & end_key & (base == last_base))

    def has_q(b, kk):  # (kk < p) is always true when p == n: no constant compare
        return (b + kk < f.n) if f.p >= f.n else (kk < f.p) & (b + kk < f.n)

    with m.If(step):
        with m.If(is_q):
            m.d.sync += is_q.eq(0)
        with m.Elif(block != blocks - 1):
            m.d.sync += [block.eq(block + 1), is_q.eq(has_q(base, k))]
        with m.Elif(k != last_k):
            m.d.sync += [block.eq(0), k.eq(k + 1), is_q.eq(has_q(base, k + 1))]
        with m.Else():
            nxt = Mux(base == last_base, 0, base + f.p)
            m.d.sync += [block.eq(0), k.eq(0), base.eq(nxt), is_q.eq(has_q(nxt, 0))]
    return _Walk(is_q, base, k, block, final)


class AttentionUnit(wiring.Component):
    """Reordered Q·K core for one head; see the module docstring.

    Parameters
    ----------
    p : query slots 1..16 (default 4). lanes : MACs per slot, elements per beat 1..64 (8).
    d : elements per token 1..4096, a multiple of ``lanes`` (64).
    n : tokens max(p, 2)..65536 (129).
    act_bits, act_frac : Q, K and score format, 2..64 and 0..act_bits-1 (32, 22: Q10.22).
    scale_shift : scores are ``Q·K * 2**-scale_shift``; None (default): log2(sqrt(d)), d a
        power of 4 (3 for d = 64).

    Raises RtlParamError naming the first bad parameter and its range.
    """

    def __init__(self, p: int = 4, lanes: int = 8, d: int = 64, n: int = 129,
                 act_bits: int = 32, act_frac: int = 22, scale_shift: int | None = None):
        with validating(self):
            self.fmt = attention_format(p, lanes, d, n, act_bits, act_frac, scale_shift)
        f = self.fmt
        req = data.StructLayout({"tensor": 1, "token": _bits(n), "block": _bits(f.blocks)})
        out = data.StructLayout({"query": _bits(n), "key": _bits(n), "score": signed(act_bits)})
        super().__init__({
            "start": In(1), "busy": Out(1),
            "req": Out(stream.Signature(req)),
            "data": In(stream.Signature(data.ArrayLayout(signed(act_bits), lanes))),
            "score": Out(stream.Signature(out)),
        })

    def config(self) -> dict:
        f = self.fmt
        return {"unit": "attention", "p": f.p, "lanes": f.lanes, "d": f.d, "n": f.n,
                "act_bits": f.act_bits, "act_frac": f.act_frac, "scale_shift": f.scale_shift}

    def elaborate(self, platform):
        m = Module()
        self._requests(m)
        adv = Signal()  # the pipeline moves (it holds while scores wait for the buffer)
        walk = _walk(m, self.fmt, "beat", self.data.valid & self.data.ready)
        m.d.comb += self.data.ready.eq(adv)
        key, slots, flags = self._take(m, walk, adv)
        sums, flags = self._multiply(m, key, slots, flags, adv)
        self._accumulate(m, sums, flags, adv)
        return m

    def _requests(self, m: Module) -> None:
        """``req``: the schedule walked once per ``start``."""
        running = Signal()
        walk = _walk(m, self.fmt, "req", self.req.valid & self.req.ready)
        m.d.comb += [self.req.valid.eq(running), self.req.payload.tensor.eq(~walk.is_q),
                     self.req.payload.token.eq(Mux(walk.is_q, walk.base + walk.k, walk.k)),
                     self.req.payload.block.eq(walk.block)]
        with m.If(self.req.valid & self.req.ready & walk.final):
            m.d.sync += running.eq(0)
        with m.If(self.start & ~self.busy):
            m.d.sync += [running.eq(1), self.busy.eq(1)]

    def _take(self, m: Module, walk: _Walk, adv):
        """A query beat is written into its slot; a key beat is registered with every slot's
        block (one synchronous read per slot) and its position flags."""
        f = self.fmt
        width = f.lanes * f.act_bits
        taken = self.data.valid & self.data.ready
        slots = []
        for s in range(f.p):
            # at least 2 words: a 1-word memory has a 0-bit address (Verilator ASCRANGE)
            mem = memory.Memory(shape=unsigned(width), depth=max(f.blocks, 2), init=[])
            m.submodules[f"slot_{s}"] = mem
            w, r = mem.write_port(), mem.read_port()
            m.d.comb += [w.addr.eq(walk.block), w.data.eq(self.data.payload.as_value()),
                         w.en.eq(taken & walk.is_q & (walk.k == s)),
                         r.addr.eq(walk.block), r.en.eq(adv)]
            slots.append([r.data[i * f.act_bits:(i + 1) * f.act_bits].as_signed()
                          for i in range(f.lanes)])
        key = [Signal(signed(f.act_bits), name=f"key_{i}") for i in range(f.lanes)]
        flags = self._flag_regs(1)
        with m.If(adv):
            m.d.sync += [x.eq(self.data.payload[i]) for i, x in enumerate(key)]
            m.d.sync += [flags["valid"].eq(taken & ~walk.is_q),
                         flags["first"].eq(walk.block == 0),
                         flags["last"].eq(walk.block == f.blocks - 1),
                         flags["base"].eq(walk.base), flags["k"].eq(walk.k),
                         flags["final"].eq(walk.final)]
        return key, slots, flags

    def _flag_regs(self, stage: int) -> dict[str, Signal]:
        """A key beat's position, registered beside pipeline stage ``stage``."""
        f = self.fmt
        shapes = {"valid": 1, "first": 1, "last": 1, "final": 1,
                  "base": range((batches(f.n, f.p) - 1) * f.p + 1), "k": range(f.n)}
        return {name: Signal(shape, name=f"{name}_{stage}") for name, shape in shapes.items()}

    def _advance(self, m: Module, flags: dict, stage: int, adv) -> dict:
        regs = self._flag_regs(stage)
        with m.If(adv):
            m.d.sync += [regs[name].eq(flags[name]) for name in regs]
        return regs

    def _multiply(self, m: Module, key, slots, flags, adv):
        """Products (exact, registered), then each slot's block sum (exact, registered)."""
        f = self.fmt
        sums = []
        prod_flags = self._advance(m, flags, 2, adv)
        for s, q in enumerate(slots):
            products = []
            for i in range(f.lanes):
                prod = Signal(signed(2 * f.act_bits), name=f"p_{s}_{i}", reset_less=True)
                with m.If(adv):
                    m.d.sync += prod.eq(q[i] * key[i])
                products.append(prod)
            total = Signal(signed(2 * f.act_bits + _bits(f.lanes)), name=f"sum_{s}",
                           reset_less=True)
            with m.If(adv):
                m.d.sync += total.eq(adder_tree(products))
            sums.append(total)
        return sums, self._advance(m, prod_flags, 3, adv)

    def _accumulate(self, m: Module, sums, flags, adv) -> None:
        """Exact per-slot accumulators; at a key token's last block the scores go into the
        buffer, which ``score`` drains lowest slot first."""
        f = self.fmt
        shift = f.act_frac + f.scale_shift
        pending = Signal(f.p)  # buffer entries not yet taken, one bit per slot
        buf = [Signal(signed(f.act_bits), name=f"score_{s}") for s in range(f.p)]
        buf_q = [Signal(range(f.n), name=f"query_{s}") for s in range(f.p)]
        buf_k, buf_final = Signal(range(f.n)), Signal()
        take = self.score.valid & self.score.ready
        only_one = (pending & (pending - 1)) == 0
        free = (pending == 0) | (only_one & take)
        m.d.comb += adv.eq(~(flags["valid"] & flags["last"] & ~free))
        with m.If(take):
            m.d.sync += pending.eq(pending & (pending - 1))  # the lowest entry leaves
            with m.If(only_one & buf_final):
                m.d.sync += self.busy.eq(0)
        mask = []
        for s in range(f.p):
            acc = Signal(signed(acc_bits(f.d, f.act_bits)), name=f"acc_{s}")
            nxt = Mux(flags["first"], 0, acc) + sums[s]
            if s:  # signed: the previous batch's query, < 0 in the first batch
                q = flags["base"] + s - Mux(flags["k"] < s, f.p, 0)
                mask.append((q >= 0) & (q < f.n))
            else:  # slot 0 holds the batch's own query at every position
                q = flags["base"]
                mask.append(q < f.n)
            with m.If(adv & flags["valid"]):
                m.d.sync += acc.eq(nxt)
                with m.If(flags["last"]):
                    m.d.sync += [buf[s].eq(saturate(nxt >> shift, f.act_bits)),
                                 buf_q[s].eq(q)]
        with m.If(adv & flags["valid"] & flags["last"]):
            m.d.sync += [pending.eq(Cat(*mask)), buf_k.eq(flags["k"]),
                         buf_final.eq(flags["final"])]
        m.d.comb += self.score.valid.eq(pending != 0)
        # the whole payload in one process: Icarus runs an `always @*` only on an input change
        for s in reversed(range(f.p)):  # the lowest pending slot wins
            with m.If(pending[s]):
                m.d.comb += [self.score.payload.score.eq(buf[s]),
                             self.score.payload.query.eq(buf_q[s]),
                             self.score.payload.key.eq(buf_k)]

