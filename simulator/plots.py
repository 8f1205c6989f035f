"""Figures of a results Dataset, one function per figure type.

Every function takes a Dataset (as made by :func:`simulator.run` or read by
:func:`simulator.open_results`) and returns a :class:`matplotlib.figure.Figure`.
Figures are built with the object-oriented API on an Agg canvas, never through
``pyplot``: nothing is registered in pyplot's global figure list (no leaks in
long sessions, safe from threads) and no GUI backend is ever touched.

Conventions shared by all figures:

- width :data:`WIDTH` inches, saved at :data:`DPI` dots per inch (1200 px wide);
  the height grows with the number of panels and is ``fig.get_size_inches()[1]``;
- amounts are in the scenario currency with K/M/B/T suffixes
  (:func:`simulator.accessor.format_amount`), probabilities in percent;
- series differ in lightness, line style, marker and hatch, not in hue alone,
  so that figures stay readable in greyscale print;
- a Dataset without the variables a figure needs raises
  :class:`simulator.report.ReportError` (a ``ValueError``)
  with a one-line message naming them.

Run results (``simulator.run``): :func:`valuation_fan`, :func:`outcome_probabilities`,
:func:`valuation_distribution`, :func:`survival_curve`, :func:`revenue_capacity`,
:func:`valuation_decomposition`, :func:`any_champion`.  Study results, in the
shapes documented in each docstring: :func:`sweep_lines` (one swept key),
:func:`sweep_heatmap` (two or more), :func:`sensitivity_tornado`,
:func:`sensitivity_morris`, :func:`sensitivity_sobol`,
:func:`sensitivity_given_data`, :func:`attribution_shifts`, :func:`batch_summary`.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    Formatter,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
)

from simulator.accessor import format_amount
from simulator.report import ReportError

__all__ = [
    "DPI",
    "WIDTH",
    "ReportError",
    "ScaledTicks",
    "any_champion",
    "attribution_shifts",
    "batch_summary",
    "distribution_mode",
    "key_units",
    "label_decimals",
    "outcome_probabilities",
    "output_units",
    "revenue_capacity",
    "sensitivity_given_data",
    "sensitivity_morris",
    "sensitivity_sobol",
    "sensitivity_tornado",
    "survival_curve",
    "sweep_heatmap",
    "sweep_lines",
    "sweep_slice",
    "swept_dims",
    "tick_decimals",
    "valuation_decomposition",
    "valuation_distribution",
    "valuation_fan",
]

#: Resolution at which figures are saved (dots per inch).
DPI = 150
#: Width of every figure in inches (``WIDTH * DPI`` pixels).
WIDTH = 8.0

#: Outcome classes: dark / light / mid lightness plus a hatch each, so the three
#: stay apart in greyscale; champion is the darkest (the answer people look for).
OUTCOME_STYLE = {
    "champion": {"color": "#17375e", "hatch": "", "marker": "o", "linestyle": "-"},
    "contested": {"color": "#cfcfcf", "hatch": "..", "marker": "s", "linestyle": "--"},
    "collapse": {"color": "#d95f02", "hatch": "//", "marker": "^", "linestyle": ":"},
}

#: Series styles for companies drawn on one axis (Okabe-Ito colours, which are
#: colour-blind safe, each with its own line style and marker for greyscale).
SERIES_STYLE = [
    {"color": "#000000", "linestyle": "-", "marker": "o"},
    {"color": "#e69f00", "linestyle": "--", "marker": "s"},
    {"color": "#0072b2", "linestyle": "-.", "marker": "^"},
    {"color": "#009e73", "linestyle": ":", "marker": "D"},
    {"color": "#cc79a7", "linestyle": (0, (5, 1, 1, 1, 1, 1)), "marker": "v"},
    {"color": "#56b4e9", "linestyle": (0, (1, 1)), "marker": "P"},
    {"color": "#d55e00", "linestyle": (0, (8, 2)), "marker": "X"},
]

#: One hue for fan charts; the bands differ in lightness (alpha), the median is dark.
FAN_COLOR = "#1f4e79"
CAPACITY_COLOR = "#b35806"


# --------------------------------------------------------------------------- helpers


def _require(ds: xr.Dataset, names: Iterable[str], what: str) -> None:
    """Raise :class:`ReportError` naming every variable of ``names`` that ``ds`` lacks."""
    missing = [n for n in names if n not in ds.variables]
    if missing:
        label = ds.attrs.get("scenario_name", "the Dataset")
        raise ReportError(f"{what} needs variable(s) {', '.join(missing)}, missing from {label}")


def _currency(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("currency", "")) or "amount"


def _name(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("scenario_name", "results"))


def _paths_label(ds: xr.Dataset) -> str:
    paths = ds.attrs.get("paths")
    return f"{int(paths):,} paths" if paths is not None else ""


def _companies(ds: xr.Dataset, companies: Sequence[str] | None) -> list[str]:
    names = [str(c) for c in ds["company"].values] if "company" in ds.coords else []
    if companies is None:
        return names
    unknown = [c for c in companies if c not in names]
    if unknown:
        raise ReportError(f"no company named {', '.join(map(repr, unknown))} (have {', '.join(names)})")
    return list(companies)


def _new_figure(height: float, width: float = WIDTH) -> Figure:
    """A Figure on an Agg canvas with constrained layout (no overlapping text)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(fig: Figure, n: int, *, ncols: int = 2, sharex=False, sharey=False):
    """``n`` panels in rows of at most ``ncols``; returns the used axes, hides the rest."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


def _panel_height(n: int, ncols: int = 2, per_row: float = 3.2, extra: float = 1.2) -> float:
    return extra + per_row * math.ceil(n / max(1, min(ncols, n)))


def _short_amount(value: float, currency: str = "") -> str:
    """``format_amount`` without trailing zero decimals, for tick labels (``20B``, not ``20.0B``)."""
    text = format_amount(value, currency)
    text = re.sub(r"(\.\d*?)0+(?=[KMBT ]|$)", r"\1", text)  # 1.20T -> 1.2T, 20.0B -> 20.B
    return re.sub(r"\.(?=[KMBT ]|$)", "", text)  # 20.B -> 20B


_AMOUNT_FORMATTER = FuncFormatter(lambda x, _pos: _short_amount(x) if x > 0 else ("0" if x == 0 else
                                                                                    _short_amount(x)))


class _AmountLogLocator(LogLocator):
    """Decades on a log axis, plus 2 and 5 steps when the axis spans under 2.5 decades.

    Decided when the ticks are drawn, from the final view limits (autoscaling
    is lazy, so the limits at the time the axis is set up may still change).
    """

    def __init__(self, max_ticks: int) -> None:
        super().__init__(base=10.0, subs=(1.0,), numticks=max_ticks)

    def tick_values(self, vmin, vmax):
        low, high = sorted((float(vmin), float(vmax)))
        span = math.log10(high / low) if low > 0 and high > 0 else 10.0
        self._subs = np.array([1.0, 2.0, 5.0]) if span < 2.5 else np.array([1.0])
        return super().tick_values(vmin, vmax)


def _amount_axis(axis, *, log: bool, max_ticks: int = 7) -> None:
    """Tick labels with K/M/B/T suffixes on an amount axis (``ax.yaxis`` or ``ax.xaxis``).

    On a log axis spanning less than about two decades only 1-2 labelled ticks
    would remain, so 1-2-5 steps are labelled there too; over many decades at
    most ``max_ticks`` decades are labelled so that the labels do not collide.
    """
    if log:
        axis.set_major_locator(_AmountLogLocator(max_ticks))
        axis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 1.0, numticks=12))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(_AMOUNT_FORMATTER)


def _month_locator() -> MaxNLocator:
    """Whole months in steps of 1, 2, 3, 6 or 10 (x 10^k), at most 7 ticks (fits a half-width panel)."""
    return MaxNLocator(nbins=6, integer=True, steps=[1, 2, 3, 6, 10])


def _percent_axis(axis, decimals: int | None = None) -> None:
    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=decimals))


def tick_decimals(values: Iterable[float], *, scale: float = 100.0, most: int = 4) -> int:
    """Fewest decimals that write every value of ``values * scale`` exactly (at most ``most``).

    Tick locators put ticks on round steps (0.25%, 0.5%, ...), so "exactly"
    also means "no two ticks get the same label": whole percents would write
    0.25% and 0.5% as 0% and 0%.
    """
    vals = np.asarray([v for v in np.ravel(np.asarray(list(values), dtype=float)) if np.isfinite(v)]) * scale
    for d in range(most + 1):
        if np.all(np.abs(vals - np.round(vals, d)) < 10.0 ** -(d + 3)):
            return d
    return most


class ScaledTicks(Formatter):
    """Tick labels ``value * scale`` + ``suffix`` with the decimals the ticks need (see :func:`tick_decimals`).

    The decimals are chosen from all tick locations at once (``set_locs``), so
    the labels of one axis share one precision and none repeats.
    """

    def __init__(self, *, scale: float = 100.0, suffix: str = "%") -> None:
        self.scale = scale
        self.suffix = suffix
        self.decimals = 0

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        self.decimals = tick_decimals(locs, scale=self.scale)

    def __call__(self, x, pos=None) -> str:
        value = float(x) * self.scale
        if abs(value) < 0.5 * 10.0 ** -self.decimals:
            value = 0.0  # no "-0%"
        return f"{value:.{self.decimals}f}{self.suffix}"


def _percent_ticks(axis) -> None:
    """Percent tick labels with as many decimals as the ticks need (rare outcomes sit below 1%)."""
    axis.set_major_formatter(ScaledTicks())


def label_decimals(top: float) -> int:
    """Decimals of a percentage label for data reaching ``top`` (a probability): 0 from 10%, 1 from 1%, else 2.

    All zeros (``top`` 0) need no decimals either.
    """
    if not np.isfinite(top) or top >= 0.1 or top <= 0:
        return 0
    return 1 if top >= 0.01 else 2


def _wrap_path(path: str, width: int = 34) -> str:
    """A dotted path broken at its dots into lines of at most ``width`` characters (tick labels)."""
    lines: list[str] = []
    for piece in str(path).split("."):
        if lines and len(lines[-1]) + 1 + len(piece) <= width:
            lines[-1] += "." + piece
        else:
            lines.append(("." if lines else "") + piece)
    return "\n".join(lines)


def key_units(path: str, currency: str = "") -> str:
    """Units of a scenario key given by its dotted path (``cards/month``), or ``""`` if unknown.

    Walks the scenario schema (:mod:`simulator.config`) as the scenario
    reference does: array elements are named, a ``{mean, sd}`` jump and a
    ``[low, high]`` range take the units of their key.  ``{currency}`` is
    replaced by ``currency``.
    """
    from simulator import config
    from simulator.docs import _is_model, _item_model, _strip

    model = config.Scenario
    parts = str(path).split(".")
    i = 0
    units = ""
    while i < len(parts):
        field = model.model_fields.get(parts[i]) if model is not None else None
        if field is None:
            # Past a key with its own units: a jump's mean/sd or a range's low/high.
            return units.replace("{currency}", currency) if units and i == len(parts) - 1 else ""
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        units = str(extra.get("units", ""))
        annotation, _ = _strip(field.annotation)
        item = _item_model(annotation)
        if item is not None:
            model, i = item, i + 2  # skip the element's name
            continue
        model = annotation if _is_model(annotation) and annotation is not config.Jump else None
        i += 1
    return units.replace("{currency}", currency) if model is None else ""


def _key_label(ds: xr.Dataset, path: str) -> str:
    units = key_units(path, str(ds.attrs.get("currency", "")))
    return f"{path} ({units})" if units and units != "1" else path


def _q(da: xr.DataArray, level: float) -> np.ndarray:
    return np.asarray(da.sel(quantile=level, method="nearest").values, dtype=float)


def _scenario(ds: xr.Dataset) -> dict:
    try:
        return json.loads(ds.attrs.get("scenario_json", "{}"))
    except (TypeError, ValueError):
        return {}


def _outcome_ratios(ds: xr.Dataset) -> tuple[float, float]:
    """(champion, collapse) valuation ratios of the run (MODEL defaults if not recorded)."""
    out = _scenario(ds).get("outcomes", {})
    return (float(out.get("champion_valuation_ratio", 1.0)), float(out.get("collapse_valuation_ratio", 0.3)))


def _log_floor(values: Iterable[float]) -> float:
    """A lower limit for a log axis: a factor 3 below the smallest positive value."""
    arr = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values])
    pos = arr[np.isfinite(arr) & (arr > 0)]
    return float(pos.min()) / 3.0 if pos.size else 1.0


def _floor_note_handle(currency: str, marker: str = r"$\downarrow$") -> Line2D:
    return Line2D([], [], linestyle="none", marker=marker, color="0.3",
                  label=f"0 {currency} (failed paths) drawn at the axis floor")


def _figure_legend(fig: Figure, handles, *, ncols: int = 3) -> None:
    # Outside the panels, below them: constrained layout reserves the room.
    fig.legend(handles=handles, loc="outside lower center", ncols=min(ncols, len(handles)),
               fontsize="small", frameon=False)


def _suptitle(fig: Figure, ds: xr.Dataset, what: str) -> None:
    extra = _paths_label(ds)
    text = f"{_name(ds)}: {what}" + (f" ({extra})" if extra else "")
    # Constrained layout does not shrink a figure title: wrap it to the figure's width instead.
    width = int(fig.get_size_inches()[0] * 10.5)
    fig.suptitle(textwrap.fill(text, width=width), fontsize="large")


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
    _require(ds, ["valuation_quantile", "valuation_start", "fundamental_value", "fundamental_value_ci"],
             "the valuation fan chart")
    names = _companies(ds, companies)
    cur = _currency(ds)
    _, collapse_ratio = _outcome_ratios(ds)
    fig = _new_figure(_panel_height(len(names), per_row=3.4, extra=1.6))
    axes = _grid(fig, len(names))
    months = ds["month"].values
    any_floor = False
    fv_hidden = []
    for ax, company in zip(axes, names, strict=True):
        sel = ds.sel(company=company)
        vq = sel["valuation_quantile"]
        q = {lv: _q(vq, lv) for lv in (0.05, 0.25, 0.5, 0.75, 0.95)}
        v0 = float(sel["valuation_start"])
        fv = float(sel["fundamental_value"])
        fv_lo, fv_hi = (float(x) for x in sel["fundamental_value_ci"].values)
        floor = _log_floor([*q.values(), [v0, fv, fv_lo]])
        any_floor |= bool(np.any(q[0.05] <= 0))
        clip = {lv: np.maximum(v, floor) for lv, v in q.items()}
        ax.fill_between(months, clip[0.05], clip[0.95], color=FAN_COLOR, alpha=0.18, linewidth=0)
        ax.fill_between(months, clip[0.25], clip[0.75], color=FAN_COLOR, alpha=0.40, linewidth=0)
        ax.plot(months, clip[0.5], color=FAN_COLOR, linewidth=2.0)
        ax.axhline(v0, color="black", linestyle="--", linewidth=1.2)
        ax.axhline(collapse_ratio * v0, color="0.35", linestyle=(0, (1, 2)), linewidth=1.0)
        if fv > 0:
            ax.axhline(fv, color="#7f2704", linestyle="-.", linewidth=1.2)
            low_err = fv - max(fv_lo, floor)
            ax.errorbar([months[0]], [fv], yerr=[[max(low_err, 0.0)], [max(fv_hi - fv, 0.0)]],
                        fmt="D", color="#7f2704", markersize=5, capsize=4)
        else:
            fv_hidden.append(f"{company} {_short_amount(fv, cur)}")
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        _amount_axis(ax.yaxis, log=True)
        ax.set_title(f"{company} (V0 {_short_amount(v0)}, fundamental {_short_amount(fv)} {cur})",
                     fontsize="medium")
        ax.set_xlabel("month")
        ax.set_ylabel(f"valuation ({cur}, log scale)")
        ax.set_xlim(months[0], months[-1])
        ax.xaxis.set_major_locator(_month_locator())
        ax.grid(True, which="major", color="0.9", linewidth=0.6)
    handles = [
        Line2D([], [], color=FAN_COLOR, linewidth=2.0, label="median"),
        Patch(facecolor=FAN_COLOR, alpha=0.40, label="25-75%"),
        Patch(facecolor=FAN_COLOR, alpha=0.18, label="5-95%"),
        Line2D([], [], color="black", linestyle="--", label="valuation at start V0"),
        Line2D([], [], color="0.35", linestyle=(0, (1, 2)), label=f"collapse threshold {collapse_ratio:g} x V0"),
        Line2D([], [], color="#7f2704", linestyle="-.", marker="D",
               label="fundamental value at start (95% CI)"),
    ]
    if any_floor:
        handles.append(_floor_note_handle(cur))
    if fv_hidden:
        handles.append(Line2D([], [], linestyle="none",
                              label="fundamental value <= 0, not on log axis: " + ", ".join(fv_hidden)))
    _figure_legend(fig, handles)
    _suptitle(fig, ds, "market valuation over time")
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
    _require(ds, ["probability", "probability_ci"], "the outcome probability chart")
    names = _companies(ds, companies)
    fig = _new_figure(_panel_height(len(names), per_row=3.0, extra=1.3))
    axes = _grid(fig, len(names), sharey=True)
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
        _percent_axis(ax.yaxis, decimals=0)
        ax.set_title(company, fontsize="medium")
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(labelleft=True)
    handles = [Patch(facecolor=OUTCOME_STYLE.get(o, {}).get("color", "0.5"),
                     hatch=OUTCOME_STYLE.get(o, {}).get("hatch", ""), edgecolor="0.2", label=o)
               for o in outcomes]
    handles.append(Line2D([], [], color="black", marker="|", markersize=10, linestyle="none",
                          label="95% Wilson interval"))
    _figure_legend(fig, handles, ncols=4)
    _suptitle(fig, ds, "outcome probabilities by horizon")
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
    _require(ds, ["valuation_start", "path_valuation" if mode == "histogram" else "valuation_quantile"],
             "the valuation distribution")
    names = _companies(ds, companies)
    cur = _currency(ds)
    champion_ratio, collapse_ratio = _outcome_ratios(ds)
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
        fig = _new_figure(_panel_height(len(names), per_row=2.9, extra=1.5))
        axes = _grid(fig, len(names))
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
            _amount_axis(ax.xaxis, log=True, max_ticks=7 if len(names) == 1 else 5)
            ax.set_yticks(y, labels, fontsize="small")
            ax.set_ylim(-0.15, len(horizons) - 0.05)
            ax.set_ylabel(f"horizon (tallest bar: {100 * tallest:.0f}% of paths)")
            ax.set_xlabel(f"valuation ({cur}, log scale)")
            ax.set_title(f"{company} (V0 {_short_amount(v0, cur)})", fontsize="medium")
            ax.grid(True, axis="x", which="major", color="0.9", linewidth=0.6)
        handles = [Patch(facecolor=FAN_COLOR, alpha=0.45, label=f"histogram of the {n_kept:,} kept paths"),
                   *ref_handles]
        _figure_legend(fig, handles, ncols=4)
        _suptitle(fig, ds, "valuation at each horizon, histogram of kept paths")
        return fig

    fig = _new_figure(_panel_height(len(names), per_row=2.6, extra=1.5))
    axes = _grid(fig, len(names))
    any_floor = False
    for ax, company in zip(axes, names, strict=True):
        sel = ds.sel(company=company)
        v0 = float(sel["valuation_start"])
        vq = sel["valuation_quantile"].sel(month=horizons)
        q = {lv: _q(vq, lv) for lv in (0.05, 0.10, 0.25, 0.5, 0.75, 0.90, 0.95)}
        floor = _log_floor([*q.values(), [collapse_ratio * v0]])
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
        _amount_axis(ax.xaxis, log=True, max_ticks=7 if len(names) == 1 else 5)
        ax.set_yticks(y, [f"{h} m" for h in horizons])
        ax.set_ylim(-0.6, len(horizons) - 0.4)
        ax.set_ylabel("horizon")
        ax.set_xlabel(f"valuation ({cur}, log scale)")
        ax.set_title(f"{company}: V0 {_short_amount(v0, cur)}", fontsize="medium")
        ax.grid(True, axis="x", which="major", color="0.9", linewidth=0.6)
    handles = [
        Line2D([], [], color=FAN_COLOR, marker="|", markersize=14, markeredgewidth=3, linestyle="none",
               label="median"),
        Patch(facecolor=FAN_COLOR, alpha=0.30, edgecolor=FAN_COLOR, label="25-75%"),
        Line2D([], [], color=FAN_COLOR, marker="|", markersize=8, label="5-95% (ticks: 10%, 90%)"),
        *ref_handles,
    ]
    if any_floor:
        handles.append(_floor_note_handle(cur, marker="<"))
    _figure_legend(fig, handles)
    _suptitle(fig, ds, "valuation at each horizon, from quantiles")
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
    _require(ds, ["survival", "survival_ci"], "the survival curve")
    names = _companies(ds, companies)
    fig = _new_figure(4.8)
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
    _percent_axis(ax.yaxis, decimals=None)
    ax.xaxis.set_major_locator(_month_locator())
    ax.set_xlabel("month")
    ax.set_ylabel("share of paths not failed")
    ax.grid(True, color="0.9", linewidth=0.6)
    _figure_legend(fig, handles, ncols=min(len(handles), 5))
    _suptitle(fig, ds, "survival, the share of paths not failed")
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
    _require(ds, ["revenue_quantile", "capacity_quantile", "gross_margin_quantile"],
             "the revenue and capacity chart")
    names = _companies(ds, companies)
    cur = _currency(ds)
    fig = _new_figure(1.5 + 3.0 * len(names))
    axes = fig.subplots(len(names), 2, squeeze=False, gridspec_kw={"width_ratios": [1.25, 1.0]})
    months = ds["month"].values
    any_floor = False
    any_unlimited = False
    for row, company in enumerate(names):
        ax, axm = axes[row]
        sel = ds.sel(company=company)
        rq, cq = sel["revenue_quantile"], sel["capacity_quantile"]
        r = {lv: _q(rq, lv) for lv in (0.05, 0.25, 0.5, 0.75, 0.95)}
        c = {lv: _q(cq, lv) for lv in (0.05, 0.5, 0.95)}
        # Chips off: capacity is inf while alive and 0 after failure, never a finite amount.
        unlimited = not np.any(np.isfinite(cq.values) & (cq.values > 0))
        any_unlimited |= unlimited
        floor = _log_floor([*r.values(), *([] if unlimited else c.values())])
        any_floor |= bool(np.any(r[0.05] <= 0) or (not unlimited and np.any(c[0.05] <= 0)))
        ax.fill_between(months, np.maximum(r[0.05], floor), np.maximum(r[0.95], floor), color=FAN_COLOR,
                        alpha=0.18, linewidth=0)
        ax.fill_between(months, np.maximum(r[0.25], floor), np.maximum(r[0.75], floor), color=FAN_COLOR,
                        alpha=0.40, linewidth=0)
        ax.plot(months, np.maximum(r[0.5], floor), color=FAN_COLOR, linewidth=2.0)
        if not unlimited:
            finite = {lv: np.where(np.isfinite(v), np.maximum(v, floor), np.nan) for lv, v in c.items()}
            ax.fill_between(months, finite[0.05], finite[0.95], facecolor="none", edgecolor=CAPACITY_COLOR,
                            hatch="////", linewidth=0, alpha=0.6)
            ax.plot(months, finite[0.5], color=CAPACITY_COLOR, linestyle="--", linewidth=1.8)
            ax.plot(months, finite[0.05], color=CAPACITY_COLOR, linestyle=":", linewidth=0.8)
            ax.plot(months, finite[0.95], color=CAPACITY_COLOR, linestyle=":", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        _amount_axis(ax.yaxis, log=True)
        ax.set_xlim(months[0], months[-1])
        ax.set_title(f"{company}: revenue vs capacity" + (" (capacity unlimited: chips off)" if unlimited else ""),
                     fontsize="medium")
        ax.set_ylabel(f"{cur}/year (log scale)")
        ax.grid(True, which="major", color="0.9", linewidth=0.6)

        g = {lv: _q(sel["gross_margin_quantile"], lv) for lv in (0.05, 0.25, 0.5, 0.75, 0.95)}
        axm.fill_between(months, g[0.05], g[0.95], color="0.3", alpha=0.18, linewidth=0)
        axm.fill_between(months, g[0.25], g[0.75], color="0.3", alpha=0.40, linewidth=0)
        axm.plot(months, g[0.5], color="black", linewidth=2.0)
        if np.nanmin(g[0.05]) < 0.0 < np.nanmax(g[0.95]):
            axm.axhline(0.0, color="0.5", linewidth=0.8)  # where the margin turns negative
        _percent_axis(axm.yaxis, decimals=0)
        axm.set_xlim(months[0], months[-1])
        axm.set_title(f"{company}: gross margin", fontsize="medium")
        axm.set_ylabel("gross margin")
        axm.grid(True, color="0.9", linewidth=0.6)
        for a in (ax, axm):
            a.xaxis.set_major_locator(_month_locator())
            a.set_xlabel("month")
    handles = [
        Line2D([], [], color=FAN_COLOR, linewidth=2.0, label="revenue: median"),
        Patch(facecolor=FAN_COLOR, alpha=0.40, label="revenue 25-75%"),
        Patch(facecolor=FAN_COLOR, alpha=0.18, label="revenue 5-95%"),
    ]
    if not _all_unlimited(ds, names):
        handles += [Line2D([], [], color=CAPACITY_COLOR, linestyle="--", linewidth=1.8, label="capacity: median"),
                    Patch(facecolor="none", edgecolor=CAPACITY_COLOR, hatch="////", label="capacity 5-95%")]
    handles += [Line2D([], [], color="black", linewidth=2.0, label="gross margin: median"),
                Patch(facecolor="0.3", alpha=0.40, label="margin 25-75%"),
                Patch(facecolor="0.3", alpha=0.18, label="margin 5-95%")]
    if any_floor:
        handles.append(_floor_note_handle(cur))
    _figure_legend(fig, handles, ncols=4)
    _suptitle(fig, ds, "served revenue, compute capacity and gross margin")
    return fig


def _all_unlimited(ds: xr.Dataset, names: Sequence[str]) -> bool:
    """True when no company of ``names`` has a finite capacity (chips disabled everywhere)."""
    if "capacity_quantile" not in ds.variables:
        return True
    values = ds["capacity_quantile"].sel(company=list(names)).values
    return not bool(np.any(np.isfinite(values) & (values > 0)))


def valuation_decomposition(ds: xr.Dataset, companies: Sequence[str] | None = None) -> Figure:
    """The stated valuation at start split into fundamental value and narrative premium.

    Left: one stacked bar per company, fundamental value (``fundamental_value``,
    dark, with its 95% interval) plus narrative premium (``narrative_premium``,
    hatched) = V0 (``valuation_start``), on a linear axis, labelled with the
    premium's share of V0.  Right: the same two amounts per company on a log
    axis, where a fundamental value hundreds of times smaller than V0 is
    still visible with its interval.  A fundamental value <= 0 cannot be drawn
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
    _require(ds, ["valuation_start", "fundamental_value", "fundamental_value_ci", "narrative_premium"],
             "the valuation decomposition")
    names = _companies(ds, companies)
    cur = _currency(ds)
    sel = ds.sel(company=names)
    v0 = sel["valuation_start"].values.astype(float)
    fv = sel["fundamental_value"].values.astype(float)
    ci = sel["fundamental_value_ci"].values.astype(float)
    premium = sel["narrative_premium"].values.astype(float)
    fig = _new_figure(2.4 + 0.7 * len(names))
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
    ax.set_xlim(0, max(v0.max(), (fv_bar + premium).max()) * 1.22)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    _amount_axis(ax.xaxis, log=False)
    ax.set_yticks(y, names)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel(f"{cur} (label: premium as a share of V0)")
    ax.set_title("V0 = fundamental value + narrative premium", fontsize="medium")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)

    positive = fv > 0
    axl.plot(v0, y, linestyle="none", marker="s", markersize=8, color="black")
    low_err = fv - np.maximum(ci[:, 0], fv * 1e-3)  # a CI reaching <= 0 is cut on the log axis
    axl.errorbar(fv[positive], y[positive], xerr=np.clip(np.stack([low_err, ci[:, 1] - fv]), 0.0, None)[:, positive],
                 fmt="D", markersize=7, color="#17375e", capsize=4)
    for yi, f in zip(y, fv, strict=True):
        label = f"FV {_short_amount(f)}" if f > 0 else f"FV {_short_amount(f)}: <= 0, not on a log axis"
        axl.annotate(label, (f if f > 0 else 0.0, yi), xytext=(0, 7), textcoords="offset points",
                     xycoords=("data" if f > 0 else "axes fraction", "data"), ha="left" if f <= 0 else "center",
                     va="bottom", fontsize="small")
    axl.set_xscale("log")
    finite = np.concatenate([v0, fv[positive], ci[positive, 0][ci[positive, 0] > 0]])
    axl.set_xlim(finite.min() / 4, finite.max() * 4)
    _amount_axis(axl.xaxis, log=True)
    axl.tick_params(labelleft=False)
    axl.set_xlabel(f"{cur} (log scale)")
    axl.set_title("V0 and fundamental value on a log scale", fontsize="medium")
    axl.grid(True, axis="x", which="major", color="0.9", linewidth=0.6)
    handles = [Patch(facecolor="#17375e", edgecolor="0.2", label="fundamental value (Schwartz-Moon)"),
               Patch(facecolor="#f4c27a", hatch="//", edgecolor="0.3", label="narrative premium"),
               Line2D([], [], color="black", marker="s", linestyle="none", label="V0"),
               Line2D([], [], color="#17375e", marker="D", linestyle="-",
                      label="fundamental value, 95% CI")]
    _figure_legend(fig, handles, ncols=4)
    _suptitle(fig, ds, "fundamental value vs narrative premium at start")
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
    _require(ds, ["any_champion", "any_champion_ci", "probability", "probability_ci"],
             "the at-least-one-champion chart (a run of two or more companies)")
    fig = _new_figure(4.8)
    ax = fig.subplots()
    horizons = ds["horizon"].values.astype(float)
    names = _companies(ds, None)
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
    _percent_axis(ax.yaxis)
    ax.set_xticks(horizons, [f"{int(h)}" for h in horizons])
    ax.set_xlabel("horizon (months)")
    ax.set_ylabel("probability (95% Wilson interval)")
    ax.grid(True, color="0.9", linewidth=0.6)
    handles, _labels = ax.get_legend_handles_labels()
    _figure_legend(fig, handles, ncols=3)
    _suptitle(fig, ds, "P(at least one champion) by horizon")
    return fig


