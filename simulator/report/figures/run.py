"""Figures of a run's Dataset: valuation fan, outcomes, distributions, survival, revenue and capacity, decomposition.

May import: :mod:`simulator.errors`, :mod:`simulator.results` and :mod:`simulator.report.figures.common`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    MaxNLocator,
)

from simulator.report.figures.common import (
    CAPACITY_COLOR,
    FAN_COLOR,
    OUTCOME_STYLE,
    SERIES_STYLE,
    amount_axis,
    companies_of,
    currency_of,
    draw_fan,
    fan_quantiles,
    figure_legend,
    floor_note_handle,
    log_floor,
    month_locator,
    new_figure,
    outcome_ratios,
    panel_grid,
    panel_height,
    percent_axis,
    quantile_at,
    require,
    short_amount,
    suptitle,
)

__all__ = [
    "any_champion",
    "distribution_mode",
    "outcome_probabilities",
    "revenue_capacity",
    "survival_curve",
    "valuation_decomposition",
    "valuation_distribution",
    "valuation_fan",
]


# --------------------------------------------------------------------------- run results


def valuation_fan(ds: xr.Dataset, companies: Sequence[str] | None = None) -> Figure:
    """Fan chart of the market valuation over months, one panel per company.

    Median line, 25-75% and 5-95% bands of ``valuation_quantile`` on a log
    axis, with the stated valuation at start (``valuation_start``), the
    collapse threshold and the fundamental value at start (``fundamental_value``
    with its ``fundamental_value_ci``) marked.  Quantiles that are 0 (failed
    paths valued at a zero recovery) are drawn at the axis floor.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result with ``valuation_quantile``, ``valuation_start``,
        ``fundamental_value`` and ``fundamental_value_ci``.
    companies : sequence of str, optional
        Which companies (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["valuation_quantile", "valuation_start", "fundamental_value", "fundamental_value_ci"],
             "the valuation fan chart")
    names = companies_of(ds, companies)
    cur = currency_of(ds)
    _, collapse_ratio = outcome_ratios(ds)
    fig = new_figure(panel_height(len(names), per_row=3.4, extra=1.6))
    axes = panel_grid(fig, len(names))
    months = ds["month"].values
    any_floor = False
    fv_hidden = []
    for ax, company in zip(axes, names, strict=True):
        sel = ds.sel(company=company)
        vq = sel["valuation_quantile"]
        q = fan_quantiles(vq)
        v0 = float(sel["valuation_start"])
        fv = float(sel["fundamental_value"])
        fv_lo, fv_hi = (float(x) for x in sel["fundamental_value_ci"].values)
        floor = log_floor([*q.values(), [v0, fv, fv_lo]])
        any_floor |= bool(np.any(q[0.05] <= 0))
        draw_fan(ax, months, q, floor=floor)
        ax.axhline(v0, color="black", linestyle="--", linewidth=1.2)
        ax.axhline(collapse_ratio * v0, color="0.35", linestyle=(0, (1, 2)), linewidth=1.0)
        if fv > 0:
            # Known at month 0 only: a point with its interval, not a line across the months (which would
            # read as a path); drawn over the axis spine so that the spine does not hide it.
            low_err = fv - max(fv_lo, floor)
            ax.errorbar([months[0]], [fv], yerr=[[max(low_err, 0.0)], [max(fv_hi - fv, 0.0)]],
                        fmt="D", color="#7f2704", markersize=7, capsize=4, clip_on=False, zorder=6)
            ax.annotate(f"fundamental value {short_amount(fv, cur)}", (months[0], fv), xytext=(9, 0),
                        textcoords="offset points", va="center", fontsize="small", color="#7f2704")
        else:
            fv_hidden.append(f"{company} {short_amount(fv, cur)}")
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        amount_axis(ax.yaxis, log=True)
        ax.set_title(f"{company} (V0 {short_amount(v0)}, fundamental {short_amount(fv)} {cur})",
                     fontsize="medium")
        ax.set_xlabel("month")
        ax.set_ylabel(f"valuation ({cur}, log scale)")
        ax.set_xlim(months[0], months[-1])
        ax.xaxis.set_major_locator(month_locator())
        ax.grid(True, which="major", color="0.9", linewidth=0.6)
    handles = [
        Line2D([], [], color=FAN_COLOR, linewidth=2.0, label="median"),
        Patch(facecolor=FAN_COLOR, alpha=0.40, label="25-75%"),
        Patch(facecolor=FAN_COLOR, alpha=0.18, label="5-95%"),
        Line2D([], [], color="black", linestyle="--", label="valuation at start V0"),
        Line2D([], [], color="0.35", linestyle=(0, (1, 2)), label=f"collapse threshold {collapse_ratio:g} x V0"),
        Line2D([], [], color="#7f2704", linestyle="none", marker="D",
               label="fundamental value at month 0 (95% CI)"),
    ]
    if any_floor:
        handles.append(floor_note_handle(cur))
    if fv_hidden:
        handles.append(Line2D([], [], linestyle="none",
                              label="fundamental value <= 0, not on log axis: " + ", ".join(fv_hidden)))
    figure_legend(fig, handles)
    suptitle(fig, ds, "market valuation over time")
    return fig


