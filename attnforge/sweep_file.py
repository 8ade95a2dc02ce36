"""A design file's ``grid:`` and ``search:`` sections: read, typed and checked before anything runs.

One rule for grids and searches: every design variant they can produce must be a valid design
(types, bounds, the spec types' cross-field ``problems()`` and the kind's own rules), and
fields tied by a rule (``array_1d.pes`` must equal ``array_2d.rows``) are varied together under
one comma-joined key. A grid's every combination is checked before anything runs; so is every
combination of a search's choices and range ends, every value of a short integer range, and
each trial again before it is evaluated. Problems are reported at the section's key in the file
(``file:line:col: grid.<key>: ...``).
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from attnforge.specload import (
    INVALID,
    Context,
    SpecError,
    build_value,
    check_bounds,
    mapping_items,
    parse_yaml,
    read_text,
    tree_problems,
    type_name,
)
from attnforge.sweep import (
    Dimension,
    Point,
    Search,
    apply_overrides,
    field_info,
    grid_points,
    split_key,
)

Check = Callable[[Any], list[tuple[str, str]]]
"""A design's problems as (dotted key, message) pairs (default: its types' own rules)."""
TIED_HINT = "; fields tied by a rule vary together under one comma-joined key"
CHECKED_COMBINATIONS = 1024
"""Search-space combinations (choices × range ends) checked up front at most; trials beyond are
checked one by one before they are evaluated."""
ENUMERATED_RANGE = 64
"""An integer range of at most this many values is checked value by value up front, not only at
its ends: a rule may hold at both ends and not between them (the CACTI table tabulates 1, 2, 4,
..., 64 banks, so ``banks: {low: 1, high: 64}`` has valid ends and 57 invalid values)."""


def load_grid(path: Path, root_type: type, base: Any, check: Check = tree_problems
              ) -> tuple[Point, ...]:
    """The design file's top-level ``grid:`` as override points, validated; ``((),)`` if none.

    ``grid`` maps dotted keys of the design (``architectures.fusemax.array_2d.rows``) to
    non-empty lists of values. A key naming several fields separated by commas varies them
    together: each of its values is a list with one value per field. Each key must name a field, each value must suit the field's type
    and bounds, and every combination must make a valid design (``check``: by default the
    types' ``problems()``); otherwise SpecError lists every problem at its position in the file.
    """
    source = str(path)
    root = parse_yaml(read_text(path), source)
    grid_node = _top_level(root, "grid")
    if grid_node is None:
        return ((),)
    ctx = Context(source, [])
    if not isinstance(grid_node, yaml.MappingNode):
        ctx.report(grid_node, "grid", "must be a mapping of dotted keys to lists of values")
        raise SpecError(ctx.problems)
    values: dict[str | tuple[str, ...], list[Any]] = {}
    where: dict[str, tuple[yaml.Node, str]] = {}
    for name, (key_node, value_node) in mapping_items(grid_node, "grid", ctx).items():
        fields = split_key(name)
        if (_empty_field(fields, key_node, f"grid.{name}", ctx)
                or _varied_twice(fields, key_node, where, f"grid.{', '.join(fields)}", ctx)):
            continue
        where.update(dict.fromkeys(fields, (key_node, f"grid.{', '.join(fields)}")))
        built = (_grid_values(fields[0], key_node, value_node, root_type, ctx) if len(fields) == 1
                 else _zipped_values(fields, key_node, value_node, root_type, ctx))
        if built is not None:
            values[fields[0] if len(fields) == 1 else fields] = built
    if ctx.problems:
        raise SpecError(ctx.problems)
    points = grid_points(values)
    _check_combinations(base, points, where, ctx, check)
    return tuple(points)


def _top_level(root: yaml.Node, name: str) -> yaml.Node | None:
    if not isinstance(root, yaml.MappingNode):
        return None
    found = [v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == name]
    return found[0] if found else None


def _empty_field(fields: tuple[str, ...], key_node: yaml.Node, label: str, ctx: Context
                 ) -> bool:
    """Report (and say whether) a key has an empty field name: a stray comma."""
    if all(fields):
        return False
    ctx.report(key_node, label, "is empty: name a field by its dotted key" if len(fields) == 1
               else "has an empty field name (a comma with no dotted key on one side)")
    return True


def _varied_twice(fields: tuple[str, ...], key_node: yaml.Node,
                  where: Mapping[str, tuple[yaml.Node, str]], label: str, ctx: Context) -> bool:
    """Report (and say whether) a key names a field twice, or one an earlier key varies: the
    later value would silently replace the earlier in every point."""
    twice = [f for i, f in enumerate(fields) if f in fields[:i]]
    if twice:
        ctx.report(key_node, label, f"names {twice[0]} twice")
        return True
    earlier = [f for f in fields if f in where]
    if earlier:
        line = where[earlier[0]][0].start_mark.line + 1
        ctx.report(key_node, label, f"{earlier[0]} is already varied at line {line}; a field "
                                    f"may be varied under one key only")
        return True
    return False


def _located_field(root_type, dotted, key, key_node, ctx) -> tuple[Any, Mapping] | None:
    """:func:`field_info`, or None with the problem reported at ``key_node`` (also when
    ``dotted`` names a whole section: a grid or search varies fields, one value each)."""
    try:
        leaf, metadata = field_info(root_type, dotted)
    except ValueError as error:
        ctx.report(key_node, key, str(error))
        return None
    inner = typing.get_args(leaf)[1] if typing.get_origin(leaf) is dict else None
    if dataclasses.is_dataclass(leaf) or dataclasses.is_dataclass(inner):
        example = (f"{dotted}.{dataclasses.fields(leaf)[0].name}" if inner is None
                   else f"{dotted}.NAME.{dataclasses.fields(inner)[0].name}")
        ctx.report(key_node, key, f"names a section, not a field: vary its fields, each by its "
                                  f"dotted key (e.g. {example})")
        return None
    return leaf, metadata


def _grid_values(dotted, key_node, value_node, root_type, ctx) -> list[Any] | None:
    key = f"grid.{dotted}"
    found = _located_field(root_type, dotted, key, key_node, ctx)
    if found is None:
        return None
    leaf, metadata = found
    if not isinstance(value_node, yaml.SequenceNode) or not value_node.value:
        ctx.report(value_node, key, "must be a non-empty list of values")
        return None
    built = [build_value(child, leaf, f"{key}[{i}]", metadata, ctx)
             for i, child in enumerate(value_node.value)]
    if any(value is INVALID for value in built):
        return None
    return None if _repeats(built, value_node, key, ctx) else built


def _repeats(values: list[Any], value_node: yaml.SequenceNode, key: str, ctx: Context) -> bool:
    """Report (and say whether) a grid list repeats a value: the same points twice."""
    found = False
    for i, value in enumerate(values):
        if value in values[:i]:
            shown = list(value) if isinstance(value, tuple) else value
            ctx.report(value_node.value[i], f"{key}[{i}]", f"repeats {shown!r}, already at "
                       f"index {values.index(value)} (the same points twice)")
            found = True
    return found


def _zipped_values(fields, key_node, value_node, root_type, ctx, key: str = "",
                   prefix: str = "grid") -> list[tuple] | None:
    """Rows of values for fields varied together (a grid's or a search's comma-joined key)."""
    key = key or f"{prefix}.{', '.join(fields)}"
    if not isinstance(value_node, yaml.SequenceNode) or not value_node.value:
        ctx.report(value_node, key, f"must be a non-empty list of [{', '.join(fields)}] lists")
        return None
    types = []
    for dotted in fields:
        found = _located_field(root_type, dotted, f"{prefix}.{dotted}", key_node, ctx)
        if found is None:
            return None
        types.append(found)
    rows = []
    for i, child in enumerate(value_node.value):
        if not isinstance(child, yaml.SequenceNode) or len(child.value) != len(fields):
            ctx.report(child, f"{key}[{i}]", f"must be a list of {len(fields)} values")
            continue
        rows.append(tuple(build_value(item, leaf, f"{prefix}.{dotted}[{i}]", metadata, ctx)
                          for item, dotted, (leaf, metadata) in zip(child.value, fields, types,
                                                                     strict=True)))
    bad = len(rows) != len(value_node.value) or any(INVALID in row for row in rows)
    return None if bad or (prefix == "grid" and _repeats(rows, value_node, key, ctx)) else rows


def _check_combinations(base: Any, points: Iterable[Point], where, ctx: Context, check: Check,
                        limit: int = 20) -> None:
    """Report each distinct problem of the points' designs (at most ``limit``) at the swept key
    it concerns (``where``: field → (key node, label)); raise SpecError if there is any."""
    seen: set[tuple[str, str]] = set()
    for point in points:
        for key, message in _point_problems(base, point, check):
            if (key, message) not in seen and len(seen) < limit:
                seen.add((key, message))
                node, label = where[_owner(key, point)]
                values = ", ".join(f"{k}={v!r}" for k, v in point)
                text = message if key in dict(point) and len(point) == 1 else f"{key}: {message}"
                own = key in dict(point) or _inside_swept(key, point)
                hint = "" if own or _names_section(base, key) else TIED_HINT
                ctx.report(node, label, f"with {values}: {text}{hint}")
    if ctx.problems:
        raise SpecError(sorted(ctx.problems, key=lambda p: (p.line, p.col)))


def _point_problems(base: Any, point: Point, check: Check) -> list[tuple[str, str]]:
    """``check`` of the point's design; an override naming no entry (a dict key) is a problem."""
    design = base
    for dotted, value in point:
        try:
            design = apply_overrides(design, ((dotted, value),))
        except KeyError as error:
            return [(dotted, f"cannot apply: {error.args[0]}")]
    return check(design)


def _inside_swept(key: str, point: Point) -> bool:
    """Whether ``key`` lies inside a swept value (``sweep.attn_p[1]`` of ``sweep.attn_p``): a
    problem there is the value's own, not one of a rule tying it to another field."""
    return any(key.startswith((f"{dotted}[", f"{dotted}.")) for dotted, _ in point)


def _names_section(design: Any, key: str) -> bool:
    """Whether ``key`` names a whole section of ``design`` (a nested dataclass, e.g. an fpga
    design's ``units`` that must fit its board), not one field: varying fields together does
    not keep a rule over a section, so its problem gets no TIED_HINT."""
    value = design
    for part in key.split("."):
        name = part.partition("[")[0]
        if dataclasses.is_dataclass(value):
            value = getattr(value, name, None)
        elif isinstance(value, dict):
            value = value.get(name)
        else:
            return False
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _owner(key: str, point: Point) -> str:
    """The swept field a problem at ``key`` belongs to: the longest shared dotted prefix."""
    def shared(dotted: str) -> int:
        pairs = zip(dotted.split("."), key.split("."), strict=False)
        return len(list(itertools.takewhile(lambda pair: pair[0] == pair[1], pairs)))
    return max((dotted for dotted, _ in point), key=shared)


def load_search(path: Path, root_type: type, base: Any = None, check: Check = tree_problems
                ) -> Search | None:
    """The design file's top-level ``search:`` (a seeded optuna search), validated; or None.

    Every ``space`` key must name a field (comma-joined keys vary fields together; their
    choices are lists, one value per field); its choices must suit the field's type and bounds,
    and a range needs a numeric field (an integer field makes the range integer) with both ends
    in bounds. With ``base``, every combination of choices and range ends must make a valid
    design (``check``). A file may give ``grid`` or ``search``, not both.
    """
    source = str(path)
    root = parse_yaml(read_text(path), source)
    node = _top_level(root, "search")
    if node is None:
        return None
    ctx = Context(source, [])
    if _top_level(root, "grid") is not None:
        ctx.report(node, "search", "give either grid or search, not both")
        raise SpecError(ctx.problems)
    space_node = _top_level(node, "space")
    _empty_choices(space_node, ctx)
    zipped = _zipped_dimensions(space_node, root_type, ctx)
    search = build_value(_without_zipped(node, space_node), Search, "search", {}, ctx)
    if search is INVALID or ctx.problems:
        raise SpecError(sorted(ctx.problems, key=lambda p: (p.line, p.col)))
    space, where = {}, {}
    for key_node, _ in space_node.value:
        key, fields = key_node.value, split_key(key_node.value)
        if (_empty_field(fields, key_node, f"search.space.{key}", ctx)
                or _varied_twice(fields, key_node, where, f"search.space.{key}", ctx)):
            continue
        where.update(dict.fromkeys(fields, (key_node, f"search.space.{key}")))
        space[key] = (zipped[key] if len(fields) > 1
                      else _typed_dimension(key, search.space[key], root_type, key_node, ctx))
    if ctx.problems:
        raise SpecError(sorted(ctx.problems, key=lambda p: (p.line, p.col)))
    search = dataclasses.replace(search, space=space)
    if base is not None:
        corners = itertools.product(*(_candidates(key, dim) for key, dim in space.items()))
        _check_combinations(base, (tuple(itertools.chain.from_iterable(c)) for c in
                                   itertools.islice(corners, CHECKED_COMBINATIONS)),
                            where, ctx, check)
        _check_short_ranges(base, space, where, ctx, check)
    return search


def _empty_choices(space_node: yaml.Node | None, ctx: Context) -> None:
    """Report ``choices: []`` at its key (built, it reads as no choices given at all)."""
    if not isinstance(space_node, yaml.MappingNode):
        return
    for key_node, value_node in space_node.value:
        choices = _top_level(value_node, "choices")
        if isinstance(choices, yaml.SequenceNode) and not choices.value:
            ctx.report(choices, f"search.space.{key_node.value}.choices",
                       "must list at least one value")
    if ctx.problems:
        raise SpecError(ctx.problems)


def _check_short_ranges(base: Any, space: Mapping[str, Dimension], where, ctx: Context,
                        check: Check) -> None:
    """Every value inside a short integer range (at most ENUMERATED_RANGE values; its ends are
    checked with the other dimensions) must make a valid design on its own; one problem per
    range, naming its first invalid value and the valid ones."""
    for key, dim in space.items():
        if dim.choices or not dim.integer or int(dim.high) - int(dim.low) >= ENUMERATED_RANGE:
            continue
        inside = range(int(dim.low) + 1, int(dim.high))
        bad = [(v, found) for v in inside if (found := _point_problems(base, ((key, v),), check))]
        if bad:
            (value, ((field, message), *_)), *_ = bad
            node, label = where[key]
            text = message if field == key else f"{field}: {message}"
            invalid = {v for v, _ in bad}
            valid = [v for v in range(int(dim.low), int(dim.high) + 1) if v not in invalid]
            ctx.report(node, label, f"with {key}={value}: {text}; every value of a range must "
                       f"make a valid design, and of {int(dim.low)}..{int(dim.high)} only "
                       f"{', '.join(map(str, valid))} do: give those as choices")
    if ctx.problems:
        raise SpecError(sorted(ctx.problems, key=lambda p: (p.line, p.col)))


def check_trial(path: Path, base: Any, point: Point, check: Check = tree_problems) -> None:
    """Raise SpecError, at the search's keys, if a trial's design breaks a rule (a range is
    checked up front only at its ends)."""
    if not _point_problems(base, point, check):
        return
    source = str(path)
    space_node = _top_level(_top_level(parse_yaml(read_text(path), source), "search"), "space")
    where = {field: (key_node, f"search.space.{key_node.value}")
             for key_node, _ in space_node.value for field in split_key(key_node.value)}
    _check_combinations(base, [point], where, Context(source, []), check)


def _candidates(key: str, dim: Dimension) -> list[Point]:
    """The overrides a dimension contributes to the up-front check: each choice, or both ends."""
    fields = split_key(key)
    if len(fields) > 1:
        return [tuple(zip(fields, choice, strict=True)) for choice in dim.choices]
    ends = (dim.low, dim.high)
    values = dim.choices or tuple(int(v) if dim.integer else v for v in ends)

    return [((key, value),) for value in dict.fromkeys(values)]


def _without_zipped(node: yaml.MappingNode, space_node: yaml.Node | None) -> yaml.Node:
    """The ``search`` node without comma-joined ``space`` keys (built by _zipped_dimensions)."""
    if not isinstance(space_node, yaml.MappingNode):
        return node
    kept = [(k, v) for k, v in space_node.value if len(split_key(k.value)) == 1]
    space = yaml.MappingNode(space_node.tag, kept, space_node.start_mark, space_node.end_mark)
    return yaml.MappingNode(node.tag, [(k, space if v is space_node else v) for k, v in node.value],
                            node.start_mark, node.end_mark)


def _zipped_dimensions(space_node, root_type, ctx) -> dict[str, Dimension]:
    """Each comma-joined ``space`` key's Dimension: ``{choices: [[v1, v2, ...], ...]}``."""
    found = {}
    if not isinstance(space_node, yaml.MappingNode):
        return found
    for key_node, value_node in space_node.value:
        fields = split_key(key_node.value)
        label = f"search.space.{key_node.value}"
        if len(fields) == 1 or _empty_field(fields, key_node, label, ctx):
            continue
        items = (mapping_items(value_node, label, ctx)
                 if isinstance(value_node, yaml.MappingNode) else {})
        if set(items) != {"choices"}:
            ctx.report(value_node, label, f"fields varied together take only "
                       f"{{choices: [[{', '.join(fields)}], ...]}}")
            continue
        rows = _zipped_values(fields, key_node, items["choices"][1], root_type, ctx,
                              f"{label}.choices", "search.space")
        if rows is not None:
            found[key_node.value] = Dimension(choices=tuple(rows))
    return found


def _typed_dimension(dotted, dim, root_type, key_node, ctx) -> Dimension:
    key = f"search.space.{dotted}"
    found = _located_field(root_type, dotted, key, key_node, ctx)
    if found is None:
        return dim
    leaf, metadata = found
    if dim.choices:
        fits = [_fits(value, leaf) for value in dim.choices]
        if not all(fits):
            bad = dim.choices[fits.index(False)]
            ctx.report(key_node, key, f"choice {bad!r} does not suit the field ({leaf.__name__})")
            return dim
        _first_out_of_bounds(dim.choices, metadata, key_node, key, ctx)
        return dataclasses.replace(dim, choices=tuple(leaf(v) if leaf is float else v
                                                      for v in dim.choices))
    if leaf not in (int, float):
        hint = " (give choices: [true, false])" if leaf is bool else ""
        ctx.report(key_node, key, f"a low/high range needs a numeric field, not "
                   f"{type_name(leaf)}{hint}")
        return dim
    integer = dim.integer or leaf is int
    fractional = [end for end in (dim.low, dim.high) if integer and not float(end).is_integer()]
    if fractional:  # suggest_int would truncate it (low 1.5 searched from 1)
        ctx.report(key_node, key, f"an integer range needs whole-number ends, not "
                   f"{fractional[0]}")
        return dim
    _first_out_of_bounds((dim.low, dim.high), metadata, key_node, key, ctx)
    return dataclasses.replace(dim, integer=integer)


def _first_out_of_bounds(values, metadata, key_node, key, ctx) -> None:
    """Report the first value outside the field's bounds (bounds are monotone: the ends of a
    range stand for the whole range)."""
    for value in values:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if check_bounds(value, metadata, key_node, key, Context(ctx.source, [])) is INVALID:
            check_bounds(value, metadata, key_node, key, ctx)
            return


def _fits(value: Any, leaf: Any) -> bool:
    if leaf is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if leaf is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, leaf) if isinstance(leaf, type) else value in typing.get_args(leaf)
