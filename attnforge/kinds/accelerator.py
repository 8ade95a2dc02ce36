"""The `accelerator` design kind: attention cascades mapped onto spatial-array accelerators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from attnforge.pareto import plot_front
from attnforge.specload import load_spec
from mapper import evaluate as ev
from mapper import summary
from mapper.spec import Design


class AcceleratorKind:
    """Points: models × seq_lens × configs × scopes (× square array sizes)."""

    name = "accelerator"
    model_version = "1"

    def load(self, path: Path) -> Design:
        """The typed design; raises SpecError with every problem."""
        return load_spec(Path(path), Design, kind=self.name)

    def points(self, design: Design) -> list[ev.Point]:
        """Every point of the sweep, in a stable order."""
        return ev.points(design)

    def evaluate(self, design: Design, point: ev.Point) -> dict[str, object]:
        """One CSV row (see `mapper.evaluate.row`)."""
        return ev.row(design, point)

    def report(self, design: Design, rows: Sequence[Mapping[str, object]], out_dir: Path) -> str:
        """pareto.png for the design's objectives; the summary tables."""
        labels = ("config", "model", "array_dim" if design.sweep.array_dims else "seq_len")
        title = f"{design.name}: {design.objectives[0]} vs {design.objectives[1]}"
        plot_front(rows, design.objectives, labels, Path(out_dir) / "pareto.png", title)
        parts = [f"{design.name}: {len(rows)} points"]
        if "fusemax" in design.sweep.configs and len(design.sweep.configs) > 1:
            parts.append(summary.headline_table(design, rows))
            parts.append(summary.util_table(rows, design.sweep.configs))
        if design.sweep.array_dims:
            parts.append(_sweep_table(rows))
        return "\n\n".join(parts)


def _sweep_table(rows: Sequence[Mapping[str, object]]) -> str:
    lines = ["array   model  config       scope         latency_s    energy_j   area_mm2  util_2d"]
    for r in rows:
        lines.append(f"{r['array_dim']:>5}   {r['model']:<6} {r['config']:<12} {r['scope']:<12} "
                     f"{float(r['latency_s']):10.4g} {float(r['energy_j']):10.4g} "
                     f"{float(r['area_mm2']):9.1f} {100 * float(r['util_2d']):6.1f}%")
    return "\n".join(lines)


KIND = AcceleratorKind()
