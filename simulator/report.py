"""A one-page report of a results Dataset: figures, ``report.md`` and a self-contained ``report.html``.

:func:`write_report` writes, into one folder, every figure that the Dataset
can give (PNG and SVG, see :mod:`simulator.plots`), a Markdown report with the
key numbers, the scenario's assumptions (every key with its value and its
source comment) and the run's provenance, and the same report as one HTML
file with the figures embedded as base64 PNG and no network reference, so it
can be mailed or archived as is.

Both documents are rendered from one list of blocks, so the numbers in the
Markdown and in the HTML are the same strings.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.accessor import format_amount
from simulator.errors import UserError

# simulator.plots (matplotlib, ~0.5 s to import) is imported where figures are drawn, so that
# the command line can catch ReportError without paying for matplotlib on every command.

__all__ = ["Assumption", "ReportError", "result_kind", "scenario_assumptions", "write_report"]

#: Variables without which a run report has no key numbers.
RUN_REQUIRED = ("probability", "probability_ci", "champion_share", "champion_share_ci", "valuation_start",
                "fundamental_value", "fundamental_value_ci", "narrative_premium", "narrative_premium_share")

#: Event effects that an event with ``outcomes`` does not use (its branches carry them).
_DIRECT_EFFECTS = ("cash", "demand", "growth", "import_cut", "narrative", "opex")

#: Attributes shown first in the provenance table, in this order, with their labels.
_PROVENANCE = (
    ("scenario_name", "scenario"),
    ("scenario_source", "scenario file"),
    ("scenario_hash", "scenario hash (SHA-256 of every key)"),
    ("overrides", "overrides (--set)"),
    ("seed_entropy", "seed entropy"),
    ("seed_spawn_key", "seed spawn key"),
    ("paths", "paths"),
    ("engine", "engine"),
    ("block_size", "paths per random-stream block"),
    ("random_streams", "random streams"),
    ("kept_paths", "kept paths"),
    ("simulator_version", "simulator version"),
    ("created", "created (UTC)"),
    ("horizon_months", "months simulated"),
    ("dt_years", "time step (years)"),
    ("confidence_level", "confidence level"),
    ("interval_method", "intervals"),
    ("quantile_method", "quantiles"),
)
_NOT_PROVENANCE = {"scenario_text", "scenario_json", "scenario_description", "title", "Conventions", "currency"}



class ReportError(UserError):
    """A Dataset cannot give the figure or report asked for; the message is one line."""


# --------------------------------------------------------------------------- document blocks


@dataclass
class _Table:
    headers: list[str]
    rows: list[list[str]]
    align: str = ""  # one of "l"/"r" per column; default: first left, rest right


@dataclass
class _Figure:
    stem: str
    title: str
    caption: str
    png: bytes = b""


@dataclass
class _Doc:
    title: str
    blocks: list = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, headers, rows, align: str = "") -> None:
        self.blocks.append(("table", _Table(list(headers), [list(r) for r in rows], align)))

    def figure(self, fig: _Figure) -> None:
        self.blocks.append(("figure", fig))


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _render_md(doc: _Doc) -> str:
    out = [f"# {doc.title}", ""]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            out += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "table":
            t: _Table = block[1]
            align = t.align or "l" + "r" * (len(t.headers) - 1)
            out.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
            out.append("|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
            out.append("")
        elif kind == "figure":
            f: _Figure = block[1]
            out += [f"![{f.title}]({f.stem}.png)", "", f"*{f.title}.* {f.caption} ([SVG]({f.stem}.svg))", ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1000px;
       margin: 2em auto; padding: 0 1em; color: #1a1a1a; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .15em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; vertical-align: top; }
th { background: #f0f0f0; }
td.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #333; margin-top: .3em; }
"""


def _render_html(doc: _Doc) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{esc(doc.title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             f"<h1>{esc(doc.title)}</h1>"]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            level = min(6, block[1])
            parts.append(f"<h{level}>{esc(block[2])}</h{level}>")
        elif kind == "p":
            # The Markdown paragraphs use only `code` and **bold**; render those two.
            text = esc(block[1])
            text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
            text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
            parts.append(f"<p>{text}</p>")
        elif kind == "table":
            t: _Table = block[1]
            align = t.align or "l" + "r" * (len(t.headers) - 1)
            parts.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in t.headers)
                         + "</tr></thead><tbody>")
            for row in t.rows:
                parts.append("<tr>" + "".join(f'<td class="{a}">{esc(str(c))}</td>'
                                              for a, c in zip(align, row, strict=False)) + "</tr>")
            parts.append("</tbody></table>")
        elif kind == "figure":
            f: _Figure = block[1]
            data = base64.b64encode(f.png).decode("ascii")
            parts.append(f'<figure id="{esc(f.stem)}"><img src="data:image/png;base64,{data}" '
                         f'alt="{esc(f.title)}"><figcaption><strong>{esc(f.title)}.</strong> '
                         f"{esc(f.caption)}</figcaption></figure>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- formatting


def _pct(p: float) -> str:
    """A probability in percent: one decimal, two below 1% (rare outcomes keep a digit)."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{100 * p:.2f}%" if 0 < abs(p) < 0.01 else f"{100 * p:.1f}%"


def _pct_ci(p: float, lo: float, hi: float) -> str:
    return f"{_pct(p)} [{_pct(lo)}, {_pct(hi)}]"


def _amount(x: float, currency: str = "") -> str:
    return format_amount(float(x), currency)


def _fmt_value(v) -> str:
    """A parsed TOML value written back as TOML (for values not shown as written in the file)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_fmt_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_fmt_value(x)}" for k, x in v.items()) + " }"
    return str(v)


