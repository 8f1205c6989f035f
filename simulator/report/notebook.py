"""Every figure of a results Dataset, for a notebook: ``simulator.figures(ds)["valuation_fan"]`` shows inline.

The figures are those :func:`simulator.write_report` draws for the Dataset's
kind of result, by the stems of their files, as matplotlib Figures that show
themselves in Jupyter (they render to PNG, :mod:`simulator.report.figures`),
without pyplot and without writing anything.

May import: every layer below :mod:`simulator.report`, and the modules of :mod:`simulator.report`.
"""

from __future__ import annotations

import xarray as xr

from simulator.errors import ReportError
from simulator.report.document import slug
from simulator.report.kinds import from_batch_summary, result_kind

__all__ = ["figures"]


def _per_output(ds: xr.Dataset, var: str, stem: str, draw) -> dict:
    outputs = [str(o) for o in ds["output"].values] if "output" in ds[var].dims else [None]
    return {stem if len(outputs) == 1 or o is None else f"{stem}_{slug(o)}": draw(ds, output=o) for o in outputs}


def figures(ds: xr.Dataset) -> dict:
    """The figures of ``ds`` (any result kind), by name; those the Dataset lacks the variables for are left out.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
    """
    from simulator.report import figures as plots
    from simulator.report.run_report import run_figures

    ds = from_batch_summary(ds)
    kind = result_kind(ds)
    if kind == "run":
        out = {}
        for spec in run_figures():
            if all(n in ds.variables for n in spec.needs):
                try:
                    out[spec.stem] = spec.draw(ds)
                except ReportError:  # e.g. one company: no "at least one champion"
                    continue
        return out
    if kind == "sweep":
        if len(plots.swept_dims(ds)) == 1:
            return {"sweep": plots.sweep_lines(ds)}
        return {f"sweep_{slug(c)}_{o}": plots.sweep_heatmap(ds, company=str(c), outcome=o)
                for c in ds["company"].values for o in ("champion", "collapse")}
    if kind == "batch":
        return {"batch_summary": plots.batch_summary(ds)}
    if kind == "discovery":
        return {"discovery_tradeoff": plots.discovery_tradeoff(ds),
                **{f"discovery_box_{b}": plots.discovery_limits(ds, box=b) for b in (int(v) for v in ds["box"].values)}}
    if kind == "attribution":
        h = int(ds["horizon"].values[-1])
        return {f"attribution_{slug(c)}": plots.attribution_shifts(ds, company=str(c), horizon=h)
                for c in ds["company"].values}
    by_kind = {"tornado": ("low", "tornado", plots.sensitivity_tornado),
               "morris": ("mu_star", "morris", plots.sensitivity_morris),
               "sobol": ("S1", "sobol", plots.sensitivity_sobol),
               "given-data": (None, "given_data", plots.sensitivity_given_data)}
    var, stem, draw = by_kind[kind]
    if var is None:
        var = next(v for v in ("rbd_fast_S1", "delta", "pawn_median") if v in ds.variables)
    return _per_output(ds, var, stem, draw)
