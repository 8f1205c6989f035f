"""Sensitivity studies: one-at-a-time swings, Morris, Sobol and given-data indices.

``simulator sensitivity FILE --method oat|morris|sobol --param PATH=LO:HI ...``
evaluates the model at many parameter sets in few kernel calls (see
:mod:`simulator.sweep`).  Each evaluation is an output of the whole sample of
paths (``zhipu.champion@36``: P(champion) at month 36), and every set uses
the same random numbers path by path (common random numbers), so the model
SALib sees is nearly deterministic: two sets that differ in one key differ
only through that key.  Sobol indices of a raw noisy model would be invalid
(total > 1); here the remaining noise is measured on the recorded paths and
reported (``noise_*`` variables and a note with the paths that would fix it).

Given-data methods (``rbd-fast``, ``delta``, ``pawn``, or all three with
``given-data``) use the per-path draws of a scenario's uncertain inputs
(distributions in the TOML, :mod:`simulator.uncertainty`) and the per-path
outcomes of ONE run: no extra runs (a results file of ``simulator run`` needs
none at all).  ``simulator attribute`` ranks the uncertain inputs by how far
their median moves inside each outcome (@RISK scenario analysis).

Result Datasets (saved like runs) have a dimension ``parameter`` (dotted paths,
sorted by importance for the first output) and a dimension ``output``
(``company.name@month``); see docs/sensitivity.md for every variable.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from simulator import _layout as L
from simulator.config import Scenario, ScenarioError, load_scenario, with_overrides
from simulator.errors import UserError
from simulator.params import ParameterLayout, build_layout
from simulator.results import QUANTILES
from simulator.sweep import _number, add_study_options, check_value, evaluate_sets, split_param

__all__ = ["METHODS", "Output", "ParamRange", "attribute_table", "parse_output", "parse_range",
           "register", "sensitivity", "sensitivity_table"]

METHODS = ("oat", "morris", "sobol", "rbd-fast", "delta", "pawn", "given-data")
GIVEN_DATA = ("rbd-fast", "delta", "pawn")
#: Paths per evaluation when not given (each evaluation is a probability over them).
DEFAULT_PATHS = 10_000
DEFAULT_SAMPLES = {"morris": 20, "sobol": 128}
MIN_SAMPLES = {"morris": 4, "sobol": 64}
#: Outcome codes of the first paths of every set are kept to measure the noise.
NOISE_PATHS = 4096
#: A Sobol noise share (of the output variance) above this gets a note.
NOISE_SHARE_NOTE = 0.01
CONFIDENCE = 0.95
_OUTCOMES = {name: i for i, name in enumerate(L.OUTCOME_NAMES)}


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Output:
    """One scalar output of a set of paths: ``[company.]name@month``.

    ``name`` is an outcome (``champion``, ``contested``, ``collapse``: its
    probability), ``champion_share``, ``survival``, ``any_champion``,
    ``mean_valuation``, ``fundamental_value`` (no ``@month``), or a quantile
    ``<variable>_q<percent>`` of revenue, valuation, cash, capacity,
    gross_margin or narrative (``valuation_q50@36``: the median valuation).
    """

    text: str
    company: int | None
    name: str
    month: int | None
    quantile: float | None = None

    @property
    def outcome(self) -> int | None:
        """Outcome code when the output is an outcome probability."""
        return _OUTCOMES.get(self.name)

    @property
    def per_path(self) -> bool:
        """True when each path has a 0/1 value whose mean is the output (noise is measurable)."""
        return self.outcome is not None or self.name == "any_champion"

    def values(self, ds: xr.Dataset) -> np.ndarray:
        """The output of every set of a many-set Dataset (leading dim ``set``), shape (set,)."""
        return self._select(ds, "")

    def interval(self, ds: xr.Dataset) -> np.ndarray:
        """(set, 2) interval of the output (NaN where none is reported)."""
        try:
            return self._select(ds, "_ci")
        except KeyError:
            return np.full((ds.sizes["set"], 2), np.nan)

    def _select(self, ds: xr.Dataset, suffix: str) -> np.ndarray:
        sel: dict = {}
        if self.company is not None:
            sel["company"] = self.company
        name = self.name
        if self.outcome is not None:
            var, sel["outcome"] = "probability", self.outcome
        elif self.quantile is not None:
            if suffix:
                raise KeyError(name)
            var = name.rsplit("_q", 1)[0] + "_quantile"
            if var not in ds:
                raise KeyError(var)
            da = ds[var].isel(sel).sel(month=self.month)
            return da.sel(quantile=self.quantile, method="nearest").values
        else:
            var = name
        var = var + suffix
        if var not in ds:
            raise KeyError(var)
        da = ds[var].isel(sel)
        if self.month is not None:
            da = da.sel(month=self.month) if "month" in da.dims else da.sel(horizon=self.month)
        return da.values

    def indicator(self, path_outcome: np.ndarray, horizons: np.ndarray) -> np.ndarray | None:
        """Per-path 0/1 values (set, path) from outcome codes, or None when not per-path."""
        if not self.per_path:
            return None
        h = int(np.flatnonzero(horizons == self.month)[0])
        if self.name == "any_champion":
            return (path_outcome[:, :, :, h] == L.CHAMPION).any(axis=2).astype(np.float64)
        return (path_outcome[:, :, self.company, h] == self.outcome).astype(np.float64)

    def units(self, currency: str) -> str:
        """Units of the output."""
        if self.quantile is not None:
            var = self.name.rsplit("_q", 1)[0]
            return {"gross_margin": "1", "narrative": "log multiple"}.get(var, currency)
        if self.name in ("mean_valuation", "fundamental_value"):
            return currency
        return "1"


_SCALARS = ("champion_share", "survival", "any_champion", "mean_valuation", "fundamental_value")


def parse_output(text: str, scenario: Scenario) -> Output:
    """Parse ``[company.]name@month`` (see :class:`Output`); one-line error otherwise."""
    companies = [c.name for c in scenario.companies]
    horizons = list(scenario.scenario.horizon_list)
    where = f"--output {text}"
    m = re.fullmatch(r"(?:([A-Za-z][A-Za-z0-9_-]*)\.)?([a-z_]+?)(?:_q(\d+(?:\.\d+)?))?(?:@(\d+))?", text.strip())
    if not m:
        raise UserError(f"{where}: expected [company.]name@month, e.g. {companies[0]}.champion@{horizons[-1]}")
    company, name, q, month = m.group(1), m.group(2), m.group(3), m.group(4)
    quantile = None
    if q is not None:
        if name not in L.VAR_NAMES:
            raise UserError(f"{where}: quantiles exist for {', '.join(L.VAR_NAMES)}")
        quantile = float(q) / 100.0
        if not any(abs(quantile - lv) < 1e-9 for lv in QUANTILES):
            raise UserError(f"{where}: quantile levels are {', '.join(f'q{round(100 * v)}' for v in QUANTILES)}")
        name = f"{name}_q{q}"
    elif name not in _OUTCOMES and name not in _SCALARS:
        raise UserError(f"{where}: {name!r} is not an output (outcomes {', '.join(_OUTCOMES)}; "
                        f"{', '.join(_SCALARS)}; or a quantile such as valuation_q50)")
    if name == "any_champion":
        if company is not None:
            raise UserError(f"{where}: any_champion is over all companies; write any_champion@MONTH")
        if len(companies) < 2:
            raise UserError(f"{where}: any_champion needs two or more companies")
        c_index = None
    else:
        if company is None:
            if len(companies) > 1:
                raise UserError(f"{where}: name the company ({', '.join(companies)}), e.g. "
                                f"{companies[0]}.{name}@{horizons[-1]}")
            company = companies[0]
        if company not in companies:
            raise UserError(f"{where}: no company {company!r} (companies: {', '.join(companies)})")
        c_index = companies.index(company)
    if name == "fundamental_value":
        if month is not None:
            raise UserError(f"{where}: the fundamental value is at start; drop @{month}")
        month_i = None
    else:
        if month is None:
            raise UserError(f"{where}: add the month, e.g. @{horizons[-1]} (horizons: "
                            f"{', '.join(map(str, horizons))})")
        month_i = int(month)
        if month_i not in horizons:
            raise UserError(f"{where}: month {month_i} is not a horizon of the scenario "
                            f"({', '.join(map(str, horizons))})")
    canonical = (f"{company}." if company is not None else "") + name + (f"@{month_i}" if month_i is not None else "")
    return Output(text=canonical, company=c_index, name=name, month=month_i, quantile=quantile)


def default_outputs(scenario: Scenario) -> list[Output]:
    """P(champion) and P(collapse) of every company at the last horizon."""
    h = scenario.scenario.horizon_list[-1]
    return [parse_output(f"{c.name}.{o}@{h}", scenario) for c in scenario.companies
            for o in ("champion", "collapse")]


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class ParamRange:
    """A studied key: dotted path and range (or the distribution of an uncertain input)."""

    path: str
    low: float
    high: float
    spec: object | None = None  # UncertainInput: values are its quantiles

    def value(self, unit: np.ndarray) -> np.ndarray:
        """Values at positions ``unit`` in [0, 1] of the range (quantiles for an uncertain input)."""
        unit = np.asarray(unit, dtype=np.float64)
        if self.spec is not None:
            return self.spec.ppf(unit)
        return self.low + unit * (self.high - self.low)


def parse_range(text: str, scenario: Scenario, layout: ParameterLayout) -> ParamRange:
    """Parse ``PATH=LO:HI``; one-line error for LO > HI, unknown or non-numeric keys, bad values."""
    path, spec = split_param(text)
    where = f"--param {text}"
    try:
        layout.slots(path)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    parts = spec.split(":")
    if len(parts) != 2:
        raise UserError(f"{where}: expected PATH=LO:HI")
    lo, hi = _number(parts[0], where), _number(parts[1], where)
    if lo > hi:
        raise UserError(f"{where}: LO ({lo:g}) is above HI ({hi:g})")
    if lo == hi:
        raise UserError(f"{where}: the range is empty (LO = HI = {lo:g})")
    check_value(scenario, path, lo, where=where)
    check_value(scenario, path, hi, where=where)
    return ParamRange(path=path, low=lo, high=hi)


def uncertain_ranges(scenario: Scenario) -> list[ParamRange]:
    """The scenario's uncertain inputs as studied keys (5% and 95% quantiles as low/high)."""
    unc = scenario.uncertain
    if not unc:
        return []
    out = []
    for spec in unc.inputs:
        lo, hi = (float(x) for x in spec.ppf(np.asarray([0.05, 0.95])))
        out.append(ParamRange(path=spec.path, low=lo, high=hi, spec=spec))
    return out


