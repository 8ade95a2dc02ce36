"""Double-buffered operand SRAMs behind one DRAM channel: when each fold can start.

Model (cycle counts are integers; cycle 0 is the first DRAM request):

- Each operand SRAM (A, B, C) has two halves. A fold's A and B tiles must be entirely in SRAM
  before the fold starts; the next-but-one fold's tiles are fetched into the half a fold frees
  when it ends (both halves are free at cycle 0, so folds 0 and 1 are fetched first). An operand
  whose whole matrix fits in its SRAM is *resident*: each tile is fetched once, at first use;
  otherwise a tile is fetched again whenever it differs from the previous fold's.
- C tiles accumulate in SRAM while consecutive folds update the same tile (WS/IS over K); a tile
  is written to DRAM when the fold that completes it ends. Tile q uses half q mod 2, so a fold
  that opens tile q waits until tile q−2 has been written.
- The DRAM channel moves ``bw`` words per cycle, one request at a time in issue order (a write
  issued at a fold's end goes before the fetch issued at the same moment); a request of w words
  holds it ceil(w / bw) cycles. ``bw = inf`` means transfers take no time.

`schedule` (numba) and `sim.twins.schedule_per_cycle` (plain Python, cycle by cycle) compute the
same start times; the differential test checks it.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _transfer(chan, issue, words, bw):
    """(begin, done) of a request of `words` issued at `issue` on a channel free at `chan`."""
    if words == 0:
        return issue, issue
    begin = max(chan, issue)
    if bw == np.inf:
        return begin, begin
    return begin, begin + int(math.ceil(words / bw))


@njit(cache=True)
def schedule(lengths, fetch_words, c_tile, write_words, bw, start):
    """Fill start[f] with the cycle fold f starts; return (end cycle of the run, DRAM busy cycles).

    lengths[f]: fold length; fetch_words[f]: A+B words fetched for it; c_tile[f]: index of its
    C tile (0, 1, 2, … in order of first use); write_words[f]: C words written when it ends.
    """
    n = lengths.shape[0]
    ready = np.zeros(n, np.int64)
    written = np.zeros(c_tile[n - 1] + 1, np.int64)
    chan = 0
    busy = 0
    for f in range(min(n, 2)):
        begin, chan_new = _transfer(chan, 0, fetch_words[f], bw)
        busy += chan_new - begin if fetch_words[f] else 0
        chan = max(chan, chan_new)
        ready[f] = chan_new
    end = 0
    for f in range(n):
        s = max(end, ready[f])
        q = c_tile[f]
        if q >= 2 and (f == 0 or c_tile[f - 1] != q):
            s = max(s, written[q - 2])
        start[f] = s
        end = s + lengths[f]
        if write_words[f]:
            begin, chan = _transfer(chan, end, write_words[f], bw)
            busy += chan - begin
            written[q] = chan
        if f + 2 < n:
            begin, done = _transfer(chan, end, fetch_words[f + 2], bw)
            if fetch_words[f + 2]:
                busy += done - begin
                chan = done
            ready[f + 2] = done
    return max(end, chan), busy
