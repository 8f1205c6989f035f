"""The report's assumption table: every key of the scenario with its value, default or source comment.

May import: every layer below :mod:`simulator.report`, and the modules of :mod:`simulator.report`.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass

from simulator.report.document import fmt_value, shorten
from simulator.report.figures.common import flatten_json

__all__ = ["Assumption", "scenario_assumptions"]




@dataclass
class Assumption:
    """One scenario key: its dotted path, its value, its source comment and where the value comes from.

    ``origin`` is ``"file"`` (as written in the scenario file), ``"override"``
    (set on the command line; ``comment`` says what the file had) or
    ``"default"`` (not in the file: the documented default).
    """

    path: str
    value: str
    comment: str
    origin: str = "file"


class _Element:
    """One ``[[array.of.tables]]`` element; named by its ``name`` key once that is read."""

    def __init__(self, index: int) -> None:
        self.name: str | None = None
        self.index = index

    def __str__(self) -> str:
        return self.name if self.name is not None else str(self.index)


def _split_comment(line: str) -> tuple[str, str]:
    """``(code, comment)`` of a TOML line: the first ``#`` outside a string starts the comment."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i], line[i + 1:].strip()
        i += 1
    return line, ""


def _split_key(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in key.strip().split(".")]


def _parse_value(text: str):
    return tomllib.loads("v = " + text)["v"]


def scenario_assumptions(text: str, scenario_json: str | None = None) -> list[Assumption]:
    """Every key of a scenario file with its value and source comment, by dotted path.

    Parameters
    ----------
    text : str
        The scenario file (``ds.attrs["scenario_text"]``).  Lines ``key = value
        # comment`` under ``[table]`` and ``[[array.of.tables]]`` headers give
        one row each, with the path the simulator uses everywhere
        (``companies.zhipu.growth.kappa``; array elements are named by their
        ``name`` key).  Inline tables are split into one row per member;
        arrays of inline tables (event ``outcomes``) into one row per member
        of each named item, whose comment is the comment lines just above the
        item plus its trailing comment.  A table header's comment gives a row
        for the table itself (empty value).
    scenario_json : str, optional
        The effective scenario (``ds.attrs["scenario_json"]``).  Keys it has
        and the file does not are added as ``origin="default"`` rows; file
        values that differ from it (command-line overrides) are replaced by
        the effective value with ``origin="override"``.

    Returns
    -------
    list of Assumption
        File rows in file order, then the defaults in path order.
    """
    lines = text.splitlines()
    arrays: dict[tuple[str, ...], list[_Element]] = {}
    header: list = []
    current: _Element | None = None
    rows: list[tuple[list, str, str, object]] = []  # (path parts, shown value, comment, parsed value)

    def resolve(raw: tuple[str, ...]) -> list:
        out: list = []
        for k in range(len(raw)):
            out.append(raw[k])
            if raw[: k + 1] in arrays:
                out.append(arrays[raw[: k + 1]][-1])
        return out

    def add_flat(parts: list, value, comment: str) -> None:
        """Rows for a value: nested dicts and named lists of dicts become one row per leaf."""
        if isinstance(value, dict):
            first = True
            for k, v in value.items():
                add_flat([*parts, k], v, comment if first else "(as above)")
                first = False
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for n, item in enumerate(value):
                add_flat([*parts, str(item.get("name", n))], item, comment)
        else:
            rows.append((parts, fmt_value(value), comment, value))

    i = 0
    while i < len(lines):
        line = lines[i]
        code, comment = _split_comment(line)
        code = code.strip()
        i += 1
        if not code:
            continue
        if code.startswith("[["):
            raw = tuple(_split_key(code[2: code.index("]]")]))
            parent = resolve(raw[:-1])
            element = _Element(len(arrays.get(raw, [])))
            arrays.setdefault(raw, []).append(element)
            header = [*parent, raw[-1], element]
            current = element
            if comment:
                rows.append((header, "", comment, None))
            continue
        if code.startswith("["):
            header = resolve(tuple(_split_key(code[1: code.index("]")])))
            current = None
            if comment:
                rows.append((header, "", comment, None))
            continue
        if "=" not in code:
            continue
        key_text, _, first_value = line.partition("=")
        chunk = [first_value]
        value = None
        # A value may span lines (arrays, multi-line strings): add lines until TOML parses it.
        while True:
            try:
                value = _parse_value("\n".join(chunk))
                break
            except tomllib.TOMLDecodeError:
                if i >= len(lines):
                    value = _split_comment("\n".join(chunk))[0].strip()
                    break
                chunk.append(lines[i])
                i += 1
        parts = [*header, *_split_key(key_text)]
        if current is not None and parts[-1] == "name" and len(parts) == len(header) + 1 and isinstance(value, str):
            current.name = value
        if len(chunk) > 1 and isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            # Comments of each item: the comment lines above it plus its own trailing comment.
            pending: list[str] = []
            item_comments: dict[str, str] = {}
            for n_line, raw_line in enumerate(chunk):
                c_code, c_comment = _split_comment(raw_line)
                if n_line == 0:
                    if c_comment:
                        pending.append(c_comment)
                    continue
                if not c_code.strip():
                    if c_comment:
                        pending.append(c_comment)
                    continue
                match = re.search(r"\bname\s*=\s*[\"']([^\"']*)[\"']", c_code)
                if match:
                    item_comments[match.group(1)] = " ".join([*pending, c_comment] if c_comment else pending)
                    pending = []
            for n, item in enumerate(value):
                name = str(item.get("name", n))
                add_flat([*parts, name], item, item_comments.get(name, comment))
        elif isinstance(value, dict) or (isinstance(value, list) and value and
                                         all(isinstance(x, dict) for x in value)):
            add_flat(parts, value, comment)
        else:
            shown = _split_comment(first_value)[0].strip() if len(chunk) == 1 else fmt_value(value)
            if isinstance(value, str) and len(chunk) > 1:
                shown = fmt_value(shorten(value, 80))
            rows.append((parts, shown, comment, value))

    result = [Assumption(".".join(str(p) for p in parts), shown, comment)
              for parts, shown, comment, value_text in rows]
    if not scenario_json:
        return result
    effective = flatten_json(json.loads(scenario_json))
    file_paths = {a.path for a in result}
    for assumption, (_parts, _shown, _comment, parsed) in zip(result, rows, strict=True):
        if assumption.path in effective and parsed is not None:
            actual = effective[assumption.path]
            if not _same(parsed, actual):
                assumption.comment = (f"set on the command line (file: {assumption.value}); "
                                      + assumption.comment).rstrip("; ")
                assumption.value = fmt_value(actual)
                assumption.origin = "override"
    defaults = []
    for path in sorted(effective):
        # Covered by the file when the file sets the key or a shorthand for it (growth = 0.1
        # sets growth.mean and growth.sd).
        pieces = path.split(".")
        if any(".".join(pieces[:k]) in file_paths for k in range(1, len(pieces) + 1)):
            continue
        defaults.append(Assumption(path, fmt_value(effective[path]), "default", origin="default"))
    return result + defaults


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return True  # a shorthand against its expanded form: not an override
    return a == b


