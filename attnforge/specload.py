"""Design files: YAML → a tree of frozen dataclasses, with every problem reported at once.

Loading runs in three steps:

1. parse the YAML into PyYAML *nodes*, which keep the line and column of every key and value;
2. walk the nodes against the type hints of the target dataclass, collecting *all* problems
   (unknown key with the valid keys and a did-you-mean, wrong type, violated bound, missing key,
   and each dataclass's own cross-field ``problems()``);
3. only when no problem was found, build the frozen objects.

Supported field types: ``int``, ``float``, ``str``, ``bool``, ``Literal[...]``, ``Enum``
subclasses (by value), ``tuple[X, ...]``, ``tuple[X, Y]``, nested dataclasses, ``X | None`` and
``dict[str, X]``. Bounds come from field metadata: ``{"min": v}``, ``{"max": v}``, ``{"gt": v}``,
``{"lt": v}``. A dataclass may define ``problems(self) -> list[tuple[str, str]]`` returning
(dotted key relative to itself, message) pairs for cross-field rules; they are reported at that
key's position.

A null value (``key:`` with nothing after it, ``null``, ``~``) is ``None`` only for a scalar
field whose type allows it (``acc_bits: int | None``); for a section (a nested dataclass, even
an optional one, whose ``None`` means "not given") it is a problem: the user meant ``key: {}``
or left an entry unfinished, and reading it as absent would silently drop it.

Every design file starts with ``version: 1`` and ``kind: <name>``; :func:`load_spec` checks the
version and strips both keys. Every problem reads
``designs/x.yaml:14:9: arch.pe_array.rows: must be a positive integer, not -4``.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from einsum.errors import InputError

SUPPORTED_VERSIONS = (1,)
HEADER_KEYS = ("version", "kind")
#: Top-level keys read by the explorer (attnforge.sweep), not by the kind's own types.
EXPLORER_KEYS = ("grid", "search")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a design file, at a 1-based line and column."""

    source: str
    line: int
    col: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.col}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class SpecError(InputError):
    """A design file is malformed or describes an impossible design; holds every problem."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            lines = [f"{len(self.problems)} problems in {self.problems[0].source}:"]
            lines += [f"  {problem}" for problem in self.problems]
            text = "\n".join(lines)
        super().__init__(text)


class _Invalid:
    """Marker for a value that failed validation (a problem was recorded)."""


INVALID = _Invalid()


@dataclass(frozen=True, slots=True)
class Context:
    source: str
    problems: list[Problem]

    def report(self, node: yaml.Node | None, key: str, message: str) -> _Invalid:
        line, col = _position(node)
        self.problems.append(Problem(self.source, line, col, key, message))
        return INVALID


def _position(node: yaml.Node | None) -> tuple[int, int]:
    if node is None:
        return 1, 1
    return node.start_mark.line + 1, node.start_mark.column + 1


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the choice equal to ``word`` but for case (``OS`` → ``os``,
    which difflib rates too far apart), else the closest choice, or ``""``."""
    choices = list(choices)
    close = [c for c in choices if c.casefold() == word.casefold()]
    close = close or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# --------------------------------------------------------------------------- parsing


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, also reading ``1e9`` and ``2.5E6`` as floats (YAML 1.2 does;
    PyYAML's YAML 1.1 rules want a dot and a signed exponent, so ``4.3e11`` was text and a
    design got "must be a number, not '4.3e11'")."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_yaml(text: str, source: str) -> yaml.Node:
    """Compose YAML text into nodes; a syntax error or an empty file raises SpecError."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"malformed YAML: {error.problem or error.context}"
        raise SpecError([Problem(source, line, col, "", message)]) from None
    except yaml.YAMLError as error:
        raise SpecError([Problem(source, 1, 1, "", f"malformed YAML: {error}")]) from None
    if node is None:
        raise SpecError([Problem(source, 1, 1, "", "the file is empty")])
    ctx = Context(source, [])
    _merge_keys(node, "", ctx, set())
    _unreadable_scalars(node, "", ctx, set())
    if ctx.problems:
        raise SpecError(ctx.problems)
    return node


MERGE_TAG = "tag:yaml.org,2002:merge"


def _unreadable_scalars(node: yaml.Node, key: str, ctx: Context, seen: set[int]) -> None:
    """A problem for each scalar (key or value) the safe loader cannot construct: an unknown
    tag (``!foo 1``, ``!!python/object:...``) or YAML 1.1's ``=`` value key. Tags on mappings
    and lists are never constructed, so they are left alone."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        try:
            _scalar(node)
        except yaml.YAMLError as error:
            what = getattr(error, "problem", None) or str(error)
            ctx.report(node, key, f"cannot read {node.value!r}: {what}")
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _unreadable_scalars(child, f"{key}[{index}]", ctx, seen)
    else:
        for key_node, value_node in node.value:
            _unreadable_scalars(key_node, key, ctx, seen)
            _unreadable_scalars(value_node, _join(key, str(key_node.value)), ctx, seen)