# --------------------------------------------------------------------------- study results


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
    _require(ds, ["low", "high", "base"], "the tornado chart")
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
    fig = _new_figure(1.6 + 0.42 * len(order))
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
            lv, hv = float(sub["low_value"].values[i]), float(sub["high_value"].values[i])
            text += f"\n[{lv:g} .. {hv:g}]"
        names.append(text)
    ax.set_yticks(y, names, fontsize="small")
    units = str(ds["low"].attrs.get("units", "")) or output_units(ds, label)
    if units == "1":
        _percent_axis(ax.xaxis)
    elif units and units == _currency(ds):
        _amount_axis(ax.xaxis, log=False)
    ax.set_xlabel(f"{label}" + (f" ({units})" if units not in ("", "1") else "") + f"; base {_fmt_num(base, units)}")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    handles, _labels = ax.get_legend_handles_labels()
    _figure_legend(fig, handles)
    _suptitle(fig, ds, f"one-at-a-time sensitivity of {label}")
    return fig


def _fmt_num(value: float, units: str) -> str:
    if units == "1":
        return f"{100 * value:.1f}%"
    if units and units.isalpha() and units.isupper():
        return _short_amount(value, units)
    return f"{value:.4g}"


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
    _require(ds, ["S1", "ST", "S1_conf", "ST_conf"], "the Sobol index chart")
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
    fig = _new_figure(1.6 + 0.45 * len(order))
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
    _figure_legend(fig, handles)
    _suptitle(fig, ds, f"Sobol indices of {label}")
    return fig