# --------------------------------------------------------------------------- evaluation


def _thetas(layout: ParameterLayout, params: Sequence[ParamRange], unit: np.ndarray) -> np.ndarray:
    """Parameter sets from positions ``unit`` (sets, params) in [0, 1]."""
    thetas = np.repeat(layout.theta[None, :], unit.shape[0], axis=0)
    for j, p in enumerate(params):
        values = p.value(unit[:, j])
        for slot in layout.slots(p.path):
            thetas[:, slot] = values
    return thetas


def _pair_var(ind: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Per-path variance of the difference of two sets' 0/1 values, for each pair (a[i], b[i])."""
    if ind is None:
        return None
    d = ind[a] - ind[b]
    return d.var(axis=1, ddof=1) if d.shape[1] > 1 else np.zeros(d.shape[0])


@dataclass
class _Evaluation:
    y: np.ndarray  # (output, set)
    ci: np.ndarray  # (output, set, 2)
    indicators: list  # per output: (set, path) or None
    paths: int
    seconds: float
    kernel_calls: int
    attrs: dict


def _evaluate(scenario: Scenario, layout: ParameterLayout, thetas: np.ndarray, outputs: Sequence[Output],
              params: Sequence[ParamRange], *, paths: int, seed, threads, engine, progress) -> _Evaluation:
    quantiles = any(o.quantile is not None for o in outputs)
    need_paths = any(o.per_path for o in outputs)
    res = evaluate_sets(scenario, thetas, paths=paths, seed=seed, quantiles=quantiles,
                        outcome_paths=min(paths, NOISE_PATHS) if need_paths else 0,
                        hold_fixed=[p.path for p in params], threads=threads, engine=engine,
                        progress=progress, layout=layout)
    horizons = res.ds["horizon"].values
    y = np.stack([np.asarray(o.values(res.ds), dtype=np.float64) for o in outputs])
    ci = np.stack([np.asarray(o.interval(res.ds), dtype=np.float64) for o in outputs])
    inds = [o.indicator(res.path_outcome, horizons) if res.path_outcome is not None else None
            for o in outputs]
    keep = ("scenario_name", "scenario_description", "scenario_source", "scenario_text", "scenario_json",
            "scenario_hash", "currency", "horizon_months", "simulator_version", "seed_entropy",
            "seed_spawn_key", "block_size", "random_streams", "engine", "uncertain_inputs",
            "uncertain_held_fixed")
    attrs = {k: res.ds.attrs[k] for k in keep if k in res.ds.attrs}
    return _Evaluation(y=y, ci=ci, indicators=inds, paths=paths, seconds=res.seconds,
                       kernel_calls=res.kernel_calls, attrs=attrs)


def _base_dataset(outputs: Sequence[Output], params: Sequence[ParamRange], currency: str) -> xr.Dataset:
    units = {o.units(currency) for o in outputs}
    coords = {"output": np.asarray([o.text for o in outputs], dtype=object),
              "parameter": np.asarray([p.path for p in params], dtype=object),
              "bound": np.asarray(["low", "high"], dtype=object)}
    ds = xr.Dataset(coords=coords)
    ds["output"].attrs = {"long_name": "output: [company.]name@month"}
    ds["parameter"].attrs = {"long_name": "studied key (dotted path)"}
    ds.attrs["output_units"] = json.dumps({o.text: o.units(currency) for o in outputs})
    if len(units) == 1:
        ds.attrs["units"] = units.pop()
    return ds


def _sorted(ds: xr.Dataset, key: str) -> xr.Dataset:
    """Order the ``parameter`` dimension by ``key`` of the first output, largest first."""
    score = np.nan_to_num(np.asarray(ds[key].isel(output=0).values, dtype=np.float64), nan=-np.inf)
    return ds.isel(parameter=np.argsort(-score, kind="stable"))


def _oat(scenario, layout, params, outputs, *, paths, seed, threads, engine, progress) -> xr.Dataset:
    k = len(params)
    unit = np.full((1 + 2 * k, k), np.nan)
    base_unit = []
    for p in params:
        base_v = float(layout.theta[layout.slots(p.path)[0]])
        base_unit.append(0.5 if p.spec is not None else (base_v - p.low) / (p.high - p.low))
    # Base positions: a value outside [low, high] is allowed (it stays the scenario's).
    unit[:] = np.asarray(base_unit)[None, :]
    for j in range(k):
        unit[1 + 2 * j, j] = 0.0
        unit[2 + 2 * j, j] = 1.0
    thetas = _thetas(layout, params, unit)
    for p in params:  # the base set keeps the scenario's exact values
        for slot in layout.slots(p.path):
            thetas[0, slot] = layout.theta[slot]
    ev = _evaluate(scenario, layout, thetas, outputs, params, paths=paths, seed=seed, threads=threads,
                   engine=engine, progress=progress)
    lo_idx = 1 + 2 * np.arange(k)
    hi_idx = lo_idx + 1
    ds = _base_dataset(outputs, params, scenario.currency)
    units = ds.attrs.get("units", "")
    low, high = ev.y[:, lo_idx], ev.y[:, hi_idx]
    swing_se = np.full((len(outputs), k), np.nan)
    for i, ind in enumerate(ev.indicators):
        var = _pair_var(ind, hi_idx, lo_idx)
        if var is not None:
            swing_se[i] = np.sqrt(var / ev.paths)
    ds["low"] = (("output", "parameter"), low, {"long_name": "output with the key at the low end",
                                                 **({"units": units} if units else {})})
    ds["high"] = (("output", "parameter"), high, {"long_name": "output with the key at the high end",
                                                   **({"units": units} if units else {})})
    ds["base"] = (("output",), ev.y[:, 0], {"long_name": "output at the scenario's values",
                                           **({"units": units} if units else {})})
    ds["low_ci"] = (("output", "parameter", "bound"), ev.ci[:, lo_idx], {"long_name": "95% interval of low"})
    ds["high_ci"] = (("output", "parameter", "bound"), ev.ci[:, hi_idx], {"long_name": "95% interval of high"})
    ds["base_ci"] = (("output", "bound"), ev.ci[:, 0], {"long_name": "95% interval of base"})
    ds["swing"] = (("output", "parameter"), np.abs(high - low), {"long_name": "|high - low|"})
    ds["swing_se"] = (("output", "parameter"), swing_se, {
        "long_name": "standard error of high - low with common random numbers (paired over paths); NaN "
                     "when the output has no per-path value"})
    ds["low_value"] = (("parameter",), np.asarray([p.low for p in params]), {"long_name": "low value"})
    ds["high_value"] = (("parameter",), np.asarray([p.high for p in params]), {"long_name": "high value"})
    ds["base_value"] = (("parameter",), np.asarray([float(layout.theta[layout.slots(p.path)[0]])
                                                   for p in params]), {"long_name": "scenario value"})
    notes = []
    for i, o in enumerate(outputs):
        small = [params[j].path for j in range(k)
                 if np.isfinite(swing_se[i, j]) and abs(high[i, j] - low[i, j]) < 2.0 * swing_se[i, j]]
        if small:
            notes.append(f"{o.text}: the swing of {', '.join(small)} is within 2 standard errors of 0 "
                         f"at {ev.paths:,} paths (indistinguishable from Monte Carlo noise)")
    ds = _sorted(ds, "swing")
    return _finish(ds, ev, "oat", notes, sets=thetas.shape[0])


def _problem(params: Sequence[ParamRange]) -> dict:
    # SALib samples positions in [0, 1]; ParamRange.value maps them to values
    # (through the inverse CDF for an uncertain input).
    return {"num_vars": len(params), "names": [p.path for p in params], "bounds": [[0.0, 1.0]] * len(params)}


def _morris(scenario, layout, params, outputs, *, paths, seed, samples, threads, engine, progress):
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    k = len(params)
    levels = 4
    problem = _problem(params)
    unit = morris_sample.sample(problem, samples, num_levels=levels, seed=_salib_seed(seed))
    thetas = _thetas(layout, params, unit)
    ev = _evaluate(scenario, layout, thetas, outputs, params, paths=paths, seed=seed, threads=threads,
                   engine=engine, progress=progress)
    delta = levels / (2.0 * (levels - 1))
    fields = {f: np.full((len(outputs), k), np.nan) for f in ("mu", "mu_star", "sigma", "mu_star_conf")}
    noise = np.full((len(outputs), k), np.nan)
    # Consecutive rows of a trajectory differ in exactly one key.
    rows = np.arange(unit.shape[0]).reshape(samples, k + 1)
    a, b = rows[:, 1:].ravel(), rows[:, :-1].ravel()
    changed = np.argmax(np.abs(unit[a] - unit[b]) > 0, axis=1)
    for i in range(len(outputs)):
        si = morris_analyze.analyze(problem, unit, ev.y[i], num_levels=levels, conf_level=CONFIDENCE,
                                    num_resamples=1000, seed=_salib_seed(seed))
        for f in fields:
            fields[f][i] = np.asarray(si[f], dtype=np.float64)
        var = _pair_var(ev.indicators[i], a, b)
        if var is not None:
            for j in range(k):
                noise[i, j] = math.sqrt(var[changed == j].mean() / ev.paths) / delta
    ds = _base_dataset(outputs, params, scenario.currency)
    for f, long in (("mu", "mean elementary effect (output change per unit of the key's range)"),
                    ("mu_star", "mean absolute elementary effect"),
                    ("sigma", "standard deviation of the elementary effects"),
                    ("mu_star_conf", "half-width of the 95% bootstrap interval of mu_star")):
        ds[f] = (("output", "parameter"), fields[f], {"long_name": long})
    ds["noise_sd"] = (("output", "parameter"), noise, {
        "long_name": "standard deviation of one elementary effect due to Monte Carlo noise (common random "
                     "numbers, measured on the recorded paths); NaN when not measurable"})
    notes = []
    for i, o in enumerate(outputs):
        top = np.nanmax(fields["mu_star"][i]) if np.any(np.isfinite(fields["mu_star"][i])) else 0.0
        worst = np.nanmax(noise[i]) / math.sqrt(samples) if np.any(np.isfinite(noise[i])) else 0.0
        if top > 0 and worst > 0.1 * top:
            need = _paths_needed(ev.paths, (worst / (0.05 * top)) ** 2)
            notes.append(f"{o.text}: Monte Carlo noise in mu_star is up to {worst / top:.0%} of the largest "
                         f"effect at {ev.paths:,} paths per evaluation; about {need:,} paths would bring it "
                         "under 5%")
    ds = _sorted(ds, "mu_star")
    return _finish(ds, ev, "morris", notes, sets=thetas.shape[0], samples=samples, num_levels=levels)


def _sobol(scenario, layout, params, outputs, *, paths, seed, samples, threads, engine, progress):
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    k = len(params)
    problem = _problem(params)
    unit = sobol_sample.sample(problem, samples, calc_second_order=False, seed=_salib_seed(seed))
    thetas = _thetas(layout, params, unit)
    ev = _evaluate(scenario, layout, thetas, outputs, params, paths=paths, seed=seed, threads=threads,
                   engine=engine, progress=progress)
    step = k + 2  # rows per base sample: A, AB_1 .. AB_k, B
    fields = {f: np.full((len(outputs), k), np.nan) for f in ("S1", "S1_conf", "ST", "ST_conf")}
    noise = np.full((len(outputs), k), np.nan)
    var_y = np.full(len(outputs), np.nan)
    a_rows = np.arange(samples) * step
    for i in range(len(outputs)):
        y = ev.y[i]
        var_y[i] = float(np.var(np.concatenate([y[a_rows], y[a_rows + step - 1]]), ddof=1))
        if not np.all(np.isfinite(y)):
            continue
        if var_y[i] <= 0.0:
            # A constant output: no input explains any variance.
            for f in fields:
                fields[f][i] = 0.0
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            si = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=1000,
                                       conf_level=CONFIDENCE, seed=_salib_seed(seed))
        for f in fields:
            fields[f][i] = np.asarray(si[f], dtype=np.float64)
        ind = ev.indicators[i]
        for j in range(k):
            var = _pair_var(ind, a_rows, a_rows + 1 + j)
            if var is not None:
                # Non-common noise variance of one evaluation, over the output variance:
                # the Jansen total index is biased up by about this much.
                noise[i, j] = var.mean() / (2.0 * ev.paths) / var_y[i]
    ds = _base_dataset(outputs, params, scenario.currency)
    for f, long in (("S1", "first-order Sobol index"),
                    ("S1_conf", "half-width of the 95% bootstrap interval of S1"),
                    ("ST", "total Sobol index"),
                    ("ST_conf", "half-width of the 95% bootstrap interval of ST")):
        ds[f] = (("output", "parameter"), fields[f], {"long_name": long, "units": "1"})
    ds["noise_share"] = (("output", "parameter"), noise, {
        "long_name": "variance of the Monte Carlo noise that differs between evaluations (common random "
                     "numbers, measured on the recorded paths) as a share of the output variance; the "
                     "total index is biased up by about this much; NaN when not measurable",
        "units": "1"})
    ds["output_variance"] = (("output",), var_y, {"long_name": "variance of the output over the samples"})
    notes = []
    for i, o in enumerate(outputs):
        if np.any(np.isfinite(noise[i])) and np.nanmax(noise[i]) > NOISE_SHARE_NOTE:
            j = int(np.nanargmax(noise[i]))
            need = _paths_needed(ev.paths, noise[i, j] / NOISE_SHARE_NOTE)
            notes.append(f"{o.text}: Monte Carlo noise is {noise[i, j]:.1%} of the output variance (largest "
                         f"for {params[j].path}) at {ev.paths:,} paths per evaluation; indices below about "
                         f"that are noise; about {need:,} paths would bring it under {NOISE_SHARE_NOTE:.0%}")
        if not np.isfinite(var_y[i]) or var_y[i] <= 0.0:
            notes.append(f"{o.text}: the output does not vary over the samples; all indices are 0")
    if scenario.uncertain and scenario.uncertain.correlations and any(p.spec is not None for p in params):
        notes.append("the inputs' rank correlations are ignored: Sobol indices assume independent inputs")
    ds = _sorted(ds, "ST")
    return _finish(ds, ev, "sobol", notes, sets=thetas.shape[0], samples=samples)