def _merge_keys(node: yaml.Node, key: str, ctx: Context, seen: set[int]) -> None:
    """Resolve YAML merge keys (``<<: *base``, ``<<: [*a, *b]``) in place, as YAML 1.1 does:
    a mapping gets each merged entry it does not write itself (the first source wins). The
    merged nodes keep their own positions, so a problem inside one is reported where it is
    written. A merge of anything but mappings is a problem at the ``<<`` key."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _merge_keys(child, f"{key}[{index}]", ctx, seen)
    if not isinstance(node, yaml.MappingNode):
        return
    own = [(k, v) for k, v in node.value if k.tag != MERGE_TAG]
    sources = []
    for key_node, value_node in node.value:
        if key_node.tag != MERGE_TAG:
            _merge_keys(value_node, _join(key, str(key_node.value)), ctx, seen)
            continue
        found = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        if not all(isinstance(source, yaml.MappingNode) for source in found):
            ctx.report(value_node, _join(key, "<<"), "a merge key takes a mapping or a list of "
                       f"mappings (e.g. <<: *base), not {_node_kind(value_node)}")
            continue
        for source in found:
            _merge_keys(source, key, ctx, seen)
        sources += found
    if len(own) == len(node.value):
        return
    names = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
    merged = []
    for source in sources:
        for key_node, value_node in source.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if name is None or name not in names:  # a non-scalar key: mapping_items reports it
                names.add(name)
                merged.append((key_node, value_node))
    node.value = merged + own


def read_text(path: Path) -> str:
    """The file's text; a missing or unreadable file raises SpecError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(str(path), 1, 1, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([Problem(str(path), 1, 1, "", f"cannot read: {error}")]) from None


def _scalar(node: yaml.ScalarNode) -> Any:
    return yaml.SafeLoader("").construct_object(node, deep=True)


def mapping_items(node: yaml.MappingNode, key: str, ctx: Context) -> dict[str, tuple]:
    """Mapping entries as {name: (key_node, value_node)}; bad or duplicate keys are problems."""
    items: dict[str, tuple] = {}
    for key_node, value_node in node.value:
        name = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(name, str):
            shown = repr(name) if isinstance(key_node, yaml.ScalarNode) else _node_kind(key_node)
            ctx.report(key_node, key, f"keys must be strings, not {shown}")
        elif name in items:
            ctx.report(key_node, _join(key, name), "duplicate key")
        else:
            items[name] = (key_node, value_node)
    return items


# --------------------------------------------------------------------------- headers


def read_header(node: yaml.Node, source: str) -> tuple[str, yaml.Node]:
    """Check ``version:`` and return (kind, node of the kind value); raise SpecError."""
    ctx = Context(source, [])
    if not isinstance(node, yaml.MappingNode):
        ctx.report(node, "", "a design file must be a mapping of keys to values")
        raise SpecError(ctx.problems)
    items = mapping_items(node, "", ctx)
    kind, kind_node = "", node
    if "version" not in items:
        ctx.report(node, "version", f"missing required key (use version: {SUPPORTED_VERSIONS[-1]})")
    else:
        version_node = items["version"][1]
        version = _scalar(version_node) if isinstance(version_node, yaml.ScalarNode) else None
        if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
            supported = ", ".join(map(str, SUPPORTED_VERSIONS))
            ctx.report(version_node, "version", f"must be one of {supported}, not {version!r}")
    if "kind" not in items:
        ctx.report(node, "kind", "missing required key")
    else:
        kind_node = items["kind"][1]
        value = _scalar(kind_node) if isinstance(kind_node, yaml.ScalarNode) else None
        if isinstance(value, str) and value:
            kind = value
        else:
            ctx.report(kind_node, "kind", f"must be a non-empty string, not {value!r}")
    if ctx.problems:
        raise SpecError(ctx.problems)
    return kind, kind_node


