"""What every figure shares: sizes, styles (readable in greyscale), axes for amounts and percentages.

Figures are built with the object-oriented API on an Agg canvas, never through
``pyplot``: nothing is registered in pyplot's global figure list (no leaks in
long sessions, safe from threads) and no GUI backend is ever touched.

May import: :mod:`simulator.errors`, :mod:`simulator.model` and :mod:`simulator.results`.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Iterable, Sequence

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import (
    Formatter,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
)

from simulator.errors import ReportError
from simulator.model.parameters import parameter_units
from simulator.model.schema import Effects
from simulator.results.formatting import format_amount

__all__ = [
    "AMOUNT_FORMATTER",
    "CAPACITY_COLOR",
    "DIRECT_EFFECTS",
    "DPI",
    "FAN_COLOR",
    "FAN_LEVELS",
    "OUTCOME_STYLE",
    "SERIES_STYLE",
    "WIDTH",
    "AmountLogLocator",
    "ScaledTicks",
    "amount_axis",
    "companies_of",
    "currency_of",
    "draw_fan",
    "effect_axis",
    "fan_quantiles",
    "figure_legend",
    "flatten_json",
    "floor_note_handle",
    "format_number",
    "key_label",
    "label_decimals",
    "log_floor",
    "month_locator",
    "new_figure",
    "outcome_ratios",
    "output_units",
    "panel_grid",
    "panel_height",
    "paths_label",
    "percent_axis",
    "percent_ticks",
    "quantile_at",
    "rank_labels",
    "require",
    "scenario_data",
    "scenario_name",
    "select_output",
    "short_amount",
    "suptitle",
    "tick_decimals",
    "wrap_path",
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


def require(ds: xr.Dataset, names: Iterable[str], what: str) -> None:
    """Raise :class:`ReportError` naming every variable of ``names`` that ``ds`` lacks."""
    missing = [n for n in names if n not in ds.variables]
    if missing:
        label = ds.attrs.get("scenario_name", "the Dataset")
        raise ReportError(f"{what} needs variable(s) {', '.join(missing)}, missing from {label}")


def currency_of(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("currency", "")) or "amount"


def scenario_name(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("scenario_name", "results"))


def paths_label(ds: xr.Dataset) -> str:
    paths = ds.attrs.get("paths")
    return f"{int(paths):,} paths" if paths is not None else ""


def companies_of(ds: xr.Dataset, companies: Sequence[str] | None) -> list[str]:
    names = [str(c) for c in ds["company"].values] if "company" in ds.coords else []
    if companies is None:
        return names
    unknown = [c for c in companies if c not in names]
    if unknown:
        raise ReportError(f"no company named {', '.join(map(repr, unknown))} (have {', '.join(names)})")
    return list(companies)


class NotebookFigure(Figure):
    """A Figure that shows itself in a notebook (Jupyter asks for ``_repr_png_``), pyplot or not."""

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        return buffer.getvalue()


def new_figure(height: float, width: float = WIDTH) -> Figure:
    """A Figure on an Agg canvas with constrained layout (no overlapping text); it shows inline in a notebook."""
    fig = NotebookFigure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def panel_grid(fig: Figure, n: int, *, ncols: int = 2, sharex=False, sharey=False):
    """``n`` panels in rows of at most ``ncols``; returns the used axes, hides the rest."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


def panel_height(n: int, ncols: int = 2, per_row: float = 3.2, extra: float = 1.2) -> float:
    return extra + per_row * math.ceil(n / max(1, min(ncols, n)))


def short_amount(value: float, currency: str = "") -> str:
    """``format_amount`` without trailing zero decimals, for tick labels (``20B``, not ``20.0B``)."""
    text = format_amount(value, currency)
    text = re.sub(r"(\.\d*?)0+(?=[KMBT ]|$)", r"\1", text)  # 1.20T -> 1.2T, 20.0B -> 20.B
    return re.sub(r"\.(?=[KMBT ]|$)", "", text)  # 20.B -> 20B


