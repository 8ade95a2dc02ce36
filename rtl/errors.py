"""Errors for bad RTL parameters: one clear message per problem, an InputError for the CLI."""

from __future__ import annotations

from contextlib import contextmanager

from einsum.errors import InputError


class RtlParamError(InputError):
    """A unit parameter (width, table geometry, array shape, unit name) is invalid."""


def check_int(name: str, value: object, lo: int = 1, hi: int | None = None) -> int:
    """``value`` if it is an int in ``[lo, hi]``; else RtlParamError naming ``name``.

    The message follows Amaranth's wording and states the range whatever was wrong:
    "width must be an integer in 1..32, not 0" (or "..., not 'abc'").
    """
    if hi is None:
        what = "a positive integer" if lo == 1 else f"an integer >= {lo}"
    else:
        what = f"an integer in {lo}..{hi}"
    if (isinstance(value, bool) or not isinstance(value, int)
            or value < lo or (hi is not None and value > hi)):
        raise RtlParamError(f"{name} must be {what}, not {value!r}")
    return value


@contextmanager
def validating(component: object):
    """Wrap a component's parameter checks: if they raise, the half-built object is dropped
    without Amaranth's "created but never used" warning (the error is the whole message)."""
    try:
        yield
    except Exception:
        component._MustUse__silence = True
        raise