def _without_header(node: yaml.MappingNode) -> yaml.MappingNode:
    kept = [
        (key_node, value_node)
        for key_node, value_node in node.value
        if not (isinstance(key_node, yaml.ScalarNode)
                and key_node.value in HEADER_KEYS + EXPLORER_KEYS)
    ]
    return yaml.MappingNode(node.tag, kept, node.start_mark, node.end_mark, node.flow_style)


# --------------------------------------------------------------------------- building


def type_name(tp: Any) -> str:
    """The type in words for messages: "an integer", "true or false", "a mapping", ..."""
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if tp in names:
        return names[tp]
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def check_bounds(value: Any, metadata: typing.Mapping, node, key: str, ctx: Context) -> Any:
    """``value``, or INVALID with a problem recorded when it breaks a bound in ``metadata``."""
    bounds = (
        ("min", lambda v, b: v >= b, "at least"),
        ("max", lambda v, b: v <= b, "at most"),
        ("gt", lambda v, b: v > b, "greater than"),
        ("lt", lambda v, b: v < b, "less than"),
    )
    for name, holds, words in bounds:
        if name in metadata and not holds(value, metadata[name]):
            return ctx.report(node, key, f"must be {words} {metadata[name]}, not {value!r}")
    return value


def _build_scalar(node: yaml.Node, tp: type, key: str, ctx: Context) -> Any:
    if not isinstance(node, yaml.ScalarNode) or _is_null(node):
        return ctx.report(node, key, f"must be {type_name(tp)}, not {_node_kind(node)}")
    value = _scalar(node)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        return ctx.report(node, key, f"must be {type_name(tp)}, not {value!r}")
    return _finite(value, node, key, ctx)


