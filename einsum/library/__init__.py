"""The library of named cascades: text files in the notation (``*.af``) shipped with the package.

Each file is parsed and verified when first requested. `names()` lists them; `get(name,
**params)` returns the `Cascade` with parameter defaults replaced. `get` also takes the path of
a cascade file of one's own (a name ending in ``.af``, see `is_file`): parsed and verified once
per path and modification time, and named by that path, so anything holding the name (a
mapping, the simulator) can `get` it again.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from importlib import resources
from pathlib import Path

from ..errors import InputError
from ..ir import Cascade
from ..parser import parse
from ..verifier import VerifyError, check_params, did_you_mean, verify

_SUFFIX = ".af"


class UnknownCascadeError(InputError):
    """A cascade name that is not in the library (the message lists the valid names)."""


class CascadeFileError(InputError):
    """A cascade file of one's own that does not exist or cannot be read."""


def is_file(name: str) -> bool:
    """Whether ``name`` is the path of a cascade file of one's own (it ends in ``.af``) rather
    than a library name (library names never end in ``.af``)."""
    return name.endswith(_SUFFIX)


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


@functools.cache
def _load_file(path: str, stamp: tuple[int, int]) -> Cascade:
    """The cascade file at ``path`` (as given), parsed, verified and renamed to ``path``;
    ``stamp`` (modification time in ns, size in bytes) makes an edited file load anew."""
    cascade = parse(Path(path).read_text(encoding="utf-8"), source=path)
    try:
        verify(cascade)
    except VerifyError as error:  # located like a ParseError: at the failing Einsum's line
        line = re.search(r"\(line (\d+), ", str(error))
        raise VerifyError(f"{path}:{line.group(1) if line else 1}:1: {error}") from None
    return dataclasses.replace(cascade, name=path)


def _get_file(path: str) -> Cascade:
    try:
        status = os.stat(path)
        if not Path(path).is_file():
            raise CascadeFileError(f"cascade file {path!r} is not a file")
        return _load_file(path, (status.st_mtime_ns, status.st_size))
    except FileNotFoundError:
        raise CascadeFileError(f"no such cascade file {path!r}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CascadeFileError(f"cannot read cascade file {path!r}: {error}") from None


def get(name: str, **params: int) -> Cascade:
    """The library cascade `name`, or the cascade file at path `name` if it ends in ``.af``
    (relative paths against the working directory), with parameter defaults replaced by
    `params`. A file's cascade is named by `name` (not by its ``cascade`` line).

    Raises
    ------
    UnknownCascadeError
        For an unknown name (with did-you-mean and the list of valid names).
    CascadeFileError
        For a cascade file that does not exist or cannot be read.
    ParseError, VerifyError
        For a cascade file that is not valid notation (``file:line:col: ...``) or not a
        consistent cascade.
    InputError
        For an unknown parameter or a non-integer value.
    """
    if is_file(name):
        cascade = _get_file(name)
        check_params(cascade, params)
        return cascade.with_params(**params) if params else cascade
    valid = names()
    if name not in valid:
        raise UnknownCascadeError(f"unknown cascade {name!r}{did_you_mean(name, valid)}; "
                                  f"valid names: {', '.join(valid)}")
    cascade = _load(name)
    check_params(cascade, params)
    return cascade.with_params(**params) if params else cascade