def _paths_needed(paths: int, factor: float) -> int:
    """Paths per evaluation that shrink a noise variance by ``factor`` (noise variance ~ 1 / paths)."""
    return _round_up(math.ceil(paths * max(1.0, factor)))


def _round_up(n: int) -> int:
    """Round up to 1, 2 or 5 times a power of ten (a readable path count)."""
    power = 10 ** max(0, math.floor(math.log10(max(n, 1))))
    for m in (1, 2, 5, 10):
        if m * power >= n:
            return m * power
    return 10 * power


def _salib_seed(seed) -> int:
    # SALib wants an int; derive one from the study seed so designs are repeatable.
    from simulator.engine import normalise_seed

    root = normalise_seed(seed)
    return int(np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 2**31)).generate_state(1)[0])


def _finish(ds: xr.Dataset, ev: _Evaluation, method: str, notes: list[str], **extra) -> xr.Dataset:
    ds.attrs.update(ev.attrs)
    ds.attrs.update({
        "title": f"Sensitivity ({method}) of scenario {ev.attrs.get('scenario_name', '')}",
        "study": "sensitivity",
        "method": method,
        "paths": int(ev.paths),
        "seconds": float(ev.seconds),
        "kernel_calls": int(ev.kernel_calls),
        "common_random_numbers": "every evaluation restarts the same random streams path by path",
        "notes": json.dumps(notes),
        **{k: v for k, v in extra.items()},
    })
    return ds


