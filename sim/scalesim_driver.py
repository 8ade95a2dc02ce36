"""Run SCALE-Sim 3.0 on GEMMs and print its numbers as JSON (one object per line on stdout).

This file is a standalone script for the *peer* virtual environment (build/peers/scalesim), which
has `scalesim` and numpy < 2.4; it imports nothing of attnforge. `sim.scalesim_peer` runs it::

    build/peers/scalesim/bin/python sim/scalesim_driver.py '[{"rows": 8, "cols": 8, ...}]'

Each case is a dict with keys rows, cols, dataflow ("os"|"ws"|"is"), m, n, k, sram_kb (per
operand, SCALE-Sim's ifmap/filter/ofmap SRAM size) and dram_bw (words/cycle, or null for
SCALE-Sim's CALC mode, which estimates bandwidth and never stalls). SCALE-Sim's GEMM mapping is
C[M,N] = A[M,K]·B[K,N] with A the "ifmap" and B the "filter".
"""

import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """[general]
run_name = gemm

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = {sram_kb}
FilterSramSzkB = {sram_kb}
OfmapSramSzkB = {sram_kb}
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Bandwidth = {bw}
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = {mode}
UseRamulatorTrace = False
"""


def run_case(case: dict, work: Path) -> dict:
    """Run one GEMM through SCALE-Sim's own front end; return its report numbers."""
    from scalesim.scale_sim import scalesim

    bw = case.get("dram_bw")
    config = work / "gemm.cfg"
    config.write_text(CONFIG.format(
        rows=case["rows"], cols=case["cols"], sram_kb=case.get("sram_kb", 256),
        dataflow=case["dataflow"], bw=bw if bw is not None else 10,
        mode="USER" if bw is not None else "CALC"))
    topology = work / "gemm_topo.csv"
    topology.write_text(f"Layer, M, N, K,\ngemm, {case['m']}, {case['n']}, {case['k']},\n")
    layout = work / "gemm_layout.csv"
    layout.write_text("Layer,\n")
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(config),
                       topology=str(topology), layout=str(layout), input_type_gemm=True)
        sim.run_scale(top_path=str(work / "out"))
    seconds = time.perf_counter() - start
    layer = sim.runner.single_layer_sim_object_list[0]
    overall, total, stall, util, mapping_eff, compute_util = layer.get_compute_report_items()
    detail = layer.get_detail_report_items()
    return {
        **case,
        "seconds": seconds,
        "total_cycles_incl_prefetch": int(overall),
        "compute_cycles": int(total),
        "stall_cycles": int(stall),
        "overall_util_pct": float(util),
        "mapping_eff_pct": float(mapping_eff),
        "compute_util_pct": float(compute_util),
        "sram_reads": {"A": int(detail[2]), "B": int(detail[5])},
        "sram_writes": {"C": int(detail[8])},
        "dram_reads": {"A": int(detail[11]), "B": int(detail[14])},
        "dram_writes": {"C": int(detail[17])},
    }


def main() -> None:
    cases = json.loads(sys.argv[1])
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="scalesim-") as tmp:
            print(json.dumps(run_case(case, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
