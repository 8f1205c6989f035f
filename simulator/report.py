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


def result_kind(ds: xr.Dataset) -> str:
    """What a Dataset holds: ``run``, ``sweep``, ``tornado``, ``sobol`` or ``batch``.

    Decided by its variables and dimensions (see the shapes in :mod:`simulator.plots`);
    raises :class:`ReportError` for a Dataset that is none of these.
    """
    ds = _from_batch_summary(ds)
    if {"S1", "ST"} <= set(ds.variables):
        return "sobol"
    if {"low", "high"} <= set(ds.variables):
        return "tornado"
    if "probability" in ds.variables:
        dims = ds["probability"].dims
        if "scenario" in dims:
            return "batch"
        if dims == ("company", "horizon", "outcome"):
            return "run"
        if {"company", "horizon", "outcome"} <= set(dims):
            return "sweep"
    raise ReportError("not a results Dataset: needs variable probability (a run, sweep or batch) "
                      "or low/high (tornado) or S1/ST (Sobol)")


def write_report(ds: xr.Dataset, out_dir: str | Path) -> Path:
    """Write the figures, ``report.md`` and ``report.html`` of a results Dataset into ``out_dir``.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result (``simulator.run`` / ``open_results``), or a study result
        of a shape documented in :mod:`simulator.plots` (sweep, tornado,
        Sobol, batch summary).
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
        The Dataset lacks variables the report needs (one-line message naming them).
    """
    ds = _from_batch_summary(ds)
    kind = result_kind(ds)
    if kind == "run":
        missing = [n for n in RUN_REQUIRED if n not in ds.variables]
        if missing:
            raise ReportError(f"the report needs variable(s) {', '.join(missing)}, missing from "
                              f"{ds.attrs.get('scenario_name', 'the Dataset')}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = _Doc(f"Report: {ds.attrs.get('scenario_name', kind)}")
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


def _study_report(ds: xr.Dataset, kind: str, doc: _Doc, out: Path) -> None:
    """Figures and the plotted numbers of a sweep, tornado, Sobol or batch result."""
    from simulator import plots

    if ds.attrs.get("scenario_description"):
        doc.p(" ".join(str(ds.attrs["scenario_description"]).split()))
    figures: list[_Figure] = []
    if kind == "tornado":
        fig = plots.sensitivity_tornado(ds)
        figures.append(_Figure("tornado", "One-at-a-time sensitivity",
                               "Output with each parameter at the low (dark) and high (light, hatched) end of "
                               "its range; the vertical line is the base scenario. Largest swing on top.",
                               _save_figure(fig, out, "tornado")))
        sub = ds.isel(output=0) if "output" in ds["low"].dims else ds
        doc.h(2, "Key numbers")
        rows = [[str(p), f"{float(lo):.4g}", f"{float(hi):.4g}", f"{abs(float(hi) - float(lo)):.4g}"]
                for p, lo, hi in zip(sub["parameter"].values, sub["low"].values, sub["high"].values, strict=True)]
        rows.sort(key=lambda r: -float(r[3]))
        doc.p(f"Base: {float(sub['base']):.4g}.")
        doc.table(["parameter", "low", "high", "swing"], rows)
    elif kind == "sobol":
        fig = plots.sensitivity_sobol(ds)
        figures.append(_Figure("sobol", "Sobol indices",
                               "First-order (S1, dark) and total (ST, light, hatched) Sobol indices with their "
                               "95% bootstrap intervals, sorted by total index.", _save_figure(fig, out, "sobol")))
        sub = ds.isel(output=0) if "output" in ds["S1"].dims else ds
        doc.h(2, "Key numbers")
        rows = [[str(p), f"{float(a):.3f} ± {float(b):.3f}", f"{float(c):.3f} ± {float(d):.3f}"]
                for p, a, b, c, d in zip(sub["parameter"].values, sub["S1"].values, sub["S1_conf"].values,
                                         sub["ST"].values, sub["ST_conf"].values, strict=True)]
        rows.sort(key=lambda r: -float(r[2].split(" ")[0]))
        doc.table(["parameter", "S1 ± 95%", "ST ± 95%"], rows)
    elif kind == "sweep":
        for company in [str(c) for c in ds["company"].values]:
            fig = plots.sweep_heatmap(ds, company=company)
            stem = f"sweep_{re.sub(r'[^A-Za-z0-9_-]', '_', company)}"
            figures.append(_Figure(stem, f"P(champion) of {company} over the sweep",
                                   "Probability of the champion outcome at the last horizon for each pair of "
                                   "swept values (cell labels in percent).", _save_figure(fig, out, stem)))
    elif kind == "batch":
        fig = plots.batch_summary(ds)
        figures.append(_Figure("batch_summary", "Scenarios side by side",
                               "Outcome probabilities at the last horizon for each scenario and company, with "
                               "95% Wilson intervals.", _save_figure(fig, out, "batch_summary")))
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
    doc.h(2, "Figures")
    for f in figures:
        doc.figure(f)
    if kind != "batch" and ds.attrs.get("scenario_text"):
        _assumptions(ds, doc)
