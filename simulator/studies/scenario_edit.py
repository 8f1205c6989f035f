"""Write parameter values back into scenario TOML text, keeping its comments and layout (tomlkit).

``set_values(text, {"companies.zhipu.growth.long_run": 0.8})`` parses the text
with tomlkit, a style-preserving TOML library, finds the key by its dotted path
(``[[companies]]``, ``[[...events]]`` entries and event ``outcomes`` addressed by
their ``name``, wherever they are written: tables, arrays of inline tables,
inline ``{ mean = ..., sd = ... }`` jumps, ``[low, high]`` ranges) and replaces
only its value: every comment, the comment column and the rest of the file stay
as they were.  A key the file does not spell out is added to its table (a
missing table is created).  The result is validated by parsing it again.

May import: every layer below :mod:`simulator.studies`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, Float, InlineTable, Item, Table, Trivia

from simulator.errors import ScenarioError
from simulator.model.parameters import ParameterLayout, build_layout
from simulator.model.scenario_file import parse_scenario
from simulator.model.schema import Scenario, names_a_list

__all__ = ["set_values"]

#: The tag a changed line's comment gets, with the value before the first change.
_TAG = re.compile(r"\s*\[(?P<tag>[^;\]]+); was (?P<old>[^\]]*)\]")
#: The note ``set_values(note=...)`` writes at the top of the file (a later note replaces it).
_NOTE_FIRST_LINE = "# Calibrated by `simulator calibrate`"
#: The comment of a derived amount written out (see :func:`_derived_amounts`).
DERIVED_TAG = "the default derived from the company's figures before this edit, written out"


def number_text(value: float) -> str:
    """The shortest TOML float that reads back as ``value``, in the file's style (``5e9``, ``0.35``)."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if not math.isfinite(value):
        raise ValueError(f"{value}: not a finite number")
    text = repr(value)
    for digits in range(1, 18):
        sci = f"{value:.{digits - 1}e}"
        if float(sci) == value:
            mantissa, exponent = sci.split("e")
            mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
            sci = f"{mantissa}e{int(exponent)}"
            break
    return sci if len(sci) < len(text) else text


def _item(value: Any, like: Item | None = None) -> Item:
    """A tomlkit item for ``value``, taking over the trivia (comment, its column) of the item it replaces."""
    if isinstance(value, float) and not isinstance(value, bool):
        new: Item = Float(value, Trivia(), number_text(value))
    elif isinstance(value, (list, tuple)):
        new = tomlkit.array()
        for v in value:
            new.append(_item(v) if isinstance(v, float) else v)  # an int stays an int (a list of horizons)
    else:
        new = tomlkit.item(value)
    if like is not None and not isinstance(like, (Table, AoT)):
        old = like.trivia
        width = len(like.as_string()) + len(old.comment_ws)
        new.trivia.indent, new.trivia.trail, new.trivia.comment = old.indent, old.trail, old.comment
        # Keep the comment in its column when the value's width changes.
        new.trivia.comment_ws = " " * max(1, width - len(new.as_string())) if old.comment else old.comment_ws
    return new


#: The parts of a number a path may name: a jump's mean and sd, a range's ends.
NUMBER_PARTS = ("mean", "sd", "low", "high")


def _named(items: Any, name: str) -> Any:
    for item in items:
        if isinstance(item, (dict, Table, InlineTable)) and item.get("name") == name:
            return item
    return None


def _container(doc: Any, parts: list[str], dotted: str, source: str) -> Any:
    """The table (or inline table) that holds the key ``parts[-1]``; missing plain tables are created."""
    node = doc
    i = 0
    while i < len(parts) - 1:
        part = parts[i]
        child = node.get(part)
        if names_a_list(parts, i) and isinstance(child, (AoT, Array, list)):
            if i + 1 >= len(parts) - 1:
                raise ScenarioError(f"{source}: {dotted}: name a key inside {'.'.join(parts[:i + 2])}")
            item = _named(child, parts[i + 1])
            if item is None:
                raise ScenarioError(f"{source}: {dotted}: no {part} entry named {parts[i + 1]!r} in the file")
            node, i = item, i + 2
            continue
        if child is None:
            if i == len(parts) - 2 and parts[-1] in NUMBER_PARTS:
                return node  # a jump's or a range's part of a key the file does not write
            if names_a_list(parts, i):
                raise ScenarioError(f"{source}: {dotted}: the file has no {'.'.join(parts[:i + 1])}")
            child = tomlkit.inline_table() if isinstance(node, InlineTable) else tomlkit.table()
            node[part] = child
            child = node[part]
        if not isinstance(child, (Table, InlineTable, dict)):
            return node  # a value: the rest of the path is inside it (a jump or a range)
        node, i = child, i + 1
    return node


