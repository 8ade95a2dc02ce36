"""Design kinds: what `attnforge explore` does with a design file, chosen by its `kind:` key.

A kind turns a design file into points and each point into one result row. `evaluate` is a pure
function of (design, point), both frozen and picklable, so the explorer may run points in any
order and on any worker and still write the same rows.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from attnforge.specload import (
    Problem,
    SpecError,
    did_you_mean,
    load_spec,
    located_error,
    read_kind,
    tree_problems,
)


class DesignKind(Protocol):
    """The protocol every design kind implements."""

    name: str

    def load(self, path: Path) -> Any:
        """The typed design; raises SpecError (an InputError) with every problem."""

    def points(self, design: Any) -> Sequence[Any]:
        """Every point of the design's sweep, in a stable order (frozen, picklable)."""

    def evaluate(self, design: Any, point: Any) -> Mapping[str, object]:
        """One result row (column → scalar) for one point; pure and deterministic."""

    def report(self, design: Any, rows: Sequence[Mapping[str, object]], out_dir: Path) -> str:
        """Write plots (pareto.png, ...) into out_dir; return the printed summary."""

    # Optional (see `objectives_of` and `label_keys_of` for the fallbacks):
    #   objectives(design) -> tuple[str, ...]: the minimised result columns of the design's front;
    #   label_keys(design) -> tuple[str, ...]: the columns naming a point on plots and tables;
    #   problems(design) -> list[tuple[str, str]]: (dotted key, message) for the kind's rules
    #     across its spec types, checked on every grid or search variant (`design_problems`);
    #   feasible_key(design) -> str: a boolean result column; rows where it is False (an fpga
    #     point that does not fit its board) stay in results.csv but no front includes them;
    #   input_fingerprint(design) -> str: a hash of the files the design names (their contents),
    #     part of every store key, so an edited file is priced anew (`explorer.input_fingerprint`).


# kind name → module (imported lazily) exposing a module-level `KIND: DesignKind`.
_KIND_MODULES: dict[str, str] = {
    "accelerator": "attnforge.kinds.accelerator",
    "fpga": "attnforge.kinds.fpga",
}


# kinds of design file that other commands read
OTHER_COMMANDS = {"rtl": "attnforge verilog, attnforge verify or attnforge synth"}


def kind_names() -> tuple[str, ...]:
    """The registered design kinds, sorted."""
    return tuple(sorted(_KIND_MODULES))


def get_kind(name: str) -> DesignKind:
    """The registered kind ``name`` (already validated by :func:`kind_of`)."""
    return importlib.import_module(_KIND_MODULES[name]).KIND


def load_checked(kind: Any, path: Path, root_type: type) -> Any:
    """The typed design of ``path`` for ``kind``: its types' problems (`load_spec`), then the
    kind's own ``problems(design)``, each reported at its key; raises SpecError."""
    design = load_spec(Path(path), root_type, kind=kind.name)
    found = kind.problems(design)
    if found:
        raise located_error(Path(path), found)
    return design


def require_kind(path: Path, names: str | tuple[str, ...], command: str) -> DesignKind:
    """The kind of ``path``, which ``command`` accepts only if it is one of ``names``: any other
    kind is a SpecError at the file's ``kind:`` value."""
    names = (names,) if isinstance(names, str) else names
    found, where = read_kind(path)
    if found not in names:
        wanted = " or ".join(map(repr, names))
        use = f"; {found} designs are for {OTHER_COMMANDS[found]}" if found in OTHER_COMMANDS else ""
        raise SpecError([Problem(where.source, where.line, where.col, "kind",
                                 f"{command} needs a design of kind {wanted}, not {found!r}"
                                 f"{use}")])
    return kind_of(path)


def kind_of(path: Path) -> DesignKind:
    """The kind a design file declares, with the file's position in the unknown-kind message."""
    name, where = read_kind(path)
    if name not in _KIND_MODULES:
        valid = ", ".join(kind_names()) or "none registered"
        message = f"unknown kind {name!r}{did_you_mean(name, kind_names())} (valid kinds: {valid})"
        if name in OTHER_COMMANDS:
            message = f"{name} designs are not explored; use {OTHER_COMMANDS[name]}"
        raise SpecError([Problem(where.source, where.line, where.col, "kind", message)])
    return importlib.import_module(_KIND_MODULES[name]).KIND


def objectives_of(kind: DesignKind, design: Any) -> tuple[str, ...]:
    """The minimised result columns of a design's front: ``kind.objectives(design)`` if the kind
    defines it, else the design's ``objectives`` field, else none."""
    method = getattr(kind, "objectives", None)
    found = method(design) if callable(method) else getattr(design, "objectives", ())
    return tuple(found or ())


def workload_keys_of(kind: DesignKind, design: Any) -> tuple[str, ...]:
    """The result columns that fix the work a point does (``kind.workload_keys(design)`` if the
    kind defines it, else none): points of different workloads are not compared on a front."""
    method = getattr(kind, "workload_keys", None)
    return tuple(method(design)) if callable(method) else ()


def feasible_key_of(kind: DesignKind, design: Any) -> str:
    """The boolean column marking rows that may be on a front (``kind.feasible_key(design)``),
    or "" when every row may."""
    method = getattr(kind, "feasible_key", None)
    return str(method(design)) if callable(method) else ""


def design_problems(kind: DesignKind, design: Any) -> list[tuple[str, str]]:
    """Every rule a design variant must meet: its types' bounds and ``problems()``, then the
    kind's own ``problems(design)`` if it defines one."""
    found = tree_problems(design)
    method = getattr(kind, "problems", None)
    return found + (list(method(design)) if callable(method) and not found else [])


def label_keys_of(kind: DesignKind, design: Any, rows: Sequence[Mapping[str, object]],
                  objectives: Sequence[str], override_keys: Sequence[str] = ()
                  ) -> tuple[str, ...]:
    """The columns that name a point: the ``override_keys`` (a grid's or search's columns) that
    vary between rows, then ``kind.label_keys(design)`` if the kind defines it, else the
    columns before the first objective (a row's point and grid columns come first) that vary.

    Without the override columns every variant of a grid over, say, ``buffer.banks`` would
    carry the same label as the others.
    """
    def varying(keys: Sequence[str]) -> tuple[str, ...]:
        return tuple(key for key in keys if len({repr(row.get(key)) for row in rows}) > 1)

    overrides = varying(override_keys)
    method = getattr(kind, "label_keys", None)
    if callable(method):
        return tuple(dict.fromkeys(overrides + tuple(method(design))))
    if not rows:
        return ()
    leading = []
    for key in rows[0]:
        if key in objectives:
            break
        leading.append(key)
    return tuple(dict.fromkeys(overrides + varying(leading)))