def _shorten(text: str, width: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


# --------------------------------------------------------------------------- scenario assumptions


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
            rows.append((parts, _fmt_value(value), comment, value))

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
            shown = _split_comment(first_value)[0].strip() if len(chunk) == 1 else _fmt_value(value)
            if isinstance(value, str) and len(chunk) > 1:
                shown = _fmt_value(_shorten(value, 80))
            rows.append((parts, shown, comment, value))

    result = [Assumption(".".join(str(p) for p in parts), shown, comment)
              for parts, shown, comment, _value in rows]
    if not scenario_json:
        return result
    effective = _flatten_json(json.loads(scenario_json))
    file_paths = {a.path for a in result}
    for assumption, (_parts, _shown, _comment, parsed) in zip(result, rows, strict=True):
        if assumption.path in effective and parsed is not None:
            actual = effective[assumption.path]
            if not _same(parsed, actual):
                assumption.comment = (f"set on the command line (file: {assumption.value}); "
                                      + assumption.comment).rstrip("; ")
                assumption.value = _fmt_value(actual)
                assumption.origin = "override"
    defaults = []
    for path in sorted(effective):
        # Covered by the file when the file sets the key or a shorthand for it (growth = 0.1
        # sets growth.mean and growth.sd).
        pieces = path.split(".")
        if any(".".join(pieces[:k]) in file_paths for k in range(1, len(pieces) + 1)):
            continue
        defaults.append(Assumption(path, _fmt_value(effective[path]), "default", origin="default"))
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


def _flatten_json(obj, prefix: str = "", out: dict | None = None) -> dict:
    """Dotted paths of the effective scenario, with array elements named by their ``name``."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        branched = isinstance(obj.get("outcomes"), list) and bool(obj.get("outcomes"))
        for k, v in obj.items():
            if branched and k in _DIRECT_EFFECTS:
                continue  # an event with outcomes carries its effects in its branches
            _flatten_json(v, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        for n, item in enumerate(obj):
            _flatten_json(item, f"{prefix}.{item.get('name', n)}", out)
    elif isinstance(obj, list) and not obj:
        pass  # an empty list of events or outcomes: nothing to show
    else:
        out[prefix] = obj
    return out


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class _FigureSpec:
    stem: str
    draw: Callable[[xr.Dataset], object]
    title: str
    caption: Callable[[xr.Dataset], str]
    needs: tuple[str, ...]


def _fan_caption(ds: xr.Dataset) -> str:
    return ("Market valuation by month: median line, 25-75% and 5-95% bands of the paths "
            "(streamed-histogram quantiles, log scale). Dashed: the stated valuation at start V0; dotted: "
            "the collapse threshold; dash-dot with a diamond: the Schwartz-Moon fundamental value at start "
            "with its 95% interval. Bands that reach the bottom of the axis contain failed paths (valued 0).")


def _distribution_caption(ds: xr.Dataset) -> str:
    from simulator import plots

    if plots.distribution_mode(ds) == "histogram":
        return (f"Log-x histogram of the valuation at each horizon over the {ds.sizes['path']:,} kept paths "
                "(not all paths; bar heights are shares of kept paths, scaled within each panel). Paths at 0 "
                "(failed) cannot be drawn on a log axis; their share is written under the horizon. Dashed: V0; "
                "dotted: the collapse threshold.")
    return ("Distribution of the valuation at each horizon, drawn from the Dataset's quantiles because no "
            "raw paths were kept (run with --keep-paths for a histogram): line 5-95%, ticks at 10% and 90%, "
            "box 25-75%, thick bar at the median, log x axis. An arrow at the left edge means that quantile "
            "is 0 (failed paths). Dashed: V0; dotted: the collapse threshold.")


def _run_figures() -> tuple[_FigureSpec, ...]:
    """The figures of a run report, in report order."""
    from simulator import plots

    return (
        _FigureSpec("valuation_fan", plots.valuation_fan, "Valuation fan chart", _fan_caption,
                    ("valuation_quantile", "valuation_start", "fundamental_value", "fundamental_value_ci")),
        _FigureSpec("outcome_probabilities", plots.outcome_probabilities, "Outcome probabilities by horizon",
                    lambda ds: ("Probability of each outcome at each horizon with its 95% Wilson interval. Champion: "
                                "alive, valuation at least the champion threshold and price-to-sales at most the "
                                "cap; collapse: failed or below the collapse threshold; contested: neither."),
                    ("probability", "probability_ci")),
        _FigureSpec("valuation_distribution", plots.valuation_distribution, "Valuation at each horizon",
                    _distribution_caption, ("valuation_start",)),
        _FigureSpec("survival", plots.survival_curve, "Survival",
                    lambda ds: ("Share of paths in which each company has not failed (cash exhausted without "
                                "funding or backstop), by month, with its 95% Wilson band."),
                    ("survival", "survival_ci")),
        _FigureSpec("revenue_capacity", plots.revenue_capacity, "Revenue, compute capacity and gross margin",
                    lambda ds: ("Served revenue (annualised) against the revenue capacity of the installed cards "
                                "(median and bands, log scale; capacity is left out when chips are off), and the "
                                "gross margin fan. Revenue is capped by capacity; demand above it is lost."),
                    ("revenue_quantile", "capacity_quantile", "gross_margin_quantile")),
        _FigureSpec("valuation_decomposition", plots.valuation_decomposition,
                    "Valuation at start: fundamental value vs narrative premium",
                    lambda ds: ("The stated valuation V0 split into the Schwartz-Moon fundamental value (with its "
                                "95% interval) and the narrative premium V0 minus fundamental value; right, the same "
                                "amounts on a log scale."),
                    ("valuation_start", "fundamental_value", "fundamental_value_ci", "narrative_premium")),
        _FigureSpec("any_champion", plots.any_champion, "P(at least one champion)",
                    lambda ds: ("Probability that at least one of the companies is a champion at each horizon "
                                "(the 'insurance' view of backing several companies), with each company's own "
                                "P(champion); 95% Wilson intervals. Points are offset slightly sideways so that "
                                "intervals do not hide each other."),
                    ("any_champion", "any_champion_ci")),
    )


def _save_figure(fig, out_dir: Path, stem: str) -> bytes:
    """Write ``stem.png`` and ``stem.svg``; return the PNG bytes (for embedding)."""
    png = out_dir / f"{stem}.png"
    import matplotlib

    from simulator import plots

    # No timestamps or random ids in the files: the same Dataset gives the same bytes.
    fig.savefig(png, dpi=plots.DPI, metadata={"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": stem}):
        fig.savefig(out_dir / f"{stem}.svg", metadata={"Date": None}, format="svg")
    return png.read_bytes()


# --------------------------------------------------------------------------- report kinds


def _from_batch_summary(ds: xr.Dataset) -> xr.Dataset:
    """A batch ``summary.nc`` (one ``row`` per scenario and company) as scenario x company arrays."""
    if "row" not in ds.dims or "scenario" not in ds.coords or "company" not in ds.coords:
        return ds
    extra = [k for k in ds.coords if k not in ("row", "scenario", "company") and "row" in ds[k].dims]
    grid = ds.drop_vars(extra).set_index(row=["scenario", "company"]).unstack("row")
    grid.attrs = {**ds.attrs, "currency": str(ds["currency"].values[0]) if "currency" in ds.coords else ""}
    return grid


#: What each result kind is called in a report's title and messages.
KIND_LABELS = {
    "run": "run",
    "sweep": "sweep",
    "tornado": "one-at-a-time sensitivity",
    "morris": "Morris screening",
    "sobol": "Sobol sensitivity",
    "given-data": "given-data sensitivity",
    "attribution": "attribution of outcomes to uncertain inputs",
    "batch": "batch of scenarios",
}

#: Variables the report of each study kind needs (sweeps and given-data results: see _required).
STUDY_REQUIRED = {
    "tornado": ("low", "high", "base"),
    "sobol": ("S1", "ST", "S1_conf", "ST_conf"),
    "morris": ("mu_star", "mu_star_conf", "sigma"),
    "attribution": ("median_shift", "median_shift_ci", "subset_share"),
    "batch": ("probability", "probability_ci"),
}

#: Given-data indices and the variables drawn with them (``simulator.sensitivity`` names).
_GIVEN_DATA = {"rbd_fast_S1": ("rbd_fast_S1_conf",), "delta": ("delta_conf",),
               "pawn_median": ("pawn_minimum", "pawn_maximum")}
_GIVEN_METHODS = {"rbd-fast", "delta", "pawn"}


def result_kind(ds: xr.Dataset) -> str:
    """What a Dataset holds: one of the keys of :data:`KIND_LABELS` (``run``, ``sweep``, ``morris``, ...).

    A saved study says what it is in its attributes (``method`` of a
    sensitivity or attribution result, ``study = "sweep"``); otherwise its
    variables and dimensions decide (see the shapes in :mod:`simulator.plots`).
    Raises :class:`ReportError` for a Dataset that is none of these.
    """
    ds = _from_batch_summary(ds)
    names = set(ds.variables)
    method = str(ds.attrs.get("method", ""))
    # Attributes first: a result missing a variable is still recognised, so that the
    # message names the variable instead of saying "not a results Dataset".
    by_method = {"oat": "tornado", "morris": "morris", "sobol": "sobol"}
    if method in by_method:
        return by_method[method]
    if ds.attrs.get("given_data") or (method and set(method.split(",")) <= _GIVEN_METHODS):
        return "given-data"
    if method.startswith("median shift"):
        return "attribution"
    if ds.attrs.get("study") == "sweep":
        return "sweep"
    if {"S1", "ST"} <= names:
        return "sobol"
    if {"low", "high"} <= names:
        return "tornado"
    if "mu_star" in names:
        return "morris"
    if names & set(_GIVEN_DATA):
        return "given-data"
    if "median_shift" in names:
        return "attribution"
    if "probability" in names:
        dims = ds["probability"].dims
        if "scenario" in dims:
            return "batch"
        if dims == ("company", "horizon", "outcome"):
            return "run"
        if {"company", "horizon", "outcome"} <= set(dims):
            return "sweep"
    raise ReportError("not a results Dataset: needs variable probability (a run, sweep or batch), "
                      "low/high (tornado), mu_star (Morris), S1/ST (Sobol), rbd_fast_S1/delta/pawn_median "
                      "(given data) or median_shift (attribution)")


def _required(ds: xr.Dataset, kind: str) -> tuple[str, ...]:
    """The variables the report of ``kind`` needs (some depend on what the Dataset has)."""
    if kind == "run":
        return RUN_REQUIRED
    if kind == "sweep":
        if "probability" not in ds.variables:
            return ("probability",)
        swept = [d for d in ds["probability"].dims if d not in ("company", "horizon", "outcome")]
        # One swept key is drawn with its interval bands; a heatmap needs the probabilities only.
        return ("probability", "probability_ci") if len(swept) == 1 else ("probability",)
    if kind == "given-data":
        present = [v for v in _GIVEN_DATA if v in ds.variables]
        if not present:
            return ("rbd_fast_S1 (or delta or pawn_median)",)
        return tuple(v for name in present for v in (name, *_GIVEN_DATA[name]))
    return STUDY_REQUIRED[kind]


def write_report(ds: xr.Dataset, out_dir: str | Path) -> Path:
    """Write the figures, ``report.md`` and ``report.html`` of a results Dataset into ``out_dir``.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result (``simulator.run`` / ``open_results``), or a study result
        of a shape documented in :mod:`simulator.plots`: a sweep of one key
        (line charts) or of two or more (heatmaps of the first two, further
        keys held at their middle value; the table lists every grid point),
        a one-at-a-time, Morris, Sobol or given-data sensitivity result (one
        figure and ranked table per output), an attribution result
        (``simulator attribute --out``) or a batch summary.
    out_dir : str or Path
        Folder to write into (created if needed; files of the same names are
        replaced).

    Returns
    -------
    Path
        The path of ``report.html``.

    Raises
    ------
    ReportError
        The Dataset is no result, or lacks variables its report needs (one-line
        message naming them).
    """
    ds = _from_batch_summary(ds)
    kind = result_kind(ds)
    missing = [n for n in _required(ds, kind) if n.split(" ")[0] not in ds.variables]
    if missing:
        what = "the report" if kind == "run" else f"the report of a {KIND_LABELS[kind]} result"
        raise ReportError(f"{what} needs variable(s) {', '.join(missing)}, missing from "
                          f"{ds.attrs.get('scenario_name', 'the Dataset')}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = ds.attrs.get("scenario_name", kind)
    doc = _Doc(f"Report: {name}" if kind == "run" else f"Report: {name}, {KIND_LABELS[kind]}")
    if kind == "run":
        _run_report(ds, doc, out)
    else:
        _study_report(ds, kind, doc, out)
    _provenance(ds, doc)
    (out / "report.md").write_text(_render_md(doc), encoding="utf-8")
    path = out / "report.html"
    path.write_text(_render_html(doc), encoding="utf-8")
    return path


def _draw_all(ds: xr.Dataset, specs, out: Path) -> tuple[list[_Figure], list[str]]:
    drawn, skipped = [], []
    for spec in specs:
        missing = [n for n in spec.needs if n not in ds.variables]
        if missing:
            skipped.append(f"{spec.title}: needs {', '.join(missing)}")
            continue
        try:
            fig = spec.draw(ds)
        except ReportError as exc:  # needs that depend on the Dataset (e.g. quantiles or kept paths)
            skipped.append(f"{spec.title}: {exc}")
            continue
        drawn.append(_Figure(spec.stem, spec.title, spec.caption(ds), _save_figure(fig, out, spec.stem)))
    return drawn, skipped


def _run_report(ds: xr.Dataset, doc: _Doc, out: Path) -> None:
    cur = str(ds.attrs.get("currency", ""))
    companies = [str(c) for c in ds["company"].values]
    horizons = [int(h) for h in ds["horizon"].values]
    if ds.attrs.get("scenario_description"):
        doc.p(" ".join(str(ds.attrs["scenario_description"]).split()))
    doc.p(f"{int(ds.attrs.get('paths', 0)):,} paths; amounts in {cur}. Probabilities with 95% Wilson "
          "intervals in brackets.")
    figures, skipped = _draw_all(ds, [s for s in _run_figures() if s.stem != "any_champion" or len(companies) > 1],
                                 out)

    doc.h(2, "Key numbers")
    last = horizons[-1]
    for company in companies:
        sel = ds.sel(company=company)
        champ, contested, collapse = (ds.sim.outcome(company, last, o) for o in ("champion", "contested", "collapse"))
        share = float(sel["champion_share"].sel(horizon=last))
        slo, shi = (float(x) for x in sel["champion_share_ci"].sel(horizon=last).values)
        doc.p(f"**{company}** at {last} months: champion {_pct_ci(*champ)}, contested {_pct_ci(*contested)}, "
              f"collapse {_pct_ci(*collapse)}; champion share {_pct_ci(share, slo, shi)}. Fundamental value "
              f"{_amount(sel['fundamental_value'], cur)} against a valuation of "
              f"{_amount(sel['valuation_start'], cur)}: narrative premium {_amount(sel['narrative_premium'], cur)}, "
              f"{_pct(float(sel['narrative_premium_share']))} of the valuation.")
    if "any_champion" in ds.variables:
        lo, hi = (float(x) for x in ds["any_champion_ci"].sel(horizon=last).values)
        doc.p(f"**At least one champion** at {last} months: "
              f"{_pct_ci(float(ds['any_champion'].sel(horizon=last)), lo, hi)}.")
    doc.h(3, "Outcome probabilities")
    doc.p("Champion share = P(champion) / (P(champion) + P(collapse)): the champion-or-collapse call "
          "among the paths that are decided.")
    for company in companies:
        rows = []
        for h in horizons:
            cells = [str(h)]
            for outcome in ("champion", "contested", "collapse"):
                p, lo, hi = ds.sim.outcome(company, h, outcome)
                cells.append(_pct_ci(p, lo, hi))
            share = float(ds["champion_share"].sel(company=company, horizon=h))
            slo, shi = (float(x) for x in ds["champion_share_ci"].sel(company=company, horizon=h).values)
            cells.append(_pct_ci(share, slo, shi))
            rows.append(cells)
        doc.p(f"**{company}**")
        doc.table(["month", "champion", "contested", "collapse", "champion share"], rows)
    if "any_champion" in ds.variables:
        doc.h(3, "At least one champion")
        rows = []
        for h in horizons:
            lo, hi = (float(x) for x in ds["any_champion_ci"].sel(horizon=h).values)
            rows.append([str(h), _pct_ci(float(ds["any_champion"].sel(horizon=h)), lo, hi)])
        doc.table(["month", "P(at least one champion)"], rows)

    doc.h(3, "Valuation at start against fundamental value")
    doc.p("Fundamental value: the Schwartz-Moon value at start (discounted mean of cash plus exit multiple "
          "times operating profit at the end, 0 for failed paths), 95% interval in brackets. Narrative premium: "
          "V0 minus fundamental value. E0: the effective narrative implied by V0, in log multiple.")
    rows = []
    for company in companies:
        sel = ds.sel(company=company)
        fv = float(sel["fundamental_value"])
        lo, hi = (float(x) for x in sel["fundamental_value_ci"].values)
        row = [company, _amount(sel["valuation_start"], cur)]
        row.append(_amount(sel["revenue_start"], cur) if "revenue_start" in ds else "n/a")
        row.append(f"{float(sel['price_to_sales_start']):,.0f}" if "price_to_sales_start" in ds else "n/a")
        row += [f"{_amount(fv, cur)} [{_amount(lo, cur)}, {_amount(hi, cur)}]",
                _amount(sel["narrative_premium"], cur), _pct(float(sel["narrative_premium_share"]))]
        row.append(f"{float(sel['implied_narrative']):.2f}" if "implied_narrative" in ds else "n/a")
        rows.append(row)
    doc.table(["company", "valuation V0", "revenue R0 (per year)", "P/S", "fundamental value [95% CI]",
               "narrative premium", "premium share of V0", "E0"], rows)

    if "valuation_quantile" in ds.variables or "mean_valuation" in ds.variables:
        doc.h(3, "Valuation at each horizon")
        rows = []
        for company in companies:
            for h in horizons:
                row = [company, str(h)]
                if "valuation_quantile" in ds.variables:
                    q = ds["valuation_quantile"].sel(company=company, month=h)
                    row += [_amount(q.sel(quantile=lv, method="nearest"), cur) for lv in (0.05, 0.5, 0.95)]
                else:
                    row += ["n/a"] * 3
                if "mean_valuation" in ds.variables:
                    m = float(ds["mean_valuation"].sel(company=company, horizon=h))
                    mlo, mhi = (float(x) for x in ds["mean_valuation_ci"].sel(company=company, horizon=h).values)
                    row.append(f"{_amount(m, cur)} [{_amount(mlo, cur)}, {_amount(mhi, cur)}]")
                else:
                    row.append("n/a")
                rows.append(row)
        doc.table(["company", "month", "5%", "median", "95%", "mean [95% CI]"], rows)

    doc.h(2, "Figures")
    for fig in figures:
        doc.figure(fig)
    if skipped:
        doc.p("Not drawn (the Dataset lacks their variables): " + "; ".join(skipped) + ".")

    _assumptions(ds, doc)


def _assumptions(ds: xr.Dataset, doc: _Doc) -> None:
    text = ds.attrs.get("scenario_text")
    doc.h(2, "Assumptions")
    if not text:
        doc.p("The Dataset does not carry its scenario file (attribute scenario_text).")
        return
    try:
        rows = scenario_assumptions(str(text), ds.attrs.get("scenario_json"))
    except (ValueError, tomllib.TOMLDecodeError) as exc:  # a report must not fail on a comment it cannot read
        doc.p(f"The scenario file could not be read back ({exc}).")
        return
    doc.p("Every key of the scenario file with its value as written and its source comment, by the dotted "
          "path that `--set`, sweeps and sensitivity studies use. A table's comment is on the table's own row.")
    file_rows = [r for r in rows if r.origin != "default"]
    run_paths = ds.attrs.get("paths")
    for r in file_rows:
        # --paths changes the run, not the scenario (the hash): say which number this run used.
        if r.path == "scenario.paths" and run_paths is not None:
            try:
                differs = int(str(r.value).replace("_", "")) != int(run_paths)
            except ValueError:
                differs = False
            if differs:
                r.comment = f"{r.comment} (this run: {int(run_paths):,} paths)".strip()
    doc.table(["parameter", "value", "source / comment"],
              [[r.path, r.value, r.comment] for r in file_rows], align="lll")
    defaults = [r for r in rows if r.origin == "default"]
    if defaults:
        doc.h(3, "Defaults (keys not in the file)")
        doc.p("These keys are not in the scenario file and take their documented defaults "
              "(see docs/scenario-reference.md).")
        doc.table(["parameter", "value", "source"], [[r.path, r.value, "default"] for r in defaults], align="lll")


def _provenance(ds: xr.Dataset, doc: _Doc) -> None:
    doc.h(2, "Provenance")
    rows = []
    seen = set()
    for key, label in _PROVENANCE:
        if key in ds.attrs:
            value = ds.attrs[key]
            if key == "paths":
                text = f"{int(value):,}"
            elif isinstance(value, (float, np.floating)):
                text = f"{float(value):.6g}"
            else:
                text = str(value)
            rows.append([label, text])
            seen.add(key)
    for key in sorted(ds.attrs):
        if key not in seen and key not in _NOT_PROVENANCE:
            rows.append([key, _shorten(str(ds.attrs[key]), 200)])
    doc.table(["item", "value"], rows, align="ll")
    doc.p("The same scenario file, seed and number of paths give bit-identical results; the scenario hash "
          "covers every key, defaults and overrides included.")


# --------------------------------------------------------------------------- study reports

#: Rows of the grid table of a sweep report at most (the results file holds every number).
SWEEP_TABLE_ROWS = 400


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(text))


def _outputs(ds: xr.Dataset, var: str) -> list[str | None]:
    """The outputs of a sensitivity result; ``[None]`` for a Dataset without an ``output`` dimension."""
    if "output" in ds[var].dims:
        return [str(o) for o in ds["output"].values]
    return [None]


def _at_output(ds: xr.Dataset, output: str | None) -> xr.Dataset:
    return ds if output is None else ds.sel(output=output)


def _stem(base: str, output: str | None, outputs: list) -> str:
    """File stem of a per-output figure (no suffix when there is one output)."""
    return base if len(outputs) == 1 or output is None else f"{base}_{_slug(output)}"


def _value(x: float, units: str, currency: str = "") -> str:
    """An output value in its units: percent for probabilities, an amount in the currency, else 4 digits."""
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    if units == "1":
        return _pct(x)
    if units and units == currency:
        return _amount(x, currency)
    return f"{x:.4g}"


def _change(x: float, units: str, currency: str = "") -> str:
    """A change of an output: percentage points for probabilities (two decimals below 1 pp)."""
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    if units == "1":
        return f"{100 * x:.2f} pp" if 0 < abs(x) < 0.01 else f"{100 * x:.1f} pp"
    return _value(x, units, currency)


def _index(x: float, conf: float | None = None) -> str:
    """A sensitivity index with three decimals (and the half-width of its interval)."""
    if not math.isfinite(float(x)):
        return "n/a"
    text = f"{float(x):.3f}"
    if conf is not None and math.isfinite(float(conf)):
        text += f" ± {abs(float(conf)):.3f}"
    return text


def _json_attr(ds: xr.Dataset, key: str, default):
    try:
        return json.loads(ds.attrs.get(key, ""))
    except (TypeError, ValueError):
        return default


def _figures_section(doc: _Doc, figures: list[_Figure]) -> None:
    doc.h(2, "Figures")
    for f in figures:
        doc.figure(f)


def _notes(ds: xr.Dataset, doc: _Doc) -> None:
    notes = _json_attr(ds, "notes", [])
    for note in notes if isinstance(notes, list) else []:
        doc.p(f"Note: {str(note).rstrip('.')}.")


def _study_report(ds: xr.Dataset, kind: str, doc: _Doc, out: Path) -> None:
    """Figures and the numbers behind them of a study result (every kind but ``run``)."""
    if ds.attrs.get("scenario_description"):
        doc.p(" ".join(str(ds.attrs["scenario_description"]).split()))
    sections = {"sweep": _sweep_report, "tornado": _tornado_report, "sobol": _sobol_report,
                "morris": _morris_report, "given-data": _given_data_report, "attribution": _attribution_report,
                "batch": _batch_report}
    sections[kind](ds, doc, out)
    if kind != "batch" and ds.attrs.get("scenario_text"):
        _assumptions(ds, doc)


# --------------------------------------------------------------------------- sweeps


def _sweep_report(ds: xr.Dataset, doc: _Doc, out: Path) -> None:
    from simulator import plots

    swept = plots.swept_dims(ds)
    companies = [str(c) for c in ds["company"].values]
    h = int(ds["horizon"].values[-1])
    points = int(np.prod([ds.sizes[d] for d in swept]))
    paths = ds.attrs.get("paths")
    doc.p(f"A sweep of {len(swept)} key{'s' if len(swept) > 1 else ''}: {points:,} grid points"
          + (f" x {int(paths):,} paths" if paths else "") + f". Probabilities at {h} months, 95% Wilson "
          "intervals in brackets.")
    if ds.attrs.get("note"):
        doc.p(f"Intervals: {ds.attrs['note']}.")
    cur = str(ds.attrs.get("currency", ""))
    doc.table(["swept key", "units", "values"],
              [[d, plots.key_units(d, cur) or "n/a", ", ".join(f"{float(v):g}" for v in ds[d].values)]
               for d in swept], align="lll")
    figures = []
    if len(swept) == 1:
        fig = plots.sweep_lines(ds)
        figures.append(_Figure(
            "sweep", f"Outcomes against {swept[0]}",
            f"P(champion), P(contested), P(collapse) and the champion share at {h} months against the swept value, "
            "one line per company (line style and marker differ) with its 95% Wilson interval shaded; dashed "
            "vertical line: the scenario's own value. All grid points share their random numbers, so the "
            "differences between neighbouring points are more precise than the bands suggest.",
            _save_figure(fig, out, "sweep")))
    else:
        where = plots.sweep_slice(ds)
        held = "; ".join(f"{k} = {v:g}" for k, v in where.items())
        if where:
            doc.p(f"A sweep of {len(swept)} keys: the heatmaps show the first two, with the other swept keys held "
                  f"at the middle of their values ({held}); the table lists every grid point. Other slices: "
                  "`simulator.plots.sweep_heatmap(ds, fixed={key: value})`.")
        for company in companies:
            for outcome in ("champion", "collapse"):
                fig = plots.sweep_heatmap(ds, company=company, outcome=outcome)
                stem = f"sweep_{_slug(company)}_{outcome}"
                figures.append(_Figure(
                    stem, f"P({outcome}) of {company} over the sweep",
                    f"Probability of the {outcome} outcome at {h} months for each pair of values of the first two "
                    "swept keys (cell labels in percent; the colour scale ends at the largest value)"
                    + (f", with {held}" if where else "") + ".", _save_figure(fig, out, stem)))
    _figures_section(doc, figures)
    doc.h(2, "Grid points")
    _sweep_table(ds, doc, swept, h)


def _sweep_table(ds: xr.Dataset, doc: _Doc, swept: list[str], h: int) -> None:
    """Every grid point and company: outcome probabilities [95% CI] and the champion share at month ``h``."""
    sub = ds.sel(horizon=h)
    companies = [str(c) for c in ds["company"].values]
    outcomes = ["champion", "contested", "collapse"]
    n_c = len(companies)
    # Arrays in grid order (first key slowest), as itertools.product walks the grid.
    p = sub["probability"].sel(outcome=outcomes).transpose(*swept, "company", "outcome").values.reshape(-1, n_c, 3)
    ci = (sub["probability_ci"].sel(outcome=outcomes).transpose(*swept, "company", "outcome", "bound")
          .values.reshape(-1, n_c, 3, 2) if "probability_ci" in ds.variables else None)
    share = (sub["champion_share"].transpose(*swept, "company").values.reshape(-1, n_c)
             if "champion_share" in ds.variables else None)
    share_ci = (sub["champion_share_ci"].transpose(*swept, "company", "bound").values.reshape(-1, n_c, 2)
                if "champion_share_ci" in ds.variables else None)

    def cell(value, interval) -> str:
        return _pct(value) if interval is None else _pct_ci(value, *interval)

    rows = []
    for i, point in enumerate(itertools.product(*(ds[d].values for d in swept))):
        for c, company in enumerate(companies):
            if np.all(np.isnan(p[i, c])):
                continue  # a company absent from this grid point
            row = [f"{float(v):g}" for v in point] + [company]
            row += [cell(p[i, c, k], None if ci is None else ci[i, c, k]) for k in range(3)]
            if share is not None:
                row.append(cell(share[i, c], None if share_ci is None else share_ci[i, c]))
            rows.append(row)
    if len(rows) > SWEEP_TABLE_ROWS:
        doc.p(f"The first {SWEEP_TABLE_ROWS} of {len(rows):,} rows; the results file holds every grid point.")
        rows = rows[:SWEEP_TABLE_ROWS]
    headers = [*swept, "company", "champion", "contested", "collapse"] + (["champion share"] if share is not None
                                                                          else [])
    doc.table(headers, rows, align="r" * len(swept) + "l" + "r" * (len(headers) - len(swept) - 1))


# --------------------------------------------------------------------------- sensitivity


def _sensitivity_intro(ds: xr.Dataset, doc: _Doc, kind: str) -> None:
    """What was run: evaluations, paths, samples, and the studied ranges."""
    paths, sets = ds.attrs.get("paths"), ds.attrs.get("sets")
    text = f"{KIND_LABELS[kind].capitalize()}"
    if sets is not None and paths is not None:
        text += f": {int(sets):,} evaluations of {int(paths):,} paths each"
        if ds.attrs.get("common_random_numbers"):
            text += " (common random numbers: every evaluation restarts the same random streams)"
    if kind == "morris" and ds.attrs.get("samples") is not None:
        text += f"; {int(ds.attrs['samples'])} trajectories over {int(ds.attrs.get('num_levels', 4))} levels"
    if kind == "sobol" and ds.attrs.get("samples") is not None:
        text += f"; base sample N = {int(ds.attrs['samples'])}"
    doc.p(text + ".")
    ranges = _json_attr(ds, "ranges", [])
    if isinstance(ranges, list) and ranges:
        doc.table(["studied key", "low", "high", "distribution"],
                  [[str(r.get("path", "")), f"{float(r.get('low', math.nan)):.6g}",
                    f"{float(r.get('high', math.nan)):.6g}",
                    _shorten(r["distribution"], 60) if r.get("distribution") else "uniform over the range"]
                   for r in ranges], align="lrrl")


def _tornado_report(ds: xr.Dataset, doc: _Doc, out: Path) -> None:
    from simulator import plots

    cur = str(ds.attrs.get("currency", ""))
    outputs = _outputs(ds, "low")
    _sensitivity_intro(ds, doc, "tornado")
    doc.h(2, "Key numbers")
    doc.p("Each key at the low and at the high end of its range, the others at the scenario's values; "
          "largest swing first.")
    figures = []
    for output in outputs:
        sub = _at_output(ds, output)
        label = output or str(ds.attrs.get("output", "output"))
        units = str(ds["low"].attrs.get("units", "")) or plots.output_units(ds, label)
        low, high = sub["low"].values.astype(float), sub["high"].values.astype(float)
        swing = np.abs(high - low)
        se = sub["swing_se"].values.astype(float) if "swing_se" in sub.variables else np.full(swing.shape, np.nan)
        values = "low_value" in sub.variables and "high_value" in sub.variables
        rows = []
        for j in np.argsort(-np.nan_to_num(swing, nan=-1.0), kind="stable"):
            row = [str(sub["parameter"].values[j])]
            if values:
                row += [f"{float(sub['low_value'].values[j]):.6g}", f"{float(sub['high_value'].values[j]):.6g}"]
            row += [_value(low[j], units, cur), _value(high[j], units, cur), _change(swing[j], units, cur)]
            row.append(_change(2 * se[j], units, cur) if np.isfinite(se[j]) else "n/a")
            rows.append(row)
        base = f"base {_value(float(sub['base']), units, cur)}"
        if "base_ci" in sub.variables:
            lo, hi = (float(x) for x in sub["base_ci"].values)
            base += f" [{_value(lo, units, cur)}, {_value(hi, units, cur)}]"
        doc.p(f"**{label}**: {base}.")
        doc.table(["parameter", *(["low value", "high value"] if values else []), "at low", "at high",
                   "swing", "± 2 SE"], rows, align="l" + "r" * (len(rows[0]) - 1) if rows else "")
        fig = plots.sensitivity_tornado(ds, output=output)
        stem = _stem("tornado", output, outputs)
        figures.append(_Figure(stem, "One-at-a-time sensitivity" + (f" of {output}" if output else ""),
                               "Output with each parameter at the low (dark) and high (light, hatched) end of its "
                               "range; the vertical line is the base scenario. Largest swing on top.",
                               _save_figure(fig, out, stem)))
    _notes(ds, doc)
    _figures_section(doc, figures)


def _sobol_report(ds: xr.Dataset, doc: _Doc, out: Path) -> None:
    from simulator import plots

    outputs = _outputs(ds, "S1")
    _sensitivity_intro(ds, doc, "sobol")
    doc.h(2, "Key numbers")
    doc.p("First-order (S1) and total (ST) Sobol indices with the half-widths of their 95% bootstrap intervals, "
          "largest total index first" + ("; noise: the Monte Carlo noise as a share of the output variance "
                                         "(indices below it are noise)" if "noise_share" in ds.variables else "")
          + ".")
    figures = []
    for output in outputs:
        sub = _at_output(ds, output)
        label = output or str(ds.attrs.get("output", "output"))
        st = sub["ST"].values.astype(float)
        rows = []
        for j in np.argsort(-np.nan_to_num(st, nan=-1.0), kind="stable"):
            row = [str(sub["parameter"].values[j]), _index(sub["S1"].values[j], sub["S1_conf"].values[j]),
                   _index(st[j], sub["ST_conf"].values[j])]
            if "noise_share" in sub.variables:
                row.append(_index(sub["noise_share"].values[j]))
            rows.append(row)
        doc.p(f"**{label}**")
        doc.table(["parameter", "S1 ± 95%", "ST ± 95%"] + (["noise"] if "noise_share" in sub.variables else []),
                  rows)
        fig = plots.sensitivity_sobol(ds, output=output)
        stem = _stem("sobol", output, outputs)
        figures.append(_Figure(stem, "Sobol indices" + (f" of {output}" if output else ""),
                               "First-order (S1, dark) and total (ST, light, hatched) Sobol indices with their "
                               "95% bootstrap intervals, sorted by total index.", _save_figure(fig, out, stem)))
    _notes(ds, doc)
    _figures_section(doc, figures)


def _morris_report(ds: xr.Dataset, doc: _Doc, out: Path) -> None:
    from simulator import plots

    cur = str(ds.attrs.get("currency", ""))
    outputs = _outputs(ds, "mu_star")
    _sensitivity_intro(ds, doc, "morris")
    doc.h(2, "Key numbers")
    doc.p("Elementary effects per whole range of each key (SALib's convention): mu* is the mean absolute effect "
          "(the ranking), with the half-width of its 95% bootstrap interval; mu the mean signed effect; sigma "
          "their standard deviation (large against mu*: non-linear or interacting)"
          + ("; noise sd: the standard deviation of one effect due to Monte Carlo noise"
             if "noise_sd" in ds.variables else "") + ". Probabilities change in percentage points (pp).")
    figures = []
    for output in outputs:
        sub = _at_output(ds, output)
        label = output or str(ds.attrs.get("output", "output"))
        units = plots.output_units(ds, label)
        mu_star = sub["mu_star"].values.astype(float)
        rows = []
        for rank, j in enumerate(np.argsort(-np.nan_to_num(mu_star, nan=-1.0), kind="stable"), start=1):
            conf = abs(float(sub["mu_star_conf"].values[j]))
            row = [str(rank), str(sub["parameter"].values[j]),
                   f"{_change(mu_star[j], units, cur)} ± {_change(conf, units, cur)}"]
            row.append(_change(sub["mu"].values[j], units, cur) if "mu" in sub.variables else "n/a")
            row.append(_change(sub["sigma"].values[j], units, cur))
            if "noise_sd" in sub.variables:
                row.append(_change(sub["noise_sd"].values[j], units, cur))
            rows.append(row)
        doc.p(f"**{label}**")
        doc.table(["rank", "parameter", "mu* ± 95%", "mu", "sigma"]
                  + (["noise sd"] if "noise_sd" in sub.variables else []), rows, align="rl" + "r" * (len(rows[0]) - 2))
        fig = plots.sensitivity_morris(ds, output=output)
        stem = _stem("morris", output, outputs)
        figures.append(_Figure(stem, "Morris screening" + (f" of {output}" if output else ""),
                               "Top: mu* (mean absolute elementary effect per whole range of the key) with its 95% "
                               "bootstrap interval, largest on top. Bottom: each key at (mu*, sigma), labelled "
                               "with its rank; keys above the dashed line sigma = mu* act non-linearly or through "
                               "interactions, keys near the origin hardly matter.", _save_figure(fig, out, stem)))
    _notes(ds, doc)
    _figures_section(doc, figures)


def _given_data_report(ds: xr.Dataset, doc: _Doc, out: Path) -> None:
    from simulator import plots

    present = [v for v in _GIVEN_DATA if v in ds.variables]
    outputs = _outputs(ds, present[0])
    samples = ds.attrs.get("samples")
    doc.p(f"Given-data indices ({ds.attrs.get('method', ', '.join(present))}) from the per-path draws of the "
          "scenario's uncertain inputs" + (f" in {int(samples):,} paths of one run" if samples else "")
          + ": no extra runs. They are shares of the per-path variance of a 0/1 outcome, most of which is the "
          "randomness of events and shocks, so they are small: rank by them, do not add them.")
    doc.h(2, "Key numbers")
    columns = [("rbd_fast_S1", "rbd_fast_S1_conf", "RBD-FAST S1 ± 95%"), ("delta", "delta_conf", "delta ± 95%"),
               ("delta_S1", "delta_S1_conf", "S1 by binning ± 95%")]
    columns = [c for c in columns if c[0] in ds.variables]
    pawn = "pawn_median" in ds.variables
    figures = []
    for output in outputs:
        sub = _at_output(ds, output)
        label = output or str(ds.attrs.get("output", "output"))
        key = sub[present[0]].values.astype(float)
        rows = []
        for rank, j in enumerate(np.argsort(-np.nan_to_num(key, nan=-np.inf), kind="stable"), start=1):
            row = [str(rank), str(sub["parameter"].values[j])]
            row += [_index(sub[v].values[j], sub[c].values[j] if c in sub.variables else None) for v, c, _ in columns]
            if pawn:
                row.append(f"{_index(sub['pawn_median'].values[j])} [{_index(sub['pawn_minimum'].values[j])}, "
                           f"{_index(sub['pawn_maximum'].values[j])}]")
            rows.append(row)
        text = f"**{label}**, ranked by {present[0]}"
        if "explained_share" in sub.variables and math.isfinite(float(sub["explained_share"])):
            text += (f"; the uncertain inputs explain {_pct(float(sub['explained_share']))} of the per-path "
                     "variance (sum of the RBD-FAST indices), the rest is luck")
        doc.p(text + ".")
        doc.table(["rank", "input", *(c[2] for c in columns)] + (["PAWN median [min, max]"] if pawn else []),
                  rows, align="rl" + "r" * (len(rows[0]) - 2))
        fig = plots.sensitivity_given_data(ds, output=output)
        stem = _stem("given_data", output, outputs)
        figures.append(_Figure(stem, "Given-data sensitivity" + (f" of {output}" if output else ""),
                               "One panel per index, inputs in the order of the first; bars with 95% bootstrap "
                               "intervals (PAWN: dashed, the smallest to largest KS distance over the slides, "
                               "not an interval). 0: no influence; small negative values are estimation noise.",
                               _save_figure(fig, out, stem)))
    _notes(ds, doc)
    _figures_section(doc, figures)


def _attribution_report(ds: xr.Dataset, doc: _Doc, out: Path) -> None:
    from simulator import plots

    h = int(ds["horizon"].values[-1])
    paths = ds.attrs.get("paths")
    doc.p("For each outcome, the shift of each uncertain input's median inside the paths with that outcome from "
          "its median over all paths, in standard deviations of the input (@RISK's scenario analysis); |shift| "
          "above 0.5 is notable. 95% intervals from order statistics of the subset median"
          + (f"; {int(paths):,} paths" if paths else "") + f". At {h} months; the results file holds every "
          "horizon.")
    doc.h(2, "Key numbers")
    outcomes = [str(o) for o in ds["outcome"].values]
    figures = []
    for company in [str(c) for c in ds["company"].values]:
        sub = ds.sel(company=company, horizon=h)
        shift = sub["median_shift"].transpose("input", "outcome").values.astype(float)
        ci = sub["median_shift_ci"].transpose("input", "outcome", "bound").values.astype(float)
        score = np.max(np.abs(np.nan_to_num(shift, nan=0.0)), axis=1)
        rows = []
        for j in np.argsort(-score, kind="stable"):
            row = [str(sub["input"].values[j])]
            if "input_median" in sub.variables:
                row.append(f"{float(sub['input_median'].values[j]):.4g}")
            for k in range(len(outcomes)):
                s, (lo, hi) = shift[j, k], ci[j, k]
                row.append(f"{s:+.2f} [{lo:+.2f}, {hi:+.2f}]" if math.isfinite(s) else "n/a (no paths)")
            rows.append(row)
        shares = ", ".join(f"{o} {_pct(float(sub['subset_share'].sel(outcome=o)))}" for o in outcomes)
        doc.p(f"**{company}** at {h} months: {shares} of paths.")
        doc.table(["input", *(["median (all paths)"] if "input_median" in sub.variables else []),
                   *(f"{o} shift [95%]" for o in outcomes)], rows)
        fig = plots.attribution_shifts(ds, company=company, horizon=h)
        stem = f"attribution_{_slug(company)}"
        figures.append(_Figure(stem, f"Inputs that drive the outcomes of {company}",
                               f"Shift of each uncertain input's median inside the paths with each outcome at {h} "
                               "months, in standard deviations of the input, with its 95% interval; dotted lines "
                               "at +-0.5 (notable). Inputs sorted by their largest shift.",
                               _save_figure(fig, out, stem)))
    _figures_section(doc, figures)


def _batch_report(ds: xr.Dataset, doc: _Doc, out: Path) -> None:
    from simulator import plots

    fig = plots.batch_summary(ds)
    figure = _Figure("batch_summary", "Scenarios side by side",
                     "Outcome probabilities at the last horizon for each scenario and company, with "
                     "95% Wilson intervals.", _save_figure(fig, out, "batch_summary"))
    h = int(ds["horizon"].values[-1])
    doc.h(2, "Key numbers")
    rows = []
    for scen in ds["scenario"].values:
        for company in ds["company"].values:
            p = ds["probability"].sel(scenario=scen, company=company, horizon=h)
            if np.all(np.isnan(p.values)):
                continue
            ci = ds["probability_ci"].sel(scenario=scen, company=company, horizon=h)
            rows.append([str(scen), str(company)] + [
                _pct_ci(float(p.sel(outcome=o)), *(float(x) for x in ci.sel(outcome=o).values))
                for o in ("champion", "contested", "collapse")])
    doc.p(f"At {h} months.")
    doc.table(["scenario", "company", "champion", "contested", "collapse"], rows, align="llrrr")
    _figures_section(doc, [figure])