def _finite(value: Any, node: yaml.Node, key: str, ctx: Context) -> Any:
    """``value``, with a problem recorded when it is a float YAML read as infinite or NaN
    (``.inf``, ``.nan``, an overflowing ``1e400``): no field takes one. The value is kept (the
    load fails anyway) so that the sections' cross-field ``problems()`` still run and every
    other problem of the file is reported with it."""
    if _is_number(value) and not math.isfinite(value):
        ctx.report(node, key, f"must be a finite number, not {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _node_kind(node: yaml.Node) -> str:
    """What the node holds, for "must be X, not ...": "a mapping", "a list", "a scalar", or
    "empty (null)" for a key with nothing after its colon (``null``, ``~``)."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "empty (null)" if _is_null(node) else "a scalar"


def _is_null(node: yaml.Node) -> bool:
    """Whether ``node`` is YAML null: ``key:`` with nothing after it, ``null`` or ``~``."""
    return isinstance(node, yaml.ScalarNode) and _scalar(node) is None


def _is_section(tp: Any) -> bool:
    """Whether ``tp`` is a dataclass, or a union of one with None (an optional section)."""
    options = typing.get_args(tp) if typing.get_origin(tp) in (types.UnionType, typing.Union) \
        else (tp,)
    return any(dataclasses.is_dataclass(option) for option in options)


def _build_choice(node: yaml.Node, choices: tuple, key: str, ctx: Context) -> Any:
    value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
    if value in choices and not isinstance(value, bool):
        return value
    listed = ", ".join(repr(choice) for choice in choices)
    hint = did_you_mean(str(value), [str(c) for c in choices])
    return ctx.report(node, key, f"must be one of {listed}, not {value!r}{hint}")


def _build_enum(node: yaml.Node, tp: type[enum.Enum], key: str, ctx: Context) -> Any:
    values = tuple(member.value for member in tp)
    value = _build_choice(node, values, key, ctx)
    return value if value is INVALID else tp(value)


def _build_tuple(node: yaml.Node, tp: Any, key: str, ctx: Context) -> Any:
    if not isinstance(node, yaml.SequenceNode):
        return ctx.report(node, key, f"must be a list, not {_node_kind(node)}")
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        element_types = [args[0]] * len(node.value)
    elif len(args) != len(node.value):
        return ctx.report(node, key, f"must be a list of {len(args)} items, not {len(node.value)}")
    else:
        element_types = list(args)
    items = [
        build_value(child, element_type, f"{key}[{index}]", {}, ctx)
        for index, (child, element_type) in enumerate(zip(node.value, element_types, strict=True))
    ]
    return INVALID if any(item is INVALID for item in items) else tuple(items)


def _build_dict(node: yaml.Node, tp: Any, key: str, ctx: Context) -> Any:
    if not isinstance(node, yaml.MappingNode):
        return ctx.report(node, key, f"must be a mapping, not {_node_kind(node)}")
    _, value_type = typing.get_args(tp)
    items = mapping_items(node, key, ctx)
    built = {
        name: (ctx.report(value_node, _join(key, name), _empty_section(name, value_type))
               if _is_null(value_node) and _is_section(value_type)
               else build_value(value_node, value_type, _join(key, name), {}, ctx))
        for name, (_, value_node) in items.items()
    }
    return INVALID if any(value is INVALID for value in built.values()) else built


def _build_dataclass(node: yaml.Node, tp: type, key: str, ctx: Context) -> Any:
    if not isinstance(node, yaml.MappingNode):
        return ctx.report(node, key, f"must be a mapping, not {_node_kind(node)}")
    fields = {field.name: field for field in dataclasses.fields(tp) if field.init}
    hints = typing.get_type_hints(tp)
    items = mapping_items(node, key, ctx)
    for name, (key_node, _) in items.items():
        if name not in fields:
            valid = ", ".join(fields)
            hint = did_you_mean(name, fields)
            ctx.report(key_node, _join(key, name), f"unknown key{hint} (valid keys: {valid})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in items:
            value_node = items[name][1]
            if _is_null(value_node) and _is_section(hints[name]):
                # None of an optional section means "absent": a null there is an unfinished
                # entry (`linear:` meant to select the unit), never silently "not given".
                values[name] = ctx.report(value_node, _join(key, name),
                                          _empty_section(name, hints[name]))
                continue
            values[name] = build_value(value_node, hints[name], _join(key, name), field.metadata, ctx)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            values[name] = ctx.report(node, _join(key, name), "missing required key")
    if any(value is INVALID for value in values.values()):
        return INVALID
    try:
        built = tp(**values)
    except (ValueError, TypeError) as error:
        return ctx.report(node, key, str(error))
    return _cross_check(built, node, key, ctx)


def _empty_section(name: str, tp: Any) -> str:
    """The message for a section (a nested mapping of type ``tp``) left empty; it shows
    ``name: {}`` when every field of the section has a default."""
    section = next(t for t in (tp, *typing.get_args(tp)) if dataclasses.is_dataclass(t))
    if any(f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
           for f in dataclasses.fields(section)):
        return "must be a mapping, not empty (null)"
    return (f"must be a mapping, not empty (null): write `{name}: {{}}` for the defaults, or "
            f"leave the key out")


def _cross_check(built: Any, node: yaml.Node, key: str, ctx: Context) -> Any:
    check = getattr(built, "problems", None)
    if not callable(check):
        return built
    found = list(check())
    for relative_key, message in found:
        ctx.report(_find_node(node, relative_key), _join(key, relative_key), message)
    return INVALID if found else built


def tree_problems(obj: Any, key: str = "") -> list[tuple[str, str]]:
    """Bounds and ``problems()`` of an already built tree (e.g. after sweep overrides).

    Returns (dotted key, message) pairs; types are not re-checked.
    """
    found: list[tuple[str, str]] = []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            value, child = getattr(obj, field.name), _join(key, field.name)
            ctx = Context("", [])
            if isinstance(value, int | float) and not isinstance(value, bool):
                check_bounds(value, field.metadata, None, child, ctx)
            found += [(problem.key, problem.message) for problem in ctx.problems]
            found += tree_problems(value, child)
        check = getattr(obj, "problems", None)
        found += [(_join(key, rel), message) for rel, message in (check() if callable(check) else [])]
    elif isinstance(obj, dict):
        for name, value in obj.items():
            found += tree_problems(value, _join(key, name))
    elif isinstance(obj, tuple):
        for index, value in enumerate(obj):
            found += tree_problems(value, f"{key}[{index}]")
    return found


def _find_node(node: yaml.Node, dotted: str) -> yaml.Node:
    """The node at a dotted key below ``node`` (the deepest one found)."""
    for part in filter(None, dotted.split(".")):
        name, _, index = part.partition("[")
        if not isinstance(node, yaml.MappingNode):
            break
        match = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == name]
        if not match:
            break
        node = match[0]
        if index and isinstance(node, yaml.SequenceNode):
            position = int(index.rstrip("]"))
            if position < len(node.value):
                node = node.value[position]
    return node


def _build_scalar_union(node: yaml.Node, options: tuple, key: str, ctx: Context) -> Any:
    """A value of the first scalar type in ``options`` that the node holds exactly."""
    if not all(option in (int, float, str, bool) for option in options):
        raise TypeError(f"specload supports unions of scalar types only, not {options!r} ({key})")
    value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
    for option in options:
        if isinstance(value, option) and not (option is int and isinstance(value, bool)):
            return _finite(value, node, key, ctx)
        if option is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    names = " or ".join(type_name(option) for option in options)
    shown = repr(value) if isinstance(node, yaml.ScalarNode) else _node_kind(node)
    return ctx.report(node, key, f"must be {names}, not {shown}")


def build_value(node: yaml.Node, tp: Any, key: str, metadata: typing.Mapping, ctx: Context) -> Any:
    """Validate one node against a type hint; a problem is recorded and INVALID returned."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if isinstance(node, yaml.ScalarNode) and _scalar(node) is None:
            return None
        if len(options) > 1:
            return _build_scalar_union(node, tuple(options), key, ctx)
        tp = options[0]
        origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(node, tp, key, ctx)
    if origin is Literal:
        return _build_choice(node, typing.get_args(tp), key, ctx)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _build_enum(node, tp, key, ctx)
    if origin is tuple:
        return _build_tuple(node, tp, key, ctx)
    if origin is dict:
        return _build_dict(node, tp, key, ctx)
    if tp in (int, float, str, bool):
        value = _build_scalar(node, tp, key, ctx)
        if value is INVALID or (_is_number(value) and not math.isfinite(value)):
            return value  # a non-finite number is reported once, not against each bound too
        return check_bounds(value, metadata, node, key, ctx)
    raise TypeError(f"specload does not support the field type {tp!r} (at {key})")


def build(node: yaml.Node, root_type: type[T], source: str) -> T:
    """Build ``root_type`` from a node tree, or raise SpecError with every problem."""
    ctx = Context(source, [])
    value = build_value(node, root_type, "", {}, ctx)
    if ctx.problems or value is INVALID:
        # a problem found by the loader and again by a section's problems() is listed once
        unique = dict.fromkeys(ctx.problems)
        raise SpecError(sorted(unique, key=lambda p: (p.line, p.col)))
    return value


def load_spec_text(text: str, root_type: type[T], source: str = "<string>",
                   kind: str | None = None) -> T:
    """Like :func:`load_spec`, from a string (``source`` names it in messages)."""
    node = parse_yaml(text, source)
    found, kind_node = read_header(node, source)
    if kind is not None and found != kind:
        line, col = _position(kind_node)
        raise SpecError([Problem(source, line, col, "kind",
                                 f"must be {kind!r} for this command, not {found!r}")])
    return build(_without_header(node), root_type, source)


def load_spec(path: Path, root_type: type[T], kind: str | None = None) -> T:
    """Load a design file into ``root_type`` (a frozen dataclass); raise SpecError.

    With ``kind``, the file's ``kind:`` must be that name.
    """
    return load_spec_text(read_text(path), root_type, str(path), kind)


def located_error(path: Path, found: Iterable[tuple[str, str]]) -> SpecError:
    """A SpecError for (dotted key, message) pairs found on an already loaded design (rules a
    kind checks beyond its types' ``problems()``), each at its key's position in the file."""
    source = str(path)
    root = _without_header(parse_yaml(read_text(path), source))
    ctx = Context(source, [])
    for key, message in found:
        ctx.report(_find_node(root, key), key, message)
    return SpecError(sorted(ctx.problems, key=lambda p: (p.line, p.col)))


def read_kind(path: Path) -> tuple[str, Problem]:
    """The design file's ``kind`` and the position of its value (for an unknown-kind message)."""
    source = str(path)
    node = parse_yaml(read_text(path), source)
    kind, kind_node = read_header(node, source)
    line, col = _position(kind_node)
    return kind, Problem(source, line, col, "kind", "")
