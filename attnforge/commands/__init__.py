"""Subcommands of the `attnforge` CLI, one module each; register new ones in COMMANDS."""

from .cascades import cascade, cascades
from .explain import explain
from .explore import explore
from .simulate import simulate
from .synth import synth
from .verify import verify
from .verilog import verilog

COMMANDS: list = [explore, cascades, cascade, simulate, explain, verilog, verify, synth]
