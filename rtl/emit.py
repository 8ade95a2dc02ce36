"""Deterministic Verilog emission: same component parameters, same bytes, no absolute paths."""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.lib import wiring


def verilog_text(component: wiring.Component, name: str) -> str:
    """Verilog of ``component`` as module ``name`` (``emit_src=False``: no file paths inside).

    Ports come from the component's signature; ``clk`` and ``rst`` (synchronous, active high)
    are added when the ``sync`` domain is used.
    """
    return verilog.convert(component, name=name, emit_src=False)
