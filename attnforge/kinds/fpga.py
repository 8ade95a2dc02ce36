"""The `fpga` design kind: Edge-MoE-style FPGA accelerators for M3ViT (fpga/)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from attnforge.pareto import plot_front
from attnforge.specload import load_spec
from fpga import explore as fx
from fpga.spec import FpgaDesign


class FpgaKind:
    """Points: the named configs, then a p x linear-size sweep (with/without reordering)."""

    name = "fpga"
    model_version = "1"

    def load(self, path: Path) -> FpgaDesign:
        """The typed design; raises SpecError with every problem."""
        return load_spec(Path(path), FpgaDesign, kind=self.name)

    def points(self, design: FpgaDesign) -> list[fx.Point]:
        """Every point, in a stable order."""
        return fx.points(design)

    def evaluate(self, design: FpgaDesign, point: fx.Point) -> dict[str, object]:
        """One CSV row (see `fpga.explore.row`)."""
        return fx.row(design, point)

    def objectives(self, design: FpgaDesign) -> tuple[str, ...]:
        """The minimised columns of report.html's front: latency and the scarce resources."""
        return ("latency_ms", "dsp", "bram36")

    def label_keys(self, design: FpgaDesign) -> tuple[str, ...]:
        """The columns naming a point on report.html's plots."""
        return ("config", "attn_p", "linear_in_par", "attention_reorder")

    def report(self, design: FpgaDesign, rows: Sequence[Mapping[str, object]],
               out_dir: Path) -> str:
        """pareto.png (latency vs DSP over the sweep) and the config table."""
        sweep = [r for r in rows if r["group"] == "sweep"] or list(rows)
        sweep = [r for r in sweep if r["fits"]] or sweep  # the board is fixed: plot what fits
        plot_front(sweep, ("dsp", "latency_ms"), ("attn_p", "linear_in_par", "attention_reorder"),
                   Path(out_dir) / "pareto.png", f"{design.name}: latency vs DSP")
        return "\n\n".join(part for part in (fx.summary(design, rows),
                                                 fx.sweep_table(design, rows)) if part)


KIND = FpgaKind()