def _set_one(doc: Any, dotted: str, value: Any, source: str, tag: str | None,
             current: dict[str, list[float]]) -> None:
    """Set one dotted key in the document; ``current`` holds the file's values by dotted path (defaults for
    the parts of a number the file does not write)."""
    parts = dotted.split(".")
    node = _container(doc, parts, dotted, source)
    # The path may go on inside a value: ``narrative.mean`` of a jump, ``import_cut.low`` of a range.
    consumed = _depth_of(doc, node, parts)
    if isinstance(node, InlineTable) and parts[-1] in ("mean", "sd") and consumed == len(parts) - 1:
        # A part of a jump written { mean, sd } on a line of a table: edited as a part of that number, so the
        # line keeps its comment's column and gets its tag like any changed line (an inline table's members
        # have no comment).
        parent = _container(doc, parts[:-1], dotted, source)
        if not isinstance(parent, InlineTable):
            node, consumed = parent, _depth_of(doc, parent, parts)
    key, rest = parts[consumed], parts[consumed + 1:]
    old = node.item(key) if key in node else None  # the item (a switch read with get is a bare bool)
    if rest:
        # A part of a number: the number becomes the table or range it is part of (a table, such as
        # a jump written { mean, sd }, was walked into by _container).
        member = rest[0]
        number = ".".join(parts[:consumed + 1])
        if member in ("mean", "sd"):
            # The file's jump as read (a number is its mean with sd 0; a jump not written, the defaults).
            parts_ = {"mean": current.get(f"{number}.mean", [0.0])[0], "sd": current.get(f"{number}.sd", [0.0])[0],
                      member: value}
            jump = tomlkit.parse(f"v = {{ mean = {number_text(float(parts_['mean']))}, "
                                 f"sd = {number_text(float(parts_['sd']))} }}")["v"]
            _put(node, key, _retag(_with_trivia(jump, old), node, tag, old), old)
            return
        if member in ("low", "high"):
            ends = list(current.get(number, [float(value)] * 2))  # the file's range as read (a number: both ends)
            ends[0 if member == "low" else 1] = float(value)
            _put(node, key, _retag(_item(ends, old), node, tag, old), old)
            return
        raise ScenarioError(f"{source}: {dotted}: {'.'.join(parts[:consumed + 1])} is a value, not a table")
    if isinstance(old, InlineTable) and "mean" in old and not isinstance(value, dict):
        if not isinstance(node, InlineTable):
            _set_one(doc, f"{dotted}.mean", value, source, tag, current)  # its line edited as its mean's
            return
        old["mean"] = _item(value, old["mean"])  # the bare key of a jump is its mean
        return
    _put(node, key, _retag(_item(value, old), node, tag, old), old)


def _put(node: Any, key: str, item: Item, old: Item | None) -> None:
    node[key] = item
    if isinstance(node, InlineTable) and old is None and node.as_string().endswith("}"):
        # A new member of an inline table: space before the closing brace, as the file writes it.
        node[key].trivia.trail = " "


def _depth_of(doc: Any, node: Any, parts: list[str]) -> int:
    """How many parts of ``parts`` lead to ``node`` (names of list entries counted)."""
    cur = doc
    i = 0
    while cur is not node and i < len(parts):
        part = parts[i]
        child = cur.get(part)
        if names_a_list(parts, i) and isinstance(child, (AoT, Array, list)):
            cur, i = _named(child, parts[i + 1]), i + 2
        else:
            cur, i = child, i + 1
    return i


def _with_trivia(new: Item, old: Item | None) -> Item:
    """``new`` with the comment of ``old``, in the same column."""
    if old is not None:
        width = len(old.as_string()) + len(old.trivia.comment_ws)
        new.trivia.comment = old.trivia.comment
        new.trivia.comment_ws = " " * max(1, width - len(new.as_string())) if old.trivia.comment else ""
    return new


def _retag(new: Item, node: Any, tag: str | None, old: Item | None) -> Item:
    """``new`` with the change tag in its comment (lines of a table only: an inline table has no comments)."""
    if not tag or isinstance(node, InlineTable):
        return new
    if old is None:
        new.trivia.comment, new.trivia.comment_ws = f"# {tag}", "  "
    else:
        new.trivia.comment = _tagged(new.trivia.comment, tag, old)
        new.trivia.comment_ws = new.trivia.comment_ws or "  "
    return new


def _tagged(comment: str, tag: str, old: Item) -> str:
    """``comment`` with ``[tag; was OLD]``: a second change keeps the value before the first, one tag only."""
    first = _TAG.search(comment)
    was = first.group("old") if first else old.as_string().strip()
    comment = _TAG.sub("", comment).rstrip()
    return f"{comment} [{tag}; was {was}]" if comment else f"# {tag}; was {was}"