def outcome_probabilities(ds: xr.Dataset, companies: Sequence[str] | None = None) -> Figure:
    """Outcome probabilities by horizon with 95% intervals, one panel per company.

    Grouped bars of ``probability`` (champion, contested, collapse) at each
    horizon, error bars from ``probability_ci`` (Wilson score intervals).

    Parameters
    ----------
    ds : xarray.Dataset
        A run result with ``probability`` and ``probability_ci``.
    companies : sequence of str, optional
        Which companies (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["probability", "probability_ci"], "the outcome probability chart")
    names = companies_of(ds, companies)
    fig = new_figure(panel_height(len(names), per_row=3.0, extra=1.3))
    axes = panel_grid(fig, len(names), sharey=True)
    horizons = ds["horizon"].values
    outcomes = [str(o) for o in ds["outcome"].values]
    x = np.arange(len(horizons))
    width = 0.8 / len(outcomes)
    for ax, company in zip(axes, names, strict=True):
        sel = ds.sel(company=company)
        for i, outcome in enumerate(outcomes):
            style = OUTCOME_STYLE.get(outcome, {"color": "0.5", "hatch": ""})
            p = sel["probability"].sel(outcome=outcome).values
            ci = sel["probability_ci"].sel(outcome=outcome).values
            yerr = np.clip(np.stack([p - ci[:, 0], ci[:, 1] - p]), 0.0, None)
            ax.bar(x + (i - (len(outcomes) - 1) / 2) * width, p, width, color=style["color"],
                   hatch=style["hatch"], edgecolor="0.2", linewidth=0.6, yerr=yerr,
                   error_kw={"ecolor": "black", "capsize": 3, "elinewidth": 1.0})
        ax.set_xticks(x, [f"{int(h)}" for h in horizons])
        ax.set_xlabel("horizon (months)")
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1.05)
        percent_axis(ax.yaxis, decimals=0)
        ax.set_title(company, fontsize="medium")
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(labelleft=True)
    handles = [Patch(facecolor=OUTCOME_STYLE.get(o, {}).get("color", "0.5"),
                     hatch=OUTCOME_STYLE.get(o, {}).get("hatch", ""), edgecolor="0.2", label=o)
               for o in outcomes]
    handles.append(Line2D([], [], color="black", marker="|", markersize=10, linestyle="none",
                          label="95% Wilson interval"))
    figure_legend(fig, handles, ncols=4)
    suptitle(fig, ds, "outcome probabilities by horizon")
    return fig


def distribution_mode(ds: xr.Dataset) -> str:
    """How :func:`valuation_distribution` draws ``ds``: ``"histogram"`` of kept paths or ``"quantiles"``."""
    return "histogram" if "path_valuation" in ds.variables and ds.sizes.get("path", 0) > 0 else "quantiles"


def valuation_distribution(ds: xr.Dataset, companies: Sequence[str] | None = None) -> Figure:
    """Distribution of the valuation at each horizon against V0, on a log x axis.

    With kept paths (``path_valuation``, from ``keep_paths``) a true log-x
    histogram per horizon and company (rows: horizons, columns: companies);
    the share of paths at 0 (failed, zero recovery) is given in each panel's
    title, since 0 has no place on a log axis.  Otherwise, from the quantiles
    in ``valuation_quantile`` (the Dataset holds no raw paths): one panel per
    company with one quantile box per horizon (line 5-95%, ticks at 10% and
    90%, box 25-75%, bar at the median).  Both mark V0, the collapse
    threshold and, when it differs from V0, the champion threshold.  Use
    :func:`distribution_mode` to know which one is drawn.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result with ``valuation_start`` and either ``path_valuation``
        or ``valuation_quantile``.
    companies : sequence of str, optional
        Which companies (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    mode = distribution_mode(ds)
    require(ds, ["valuation_start", "path_valuation" if mode == "histogram" else "valuation_quantile"],
             "the valuation distribution")
    names = companies_of(ds, companies)
    cur = currency_of(ds)
    champion_ratio, collapse_ratio = outcome_ratios(ds)
    horizons = [int(h) for h in ds["horizon"].values]
    ref_handles = [
        Line2D([], [], color="black", linestyle="--", label="valuation at start V0"),
        Line2D([], [], color="0.35", linestyle=(0, (1, 2)), label=f"collapse threshold {collapse_ratio:g} x V0"),
    ]
    if not math.isclose(champion_ratio, 1.0):
        ref_handles.append(Line2D([], [], color="0.35", linestyle="-.",
                                  label=f"champion threshold {champion_ratio:g} x V0"))

    def _references(ax, v0):
        ax.axvline(v0, color="black", linestyle="--", linewidth=1.2)
        ax.axvline(collapse_ratio * v0, color="0.35", linestyle=(0, (1, 2)), linewidth=1.0)
        if not math.isclose(champion_ratio, 1.0):
            ax.axvline(champion_ratio * v0, color="0.35", linestyle="-.", linewidth=1.0)

    y = np.arange(len(horizons))[::-1]  # earliest horizon on top, read downward like a timeline
    if mode == "histogram":
        # A ridgeline: one histogram per horizon on its own baseline, in one panel per company,
        # so the layout matches the quantile version and small multiples stay readable.
        fig = new_figure(panel_height(len(names), per_row=2.9, extra=1.5))
        axes = panel_grid(fig, len(names))
        n_kept = ds.sizes["path"]
        for ax, company in zip(axes, names, strict=True):
            sel = ds.sel(company=company)
            v0 = float(sel["valuation_start"])
            values = {h: np.asarray(sel["path_valuation"].sel(month=h).values, dtype=float) for h in horizons}
            positive = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values.values()] + [[v0]])
            # The axis spans the bulk of the paths; the few beyond it land in the edge bins
            # (a recovery of a few CNY would otherwise stretch the axis over ten decades).
            low = min(np.quantile(positive, 0.005), collapse_ratio * v0) / 1.5
            high = max(positive.max(), champion_ratio * v0) * 1.5
            bins = np.logspace(math.log10(low), math.log10(high), 41)
            shares = {}
            for h in horizons:
                v = values[h]
                pos = np.clip(v[np.isfinite(v) & (v > 0)], bins[0], bins[-1])
                shares[h] = (np.histogram(pos, bins=bins)[0] / max(v.size, 1), 1.0 - pos.size / max(v.size, 1))
            tallest = max(float(c.max()) for c, _ in shares.values()) or 1.0
            labels = []
            for yi, h in zip(y, horizons, strict=True):
                counts, zero = shares[h]
                heights = np.append(counts, counts[-1]) / tallest * 0.85
                ax.fill_between(bins, yi, yi + heights, step="post", color=FAN_COLOR, alpha=0.45, linewidth=0)
                ax.step(bins, yi + heights, where="post", color=FAN_COLOR, linewidth=0.8)
                ax.axhline(yi, color="0.6", linewidth=0.6)
                labels.append(f"{h} m" + (f"\n{100 * zero:.0f}% at 0" if zero > 0 else ""))
            _references(ax, v0)
            ax.set_xscale("log")
            ax.set_xlim(low, high)
            amount_axis(ax.xaxis, log=True, max_ticks=7 if len(names) == 1 else 5)
            ax.set_yticks(y, labels, fontsize="small")
            ax.set_ylim(-0.15, len(horizons) - 0.05)
            ax.set_ylabel(f"horizon (tallest bar: {100 * tallest:.0f}% of paths)")
            ax.set_xlabel(f"valuation ({cur}, log scale)")
            ax.set_title(f"{company} (V0 {short_amount(v0, cur)})", fontsize="medium")
            ax.grid(True, axis="x", which="major", color="0.9", linewidth=0.6)
        handles = [Patch(facecolor=FAN_COLOR, alpha=0.45, label=f"histogram of the {n_kept:,} kept paths"),
                   *ref_handles]
        figure_legend(fig, handles, ncols=4)
        kept = f"the {ds.sizes['path']:,} kept paths" + (f" of {int(ds.attrs['paths']):,}" if "paths" in ds.attrs else "")
        suptitle(fig, ds, "valuation at each horizon, histogram", paths=kept)
        return fig

    fig = new_figure(panel_height(len(names), per_row=2.6, extra=1.5))
    axes = panel_grid(fig, len(names))
    any_floor = False
    for ax, company in zip(axes, names, strict=True):
        sel = ds.sel(company=company)
        v0 = float(sel["valuation_start"])
        vq = sel["valuation_quantile"].sel(month=horizons)
        q = {lv: quantile_at(vq, lv) for lv in (0.05, 0.10, 0.25, 0.5, 0.75, 0.90, 0.95)}
        floor = log_floor([*q.values(), [collapse_ratio * v0]])
        any_floor |= bool(np.any(q[0.05] <= 0))
        c = {lv: np.maximum(v, floor) for lv, v in q.items()}
        ax.hlines(y, c[0.05], c[0.95], color=FAN_COLOR, linewidth=1.2)
        for lv in (0.10, 0.90):
            ax.plot(c[lv], y, linestyle="none", marker="|", markersize=9, color=FAN_COLOR)
        ax.barh(y, c[0.75] - c[0.25], left=c[0.25], height=0.45, color=FAN_COLOR, alpha=0.30,
                edgecolor=FAN_COLOR, linewidth=1.0)
        ax.plot(c[0.5], y, linestyle="none", marker="|", markersize=16, markeredgewidth=3, color=FAN_COLOR)
        # A quantile of 0 has no place on the log axis: an arrow at the floor says "further left, to 0".
        zero_rows = y[q[0.05] <= 0]
        ax.plot(np.full(zero_rows.size, floor), zero_rows, linestyle="none", marker="<", markersize=7,
                color=FAN_COLOR, clip_on=True)
        _references(ax, v0)
        ax.set_xscale("log")
        ax.set_xlim(left=floor / 1.6)  # room for the arrows drawn at the floor
        amount_axis(ax.xaxis, log=True, max_ticks=7 if len(names) == 1 else 5)
        ax.set_yticks(y, [f"{h} m" for h in horizons])
        ax.set_ylim(-0.6, len(horizons) - 0.4)
        ax.set_ylabel("horizon")
        ax.set_xlabel(f"valuation ({cur}, log scale)")
        ax.set_title(f"{company}: V0 {short_amount(v0, cur)}", fontsize="medium")
        ax.grid(True, axis="x", which="major", color="0.9", linewidth=0.6)
    handles = [
        Line2D([], [], color=FAN_COLOR, marker="|", markersize=14, markeredgewidth=3, linestyle="none",
               label="median"),
        Patch(facecolor=FAN_COLOR, alpha=0.30, edgecolor=FAN_COLOR, label="25-75%"),
        Line2D([], [], color=FAN_COLOR, marker="|", markersize=8, label="5-95% (ticks: 10%, 90%)"),
        *ref_handles,
    ]
    if any_floor:
        handles.append(floor_note_handle(cur, marker="<"))
    figure_legend(fig, handles)
    suptitle(fig, ds, "valuation at each horizon, from quantiles")
    return fig