AMOUNT_FORMATTER = FuncFormatter(lambda x, _pos: short_amount(x) if x > 0 else ("0" if x == 0 else
                                                                                    short_amount(x)))


class AmountLogLocator(LogLocator):
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


def amount_axis(axis, *, log: bool, max_ticks: int = 7) -> None:
    """Tick labels with K/M/B/T suffixes on an amount axis (``ax.yaxis`` or ``ax.xaxis``).

    On a log axis spanning less than about two decades only 1-2 labelled ticks
    would remain, so 1-2-5 steps are labelled there too; over many decades at
    most ``max_ticks`` decades are labelled so that the labels do not collide.
    """
    if log:
        axis.set_major_locator(AmountLogLocator(max_ticks))
        axis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 1.0, numticks=12))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(AMOUNT_FORMATTER)


def month_locator() -> MaxNLocator:
    """Whole months in steps of 1, 2, 3, 6 or 10 (x 10^k), at most 7 ticks (fits a half-width panel)."""
    return MaxNLocator(nbins=6, integer=True, steps=[1, 2, 3, 6, 10])


def percent_axis(axis, decimals: int | None = None) -> None:
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


def percent_ticks(axis) -> None:
    """Percent tick labels with as many decimals as the ticks need (rare outcomes sit below 1%)."""
    axis.set_major_formatter(ScaledTicks())


def label_decimals(top: float) -> int:
    """Decimals of a percentage label for data reaching ``top`` (a probability): 0 from 10%, 1 from 1%, else 2.

    All zeros (``top`` 0) need no decimals either.
    """
    if not np.isfinite(top) or top >= 0.1 or top <= 0:
        return 0
    return 1 if top >= 0.01 else 2


def wrap_path(path: str, width: int = 34) -> str:
    """A dotted path broken at its dots into lines of at most ``width`` characters (tick labels)."""
    lines: list[str] = []
    for piece in str(path).split("."):
        if lines and len(lines[-1]) + 1 + len(piece) <= width:
            lines[-1] += "." + piece
        else:
            lines.append(("." if lines else "") + piece)
    return "\n".join(lines)


def key_label(ds: xr.Dataset, path: str) -> str:
    units = parameter_units(path, str(ds.attrs.get("currency", "")))
    return f"{path} ({units})" if units and units != "1" else path


def quantile_at(da: xr.DataArray, level: float) -> np.ndarray:
    return np.asarray(da.sel(quantile=level, method="nearest").values, dtype=float)


#: The quantiles a fan chart draws: the median, and the 25-75% and 5-95% bands.
FAN_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def fan_quantiles(da: xr.DataArray) -> dict[float, np.ndarray]:
    """The curves of a fan chart (:data:`FAN_LEVELS`) from a variable with a ``quantile`` dimension."""
    return {lv: quantile_at(da, lv) for lv in FAN_LEVELS}


def draw_fan(ax, x: np.ndarray, q: dict[float, np.ndarray], *, color: str = FAN_COLOR,
             median_color: str | None = None, floor: float = -np.inf) -> None:
    """The 5-95% and 25-75% bands and the median line of ``q`` (:func:`fan_quantiles`), raised to ``floor``
    (the bottom of a log axis, where a quantile at or below zero cannot be drawn)."""
    ax.fill_between(x, np.maximum(q[0.05], floor), np.maximum(q[0.95], floor), color=color, alpha=0.18, linewidth=0)
    ax.fill_between(x, np.maximum(q[0.25], floor), np.maximum(q[0.75], floor), color=color, alpha=0.40, linewidth=0)
    ax.plot(x, np.maximum(q[0.5], floor), color=median_color or color, linewidth=2.0)


def scenario_data(ds: xr.Dataset) -> dict:
    try:
        return json.loads(ds.attrs.get("scenario_json", "{}"))
    except (TypeError, ValueError):
        return {}


