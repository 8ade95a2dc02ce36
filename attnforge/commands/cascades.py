"""`attnforge cascades` (the library as a table) and `attnforge cascade NAME` (one cascade:
its Einsums, per-rank pass counts, and optionally a run of the reference executor)."""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path

import click
import numpy as np

from attnforge.paths import replaced_atomically
from einsum import Cascade, attention, library, parse, rank_extents, verify
from einsum.errors import InputError
from einsum.passes import pass_counts
from einsum.verifier import VerifyError, bind_params, check_params

#: The rank whose pass count is the headline number (the softmax's key/value length).
HEADLINE_RANK = "m"


@click.command("cascades")
def cascades() -> None:
    """List the library cascades: name, passes over M, number of Einsums."""
    rows = [("name", "passes over M", "einsums")]
    for name in library.names():
        cascade = library.get(name)
        rows.append((name, str(pass_counts(cascade).get(HEADLINE_RANK, 0)),
                     str(len(cascade.einsums))))
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@click.command("cascade")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the cascade as JSON.")
@click.option("--run", "run_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Run the reference executor on Q, K, V from this .npz (row-major "
                   "(..., P, E), (..., M, E), (..., M, F)); computes softmax(Q K^T / sqrt(E)) V.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              callback=lambda ctx, param, value: file_option(param, value),
              help="Where --run writes AV (..., P, F) as .npz.")
@click.option("--param", "param_items", multiple=True, metavar="KEY=VALUE",
              help="Cascade parameter, e.g. M0=128 (repeatable).")
def cascade(name: str, as_json: bool, run_path: Path | None, out_path: Path | None,
            param_items: tuple[str, ...]) -> None:
    """Show cascade NAME: its Einsums in the notation and per-rank pass counts.

    NAME is a library cascade (see `attnforge cascades`) or a path to a FILE.af in the notation.
    """
    params = _parse_params(param_items)
    chosen = _load_cascade(name, params)
    _check_extent_params(chosen)
    if run_path is not None or out_path is not None:
        if run_path is None or out_path is None:
            raise InputError("--run IN.npz and --out OUT.npz must be given together")
        if as_json:
            raise InputError("--json prints the cascade; with --run the result goes to --out")
        _run(chosen, run_path, out_path)
        return
    counts = pass_counts(chosen)
    if as_json:
        click.echo(json.dumps(describe(chosen, counts), indent=2))
        return
    click.echo(f"cascade {chosen.name}: {counts.get(HEADLINE_RANK, 0)} pass(es) over M")
    click.echo("passes per rank: " + ", ".join(f"{r}={n}" for r, n in counts.items()))
    phase = None
    for e in chosen.einsums:
        if chosen.iteration is not None and e.phase != phase:
            phase = e.phase
            click.echo(f"{phase}:")
        click.echo(f"  {e.text}")


def file_option(param: click.Parameter, value: str | None) -> Path | None:
    """A file option's value as a Path; '' (an unset shell variable) is an error naming the
    option, not a file named after the working directory."""
    if value is not None and not value.strip():
        raise InputError(f"{param.opts[0]} must name a file, not ''")
    return None if value is None else Path(value)