def survival_curve(ds: xr.Dataset, companies: Sequence[str] | None = None) -> Figure:
    """Share of paths in which each company has not failed, by month, with 95% Wilson bands.

    All companies on one axis, told apart by line style and marker.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result with ``survival`` and ``survival_ci``.
    companies : sequence of str, optional
        Which companies (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["survival", "survival_ci"], "the survival curve")
    names = companies_of(ds, companies)
    fig = new_figure(4.8)
    ax = fig.subplots()
    months = ds["month"].values
    lowest = 1.0
    handles = []
    for i, company in enumerate(names):
        style = SERIES_STYLE[i % len(SERIES_STYLE)]
        s = ds["survival"].sel(company=company).values
        ci = ds["survival_ci"].sel(company=company).values
        ax.fill_between(months, ci[:, 0], ci[:, 1], color=style["color"], alpha=0.2, linewidth=0)
        # Markers at staggered months so that overlapping curves still show every marker.
        step = max(1, len(months) // 8)
        ax.plot(months, s, color=style["color"], linestyle=style["linestyle"], linewidth=1.8,
                marker=style["marker"], markevery=(i * step // max(1, len(names)), step), markersize=5)
        handles.append(Line2D([], [], color=style["color"], linestyle=style["linestyle"],
                              marker=style["marker"], label=company))
        lowest = min(lowest, float(np.nanmin(ci[:, 0])))
    handles.append(Patch(facecolor="0.5", alpha=0.25, label="95% Wilson interval"))
    ax.set_ylim(max(0.0, lowest - 0.05 * (1.0 - lowest) - 0.01), 1.005)
    ax.set_xlim(months[0], months[-1])
    percent_axis(ax.yaxis, decimals=None)
    ax.xaxis.set_major_locator(month_locator())
    ax.set_xlabel("month")
    ax.set_ylabel("share of paths not failed")
    ax.grid(True, color="0.9", linewidth=0.6)
    figure_legend(fig, handles, ncols=min(len(handles), 5))
    suptitle(fig, ds, "survival, the share of paths not failed")
    return fig


def revenue_capacity(ds: xr.Dataset, companies: Sequence[str] | None = None) -> Figure:
    """Served revenue against compute capacity, and the gross margin, by month.

    One row per company: left, the median and 5-95% / 25-75% bands of
    ``revenue_quantile`` with the median and 5-95% band of ``capacity_quantile``
    (both annualised, log axis); right, the fan of ``gross_margin_quantile``.
    Capacity is infinite when the company's chips are disabled: it is then
    left out and the panel title says so.  Zero quantiles (failed paths) are
    drawn at the axis floor.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result with ``revenue_quantile``, ``capacity_quantile`` and
        ``gross_margin_quantile``.
    companies : sequence of str, optional
        Which companies (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["revenue_quantile", "capacity_quantile", "gross_margin_quantile"],
             "the revenue and capacity chart")
    names = companies_of(ds, companies)
    cur = currency_of(ds)
    fig = new_figure(1.5 + 3.0 * len(names))
    axes = fig.subplots(len(names), 2, squeeze=False, gridspec_kw={"width_ratios": [1.25, 1.0]})
    months = ds["month"].values
    any_floor = False
    any_unlimited = False
    for row, company in enumerate(names):
        ax, axm = axes[row]
        sel = ds.sel(company=company)
        rq, cq = sel["revenue_quantile"], sel["capacity_quantile"]
        r = fan_quantiles(rq)
        c = {lv: quantile_at(cq, lv) for lv in (0.05, 0.5, 0.95)}
        # Chips off: capacity is inf while alive and 0 after failure, never a finite amount.
        unlimited = not np.any(np.isfinite(cq.values) & (cq.values > 0))
        any_unlimited |= unlimited
        floor = log_floor([*r.values(), *([] if unlimited else c.values())])
        any_floor |= bool(np.any(r[0.05] <= 0))
        draw_fan(ax, months, r, floor=floor)
        if not unlimited:
            # Lines only, over the revenue bands (a hatched band hid them). A failed path has no cards: its
            # capacity of 0 is no "collapse" of the fleet, so a quantile at 0 is not drawn.
            finite = {lv: np.where(np.isfinite(v) & (v > 0), np.maximum(v, floor), np.nan) for lv, v in c.items()}
            ax.plot(months, finite[0.5], color=CAPACITY_COLOR, linestyle="--", linewidth=1.8, zorder=4)
            for lv in (0.05, 0.95):
                ax.plot(months, finite[lv], color=CAPACITY_COLOR, linestyle=":", linewidth=1.2, zorder=4)
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        amount_axis(ax.yaxis, log=True)
        ax.set_xlim(months[0], months[-1])
        ax.set_title(f"{company}: revenue vs capacity" + (" (capacity unlimited: chips off)" if unlimited else ""),
                     fontsize="medium")
        ax.set_ylabel(f"{cur}/year (log scale)")
        ax.grid(True, which="major", color="0.9", linewidth=0.6)

        g = fan_quantiles(sel["gross_margin_quantile"])
        draw_fan(axm, months, g, color="0.3", median_color="black")
        if np.nanmin(g[0.05]) < 0.0 < np.nanmax(g[0.95]):
            axm.axhline(0.0, color="0.5", linewidth=0.8)  # where the margin turns negative
        percent_axis(axm.yaxis, decimals=0)
        axm.set_xlim(months[0], months[-1])
        axm.set_title(f"{company}: gross margin", fontsize="medium")
        axm.set_ylabel("gross margin")
        axm.grid(True, color="0.9", linewidth=0.6)
        for a in (ax, axm):
            a.xaxis.set_major_locator(month_locator())
            a.set_xlabel("month")
    handles = [
        Line2D([], [], color=FAN_COLOR, linewidth=2.0, label="revenue: median"),
        Patch(facecolor=FAN_COLOR, alpha=0.40, label="revenue 25-75%"),
        Patch(facecolor=FAN_COLOR, alpha=0.18, label="revenue 5-95%"),
    ]
    if not _all_unlimited(ds, names):
        handles += [Line2D([], [], color=CAPACITY_COLOR, linestyle="--", linewidth=1.8, label="capacity: median"),
                    Line2D([], [], color=CAPACITY_COLOR, linestyle=":", linewidth=1.2,
                           label="capacity 5% / 95%")]
    handles += [Line2D([], [], color="black", linewidth=2.0, label="gross margin: median"),
                Patch(facecolor="0.3", alpha=0.40, label="margin 25-75%"),
                Patch(facecolor="0.3", alpha=0.18, label="margin 5-95%")]
    if any_floor:
        handles.append(floor_note_handle(cur))
    figure_legend(fig, handles, ncols=3)
    suptitle(fig, ds, "served revenue, compute capacity and gross margin")
    return fig


