"""Subcommands of the `attnforge` CLI, one module each; register new ones in COMMANDS."""

from .explore import explore

COMMANDS: list = [explore]
