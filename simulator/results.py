"""Turn a :class:`~simulator.engine.Tally` into a labelled ``xarray.Dataset``.

``OUTPUTS`` is the one table that maps each output variable to its dimensions
and attributes; :func:`build_dataset` is the one function that builds the
Dataset from it.  Intervals are 95% Wilson score intervals for probabilities
and normal-theory intervals for means.  Quantiles come from the streamed
histograms: each is exact to within one histogram bin (see ``QUANTILE_ERROR``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats

from simulator import _layout as L
from simulator.config import Scenario
from simulator.engine import RunPlan, Tally
from simulator.params import ParameterLayout

__all__ = ["OUTPUTS", "QUANTILES", "QUANTILE_ERROR", "build_dataset", "build_sets_dataset", "hist_quantiles",
           "scenario_hash", "start_state", "wilson_interval"]

QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
CONFIDENCE = 0.95

_MONEY = "{currency}"


def _bin_width(v: int) -> float:
    return (L.HIST_HIGH[v] - L.HIST_LOW[v]) / (L.HIST_BINS - 2)


#: Largest error of a histogram quantile relative to the exact sample quantile of
#: the same paths, inside the histogram range: one bin.  For amounts (log10 bins)
#: it is relative (a factor), for margin and narrative absolute.
QUANTILE_ERROR = {
    name: (10 ** _bin_width(v) - 1.0 if L.HIST_LOG10[v] else _bin_width(v))
    for v, name in enumerate(L.VAR_NAMES)
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
    "revenue_quantile": Output(("company", "month", "quantile"), _MONEY + "/year",
                               "served revenue R (annualised); 0 after failure"),
    "valuation_quantile": Output(("company", "month", "quantile"), _MONEY,
                                 "market valuation V; recovery value after failure"),
    "cash_quantile": Output(("company", "month", "quantile"), _MONEY, "cash; 0 after failure"),
    "capacity_quantile": Output(("company", "month", "quantile"), _MONEY + "/year",
                                "revenue capacity of installed cards (inf: unlimited); 0 after failure"),
    "gross_margin_quantile": Output(("company", "month", "quantile"), "1",
                                    "gross margin g = 1 - c_eff / P (frozen at failure)"),
    "narrative_quantile": Output(("company", "month", "quantile"), "log multiple",
                                 "effective narrative E = N + beta_sector * S (frozen at failure)"),
    "mean_valuation": Output(("company", "horizon"), _MONEY, "mean market valuation over paths"),
    "mean_valuation_ci": Output(("company", "horizon", "bound"), _MONEY,
                                "95% interval of the mean valuation"),
    "fundamental_value": Output(("company",), _MONEY,
                                "Schwartz-Moon value at start: discounted mean of cash plus exit multiple "
                                "times operating profit at the end, 0 for failed paths"),
    "fundamental_value_ci": Output(("company", "bound"), _MONEY, "95% interval of the fundamental value"),
    "valuation_start": Output(("company",), _MONEY, "stated market valuation V0"),
    "revenue_start": Output(("company",), _MONEY + "/year", "served revenue at start R0"),
    "price_to_sales_start": Output(("company",), "1", "V0 / R0"),
    "implied_narrative": Output(("company",), "log multiple",
                                "E0: effective narrative implied by the stated valuation"),
    "narrative_premium": Output(("company",), _MONEY, "V0 minus the fundamental value"),
    "narrative_premium_share": Output(("company",), "1", "narrative premium as a share of V0"),
    "required_revenue": Output(("company", "horizon"), _MONEY + "/year",
                               "annual revenue at the horizon whose operating profit at the start gross "
                               "margin, capitalised at the exit multiple and discounted, equals V0"),
    "required_revenue_total": Output(("horizon",), _MONEY + "/year",
                                     "sum of the companies' required revenues"),
    "market_size": Output(("horizon",), _MONEY + "/year",
                          "stated market size grown at sector.market_growth"),
    "implied_market_share": Output(("company", "horizon"), "1",
                                   "required revenue as a share of the market"),
    "market_exceeded": Output(("horizon",), "1",
                              "probability that the companies' combined served revenue exceeds the market"),
    "market_exceeded_ci": Output(("horizon", "bound"), "1", "95% Wilson interval of market_exceeded"),
    "path_revenue": Output(("path", "company", "month"), _MONEY + "/year", "kept path: served revenue"),
    "path_valuation": Output(("path", "company", "month"), _MONEY, "kept path: market valuation"),
    "path_cash": Output(("path", "company", "month"), _MONEY, "kept path: cash"),
    "path_capacity": Output(("path", "company", "month"), _MONEY + "/year", "kept path: capacity"),
    "path_gross_margin": Output(("path", "company", "month"), "1", "kept path: gross margin"),
    "path_narrative": Output(("path", "company", "month"), "log multiple", "kept path: narrative E"),
    "failure_month": Output(("path", "company"), "months", "kept path: month of failure (0: never)"),
}

_COORD_ATTRS = {
    "company": ("", "company"),
    "horizon": ("months", "horizon at which outcomes are classified"),
    "outcome": ("", "outcome class"),
    "bound": ("", "interval bound"),
    "month": ("months", "month since start"),
    "quantile": ("1", "quantile level"),
    "champions": ("companies", "number of champion companies"),
    "path": ("", "path index"),
}


def wilson_interval(successes, trials, *, confidence: float = CONFIDENCE) -> np.ndarray:
    """Wilson score interval, vectorised; last axis is (low, high); NaN where trials is 0.

    Agrees with ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # Exact endpoints where the estimate is 0 or 1 (the formula gives them up to rounding).
    low = np.where((k == 0) & (n > 0), 0.0, low)
    high = np.where((k == n) & (n > 0), 1.0, high)
    return np.stack([low, high], axis=-1)


