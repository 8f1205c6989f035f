"""Write parameter values back into scenario TOML text, keeping its comments.

``set_values(text, {"companies.zhipu.growth.long_run": 0.8})`` finds the line of
that key (tables, ``[[companies]]`` and ``[[...events]]`` entries addressed by
their ``name``, inline ``{ mean = ..., sd = ... }`` tables) and replaces only the
value, so the source comments survive.  A key the file does not spell out is
inserted under its table.  The result is validated by parsing it again.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

from simulator.errors import ScenarioError
from simulator.model.scenario_file import parse_scenario

__all__ = ["set_values"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_\-]+)(\s*=\s*)(.*)$")


@dataclass
class _Table:
    header: int  # line index of the header (-1: the implicit root table)
    end: int  # one past its last line
    path: str  # logical dotted prefix, e.g. companies.zhipu.growth


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)


def _split_comment(rest: str) -> tuple[str, str]:
    """Split ``value  # comment`` outside of strings."""
    in_str = None
    for i, ch in enumerate(rest):
        if in_str:
            if ch == in_str:
                in_str = None
        elif ch in "\"'":
            in_str = ch
        elif ch == "#":
            return rest[:i].rstrip(), rest[i:]
    return rest.rstrip(), ""


def _tables(lines: list[str]) -> list[_Table]:
    """Tables of the file with their logical dotted paths (array entries named)."""
    heads = [(i, m) for i, line in enumerate(lines) if (m := _HEADER.match(line))]
    spans = []
    for k, (i, m) in enumerate(heads):
        end = heads[k + 1][0] if k + 1 < len(heads) else len(lines)
        spans.append((i, end, m.group(1) == "[[", m.group(2)))
    tables: list[_Table] = [_Table(-1, heads[0][0] if heads else len(lines), "")]
    current_array: dict[str, str] = {}  # array name -> logical prefix of its current entry
    for i, end, is_array, name in spans:
        logical = _logical(name, current_array)
        if is_array:
            entry = _entry_name(lines[i + 1:end])
            prefix = f"{logical}.{entry}" if entry else f"{logical}.?"
            current_array[name] = prefix
            # Nested arrays under a new entry start afresh.
            for key in list(current_array):
                if key.startswith(name + "."):
                    del current_array[key]
            tables.append(_Table(i, end, prefix))
        else:
            tables.append(_Table(i, end, logical))
    return tables


def _logical(name: str, current_array: dict[str, str]) -> str:
    """Map a header name to its logical path, replacing array names by their current entry."""
    best = ""
    for array in current_array:
        if (name == array or name.startswith(array + ".")) and len(array) > len(best):
            best = array
    if not best:
        return name
    return current_array[best] + name[len(best):]


def _entry_name(lines: list[str]) -> str | None:
    for line in lines:
        m = _KEY.match(line)
        if m and m.group(2) == "name":
            value, _ = _split_comment(m.group(4))
            try:
                return str(tomllib.loads(f"v = {value}")["v"])
            except tomllib.TOMLDecodeError:
                return None
    return None


def _set_one(lines: list[str], dotted: str, value, tag: str | None = None) -> bool:
    tables = sorted(_tables(lines), key=lambda t: -len(t.path))
    for table in tables:
        prefix = f"{table.path}." if table.path else ""
        if not dotted.startswith(prefix):
            continue
        rest = dotted[len(prefix):]
        start = table.header + 1
        # Plain key, or a member of an inline table on the key's line.
        key, _, member = rest.partition(".")
        for i in range(start, table.end):
            m = _KEY.match(lines[i])
            if not m or m.group(2) != key:
                continue
            old, comment = _split_comment(m.group(4))
            if not member:
                if old.startswith("{"):
                    return False
                new_value = _format(value)
            elif old.startswith("{") and "." not in member:
                pattern = re.compile(rf"(\b{re.escape(member)}\s*=\s*)([^,}}]+)")
                if not pattern.search(old):
                    new_value = old.rstrip("} ").rstrip(",") + f", {member} = {_format(value)} }}"
                else:
                    new_value = pattern.sub(lambda mm: mm.group(1) + _format(value) + " ", old, count=1)
                    new_value = re.sub(r"\s+}", " }", re.sub(r"\s+,", ",", new_value))
            else:
                return False
            pad = " " * max(1, len(m.group(4)) - len(old) - len(comment)) if comment else "  "
            if tag:
                comment = (comment + f" [{tag}; was {old}]") if comment else f"# {tag}; was {old}"
            lines[i] = f"{m.group(1)}{key}{m.group(3)}{new_value}{pad}{comment}".rstrip()
            return True
        if "." in rest:  # the table for it is not in the file
            continue
        # Not spelled out: insert after the table's last key line.
        last = table.header
        for i in range(start, table.end):
            if _KEY.match(lines[i]):
                last = i
        lines.insert(last + 1, f"{rest} = {_format(value)}" + (f"  # {tag}" if tag else ""))
        return True
    return False


def set_values(text: str, values: dict[str, object], *, source: str = "<calibrated>",
               note: str | None = None, tag: str | None = None) -> str:
    """Return ``text`` with the dotted keys set to ``values``, comments kept.

    Parameters
    ----------
    text : str
        Scenario TOML.
    values : dict
        Dotted path -> new value.
    source : str
        Name used in error messages.
    note : str, optional
        A comment to put at the top of the file (e.g. how the values were obtained).
    tag : str, optional
        Appended to the comment of every changed line, with the old value.

    Raises
    ------
    ScenarioError
        If a key cannot be placed, or the edited text does not give the values back.
    """
    lines = text.splitlines()
    for dotted, value in values.items():
        if not _set_one(lines, dotted, value, tag):
            raise ScenarioError(f"{source}: {dotted}: could not find where to write this key in the file; "
                                "edit it by hand or use --set")
    if note:
        lines = [f"# {line}" if line else "#" for line in note.splitlines()] + [""] + lines
    new_text = "\n".join(lines) + "\n"
    edited = parse_scenario(new_text, source=source)
    check = parse_scenario(text, source=source, overrides=dict(values))
    if edited.model_dump(mode="json") != check.model_dump(mode="json"):
        raise ScenarioError(f"{source}: editing the file did not give the intended values "
                            f"({', '.join(values)}); edit it by hand or use --set")
    return new_text