def _all_unlimited(ds: xr.Dataset, names: Sequence[str]) -> bool:
    """True when no company of ``names`` has a finite capacity (chips disabled everywhere)."""
    if "capacity_quantile" not in ds.variables:
        return True
    values = ds["capacity_quantile"].sel(company=list(names)).values
    return not bool(np.any(np.isfinite(values) & (values > 0)))


def valuation_decomposition(ds: xr.Dataset, companies: Sequence[str] | None = None) -> Figure:
    """The stated valuation at start split into fundamental value and narrative premium.

    Left: one stacked bar per company, the equity value (``fundamental_value``,
    dark, with its 95% interval) plus narrative premium (``narrative_premium``,
    hatched) = V0 (``valuation_start``), on a linear axis, labelled with the
    premium's share of V0; the business value (``business_value``, not floored,
    minus the money raised after the start) as a red circle with its 95%
    interval, left of zero when it is negative.  Right: the positive amounts per
    company on a log axis, where a fundamental value hundreds of times smaller
    than V0 is still visible with its interval.  A value <= 0 cannot be drawn
    on the log axis; its label says so.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result with ``valuation_start``, ``fundamental_value``,
        ``fundamental_value_ci`` and ``narrative_premium``.
    companies : sequence of str, optional
        Which companies (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["valuation_start", "fundamental_value", "fundamental_value_ci", "narrative_premium"],
             "the valuation decomposition")
    names = companies_of(ds, companies)
    cur = currency_of(ds)
    sel = ds.sel(company=names)
    v0 = sel["valuation_start"].values.astype(float)
    fv = sel["fundamental_value"].values.astype(float)
    ci = sel["fundamental_value_ci"].values.astype(float)
    premium = sel["narrative_premium"].values.astype(float)
    has_bv = "business_value" in sel
    bv = sel["business_value"].values.astype(float) if has_bv else np.full(len(names), np.nan)
    bv_ci = sel["business_value_ci"].values.astype(float) if has_bv else np.full((len(names), 2), np.nan)
    fig = new_figure(2.4 + 0.7 * len(names))
    ax, axl = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.0, 1.0]})
    y = np.arange(len(names))[::-1]  # first company on top
    fv_bar = np.maximum(fv, 0.0)
    ax.barh(y, fv_bar, 0.55, color="#17375e", edgecolor="0.2", linewidth=0.6)
    # The premium sits on top of the fundamental value so the bar ends at V0.
    ax.barh(y, v0 - fv_bar, 0.55, left=fv_bar, color="#f4c27a", hatch="//", edgecolor="0.3", linewidth=0.6)
    ax.errorbar(fv_bar, y, xerr=np.clip(np.stack([fv - ci[:, 0], ci[:, 1] - fv]), 0.0, None), fmt="none",
                ecolor="black", capsize=3)
    for yi, v, p in zip(y, v0, premium, strict=True):
        ax.annotate(f"{100 * p / v:.1f}%", (v, yi), xytext=(4, 0), textcoords="offset points",
                    ha="left", va="center", fontsize="small")
    if has_bv:
        ax.errorbar(bv, y, xerr=np.clip(np.stack([bv - bv_ci[:, 0], bv_ci[:, 1] - bv]), 0.0, None), fmt="o",
                    markersize=6, color="#b2182b", markerfacecolor="white", capsize=3)
    right = max(v0.max(), (fv_bar + premium).max()) * 1.22
    left = min(0.0, np.nanmin(bv_ci[:, 0]) * 1.15) if has_bv else 0.0
    ax.set_xlim(left, right)
    if left < 0:
        ax.axvline(0.0, color="0.4", linewidth=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    amount_axis(ax.xaxis, log=False)
    ax.set_yticks(y, names)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel(f"{cur} (label: premium as a share of V0)")
    ax.set_title("V0 = equity value + narrative premium", fontsize="medium")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)

    positive = fv > 0
    axl.plot(v0, y, linestyle="none", marker="s", markersize=8, color="black")
    low_err = fv - np.maximum(ci[:, 0], fv * 1e-3)  # a CI reaching <= 0 is cut on the log axis
    axl.errorbar(fv[positive], y[positive], xerr=np.clip(np.stack([low_err, ci[:, 1] - fv]), 0.0, None)[:, positive],
                 fmt="D", markersize=7, color="#17375e", capsize=4)
    bv_positive = has_bv & (bv > 0)
    if np.any(bv_positive):
        bv_low = bv - np.maximum(bv_ci[:, 0], bv * 1e-3)
        axl.errorbar(bv[bv_positive], y[bv_positive],
                     xerr=np.clip(np.stack([bv_low, bv_ci[:, 1] - bv]), 0.0, None)[:, bv_positive], fmt="o",
                     markersize=6, color="#b2182b", markerfacecolor="white", capsize=3)
    for yi, v in zip(y, v0, strict=True):  # V0 labelled as the fundamental values are, under its marker
        axl.annotate(f"V0 {short_amount(v)}", (v, yi), xytext=(0, -9), textcoords="offset points", ha="center",
                     va="top", fontsize="small")
    for yi, f, b in zip(y, fv, bv, strict=True):
        # Labels start at the panel's left edge so that long ones stay inside the figure.
        label = f"equity {short_amount(f)}" + ("" if f > 0 else " (not on a log axis)")
        if np.isfinite(b):
            label += f", business {short_amount(b)}" + ("" if b > 0 else " (left panel)")
        axl.annotate(label, (0.02, yi), xytext=(0, 7), textcoords="offset points",
                     xycoords=("axes fraction", "data"), ha="left", va="bottom", fontsize="small")
    axl.set_xscale("log")
    finite = np.concatenate([v0, fv[positive], ci[positive, 0][ci[positive, 0] > 0], bv[bv_positive]])
    axl.set_xlim(finite.min() / 4, finite.max() * 4)
    amount_axis(axl.xaxis, log=True)
    axl.tick_params(labelleft=False)
    axl.set_xlabel(f"{cur} (log scale)")
    axl.set_title("V0 and fundamental value on a log scale", fontsize="medium")
    axl.grid(True, axis="x", which="major", color="0.9", linewidth=0.6)
    handles = [Patch(facecolor="#17375e", edgecolor="0.2", label="equity value (Schwartz-Moon)"),
               Patch(facecolor="#f4c27a", hatch="//", edgecolor="0.3", label="narrative premium"),
               Line2D([], [], color="black", marker="s", linestyle="none", label="V0"),
               Line2D([], [], color="#17375e", marker="D", linestyle="-",
                      label="equity value, 95% CI")]
    if has_bv:
        handles.append(Line2D([], [], color="#b2182b", marker="o", markerfacecolor="white", linestyle="-",
                              label="business value, 95% CI"))
    figure_legend(fig, handles, ncols=3)
    suptitle(fig, ds, "fundamental value vs narrative premium at start")
    return fig


def any_champion(ds: xr.Dataset) -> Figure:
    """P(at least one champion) by horizon with its 95% interval, beside each company's P(champion).

    The "insurance" view of a sector run: backing several companies so that
    at least one becomes a champion.  Needs a run of two or more companies.

    Parameters
    ----------
    ds : xarray.Dataset
        A run result with ``any_champion``, ``any_champion_ci``, ``probability``
        and ``probability_ci``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["any_champion", "any_champion_ci", "probability", "probability_ci"],
             "the at-least-one-champion chart (a run of two or more companies)")
    fig = new_figure(4.8)
    ax = fig.subplots()
    horizons = ds["horizon"].values.astype(float)
    names = companies_of(ds, None)
    n = len(names) + 1
    offsets = (np.arange(n) - (n - 1) / 2) * 0.35  # months; keeps error bars from hiding each other
    p = ds["any_champion"].values
    ci = ds["any_champion_ci"].values
    ax.errorbar(horizons + offsets[0], p, yerr=np.clip(np.stack([p - ci[:, 0], ci[:, 1] - p]), 0, None),
                color="black", linewidth=2.5, marker="o", markersize=7, capsize=4,
                label="at least one champion")
    for i, company in enumerate(names):
        style = SERIES_STYLE[(i + 1) % len(SERIES_STYLE)]
        pc = ds["probability"].sel(company=company, outcome="champion").values
        cc = ds["probability_ci"].sel(company=company, outcome="champion").values
        ax.errorbar(horizons + offsets[i + 1], pc, yerr=np.clip(np.stack([pc - cc[:, 0], cc[:, 1] - pc]), 0, None),
                    color=style["color"], linestyle=style["linestyle"], marker=style["marker"], linewidth=1.2,
                    markersize=5, capsize=3, label=f"{company} champion")
    top = float(np.nanmax([np.nanmax(ci), np.nanmax(ds["probability_ci"].sel(outcome="champion").values)]))
    # Zoom to the data (champions can be rare) but keep 0 in view: these are probabilities.
    ax.set_ylim(0, min(1.02, max(0.002, top * 1.2)))
    percent_axis(ax.yaxis)
    ax.set_xticks(horizons, [f"{int(h)}" for h in horizons])
    ax.set_xlabel("horizon (months)")
    ax.set_ylabel("probability (95% Wilson interval)")
    ax.grid(True, color="0.9", linewidth=0.6)
    handles, _labels = ax.get_legend_handles_labels()
    figure_legend(fig, handles, ncols=3)
    suptitle(fig, ds, "P(at least one champion) by horizon")
    return fig


# --------------------------------------------------------------------------- study results


# --------------------------------------------------------------------------- sensitivity (more methods)