def _load_cascade(name: str, params: dict[str, int]) -> Cascade:
    if not name.strip():  # an unset shell variable; Path('') is the working directory
        raise InputError("NAME must be a library cascade (see `attnforge cascades`) or a "
                         "FILE.af, not ''")
    if not name.endswith(".af"):
        if Path(name).exists():
            raise InputError(f"{name}: a cascade file's name must end in .af (or give a library "
                             f"cascade name, see `attnforge cascades`)")
        return library.get(name, **params)
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8-sig")  # as editors that write a BOM save it
    except OSError as error:
        stem = path.name.removesuffix(".af")
        hint = (f" (the library cascade is `attnforge cascade {stem}`)"
                if not path.exists() and stem in library.names() else "")
        raise InputError(f"{path}: cannot read: {error.strerror}{hint}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    parsed = parse(text, source=str(path))  # nesting is bounded: a ParseError, no RecursionError
    try:
        verify(parsed)
    except VerifyError as error:  # it names the cascade and the line, not the file
        raise VerifyError(f"{path}: {error}") from None
    check_params(parsed, params)
    return parsed.with_params(**params) if params else parsed


def describe(chosen, counts: dict[str, int]) -> dict:
    """The JSON form of a cascade (name, passes over M, Einsums, per-rank passes, ...)."""
    return {
        "name": chosen.name,
        "passes": counts.get(HEADLINE_RANK, 0),
        "pass_counts": counts,
        "einsums": [e.text for e in chosen.einsums],
        "phases": [e.phase for e in chosen.einsums],
        "inputs": [str(t) for t in chosen.inputs],
        "outputs": [str(t) for t in chosen.outputs],
        "params": dict(chosen.params),
        "iterative_rank": chosen.iterative_rank,
        "splits": [str(s) for s in chosen.splits],
    }


def _parse_params(items: tuple[str, ...]) -> dict[str, int]:
    params: dict[str, int] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--param {item!r}: expected KEY=VALUE, e.g. M0=128")
        if key in params:
            raise InputError(f"--param {key}: given twice ({key}={params[key]} and {item})")
        try:
            params[key] = int(value)
        except ValueError:
            raise InputError(f"--param {key}: value must be an integer, not {value!r}") from None
    return params


def _check_extent_params(chosen: Cascade) -> None:
    """An InputError for a parameter that sizes a rank (a split's chunk ``M0``, or ``C`` for
    rank ``c``) set below 1: the cascade would have an empty rank."""
    ranks = {r for e in chosen.einsums for r in e.ranks}
    sizing = {s.factor: f"chunk of rank {s.parent}" for s in chosen.splits}
    sizing.update({p: f"extent of rank {p.lower()}" for p in chosen.params
                   if p.lower() in ranks and p not in sizing})
    for name, what in sizing.items():
        value = chosen.params[name]
        if value is not None and value < 1:
            raise InputError(f"--param {name}: the {what} must be at least 1, not {value}")


def _run(chosen: Cascade, run_path: Path, out_path: Path) -> None:
    """Run `chosen` on the arrays of ``run_path``; write AV to ``out_path`` only if every value
    is finite (an absent output row, e.g. a window of 0, or an overflow of Q·K in float64, is
    an error and nothing is written)."""
    if out_path.exists() and run_path.exists() and out_path.resolve() == run_path.resolve():
        raise InputError(f"--out {out_path}: is the --run input itself; choose another path")
    if not out_path.parent.is_dir():  # before the run, not after it
        raise InputError(f"--out {out_path}: {str(out_path.parent)!r} is not a directory")
    if not os.access(out_path.parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out_path}: the directory is not writable")
    try:
        bind_params(chosen, {})
    except InputError as error:
        raise InputError(f"--param: {error}") from None
    if sorted(t.name for t in chosen.inputs) != ["K", "Q", "V"] or \
            [t.name for t in chosen.outputs] != ["AV"]:
        raise InputError(f"--run: cascade {chosen.name} is not an attention cascade (inputs "
                         f"Q, K, V and output AV), so it cannot run on Q, K, V")
    problem = _attention_rank_problem(chosen)
    if problem:
        raise InputError(f"--run: cascade {chosen.name}: {problem}, so the arrays Q (..., P, E), "
                         f"K (..., M, E), V (..., M, F) cannot fill it")
    arrays = _load_npz(run_path)
    _check_tensor_sizes(chosen, arrays, run_path)
    try:
        av = attention(chosen, arrays["Q"], arrays["K"], arrays["V"])
    except InputError as error:
        raise InputError(f"{run_path}: {error}") from None
    except MemoryError as error:
        raise InputError(f"{run_path}: too large for the reference executor, which holds whole "
                         f"float64 intermediates such as the P x M scores ({error})") from None
    bad = int(np.count_nonzero(~np.isfinite(av)))
    if bad:
        raise InputError(f"{run_path}: {bad} of {av.size} values of AV are not finite (a query "
                         f"row that no key reaches, e.g. through a filter's parameter, or "
                         f"Q·K beyond float64's range); nothing written to {out_path}")
    _save_atomically(out_path, av)
    click.echo(f"wrote {out_path}: AV {tuple(av.shape)} float64 ({chosen.name})")


def _attention_rank_problem(chosen: Cascade) -> str | None:
    """What keeps ``einsum.attention`` from mapping the row-major arrays onto the cascade's
    declarations, or None: Q, K, V need their core ranks (e, p / e, m / f, m); K and V the same
    head ranks (at most one, one of Q's); Q at most two; AV exactly p, f and Q's head ranks."""
    decls = {t.name: t for t in (*chosen.inputs, *chosen.outputs)}
    for name, core in _ARRAY_RANKS.items():
        lacking = [r for r in core if r not in decls[name].ranks]
        if lacking:
            return f"{decls[name]} lacks rank {lacking[0]}"
    heads = {n: tuple(r for r in decls[n].ranks if r not in _ARRAY_RANKS[n]) for n in "QKV"}
    if len(heads["Q"]) > 2:
        return f"{decls['Q']} has {len(heads['Q'])} head ranks; at most 2"
    for name in "KV":
        if len(heads[name]) > 1:
            return f"{decls[name]} has {len(heads[name])} head ranks; at most 1"
        extra = [r for r in heads[name] if r not in heads["Q"][:1]]
        if extra:
            if not heads["Q"]:
                return f"{decls[name]} has head rank {extra[0]}, which {decls['Q']} lacks"
            return (f"{decls[name]} has head rank {extra[0]}; K and V may only have the first "
                    f"head rank of {decls['Q']}, {heads['Q'][0]}")
    if heads["K"] != heads["V"]:
        return f"{decls['K']} and {decls['V']} must have the same head ranks"
    want = sorted({"p", "f", *heads["Q"]})
    if sorted(decls["AV"].ranks) != want:
        return f"{decls['AV']} must have the ranks {', '.join(want)}"
    return None


#: Most values one Einsum's output may hold in the reference executor (1 GiB of float64).
MAX_TENSOR_VALUES = 2**27
#: Row-major (rows, columns) ranks of the arrays in the .npz: Q (P, E), K (M, E), V (M, F).
_ARRAY_RANKS = {"Q": ("p", "e"), "K": ("m", "e"), "V": ("m", "f")}


def _check_tensor_sizes(chosen: Cascade, arrays: dict[str, np.ndarray], path: Path) -> None:
    """An InputError naming the Einsum whose output would exceed MAX_TENSOR_VALUES (e.g.
    ``--param M0=100000000`` makes BK[e,m1,m0] 1e8 wide for any M): checked before the
    executor allocates, where it would exhaust memory. Shapes it cannot read are left to
    `einsum.attention` to report."""
    found = _input_extents(chosen, arrays)
    if found is None:
        return
    extents, batch = found
    try:
        ranks = rank_extents(chosen, extents)
    except InputError:
        return
    for e in chosen.einsums:
        values = batch * math.prod(ranks[r] for r in e.output_ranks)
        if values > MAX_TENSOR_VALUES:
            sizes = ", ".join(f"{r}={ranks[r]}" for r in e.output_ranks)
            raise InputError(f"{path}: Einsum {e.name} ({e.text}) would hold {values} values "
                             f"({sizes}); the reference executor takes at most "
                             f"{MAX_TENSOR_VALUES}: use smaller arrays or parameters")
    for e in chosen.einsums:  # a rank it only iterates over (e.g. one it reduces) indexes too
        for rank in e.ranks:
            if ranks[rank] > MAX_TENSOR_VALUES:
                raise InputError(f"{path}: Einsum {e.name} ({e.text}) iterates over rank "
                                 f"{rank} of extent {ranks[rank]}; the reference executor "
                                 f"takes at most {MAX_TENSOR_VALUES} values: use smaller "
                                 f"arrays or parameters")


def _input_extents(chosen: Cascade, arrays: dict[str, np.ndarray]
                   ) -> tuple[dict[str, int], int] | None:
    """Every input rank's extent from the arrays' shapes (head ranks: K's heads, and Q's heads
    over the ranks K does not fix) and the largest batch (leading dims before those), or None
    when a shape does not fit the declaration."""
    decls = {t.name: t.ranks for t in chosen.inputs}
    extents: dict[str, int] = {}
    batch = 1
    for name in ("K", "V", "Q"):
        array, core = arrays[name], _ARRAY_RANKS[name]
        heads = [r for r in decls[name] if r not in core]
        if array.ndim < 2 + bool(heads):
            return None
        batch = max(batch, math.prod(array.shape[:array.ndim - 2 - bool(heads)]))
        for rank, size in zip(core, array.shape[-2:], strict=True):
            extents[rank] = max(extents.get(rank, 1), size)
        if heads:
            known = math.prod(extents[r] for r in heads if r in extents)
            free = [r for r in heads if r not in extents]
            for k, rank in enumerate(free):
                extents[rank] = max(1, -(-array.shape[-3] // known)) if k == 0 else 1
    return extents, batch


def _save_atomically(out_path: Path, av: np.ndarray) -> None:
    """Write ``AV`` as .npz to a temporary file beside ``out_path``, then rename it over
    ``out_path``: an error midway leaves no partial file."""
    try:
        with replaced_atomically(out_path) as temp, temp.open("xb") as handle:
            np.savez(handle, AV=av)
    except OSError as error:
        raise InputError(f"{out_path}: cannot write: {error.strerror or error}") from None


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if path.is_file() and not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not an .npz archive (a zip of arrays Q, K, V as numpy.savez "
                         f"writes)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except EOFError:
        raise InputError(f"{path}: empty file, expected an .npz archive of Q, K, V") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise InputError(f"{path}: not a readable .npz archive ({error})") from None
    if not isinstance(arrays, dict):
        raise InputError(f"{path}: expected an .npz archive of arrays Q, K, V")
    for key in ("Q", "K", "V"):
        if key not in arrays:
            found = ", ".join(sorted(arrays)) or "no arrays"
            raise InputError(f"{path}: array {key} is missing (found: {found}); need Q "
                             f"(..., P, E), K (..., M, E), V (..., M, F)")
        if not isinstance(arrays[key], np.ndarray):
            raise InputError(f"{path}: member {key}.npy is not a NumPy array file (write the "
                             f"archive with numpy.savez)")
        dtype = arrays[key].dtype
        if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
            raise InputError(f"{path}: array {key} must be real numbers, not {dtype}")
    return arrays
