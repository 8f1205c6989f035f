"""Figures of a results Dataset, one function per figure type, one module per kind of result.

May import: :mod:`simulator.errors`, :mod:`simulator.model` and :mod:`simulator.results`.

Every function takes a Dataset (as made by :func:`simulator.run` or read by
:func:`simulator.open_results`) and returns a :class:`matplotlib.figure.Figure`.
Figures are built with the object-oriented API on an Agg canvas, never through
``pyplot``: nothing is registered in pyplot's global figure list (no leaks in
long sessions, safe from threads) and no GUI backend is ever touched.

Conventions shared by all figures:

- width :data:`WIDTH` inches, saved at :data:`DPI` dots per inch (1200 px wide);
  the height grows with the number of panels and is ``fig.get_size_inches()[1]``;
- amounts are in the scenario currency with K/M/B/T suffixes
  (:func:`simulator.results.accessor.format_amount`), probabilities in percent;
- series differ in lightness, line style, marker and hatch, not in hue alone,
  so that figures stay readable in greyscale print;
- a Dataset without the variables a figure needs raises
  :class:`simulator.errors.ReportError` (a ``ValueError``)
  with a one-line message naming them.

Run results (``simulator.run``): :func:`valuation_fan`, :func:`outcome_probabilities`,
:func:`valuation_distribution`, :func:`survival_curve`, :func:`revenue_capacity`,
:func:`valuation_decomposition`, :func:`any_champion`, :func:`champion_count`,
:func:`market_shares` (competition).  Study results, in the
shapes documented in each docstring: :func:`sweep_lines` (one swept key),
:func:`sweep_heatmap` (two or more), :func:`sensitivity_tornado`,
:func:`sensitivity_morris`, :func:`sensitivity_sobol`,
:func:`sensitivity_given_data`, :func:`attribution_shifts`, :func:`batch_summary`,
:func:`discovery_tradeoff` and :func:`discovery_limits` (scenario discovery).
"""

from simulator.report.figures.batch import batch_summary
from simulator.report.figures.common import (
    DPI,
    OUTCOME_STYLE,
    SERIES_STYLE,
    WIDTH,
    ScaledTicks,
    label_decimals,
    output_units,
    short_amount,
    tick_decimals,
)
from simulator.report.figures.competition import champion_count, market_shares
from simulator.report.figures.discovery import discovery_limits, discovery_tradeoff
from simulator.report.figures.run import (
    any_champion,
    distribution_mode,
    outcome_probabilities,
    revenue_capacity,
    survival_curve,
    valuation_decomposition,
    valuation_distribution,
    valuation_fan,
)
from simulator.report.figures.sensitivity import (
    attribution_shifts,
    sensitivity_given_data,
    sensitivity_morris,
    sensitivity_sobol,
    sensitivity_tornado,
)
from simulator.report.figures.sweep import sweep_heatmap, sweep_lines, sweep_slice, swept_dims

__all__ = [
    "DPI",
    "OUTCOME_STYLE",
    "SERIES_STYLE",
    "WIDTH",
    "ScaledTicks",
    "any_champion",
    "attribution_shifts",
    "batch_summary",
    "champion_count",
    "discovery_limits",
    "discovery_tradeoff",
    "distribution_mode",
    "label_decimals",
    "market_shares",
    "outcome_probabilities",
    "output_units",
    "revenue_capacity",
    "sensitivity_given_data",
    "sensitivity_morris",
    "sensitivity_sobol",
    "sensitivity_tornado",
    "short_amount",
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
