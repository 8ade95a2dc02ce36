"""Subcommands of the `attnforge` CLI, one module each; register new ones in COMMANDS."""

COMMANDS: list = []