# --------------------------------------------------------------------------- given data


def _classes(n: int) -> int:
    """Plischke et al. (2013)'s number of equal-frequency classes for n samples (as SALib's delta)."""
    exponent = 2.0 / (7.0 + math.tanh((1500.0 - n) / 500.0))
    return int(min(math.ceil(n ** exponent), 48))


def _binary_delta(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *,
                  resamples: int = 100) -> tuple[float, float]:
    """Borgonovo's delta of a 0/1 output and the half-width of its 95% bootstrap interval.

    For a 0/1 output, ``delta = 1/2 E_X sum_y |P(y) - P(y | X)| = E_X |p - p(X)|``,
    estimated over equal-frequency classes of ``x``.  Class noise adds a positive
    bias; the mean over random permutations of ``y`` (inputs that cannot matter)
    is subtracted, so an input without effect scores about 0.
    """
    n = y.size
    m = _classes(n)
    order = np.argsort(x, kind="stable")
    edges = np.linspace(0, n, m + 1).astype(np.int64)

    def raw(ys: np.ndarray) -> float:
        sums = np.add.reduceat(ys, edges[:-1])
        sizes = np.diff(edges)
        return float(np.sum(sizes / n * np.abs(sums / sizes - ys.mean())))

    ys = y[order]
    null = np.mean([raw(rng.permutation(ys)) for _ in range(20)])
    value = raw(ys) - null
    boot = []
    for _ in range(resamples):
        idx = np.sort(rng.integers(0, n, n))  # resampled paths, still sorted by x
        boot.append(raw(ys[idx]) - null)
    half = float(np.percentile(boot, 97.5) - np.percentile(boot, 2.5)) / 2.0
    return value, half


