"""Figures of sweeps: lines for one swept key, heatmaps for two or more.

May import: :mod:`simulator.errors`, :mod:`simulator.results` and :mod:`simulator.report.figures.common`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from simulator.errors import ReportError
from simulator.model.parameters import parameter_units
from simulator.report.figures.common import (
    SERIES_STYLE,
    ScaledTicks,
    companies_of,
    figure_legend,
    key_label,
    label_decimals,
    new_figure,
    panel_grid,
    panel_height,
    percent_ticks,
    require,
    scenario_data,
    suptitle,
    wrap_path,
)
from simulator.results.formatting import key_values_text

__all__ = ["sweep_heatmap", "sweep_lines", "sweep_slice", "swept_dims"]


def swept_dims(ds: xr.Dataset) -> list[str]:
    """The swept keys of a sweep result: dimensions of ``probability`` other than company, horizon, outcome."""
    require(ds, ["probability"], "a sweep result")
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
    company = companies_of(ds, [company])[0] if company else str(ds["company"].values[0])
    horizon = int(ds["horizon"].values[-1]) if horizon is None else int(horizon)
    where = sweep_slice(ds, fixed)
    p = ds["probability"].sel(company=company, horizon=horizon, outcome=outcome).sel(where).transpose(*swept[:2])
    yv, xv = (np.asarray(ds[d].values, dtype=float) for d in swept[:2])
    top = float(np.nanmax(p.values)) if np.any(np.isfinite(p.values)) else 0.0
    fig = new_figure(5.8 if where else 5.6)
    ax = fig.subplots()
    # viridis: lightness rises monotonically, so the scale survives greyscale print. The scale
    # ends at the largest value, so rare outcomes (all below 1%) still show their pattern.
    mesh = ax.imshow(p.values, origin="lower", aspect="auto", cmap="viridis", vmin=0.0,
                     vmax=max(top, 1e-3), interpolation="nearest")
    xt, yt = _thin_ticks(len(xv)), _thin_ticks(len(yv), most=16)
    # Each key's values in its natural format (amounts with a suffix; 667, not 666.667).
    cur = str(ds.attrs.get("currency", ""))
    xtext, ytext = (key_values_text(v, parameter_units(d, cur), cur) for v, d in ((xv, swept[1]), (yv, swept[0])))
    ax.set_xticks(xt, [xtext[i] for i in xt], rotation=45 if len(xt) > 6 else 0, fontsize="small")
    ax.set_yticks(yt, [ytext[i] for i in yt], fontsize="small")
    ax.set_xlabel(key_label(ds, swept[1]))
    ax.set_ylabel(key_label(ds, swept[0]))
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
        held = "; ".join(f"{k} = {key_values_text([v], parameter_units(k, cur), cur)[0]}" for k, v in where.items())
        ax.set_title(textwrap.fill(f"other swept keys held at: {held}", width=95),
                     fontsize="small")
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label(f"P({outcome}) at {horizon} months (cell labels in %)")
    bar.formatter = ScaledTicks()
    bar.update_ticks()
    what = "two-parameter" if len(swept) == 2 else f"{len(swept)}-parameter"
    suptitle(fig, ds, f"P({outcome}) of {company} over a {what} sweep")
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
    from simulator.report.figures.common import flatten_json

    value = flatten_json(scenario_data(ds)).get(path)
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
    require(ds, ["probability", "probability_ci"], "the one-key sweep chart")
    swept = swept_dims(ds)
    if len(swept) != 1:
        raise ReportError(f"the one-key sweep chart needs exactly 1 swept dimension on 'probability', found "
                          f"{len(swept)} ({', '.join(swept) or 'none'}); sweep_heatmap draws 2 or more")
    key = swept[0]
    names = companies_of(ds, companies)
    horizon = int(ds["horizon"].values[-1]) if horizon is None else int(horizon)
    x = np.asarray(ds[key].values, dtype=float)
    panels = [(f"P({o})", "probability", {"outcome": o}, "probability") for o in map(str, ds["outcome"].values)]
    if "champion_share" in ds.variables and "champion_share_ci" in ds.variables:
        panels.append(("champion share = P(champion) / P(decided)", "champion_share", {}, "share of decided paths"))
    fig = new_figure(panel_height(len(panels), per_row=3.0, extra=2.0))
    axes = panel_grid(fig, len(panels))
    base = _scenario_value(ds, key)
    step = max(1, math.ceil(x.size / 12))  # markers stay apart on long sweeps
    ncols = max(1, min(2, len(panels)))  # as panel_grid lays them out
    units = parameter_units(key, str(ds.attrs.get("currency", "")))
    xlabel = wrap_path(key, width=40) + (f" ({units})" if units not in ("", "1") else "")
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
        percent_ticks(ax.yaxis)
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
        base_text = key_values_text([base], units, str(ds.attrs.get("currency", "")))[0]
        handles.append(Line2D([], [], color="0.4", linestyle="--", label=f"scenario's value {base_text}"))
    figure_legend(fig, handles, ncols=min(len(handles), 4))
    suptitle(fig, ds, f"outcomes at {horizon} months against {key.split('.')[-1]}")
    return fig
