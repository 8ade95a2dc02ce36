"""Subcommands of the `attnforge` CLI, one module each; register new ones in COMMANDS."""

from .cascades import cascade, cascades
from .explain import explain
from .explore import explore
from .simulate import simulate

COMMANDS: list = [explore, cascades, cascade, simulate, explain]