_GIVEN_FIELDS = {
    "rbd-fast": ("rbd_fast_S1", "rbd_fast_S1_conf"),
    "delta": ("delta", "delta_conf", "delta_S1", "delta_S1_conf"),
    "pawn": ("pawn_median", "pawn_minimum", "pawn_maximum", "pawn_cv"),
}


def _given_data(draws: np.ndarray, outcomes: np.ndarray, names: Sequence[str], outputs: Sequence[Output],
                horizons: np.ndarray, methods: Sequence[str], seed: int, attrs: dict) -> xr.Dataset:
    from SALib.analyze import delta as delta_analyze
    from SALib.analyze import pawn as pawn_analyze
    from SALib.analyze import rbd_fast

    k = len(names)
    problem = {"num_vars": k, "names": [f"x{j}" for j in range(k)],
               "bounds": [[float(draws[:, j].min()), float(draws[:, j].max())] for j in range(k)]}
    fields: dict[str, np.ndarray] = {}

    def put(name: str, i: int, values) -> None:
        fields.setdefault(name, np.full((len(outputs), k), np.nan))[i] = np.asarray(values, dtype=np.float64)

    explained = np.full(len(outputs), np.nan)
    for i, o in enumerate(outputs):
        ind = o.indicator(outcomes[None], horizons)
        if ind is None:
            raise UserError(f"--output {o.text}: given-data methods need an outcome output (champion, "
                            "contested, collapse or any_champion), which each path has")
        y = ind[0]
        if np.all(y == y[0]):
            # A constant outcome: no input explains any of it.
            for m in methods:
                for name in _GIVEN_FIELDS[m]:
                    put(name, i, np.zeros(k))
            explained[i] = 0.0
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if "rbd-fast" in methods:
                si = rbd_fast.analyze(problem, draws, y, M=10, num_resamples=100, conf_level=CONFIDENCE,
                                      seed=seed)
                put("rbd_fast_S1", i, si["S1"])
                put("rbd_fast_S1_conf", i, si["S1_conf"])
                explained[i] = float(np.nansum(si["S1"]))
            if "delta" in methods:
                # SALib's delta estimates densities by kernels, which do not apply to a
                # 0/1 outcome (and take minutes); Borgonovo's delta of a 0/1 output is
                # computed exactly from class frequencies instead. SALib gives the
                # first-order index by the same classes.
                si = delta_analyze.analyze(problem, draws, y, num_resamples=50, conf_level=CONFIDENCE,
                                           seed=seed, method="sobol")
                put("delta_S1", i, si["S1"])
                put("delta_S1_conf", i, si["S1_conf"])
                rng = np.random.default_rng(seed)
                est = np.asarray([_binary_delta(draws[:, j], y, rng) for j in range(k)])
                put("delta", i, est[:, 0])
                put("delta_conf", i, est[:, 1])
            if "pawn" in methods:
                si = pawn_analyze.analyze(problem, draws, y, S=10, seed=seed)
                for stat in ("median", "minimum", "maximum", "CV"):
                    put(f"pawn_{stat.lower()}", i, si[stat])
    ds = xr.Dataset(coords={"output": np.asarray([o.text for o in outputs], dtype=object),
                            "parameter": np.asarray(list(names), dtype=object)})
    longs = {
        "rbd_fast_S1": "first-order Sobol index by RBD-FAST on the per-path draws (share of the per-path "
                       "variance of the outcome, which includes event and diffusion randomness)",
        "rbd_fast_S1_conf": "half-width of the 95% bootstrap interval of rbd_fast_S1",
        "delta": "Borgonovo's moment-independent delta on the per-path draws (exact for a 0/1 output over "
                 "equal-frequency classes, permutation bias removed)",
        "delta_conf": "half-width of the 95% bootstrap interval of delta",
        "delta_S1": "first-order Sobol index by binning (Plischke) on the per-path draws",
        "delta_S1_conf": "half-width of the 95% bootstrap interval of delta_S1",
        "pawn_median": "PAWN index: median over 10 slides of the Kolmogorov-Smirnov distance",
        "pawn_minimum": "PAWN: smallest KS distance over the slides",
        "pawn_maximum": "PAWN: largest KS distance over the slides",
        "pawn_cv": "PAWN: coefficient of variation of the KS distance over the slides",
    }
    for name, values in fields.items():
        ds[name] = (("output", "parameter"), values, {"long_name": longs[name], "units": "1"})
    ds["explained_share"] = (("output",), explained, {
        "long_name": "sum of the RBD-FAST first-order indices: share of the per-path variance of the outcome "
                     "the uncertain inputs explain (the rest is the randomness of events and shocks)"})
    key = ("rbd_fast_S1" if "rbd_fast_S1" in ds else "delta" if "delta" in ds else "pawn_median")
    ds = _sorted(ds, key)
    ds.attrs.update(attrs)
    ds.attrs.update({"study": "sensitivity", "method": ",".join(methods), "given_data": 1,
                     "title": f"Given-data sensitivity ({', '.join(methods)}) of scenario "
                              f"{attrs.get('scenario_name', '')}",
                     "samples": int(draws.shape[0]),
                     "notes": json.dumps([
                         "given-data indices use the per-path draws of the uncertain inputs of one run: no "
                         "extra runs; they are shares of the per-path variance of a 0/1 outcome, most of "
                         "which is event and diffusion randomness, so they are small; rank, don't add"])})
    return ds


