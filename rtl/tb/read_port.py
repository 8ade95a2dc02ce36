"""The memory read port the attention benches play (``rtl.tb.attention*_vectors``): requests
go in, each request's beat comes back on the data port in request order.

Invariants: a beat is offered no earlier than ``latency`` cycles after its request was taken,
and in a cycle only with probability ``p_data``; an offered beat is held (same word) until the
unit takes it. The word is made when the beat is first offered, so a memory written by the unit
returns what it holds at delivery.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Hashable


class ReadPort:
    """One read port: a queue of taken requests and the beat on the data port (module
    docstring). ``word_of(key)`` is the data word of the request ``key``."""

    def __init__(self, rng: random.Random, word_of: Callable[[Hashable], int],
                 p_data: float = 1.0, latency: int = 1):
        self.rng, self.word_of = rng, word_of
        self.p_data, self.latency = p_data, latency
        self.queue: deque[tuple[int, Hashable]] = deque()  # (cycle the beat may leave, key)
        self.offer: Hashable | None = None  # the request whose beat is on the data port
        self.word = 0
        self.first_request: int | None = None
        self.beats = 0

    def drive(self, cycle: int) -> dict[str, int]:
        """``data_valid`` and ``data_payload`` of ``cycle`` (draws the data stall first)."""
        if self.offer is None and self.queue and self.queue[0][0] <= cycle \
                and self.rng.random() < self.p_data:
            self.offer = self.queue.popleft()[1]
            self.word = self.word_of(self.offer)
        return {"data_valid": int(self.offer is not None),
                "data_payload": 0 if self.offer is None else self.word}

    def request(self, cycle: int, key: Hashable) -> None:
        """A request taken in ``cycle``."""
        self.queue.append((cycle + self.latency, key))
        if self.first_request is None:
            self.first_request = cycle

    def sample(self, data_ready: int) -> None:
        """The unit's ``data_ready`` of this cycle: the offered beat, if any, is taken."""
        if self.offer is not None and data_ready:
            self.offer, self.beats = None, self.beats + 1
