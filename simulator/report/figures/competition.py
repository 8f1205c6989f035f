"""Figures of competition and joint outcomes: the market-share fan and P(exactly k champions).

May import: :mod:`simulator.errors`, :mod:`simulator.model` and :mod:`simulator.results`.

Both take a run's Dataset (:func:`simulator.run`) and return a
:class:`matplotlib.figure.Figure`, in the conventions of
:mod:`simulator.report.figures.common` (greyscale-readable: series differ in
line style, marker and hatch, not in hue alone).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from simulator.report.figures.common import (
    FAN_COLOR,
    SERIES_STYLE,
    amount_axis,
    currency_of,
    draw_fan,
    fan_quantiles,
    figure_legend,
    log_floor,
    new_figure,
    panel_grid,
    percent_ticks,
    quantile_at,
    require,
    suptitle,
)

__all__ = ["champion_count", "market_shares"]

#: Horizons' bars from light to dark, each with its own hatch (greyscale print).
_HORIZON_FILL = ("#d9d9d9", "#a6a6a6", "#6e6e6e", "#2b2b2b", "#bdbdbd", "#8c8c8c")
_HORIZON_HATCH = ("", "..", "//", "", "xx", "\\\\")


def market_shares(ds: xr.Dataset) -> Figure:
    """Fans of each company's market share, of the platforms' share and of the market (MODEL.md step 9).

    Top left: every company's median share by month with its 25-75% band, on a
    log axis (a company's share is 0 after it fails: quantiles at 0 are drawn
    at the axis floor); top right: the platforms' share, median with its 25-75%
    and 5-95% bands; bottom: the market M, likewise.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result with competition on: ``market_share_quantile``,
        ``platform_share_quantile`` and ``market_quantile``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["market_share_quantile", "platform_share_quantile", "market_quantile"],
            "the market-share fan (a run with sector.competition.enabled = true)")
    cur = currency_of(ds)
    months = ds["month"].values
    fig = new_figure(7.4)
    ax, ax_p, ax_m = panel_grid(fig, 3)
    names = [str(c) for c in ds["company"].values]
    bands = {c: {lv: quantile_at(ds["market_share_quantile"].sel(company=c), lv) for lv in (0.25, 0.5, 0.75)}
             for c in names}
    floor = max(log_floor([b[lv] for b in bands.values() for lv in (0.25, 0.5)]), 1e-6)
    handles = []
    step = max(1, len(months) // 8)
    for i, (name, q) in enumerate(bands.items()):
        style = SERIES_STYLE[i % len(SERIES_STYLE)]
        lo, mid, hi = (np.maximum(q[lv], floor) for lv in (0.25, 0.5, 0.75))
        ax.fill_between(months, lo, hi, color=style["color"], alpha=0.12, linewidth=0)
        ax.plot(months, mid, color=style["color"], linestyle=style["linestyle"], marker=style["marker"],
                markevery=step, markersize=4, linewidth=1.6)
        handles.append(Line2D([], [], color=style["color"], linestyle=style["linestyle"], marker=style["marker"],
                              linewidth=1.6, label=name))
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor)
    percent_ticks(ax.yaxis)
    ax.set_ylabel("share of the market (log scale)")
    ax.set_title("companies: median share, 25-75% band", fontsize="medium")
    draw_fan(ax_p, months, fan_quantiles(ds["platform_share_quantile"]))
    ax_p.set_ylim(0, 1.0)
    percent_ticks(ax_p.yaxis)
    ax_p.set_ylabel("share of the market")
    ax_p.set_title("platforms: median, 25-75% and 5-95%", fontsize="medium")
    draw_fan(ax_m, months, fan_quantiles(ds["market_quantile"]))
    ax_m.set_yscale("log")
    amount_axis(ax_m.yaxis, log=True)
    ax_m.set_ylabel(f"market M ({cur}/year, log scale)")
    ax_m.set_title("market: median, 25-75% and 5-95%", fontsize="medium")
    for a in (ax, ax_p, ax_m):
        a.set_xlim(months[0], months[-1])
        a.set_xlabel("month")
        a.grid(True, which="major", color="0.9", linewidth=0.6)
    handles += [Line2D([], [], color=FAN_COLOR, linewidth=2.0, label="median"),
                Patch(facecolor=FAN_COLOR, alpha=0.4, label="25-75%"),
                Patch(facecolor=FAN_COLOR, alpha=0.18, label="5-95%")]
    figure_legend(fig, handles, ncols=4)
    suptitle(fig, ds, "market shares of the companies and the platforms, and the market")
    return fig


def champion_count(ds: xr.Dataset) -> Figure:
    """P(exactly k champions) for k = 0 .. n at each horizon, bars with their 95% Wilson intervals.

    Left: every k on a 0-100% axis; right: k >= 1 zoomed to its own scale
    (champions are often rare, and the insurance argument is about k >= 1).

    Parameters
    ----------
    ds : xarray.Dataset
        A run result of two or more companies with ``champion_count_probability``
        and ``champion_count_probability_ci``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["champion_count_probability", "champion_count_probability_ci"],
            "the P(exactly k champions) chart (a run of two or more companies)")
    p = ds["champion_count_probability"]
    ci = ds["champion_count_probability_ci"]
    horizons = [int(h) for h in ds["horizon"].values]
    ks = ds["champions"].values
    fig = new_figure(4.6)
    axes = panel_grid(fig, 2)
    width = 0.8 / len(horizons)
    for ax, shown in zip(axes, (ks, ks[ks >= 1]), strict=True):
        top = 0.0
        for j, h in enumerate(horizons):
            x = np.arange(len(shown)) + (j - (len(horizons) - 1) / 2) * width
            val = p.sel(horizon=h, champions=shown).values
            lo, hi = (ci.sel(horizon=h, champions=shown, bound=b).values for b in ("low", "high"))
            ax.bar(x, val, width=width, color=_HORIZON_FILL[j % len(_HORIZON_FILL)], edgecolor="black",
                   linewidth=0.6, hatch=_HORIZON_HATCH[j % len(_HORIZON_HATCH)], label=f"month {h}")
            ax.errorbar(x, val, yerr=np.clip(np.stack([val - lo, hi - val]), 0, None), fmt="none",
                        ecolor="#d95f02", elinewidth=1.2, capsize=3)
            top = max(top, float(np.nanmax(hi)) if hi.size else 0.0)
        ax.set_xticks(np.arange(len(shown)), [str(int(k)) for k in shown])
        ax.set_xlabel("number of champions k")
        ax.set_ylim(0, min(1.02, max(0.002, top * 1.15)) if shown is not ks else 1.02)
        percent_ticks(ax.yaxis)
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
    axes[0].set_ylabel("P(exactly k champions)")
    axes[0].set_title("every k", fontsize="medium")
    axes[1].set_title("k >= 1, zoomed", fontsize="medium")
    handles, _ = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="#d95f02", marker="|", linestyle="none", markersize=10,
                          label="95% Wilson interval"))
    figure_legend(fig, handles, ncols=len(horizons) + 1)
    suptitle(fig, ds, "number of companies that are champions")
    return fig