def _mean_interval(moments: np.ndarray, scale, *, confidence: float = CONFIDENCE):
    """Mean and normal-theory interval from (count, mean, M2) moments."""
    n, mean, m2 = moments[..., 0], moments[..., 1], moments[..., 2]
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.where(n > 1, m2 / np.maximum(n - 1, 1) / n, np.nan))
    centre = mean * scale
    half = z * se * scale
    return centre, np.stack([centre - half, centre + half], axis=-1)


def hist_quantiles(hist: np.ndarray, minmax: np.ndarray, levels, var: int) -> np.ndarray:
    """Quantiles from histograms over the last axis, interpolated within a bin.

    Parameters
    ----------
    hist : ndarray, shape (..., HIST_BINS)
        Counts on the grid of variable ``var`` (see ``_layout``).
    minmax : ndarray, shape (..., 2)
        Exact minimum and maximum of the same values (used in the edge bins).
    levels : sequence of float
        Quantile levels in [0, 1].
    var : int
        Which variable's grid (``_layout.VAR_*``).

    Returns
    -------
    ndarray, shape (..., len(levels))
    """
    from simulator import _kernels as K

    nb = hist.shape[-1]
    lead = hist.shape[:-1]
    levels = np.asarray(levels, dtype=np.float64)
    order = np.argsort(levels, kind="stable")
    rows = np.ascontiguousarray(hist, dtype=np.int64).reshape(-1, nb)
    out = np.empty((rows.shape[0], levels.size))
    low, high = L.HIST_LOW[var], L.HIST_HIGH[var]
    K.hist_quantile_rows(rows, np.ascontiguousarray(minmax, dtype=np.float64).reshape(-1, 2),
                         levels[order], float(low), (high - low) / (nb - 2), bool(L.HIST_LOG10[var]), out)
    result = np.empty_like(out)
    result[:, order] = out
    return result.reshape(*lead, levels.size)


def _outcome_variables(counts: np.ndarray, n) -> dict[str, np.ndarray]:
    """Outcome probabilities, champion share and their Wilson intervals from outcome counts.

    ``counts`` has the outcome as its last axis; ``n`` (paths) broadcasts against it.
    """
    n = np.asarray(n, dtype=np.float64)
    n_decided = n[..., 0] if n.ndim else n
    champ, collapse = counts[..., L.CHAMPION], counts[..., L.COLLAPSE]
    decided = champ + collapse
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(decided > 0, champ / np.maximum(decided, 1), np.nan)
    return {
        "outcome_count": counts,
        "probability": counts / n,
        "probability_ci": wilson_interval(counts, n),
        "champion_share": share,
        "champion_share_ci": wilson_interval(champ, decided),
        "decided_probability": decided / n_decided,
    }


