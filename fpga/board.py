"""Board database: FPGA resources, memory system and clocks, from public datasheet facts.

Resource counts are the device totals (AMD product tables); the memory facts are those of the
board's DDR attached to the processing system (PS) or to the programmable logic (PL):

- ZCU102 (XCZU9EG-2FFVB1156): 2,520 DSP48E2, 912 BRAM36 (1,824 BRAM18), 274,080 CLB LUT,
  548,160 FF, no URAM. PS DDR4-2666 on a 64-bit bus: 2666e6 * 8 B = 21.3 GB/s peak. The PL
  reaches it through the PS's AXI HP ports, each 128 bits wide (up to 333 MHz); four HP ports.
- ZCU104 (XCZU7EV-2FFVC1156): 1,728 DSP, 312 BRAM36, 96 URAM, 230,400 LUT, 460,800 FF;
  PS DDR4-2400 64-bit: 19.2 GB/s peak; the same PS, so the same 128-bit HP ports.
- Alveo U280 (XCU280): 9,024 DSP, 2,016 BRAM36, 960 URAM, 1,303,680 LUT, 2,607,360 FF;
  8 GB HBM2 at 460 GB/s peak and 2 x DDR4-2400 (2 x 19.2 GB/s) attached to the PL; kernel AXI
  ports up to 512 bits wide; HBM has 32 pseudo-channels, each behind a 256-bit AXI port on the
  HBM's own clock of up to 450 MHz (14.4 GB/s), so one 256-bit kernel port at 300 MHz
  (9.6 GB/s) is not narrowed and a 512-bit one (19.2 GB/s) gets 14.4 GB/s.

``ddr_latency_ns`` (first-beat read latency seen by a PL master), ``max_clock_mhz`` (rounded down
from the speed grade's block-RAM/DSP Fmax) and the static power are engineering estimates;
every other number is a datasheet fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from einsum.errors import InputError


class UnknownBoardError(InputError):
    """A board name not in the database."""


@dataclass(frozen=True, slots=True)
class Board:
    """One FPGA board: device resources and its memory path.

    Attributes
    ----------
    name : database key.
    device : the FPGA part.
    dsp, bram36, uram, lut, ff : device resource totals (BRAM18 = 2 x bram36).
    ddr_gbps : peak bandwidth of the memory the accelerator reads (GB/s, 1e9 B/s).
    host_port_bits : width of the narrowest port between a PL master and that memory (the PS
        HP port on Zynq boards); a wider kernel port is narrowed to it.
    host_ports : how many such ports work in parallel.
    host_port_mhz : the clock of those ports (their fastest, when they run on the kernel's).
    host_port_own_clock : whether those ports run on a clock of their own (the U280's HBM
        ports) rather than the kernel's (the Zynq HP ports, clocked from the PL).
    ddr_latency_ns : first-beat read latency (estimate).
    max_clock_mhz : the fastest fabric clock a design can ask for (the block RAM / DSP Fmax of
        the speed grade, rounded down; a design above it is rejected).
    static_w : board power with the accelerator idle (estimate), W.
    """

    name: str
    device: str
    dsp: int
    bram36: int
    uram: int
    lut: int
    ff: int
    ddr_gbps: float
    host_port_bits: int
    host_ports: int
    host_port_mhz: float
    ddr_latency_ns: float
    static_w: float
    max_clock_mhz: float
    host_port_own_clock: bool = False
    notes: str = field(default="", compare=False)

    @property
    def bram18(self) -> int:
        """BRAM18 blocks (each BRAM36 splits into two)."""
        return 2 * self.bram36


BOARDS: dict[str, Board] = {
    "zcu102": Board(
        name="zcu102", device="XCZU9EG-2FFVB1156", dsp=2520, bram36=912, uram=0, lut=274_080,
        ff=548_160, ddr_gbps=21.3, host_port_bits=128, host_ports=4, host_port_mhz=333.0,
        ddr_latency_ns=200.0, static_w=8.0, max_clock_mhz=700.0,
        notes="PS DDR4-2666 x64; PL masters through 128-bit S_AXI_HP ports",
    ),
    "zcu104": Board(
        name="zcu104", device="XCZU7EV-2FFVC1156", dsp=1728, bram36=312, uram=96, lut=230_400,
        ff=460_800, ddr_gbps=19.2, host_port_bits=128, host_ports=4, host_port_mhz=333.0,
        ddr_latency_ns=200.0, static_w=7.0, max_clock_mhz=700.0,
        notes="PS DDR4-2400 x64; PL masters through 128-bit S_AXI_HP ports",
    ),
    "u280": Board(
        name="u280", device="XCU280-L2FSVH2892E", dsp=9024, bram36=2016, uram=960,
        lut=1_303_680, ff=2_607_360, ddr_gbps=460.0, host_port_bits=256, host_ports=32,
        host_port_mhz=450.0, ddr_latency_ns=150.0, static_w=25.0, max_clock_mhz=600.0,
        host_port_own_clock=True,
        notes="HBM2 8 GB, 32 pseudo-channels behind 256-bit 450 MHz AXI ports; kernel ports up "
              "to 512 bits",
    ),
}


def board_names() -> tuple[str, ...]:
    """The boards in the database, sorted."""
    return tuple(sorted(BOARDS))


def get_board(name: str) -> Board:
    """The board called ``name``; UnknownBoardError lists the valid names (with did-you-mean)."""
    if name in BOARDS:
        return BOARDS[name]
    import difflib

    close = difflib.get_close_matches(name.lower(), board_names(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownBoardError(
        f"unknown board {name!r}{hint}; valid boards: {', '.join(board_names())}"
    )
