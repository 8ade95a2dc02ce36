"""Spec types of an `accelerator` design: hardware, cost table, workloads, configurations, sweep.

All are frozen dataclasses with units in field names. Bounds live in field metadata (checked by
the design-file loader); cross-field rules are in each type's ``problems()``, which returns
(relative dotted key, message) pairs. The defaults are FuseMax's evaluated hardware and, for the
cost table, fusemax.md §5's 45 nm values (shared/reference/fusemax.md; `mapper.costs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

POS = {"gt": 0}
NONNEG = {"min": 0}
ONE = {"min": 1}

EXP_MAC_SEQUENCE = 7
"""PE-cycles of an exponential without an exp unit: a 5th-order Taylor series, 6 MACs + 1 add."""


@dataclass(frozen=True, slots=True)
class PEUnits:
    """The arithmetic units of one PE and the register file beside them.

    ``exp`` is ``unit`` (a pipelined exp unit: exp(a - b) in one cycle), ``mac_sequence`` (6 MACs
    + 1 add on the MAC unit) or ``none`` (the PE cannot compute exponentials).
    """

    mac: bool = True
    add: bool = True
    max: bool = True
    divider: bool = False
    exp: Literal["unit", "mac_sequence", "none"] = "mac_sequence"
    rf_entries: int = field(default=12, metadata=ONE)

    def supports(self, op: str) -> bool:
        """Whether the PE can compute the elementwise or reduce operator ``op``."""
        needs = {"mul": self.mac, "add": self.add or self.mac, "sub": self.add or self.mac,
                 "max": self.max, "div": self.divider, "exp": self.exp != "none", "sum":
                 self.add or self.mac}
        return needs.get(op, False)


@dataclass(frozen=True, slots=True)
class Array2D:
    """A rows × cols PE array with neighbour links (reductions run along the links)."""

    rows: int = field(default=256, metadata=ONE)
    cols: int = field(default=256, metadata=ONE)
    pe: PEUnits = PEUnits()


@dataclass(frozen=True, slots=True)
class Array1D:
    """A row of ``pes`` vector PEs, one per query row of a tile."""

    pes: int = field(default=256, metadata=ONE)
    pe: PEUnits = PEUnits(divider=True, rf_entries=32)


@dataclass(frozen=True, slots=True)
class Buffer:
    """The global buffer: capacity, row width (bits per access), banks and read/write ports.

    Banks and ports matter to the ``cacti`` buffer model (`mapper.sram`), which prices the SRAM
    by its organisation; the ``row_energy`` model prices a row access from the cost table.
    """

    buffer_bytes: int = field(default=16 * 2**20, metadata=ONE)
    row_bits: int = field(default=4096, metadata=ONE)
    banks: int = field(default=1, metadata=ONE)
    ports: int = field(default=1, metadata=ONE)


@dataclass(frozen=True, slots=True)
class Dram:
    """Off-chip memory: bandwidth in bytes per second (FuseMax codes 400 GB/s as 400·2^30)."""

    bandwidth_bytes_per_s: float = field(default=400 * 2**30, metadata=POS)


@dataclass(frozen=True, slots=True)
class Architecture:
    """One accelerator: DRAM, global buffer, a 2D and a 1D PE array, clock and word size."""

    dram: Dram = Dram()
    buffer: Buffer = Buffer()
    array_2d: Array2D = Array2D()
    array_1d: Array1D = Array1D()
    clock_mhz: float = field(default=940.0, metadata=POS)
    word_bytes: int = field(default=2, metadata=ONE)

    def problems(self) -> list[tuple[str, str]]:
        """A buffer too small for any mapping: it must hold one tile of each operand."""
        tile_words = self.array_2d.rows * self.array_2d.cols
        need = 3 * tile_words * self.word_bytes
        if self.buffer.buffer_bytes < need:
            return [("buffer.buffer_bytes",
                     f"too small for any mapping: one {self.array_2d.rows}x{self.array_2d.cols} "
                     f"tile of each of 3 operands needs {need} bytes, not "
                     f"{self.buffer.buffer_bytes}")]
        if self.array_1d.pes < 1 or self.array_2d.rows != self.array_1d.pes:
            return [("array_1d.pes", f"must equal array_2d.rows ({self.array_2d.rows}), one 1D PE "
                     f"per query row of a tile, not {self.array_1d.pes}")]
        return []


CostPreset = Literal["fusemax-md", "accelergy-artifact", "cacti-45nm"]
"""Named cost tables (`mapper.costs.PRESETS`): fusemax.md §5's values, the artifact's tables, or
§5's values with each buffer priced by CACTI for its own organisation."""