def start_state(theta: np.ndarray, c: int) -> dict[str, float]:
    """Served revenue, capacity, gross margin and implied narrative E0 at start (company c)."""
    off = L.N_GLOBAL + c * L.N_COMPANY
    demand = theta[off + L.C_REVENUE]
    capacity = (theta[off + L.K_CARDS] * theta[off + L.K_REVENUE_PER_CARD]
                if theta[off + L.K_ENABLED] > 0.5 else math.inf)
    revenue = min(demand, capacity)
    excess = max(0.0, demand / capacity - 1.0) if 0.0 < capacity < math.inf else 0.0
    margin = 1.0 - theta[off + L.P_COST_SHARE] * (1.0 + theta[off + L.P_SCARCITY] * excess)
    with np.errstate(divide="ignore"):
        e0 = (math.log(theta[off + L.C_VALUATION] / revenue) - math.log(theta[off + L.V_BASE_MULTIPLE])
              - theta[off + L.V_GROWTH_SENS] * (theta[off + L.G_INITIAL] - theta[off + L.G_LONG_RUN])
              if revenue > 0 else math.inf)
    return {"revenue": revenue, "capacity": capacity, "gross_margin": margin, "implied_narrative": e0,
            "valuation": theta[off + L.C_VALUATION]}


def required_revenue(theta: np.ndarray, c: int, horizon_months: int, start_margin: float) -> float:
    """Annual revenue at the horizon that would make company c's stated valuation fair.

    The revenue ``R`` whose operating profit at the start gross margin,
    ``R * g0 - opex_T``, capitalised at ``exit_multiple`` and discounted at
    ``discount_rate`` over the horizon, equals V0 (cash ignored):
    ``R = (V0 * exp(r T) / exit_multiple + opex_T) / g0``; infinite when no revenue can
    (``g0 <= 0`` or no exit multiple).
    """
    off = L.N_GLOBAL + c * L.N_COMPANY
    t = horizon_months / 12.0
    multiple = theta[off + L.V_EXIT_MULTIPLE]
    if multiple <= 0.0 or start_margin <= 0.0:
        return math.inf
    opex_t = theta[off + L.O_OPEX] * math.exp(theta[off + L.O_GROWTH] * t)
    v0 = theta[off + L.C_VALUATION]
    return (v0 * math.exp(theta[off + L.V_DISCOUNT] * t) / multiple + opex_t) / start_margin