def swept_dims(ds: xr.Dataset) -> list[str]:
    """The swept keys of a sweep result: dimensions of ``probability`` other than company, horizon, outcome."""
    _require(ds, ["probability"], "a sweep result")
    return [str(d) for d in ds["probability"].dims if d not in ("company", "horizon", "outcome")]


def sweep_slice(ds: xr.Dataset, fixed: Mapping[str, float] | None = None) -> dict[str, float]:
    """Where a heatmap holds the swept keys after the first two: ``{path: value}``.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep result (see :func:`sweep_heatmap`).
    fixed : mapping, optional
        Values for some of those keys; each must be one of the swept values.
        Keys not given are held at their middle swept value (the lower middle
        for an even count).

    Returns
    -------
    dict
        One entry per swept key after the first two (empty for two keys).
    """
    swept = swept_dims(ds)
    fixed = dict(fixed or {})
    unknown = [k for k in fixed if k not in swept[2:]]
    if unknown:
        raise ReportError(f"cannot hold {', '.join(unknown)} fixed: the keys after the first two swept ones "
                          f"are {', '.join(swept[2:]) or 'none'}")
    where = {}
    for d in swept[2:]:
        values = np.asarray(ds[d].values, dtype=float)
        if d in fixed:
            hit = np.flatnonzero(np.isclose(values, float(fixed[d]), rtol=1e-9, atol=0.0))
            if not hit.size:
                raise ReportError(f"{d} = {float(fixed[d]):g} is not a swept value "
                                  f"({', '.join(f'{v:g}' for v in values)})")
            where[d] = float(values[hit[0]])
        else:
            where[d] = float(values[(len(values) - 1) // 2])
    return where


def _thin_ticks(n: int, most: int = 12) -> np.ndarray:
    """Indices of at most about ``most`` evenly spread tick positions out of ``n`` (labels must not collide)."""
    return np.arange(0, n, max(1, math.ceil(n / most)))


def sweep_heatmap(ds: xr.Dataset, *, company: str | None = None, horizon: int | None = None,
                  outcome: str = "champion", fixed: Mapping[str, float] | None = None) -> Figure:
    """Heatmap of an outcome probability over the first two keys of a sweep.

    Dataset shape (``simulator sweep`` with two or more ``--param``):
    ``probability`` over ``company``, ``horizon``, ``outcome`` and one more
    dimension per swept key, named by the key's dotted path with the swept
    values as its coordinate.  The first swept key is the y axis, the second
    the x axis; further keys are held at one value each (``fixed``, by default
    the middle swept value), which the figure states.  Each cell is labelled
    with its probability in percent (one or two decimals when the largest
    value is under 10% or 1%) when the grid has at most 12 x 12 cells; the
    colour bar's ticks carry as many decimals as they need, so no label repeats.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep result of the shape above.
    company : str, optional
        Default: the first company.
    horizon : int, optional
        Months; default: the last horizon.
    outcome : str
        ``champion`` (default), ``contested`` or ``collapse``.
    fixed : mapping, optional
        ``{path: value}`` for swept keys after the first two (see :func:`sweep_slice`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    swept = swept_dims(ds)
    if len(swept) < 2:
        raise ReportError(f"the sweep heatmap needs 2 or more swept dimensions on 'probability', found "
                          f"{len(swept)} ({', '.join(swept) or 'none'}); sweep_lines draws a one-key sweep")
    company = _companies(ds, [company])[0] if company else str(ds["company"].values[0])
    horizon = int(ds["horizon"].values[-1]) if horizon is None else int(horizon)
    where = sweep_slice(ds, fixed)
    p = ds["probability"].sel(company=company, horizon=horizon, outcome=outcome).sel(where).transpose(*swept[:2])
    yv, xv = (np.asarray(ds[d].values, dtype=float) for d in swept[:2])
    top = float(np.nanmax(p.values)) if np.any(np.isfinite(p.values)) else 0.0
    fig = _new_figure(5.8 if where else 5.6)
    ax = fig.subplots()
    # viridis: lightness rises monotonically, so the scale survives greyscale print. The scale
    # ends at the largest value, so rare outcomes (all below 1%) still show their pattern.
    mesh = ax.imshow(p.values, origin="lower", aspect="auto", cmap="viridis", vmin=0.0,
                     vmax=max(top, 1e-3), interpolation="nearest")
    xt, yt = _thin_ticks(len(xv)), _thin_ticks(len(yv), most=16)
    ax.set_xticks(xt, [f"{xv[i]:g}" for i in xt], rotation=45 if len(xt) > 6 else 0, fontsize="small")
    ax.set_yticks(yt, [f"{yv[i]:g}" for i in yt], fontsize="small")
    ax.set_xlabel(_key_label(ds, swept[1]))
    ax.set_ylabel(_key_label(ds, swept[0]))
    decimals = label_decimals(top)
    if len(xv) <= 12 and len(yv) <= 12:
        norm = mesh.norm
        for i in range(len(yv)):
            for j in range(len(xv)):
                val = float(p.values[i, j])
                if not np.isfinite(val):
                    continue
                shade = mesh.cmap(norm(val))
                lum = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
                ax.text(j, i, f"{100 * val:.{decimals}f}", ha="center", va="center", fontsize="x-small",
                        color="black" if lum > 0.5 else "white")
    if where:
        held = "; ".join(f"{k} = {v:g}" for k, v in where.items())
        ax.set_title(textwrap.fill(f"other swept keys held at: {held}", width=95),
                     fontsize="small")
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label(f"P({outcome}) at {horizon} months (cell labels in %)")
    bar.formatter = ScaledTicks()
    bar.update_ticks()
    what = "two-parameter" if len(swept) == 2 else f"{len(swept)}-parameter"
    _suptitle(fig, ds, f"P({outcome}) of {company} over a {what} sweep")
    return fig


def _is_log_grid(x: np.ndarray) -> bool:
    """True for three or more positive values evenly spaced in log but not linearly (a ``:log`` sweep)."""
    if x.size < 3 or np.any(x <= 0):
        return False
    ratios = x[1:] / x[:-1]
    diffs = np.diff(x)
    return bool(np.allclose(ratios, ratios[0], rtol=1e-6) and not np.allclose(diffs, diffs[0], rtol=1e-6))


def _scenario_value(ds: xr.Dataset, path: str) -> float | None:
    """The scenario's own value of a key (from ``scenario_json``), or None."""
    from simulator.report import _flatten_json

    value = _flatten_json(_scenario(ds)).get(path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def sweep_lines(ds: xr.Dataset, *, horizon: int | None = None, companies: Sequence[str] | None = None) -> Figure:
    """Outcome probabilities against the swept value of a one-key sweep, with 95% bands.

    Dataset shape (``simulator sweep`` with one ``--param``): ``probability``
    and ``probability_ci`` over the swept key's dimension (named by its dotted
    path, coordinate the swept values), ``company``, ``horizon``, ``outcome``
    (and ``bound``); optional ``champion_share`` and ``champion_share_ci``.
    One panel per outcome (plus the champion share when present), one line per
    company (line style and marker differ) with its 95% Wilson band.  The x
    axis is logarithmic for a ``LO:HI:N:log`` sweep; a dashed vertical line
    marks the scenario's own value of the key when it is known.

    Parameters
    ----------
    ds : xarray.Dataset
        A one-key sweep result of the shape above.
    horizon : int, optional
        Months; default: the last horizon.
    companies : sequence of str, optional
        Which companies (default: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(ds, ["probability", "probability_ci"], "the one-key sweep chart")
    swept = swept_dims(ds)
    if len(swept) != 1:
        raise ReportError(f"the one-key sweep chart needs exactly 1 swept dimension on 'probability', found "
                          f"{len(swept)} ({', '.join(swept) or 'none'}); sweep_heatmap draws 2 or more")
    key = swept[0]
    names = _companies(ds, companies)
    horizon = int(ds["horizon"].values[-1]) if horizon is None else int(horizon)
    x = np.asarray(ds[key].values, dtype=float)
    panels = [(f"P({o})", "probability", {"outcome": o}, "probability") for o in map(str, ds["outcome"].values)]
    if "champion_share" in ds.variables and "champion_share_ci" in ds.variables:
        panels.append(("champion share = P(champion) / P(decided)", "champion_share", {}, "share of decided paths"))
    fig = _new_figure(_panel_height(len(panels), per_row=3.0, extra=2.0))
    axes = _grid(fig, len(panels))
    base = _scenario_value(ds, key)
    step = max(1, math.ceil(x.size / 12))  # markers stay apart on long sweeps
    ncols = max(1, min(2, len(panels)))  # as _grid lays them out
    units = key_units(key, str(ds.attrs.get("currency", "")))
    xlabel = _wrap_path(key, width=40) + (f" ({units})" if units not in ("", "1") else "")
    for k, (ax, (title, var, sel, ylabel)) in enumerate(zip(axes, panels, strict=True)):
        top = 0.0
        for i, company in enumerate(names):
            style = SERIES_STYLE[i % len(SERIES_STYLE)]
            p = ds[var].sel(company=company, horizon=horizon, **sel).transpose(key).values.astype(float)
            ci = ds[f"{var}_ci"].sel(company=company, horizon=horizon, **sel).transpose(key, "bound").values
            ax.fill_between(x, ci[:, 0], ci[:, 1], color=style["color"], alpha=0.15, linewidth=0)
            # Earlier companies get larger markers: where lines coincide (all at 0%), the markers
            # nest instead of hiding each other.
            ax.plot(x, p, color=style["color"], linestyle=style["linestyle"], linewidth=1.8, label=company,
                    marker=style["marker"], markersize=4.0 + 1.5 * min(4, len(names) - 1 - i),
                    markevery=(i * step // max(1, len(names)), step))
            if np.any(np.isfinite(ci)):
                top = max(top, float(np.nanmax(ci)))
        if base is not None and x.min() <= base <= x.max():
            ax.axvline(base, color="0.4", linestyle="--", linewidth=1.0)
        # Zoom to the data (a champion can be rare) but keep 0 in view: these are probabilities.
        ax.set_ylim(0.0, min(1.02, max(0.005, top * 1.12)))
        _percent_ticks(ax.yaxis)
        if _is_log_grid(x):
            ax.set_xscale("log")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel(ylabel)
        if k + ncols >= len(panels):  # the lowest panel of its column carries the swept key's name
            ax.set_xlabel(xlabel, fontsize="small")
        ax.grid(True, color="0.9", linewidth=0.6)
    handles = [Line2D([], [], color=s["color"], linestyle=s["linestyle"], marker=s["marker"], label=c)
               for c, s in zip(names, (SERIES_STYLE[i % len(SERIES_STYLE)] for i in range(len(names))),
                               strict=True)]
    handles.append(Patch(facecolor="0.5", alpha=0.3, label="95% Wilson interval"))
    if base is not None and x.min() <= base <= x.max():
        handles.append(Line2D([], [], color="0.4", linestyle="--", label=f"scenario's value {base:g}"))
    _figure_legend(fig, handles, ncols=min(len(handles), 4))
    _suptitle(fig, ds, f"outcomes at {horizon} months against {key.split('.')[-1]}")
    return fig


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
    _require(ds, ["probability", "probability_ci"], "the batch summary chart")
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
    fig = _new_figure(1.8 + 0.38 * len(rows))
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
    _percent_axis(ax.xaxis, decimals=0)
    ax.set_xlabel(f"probability at {horizon} months (95% Wilson interval)")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    fig.legend(loc="outside lower center", ncols=len(outcomes), fontsize="small", frameon=False)
    fig.suptitle(f"scenarios side by side at {horizon} months", fontsize="large")
    return fig


# --------------------------------------------------------------------------- sensitivity (more methods)


def _select_output(ds: xr.Dataset, var: str, output: str | None) -> tuple[xr.Dataset, str]:
    """``ds`` at one output of its ``output`` dimension (default: the first) and that output's name."""
    label = str(ds.attrs.get("output", "output"))
    if "output" not in ds[var].dims:
        return ds, label
    names = [str(o) for o in ds["output"].values]
    label = output or names[0]
    if label not in names:
        raise ReportError(f"no output {label!r} (have {', '.join(names)})")
    return ds.sel(output=label), label


def output_units(ds: xr.Dataset, output: str) -> str:
    """Units of one output of a sensitivity result (``"1"``: a probability), ``""`` when not recorded."""
    try:
        units = json.loads(ds.attrs.get("output_units", "{}"))
    except (TypeError, ValueError):
        units = {}
    return str(units.get(output, ds.attrs.get("units", "")))


def _effect_axis(axis, units: str, currency: str) -> str:
    """Tick labels for changes of an output in ``units``; returns the unit text for the axis label."""
    if units == "1":
        axis.set_major_formatter(ScaledTicks(suffix=""))
        return "percentage points"
    if units and units == currency:
        _amount_axis(axis, log=False)
        return units
    return units or "output units"


def _rank_labels(params: Sequence[str], order: Sequence[int]) -> list[str]:
    return [f"{rank}. {_wrap_path(params[j])}" for rank, j in enumerate(order, start=1)]


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
    _require(ds, ["mu_star", "mu_star_conf", "sigma"], "the Morris chart")
    if "parameter" not in ds["mu_star"].dims:
        raise ReportError("the Morris chart needs 'mu_star' over a 'parameter' dimension")
    sub, label = _select_output(ds, "mu_star", output)
    units = output_units(ds, label)
    cur = _currency(ds)
    mu_star = sub["mu_star"].values.astype(float)
    conf = np.abs(sub["mu_star_conf"].values.astype(float))
    sigma = sub["sigma"].values.astype(float)
    params = [str(p) for p in sub["parameter"].values]
    order = list(np.argsort(-np.nan_to_num(mu_star, nan=-1.0), kind="stable")[:top])
    n = len(order)
    bar_height = 0.6 + 0.42 * n
    fig = _new_figure(1.6 + bar_height + 3.4)
    ax, axs = fig.subplots(2, 1, gridspec_kw={"height_ratios": [bar_height, 3.4]})
    y = np.arange(n)[::-1]  # rank 1 on top
    ax.barh(y, mu_star[order], 0.6, xerr=conf[order], color="#17375e", edgecolor="0.2",
            error_kw={"ecolor": "black", "capsize": 3})
    ax.set_yticks(y, _rank_labels(params, order), fontsize="small")
    ax.set_ylim(-0.6, n - 0.4)
    # An output that never moves (e.g. a champion probability of 0 everywhere) gives all-zero
    # effects: keep a visible scale (1 pp for probabilities) and say so instead of a blank chart.
    floor = 0.01 if units == "1" else 1.0
    widest = float(np.nanmax(mu_star[order] + conf[order], initial=0.0)) if n else 0.0
    all_zero = not widest > 0
    ax.set_xlim(0.0, widest * 1.08 if not all_zero else floor)
    unit_text = _effect_axis(ax.xaxis, units, cur)
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
    _effect_axis(axs.xaxis, units, cur)
    _effect_axis(axs.yaxis, units, cur)
    axs.set_xlabel(f"mu* ({unit_text}); points labelled by rank")
    axs.set_ylabel(f"sigma ({unit_text})")
    axs.grid(True, color="0.9", linewidth=0.6)
    handles = [Patch(facecolor="#17375e", edgecolor="0.2", label="mu* (mean |elementary effect|)"),
               Line2D([], [], color="black", marker="|", markersize=10, linestyle="none",
                      label="95% bootstrap interval"),
               Line2D([], [], color="0.5", linestyle="--", label="sigma = mu* (above: non-linear or interacting)")]
    _figure_legend(fig, handles)
    _suptitle(fig, ds, f"Morris screening of {label}")
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
    _require(ds, [v for spec in present for v in spec[1]], "the given-data chart")
    first = present[0][0]
    if "parameter" not in ds[first].dims:
        raise ReportError(f"the given-data chart needs '{first}' over a 'parameter' dimension")
    sub, label = _select_output(ds, first, output)
    params = [str(p) for p in sub["parameter"].values]
    order = list(np.argsort(-np.nan_to_num(sub[first].values.astype(float), nan=-np.inf), kind="stable")[:top])
    n = len(order)
    fig = _new_figure(2.2 + 0.45 * n)
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
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.set_title(textwrap.fill(title, width=max(18, int(60 / len(present)))), fontsize="medium")
        ax.set_xlabel("index (0: no influence)")
        ax.grid(True, axis="x", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[0].set_yticks(y, _rank_labels(params, order), fontsize="small")
    axes[0].set_ylim(-0.6, n - 0.4)
    handles = [Line2D([], [], color="black", marker="|", markersize=10, linestyle="-", linewidth=0.8,
                      label="95% bootstrap interval")]
    if any(len(spec[1]) == 2 for spec in present):
        handles.append(Line2D([], [], color="black", marker="|", markersize=10, linestyle="--", linewidth=0.8,
                              label="PAWN: smallest to largest KS distance over the slides"))
    _figure_legend(fig, handles, ncols=2)
    what = f"given-data sensitivity of {label}"
    if "explained_share" in sub.variables and np.isfinite(float(sub["explained_share"])):
        what += f"; the inputs explain {100 * float(sub['explained_share']):.1f}% of the per-path variance"
    if "samples" in ds.attrs:
        what += f" ({int(ds.attrs['samples']):,} paths of one run)"
    _suptitle(fig, ds, what)
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
    _require(ds, ["median_shift", "median_shift_ci", "subset_share"], "the attribution chart")
    company = _companies(ds, [company])[0] if company else str(ds["company"].values[0])
    horizon = int(ds["horizon"].values[-1]) if horizon is None else int(horizon)
    sub = ds.sel(company=company, horizon=horizon)
    outcomes = [str(o) for o in sub["outcome"].values]
    shift = sub["median_shift"].transpose("input", "outcome").values.astype(float)
    ci = sub["median_shift_ci"].transpose("input", "outcome", "bound").values.astype(float)
    inputs = [str(i) for i in sub["input"].values]
    score = np.nan_to_num(np.nanmax(np.abs(np.where(np.isfinite(shift), shift, 0.0)), axis=1), nan=-1.0)
    order = list(np.argsort(-score, kind="stable")[:top])
    n = len(order)
    fig = _new_figure(2.3 + 0.45 * n)
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
    axes[0].set_yticks(y, _rank_labels(inputs, order), fontsize="small")
    axes[0].set_ylim(-0.6, n - 0.4)
    handles = [Patch(facecolor=OUTCOME_STYLE.get(o, {}).get("color", "0.5"),
                     hatch=OUTCOME_STYLE.get(o, {}).get("hatch", ""), edgecolor="0.25", label=o) for o in outcomes]
    handles += [Line2D([], [], color="black", marker="|", markersize=10, linestyle="none",
                       label="95% interval (order statistics)"),
                Line2D([], [], color="0.45", linestyle=":", label="|shift| = 0.5 sd (notable)")]
    _figure_legend(fig, handles, ncols=5)
    _suptitle(fig, ds, f"inputs that drive the outcomes of {company} at {horizon} months: shift of each "
                       "input's median inside the outcome's paths")
    return fig
