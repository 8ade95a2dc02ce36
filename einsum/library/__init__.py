"""The library of named cascades: text files in the notation (``*.af``) shipped with the package.

Each file is parsed and verified when first requested. `names()` lists them; `get(name,
**params)` returns the `Cascade` with parameter defaults replaced.
"""

from __future__ import annotations

import functools
from importlib import resources

from ..errors import InputError
from ..ir import Cascade
from ..parser import parse
from ..verifier import check_params, did_you_mean, verify

_SUFFIX = ".af"


class UnknownCascadeError(InputError):
    """A cascade name that is not in the library (the message lists the valid names)."""


def names() -> tuple[str, ...]:
    """Names of all library cascades, sorted."""
    files = resources.files(__package__).iterdir()
    return tuple(sorted(f.name[: -len(_SUFFIX)] for f in files if f.name.endswith(_SUFFIX)))


@functools.cache
def _load(name: str) -> Cascade:
    path = resources.files(__package__) / f"{name}{_SUFFIX}"
    cascade = parse(path.read_text(encoding="utf-8"), source=f"einsum/library/{name}{_SUFFIX}")
    if cascade.name != name:
        raise InputError(f"{path}: declares cascade {cascade.name!r}, expected {name!r}")
    verify(cascade)
    return cascade


def get(name: str, **params: int) -> Cascade:
    """The library cascade `name`, with parameter defaults replaced by `params`.

    Raises
    ------
    UnknownCascadeError
        For an unknown name (with did-you-mean and the list of valid names).
    InputError
        For an unknown parameter or a non-integer value.
    """
    valid = names()
    if name not in valid:
        raise UnknownCascadeError(f"unknown cascade {name!r}{did_you_mean(name, valid)}; "
                                  f"valid names: {', '.join(valid)}")
    cascade = _load(name)
    check_params(cascade, params)
    return cascade.with_params(**params) if params else cascade
