"""Figure of a batch summary: every scenario's outcome probabilities side by side.

May import: :mod:`simulator.errors`, :mod:`simulator.results` and :mod:`simulator.report.figures.common`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from simulator.errors import ReportError
from simulator.report.figures.common import (
    OUTCOME_STYLE,
    new_figure,
    percent_axis,
    require,
)

__all__ = ["batch_summary"]


def batch_summary(ds: xr.Dataset, *, horizon: int | None = None) -> Figure:
    """Scenarios side by side: outcome probabilities with 95% intervals at one horizon.

    Dataset shape (issue 5's ``summary.nc``): dimensions ``scenario``
    (scenario names), ``company``, ``horizon``, ``outcome``, ``bound``;
    ``probability`` (``scenario``, ``company``, ``horizon``, ``outcome``) and
    ``probability_ci`` (the same plus ``bound``), NaN where a scenario has no
    such company.  One row per scenario and company, a marker per outcome
    (shape and lightness differ) with its interval.

    Parameters
    ----------
    ds : xarray.Dataset
        A batch summary of the shape above.
    horizon : int, optional
        Months; default: the last horizon.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["probability", "probability_ci"], "the batch summary chart")
    if "scenario" not in ds["probability"].dims:
        raise ReportError("the batch summary chart needs 'probability' over a 'scenario' dimension")
    horizon = int(ds["horizon"].values[-1]) if horizon is None else int(horizon)
    sub = ds.sel(horizon=horizon)
    rows = []
    for scen in sub["scenario"].values:
        for company in sub["company"].values:
            p = sub["probability"].sel(scenario=scen, company=company)
            if np.all(np.isnan(p.values)):
                continue
            rows.append((str(scen), str(company)))
    fig = new_figure(1.8 + 0.38 * len(rows))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    outcomes = [str(o) for o in sub["outcome"].values]
    for k, outcome in enumerate(outcomes):
        style = OUTCOME_STYLE.get(outcome, {"color": "0.5", "marker": "o"})
        p = np.array([float(sub["probability"].sel(scenario=s, company=c, outcome=outcome)) for s, c in rows])
        ci = np.array([sub["probability_ci"].sel(scenario=s, company=c, outcome=outcome).values for s, c in rows])
        ci = ci.reshape(len(rows), 2)
        ax.errorbar(p, y - (k - 1) * 0.2, xerr=np.clip(np.stack([p - ci[:, 0], ci[:, 1] - p]), 0, None),
                    fmt=style["marker"], color=style["color"], markeredgecolor="0.1", markersize=7,
                    capsize=3, linestyle="none", label=outcome)
    ax.set_yticks(y, [f"{s} / {c}" for s, c in rows], fontsize="small")
    ax.set_xlim(-0.02, 1.02)
    percent_axis(ax.xaxis, decimals=0)
    ax.set_xlabel(f"probability at {horizon} months (95% Wilson interval)")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    fig.legend(loc="outside lower center", ncols=len(outcomes), fontsize="small", frameon=False)
    fig.suptitle(f"scenarios side by side at {horizon} months", fontsize="large")
    return fig