BufferModel = Literal["row_energy", "cacti"]
"""How the global buffer is priced: the table's row energies and per-bit area and leakage
(``row_energy``), or CACTI for the architecture's buffer organisation (``cacti``, `mapper.sram`)."""

RegFileModel = Literal["per_entry", "accelergy_smartbuffer"]
"""How a register file of any size is priced (`mapper.costs.regfile_cost`)."""


@dataclass(frozen=True, slots=True)
class CostTable:
    """A cost table as a design file states it: a preset plus per-field overrides.

    Energy per action in pJ, leakage per unit per cycle in pJ, area per unit in µm². Every
    field left ``None`` takes the preset's value (`mapper.costs.resolve`). With nothing said the
    preset is ``fusemax-md``: exactly fusemax.md §5's 45 nm table (fp MAC 17.16 pJ / 1545 µm²,
    fp add 8.34 pJ / 1030 µm², max 0.028 pJ / 49.3 µm², divider 36.25 pJ / 23741 µm², 32-entry
    1D RF read 2.19 / write 1.91 pJ and 16849 µm², HBM2 249.6 pJ per 64-bit access, global
    buffer 485 / 451 pJ per 4096-bit row read / write). ``accelergy-artifact`` is the FuseMax
    artifact's Accelergy/CACTI tables. Each preset's values and sources: `mapper.costs`.

    ``rf_model``: ``per_entry`` scales the reference RF (``rf_reference_entries`` ×
    ``rf_reference_width_bits``, priced by ``rf_read_pj``, ``rf_write_pj``, ``rf_leak_pj``,
    ``rf_um2``) by stored bits; ``accelergy_smartbuffer`` applies Accelergy's smartbuffer_RF
    scaling to a regfile primitive (the ``rf_column_*``, ``rf_row_*``, ``rf_addr_*`` and
    ``rf_bit_um2`` fields; `mapper.accelergy`).
    """

    preset: CostPreset = "fusemax-md"
    rf_model: RegFileModel | None = None
    buffer_model: BufferModel | None = None
    mac_pj: float | None = field(default=None, metadata=NONNEG)
    add_pj: float | None = field(default=None, metadata=NONNEG)
    max_pj: float | None = field(default=None, metadata=NONNEG)
    div_pj: float | None = field(default=None, metadata=NONNEG)
    exp_unit_pj: float | None = field(default=None, metadata=NONNEG)
    dram_pj_per_64b: float | None = field(default=None, metadata=NONNEG)
    buffer_row_read_pj: float | None = field(default=None, metadata=NONNEG)
    buffer_row_write_pj: float | None = field(default=None, metadata=NONNEG)
    mac_leak_pj: float | None = field(default=None, metadata=NONNEG)
    add_leak_pj: float | None = field(default=None, metadata=NONNEG)
    max_leak_pj: float | None = field(default=None, metadata=NONNEG)
    div_leak_pj: float | None = field(default=None, metadata=NONNEG)
    exp_unit_leak_pj: float | None = field(default=None, metadata=NONNEG)
    sram_leak_pj_per_bit: float | None = field(default=None, metadata=NONNEG)
    mac_um2: float | None = field(default=None, metadata=NONNEG)
    add_um2: float | None = field(default=None, metadata=NONNEG)
    max_um2: float | None = field(default=None, metadata=NONNEG)
    div_um2: float | None = field(default=None, metadata=NONNEG)
    exp_unit_um2: float | None = field(default=None, metadata=NONNEG)
    sram_um2_per_bit: float | None = field(default=None, metadata=NONNEG)
    rf_reference_entries: int | None = field(default=None, metadata=ONE)
    rf_reference_width_bits: int | None = field(default=None, metadata=ONE)
    rf_read_pj: float | None = field(default=None, metadata=NONNEG)
    rf_write_pj: float | None = field(default=None, metadata=NONNEG)
    rf_leak_pj: float | None = field(default=None, metadata=NONNEG)
    rf_um2: float | None = field(default=None, metadata=NONNEG)
    rf_column_read_pj: float | None = field(default=None, metadata=NONNEG)
    rf_row_compare_pj: float | None = field(default=None, metadata=NONNEG)
    rf_addr_pj_per_bit: float | None = field(default=None, metadata=NONNEG)
    rf_row_leak_pj: float | None = field(default=None, metadata=NONNEG)
    rf_addr_leak_pj_per_bit: float | None = field(default=None, metadata=NONNEG)
    rf_bit_um2: float | None = field(default=None, metadata=NONNEG)
    rf_row_comparator_um2: float | None = field(default=None, metadata=NONNEG)
    rf_addr_um2_per_bit: float | None = field(default=None, metadata=NONNEG)


