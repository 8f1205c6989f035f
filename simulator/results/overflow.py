"""Outputs that left float64's range: which ones, and the scenario key that drove them there.

A valid scenario can still grow past what a float64 holds (about 1.8e308): growth
of 20 a year with no mean reversion over 1,200 months multiplies revenue by
e^2000.  The engines then carry +inf (and inf - inf gives NaN), and outputs the
table of outputs documents as finite would be silently inf or NaN.  Instead,
:func:`range_problem` names every such output and the key whose rate times the
horizon is the largest exponent in the model (growth, opex growth, price and
cost drifts, volatilities, discount rate, market growth), and the Dataset
builders warn once per result (:class:`~simulator.warnings.SimulatorWarning`)
and record the sentence in ``ds.attrs["out_of_range"]``.  Normal scenarios
are never touched: this only reads the finished outputs.

May import: :mod:`simulator.model`, :mod:`simulator.warnings`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np

from simulator.model.parameters import COMPANY, GLOBAL, ParameterLayout
from simulator.model.schema import Scenario
from simulator.warnings import SimulatorWarning

__all__ = ["FINITE_OUTPUTS", "range_problem", "warn_out_of_range"]

#: Outputs documented as finite.  Others may be infinite by design: capacity without a chip
#: limit, required revenue without a margin, the price-to-sales ratio of a company without revenue.
FINITE_OUTPUTS = ("revenue_quantile", "valuation_quantile", "cash_quantile", "gross_margin_quantile",
                  "narrative_quantile", "mean_valuation", "mean_valuation_ci", "fundamental_value",
                  "fundamental_value_ci", "business_value", "business_value_ci", "narrative_premium",
                  "narrative_premium_share")
#: The largest exponent a float64 holds: log(1.8e308).
LOG_MAX = math.log(np.finfo(np.float64).max)


def _exponents(scenario: Scenario, theta: np.ndarray, c: int, years: float) -> dict[str, tuple[float, float]]:
    """Each key's value and its contribution, in natural-log units, to company c's amounts over ``years``."""
    p = COMPANY.view(lambda slot: theta[ParameterLayout.company_offset(c) + slot])
    market_growth = float(theta[GLOBAL.slot("sector.market_growth")])  # the set's own (a swept key)
    key = f"companies.{scenario.companies[c].name}"
    g = p.growth
    # Volatilities count at four standard deviations of the log: reached by about one path in 30,000.
    faded = years if g.kappa <= 0.0 else -math.expm1(-g.kappa * years) / g.kappa  # integral of exp(-kappa t)
    return {
        f"{key}.growth.initial": (g.initial, g.initial * faded),
        f"{key}.growth.long_run": (g.long_run, g.long_run * (years - faded)),
        f"{key}.growth.sigma_revenue": (g.sigma_revenue, 4.0 * g.sigma_revenue * math.sqrt(years)),
        f"{key}.growth.sigma_growth": (g.sigma_growth, 4.0 * g.sigma_growth * years ** 1.5 / math.sqrt(3.0)),
        f"{key}.costs.opex_growth": (p.costs.opex_growth, p.costs.opex_growth * years),
        f"{key}.pricing.price_drift": (p.pricing.price_drift, p.pricing.price_drift * years),
        f"{key}.pricing.compute_cost_drift": (p.pricing.compute_cost_drift, p.pricing.compute_cost_drift * years),
        f"{key}.valuation_model.discount_rate": (p.valuation_model.discount_rate,
                                                 p.valuation_model.discount_rate * years),
        "sector.market_growth": (market_growth, market_growth * years),
        f"{key}.revenue": (p.revenue, math.log(max(p.revenue, 1.0))),
        f"{key}.valuation": (p.valuation, math.log(max(p.valuation, 1.0))),
    }


def range_problem(data: Mapping[str, np.ndarray], scenario: Scenario, theta_sets: np.ndarray, *,
                  n_months: int, set_axis: bool = False) -> str | None:
    """One sentence naming the documented-finite outputs that are not, and the key that drove them.

    Parameters
    ----------
    data : mapping of name to ndarray
        The outputs (company is their first dimension, after ``set`` with ``set_axis``).
    scenario : Scenario
        The scenario (names, sector).
    theta_sets : ndarray, shape (n_sets, n_theta)
        The parameter sets the outputs come from.
    n_months : int
        The horizon of the run.
    set_axis : bool
        Whether the outputs have a leading ``set`` dimension.
    """
    bad: list[str] = []
    where: tuple[int, int] | None = None  # (set, company) of the first non-finite value
    for name in FINITE_OUTPUTS:
        values = data.get(name)
        if values is None:
            continue
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values)
        point = data.get(name.removesuffix("_ci")) if name.endswith("_ci") else None
        if point is not None:
            # An interval of a finite estimate is undefined (NaN), not out of range, with fewer than
            # two paths (or blocks) to estimate a spread from.
            finite |= np.isnan(values) & np.isfinite(np.asarray(point, dtype=np.float64))[..., None]
        if finite.all():
            continue
        bad.append(name)
        if where is None:
            index = np.unravel_index(int(np.argmin(finite)), values.shape)
            where = (int(index[0]), int(index[1])) if set_axis else (0, int(index[0]))
    if not bad:
        return None
    s, c = where
    years = n_months / 12.0
    exponents = _exponents(scenario, np.asarray(theta_sets)[s], c, years)
    key, (value, size) = max(exponents.items(), key=lambda item: abs(item[1][1]))
    company = scenario.companies[c].name
    where_text = f"set {s}, " if set_axis else ""
    return (f"{', '.join(bad)} of {where_text}company {company} {'is' if len(bad) == 1 else 'are'} not finite: "
            f"its amounts leave float64's range (e^{LOG_MAX:.0f}); the largest exponent is {key} "
            f"({key.rsplit('.', 1)[-1]} = {value:.4g} over {years:g} years: e^{size:.0f}); lower it or shorten "
            "horizon_months")


def warn_out_of_range(problem: str | None, name: str, attrs: dict) -> None:
    """Record ``problem`` in ``attrs["out_of_range"]`` and warn once (nothing when None)."""
    if problem is None:
        return
    attrs["out_of_range"] = problem
    warnings.warn(f"{name}: {problem}", SimulatorWarning, stacklevel=3)

