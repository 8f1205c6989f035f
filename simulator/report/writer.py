"""A one-page report of a results Dataset: figures, ``report.md`` and a self-contained ``report.html``.

:func:`write_report` writes, into one folder, every figure that the Dataset
can give (PNG and SVG, see :mod:`simulator.report.figures`), a Markdown report with the
key numbers, the scenario's assumptions (every key with its value and its
source comment) and the run's provenance, and the same report as one HTML
file with the figures embedded as base64 PNG and no network reference, so it
can be mailed or archived as is.

Both documents are rendered from one list of blocks, so the numbers in the
Markdown and in the HTML are the same strings.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from simulator.errors import ReportError
from simulator.report.document import Doc, render_html, render_md
from simulator.report.kinds import KIND_LABELS, from_batch_summary, required_variables, result_kind
from simulator.report.run_report import provenance_section, run_report
from simulator.report.study_reports import study_report
from simulator.results.files import write_text_atomic

# simulator.report.figures (matplotlib, ~0.5 s to import) is imported where figures are drawn, so that
# the command line can catch ReportError without paying for matplotlib on every command.

__all__ = ["write_report"]


# --------------------------------------------------------------------------- document blocks


# --------------------------------------------------------------------------- formatting


# --------------------------------------------------------------------------- scenario assumptions


# --------------------------------------------------------------------------- figures


# --------------------------------------------------------------------------- report kinds


def write_report(ds: xr.Dataset, out_dir: str | Path) -> Path:
    """Write the figures, ``report.md`` and ``report.html`` of a results Dataset into ``out_dir``.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result (``simulator.run`` / ``open_results``), or a study result
        of a shape documented in :mod:`simulator.report.figures`: a sweep of one key
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
    ds = from_batch_summary(ds)
    kind = result_kind(ds)
    missing = [n for n in required_variables(ds, kind) if n.split(" ")[0] not in ds.variables]
    if missing:
        what = "the report" if kind == "run" else f"the report of a {KIND_LABELS[kind]} result"
        raise ReportError(f"{what} needs variable(s) {', '.join(missing)}, missing from "
                          f"{ds.attrs.get('scenario_name', 'the Dataset')}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = ds.attrs.get("scenario_name", kind)
    if kind == "batch":
        title = f"Report: batch of {ds.sizes['scenario']} scenarios"
    else:
        title = f"Report: {name}" if kind == "run" else f"Report: {name}, {KIND_LABELS[kind]}"
    doc = Doc(title)
    if kind == "run":
        run_report(ds, doc, out)
    else:
        study_report(ds, kind, doc, out)
    provenance_section(ds, doc)
    # Atomic: a report interrupted half-way leaves the previous one whole.
    write_text_atomic(out / "report.md", render_md(doc))
    return write_text_atomic(out / "report.html", render_html(doc))


# --------------------------------------------------------------------------- study reports


# --------------------------------------------------------------------------- sweeps


# --------------------------------------------------------------------------- sensitivity