def market_path(scenario: Scenario, horizons) -> np.ndarray | None:
    """The stated market size at each horizon (None when ``sector.market_size`` is 0)."""
    size = scenario.sector.market_size
    if size <= 0.0:
        return None
    return size * np.exp(scenario.sector.market_growth * np.asarray(horizons, dtype=np.float64) / 12.0)


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the effective scenario (every key, defaults and overrides included)."""
    canonical = json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-valuation-simulator")
    except PackageNotFoundError:
        return "0+unknown"


def build_dataset(
    scenario: Scenario,
    layout: ParameterLayout,
    plan: RunPlan,
    tally: Tally,
    *,
    set_index: int = 0,
    theta: np.ndarray | None = None,
    attrs: dict | None = None,
) -> xr.Dataset:
    """Build the results Dataset of one parameter set from the :data:`OUTPUTS` table.

    Parameters
    ----------
    scenario, layout, plan, tally
        What was run and its tallies.
    set_index : int
        Which parameter set of the tally.
    theta : ndarray, optional
        That set's parameters (default: the scenario's).
    attrs : dict, optional
        Provenance to add (seed, engine, ...).
    """
    theta = layout.theta if theta is None else theta
    s = set_index
    currency = scenario.currency
    names = list(layout.company_names)
    n_comp = len(names)
    n = float(tally.n_paths[s])
    months = plan.recorded_months
    data: dict[str, np.ndarray] = {}

    data.update(_outcome_variables(tally.counts[s], n))
    if n_comp > 1:
        data["any_champion"] = tally.any_champion[s] / n
        data["any_champion_ci"] = wilson_interval(tally.any_champion[s], n)
        data["champion_count_probability"] = tally.n_champions[s] / n
    alive = tally.alive[s][:, months]
    data["survival"] = alive / n
    data["survival_ci"] = wilson_interval(alive, n)
    if tally.hist is not None:
        for v, var in enumerate(L.VAR_NAMES):
            data[f"{var}_quantile"] = hist_quantiles(tally.hist[s][:, v], tally.minmax[s][:, v], QUANTILES, v)
    starts = [start_state(theta, c) for c in range(n_comp)]
    v0 = np.asarray([st["valuation"] for st in starts])
    mean_v, mean_v_ci = _mean_interval(tally.vh[s], v0[:, None])
    data["mean_valuation"], data["mean_valuation_ci"] = mean_v, mean_v_ci
    fv, fv_ci = _mean_interval(tally.fv[s], v0)
    data["fundamental_value"], data["fundamental_value_ci"] = fv, fv_ci
    data["valuation_start"] = v0
    data["revenue_start"] = np.asarray([st["revenue"] for st in starts])
    data["price_to_sales_start"] = v0 / data["revenue_start"]
    data["implied_narrative"] = np.asarray([st["implied_narrative"] for st in starts])
    data["narrative_premium"] = v0 - fv
    data["narrative_premium_share"] = 1.0 - fv / v0
    data["required_revenue"] = np.asarray([[required_revenue(theta, c, int(h), starts[c]["gross_margin"])
                                            for h in plan.horizons] for c in range(n_comp)])
    data["required_revenue_total"] = data["required_revenue"].sum(axis=0)
    market = market_path(scenario, plan.horizons)
    if market is not None:
        data["market_size"] = market
        data["implied_market_share"] = data["required_revenue"] / market[None, :]
        exceed = tally.market_exceed[s] if tally.market_exceed is not None else np.zeros(plan.horizons.size)
        data["market_exceeded"] = exceed / n
        data["market_exceeded_ci"] = wilson_interval(exceed, n)
    coords: dict[str, np.ndarray] = {
        "company": np.asarray(names, dtype=object),
        "horizon": plan.horizons.astype(np.int64),
        "outcome": np.asarray(L.OUTCOME_NAMES, dtype=object),
        "bound": np.asarray(["low", "high"], dtype=object),
        "month": months.astype(np.int64),
        "quantile": np.asarray(QUANTILES),
    }
    if n_comp > 1:
        coords["champions"] = np.arange(n_comp + 1, dtype=np.int64)
    if tally.kept is not None and tally.kept.shape[1] > 0:
        for v, var in enumerate(L.VAR_NAMES):
            data[f"path_{var}"] = np.transpose(tally.kept[v][:, :, months], (0, 1, 2))
        data["failure_month"] = tally.fail_month.astype(np.int64)
        coords["path"] = np.arange(tally.kept.shape[1], dtype=np.int64)
    variables = {}
    for name, values in data.items():
        spec = OUTPUTS[name]
        variables[name] = xr.Variable(spec.dims, np.asarray(values), attrs={
            "long_name": spec.long_name, "units": spec.units.replace(_MONEY, currency)})
    ds = xr.Dataset(variables, coords=coords)
    for dim, (units, long_name) in _COORD_ATTRS.items():
        if dim in ds.coords:
            ds[dim].attrs = {"long_name": long_name, **({"units": units} if units else {})}
    ds.attrs.update({
        "title": f"Monte Carlo valuation scenario {scenario.name}",
        "scenario_name": scenario.name,
        "scenario_description": scenario.scenario.description,
        "scenario_source": scenario.source_path,
        "scenario_text": scenario.source_text,
        "scenario_json": json.dumps(scenario.model_dump(mode="json"), sort_keys=True),
        "scenario_hash": scenario_hash(scenario),
        "currency": currency,
        "paths": int(n),
        "horizon_months": int(plan.n_months),
        "dt_years": plan.dt,
        "confidence_level": CONFIDENCE,
        "interval_method": "Wilson score (probabilities); normal theory (means)",
        "quantile_method": "streamed histograms, {} bins; max error one bin: {}".format(
            L.HIST_BINS, ", ".join(f"{k} {v:.3g}" for k, v in QUANTILE_ERROR.items())),
        "simulator_version": _package_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "Conventions": "CF-1.10",
    })
    if attrs:
        ds.attrs.update({k: (json.dumps(v) if isinstance(v, (list, tuple, dict)) else v)
                         for k, v in attrs.items() if v is not None})
    return ds


def _one_set(tally: Tally, s: int) -> Tally:
    """A view of set ``s`` of a many-set tally, without histograms (cheap)."""
    return Tally(
        n_paths=tally.n_paths[s:s + 1], counts=tally.counts[s:s + 1],
        any_champion=tally.any_champion[s:s + 1], n_champions=tally.n_champions[s:s + 1],
        alive=tally.alive[s:s + 1], hist=None, minmax=None, block_ids=tally.block_ids,
        fv_blocks=tally.fv_blocks[:, s:s + 1], vh_blocks=tally.vh_blocks[:, s:s + 1],
        market_exceed=None if tally.market_exceed is None else tally.market_exceed[s:s + 1])


def build_sets_dataset(
    scenario: Scenario,
    layout: ParameterLayout,
    plan: RunPlan,
    tally: Tally,
    theta_sets: np.ndarray,
    *,
    attrs: dict | None = None,
) -> xr.Dataset:
    """Results of many parameter sets at once: :func:`build_dataset` with a leading ``set`` dim.

    Vectorised over sets (a thousand sets take milliseconds, not a thousand
    Dataset builds).  Every variable :func:`build_dataset` reports for one set is
    here with dimensions ``("set", *OUTPUTS[name].dims)``, except ``market_size``
    (it does not depend on the set), and ``isel(set=k)`` equals
    ``build_dataset(..., set_index=k, theta=theta_sets[k])`` variable by variable.
    Kept paths are not included.  A variable this function does not know (added
    to :func:`build_dataset` later) is filled set by set, so nothing is lost.

    Parameters
    ----------
    scenario, layout, plan, tally
        What was run and its tallies (``tally`` holds ``n_sets`` sets).
    theta_sets : ndarray, shape (n_sets, n_theta)
        The sets' parameters.
    attrs : dict, optional
        Provenance to add.
    """
    theta_sets = np.asarray(theta_sets, dtype=np.float64)
    n_sets = theta_sets.shape[0]
    n_comp = len(layout.company_names)
    n = tally.n_paths.astype(np.float64)  # (set,)
    months = plan.recorded_months
    data: dict[str, np.ndarray] = {}
    data.update(_outcome_variables(tally.counts, n[:, None, None, None]))
    if n_comp > 1:
        data["any_champion"] = tally.any_champion / n[:, None]
        data["any_champion_ci"] = wilson_interval(tally.any_champion, n[:, None])
        data["champion_count_probability"] = tally.n_champions / n[:, None, None]
    alive = tally.alive[:, :, months]
    data["survival"] = alive / n[:, None, None]
    data["survival_ci"] = wilson_interval(alive, n[:, None, None])
    if tally.hist is not None:
        for v, var in enumerate(L.VAR_NAMES):
            data[f"{var}_quantile"] = hist_quantiles(tally.hist[:, :, v], tally.minmax[:, :, v], QUANTILES, v)
    starts = [[start_state(theta_sets[s], c) for c in range(n_comp)] for s in range(n_sets)]
    v0 = np.asarray([[st["valuation"] for st in row] for row in starts]).reshape(n_sets, n_comp)
    mean_v, mean_v_ci = _mean_interval(tally.vh, v0[:, :, None])
    data["mean_valuation"], data["mean_valuation_ci"] = mean_v, mean_v_ci
    fv, fv_ci = _mean_interval(tally.fv, v0)
    data["fundamental_value"], data["fundamental_value_ci"] = fv, fv_ci
    data["valuation_start"] = v0
    data["revenue_start"] = np.asarray([[st["revenue"] for st in row] for row in starts]).reshape(n_sets, n_comp)
    data["price_to_sales_start"] = v0 / data["revenue_start"]
    data["implied_narrative"] = np.asarray([[st["implied_narrative"] for st in row]
                                            for row in starts]).reshape(n_sets, n_comp)
    data["narrative_premium"] = v0 - fv
    data["narrative_premium_share"] = 1.0 - fv / v0
    data["required_revenue"] = np.asarray(
        [[[required_revenue(theta_sets[s], c, int(h), starts[s][c]["gross_margin"]) for h in plan.horizons]
          for c in range(n_comp)] for s in range(n_sets)]).reshape(n_sets, n_comp, plan.horizons.size)
    data["required_revenue_total"] = data["required_revenue"].sum(axis=1)
    market = market_path(scenario, plan.horizons)
    if market is not None:
        data["implied_market_share"] = data["required_revenue"] / market[None, None, :]
        exceed = (tally.market_exceed if tally.market_exceed is not None
                  else np.zeros((n_sets, plan.horizons.size)))
        data["market_exceeded"] = exceed / n[:, None]
        data["market_exceeded_ci"] = wilson_interval(exceed, n[:, None])
    # Set 0 built the ordinary way gives the coordinates, attributes and any
    # variable not computed above.
    first = build_dataset(scenario, layout, plan, _one_set(tally, 0), theta=theta_sets[0], attrs=attrs)
    missing = [name for name in first.data_vars if name not in data and name != "market_size"
               and not name.startswith("path_") and name != "failure_month"]
    if missing:
        per_set = [first] + [build_dataset(scenario, layout, plan, _one_set(tally, s), theta=theta_sets[s])
                             for s in range(1, n_sets)]
        for name in missing:
            data[name] = np.stack([d[name].values for d in per_set])
    currency = scenario.currency
    variables = {}
    for name, values in data.items():
        spec = OUTPUTS[name]
        variables[name] = xr.Variable(("set", *spec.dims), np.asarray(values), attrs={
            "long_name": spec.long_name, "units": spec.units.replace(_MONEY, currency)})
    if market is not None:
        variables["market_size"] = first["market_size"].variable
    coords = {k: v for k, v in first.coords.items() if k != "path"}
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs.update(first.attrs)
    ds.attrs["paths"] = int(n.max()) if n_sets else 0
    return ds
