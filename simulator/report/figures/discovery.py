"""Figures of scenario discovery (``simulator discover --out``): the trade-off curve and a box's limits.

May import: :mod:`simulator.errors`, :mod:`simulator.model` and :mod:`simulator.results`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from simulator.errors import ReportError
from simulator.report.figures.common import (
    FAN_COLOR,
    figure_legend,
    new_figure,
    percent_axis,
    require,
    suptitle,
    wrap_path,
)
from simulator.results.formatting import percent

__all__ = ["discovery_limits", "discovery_tradeoff"]

_TRADEOFF = ("trajectory_coverage", "trajectory_density", "trajectory_coverage_fit", "trajectory_density_fit",
             "trajectory_restricted", "coverage", "coverage_ci", "density", "density_ci", "outcome_share")
_LIMITS = ("box_low", "box_high", "restricted", "input_low", "input_high")


def discovery_tradeoff(ds: xr.Dataset) -> Figure:
    """The coverage/density trade-off curve the first box was chosen from, and the boxes found.

    Dataset shape (``simulator discover --out``): ``trajectory_coverage``,
    ``trajectory_density`` (held-out half) and ``trajectory_coverage_fit``,
    ``trajectory_density_fit`` (peeling sample) over ``step``, with
    ``trajectory_restricted`` (inputs limited at each step); ``coverage``,
    ``density`` and their ``_ci`` (``box``, ``bound``); ``outcome_share``.
    The held-out curve is solid, the peeling sample's dashed (its density is
    optimistic: PRIM fitted it); each step is labelled with the inputs it limits;
    each box is a large marker with its 95% intervals on both axes; a dotted
    line marks the share of all paths with the outcome.
    """
    require(ds, _TRADEOFF, "the discovery trade-off chart")
    fig = new_figure(5.2)
    ax = fig.subplots()
    cov, den = ds["trajectory_coverage"].values, ds["trajectory_density"].values
    ax.plot(ds["trajectory_coverage_fit"].values, ds["trajectory_density_fit"].values, color="0.55",
            linestyle="--", linewidth=1.0)
    ax.plot(cov, den, color=FAN_COLOR, linewidth=1.4, marker="o", markersize=3)
    restricted = ds["trajectory_restricted"].values
    for s in np.flatnonzero(np.r_[True, np.diff(restricted) != 0])[:restricted.size]:
        ax.annotate(str(int(restricted[s])), (cov[s], den[s]), textcoords="offset points", xytext=(0, 5),
                    ha="center", fontsize="x-small", color="0.25")
    chosen = int(ds.attrs.get("chosen_step", -1))
    if 0 <= chosen < cov.size:
        ax.plot(cov[chosen], den[chosen], marker="s", markersize=7, markerfacecolor="none", color="black")
    markers = "D^vP*X"
    for i in range(ds.sizes["box"]):
        c, d = float(ds["coverage"].values[i]), float(ds["density"].values[i])
        c_ci, d_ci = ds["coverage_ci"].values[i], ds["density_ci"].values[i]
        ax.errorbar(c, d, xerr=[[c - c_ci[0]], [c_ci[1] - c]], yerr=[[d - d_ci[0]], [d_ci[1] - d]],
                    fmt=markers[i % len(markers)], color="black", markersize=8, capsize=3, markerfacecolor="white")
        ax.annotate(f"box {i + 1}", (c, d), textcoords="offset points", xytext=(8, -12), fontsize="small")
    base = float(ds["outcome_share"])
    ax.axhline(base, color="0.4", linestyle=":", linewidth=1.0)
    ax.set_xlim(0.0, 1.02)
    ax.set_ylim(0.0, max(float(np.nanmax(np.r_[den, ds["trajectory_density_fit"].values, ds["density"].values,
                                               ds["density_ci"].values.ravel(), base])) * 1.12, 1e-3))
    percent_axis(ax.xaxis)
    percent_axis(ax.yaxis)
    ax.set_xlabel("coverage: share of the paths with the outcome inside")
    ax.set_ylabel("density: share of the paths inside with the outcome")
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [Line2D([], [], color=FAN_COLOR, marker="o", markersize=3, label="trade-off curve, held-out half"),
               Line2D([], [], color="0.55", linestyle="--", label="the same on the peeling sample"),
               Line2D([], [], color="black", marker="s", markerfacecolor="none", linestyle="none",
                      label="step the first box was chosen at"),
               Line2D([], [], color="black", marker="D", markerfacecolor="white", linestyle="none",
                      label="boxes after dropping limits, 95% intervals"),
               Line2D([], [], color="0.4", linestyle=":", label="share of all paths with the outcome")]
    figure_legend(fig, handles, ncols=2)
    suptitle(fig, ds, f"what makes {ds.attrs.get('outcome', 'the outcome')} "
             f"({str(ds.attrs.get('method', '')).upper()}; numbers: inputs limited)")
    return fig


def discovery_limits(ds: xr.Dataset, *, box: int = 1) -> Figure:
    """A box's limits against each input's range, one row per input, limited inputs on top.

    Each input's range (its smallest to largest draw) is the grey bar, drawn on
    a common 0-1 scale; the box's part of it is dark, with its limits written in
    the input's units (``input_units``).  Dataset shape: ``box_low``,
    ``box_high``, ``restricted`` (``box``, ``input``), ``input_low``,
    ``input_high`` (``input``).
    """
    require(ds, _LIMITS, "the discovery limits chart")
    if box not in [int(b) for b in ds["box"].values]:
        raise ReportError(f"no box {box} in the discovery result (boxes: "
                          f"{', '.join(str(int(b)) for b in ds['box'].values) or 'none'})")
    sub = ds.sel(box=box)
    inputs = [str(v) for v in ds["input"].values]
    units = ([str(u) for u in ds["input_units"].values] if "input_units" in ds.variables else [""] * len(inputs))
    restricted = sub["restricted"].values.astype(bool)
    order = list(np.flatnonzero(restricted)) + list(np.flatnonzero(~restricted))
    n = len(order)
    fig = new_figure(1.6 + 0.55 * n)
    ax = fig.subplots()
    low, high = ds["input_low"].values, ds["input_high"].values
    for row, j in enumerate(order):
        y = n - 1 - row
        span = high[j] - low[j] if high[j] > low[j] else 1.0
        a = (float(sub["box_low"].values[j]) - low[j]) / span
        b = (float(sub["box_high"].values[j]) - low[j]) / span
        ax.barh(y, 1.0, left=0.0, height=0.5, color="0.88", edgecolor="0.6", linewidth=0.6)
        if restricted[j]:
            ax.barh(y, b - a, left=a, height=0.5, color=FAN_COLOR, edgecolor="black", linewidth=0.6, hatch="//")
        unit = "" if units[j] in ("", "1") else f" {units[j]}"
        ax.text(-0.01, y, f"{low[j]:.4g}", ha="right", va="center", fontsize="x-small", color="0.3")
        ax.text(1.01, y, f"{high[j]:.4g}{unit}", ha="left", va="center", fontsize="x-small", color="0.3")
        if restricted[j]:
            text = f"{float(sub['box_low'].values[j]):.4g} to {float(sub['box_high'].values[j]):.4g}"
            ax.text((a + b) / 2, y + 0.33, text, ha="center", va="bottom", fontsize="x-small")
    ax.set_yticks(range(n), [wrap_path(inputs[j]) for j in order][::-1], fontsize="x-small")
    ax.set_ylim(-0.6, n - 0.2)
    ax.set_xlim(-0.22, 1.32)
    ax.set_xticks([0.0, 0.5, 1.0], ["smallest draw", "middle", "largest draw"], fontsize="small")
    ax.spines[["top", "right"]].set_visible(False)
    cov, den, mass = (float(sub[v]) for v in ("coverage", "density", "mass")) if "mass" in sub else (np.nan,) * 3
    figure_legend(fig, [Patch(facecolor="0.88", edgecolor="0.6", label="input's range over all paths"),
                        Patch(facecolor=FAN_COLOR, edgecolor="black", hatch="//", label="inside the box")], ncols=2)
    suptitle(fig, ds, f"box {box} of {ds.attrs.get('outcome', 'the outcome')}: coverage {percent(cov)}, "
             f"density {percent(den)}, mass {percent(mass)}")
    return fig