def _draws_from(source: Path | Scenario, *, paths: int | None, seed, overrides, threads, engine):
    """(draws, outcomes, input names, horizons, companies, attrs) from a results file or a run."""
    if isinstance(source, Path) and source.suffix == ".nc":
        from simulator.io import open_results

        if not source.exists():
            raise UserError(f"{source}: no such file")
        ds = open_results(source)
        if "input_draw" not in ds or "path_outcome" not in ds:
            raise UserError(f"{source}: no per-path draws; run a scenario with uncertain inputs (a key given "
                            "as {{dist = ...}}) with `simulator run` first, or give the TOML file")
        attrs = {k: v for k, v in ds.attrs.items() if k.startswith(("scenario_", "seed_", "uncertain"))
                 or k in ("currency", "block_size", "engine", "simulator_version")}
        return (ds["input_draw"].values, ds["path_outcome"].values, [str(x) for x in ds["input"].values],
                ds["horizon"].values, [str(c) for c in ds["company"].values], attrs, None)
    import simulator
    from simulator.uncertainty import RECORDED_PATHS

    scenario = source if isinstance(source, Scenario) else load_scenario(source, overrides=overrides)
    if not scenario.uncertain:
        raise UserError(f"{scenario.source_path or scenario.name}: no uncertain inputs; give some keys as "
                        "distributions, e.g. long_run = {dist = \"uniform\", low = 0.1, high = 0.6}")
    n = min(int(paths or scenario.scenario.paths), RECORDED_PATHS)
    ds = simulator.run(scenario, paths=n, seed=seed, threads=threads, engine=engine)
    attrs = {k: v for k, v in ds.attrs.items() if k.startswith(("scenario_", "seed_", "uncertain"))
             or k in ("currency", "block_size", "engine", "simulator_version")}
    return (ds["input_draw"].values, ds["path_outcome"].values, [str(x) for x in ds["input"].values],
            ds["horizon"].values, [str(c) for c in ds["company"].values], attrs, scenario)


# --------------------------------------------------------------------------- entry point


def sensitivity(
    scenario: Scenario | str | Path,
    *,
    method: str,
    params: Sequence[str] = (),
    outputs: Sequence[str] = (),
    samples: int | None = None,
    paths: int | None = None,
    seed=None,
    threads: int | None = None,
    engine: str = "numba",
    overrides: Sequence[str] | None = None,
    progress: bool = False,
) -> xr.Dataset:
    """Run a sensitivity study and return its Dataset.

    Parameters
    ----------
    scenario : Scenario or path
        A scenario (TOML path or object); for the given-data methods also a
        results ``.nc`` file of ``simulator run`` with per-path draws.
    method : str
        One of :data:`METHODS`.
    params : sequence of str
        ``PATH=LO:HI`` ranges (oat, morris, sobol).  Default: the scenario's
        uncertain inputs, with their distributions (oat: 5% and 95% quantiles).
    outputs : sequence of str
        ``[company.]name@month`` (default: P(champion) and P(collapse) of each
        company at the last horizon).
    samples : int, optional
        Morris trajectories (default 20, at least 4); Sobol base samples N, a
        power of two >= 64 (default 128; N (k + 2) evaluations).
    paths : int, optional
        Paths per evaluation (default 10,000); for given-data methods the paths
        of the one run (at most ``uncertainty.RECORDED_PATHS``).
    seed : optional
        Default: the scenario's seed.
    threads, engine : optional
        As for :func:`simulator.run`.
    overrides : sequence of str, optional
        ``--set`` overrides (when ``scenario`` is a path).
    progress : bool
        Show a progress bar.
    """
    if method not in METHODS:
        raise UserError(f"--method {method}: not one of {', '.join(METHODS)}")
    start = time.perf_counter()
    if method in GIVEN_DATA or method == "given-data":
        if params:
            raise UserError(f"--method {method}: given-data methods use the scenario's uncertain inputs; "
                            "--param is for oat, morris and sobol")
        methods = GIVEN_DATA if method == "given-data" else (method,)
        source = scenario if isinstance(scenario, Scenario) else Path(scenario)
        draws, outcomes, names, horizons, companies, attrs, sc = _draws_from(
            source, paths=paths, seed=seed, overrides=overrides, threads=threads, engine=engine)
        sc = sc or _scenario_from_attrs(attrs, companies, horizons)
        outs = [parse_output(t, sc) for t in outputs] or default_outputs(sc)
        ds = _given_data(draws, outcomes, names, outs, np.asarray(horizons), methods,
                         _salib_seed(seed if seed is not None else 0), attrs)
        ds.attrs["seconds"] = float(time.perf_counter() - start)
        return ds
    if not isinstance(scenario, Scenario):
        if Path(scenario).suffix == ".nc":
            raise UserError(f"{scenario}: --method {method} runs the model; give the scenario TOML file "
                            "(a results file serves the given-data methods)")
        scenario = load_scenario(scenario, overrides=overrides)
    elif overrides:
        scenario = with_overrides(scenario, overrides)
    layout = build_layout(scenario)
    ranges = [parse_range(t, scenario, layout) for t in params] if params else uncertain_ranges(scenario)
    if not ranges:
        raise UserError(f"--method {method}: give at least one --param PATH=LO:HI (or uncertain inputs in "
                        "the scenario)")
    names = [r.path for r in ranges]
    dup = sorted({p for p in names if names.count(p) > 1})
    if dup:
        raise UserError(f"--param {dup[0]}: given twice")
    slots = {}
    for r in ranges:
        for s in layout.slots(r.path):
            if s in slots:
                raise UserError(f"--param {r.path}: the same parameter as {slots[s]}")
            slots[s] = r.path
    outs = [parse_output(t, scenario) for t in outputs] or default_outputs(scenario)
    n_paths = int(paths or DEFAULT_PATHS)
    if method in ("morris", "sobol"):
        samples = DEFAULT_SAMPLES[method] if samples is None else int(samples)
        if samples < MIN_SAMPLES[method]:
            raise UserError(f"--samples {samples}: too few for {method} (at least {MIN_SAMPLES[method]})")
        if method == "sobol" and samples & (samples - 1):
            lower = 1 << (samples.bit_length() - 1)
            raise UserError(f"--samples {samples}: Sobol needs a power of two (the Sobol' sequence is balanced "
                            f"only then), e.g. {lower} or {lower * 2}")
        if method == "morris" and len(ranges) < 2:
            raise UserError("--method morris: give at least two --param ranges")
    elif samples is not None:
        raise UserError("--samples: only for morris and sobol")
    bar = None
    callback = None
    if progress:
        from tqdm.auto import tqdm

        n_sets = {"oat": 1 + 2 * len(ranges), "morris": (samples or 0) * (len(ranges) + 1),
                  "sobol": (samples or 0) * (len(ranges) + 2)}[method]
        bar = tqdm(total=n_sets * n_paths, unit="path", unit_scale=True, delay=1.0,
                   desc=f"{scenario.name} {method}", leave=False)
        callback = bar.update
    common = {"paths": n_paths, "seed": seed, "threads": threads, "engine": engine, "progress": callback}
    try:
        if method == "oat":
            ds = _oat(scenario, layout, ranges, outs, **common)
        elif method == "morris":
            ds = _morris(scenario, layout, ranges, outs, samples=samples, **common)
        else:
            ds = _sobol(scenario, layout, ranges, outs, samples=samples, **common)
    finally:
        if bar is not None:
            bar.close()
    ds.attrs["ranges"] = json.dumps([{"path": r.path, "low": r.low, "high": r.high,
                                      **({"distribution": r.spec.table} if r.spec is not None else {})}
                                     for r in ranges])
    ds.attrs["seconds"] = float(time.perf_counter() - start)
    return ds


