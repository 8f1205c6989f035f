"""The one table of outputs: each result variable's dimensions, units and long name.

:data:`OUTPUTS` maps every variable a run's Dataset may hold to its dimensions
and attributes (``{currency}`` in units is replaced by the scenario's
currency); :data:`COORD_ATTRS` does the same for the coordinates.  The Dataset
builders (:mod:`simulator.results.dataset`) take both from here.

May import: :mod:`simulator.model`.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.model import quantities as Q

__all__ = ["CONFIDENCE", "COORD_ATTRS", "DISCOVERY_COORDS", "DISCOVERY_OUTPUTS", "MONEY", "OUTPUTS", "QUANTILES",
           "QUANTILE_ERROR", "Output", "bin_width"]

QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


CONFIDENCE = 0.95


MONEY = "{currency}"


def bin_width(v: int) -> float:
    return (Q.HIST_HIGH[v] - Q.HIST_LOW[v]) / (Q.HIST_BINS - 2)


#: Largest error of a histogram quantile relative to the exact sample quantile of
#: the same paths, inside the histogram range: one bin.  For amounts (log10 bins)
#: it is relative (a factor), for margin and narrative absolute.
QUANTILE_ERROR = {
    name: (10 ** bin_width(v) - 1.0 if Q.HIST_LOG10[v] else bin_width(v))
    for v, name in enumerate(Q.VAR_NAMES)
}


@dataclass(frozen=True)
class Output:
    """One output variable: its dimensions, units and description."""

    dims: tuple[str, ...]
    units: str
    long_name: str


OUTPUTS: dict[str, Output] = {
    "probability": Output(("company", "horizon", "outcome"), "1",
                          "probability of each outcome at each horizon"),
    "probability_ci": Output(("company", "horizon", "outcome", "bound"), "1",
                             "95% Wilson interval of the outcome probability"),
    "outcome_count": Output(("company", "horizon", "outcome"), "paths", "paths with each outcome"),
    "champion_share": Output(("company", "horizon"), "1",
                             "P(champion) / (P(champion) + P(collapse)): the champion-or-collapse call"),
    "champion_share_ci": Output(("company", "horizon", "bound"), "1",
                                "95% Wilson interval of the champion share"),
    "decided_probability": Output(("company", "horizon"), "1",
                                  "P(champion) + P(collapse): paths the call is about"),
    "any_champion": Output(("horizon",), "1", "probability that at least one company is a champion"),
    "any_champion_ci": Output(("horizon", "bound"), "1", "95% Wilson interval of any_champion"),
    "champion_count_probability": Output(("horizon", "champions"), "1",
                                         "probability that exactly this many companies are champions"),
    "survival": Output(("company", "month"), "1", "share of paths in which the company has not failed"),
    "survival_ci": Output(("company", "month", "bound"), "1", "95% Wilson interval of survival"),
    "revenue_quantile": Output(("company", "month", "quantile"), MONEY + "/year",
                               "served revenue R (annualised); 0 after failure"),
    "valuation_quantile": Output(("company", "month", "quantile"), MONEY,
                                 "market valuation V; recovery value after failure"),
    "cash_quantile": Output(("company", "month", "quantile"), MONEY, "cash; 0 after failure"),
    "capacity_quantile": Output(("company", "month", "quantile"), MONEY + "/year",
                                "revenue capacity of installed cards (inf: unlimited); 0 after failure"),
    "gross_margin_quantile": Output(("company", "month", "quantile"), "1",
                                    "gross margin g = 1 - c_eff / P (frozen at failure)"),
    "narrative_quantile": Output(("company", "month", "quantile"), "log multiple",
                                 "effective narrative E = N + beta_sector * S (frozen at failure)"),
    "mean_valuation": Output(("company", "horizon"), MONEY, "mean market valuation over paths"),
    "mean_valuation_ci": Output(("company", "horizon", "bound"), MONEY,
                                "95% interval of the mean valuation"),
    "fundamental_value": Output(("company",), MONEY,
                                "equity value at start (Schwartz-Moon): discounted mean of cash plus exit "
                                "multiple times operating profit at the end, each path floored at 0 "
                                "(limited liability), 0 for failed paths"),
    "fundamental_value_ci": Output(("company", "bound"), MONEY, "95% interval of the equity value"),
    "business_value": Output(("company",), MONEY,
                             "business value at start (Schwartz-Moon): the equity value's discounted cash "
                             "plus exit multiple times operating profit, not floored, minus the money "
                             "raised from investors or the state after the start (discounted)"),
    "business_value_ci": Output(("company", "bound"), MONEY, "95% interval of the business value"),
    "valuation_start": Output(("company",), MONEY, "stated market valuation V0"),
    "revenue_start": Output(("company",), MONEY + "/year", "served revenue at start R0"),
    "price_to_sales_start": Output(("company",), "1", "V0 / R0"),
    "implied_narrative": Output(("company",), "log multiple",
                                "E0: effective narrative implied by the stated valuation"),
    "narrative_premium": Output(("company",), MONEY, "V0 minus the equity value (fundamental_value)"),
    "narrative_premium_share": Output(("company",), "1", "narrative premium as a share of V0"),
    "required_revenue": Output(("company", "horizon"), MONEY + "/year",
                               "annual revenue at the horizon whose operating profit at the start gross "
                               "margin, capitalised at the exit multiple and discounted, equals V0"),
    "required_revenue_total": Output(("horizon",), MONEY + "/year",
                                     "sum of the companies' required revenues"),
    "market_size": Output(("horizon",), MONEY + "/year",
                          "stated market size grown at sector.market_growth"),
    "implied_market_share": Output(("company", "horizon"), "1",
                                   "required revenue as a share of the market"),
    "market_exceeded": Output(("horizon",), "1",
                              "probability that the companies' combined served revenue exceeds the market"),
    "market_exceeded_ci": Output(("horizon", "bound"), "1", "95% Wilson interval of market_exceeded"),
    "path_revenue": Output(("path", "company", "month"), MONEY + "/year", "kept path: served revenue"),
    "path_valuation": Output(("path", "company", "month"), MONEY, "kept path: market valuation"),
    "path_cash": Output(("path", "company", "month"), MONEY, "kept path: cash"),
    "path_capacity": Output(("path", "company", "month"), MONEY + "/year", "kept path: capacity"),
    "path_gross_margin": Output(("path", "company", "month"), "1", "kept path: gross margin"),
    "path_narrative": Output(("path", "company", "month"), "log multiple", "kept path: narrative E"),
    "failure_month": Output(("path", "company"), "months", "kept path: month of failure (0: never)"),
}


COORD_ATTRS = {
    "company": ("", "company"),
    "horizon": ("months", "horizon at which outcomes are classified"),
    "outcome": ("", "outcome class"),
    "bound": ("", "interval bound"),
    "month": ("months", "month since start"),
    "quantile": ("1", "quantile level"),
    "champions": ("companies", "number of champion companies"),
    "path": ("", "path index"),
}


#: The outputs of scenario discovery (``simulator discover``, :mod:`simulator.studies.discovery`).
#: Box statistics are on the held-out half of the paths; box ``i`` counts only the paths
#: outside boxes ``1 .. i-1`` (covering).  Each input has its own units (``input_units``).
_EACH_INPUT = "units of each input (input_units)"
DISCOVERY_OUTPUTS: dict[str, Output] = {
    "box_low": Output(("box", "input"), _EACH_INPUT,
                      "lower limit of the box (the input's smallest draw where not restricted)"),
    "box_high": Output(("box", "input"), _EACH_INPUT,
                       "upper limit of the box (the input's largest draw where not restricted)"),
    "box_low_quantile": Output(("box", "input"), "1", "share of all paths whose draw is below the lower limit"),
    "box_high_quantile": Output(("box", "input"), "1",
                                "share of all paths whose draw is at or below the upper limit"),
    "restricted": Output(("box", "input"), "1", "whether the box limits the input"),
    "quasi_p": Output(("box", "input", "bound"), "1",
                      "quasi-p-value of each kept limit on the selection sample: one-sided binomial test of the "
                      "box's density against the box without that limit (NaN: no limit)"),
    "coverage": Output(("box",), "1", "share of the held-out paths with the outcome that lie in the box"),
    "coverage_ci": Output(("box", "bound"), "1", "95% Wilson interval of the coverage (held-out half)"),
    "density": Output(("box",), "1", "share of the box's held-out paths that have the outcome"),
    "density_ci": Output(("box", "bound"), "1", "95% Wilson interval of the density (held-out half)"),
    "mass": Output(("box",), "1", "share of the held-out paths in the box"),
    "box_paths": Output(("box",), "paths", "held-out paths in the box"),
    "box_outcome_paths": Output(("box",), "paths", "held-out paths in the box with the outcome"),
    "trajectory_coverage": Output(("step",), "1",
                                  "coverage of each step of the first box's trade-off curve (held-out half)"),
    "trajectory_density": Output(("step",), "1",
                                 "density of each step of the first box's trade-off curve (held-out half)"),
    "trajectory_mass": Output(("step",), "1", "mass of each step of the trade-off curve (held-out half)"),
    "trajectory_coverage_fit": Output(("step",), "1", "coverage of each step on the peeling sample"),
    "trajectory_density_fit": Output(("step",), "1", "density of each step on the peeling sample"),
    "trajectory_mass_fit": Output(("step",), "1", "mass of each step on the peeling sample"),
    "trajectory_restricted": Output(("step",), "inputs", "inputs limited at each step"),
    "input_low": Output(("input",), _EACH_INPUT, "smallest draw of the input over all paths"),
    "input_high": Output(("input",), _EACH_INPUT, "largest draw of the input over all paths"),
    "input_units": Output(("input",), "", "units of the input (the scenario key's)"),
    "outcome_share": Output((), "1", "share of the held-out paths with the outcome"),
    "outcome_share_ci": Output(("bound",), "1", "95% Wilson interval of outcome_share"),
}

DISCOVERY_COORDS = {
    "box": ("", "box number (covering order)"),
    "input": ("", "uncertain input (dotted path)"),
    "step": ("", "step of the trade-off curve (PRIM: peeling then pasting; CART: densest leaves added)"),
    "bound": ("", "interval bound"),
}
