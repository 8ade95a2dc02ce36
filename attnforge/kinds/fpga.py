"""The `fpga` design kind: Edge-MoE-style FPGA accelerators for M3ViT (fpga/).

Beyond its types' own rules (``fpga.spec``), every named config must fit the board at the
design's own unit parameters (:func:`fit_problems`): a config that does not is an
impossible design, reported at ``units`` with every resource it overflows, for the file as
written and for each grid or search variant alike. Sweep points that do not fit are results,
not errors: they stay in results.csv with ``fits`` False and their ``overflow``; pareto.png and
report.html's front leave them out and say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from attnforge.kinds import load_checked
from attnforge.pareto import plot_front
from fpga import explore as fx
from fpga.board import get_board
from fpga.fit import overflow, overflow_text, resources_of
from fpga.spec import FpgaDesign, Units

FIT_HINT = "only sweep points may overflow the board (they are kept, with their overflow)"


def fit_problems(design: FpgaDesign) -> list[tuple[str, str]]:
    """("units", message) for the named configs that do not fit ``design.board`` at the
    design's units; configs overflowing by the same amounts share one message. Expects a board
    name the database knows (``FpgaDesign.problems`` checks it first)."""
    board = get_board(design.board)
    by_text: dict[str, list[str]] = {}
    for name, techniques in design.configs.items():
        text = overflow_text(overflow(resources_of(design, techniques), board))
        if text:
            by_text.setdefault(text, []).append(name)
    out = []
    # at the units that size the design; at the board when they are all defaults (a file
    # that leaves `units` out has no such key to point at)
    key = "units" if design.units != Units() else "board"
    for text, names in by_text.items():
        which = (f"config {names[0]!r} does not" if len(names) == 1
                 else f"configs {', '.join(map(repr, names))} do not")
        out.append((key, f"{which} fit {board.name} ({board.device}): {text}; {FIT_HINT}"))
    return out


class FpgaKind:
    """Points: the named configs, then a p x linear-size sweep (with/without reordering)."""

    name = "fpga"
    model_version = "23"  # 23: URAM per buffer group; 22: URAM weight storage, URAM counted; 21: m_axi data FIFOs by UG1399; 20: one memory rule by shape; 19: loads share the DDR; 18: BRAM18 shapes; 17: FC2 read-back

    def load(self, path: Path) -> FpgaDesign:
        """The typed design; raises SpecError with every problem (each at its key)."""
        return load_checked(self, path, FpgaDesign)

    def problems(self, design: FpgaDesign) -> list[tuple[str, str]]:
        """The kind's rule beyond the spec types': every named config fits the board
        (`fit_problems`)."""
        return fit_problems(design)

    def points(self, design: FpgaDesign) -> list[fx.Point]:
        """Every point, in a stable order."""
        return fx.points(design)

    def evaluate(self, design: FpgaDesign, point: fx.Point) -> dict[str, object]:
        """One CSV row (see `fpga.explore.row`)."""
        return fx.row(design, point)

    def objectives(self, design: FpgaDesign) -> tuple[str, ...]:
        """The minimised columns of report.html's front: latency and the scarce resources."""
        return ("latency_ms", "dsp", "bram36")

    def feasible_key(self, design: FpgaDesign) -> str:
        """Points that do not fit the board (``fits`` False) are on no front of report.html."""
        return "fits"

    def label_keys(self, design: FpgaDesign) -> tuple[str, ...]:
        """The columns naming a point on report.html's plots."""
        return ("config", "attn_p", "linear_in_par", "attention_reorder")

    def report(self, design: FpgaDesign, rows: Sequence[Mapping[str, object]],
               out_dir: Path) -> str:
        """pareto.png (latency vs DSP over the sweep's points that fit the board; its title
        says how many do not) and the config and sweep tables."""
        sweep = [r for r in rows if r["group"] == "sweep"]
        shown = sweep or list(rows)
        fitting = [r for r in shown if r["fits"]]
        what = f"{design.sweep.config!r} sweep" if sweep else "configs"
        boards = fx.boards_of(shown)
        title = f"{design.name} on {boards}: latency vs DSP, {what}"
        if not fitting:
            title += f"\nnone of the {len(shown)} points fits {boards}: all shown"
        elif len(fitting) < len(shown):
            title += (f"\n{len(shown) - len(fitting)} of {len(shown)} points do not fit "
                      f"{boards} and are not shown")
        labels = (*fx.variant_keys(rows), "attn_p", "linear_in_par", "attention_reorder")
        plot_front(fitting or shown, ("dsp", "latency_ms"), labels, Path(out_dir) / "pareto.png",
                   title)
        parts = (fx.summary(design, rows), fx.sweep_table(design, rows),
                 fx.unfit_note(design, rows))
        return "\n\n".join(part for part in parts if part)


KIND = FpgaKind()