@dataclass(frozen=True, slots=True)
class Model:
    """A transformer layer's shape (fusemax.md §7): E = F = head_dim. ``kv_heads``: K/V heads
    of grouped-query attention (None: one per query head); a GQA cascade
    (``attention-1pass-gqa``) shares each among heads / kv_heads query heads."""

    d_model: int = field(metadata=ONE)
    heads: int = field(metadata=ONE)
    head_dim: int = field(metadata=ONE)
    ffn: int = field(metadata=ONE)
    kv_heads: int | None = field(default=None, metadata=ONE)

    def problems(self) -> list[tuple[str, str]]:
        """K/V heads split the query heads into equal groups."""
        if self.kv_heads is not None and self.heads % self.kv_heads:
            return [("kv_heads", f"must divide heads ({self.heads}), not {self.kv_heads}")]
        return []


@dataclass(frozen=True, slots=True)
class Config:
    """One evaluated configuration: a cascade, an architecture and mapping constraints.

    ``cascade`` is a library name (`einsum.library.names`) or the path of a cascade file of
    one's own (ending in ``.af``): relative to the design file's folder as written; the design
    loader makes it absolute (so points stay valid in any working directory or process).

    ``fused``: run the cascade's Einsums under one loop nest (else each GEMM and each run of
    elementwise Einsums is a separate phase through DRAM). ``schedule``: ``pipelined`` overlaps
    the 2D and 1D arrays across tiles (epoch pipelining and interleaving), ``serial`` finishes
    each tile's phases one after another and pays the array's fill/drain per 2D phase.
    ``bind`` forces Einsums onto an array (``2d`` or ``1d``); the rest are bound by rule.
    ``params`` sets the cascade's parameters (a sliding window's ``W`` in keys); ``M0`` is
    not one of them: the mapper sets it to the 2D array's columns.
    """

    cascade: str
    architecture: str
    fused: bool = True
    schedule: Literal["pipelined", "serial"] = "pipelined"
    bind: dict[str, Literal["2d", "1d"]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)

    def problems(self) -> list[tuple[str, str]]:
        """M0 is the array's columns, not a parameter a configuration sets."""
        if "M0" in self.params:
            return [("params.M0", "is set by the mapper to the 2D array's columns (the score "
                     "tile's keys); remove it")]
        return []


@dataclass(frozen=True, slots=True)
class GemmSearch:
    """The seeded GEMM mapping search: candidates sampled from tile factors × loop orders."""

    samples: int = field(default=4096, metadata=ONE)
    seed: int = field(default=0, metadata=NONNEG)


@dataclass(frozen=True, slots=True)
class Sweep:
    """The points: models × seq_lens (× query_lens) × configs × scopes (× square array sizes).

    ``seq_lens`` are the key/value lengths M. ``query_lens`` (default empty: P = M, the
    self-attention of a whole sequence) are query lengths P <= M run against each of them:
    decode (P = 1 new token against an M-token cache) or prefill with a cache. Every query
    length must be at most the shortest sequence length (every pair of the two lists is a point).

    ``array_dims``: square 2D arrays d × d (and a d-PE 1D array) replacing each architecture's;
    the buffer scales with d from its organisation at ``buffer_reference_dim`` (default: the
    architecture's own array rows, so its own size means "as designed"): its capacity
    (it holds P1·P0 rows), its row width (an access delivers one array edge of words) and its
    banks (each bank keeps its size), each ∝ d, the last two at least 1 bank and 1 word.
    """

    models: tuple[str, ...]
    seq_lens: tuple[int, ...]
    configs: tuple[str, ...]
    query_lens: tuple[int, ...] = ()
    scopes: tuple[Literal["attention", "end_to_end"], ...] = ("attention", "end_to_end")
    batch: int = field(default=64, metadata=ONE)
    array_dims: tuple[int, ...] = ()
    buffer_reference_dim: int | None = field(default=None, metadata=ONE)

    def problems(self) -> list[tuple[str, str]]:
        """Sequence lengths in 1..MAX_SEQ_LEN; query lengths in 1..the shortest of them; array
        sizes positive."""
        found = [(f"seq_lens[{i}]", f"must be an integer in 1..{MAX_SEQ_LEN:,}, not {n}")
                 for i, n in enumerate(self.seq_lens) if not 1 <= n <= MAX_SEQ_LEN]
        shortest = min(self.seq_lens, default=MAX_SEQ_LEN)
        for i, p in enumerate(self.query_lens):
            if p < 1:
                found.append((f"query_lens[{i}]", f"must be an integer in 1..{shortest}, not {p}"))
            elif p > shortest:
                found.append((f"query_lens[{i}]", f"must be at most the shortest sequence length "
                              f"{shortest} (sweep.seq_lens: keys M; a query length P runs "
                              f"against every one of them, and P <= M), not {p}"))
        found += [(f"array_dims[{i}]", f"must be a positive integer, not {n}")
                  for i, n in enumerate(self.array_dims) if n < 1]
        return found


