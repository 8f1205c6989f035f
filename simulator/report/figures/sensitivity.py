"""Figures of sensitivity and attribution results: tornado, Morris, Sobol, given-data indices, median shifts.

May import: :mod:`simulator.errors`, :mod:`simulator.results` and :mod:`simulator.report.figures.common`.
"""

from __future__ import annotations

import textwrap

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    FuncFormatter,
    MaxNLocator,
)

from simulator.errors import ReportError
from simulator.model.parameters import parameter_units
from simulator.report.figures.common import (
    OUTCOME_STYLE,
    amount_axis,
    companies_of,
    currency_of,
    effect_axis,
    figure_legend,
    format_number,
    new_figure,
    output_units,
    percent_axis,
    rank_labels,
    require,
    select_output,
    suptitle,
)
from simulator.results.formatting import key_values_text

__all__ = [
    "GIVEN_DATA_INDICES",
    "attribution_shifts",
    "sensitivity_given_data",
    "sensitivity_morris",
    "sensitivity_sobol",
    "sensitivity_tornado",
]


def sensitivity_tornado(ds: xr.Dataset, output: str | None = None, *, top: int = 15) -> Figure:
    """Tornado chart of a one-at-a-time sensitivity result.

    Dataset shape (one-at-a-time swings, issue 4's ``--method oat``):

    - dimension ``parameter``, coordinate the dotted paths of the swung keys;
    - ``low``, ``high`` (``parameter`` [, ``output``]): the output with the
      parameter at the low / high end of its range;
    - ``base`` ([``output``]): the output at the scenario's values;
    - optional ``low_value``, ``high_value`` (``parameter``): the parameter
      values used, shown in the labels;
    - optional dimension ``output`` (names such as ``zhipu.champion@36``);
      ``attrs["output"]`` names the output when there is no such dimension;
    - ``low.attrs["units"]``: ``"1"`` draws the axis in percent, the
      scenario currency draws amounts.

    Bars are sorted by swing ``|high - low|``, largest on top; the low end
    is dark, the high end light and hatched.

    Parameters
    ----------
    ds : xarray.Dataset
        A sensitivity result of the shape above.
    output : str, optional
        Which output when there is an ``output`` dimension (default: the first).
    top : int
        Show at most this many parameters.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["low", "high", "base"], "the tornado chart")
    if "parameter" not in ds["low"].dims:
        raise ReportError("the tornado chart needs 'low' and 'high' over a 'parameter' dimension")
    sub = ds
    label = str(ds.attrs.get("output", ds["low"].attrs.get("long_name", "output")))
    if "output" in ds["low"].dims:
        label = output or str(ds["output"].values[0])
        sub = ds.sel(output=label)
    low = sub["low"].values.astype(float)
    high = sub["high"].values.astype(float)
    base = float(sub["base"])
    params = [str(p) for p in sub["parameter"].values]
    order = np.argsort(-np.abs(high - low), kind="stable")[:top][::-1]
    fig = new_figure(1.6 + 0.42 * len(order))
    ax = fig.subplots()
    y = np.arange(len(order))
    ax.barh(y, low[order] - base, left=base, height=0.6, color="#17375e", edgecolor="0.2",
            label="parameter at its low end")
    ax.barh(y, high[order] - base, left=base, height=0.6, color="#f4c27a", hatch="//", edgecolor="0.3",
            label="parameter at its high end")
    ax.axvline(base, color="black", linewidth=1.0)
    names = []
    for i in order:
        text = params[i]
        if "low_value" in sub.variables and "high_value" in sub.variables:
            cur = str(ds.attrs.get("currency", ""))
            lv, hv = key_values_text([float(sub["low_value"].values[i]), float(sub["high_value"].values[i])],
                                     parameter_units(params[i], cur), cur)
            text += f"\n[{lv} .. {hv}]"
        names.append(text)
    ax.set_yticks(y, names, fontsize="small")
    units = str(ds["low"].attrs.get("units", "")) or output_units(ds, label)
    if units == "1":
        percent_axis(ax.xaxis)
    elif units and units == currency_of(ds):
        amount_axis(ax.xaxis, log=False)
    ax.set_xlabel(f"{label}" + (f" ({units})" if units not in ("", "1") else "") + f"; base {format_number(base, units)}")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    handles, _labels = ax.get_legend_handles_labels()
    figure_legend(fig, handles)
    suptitle(fig, ds, f"one-at-a-time sensitivity of {label}")
    return fig


def sensitivity_sobol(ds: xr.Dataset, output: str | None = None, *, top: int = 15) -> Figure:
    """Sobol first-order and total indices per parameter, with their 95% intervals.

    Dataset shape (SALib's names, issue 4's ``--method sobol``):

    - dimension ``parameter``, coordinate the dotted paths;
    - ``S1``, ``ST`` (``parameter`` [, ``output``]): first-order and total
      indices;
    - ``S1_conf``, ``ST_conf`` (same dims): half-widths of their 95%
      bootstrap intervals;
    - optional dimension ``output`` as for :func:`sensitivity_tornado`.

    Parameters are sorted by total index, largest on top.

    Parameters
    ----------
    ds : xarray.Dataset
        A Sobol result of the shape above.
    output : str, optional
        Which output when there is an ``output`` dimension (default: the first).
    top : int
        Show at most this many parameters.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["S1", "ST", "S1_conf", "ST_conf"], "the Sobol index chart")
    if "parameter" not in ds["S1"].dims:
        raise ReportError("the Sobol index chart needs 'S1' and 'ST' over a 'parameter' dimension")
    sub = ds
    label = str(ds.attrs.get("output", "output"))
    if "output" in ds["S1"].dims:
        label = output or str(ds["output"].values[0])
        sub = ds.sel(output=label)
    s1, st = sub["S1"].values.astype(float), sub["ST"].values.astype(float)
    s1c, stc = sub["S1_conf"].values.astype(float), sub["ST_conf"].values.astype(float)
    params = [str(p) for p in sub["parameter"].values]
    order = np.argsort(-np.nan_to_num(st, nan=-1.0), kind="stable")[:top][::-1]
    fig = new_figure(1.6 + 0.45 * len(order))
    ax = fig.subplots()
    y = np.arange(len(order))
    h = 0.38
    ax.barh(y + h / 2, st[order], h, xerr=np.abs(stc[order]), color="#f4c27a", hatch="//", edgecolor="0.3",
            error_kw={"ecolor": "black", "capsize": 3}, label="total index ST")
    ax.barh(y - h / 2, s1[order], h, xerr=np.abs(s1c[order]), color="#17375e", edgecolor="0.2",
            error_kw={"ecolor": "black", "capsize": 3}, label="first-order index S1")
    ax.set_yticks(y, [params[i] for i in order], fontsize="small")
    ax.axvline(0.0, color="0.4", linewidth=0.8)
    ax.set_xlim(min(0.0, float(np.nanmin(s1 - np.abs(s1c)))) - 0.02,
                max(1.0, float(np.nanmax(st + np.abs(stc)))) + 0.02)
    ax.set_xlabel("Sobol index (share of output variance)")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    handles, _labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", marker="|", markersize=10, linestyle="none",
                          label="95% bootstrap interval"))
    figure_legend(fig, handles)
    suptitle(fig, ds, f"Sobol indices of {label}")
    return fig


