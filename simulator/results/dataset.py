"""Turn a :class:`~simulator.engines.tally.Tally` into a labelled ``xarray.Dataset``.

``OUTPUTS`` is the one table that maps each output variable to its dimensions
and attributes (:mod:`simulator.results.outputs`); :func:`build_dataset` is the
one function that builds a run's Dataset from it, :func:`build_sets_dataset`
the many-set version.  Intervals are 95% Wilson score intervals for probabilities
and normal-theory intervals for means.  Quantiles come from the streamed
histograms: each is exact to within one histogram bin (see ``QUANTILE_ERROR``).

May import: :mod:`simulator.model`, :mod:`simulator.engines` and the other modules
of :mod:`simulator.results`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math

import numpy as np
import xarray as xr

from simulator.engines.plan import RunPlan
from simulator.engines.tally import Tally
from simulator.model import quantities as Q
from simulator.model.parameters import COMPANY, ParameterLayout
from simulator.model.schema import Scenario
from simulator.results import accessor  # noqa: F401  (registers ds.sim on every results Dataset)
from simulator.results.outputs import CONFIDENCE, COORD_ATTRS, MONEY, OUTPUTS, QUANTILE_ERROR, QUANTILES
from simulator.results.overflow import range_problem, warn_out_of_range
from simulator.results.statistics import hist_quantiles, mean_interval, wilson_interval

__all__ = ["build_dataset", "build_sets_dataset", "market_path", "package_version", "required_revenue",
           "scenario_hash", "start_state"]


def _outcome_variables(counts: np.ndarray, n) -> dict[str, np.ndarray]:
    """Outcome probabilities, champion share and their Wilson intervals from outcome counts.

    ``counts`` has the outcome as its last axis; ``n`` (paths) broadcasts against it.
    """
    n = np.asarray(n, dtype=np.float64)
    n_decided = n[..., 0] if n.ndim else n
    champ, collapse = counts[..., Q.CHAMPION], counts[..., Q.COLLAPSE]
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
    off = ParameterLayout.company_offset(c)
    p = COMPANY.view(lambda slot: theta[off + slot])
    demand = p.revenue
    capacity = p.chips.cards * p.chips.revenue_per_card if p.chips.enabled > 0.5 else math.inf
    revenue = min(demand, capacity)
    excess = max(0.0, demand / capacity - 1.0) if 0.0 < capacity < math.inf else 0.0
    margin = 1.0 - p.pricing.compute_cost_share * (1.0 + p.pricing.scarcity_premium * excess)
    with np.errstate(divide="ignore"):
        e0 = (math.log(p.valuation / revenue) - math.log(p.valuation_model.base_multiple)
              - p.valuation_model.growth_sensitivity * (p.growth.initial - p.growth.long_run)
              if revenue > 0 else math.inf)
    return {"revenue": revenue, "capacity": capacity, "gross_margin": margin, "implied_narrative": e0,
            "valuation": p.valuation}


def required_revenue(theta: np.ndarray, c: int, horizon_months: int, start_margin: float) -> float:
    """Annual revenue at the horizon that would make company c's stated valuation fair.

    The revenue ``R`` whose operating profit at the start gross margin,
    ``R * g0 - opex_T``, capitalised at ``exit_multiple`` and discounted at
    ``discount_rate`` over the horizon, equals V0 (cash ignored):
    ``R = (V0 * exp(r T) / exit_multiple + opex_T) / g0``; infinite when no revenue can
    (``g0 <= 0`` or no exit multiple).
    """
    off = ParameterLayout.company_offset(c)
    p = COMPANY.view(lambda slot: theta[off + slot])
    t = horizon_months / 12.0
    multiple = p.valuation_model.exit_multiple
    if multiple <= 0.0 or start_margin <= 0.0:
        return math.inf
    opex_t = p.costs.opex * math.exp(p.costs.opex_growth * t)
    v0 = p.valuation
    return (v0 * math.exp(p.valuation_model.discount_rate * t) / multiple + opex_t) / start_margin


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


def package_version() -> str:
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
    check_range: bool = True,
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
    check_range : bool
        Warn once (and record ``out_of_range``) when an output documented as
        finite is not (:mod:`simulator.results.overflow`).
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
        for v, var in enumerate(Q.VAR_NAMES):
            data[f"{var}_quantile"] = hist_quantiles(tally.hist[s][:, v], tally.minmax[s][:, v], QUANTILES, v)
    starts = [start_state(theta, c) for c in range(n_comp)]
    v0 = np.asarray([st["valuation"] for st in starts])
    mean_v, mean_v_ci = mean_interval(tally.vh[s], v0[:, None])
    data["mean_valuation"], data["mean_valuation_ci"] = mean_v, mean_v_ci
    fv, fv_ci = mean_interval(tally.fv[s], v0)
    data["fundamental_value"], data["fundamental_value_ci"] = fv, fv_ci
    data["business_value"], data["business_value_ci"] = mean_interval(tally.bv[s], v0)
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
        "outcome": np.asarray(Q.OUTCOME_NAMES, dtype=object),
        "bound": np.asarray(["low", "high"], dtype=object),
        "month": months.astype(np.int64),
        "quantile": np.asarray(QUANTILES),
    }
    if n_comp > 1:
        coords["champions"] = np.arange(n_comp + 1, dtype=np.int64)
    if tally.kept is not None and tally.kept.shape[1] > 0:
        for v, var in enumerate(Q.VAR_NAMES):
            data[f"path_{var}"] = np.transpose(tally.kept[v][:, :, months], (0, 1, 2))
        data["failure_month"] = tally.fail_month.astype(np.int64)
        coords["path"] = np.arange(tally.kept.shape[1], dtype=np.int64)
    variables = {}
    for name, values in data.items():
        spec = OUTPUTS[name]
        variables[name] = xr.Variable(spec.dims, np.asarray(values), attrs={
            "long_name": spec.long_name, "units": spec.units.replace(MONEY, currency)})
    ds = xr.Dataset(variables, coords=coords)
    for dim, (units, long_name) in COORD_ATTRS.items():
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
            Q.HIST_BINS, ", ".join(f"{k} {v:.3g}" for k, v in QUANTILE_ERROR.items())),
        "simulator_version": package_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "Conventions": "CF-1.10",
    })
    if attrs:
        ds.attrs.update({k: (json.dumps(v) if isinstance(v, (list, tuple, dict)) else v)
                         for k, v in attrs.items() if v is not None})
    if check_range:
        warn_out_of_range(range_problem(data, scenario, np.asarray(theta)[None], n_months=plan.n_months),
                          scenario.name, ds.attrs)
    return ds


def _one_set(tally: Tally, s: int) -> Tally:
    """A view of set ``s`` of a many-set tally, without histograms (cheap)."""
    return Tally(
        n_paths=tally.n_paths[s:s + 1], counts=tally.counts[s:s + 1],
        any_champion=tally.any_champion[s:s + 1], n_champions=tally.n_champions[s:s + 1],
        alive=tally.alive[s:s + 1], hist=None, minmax=None, block_ids=tally.block_ids,
        fv_blocks=tally.fv_blocks[:, s:s + 1], bv_blocks=tally.bv_blocks[:, s:s + 1],
        vh_blocks=tally.vh_blocks[:, s:s + 1],
        market_exceed=None if tally.market_exceed is None else tally.market_exceed[s:s + 1])


def build_sets_dataset(
    scenario: Scenario,
    layout: ParameterLayout,
    plan: RunPlan,
    tally: Tally,
    theta_sets: np.ndarray,
    *,
    attrs: dict | None = None,
    check_range: bool = True,
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
    check_range : bool
        As for :func:`build_dataset` (a study that builds its sets in batches checks once, at the end).
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
        for v, var in enumerate(Q.VAR_NAMES):
            data[f"{var}_quantile"] = hist_quantiles(tally.hist[:, :, v], tally.minmax[:, :, v], QUANTILES, v)
    starts = [[start_state(theta_sets[s], c) for c in range(n_comp)] for s in range(n_sets)]
    v0 = np.asarray([[st["valuation"] for st in row] for row in starts]).reshape(n_sets, n_comp)
    mean_v, mean_v_ci = mean_interval(tally.vh, v0[:, :, None])
    data["mean_valuation"], data["mean_valuation_ci"] = mean_v, mean_v_ci
    fv, fv_ci = mean_interval(tally.fv, v0)
    data["fundamental_value"], data["fundamental_value_ci"] = fv, fv_ci
    data["business_value"], data["business_value_ci"] = mean_interval(tally.bv, v0)
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
    first = build_dataset(scenario, layout, plan, _one_set(tally, 0), theta=theta_sets[0], attrs=attrs,
                          check_range=False)
    missing = [name for name in first.data_vars if name not in data and name != "market_size"
               and not name.startswith("path_") and name != "failure_month"]
    if missing:
        per_set = [first] + [build_dataset(scenario, layout, plan, _one_set(tally, s), theta=theta_sets[s],
                                           check_range=False) for s in range(1, n_sets)]
        for name in missing:
            data[name] = np.stack([d[name].values for d in per_set])
    currency = scenario.currency
    variables = {}
    for name, values in data.items():
        spec = OUTPUTS[name]
        variables[name] = xr.Variable(("set", *spec.dims), np.asarray(values), attrs={
            "long_name": spec.long_name, "units": spec.units.replace(MONEY, currency)})
    if market is not None:
        variables["market_size"] = first["market_size"].variable
    coords = {k: v for k, v in first.coords.items() if k != "path"}
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs.update(first.attrs)
    ds.attrs["paths"] = int(n.max()) if n_sets else 0
    if check_range:
        warn_out_of_range(range_problem(data, scenario, theta_sets, n_months=plan.n_months, set_axis=True),
                          scenario.name, ds.attrs)
    return ds