MAX_SEQ_LEN = 2**24
"""Longest sequence a design may sweep (16× FuseMax's 1M): per-head counts such as
E·M·P MACs stay below 2**60, far from int64's limit (at 2**28 they overflow silently)."""


Objective = Literal["latency_s", "energy_j", "area_mm2", "traffic_bytes"]
"""Result columns a Pareto front can minimise."""


@dataclass(frozen=True, slots=True)
class PaperValue:
    """A published average to print beside ours: FuseMax over ``baseline`` in ``scope``."""

    baseline: str
    scope: Literal["attention", "end_to_end"]
    speedup: float = field(metadata=POS)
    energy_ratio: float = field(metadata=POS)


@dataclass(frozen=True, slots=True)
class Design:
    """An `accelerator` design file (after ``version`` and ``kind``)."""

    name: str
    architectures: dict[str, Architecture]
    configs: dict[str, Config]
    models: dict[str, Model]
    sweep: Sweep
    cost_table: CostTable = CostTable()
    gemm_search: GemmSearch = GemmSearch()
    objectives: tuple[Objective, Objective] = ("latency_s", "energy_j")
    paper: tuple[PaperValue, ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        """Names used by the sweep and configs must be defined."""
        found = []
        for i, name in enumerate(self.sweep.models):
            if name not in self.models:
                found.append((f"sweep.models[{i}]", _unknown("model", name, self.models)))
        for i, name in enumerate(self.sweep.configs):
            if name not in self.configs:
                found.append((f"sweep.configs[{i}]", _unknown("config", name, self.configs)))
        for name, config in self.configs.items():
            if config.architecture not in self.architectures:
                found.append((f"configs.{name}.architecture",
                              _unknown("architecture", config.architecture, self.architectures)))
            found += [(f"configs.{name}.{key}", message) for key, message in _cascade_problems(config)]
        return found or _decode_mask_problems(self)


def _decode_mask_problems(design: Design) -> list[tuple[str, str]]:
    """A query length P that differs from a sequence length M, at ``sweep.query_lens[i]``, when
    a swept config's cascade has a ``where`` filter: the library's masks compare query p with
    key m as positions of one sequence (P = M); a decode's queries are the last P of M."""
    lens = design.sweep.seq_lens
    masked = [(name, decode_mask(design.configs[name])) for name in design.sweep.configs
              if name in design.configs]
    masked = [(name, text) for name, text in masked if text]
    if not masked:
        return []
    name, text = masked[0]
    return [(f"sweep.query_lens[{i}]",
             f"config {name}'s cascade {design.configs[name].cascade} has a mask ({text}) that "
             f"assumes P = M (query p at key position p); query length {p} differs from "
             f"sequence length {next(m for m in lens if m != p)}, which it would price as other "
             f"positions: sweep such a config at query_len = seq_len only")
            for i, p in enumerate(design.sweep.query_lens) if any(m != p for m in lens)]


def decode_mask(config: Config) -> str:
    """The key/query mask of the config's cascade as text (``BQK where m <= p``), or ``""``:
    none, or a cascade that cannot be loaded or whose filter is not a mask the mapper models
    (lean-decode's split over compute units), each reported at its own key by lowering."""
    from einsum import library
    from einsum.errors import InputError

    from . import masks

    try:
        cascade = library.get(config.cascade, **config.params)
        masks.check_form(cascade)
    except (InputError, TypeError):
        return ""
    return "; ".join(f"{e.name} where {' and '.join(map(str, e.filters))}"
                     for e in masks.filtered(cascade))


def _cascade_problems(config: Config) -> list[tuple[str, str]]:
    """The configuration's cascade must be in the library or an existing, valid cascade file,
    and ``bind`` must name its Einsums. A relative file path is not checked here: the design
    loader makes it absolute against the design file's folder, then checks it."""
    from pathlib import Path

    from einsum import library
    from einsum.errors import InputError

    if library.is_file(config.cascade):
        if not Path(config.cascade).is_absolute():
            return []
        try:
            cascade = library.get(config.cascade)
        except InputError as error:  # missing, unreadable, or its own file:line:col message
            return [("cascade", str(error))]
    elif config.cascade not in library.names():
        return [("cascade", _unknown("cascade", config.cascade, library.names()))]
    else:
        cascade = library.get(config.cascade)
    einsums = sorted({e.name for e in cascade.einsums})
    return [(f"bind.{name}", _unknown(f"Einsum (of {config.cascade})", name, einsums))
            for name in config.bind if name not in einsums]


def _unknown(what: str, name: str, valid) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {name!r}{hint} (defined: {', '.join(valid) or 'none'})"