def sensitivity_morris(ds: xr.Dataset, output: str | None = None, *, top: int = 15) -> Figure:
    """Morris screening: mu* with its 95% interval per key, and mu* against sigma.

    Dataset shape (SALib's names, ``simulator sensitivity --method morris``):
    dimension ``parameter`` (dotted paths); ``mu_star``, ``mu_star_conf``
    (half-width of its 95% bootstrap interval) and ``sigma`` over
    ``parameter`` [and ``output``]; optional ``attrs["output_units"]`` (JSON,
    ``"1"`` for probabilities, drawn in percentage points).  Effects are the
    change of the output per whole range of the key.

    Top: bars of mu*, largest on top, numbered by rank.  Bottom: each key at
    (mu*, sigma), labelled with its rank; keys above the dashed line
    sigma = mu* act non-linearly or through interactions, keys near the origin
    do not matter.

    Parameters
    ----------
    ds : xarray.Dataset
        A Morris result of the shape above.
    output : str, optional
        Which output when there is an ``output`` dimension (default: the first).
    top : int
        Show at most this many keys.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["mu_star", "mu_star_conf", "sigma"], "the Morris chart")
    if "parameter" not in ds["mu_star"].dims:
        raise ReportError("the Morris chart needs 'mu_star' over a 'parameter' dimension")
    sub, label = select_output(ds, "mu_star", output)
    units = output_units(ds, label)
    cur = currency_of(ds)
    mu_star = sub["mu_star"].values.astype(float)
    conf = np.abs(sub["mu_star_conf"].values.astype(float))
    sigma = sub["sigma"].values.astype(float)
    params = [str(p) for p in sub["parameter"].values]
    order = list(np.argsort(-np.nan_to_num(mu_star, nan=-1.0), kind="stable")[:top])
    n = len(order)
    bar_height = 0.6 + 0.42 * n
    fig = new_figure(1.6 + bar_height + 3.4)
    ax, axs = fig.subplots(2, 1, gridspec_kw={"height_ratios": [bar_height, 3.4]})
    y = np.arange(n)[::-1]  # rank 1 on top
    ax.barh(y, mu_star[order], 0.6, xerr=conf[order], color="#17375e", edgecolor="0.2",
            error_kw={"ecolor": "black", "capsize": 3})
    ax.set_yticks(y, rank_labels(params, order), fontsize="small")
    ax.set_ylim(-0.6, n - 0.4)
    # An output that never moves (e.g. a champion probability of 0 everywhere) gives all-zero
    # effects: keep a visible scale (1 pp for probabilities) and say so instead of a blank chart.
    floor = 0.01 if units == "1" else 1.0
    widest = float(np.nanmax(mu_star[order] + conf[order], initial=0.0)) if n else 0.0
    all_zero = not widest > 0
    ax.set_xlim(0.0, widest * 1.08 if not all_zero else floor)
    unit_text = effect_axis(ax.xaxis, units, cur)
    ax.set_xlabel(textwrap.fill(f"mu*: mean absolute change of {label} per whole range of the key "
                                f"({unit_text})", width=70))
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)

    finite = np.isfinite(mu_star) & np.isfinite(sigma)
    chosen = np.zeros(len(params), dtype=bool)
    chosen[order] = True
    xs, ss = mu_star[chosen & finite], sigma[chosen & finite]
    reach = max(float(np.max(xs, initial=0.0)), float(np.max(ss, initial=0.0))) or floor
    axs.plot([0.0, reach * 1.1], [0.0, reach * 1.1], color="0.5", linestyle="--", linewidth=1.0)
    axs.scatter(xs, ss, marker="o", s=36, color="#17375e", edgecolor="white", linewidth=0.6, zorder=3,
                clip_on=False)
    # Rank numbers beside the points; points within 4% of the axes of each other share one
    # label ("1, 3") instead of printing numbers on top of each other.
    x_span = (float(np.max(xs, initial=0.0)) or floor) * 1.15
    y_span = (float(np.max(ss, initial=0.0)) or floor) * 1.15
    groups: list[tuple[float, float, list[int]]] = []
    for rank, j in enumerate(order, start=1):
        if not finite[j]:
            continue
        for gx, gy, ranks in groups:
            if abs(mu_star[j] - gx) / x_span < 0.04 and abs(sigma[j] - gy) / y_span < 0.06:
                ranks.append(rank)
                break
        else:
            groups.append((float(mu_star[j]), float(sigma[j]), [rank]))
    for gx, gy, ranks in groups:
        axs.annotate(", ".join(map(str, ranks)), (gx, gy), xytext=(5, 4), textcoords="offset points",
                     fontsize="small")
    axs.set_xlim(0.0, x_span)
    axs.set_ylim(0.0, y_span)
    if all_zero:
        for a in (ax, axs):  # top left: clear of the sigma = mu* line
            a.text(0.03, 0.95, f"every elementary effect is 0: {label} does not move over these ranges",
                   transform=a.transAxes, ha="left", va="top", fontsize="small", color="0.3")
    effect_axis(axs.xaxis, units, cur)
    effect_axis(axs.yaxis, units, cur)
    axs.set_xlabel(f"mu* ({unit_text}); points labelled by rank")
    axs.set_ylabel(f"sigma ({unit_text})")
    axs.grid(True, color="0.9", linewidth=0.6)
    handles = [Patch(facecolor="#17375e", edgecolor="0.2", label="mu* (mean |elementary effect|)"),
               Line2D([], [], color="black", marker="|", markersize=10, linestyle="none",
                      label="95% bootstrap interval"),
               Line2D([], [], color="0.5", linestyle="--", label="sigma = mu* (above: non-linear or interacting)")]
    figure_legend(fig, handles)
    suptitle(fig, ds, f"Morris screening of {label}")
    return fig


#: Given-data indices drawn by :func:`sensitivity_given_data`: (variable, interval variable(s), title, style).
GIVEN_DATA_INDICES = (
    ("rbd_fast_S1", ("rbd_fast_S1_conf",), "RBD-FAST first-order index S1", {"color": "#17375e", "hatch": ""}),
    ("delta", ("delta_conf",), "Borgonovo's delta", {"color": "#f4c27a", "hatch": "//"}),
    ("pawn_median", ("pawn_minimum", "pawn_maximum"), "PAWN index (median KS distance)",
     {"color": "#9ecae1", "hatch": ".."}),
)


def sensitivity_given_data(ds: xr.Dataset, output: str | None = None, *, top: int = 15) -> Figure:
    """Given-data sensitivity indices per uncertain input, one panel per method, with intervals.

    Dataset shape (``simulator sensitivity --method rbd-fast|delta|pawn|given-data``):
    dimension ``parameter`` (dotted paths of the uncertain inputs) [and
    ``output``]; any of ``rbd_fast_S1`` with ``rbd_fast_S1_conf``, ``delta``
    with ``delta_conf`` (half-widths of 95% bootstrap intervals) and
    ``pawn_median`` with ``pawn_minimum`` and ``pawn_maximum`` (drawn as the
    range over the slides, dashed: PAWN gives no interval); optional
    ``explained_share`` (``output``).  Inputs are ranked by the first index
    present, best on top; panels share that order.

    Parameters
    ----------
    ds : xarray.Dataset
        A given-data result of the shape above.
    output : str, optional
        Which output when there is an ``output`` dimension (default: the first).
    top : int
        Show at most this many inputs.

    Returns
    -------
    matplotlib.figure.Figure
    """
    present = [spec for spec in GIVEN_DATA_INDICES if spec[0] in ds.variables]
    if not present:
        raise ReportError("the given-data chart needs variable(s) rbd_fast_S1, delta or pawn_median, missing "
                          f"from {ds.attrs.get('scenario_name', 'the Dataset')}")
    require(ds, [v for spec in present for v in spec[1]], "the given-data chart")
    first = present[0][0]
    if "parameter" not in ds[first].dims:
        raise ReportError(f"the given-data chart needs '{first}' over a 'parameter' dimension")
    sub, label = select_output(ds, first, output)
    params = [str(p) for p in sub["parameter"].values]
    order = list(np.argsort(-np.nan_to_num(sub[first].values.astype(float), nan=-np.inf), kind="stable")[:top])
    n = len(order)
    fig = new_figure(2.2 + 0.45 * n)
    axes = fig.subplots(1, len(present), sharey=True, squeeze=False)[0]
    y = np.arange(n)[::-1]
    for ax, (var, interval, title, style) in zip(axes, present, strict=True):
        v = sub[var].values.astype(float)[order]
        ax.barh(y, v, 0.6, color=style["color"], hatch=style["hatch"], edgecolor="0.25", linewidth=0.6)
        if len(interval) == 1:
            err = np.abs(sub[interval[0]].values.astype(float)[order])
            ax.errorbar(v, y, xerr=err, fmt="none", ecolor="black", capsize=3)
            lows, highs = v - err, v + err
        else:
            lows = sub[interval[0]].values.astype(float)[order]
            highs = sub[interval[1]].values.astype(float)[order]
            bars = ax.errorbar(v, y, xerr=np.clip(np.stack([v - lows, highs - v]), 0.0, None), fmt="none",
                               ecolor="black", capsize=3)
            for line in bars.lines[2]:
                line.set_linestyle("--")
        ax.axvline(0.0, color="0.4", linewidth=0.8)
        low = min(0.0, float(np.nanmin(lows, initial=0.0)))
        high = max(float(np.nanmax(highs, initial=0.0)), float(np.nanmax(v, initial=0.0)), 1e-3)
        ax.set_xlim(low - 0.05 * (high - low), high + 0.08 * (high - low))
        # Three-panel widths: at most 3 ticks and no trailing zeros, or neighbouring labels run together.
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}" if abs(v) > 1e-12 else "0"))
        ax.set_title(textwrap.fill(title, width=max(18, int(60 / len(present)))), fontsize="medium")
        ax.set_xlabel("index (0: no influence)")
        ax.grid(True, axis="x", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[0].set_yticks(y, rank_labels(params, order), fontsize="small")
    axes[0].set_ylim(-0.6, n - 0.4)
    handles = [Line2D([], [], color="black", marker="|", markersize=10, linestyle="-", linewidth=0.8,
                      label="95% bootstrap interval")]
    if any(len(spec[1]) == 2 for spec in present):
        handles.append(Line2D([], [], color="black", marker="|", markersize=10, linestyle="--", linewidth=0.8,
                              label="PAWN: smallest to largest KS distance over the slides"))
    figure_legend(fig, handles, ncols=2)
    what = f"given-data sensitivity of {label}"
    if "explained_share" in sub.variables and np.isfinite(float(sub["explained_share"])):
        what += f"; the inputs explain {100 * float(sub['explained_share']):.1f}% of the per-path variance"
    if "samples" in ds.attrs:
        what += f" ({int(ds.attrs['samples']):,} paths of one run)"
    suptitle(fig, ds, what)
    return fig


def attribution_shifts(ds: xr.Dataset, *, company: str | None = None, horizon: int | None = None,
                       top: int = 15) -> Figure:
    """Which uncertain inputs drive each outcome: median shifts with 95% intervals, one panel per outcome.

    Dataset shape (``simulator attribute --out``): ``median_shift`` and
    ``median_shift_ci`` (``input``, ``company``, ``horizon``, ``outcome`` [,
    ``bound``]): the shift of each input's median inside the paths with the
    outcome, in standard deviations of the input; ``subset_share``
    (``company``, ``horizon``, ``outcome``).  Dotted lines at +-0.5 mark what
    @RISK calls a notable shift.  Inputs are sorted by their largest |shift|
    over the outcomes, largest on top.

    Parameters
    ----------
    ds : xarray.Dataset
        An attribution result of the shape above.
    company : str, optional
        Default: the first company.
    horizon : int, optional
        Months; default: the last horizon.
    top : int
        Show at most this many inputs.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require(ds, ["median_shift", "median_shift_ci", "subset_share"], "the attribution chart")
    company = companies_of(ds, [company])[0] if company else str(ds["company"].values[0])
    horizon = int(ds["horizon"].values[-1]) if horizon is None else int(horizon)
    sub = ds.sel(company=company, horizon=horizon)
    outcomes = [str(o) for o in sub["outcome"].values]
    shift = sub["median_shift"].transpose("input", "outcome").values.astype(float)
    ci = sub["median_shift_ci"].transpose("input", "outcome", "bound").values.astype(float)
    inputs = [str(i) for i in sub["input"].values]
    score = np.nan_to_num(np.nanmax(np.abs(np.where(np.isfinite(shift), shift, 0.0)), axis=1), nan=-1.0)
    order = list(np.argsort(-score, kind="stable")[:top])
    n = len(order)
    fig = new_figure(2.3 + 0.45 * n)
    axes = fig.subplots(1, len(outcomes), sharey=True, squeeze=False)[0]
    y = np.arange(n)[::-1]
    reach = max(0.6, float(np.nanmax(np.abs(ci[order]), initial=0.0)) if np.any(np.isfinite(ci[order])) else 0.6)
    for k, (ax, outcome) in enumerate(zip(axes, outcomes, strict=True)):
        style = OUTCOME_STYLE.get(outcome, {"color": "0.5", "hatch": ""})
        s = shift[order, k]
        c = ci[order, k]
        ax.barh(y, np.nan_to_num(s), 0.6, color=style["color"], hatch=style["hatch"], edgecolor="0.25",
                linewidth=0.6)
        ok = np.isfinite(s)
        ax.errorbar(s[ok], y[ok], xerr=np.clip(np.stack([s[ok] - c[ok, 0], c[ok, 1] - s[ok]]), 0.0, None),
                    fmt="none", ecolor="black", capsize=3)
        ax.axvline(0.0, color="0.3", linewidth=0.8)
        for edge in (-0.5, 0.5):
            ax.axvline(edge, color="0.45", linestyle=":", linewidth=1.0)
        share = float(sub["subset_share"].sel(outcome=outcome))
        if not np.any(ok):
            ax.text(0.5, 0.5, "no paths with\nthis outcome", transform=ax.transAxes, ha="center", va="center",
                    fontsize="small", color="0.3")
        ax.set_title(f"{outcome}\n({100 * share:.1f}% of paths)", fontsize="medium")
        ax.set_xlim(-reach * 1.1, reach * 1.1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, symmetric=True))
        ax.set_xlabel("median shift (sd)")
        ax.grid(True, axis="x", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[0].set_yticks(y, rank_labels(inputs, order), fontsize="small")
    axes[0].set_ylim(-0.6, n - 0.4)
    handles = [Patch(facecolor=OUTCOME_STYLE.get(o, {}).get("color", "0.5"),
                     hatch=OUTCOME_STYLE.get(o, {}).get("hatch", ""), edgecolor="0.25", label=o) for o in outcomes]
    handles += [Line2D([], [], color="black", marker="|", markersize=10, linestyle="none",
                       label="95% interval (order statistics)"),
                Line2D([], [], color="0.45", linestyle=":", label="|shift| = 0.5 sd (notable)")]
    figure_legend(fig, handles, ncols=5)
    suptitle(fig, ds, f"inputs that drive the outcomes of {company} at {horizon} months: shift of each "
                       "input's median inside the outcome's paths")
    return fig
