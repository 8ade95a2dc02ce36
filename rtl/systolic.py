"""Parameterized rows × cols systolic array of :class:`~rtl.pe.ProcessingElement` (OS or WS),
with operand skew (feeding) at the edges and per-PE / per-column result outputs (drain).

Timing (cycle 0 = the first cycle an operand vector is presented; matches
:func:`sim.systolic.fold_latency`):

- **OS**, C[M,N] = A[M,K]·B[K,N], M ≤ rows, N ≤ cols: present column s of A on ``a`` and row s
  of B on ``b`` in cycle s (``valid``; ``first`` on s = 0, ``last`` on s = K-1); row i / column
  j are delayed i / j cycles inside, so PE(i,j) does MAC s in cycle s+i+j. PE(i,j)'s result is
  on ``result[i*cols+j]`` while ``done[i*cols+j]`` is high, in cycle K+i+j. The last result is
  visible K+rows+cols-2 cycles after the first input (the simulator's fold length: the cycle in
  which its last MAC happens, counted from 0, plus the one register that makes it visible).
- **WS**, C[M,N] = X[M,K]·W[K,N], K ≤ rows, N ≤ cols: shift the weights in through ``w``
  (``w_valid``) for ``rows`` cycles, row rows-1 first (rows ≥ K are zero); then present row s
  of X on ``x`` in cycle rows+s (``x_valid``). Column j's sum for step s leaves the bottom on
  ``y[j]`` with ``y_valid[j]`` in cycle 2·rows+s+j; the last one 2·rows+M+cols-2 cycles after the
  first weight.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl.errors import check_int, validating
from rtl.pe import ProcessingElement, check_dataflow


def _delayed(m: Module, signal, cycles: int, name: str):
    """``signal`` delayed by ``cycles`` registers (the skew of one array edge lane)."""
    for k in range(cycles):
        stage = Signal.like(signal, name=f"{name}_d{k + 1}")
        m.d.sync += stage.eq(signal)
        signal = stage
    return signal


MAX_SIDE = 32
"""Largest rows or cols: 32 × 32 elaborates in about 25 s; Amaranth's RTLIL build grows faster
than the PE count (64 × 64 ran for over 5 minutes)."""


class SystolicArray(wiring.Component):
    """rows × cols array for signed ``in_width``-bit operands, ``acc_width``-bit results.

    Parameters
    ----------
    rows, cols : array shape (1..MAX_SIDE each).
    dataflow : "os" or "ws".
    in_width : operand width in bits (default 8). acc_width : accumulator width (default 32,
        at least 2·in_width); sums wrap modulo 2**acc_width.
    """

    def __init__(self, rows: int = 8, cols: int = 8, dataflow: str = "os", in_width: int = 8,
                 acc_width: int = 32):
        with validating(self):
            self.rows = check_int("rows", rows, 1, MAX_SIDE)
            self.cols = check_int("cols", cols, 1, MAX_SIDE)
            self.dataflow = check_dataflow(dataflow)
            self.in_width = check_int("in_width", in_width, 1, 32)
            self.acc_width = check_int("acc_width", acc_width, 2 * in_width, 64)
        w, acc = signed(in_width), signed(acc_width)
        if self.dataflow == "os":
            ports = {"a": In(data.ArrayLayout(w, rows)), "b": In(data.ArrayLayout(w, cols)),
                     "valid": In(1), "first": In(1), "last": In(1),
                     "result": Out(data.ArrayLayout(acc, rows * cols)), "done": Out(rows * cols)}
        else:
            ports = {"x": In(data.ArrayLayout(w, rows)), "x_valid": In(1),
                     "w": In(data.ArrayLayout(w, cols)), "w_valid": In(1),
                     "y": Out(data.ArrayLayout(acc, cols)), "y_valid": Out(cols)}
        super().__init__(ports)

    def config(self) -> dict:
        return {"unit": "systolic", "rows": self.rows, "cols": self.cols,
                "dataflow": self.dataflow, "in_width": self.in_width, "acc_width": self.acc_width}

    def elaborate(self, platform):
        m = Module()
        pes = [[ProcessingElement(self.dataflow, self.in_width, self.acc_width)
                for _ in range(self.cols)] for _ in range(self.rows)]
        for i, row in enumerate(pes):
            for j, pe in enumerate(row):
                m.submodules[f"pe_{i}_{j}"] = pe
        (self._wire_os if self.dataflow == "os" else self._wire_ws)(m, pes)
        return m

    def _wire_os(self, m: Module, pes) -> None:
        for i in range(self.rows):
            lane = [_delayed(m, sig, i, f"{name}{i}") for name, sig in
                    (("a", self.a[i]), ("valid", self.valid), ("first", self.first),
                     ("last", self.last))]
            m.d.comb += [pes[i][0].a.eq(lane[0]), pes[i][0].valid.eq(lane[1]),
                         pes[i][0].first.eq(lane[2]), pes[i][0].last.eq(lane[3])]
        for j in range(self.cols):
            m.d.comb += pes[0][j].b.eq(_delayed(m, self.b[j], j, f"b{j}"))
        for i in range(self.rows):
            for j in range(self.cols):
                pe = pes[i][j]
                if j + 1 < self.cols:
                    right = pes[i][j + 1]
                    m.d.comb += [right.a.eq(pe.a_out), right.valid.eq(pe.valid_out),
                                 right.first.eq(pe.first_out), right.last.eq(pe.last_out)]
                if i + 1 < self.rows:
                    m.d.comb += pes[i + 1][j].b.eq(pe.b_out)
                k = i * self.cols + j
                m.d.comb += [self.result[k].eq(pe.acc), self.done[k].eq(pe.done)]

    def _wire_ws(self, m: Module, pes) -> None:
        for i in range(self.rows):
            m.d.comb += [pes[i][0].x.eq(_delayed(m, self.x[i], i, f"x{i}")),
                         pes[i][0].x_valid.eq(_delayed(m, self.x_valid, i, f"xv{i}"))]
        for i in range(self.rows):
            for j in range(self.cols):
                pe = pes[i][j]
                m.d.comb += pe.load.eq(self.w_valid)
                m.d.comb += pe.w_in.eq(self.w[j] if i == 0 else pes[i - 1][j].w_out)
                m.d.comb += pe.psum_in.eq(0 if i == 0 else pes[i - 1][j].psum_out)
                if j + 1 < self.cols:
                    m.d.comb += [pes[i][j + 1].x.eq(pe.x_out),
                                 pes[i][j + 1].x_valid.eq(pe.x_valid_out)]
        for j in range(self.cols):
            bottom = pes[self.rows - 1][j]
            m.d.comb += [self.y[j].eq(bottom.psum_out), self.y_valid[j].eq(bottom.psum_valid)]