def _strip_note(text: str) -> tuple[str, str]:
    """(``text`` without a note an earlier ``set_values(note=...)`` put at its top, what separated the two).

    The note is its first line (``# Calibrated by ...``) and the indented lines
    (``#   ...``) after it; comments written by hand below it are kept.
    """
    if not text.startswith(_NOTE_FIRST_LINE):
        return text, "\n\n"
    lines = text.splitlines(keepends=True)
    end = 1
    while end < len(lines) and lines[end].startswith("#   "):
        end += 1
    blank = end < len(lines) and not lines[end].strip()
    while end < len(lines) and not lines[end].strip():
        end += 1
    return "".join(lines[end:]), "\n\n" if blank else "\n"


def set_values(text: str, values: dict[str, object], *, source: str = "<calibrated>",
               note: str | None = None, tag: str | None = None) -> str:
    """Return ``text`` with the dotted keys set to ``values``, comments and layout kept.

    Parameters
    ----------
    text : str
        Scenario TOML.
    values : dict
        Dotted path -> new value.
    source : str
        Name used in error messages.
    note : str, optional
        A comment to put at the top of the file (e.g. how the values were
        obtained); it replaces the note of an earlier call.
    tag : str, optional
        Appended to the comment of every changed line as ``[tag; was OLD]`` (one
        tag per line: a second change keeps the value before the first).

    Raises
    ------
    ScenarioError
        If a key cannot be placed, or the edited text does not give the values back.
    """
    body, gap = _strip_note(text) if note else (text, "")
    try:
        doc = tomlkit.parse(body)
    except tomlkit.exceptions.ParseError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    before = parse_scenario(text, source=source)
    layout = build_layout(before)
    current = {path: [float(layout.theta[s]) for s in slots] for path, slots in layout.paths.items()}
    for dotted, value in values.items():
        if not dotted or any(not p for p in dotted.split(".")):
            raise ScenarioError(f"{source}: {dotted!r}: not a dotted key such as companies.zhipu.cash")
        _set_one(doc, dotted, value, source, tag, current)
    derived = _derived_amounts(before, values)
    for dotted, value in derived.items():
        _set_one(doc, dotted, value, source, DERIVED_TAG if tag else None, current)
    values = {**values, **derived}
    new_text = tomlkit.dumps(doc)
    if note:
        header = [f"# {line}" if line else "#" for line in note.splitlines()]
        new_text = "\n".join(header) + gap + new_text
    _check(layout, new_text, values, source)
    return new_text


def _derived_amounts(scenario: Scenario, values: dict[str, object]) -> dict[str, float]:
    """The derived amounts (schema.DERIVED_AMOUNTS) of every company a value touches, as numbers to write out.

    An amount the file leaves to its default is derived from the company's own figures
    when the file is read; a study that moves one of those figures (``--set``,
    ``calibrate``) keeps the amount it started with, so the written file must say it,
    or reading it back would derive another value.
    """
    touched = {dotted.split(".")[1] for dotted in values if dotted.startswith("companies.") and "." in dotted[10:]}
    if not touched:
        return {}
    out = {}
    for company in scenario.companies:
        if company.name not in touched:
            continue
        for key in company.derived:
            table, name = key.split(".")
            dotted = f"companies.{company.name}.{key}"
            if dotted not in values:
                out[dotted] = float(getattr(getattr(company, table), name))
    return out


def _check(old: ParameterLayout, new_text: str, values: dict[str, object], source: str) -> None:
    """The edited file must give the original parameters (``old``: the layout of the file before) with exactly
    ``values`` changed.

    Compared slot by slot in the parameter vector, so a key is read as the engines
    read it (the bare key of a jump is its mean; of a range, both ends).
    """
    import numpy as np

    after = parse_scenario(new_text, source=source)
    new = build_layout(after)
    expected = old.theta.copy()
    wrong = []
    for dotted, value in values.items():
        if dotted in old.paths:
            expected[list(old.paths[dotted])] = np.asarray(value, dtype=np.float64)
            continue
        node: Any = after
        for part in dotted.split("."):
            node = getattr(node, part, None)
        if node != (tuple(value) if isinstance(value, list) else value):  # the schema reads a list as a tuple
            wrong.append(dotted)
    if new.theta.shape != expected.shape:
        wrong.append("the parameter layout")
    else:
        wrong += [d for d, slots in new.paths.items() if not np.array_equal(new.theta[list(slots)],
                                                                               expected[list(slots)])]
    if wrong:
        raise ScenarioError(f"{source}: editing the file did not give the intended values ({', '.join(wrong[:3])}"
                            f"{'...' if len(wrong) > 3 else ''}); edit it by hand or use --set")
