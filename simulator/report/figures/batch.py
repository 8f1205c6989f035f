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

__all__ = ["batch_rows", "batch_summary"]


def batch_rows(ds: xr.Dataset) -> list[tuple[str, str, list[int]]]:
    """(scenario, company, the horizons it has) of every scenario and company of a batch summary.

    A scenario's horizons are those where it has probabilities: a batch mixes
    scenarios of different lengths (36 months, 300 months), and each is shown
    at its own.  A row with no horizon at all (a company the scenario does not
    have) is left out.
    """
    rows = []
    for scen in ds["scenario"].values:
        for company in ds["company"].values:
            p = ds["probability"].sel(scenario=scen, company=company).transpose("horizon", ...).values
            have = [int(h) for h, row in zip(ds["horizon"].values, p.reshape(p.shape[0], -1), strict=True)
                    if not np.all(np.isnan(row))]
            if have:
                rows.append((str(scen), str(company), have))
    return rows


def batch_summary(ds: xr.Dataset, *, horizon: int | None = None) -> Figure:
    """Scenarios side by side: outcome probabilities with 95% intervals, each at its own last horizon.

    Dataset shape (issue 5's ``summary.nc``): dimensions ``scenario``
    (scenario names), ``company``, ``horizon``, ``outcome``, ``bound``;
    ``probability`` (``scenario``, ``company``, ``horizon``, ``outcome``) and
    ``probability_ci`` (the same plus ``bound``), NaN where a scenario has no
    such company or horizon.  One row per scenario and company, a marker per
    outcome (shape and lightness differ) with its interval.  Scenarios of
    different lengths are each drawn at their own last horizon (the row label
    names it); none is left out.

    Parameters
    ----------
    ds : xarray.Dataset
        A batch summary of the shape above.
    horizon : int, optional
        Months: draw every scenario at this horizon (rows that lack it are left
        out; ReportError if none has it).  Default: each scenario's last horizon.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["probability", "probability_ci"], "the batch summary chart")
    if "scenario" not in ds["probability"].dims:
        raise ReportError("the batch summary chart needs 'probability' over a 'scenario' dimension")
    rows = [(s, c, int(horizon) if horizon is not None else hs[-1]) for s, c, hs in batch_rows(ds)
            if horizon is None or int(horizon) in hs]
    if not rows:
        raise ReportError(f"the batch summary chart: no scenario has the horizon {horizon}")
    months = sorted({h for _, _, h in rows})
    fig = new_figure(1.8 + 0.38 * len(rows))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    outcomes = [str(o) for o in ds["outcome"].values]
    for k, outcome in enumerate(outcomes):
        style = OUTCOME_STYLE.get(outcome, {"color": "0.5", "marker": "o"})
        at = [dict(scenario=s, company=c, horizon=h, outcome=outcome) for s, c, h in rows]
        p = np.array([float(ds["probability"].sel(**a)) for a in at])
        ci = np.array([ds["probability_ci"].sel(**a).values for a in at]).reshape(len(rows), 2)
        ax.errorbar(p, y - (k - 1) * 0.2, xerr=np.clip(np.stack([p - ci[:, 0], ci[:, 1] - p]), 0, None),
                    fmt=style["marker"], color=style["color"], markeredgecolor="0.1", markersize=7,
                    capsize=3, linestyle="none", label=outcome)
    one = len(months) == 1
    ax.set_yticks(y, [f"{s} / {c}" + ("" if one else f" ({h} m)") for s, c, h in rows], fontsize="small")
    ax.set_xlim(-0.02, 1.02)
    percent_axis(ax.xaxis, decimals=0)
    where = f"{months[0]} months" if one else "each scenario's last horizon"
    ax.set_xlabel(f"probability at {where}, 95% Wilson interval")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    fig.legend(loc="outside lower center", ncols=len(outcomes), fontsize="small", frameon=False)
    fig.suptitle(f"{len({s for s, _, _ in rows})} scenarios side by side at "
                 + (f"{months[0]} months" if one else "their last horizons"), fontsize="large")
    return fig