def outcome_ratios(ds: xr.Dataset) -> tuple[float, float]:
    """(champion, collapse) valuation ratios of the run (MODEL defaults if not recorded)."""
    out = scenario_data(ds).get("outcomes", {})
    return (float(out.get("champion_valuation_ratio", 1.0)), float(out.get("collapse_valuation_ratio", 0.3)))


def log_floor(values: Iterable[float]) -> float:
    """A lower limit for a log axis, at least a factor 3 below the smallest positive value, on a labelled tick.

    The limit is rounded down to a tick :class:`AmountLogLocator` labels (a
    1-2-5 step when the axis spans under 2.5 decades, else a decade), so the
    bottom of the axis, where failed paths are drawn, always has a label.
    """
    arr = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values])
    pos = arr[np.isfinite(arr) & (arr > 0)]
    if not pos.size:
        return 1.0
    raw = float(pos.min()) / 3.0
    decade = 10.0 ** math.floor(math.log10(raw))
    if math.log10(float(pos.max()) / raw) >= 2.5:
        return decade
    return max(step * decade for step in (1.0, 2.0, 5.0) if step * decade <= raw * (1 + 1e-12))


def floor_note_handle(currency: str, marker: str = "") -> Line2D:
    """A legend line saying where failed paths are drawn; with a ``marker`` only where the plot draws one."""
    if marker:
        return Line2D([], [], linestyle="none", marker=marker, color="0.3",
                      label=f"0 {currency} (failed paths) drawn at the axis floor")
    return Line2D([], [], linestyle="none", label=f"bands reaching the bottom edge: failed paths (0 {currency})")


def figure_legend(fig: Figure, handles, *, ncols: int = 3) -> None:
    # Outside the panels, below them: constrained layout reserves the room.
    fig.legend(handles=handles, loc="outside lower center", ncols=min(ncols, len(handles)),
               fontsize="small", frameon=False)


def suptitle(fig: Figure, ds: xr.Dataset, what: str, *, paths: str | None = None) -> None:
    """The figure's title: scenario, what it shows and the paths it is drawn from (default: all of the run's)."""
    extra = paths_label(ds) if paths is None else paths
    text = f"{scenario_name(ds)}: {what}" + (f" ({extra})" if extra else "")
    # Constrained layout does not shrink a figure title: wrap it to the figure's width instead.
    width = int(fig.get_size_inches()[0] * 10.5)
    fig.suptitle(textwrap.fill(text, width=width), fontsize="large")


def format_number(value: float, units: str) -> str:
    if units == "1":
        return f"{100 * value:.1f}%"
    if units and units.isalpha() and units.isupper():
        return short_amount(value, units)
    return f"{value:.4g}"


def select_output(ds: xr.Dataset, var: str, output: str | None) -> tuple[xr.Dataset, str]:
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


def effect_axis(axis, units: str, currency: str) -> str:
    """Tick labels for changes of an output in ``units``; returns the unit text for the axis label."""
    if units == "1":
        axis.set_major_formatter(ScaledTicks(suffix=""))
        return "percentage points"
    if units and units == currency:
        amount_axis(axis, log=False)
        return units
    return units or "output units"


def rank_labels(params: Sequence[str], order: Sequence[int]) -> list[str]:
    return [f"{rank}. {wrap_path(params[j])}" for rank, j in enumerate(order, start=1)]


#: Event effects that an event with ``outcomes`` does not use (its branches carry them).
DIRECT_EFFECTS = tuple(Effects.model_fields)


def flatten_json(obj, prefix: str = "", out: dict | None = None) -> dict:
    """Dotted paths of the effective scenario, with array elements named by their ``name``."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        branched = isinstance(obj.get("outcomes"), list) and bool(obj.get("outcomes"))
        for k, v in obj.items():
            if branched and k in DIRECT_EFFECTS:
                continue  # an event with outcomes carries its effects in its branches
            flatten_json(v, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj):
        for n, item in enumerate(obj):
            flatten_json(item, f"{prefix}.{item.get('name', n)}", out)
    elif isinstance(obj, list) and not obj:
        pass  # an empty list of events or outcomes: nothing to show
    else:
        out[prefix] = obj
    return out
