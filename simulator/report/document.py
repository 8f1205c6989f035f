"""The report's document model: blocks (paragraphs, tables, figures) rendered once to Markdown and to HTML, and the number formats they share.

May import: every layer below :mod:`simulator.report`, and the modules of :mod:`simulator.report`.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from simulator.errors import ReportError
from simulator.results.files import atomic_file
from simulator.results.formatting import change_text, format_amount, index_text, value_text
from simulator.results.formatting import percent as pct
from simulator.results.formatting import percent_ci as pct_ci

__all__ = ["Doc", "FigureBlock", "FigureSpec", "Table", "amount", "change_text", "draw_all", "figures_section", "fmt_value", "index_text", "json_attr", "notes_section", "pct", "pct_ci", "render_html", "render_md", "save_figure", "shorten", "slug", "value_text"]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    align: str = ""  # one of "l"/"r" per column; default: first left, rest right


@dataclass
class FigureBlock:
    stem: str
    title: str
    caption: str
    png: bytes = b""


@dataclass
class Doc:
    title: str
    blocks: list = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, headers, rows, align: str = "") -> None:
        self.blocks.append(("table", Table(list(headers), [list(r) for r in rows], align)))

    def figure(self, fig: FigureBlock) -> None:
        self.blocks.append(("figure", fig))


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_md(doc: Doc) -> str:
    out = [f"# {doc.title}", ""]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            out += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "table":
            t: Table = block[1]
            align = t.align or "l" + "r" * (len(t.headers) - 1)
            out.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
            out.append("|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
            out.append("")
        elif kind == "figure":
            f: FigureBlock = block[1]
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


def render_html(doc: Doc) -> str:
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
            t: Table = block[1]
            align = t.align or "l" + "r" * (len(t.headers) - 1)
            parts.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in t.headers)
                         + "</tr></thead><tbody>")
            for row in t.rows:
                parts.append("<tr>" + "".join(f'<td class="{a}">{esc(str(c))}</td>'
                                              for a, c in zip(align, row, strict=False)) + "</tr>")
            parts.append("</tbody></table>")
        elif kind == "figure":
            f: FigureBlock = block[1]
            data = base64.b64encode(f.png).decode("ascii")
            parts.append(f'<figure id="{esc(f.stem)}"><img src="data:image/png;base64,{data}" '
                         f'alt="{esc(f.title)}"><figcaption><strong>{esc(f.title)}.</strong> '
                         f"{esc(f.caption)}</figcaption></figure>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def amount(x: float, currency: str = "") -> str:
    return format_amount(float(x), currency)


def fmt_value(v) -> str:
    """A parsed TOML value written back as TOML (for values not shown as written in the file)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {fmt_value(x)}" for k, x in v.items()) + " }"
    return str(v)


def shorten(text: str, width: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


@dataclass(frozen=True)
class FigureSpec:
    stem: str
    draw: Callable[[xr.Dataset], object]
    title: str
    caption: Callable[[xr.Dataset], str]
    needs: tuple[str, ...]


def save_figure(fig, out_dir: Path, stem: str) -> bytes:
    """Write ``stem.png`` and ``stem.svg``; return the PNG bytes (for embedding)."""
    png = out_dir / f"{stem}.png"
    import matplotlib

    from simulator.report import figures as plots

    # No timestamps or random ids in the files: the same Dataset gives the same bytes.
    with atomic_file(png) as fh:
        fig.savefig(fh, format="png", dpi=plots.DPI, metadata={"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": stem}), atomic_file(out_dir / f"{stem}.svg") as fh:
        fig.savefig(fh, metadata={"Date": None}, format="svg")
    return png.read_bytes()


def draw_all(ds: xr.Dataset, specs, out: Path) -> tuple[list[FigureBlock], list[str]]:
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
        drawn.append(FigureBlock(spec.stem, spec.title, spec.caption(ds), save_figure(fig, out, spec.stem)))
    return drawn, skipped


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(text))


def json_attr(ds: xr.Dataset, key: str, default):
    try:
        return json.loads(ds.attrs.get(key, ""))
    except (TypeError, ValueError):
        return default


def figures_section(doc: Doc, figures: list[FigureBlock]) -> None:
    doc.h(2, "Figures")
    for f in figures:
        doc.figure(f)


def notes_section(ds: xr.Dataset, doc: Doc) -> None:
    notes = json_attr(ds, "notes", [])
    for note in notes if isinstance(notes, list) else []:
        doc.p(f"Note: {str(note).rstrip('.')}.")