def _scenario_from_attrs(attrs: dict, companies, horizons) -> Scenario:
    """The scenario of a results file (for parsing outputs)."""
    from simulator.config import parse_scenario

    text = attrs.get("scenario_text", "")
    if text:
        try:
            return parse_scenario(text, source=str(attrs.get("scenario_source", "<results>")))
        except ScenarioError:
            pass
    raise UserError("the results file has no readable scenario_text")


# --------------------------------------------------------------------------- tables


def _fmt(x: float, units: str = "1") -> str:
    if not np.isfinite(x):
        return "n/a"
    if units == "1":
        return f"{100 * x:.1f}%"
    if units and units.isalpha() and units.isupper():
        from simulator.accessor import format_amount

        return format_amount(x)
    return f"{x:.4g}"


def sensitivity_table(ds: xr.Dataset) -> str:
    """A readable ranked table of a sensitivity result, one block per output."""
    method = ds.attrs.get("method", "")
    units = json.loads(ds.attrs.get("output_units", "{}"))
    head = (f"{ds.attrs.get('scenario_name', '')}: sensitivity ({method}), "
            + (f"{ds.attrs.get('paths', 0):,} paths per evaluation" if "given_data" not in ds.attrs
               else f"{ds.attrs.get('samples', 0):,} paths of one run (given data)"))
    lines = [head]
    for out in ds["output"].values:
        sub = ds.sel(output=out)
        u = units.get(str(out), "1")
        lines.append("")
        if method == "oat":
            order = np.argsort(-np.nan_to_num(sub["swing"].values, nan=-1), kind="stable")
            lines.append(f"{out}: base {_fmt(float(sub['base']), u)}; one at a time, largest swing first")
            lines.append(f"{'parameter':<58}{'low':>11}{'high':>11}{'at low':>10}{'at high':>10}"
                         f"{'high-low':>10}{'± 2 SE':>9}")
            for j in order:
                p = sub.isel(parameter=j)
                se = float(p["swing_se"])
                lines.append(f"{p['parameter'].values!s:<58}{float(p['low_value']):>11.4g}"
                             f"{float(p['high_value']):>11.4g}{_fmt(float(p['low']), u):>10}"
                             f"{_fmt(float(p['high']), u):>10}{_fmt(float(p['high'] - p['low']), u):>10}"
                             f"{(_fmt(2 * se, u) if np.isfinite(se) else 'n/a'):>9}")
        elif method == "morris":
            order = np.argsort(-np.nan_to_num(sub["mu_star"].values, nan=-1), kind="stable")
            lines.append(f"{out}: Morris elementary effects (per unit of each key's range), largest first")
            lines.append(f"{'parameter':<58}{'mu*':>10}{'± 95%':>9}{'mu':>10}{'sigma':>10}{'noise sd':>10}")
            for j in order:
                p = sub.isel(parameter=j)
                lines.append(f"{p['parameter'].values!s:<58}{float(p['mu_star']):>10.4g}"
                             f"{float(p['mu_star_conf']):>9.3g}{float(p['mu']):>10.4g}{float(p['sigma']):>10.4g}"
                             f"{float(p['noise_sd']):>10.3g}")
        elif method == "sobol":
            order = np.argsort(-np.nan_to_num(sub["ST"].values, nan=-1), kind="stable")
            lines.append(f"{out}: Sobol indices (95% bootstrap intervals), largest total first")
            lines.append(f"{'parameter':<58}{'S1':>8}{'± 95%':>8}{'ST':>8}{'± 95%':>8}{'noise':>8}")
            for j in order:
                p = sub.isel(parameter=j)
                lines.append(f"{p['parameter'].values!s:<58}{float(p['S1']):>8.3f}{float(p['S1_conf']):>8.3f}"
                             f"{float(p['ST']):>8.3f}{float(p['ST_conf']):>8.3f}{float(p['noise_share']):>8.3f}")
        else:
            cols = [(n, lab) for n, lab in (("rbd_fast_S1", "RBD S1"), ("rbd_fast_S1_conf", "± 95%"),
                                            ("delta", "delta"), ("delta_conf", "± 95%"),
                                            ("delta_S1", "S1 (bin)"), ("pawn_median", "PAWN"))
                    if n in ds]
            key = cols[0][0]
            order = np.argsort(-np.nan_to_num(sub[key].values, nan=-1), kind="stable")
            explained = float(sub["explained_share"]) if "explained_share" in sub else math.nan
            lines.append(f"{out}: given-data indices on the per-path draws"
                         + (f"; the inputs explain {explained:.1%} of the per-path variance"
                            if np.isfinite(explained) else ""))
            lines.append(f"{'parameter':<58}" + "".join(f"{lab:>10}" for _, lab in cols))
            for j in order:
                p = sub.isel(parameter=j)
                lines.append(f"{p['parameter'].values!s:<58}" + "".join(f"{float(p[n]):>10.3f}" for n, _ in cols))
    notes = json.loads(ds.attrs.get("notes", "[]"))
    if notes:
        lines.append("")
        lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def attribute_table(ds: xr.Dataset, outputs: Sequence[tuple[str, int, str]]) -> str:
    """Ranked inputs per (company, horizon, outcome): median shift in standard deviations."""
    lines = [f"{ds.attrs.get('scenario_name', '')}: which uncertain inputs drive each outcome "
             f"({ds.attrs.get('paths', 0):,} paths; shift of the input's median inside the outcome's paths, in "
             "standard deviations; |shift| > 0.5 is notable)"]
    for company, h, outcome in outputs:
        sub = ds.sel(company=company, horizon=h, outcome=outcome)
        share = float(sub["subset_share"])
        lines += ["", f"{company}.{outcome}@{h}: {share:.1%} of paths"]
        lines.append(f"{'input':<58}{'median':>11}{'in subset':>11}{'shift (sd)':>12}{'95% interval':>18}")
        order = np.argsort(-np.nan_to_num(np.abs(sub["median_shift"].values), nan=-1), kind="stable")
        for j in order:
            p = sub.isel(input=j)
            lo, hi = (float(x) for x in p["median_shift_ci"].values)
            lines.append(f"{p['input'].values!s:<58}{float(p['input_median']):>11.4g}"
                         f"{float(p['subset_median']):>11.4g}{float(p['median_shift']):>+12.2f}"
                         f"{f'[{lo:+.2f}, {hi:+.2f}]':>18}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def register(subparsers) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``simulator sensitivity`` and ``simulator attribute``."""
    p = subparsers.add_parser("sensitivity", help="rank which keys move an output (oat, morris, sobol, "
                              "given-data)")
    p.add_argument("scenario", type=Path, help="scenario TOML file (given-data methods: also a run's .nc)")
    p.add_argument("--method", required=True, choices=METHODS,
                   help="oat (tornado), morris, sobol; rbd-fast, delta, pawn or given-data (all three) on the "
                        "per-path draws of the uncertain inputs")
    p.add_argument("--param", action="append", default=[], metavar="PATH=LO:HI",
                   help="studied key and range (default: the scenario's uncertain inputs)")
    p.add_argument("--output", action="append", default=[], metavar="OUT",
                   help="[company.]name@month, e.g. zhipu.champion@36 or zhipu.valuation_q50@36 "
                        "(default: champion and collapse at the last horizon)")
    p.add_argument("--samples", type=int, help="morris trajectories (default 20) or Sobol base samples "
                   "N, a power of two >= 64 (default 128)")
    add_study_options(p, paths_help=f"paths per evaluation (default {DEFAULT_PATHS:,}); given-data: paths "
                      "of the one run")
    p.add_argument("--out", type=Path, help="results file (default: results/<scenario>_<method>.nc)")

    a = subparsers.add_parser("attribute", help="rank which uncertain inputs drive each outcome (median "
                              "shift in standard deviations)")
    a.add_argument("results", type=Path, help="a run's .nc with per-path draws, or a scenario TOML (run now)")
    a.add_argument("--output", action="append", default=[], metavar="OUT",
                   help="[company.]outcome@month (default: champion and collapse at the last horizon)")
    add_study_options(a, paths_help="paths of the run when given a TOML file (at most 100,000 kept)")
    a.add_argument("--out", type=Path, help="also save the attribution Dataset here")
    return {"sensitivity": _cmd_sensitivity, "attribute": _cmd_attribute}


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from simulator.io import save_results

    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples {args.samples}: must be >= 1")
    ds = sensitivity(args.scenario, method=args.method, params=args.param, outputs=args.output,
                     samples=args.samples, paths=args.paths, seed=args.seed, threads=args.threads,
                     engine=args.engine, overrides=args.overrides, progress=not args.quiet)
    if args.overrides:
        ds.attrs["overrides"] = json.dumps(args.overrides)
    name = ds.attrs.get("scenario_name", args.scenario.stem) or args.scenario.stem
    out = args.out or Path("results") / f"{name}_{args.method.replace('-', '_')}.nc"
    save_results(ds, out)
    if not args.quiet:
        print(sensitivity_table(ds))
        print()
    print(f"{args.method}: {ds.attrs.get('seconds', 0.0):.2f} s; results: {out}")
    return 0


def _cmd_attribute(args: argparse.Namespace) -> int:
    from simulator.uncertainty import attribute

    draws, outcomes, names, horizons, companies, attrs, sc = _draws_from(
        args.results, paths=args.paths, seed=args.seed, overrides=args.overrides, threads=args.threads,
        engine=args.engine)
    sc = sc or _scenario_from_attrs(attrs, companies, horizons)
    outs = [parse_output(t, sc) for t in args.output] or default_outputs(sc)
    chosen = []
    for o in outs:
        if o.outcome is None:
            raise UserError(f"--output {o.text}: attribution is by outcome (champion, contested, collapse)")
        chosen.append((companies[o.company], int(o.month), o.name))
    ds = attribute(draws, outcomes, inputs=names, companies=companies, horizons=horizons)
    ds.attrs.update(attrs)
    print(attribute_table(ds, chosen))
    if args.out:
        from simulator.io import save_results

        save_results(ds, args.out)
        print(f"\nresults: {args.out}")
    return 0
