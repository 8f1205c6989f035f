"""What a sensitivity study measures and varies: outputs (``zhipu.champion@36``) and key ranges.

May import: :mod:`simulator.errors`, :mod:`simulator.model`, :mod:`simulator.results`
and :mod:`simulator.studies.sweep` (key and value parsing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import xarray as xr

from simulator.errors import ScenarioError, UserError
from simulator.model import quantities as Q
from simulator.model.parameters import ParameterLayout
from simulator.model.schema import Scenario
from simulator.results.outputs import QUANTILES
from simulator.studies.sweep import check_value, parse_number, split_param

__all__ = ["OUTCOME_CODES", "Output", "ParamRange", "default_outputs", "parse_output", "parse_range", "sorted_by",
           "uncertain_ranges"]


OUTCOME_CODES = {name: i for i, name in enumerate(Q.OUTCOME_NAMES)}


@dataclass(frozen=True)
class Output:
    """One scalar output of a set of paths: ``[company.]name@month``.

    ``name`` is an outcome (``champion``, ``contested``, ``collapse``: its
    probability), ``champion_share``, ``survival``, ``any_champion``,
    ``mean_valuation``, ``fundamental_value`` or ``business_value`` (the two
    readings of MODEL.md step 8, at start: no ``@month``), or a quantile
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
        return OUTCOME_CODES.get(self.name)

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
            return (path_outcome[:, :, :, h] == Q.CHAMPION).any(axis=2).astype(np.float64)
        return (path_outcome[:, :, self.company, h] == self.outcome).astype(np.float64)

    def units(self, currency: str) -> str:
        """Units of the output."""
        if self.quantile is not None:
            var = self.name.rsplit("_q", 1)[0]
            return {"gross_margin": "1", "narrative": "log multiple"}.get(var, currency)
        if self.name in ("mean_valuation", *_AT_START):
            return currency
        return "1"


_AT_START = ("fundamental_value", "business_value")
_SCALARS = ("champion_share", "survival", "any_champion", "mean_valuation", *_AT_START)


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
        if name not in Q.VAR_NAMES:
            raise UserError(f"{where}: quantiles exist for {', '.join(Q.VAR_NAMES)}")
        quantile = float(q) / 100.0
        if not any(abs(quantile - lv) < 1e-9 for lv in QUANTILES):
            raise UserError(f"{where}: quantile levels are {', '.join(f'q{round(100 * v)}' for v in QUANTILES)}")
        name = f"{name}_q{q}"
    elif name not in OUTCOME_CODES and name not in _SCALARS:
        raise UserError(f"{where}: {name!r} is not an output (outcomes {', '.join(OUTCOME_CODES)}; "
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
    if name in _AT_START:
        if month is not None:
            raise UserError(f"{where}: the {name.replace('_', ' ')} is at start; drop @{month}")
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
    lo, hi = parse_number(parts[0], where), parse_number(parts[1], where)
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


def sorted_by(ds: xr.Dataset, key: str) -> xr.Dataset:
    """Order the ``parameter`` dimension by ``key`` of the first output, largest first."""
    score = np.nan_to_num(np.asarray(ds[key].isel(output=0).values, dtype=np.float64), nan=-np.inf)
    return ds.isel(parameter=np.argsort(-score, kind="stable"))
