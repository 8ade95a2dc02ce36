"""Parameter validation for the softmax units: builds :class:`fpga.golden.softmax.SoftmaxFormat`
from flat parameters, each checked with its own message."""

from __future__ import annotations

from fpga.golden.exp import ReciprocalFormat
from fpga.golden.softmax import SoftmaxFormat
from rtl.errors import check_int
from rtl.exp_core import exp_format


def softmax_format(total_bits=32, frac_bits=22, const_bits=30, t_frac=24, table_log2=8,
                   entry_frac=30, recip_frac=30) -> SoftmaxFormat:
    """Scores and state are Q(total_bits-frac_bits).frac_bits; exp output has ``frac_bits``
    fraction bits; ``1/sum`` has ``recip_frac``."""
    check_int("total_bits", total_bits, 3, 40)
    check_int("frac_bits", frac_bits, 1, max_frac_bits(total_bits))
    # the exp's out_frac is frac_bits: name the parameter one can set
    check_int("entry_frac", entry_frac, frac_bits, 32)
    fmt_exp = exp_format(total_bits, frac_bits, frac_bits, const_bits, t_frac, table_log2,
                         entry_frac)
    check_int("recip_frac", recip_frac, 1, 31)
    return SoftmaxFormat(total_bits, frac_bits, fmt_exp, ReciprocalFormat(frac_bits, recip_frac))


def max_frac_bits(total_bits: int) -> int:
    """Most fraction bits of a softmax format with ``total_bits``: its running sum (saturating
    at ``total_bits``) must hold exp(0) = 1.0, else 1/sum overflows its ``recip_frac + 1`` bits
    (total_bits - 2); the golden model's rescale product, sum (< 2**(total_bits - 1)) times
    exp (<= 2**frac_bits), must stay below 2**62 in int64 (63 - total_bits: an overflow there
    made RTL and model disagree at 40, 30); and 30."""
    return min(total_bits - 2, 63 - total_bits, 30)


def softmax_config(fmt: SoftmaxFormat, unit: str) -> dict:
    """Flat JSON-able parameters of ``fmt`` (inverse of :func:`softmax_format`)."""
    e = fmt.exp
    return {"unit": unit, "total_bits": fmt.total_bits, "frac_bits": fmt.frac_bits,
            "const_bits": e.const_bits, "t_frac": e.t_frac, "table_log2": e.table_log2,
            "entry_frac": e.entry_frac, "recip_frac": fmt.recip.out_frac}
