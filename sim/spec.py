"""Input types of the GEMM simulator: the systolic array, its memories and the GEMM, validated.

Every constructor function (`systolic_array`, `memory`, `gemm`) checks its arguments and raises
`SimInputError` (an `einsum.errors.InputError`) naming the argument and the bad value; the
frozen dataclasses themselves do no work.
"""

import difflib
import math
from dataclasses import dataclass
from enum import Enum

from einsum.errors import InputError


class SimInputError(InputError):
    """Bad input to the simulator (array shape, dataflow, GEMM size, memory, a mapping that
    cannot fit)."""


class Dataflow(Enum):
    """Which operand stays in the PEs. For C[M,N] = A[M,K]·B[K,N]:

    - ``OS`` output stationary: C[m,n] accumulates in PE (m mod R, n mod C); A streams along
      the rows, B along the columns, K is the streamed (temporal) rank.
    - ``WS`` weight stationary: B[k,n] sits in PE (k mod R, n mod C); A streams from the left,
      partial sums flow down; M is streamed.
    - ``IS`` input stationary: A[m,k] sits (transposed) in PE (k mod R, m mod C); B streams from
      the left, partial sums flow down; N is streamed.
    """

    OS = "os"
    WS = "ws"
    IS = "is"


DATAFLOWS: dict[str, Dataflow] = {d.value: d for d in Dataflow}


def dataflow_named(name: str) -> Dataflow:
    """The dataflow registered under `name` (``os``, ``ws``, ``is``); SimInputError otherwise."""
    key = str(name).strip().lower()
    if key in DATAFLOWS:
        return DATAFLOWS[key]
    close = difflib.get_close_matches(key, list(DATAFLOWS), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SimInputError(f"dataflow must be one of {', '.join(DATAFLOWS)}, not {name!r}{hint}")


@dataclass(frozen=True, slots=True)
class SystolicArray:
    """A rows × cols grid of MAC PEs with nearest-neighbour links; ``rows == 1`` or ``cols == 1``
    is the 1D array."""

    rows: int
    cols: int
    dataflow: Dataflow


@dataclass(frozen=True, slots=True)
class Memory:
    """Three double-buffered SRAMs (A, B, C), each ``sram_kb`` KiB of ``word_bytes``-byte words,
    behind one DRAM channel of ``dram_words_per_cycle`` (None: unlimited, no DRAM stalls)."""

    sram_kb: float
    dram_words_per_cycle: float | None
    word_bytes: int = 1

    @property
    def sram_words(self) -> int:
        """Capacity of each operand SRAM in words (both halves together)."""
        return int(self.sram_kb * 1024) // self.word_bytes


@dataclass(frozen=True, slots=True)
class Gemm:
    """C[M,N] = A[M,K]·B[K,N]; all extents ≥ 1."""

    m: int
    n: int
    k: int

    @property
    def macs(self) -> int:
        """Multiply-accumulates the GEMM needs."""
        return self.m * self.n * self.k


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise SimInputError(f"{name} must be a positive integer, not {value!r}")
    if value < 1:
        raise SimInputError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _array_side(name: str, value) -> int:
    side = _positive_int(name, value)
    if side > MAX_EXTENT:
        raise SimInputError(f"{name} must be at most {MAX_EXTENT}, not {side}")
    return side


def systolic_array(rows, cols, dataflow: str | Dataflow) -> SystolicArray:
    """Validated `SystolicArray`; raises SimInputError for a size outside 1..MAX_EXTENT or a
    bad dataflow."""
    flow = dataflow if isinstance(dataflow, Dataflow) else dataflow_named(dataflow)
    return SystolicArray(_array_side("array rows", rows), _array_side("array cols", cols), flow)


def parse_array(text: str) -> tuple[int, int]:
    """``"32x16"`` → (32, 16); raises SimInputError naming the expected form."""
    parts = str(text).lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise SimInputError(f"--array must be ROWSxCOLS such as 32x32, not {text!r}")
    return _array_side("--array rows", int(parts[0])), _array_side("--array cols", int(parts[1]))


def memory(sram_kb: float = 256, dram_words_per_cycle: float | None = None,
           word_bytes: int = 1) -> Memory:
    """Validated `Memory`; sizes and bandwidth must be positive and finite."""
    if not isinstance(sram_kb, int | float) or not math.isfinite(sram_kb) or sram_kb <= 0:
        raise SimInputError(f"sram_kb must be a positive number, not {sram_kb!r}")
    bw = dram_words_per_cycle
    if bw is not None and (not isinstance(bw, int | float) or not math.isfinite(bw) or bw <= 0):
        raise SimInputError(f"dram_bw must be a positive number of words per cycle, not {bw!r}")
    return Memory(float(sram_kb), None if bw is None else float(bw),
                  _positive_int("word_bytes", word_bytes))


MAX_EXTENT = 2**31 - 1
"""Largest GEMM extent: fold and cycle counts stay well inside int64."""


def gemm(m, n, k) -> Gemm:
    """Validated `Gemm`; raises SimInputError for a zero, negative, non-integer or too large
    extent (above MAX_EXTENT)."""
    extents = [_positive_int(name, value) for name, value in (("M", m), ("N", n), ("K", k))]
    for name, value in zip("MNK", extents, strict=True):
        if value > MAX_EXTENT:
            raise SimInputError(f"{name} must be at most {MAX_EXTENT}, not {value}")
    return Gemm(*extents)
