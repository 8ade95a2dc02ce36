"""Single-pass LayerNorm unit (Edge-MoE: E[x], E[x^2] in one pass, ``lanes`` per cycle),
bit-exact with :func:`fpga.golden.layernorm.layernorm_row` (whose docstring defines the
arithmetic: exact sums, no division by ``d``, rsqrt by normalisation and an exact digit
recurrence, two round-half-up steps, saturation).

Ports (``clk``, ``rst``: synchronous, active high), both ``amaranth.lib.stream`` valid/ready:

- ``i``: payload {``data``: ``lanes`` fields of ``lane_bits = max(total_bits, 2 param_bits)``
  bits, ``load``: 1 bit}. A *data beat* (``load`` 0) carries ``lanes`` activations of one row
  (field i, low ``total_bits`` bits, signed), elements ``k lanes .. (k+1) lanes - 1`` in the
  row's k-th beat; ``d / lanes`` data beats make a row. A *parameter beat* (``load`` 1) carries
  gamma (low ``param_bits`` of field i) and beta (the next ``param_bits``) of the same elements;
  parameter beats fill the parameter memory in order (its own counter, wrapping after
  ``d / lanes`` beats) and stay until overwritten: load ``d / lanes`` of them before the first
  row, and again whenever gamma/beta change (between rows).
- ``o``: payload {``data``: ``lanes`` signed ``total_bits`` outputs, ``last``: the row's last
  beat}, the row's beats in input order.

Schedule: one row at a time. ``i.ready`` is high while the unit collects a row (one beat per
cycle, data written to the row memory and summed); from the row's last data beat until its last
output beat is taken ``i.ready`` is low: 4 cycles of statistics (sums settle, ``d S2`` and
``S1^2``, ``V``, normalisation), ``rsqrt_bits + 2`` cycles of the rsqrt recurrence, then the output pass reads
the row memory again and emits one beat per cycle unless ``o.ready`` is low (pipeline of
:data:`OUT_STAGES` registers, advancing as a whole when ``~o.valid | o.ready``).
:func:`first_output_delay` (43 cycles by default) and :func:`row_period` (``2 d / lanes +
rsqrt_bits + 12``: 90 cycles for the default row of 192) state the timing.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from fpga.golden.layernorm import LayerNormFormat
from rtl.errors import RtlParamError, check_int, validating
from rtl.fixed import adder_tree, saturate, shift_round


class Phase(enum.Enum, shape=3):
    """What the unit is doing: collecting a row, statistics, rsqrt, output pass."""

    IN = 0
    SUM = 1
    SQUARE = 2
    VAR = 3
    NORM = 4
    RSQRT = 5
    OUT = 6


OUT_STAGES = 6
"""Output-pass registers: memory read, D, D*r, n, n*gamma, output."""



def first_output_delay(rsqrt_bits: int) -> int:
    """Cycles from a row's last input beat (its handshake cycle) to its first output beat at
    full rate: SUM, SQUARE, VAR, NORM (4), the recurrence (``rsqrt_bits + 2``), the read-issue
    register (1) and the :data:`OUT_STAGES` output registers."""
    return 4 + rsqrt_bits + 2 + 1 + OUT_STAGES


def row_period(d: int, lanes: int, rsqrt_bits: int) -> int:
    """Cycles per row at full rate (never back-pressured, input always valid): ``d / lanes``
    input beats, the delay, ``d / lanes`` output beats; the next row's first beat is taken in
    the cycle after the last output beat."""
    beats = d // lanes
    return (beats - 1) + first_output_delay(rsqrt_bits) + (beats - 1) + 1


MAX_D = 4096
MAX_LANES = 64


def layernorm_format(d: int = 192, lanes: int = 8, total_bits: int = 32, frac_bits: int = 22,
                     param_bits: int = 16, param_frac: int = 11, eps: float = 1e-6,
                     rsqrt_bits: int = 30) -> LayerNormFormat:
    """Validated :class:`LayerNormFormat`; RtlParamError naming the first bad parameter."""
    check_int("d", d, 2, MAX_D)
    check_int("lanes", lanes, 1, MAX_LANES)
    if d % lanes:
        raise RtlParamError(f"lanes must divide d ({d}), not {lanes}")
    check_int("total_bits", total_bits, 4, 40)
    check_int("frac_bits", frac_bits, 1, total_bits - 2)
    check_int("param_bits", param_bits, 2, 32)
    check_int("param_frac", param_frac, 0, min(param_bits - 1, frac_bits))
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps <= 1:
        raise RtlParamError(f"eps must be a number in (0, 1], not {eps!r}")
    n_frac = frac_bits + param_bits - param_frac
    check_int("rsqrt_bits", rsqrt_bits, n_frac, 48)
    fmt = LayerNormFormat(d, lanes, total_bits, frac_bits, param_bits, param_frac, float(eps),
                          rsqrt_bits)
    if fmt.eps_fixed < 1:
        raise RtlParamError(f"eps must be at least 2**-{2 * frac_bits + 1} / d**2 = "
                            f"{2.0 ** -(2 * frac_bits + 1) / d**2:.3g} (below, eps * d**2 * "
                            f"2**(2 * frac_bits) rounds to 0 and a constant row would divide by "
                            f"0), not {eps!r}")
    return fmt


class LayerNormUnit(wiring.Component):
    """LayerNorm over rows of ``d`` elements, ``lanes`` per beat; see the module docstring.

    Parameters
    ----------
    d : row length 2..4096 (default 192). lanes : elements per beat 1..64, dividing ``d`` (8).
    total_bits, frac_bits : activation/output format, 4..40 and 1..total_bits-2 (Q10.22).
    param_bits, param_frac : gamma/beta format, 2..32 and 0..min(param_bits-1, frac_bits)
        (Q5.11).
    eps : added to the variance, in (0, 1] and at least half an LSB of
        ``2^-(2 frac_bits) / d^2`` (1e-6).
    rsqrt_bits : ``R``, the rsqrt mantissa's precision (relative error < 2^-R),
        frac_bits + param_bits - param_frac .. 48 (30).

    Raises RtlParamError naming the first bad parameter and its range.
    """

    def __init__(self, d: int = 192, lanes: int = 8, total_bits: int = 32, frac_bits: int = 22,
                 param_bits: int = 16, param_frac: int = 11, eps: float = 1e-6,
                 rsqrt_bits: int = 30):
        with validating(self):
            self.fmt = layernorm_format(d, lanes, total_bits, frac_bits, param_bits,
                                        param_frac, eps, rsqrt_bits)
        self.lane_bits = max(total_bits, 2 * param_bits)
        in_layout = data.StructLayout({"data": unsigned(lanes * self.lane_bits), "load": 1})
        out_layout = data.StructLayout({"data": data.ArrayLayout(signed(total_bits), lanes),
                                        "last": 1})
        super().__init__({"i": In(stream.Signature(in_layout)),
                          "o": Out(stream.Signature(out_layout))})

    def config(self) -> dict:
        f = self.fmt
        return {"unit": "layernorm", "d": f.d, "lanes": f.lanes, "total_bits": f.total_bits,
                "frac_bits": f.frac_bits, "param_bits": f.param_bits,
                "param_frac": f.param_frac, "eps": f.eps, "rsqrt_bits": f.rsqrt_bits}

    def _field(self, k: int, lo: int, bits: int):
        return self.i.payload.data[k * self.lane_bits + lo:k * self.lane_bits + lo + bits]

    def elaborate(self, platform):
        f, m = self.fmt, Module()
        beats, lanes, tb, pb = f.d // f.lanes, f.lanes, f.total_bits, f.param_bits
        m.submodules.rows = rows = memory.Memory(shape=unsigned(lanes * tb), depth=beats,
                                                 init=[])
        m.submodules.params = params = memory.Memory(shape=unsigned(lanes * 2 * pb),
                                                     depth=beats, init=[])
        row_w, par_w, row_r, par_r = (rows.write_port(), params.write_port(),
                                      rows.read_port(), params.read_port())
        m.d.comb += [row_w.data.eq(Cat(self._field(k, 0, tb) for k in range(lanes))),
                     par_w.data.eq(Cat(self._field(k, 0, 2 * pb) for k in range(lanes)))]
        s1 = Signal(signed(f.s1_bits))
        r = Signal(f.rsqrt_bits + 2)
        sh1 = Signal(range(f.rsqrt_shift + f.v_bits))  # the row's rounding shift of D r, - 1
        start, done = Signal(), Signal()  # the output pass starts / took its last beat
        self._collect(m, row_w, par_w, s1, r, sh1, start, done)
        self._output(m, row_r, par_r, s1, r, sh1, start, done)
        return m

    def _collect(self, m, row_w, par_w, s1, r, sh1, start, done):
        """Input pass, statistics, rsqrt recurrence (the phases); ``r``, ``sh1`` for the row."""
        f = self.fmt
        beats, lanes, tb = f.d // f.lanes, f.lanes, f.total_bits
        in_ptr, par_ptr = Signal(range(beats)), Signal(range(beats))
        xr = [Signal(signed(tb), name=f"x_{k}") for k in range(lanes)]
        acc_v, acc_first = Signal(), Signal()
        s2 = Signal(f.s2_bits)
        v = Signal(f.v_bits)
        ds2, s1sq = Signal(f.v_bits), Signal(2 * f.s1_bits)  # d S2 >= S1^2: V fits v_bits
        mant = Signal(f.norm_bits)
        t = Signal(2 * f.rsqrt_shift + 1)
        u = Signal(f.rsqrt_bits + f.norm_bits + 2)
        count = Signal(range(f.rsqrt_bits + 3))

        m.d.sync += acc_v.eq(0)
        with m.If(acc_v):  # exact sums of the beat registered in the previous cycle
            m.d.sync += [s1.eq(Mux(acc_first, 0, s1) + adder_tree(list(xr))),
                         s2.eq(Mux(acc_first, 0, s2) + adder_tree([x * x for x in xr]))]
        trial = 4 * u + mant
        # explicit state register compared by If/Elif: no case statement (Verilator's
        # CASEINCOMPLETE) and i.ready a continuous assignment (valid from time 0 in Icarus)
        state = Signal(Phase)
        m.d.comb += self.i.ready.eq(state == Phase.IN)
        with m.If(state == Phase.IN):
            with m.If(self.i.valid & self.i.payload.load):
                m.d.comb += [par_w.en.eq(1), par_w.addr.eq(par_ptr)]
                m.d.sync += par_ptr.eq(Mux(par_ptr == beats - 1, 0, par_ptr + 1))
            with m.Elif(self.i.valid):
                m.d.comb += [row_w.en.eq(1), row_w.addr.eq(in_ptr)]
                m.d.sync += [acc_v.eq(1), acc_first.eq(in_ptr == 0),
                             in_ptr.eq(Mux(in_ptr == beats - 1, 0, in_ptr + 1))]
                m.d.sync += [x.eq(self._field(k, 0, tb)) for k, x in enumerate(xr)]
                with m.If(in_ptr == beats - 1):
                    m.d.sync += state.eq(Phase.SUM)
        with m.Elif(state == Phase.SUM):  # the last beat is being summed
            m.d.sync += state.eq(Phase.SQUARE)
        with m.Elif(state == Phase.SQUARE):
            m.d.sync += [ds2.eq(f.d * s2), s1sq.eq(s1 * s1), state.eq(Phase.VAR)]
        with m.Elif(state == Phase.VAR):
            m.d.sync += [v.eq(ds2 - s1sq + f.eps_fixed), state.eq(Phase.NORM)]
        with m.Elif(state == Phase.NORM):
            mant_next, zeros = self._normalise(m, v)
            m.d.sync += [mant.eq(mant_next), sh1.eq(self._sh1_base() - (zeros >> 1))]
            m.d.sync += [t.eq(1 << 2 * f.rsqrt_bits), u.eq(0), r.eq(0),
                         count.eq(f.rsqrt_bits + 2), state.eq(Phase.RSQRT)]
        with m.Elif(state == Phase.RSQRT):  # fpga.golden.layernorm.rsqrt_recurrence
            take = trial <= t
            m.d.sync += [t.eq(Mux(take, t - trial, t) << 2),
                         u.eq((u << 1) + Mux(take, mant, 0)), r.eq(Cat(take, r)),
                         count.eq(count - 1)]
            with m.If(count == 1):
                m.d.comb += start.eq(1)
                m.d.sync += state.eq(Phase.OUT)
        with m.Elif(done):  # OUT: the last output beat is taken
            m.d.sync += state.eq(Phase.IN)

    def _norm_width(self) -> int:
        """``W``: even, at least ``v_bits`` and ``P``; V is left-aligned in W bits."""
        f = self.fmt
        return max(f.v_bits + (f.v_bits & 1), f.norm_bits)

    def _sh1_base(self) -> int:
        """``sh - 1`` for zero leading zeros: with ``z`` even leading zeros of V in W bits,
        ``s = W - P - z`` and ``sh = F + s/2 - nf`` (>= 1 as ``rsqrt_bits >= nf``)."""
        f = self.fmt
        return f.rsqrt_shift + (self._norm_width() - f.norm_bits) // 2 - f.n_frac - 1

    def _normalise(self, m, v):
        """(``M``, ``z``): V shifted left by the even ``z`` (stages of 2^k zero checks, a
        logarithmic shifter) until one of its top two bits is set; ``M`` its top P bits, i.e.
        ``floor(V / 2^s)`` with ``s = W - P - z`` even (fpga.golden.layernorm.normalise)."""
        f, width = self.fmt, self._norm_width()
        a = v
        zeros = []
        step = 1 << (width.bit_length() - 1)
        while step >= 2:
            top_zero = Signal(name=f"lz_{step}")
            m.d.comb += top_zero.eq(a[width - step:] == 0) if step < width else top_zero.eq(0)
            nxt = Signal(width, name=f"norm_{step}")
            m.d.comb += nxt.eq(Mux(top_zero, a << step, a))
            a = nxt
            zeros.append(top_zero)
            step >>= 1
        z = Signal(range(width + 1))
        weights = [1 << (len(zeros) - k) for k in range(len(zeros))]
        m.d.comb += z.eq(sum(b * w for b, w in zip(zeros, weights, strict=True)))
        return a[width - f.norm_bits:], z

    def _output(self, m, row_r, par_r, s1, r, sh1, start, done):
        """The output pass: read the row again, ``y = sat(round(round(D r) G) + B)``."""
        f = self.fmt
        beats, lanes, tb, pb = f.d // f.lanes, f.lanes, f.total_bits, f.param_bits
        adv = ~self.o.valid | self.o.ready
        issuing, rd_ptr = Signal(), Signal(range(beats))
        m.d.comb += [row_r.addr.eq(rd_ptr), par_r.addr.eq(rd_ptr), row_r.en.eq(adv),
                     par_r.en.eq(adv),
                     done.eq(self.o.valid & self.o.ready & self.o.payload.last)]
        v = [Signal(name=f"v{k}") for k in range(1, OUT_STAGES)]  # beside data, D, p, n, q
        last = [Signal(name=f"last{k}") for k in range(1, OUT_STAGES)]
        x = [row_r.data[k * tb:(k + 1) * tb].as_signed() for k in range(lanes)]
        g = [par_r.data[2 * k * pb:(2 * k + 1) * pb].as_signed() for k in range(lanes)]
        b = [par_r.data[(2 * k + 1) * pb:(2 * k + 2) * pb].as_signed() for k in range(lanes)]
        d2 = [Signal(signed(f.diff_bits), name=f"d_{k}") for k in range(lanes)]
        p3 = [Signal(signed(f.diff_bits + f.rsqrt_bits + 2), name=f"p_{k}") for k in range(lanes)]
        n4 = [Signal(signed(f.n_bits), name=f"n_{k}") for k in range(lanes)]
        q5 = [Signal(signed(f.n_bits + pb), name=f"q_{k}") for k in range(lanes)]
        g2, g3, g4 = ([Signal(signed(pb), name=f"g{s}_{k}") for k in range(lanes)]
                      for s in (2, 3, 4))
        b2, b3, b4, b5 = ([Signal(signed(pb), name=f"b{s}_{k}") for k in range(lanes)]
                          for s in (2, 3, 4, 5))
        with m.If(adv):
            m.d.sync += [v[0].eq(issuing), last[0].eq(issuing & (rd_ptr == beats - 1))]
            m.d.sync += [v[k].eq(v[k - 1]) for k in range(1, len(v))]
            m.d.sync += [last[k].eq(last[k - 1]) for k in range(1, len(v))]
            m.d.sync += [self.o.valid.eq(v[-1]), self.o.payload.last.eq(last[-1])]
            with m.If(issuing):
                m.d.sync += rd_ptr.eq(Mux(rd_ptr == beats - 1, 0, rd_ptr + 1))
                with m.If(rd_ptr == beats - 1):
                    m.d.sync += issuing.eq(0)
            for k in range(lanes):
                y = shift_round(q5[k], f.out_shift) + (b5[k] << (f.frac_bits - f.param_frac))
                m.d.sync += [d2[k].eq(f.d * x[k] - s1), g2[k].eq(g[k]), b2[k].eq(b[k]),
                             p3[k].eq(d2[k] * r), g3[k].eq(g2[k]), b3[k].eq(b2[k]),
                             n4[k].eq(((p3[k] >> sh1) + 1) >> 1), g4[k].eq(g3[k]),
                             b4[k].eq(b3[k]), q5[k].eq(n4[k] * g4[k]), b5[k].eq(b4[k]),
                             self.o.payload.data[k].eq(saturate(y, tb))]
        with m.If(start):  # the pipeline is empty and rd_ptr is 0 here
            m.d.sync += issuing.eq(1)
