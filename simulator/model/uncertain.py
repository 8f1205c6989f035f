"""Uncertain assumptions: numeric keys given as distributions, drawn per path.

Any numeric model key of a scenario may be a distribution table instead of a
number::

    [companies.growth]
    long_run = { dist = "uniform", low = 0.1, high = 0.6 }

    [[correlations]]                  # optional rank correlations (Gaussian copula)
    a = "companies.zhipu.growth.long_run"
    b = "companies.zhipu.growth.initial"
    rho = 0.5

Before the scenario is validated, :func:`extract_uncertain` finds the tables,
checks them (one-line :class:`~simulator.errors.ScenarioError` naming the file,
the dotted key, the table and the allowed range) and replaces each by its
**median**, so the schema validates and every cross-key rule is checked on a
representative value.  The specs travel on ``Scenario.uncertain``.

Each path draws its own values (:mod:`simulator.engines.input_draws`): standard
normals, correlated through a factor of the copula's normal correlation
matrix, mapped to uniforms by the normal CDF and to values by each
distribution's (truncated) inverse CDF (:meth:`UncertainSet.values`).
Rank (Spearman) correlations ``rho`` become normal correlations
``2 sin(pi rho / 6)``, which keeps the requested rank correlation exactly for a
Gaussian copula.

Distributions (``low``/``high`` always bound the support):

=============  ==========================================  =========================
``dist``       parameters                                  support
=============  ==========================================  =========================
uniform        low, high                                   [low, high]
loguniform     low > 0, high                               [low, high]
normal         mean, sd; optional low, high (truncation)   R or [low, high]
truncnormal    mean, sd, low and/or high                   [low, high]
lognormal      median, sigma (of log) or mean, sd;         (0, inf) or [low, high]
               optional low, high (truncation)
triangular     low, mode, high                             [low, high]
beta           alpha, beta; optional low = 0, high = 1     [low, high]
pert           low, mode, high; optional shape = 4         [low, high]
=============  ==========================================  =========================
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from simulator.errors import ScenarioError
from simulator.model.parameters import BRANCH, COMPANY, GLOBAL
from simulator.model.schema import NAMED_LISTS, Effects, Jump, Scenario, model_of, range_bounds
from simulator.warnings import SimulatorWarning

__all__ = [
    "DISTRIBUTIONS",
    "RECORDED_PATHS",
    "UncertainInput",
    "UncertainSet",
    "check_market_support",
    "extract_uncertain",
    "fmt_table",
    "restore_tables",
]
#: ``simulator.run`` keeps the draws and outcome codes of at most this many paths
#: (for ``simulator attribute`` and the given-data sensitivity methods).
RECORDED_PATHS = 100_000

# Required and optional parameters of each distribution.
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "uniform": (("low", "high"), ()),
    "loguniform": (("low", "high"), ()),
    "normal": (("mean", "sd"), ("low", "high")),
    "truncnormal": (("mean", "sd"), ("low", "high")),
    "lognormal": ((), ("median", "sigma", "mean", "sd", "low", "high")),
    "triangular": (("low", "mode", "high"), ()),
    "beta": (("alpha", "beta"), ("low", "high")),
    "pert": (("low", "mode", "high"), ("shape",)),
}

# Uniforms are kept inside [2^-53, 1 - 2^-53] (the normal CDF of a draw cannot
# resolve more), so inverse CDFs of unbounded distributions stay finite: a
# normal draw lies within about 8.2 standard deviations of its mean.
_U_MIN = 2.0**-53
_U_MAX = 1.0 - 2.0**-53


def fmt_table(table: dict[str, Any]) -> str:
    items = ", ".join(f"{k} = {json.dumps(v) if isinstance(v, str) else repr(v)}" for k, v in table.items())
    return "{" + items + "}"


@dataclass(frozen=True)
class UncertainInput:
    """One uncertain numeric key: where it is and how it is distributed.

    Attributes
    ----------
    path : str
        Dotted path (the same as ``--set``, sweeps and sensitivity use).
    loc : tuple
        Location in the raw TOML data (keys and list indices), to put the table back.
    dist : str
        Distribution name (see :data:`DISTRIBUTIONS`).
    params : tuple of (str, float)
        The table's parameters as given.
    """

    path: str
    loc: tuple
    dist: str
    params: tuple[tuple[str, float], ...]

    @property
    def table(self) -> dict[str, Any]:
        """The distribution table as written in the TOML file."""
        return {"dist": self.dist, **dict(self.params)}

    @cached_property
    def _frozen(self) -> tuple[Any, float, float]:
        """(scipy frozen distribution, CDF at the lower truncation, CDF at the upper)."""
        from scipy import stats  # here, not at import: scipy.stats costs a command most of a second

        p = dict(self.params)
        lo, hi = p.get("low"), p.get("high")
        kind = self.dist
        if kind == "uniform":
            return stats.uniform(loc=lo, scale=hi - lo), 0.0, 1.0
        if kind == "loguniform":
            return stats.loguniform(lo, hi), 0.0, 1.0
        if kind == "triangular":
            return stats.triang((p["mode"] - lo) / (hi - lo), loc=lo, scale=hi - lo), 0.0, 1.0
        if kind == "beta":
            lo = 0.0 if lo is None else lo
            hi = 1.0 if hi is None else hi
            return stats.beta(p["alpha"], p["beta"], loc=lo, scale=hi - lo), 0.0, 1.0
        if kind == "pert":
            shape = p.get("shape", 4.0)
            a = 1.0 + shape * (p["mode"] - lo) / (hi - lo)
            b = 1.0 + shape * (hi - p["mode"]) / (hi - lo)
            return stats.beta(a, b, loc=lo, scale=hi - lo), 0.0, 1.0
        mu, sigma = self._normal_of_log if kind == "lognormal" else (p["mean"], p["sd"])
        base = stats.lognorm(sigma, scale=math.exp(mu)) if kind == "lognormal" else stats.norm(mu, sigma)
        f_lo = 0.0 if lo is None else float(base.cdf(lo))
        f_hi = 1.0 if hi is None else float(base.cdf(hi))
        return base, f_lo, f_hi

    @property
    def _normal_of_log(self) -> tuple[float, float]:
        """(mu, sigma) of the log of a lognormal."""
        p = dict(self.params)
        if "median" in p:
            return math.log(p["median"]), p["sigma"]
        sigma = math.sqrt(math.log1p((p["sd"] / p["mean"]) ** 2))
        return math.log(p["mean"]) - 0.5 * sigma * sigma, sigma

    @cached_property
    def _truncated(self) -> tuple[Any, bool] | None:
        """(scipy truncnorm of the value, or of its log for a lognormal; whether the whole distribution
        needs it), for a normal or lognormal with a truncation; None otherwise.

        ``F^-1(F(lo) + u (F(hi) - F(lo)))`` loses the digits of ``1 - F`` when the
        interval lies far in the upper tail (``F(lo)`` within 2^-26 of 1: more than
        5.6 standard deviations out; values come out coarse, or infinite) and
        underflows far in the lower tail; scipy's ``truncnorm`` inverts such
        intervals stably, and then serves every draw.  Elsewhere the plain formula
        stays (its results unchanged), with ``truncnorm`` only for a draw it cannot
        resolve (a half-normal's largest uniform maps to ``F = 1``).
        """
        p = dict(self.params)
        lo, hi = p.get("low"), p.get("high")
        if self.dist not in ("normal", "truncnormal", "lognormal") or (lo is None and hi is None):
            return None
        if self.dist == "lognormal":
            mu, sigma = self._normal_of_log
            lo = None if lo is None or lo <= 0.0 else math.log(lo)
            hi = None if hi is None else math.log(hi)
        else:
            mu, sigma = p["mean"], p["sd"]
        a = -math.inf if lo is None else (lo - mu) / sigma
        b = math.inf if hi is None else (hi - mu) / sigma
        _, f_lo, f_hi = self._frozen
        tail = 1.0 - f_lo < 2.0**-26 or f_hi < np.finfo(np.float64).tiny
        from scipy import stats  # here, not at import (as in _frozen)

        return stats.truncnorm(a, b, loc=mu, scale=sigma), tail

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF of the (truncated) distribution at uniforms ``u``."""
        base, f_lo, f_hi = self._frozen
        u = np.clip(np.asarray(u, dtype=np.float64), _U_MIN, _U_MAX)
        truncated = self._truncated
        if truncated is not None and truncated[1]:
            return self._stable_ppf(u)
        x = base.ppf(f_lo + u * (f_hi - f_lo)) if (f_lo, f_hi) != (0.0, 1.0) else base.ppf(u)
        if truncated is not None:
            p = dict(self.params)
            lo, hi = p.get("low", -math.inf), p.get("high", math.inf)
            bad = ~np.isfinite(x) | (x < lo) | (x > hi)
            if np.any(bad):
                x = np.where(bad, self._stable_ppf(u), x)
        return x

    def _stable_ppf(self, u: np.ndarray) -> np.ndarray:
        x = self._truncated[0].ppf(u)
        x = np.exp(x) if self.dist == "lognormal" else x
        p = dict(self.params)  # rounding (or exp) must not step outside the bounds
        return np.clip(x, p.get("low", -math.inf), p.get("high", math.inf))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """CDF of the (truncated) distribution."""
        base, f_lo, f_hi = self._frozen
        truncated = self._truncated
        if truncated is not None and truncated[1]:
            x = np.asarray(x, dtype=np.float64)
            if self.dist == "lognormal":
                with np.errstate(divide="ignore"):
                    x = np.log(np.maximum(x, 0.0))
            return np.clip(truncated[0].cdf(x), 0.0, 1.0)
        return np.clip((base.cdf(x) - f_lo) / (f_hi - f_lo), 0.0, 1.0)

    @property
    def unbounded(self) -> bool:
        """Whether the support is infinite at an end (a normal without ``low`` or ``high``, a lognormal
        without ``high``): its extreme quantiles are then far tails (``support`` is about 8.2 standard
        deviations out)."""
        p = dict(self.params)
        if self.dist == "normal":
            return p.get("low") is None or p.get("high") is None
        return self.dist == "lognormal" and p.get("high") is None

    @property
    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (the inverse CDF at the extreme uniforms)."""
        lo, hi = self.ppf(np.asarray([_U_MIN, _U_MAX]))
        return float(lo), float(hi)

    @property
    def median(self) -> float:
        """The representative value that replaces the table in the validated scenario."""
        return float(self.ppf(np.asarray([0.5]))[0])


@dataclass(frozen=True)
class UncertainSet:
    """The uncertain inputs of a scenario and their rank correlations.

    Attributes
    ----------
    inputs : tuple of UncertainInput
        In the order the file gives them.
    correlations : tuple of (str, str, float)
        Rank (Spearman) correlations between pairs of inputs, by dotted path.
    """

    inputs: tuple[UncertainInput, ...] = ()
    correlations: tuple[tuple[str, str, float], ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def names(self) -> tuple[str, ...]:
        """Dotted paths of the inputs."""
        return tuple(i.path for i in self.inputs)

    def index(self, path: str) -> int:
        """Position of the input ``path``."""
        return self.names.index(path)

    def input_at(self, layout, path: str) -> UncertainInput | None:
        """The input that sets the model parameter ``path`` (by its theta slots), or None.

        Compares slots, not spellings, so a key named another way (an alias, a
        list index instead of a name) is still found.
        """
        wanted = set(int(s) for s in layout.slots(path))
        for spec in self.inputs:
            if wanted & set(int(s) for s in layout.slots(spec.path)):
                return spec
        return None

    @cached_property
    def rank_matrix(self) -> np.ndarray:
        """Rank correlation matrix of the inputs (identity where none is given)."""
        k = len(self.inputs)
        r = np.eye(k)
        for a, b, rho in self.correlations:
            i, j = self.index(a), self.index(b)
            r[i, j] = r[j, i] = rho
        return r

    @cached_property
    def normal_factor(self) -> np.ndarray | None:
        """Factor ``A`` with ``A A^T`` the copula's normal correlation; None when independent."""
        if not self.correlations:
            return None
        rn = 2.0 * np.sin(np.pi * self.rank_matrix / 6.0)
        w, v = np.linalg.eigh(rn)
        return v * np.sqrt(np.clip(w, 0.0, None))

    def values(self, u: np.ndarray) -> np.ndarray:
        """Input values from copula uniforms ``u`` (n, inputs)."""
        out = np.empty(u.shape)
        for j, spec in enumerate(self.inputs):
            out[:, j] = spec.ppf(u[:, j])
        return out

    def describe(self) -> list[dict[str, Any]]:
        """Plain-data description (stored as JSON in results attributes)."""
        return [{"path": s.path, **s.table, "median": s.median, "support": list(s.support)}
                for s in self.inputs]

    def to_json(self) -> str:
        """The inputs and correlations as JSON."""
        return json.dumps({"inputs": self.describe(),
                           "correlations": [{"a": a, "b": b, "rho": r} for a, b, r in self.correlations]})

    @classmethod
    def from_json(cls, text: str) -> UncertainSet:
        """The set written by :meth:`to_json` (e.g. a results file's ``uncertain_inputs``).

        The draws are those of the original set (the parameters round-trip exactly);
        only the raw-TOML locations are lost.
        """
        data = json.loads(text)
        inputs = tuple(
            UncertainInput(path=item["path"], loc=(), dist=item["dist"],
                           params=tuple((k, float(v)) for k, v in item.items()
                                        if k not in ("path", "dist", "median", "support")))
            for item in data.get("inputs", ()))
        corr = tuple((c["a"], c["b"], float(c["rho"])) for c in data.get("correlations", ()))
        return cls(inputs=inputs, correlations=corr)


# --------------------------------------------------------------------------- extraction


def _path_of(loc: tuple, raw: dict[str, Any]) -> str:
    """Dotted path of a raw location, naming list items (companies, events, outcomes) by name."""
    parts: list[str] = []
    node: Any = raw
    for i, part in enumerate(loc):
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if i > 0 and loc[i - 1] in _RANGE_KEYS:
                parts.append(("low", "high")[part] if part < 2 else str(part))
            elif isinstance(item, dict):
                name = item.get("name")
                parts.append(str(name) if isinstance(name, str) and name else str(part))
            else:
                parts.append(str(part))
            node = item
        else:
            parts.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


def _numeric_key(loc: tuple) -> str | None:
    """Why the key at ``loc`` cannot be uncertain, or None when it is a numeric model key."""
    keys = [p for p in loc if not isinstance(p, int)]

    def event_key(rest: list) -> str | None:
        # rest: the location after "events", index stripped
        if not rest:
            return "an event table is not a number"
        if rest == ["hazard_per_year"]:
            return None
        if rest[0] == "outcomes":
            if rest[1:] == ["probability"]:
                return None
            rest = rest[1:]
        else:
            if rest == ["probability"]:
                return "probability is a key of a branch in outcomes"
        key = ".".join(str(p) for p in rest)
        if key in BRANCH.keys or (rest[:1] and rest[0] in _RANGE_KEYS and len(rest) == 1):
            return None
        return "not a numeric event key"

    if not keys:
        return "not a key"
    head = keys[0]
    if head == "sector":
        if keys[1:2] == ["events"]:
            return event_key(keys[2:])
        key = ".".join(keys)
        if key == "sector.competition.enabled":
            return "a switch (true/false), not a number"
        return None if key in GLOBAL.keys else "not a numeric model parameter"
    if head == "outcomes":
        return None if ".".join(keys) in GLOBAL.keys else "not a numeric model parameter"
    if head == "companies":
        if keys[1:2] == ["events"]:
            return event_key(keys[2:])
        key = ".".join(keys[1:])
        if key in ("chips.enabled", "funding.enabled"):
            return "a switch (true/false), not a number"
        return None if key in COMPANY.keys else "not a numeric model parameter"
    return "not a numeric model parameter"


#: The range effects of events (``import_cut = [low, high]``) and the bounds of each end.
_RANGE_KEYS = {name: range_bounds(info) for name, info in Effects.model_fields.items() if range_bounds(info)}


def _allowed_range(loc: tuple) -> tuple[float, float, str]:
    """(lowest, highest, text) allowed for the key at ``loc`` by the scenario schema."""
    keys = [p for p in loc if not isinstance(p, int)]
    for key in keys:
        if key in _RANGE_KEYS:
            lo, hi = _RANGE_KEYS[key]
            return lo, hi, f">= {lo:g} and <= {hi:g}"
    model: Any = Scenario
    info = None
    for part in keys:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            info = None
            break
        info = fields[part]
        model = model_of(info.annotation)
    if model is Jump and info is not None:
        info = Jump.model_fields["mean"]
    lo, hi = -math.inf, math.inf
    parts = []
    for meta in (info.metadata if info is not None else ()):
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sym} {value:g}")
                if attr in ("ge", "gt"):
                    lo = float(value)
                else:
                    hi = float(value)
    return lo, hi, " and ".join(parts)


def _check_spec(table: dict[str, Any], where: str) -> tuple[str, tuple[tuple[str, float], ...]]:
    """Validate a distribution table; returns (dist, params) or raises ScenarioError."""
    dist = table.get("dist")
    if not isinstance(dist, str) or dist not in DISTRIBUTIONS:
        raise ScenarioError(f"{where}: dist must be one of {', '.join(DISTRIBUTIONS)}")
    required, optional = DISTRIBUTIONS[dist]
    params: dict[str, float] = {}
    for key, value in table.items():
        if key == "dist":
            continue
        if key not in required and key not in optional:
            allowed = ", ".join((*required, *optional))
            raise ScenarioError(f"{where}: unknown parameter {key!r} of a {dist} distribution "
                                f"(allowed: {allowed})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ScenarioError(f"{where}: {key} = {value!r} must be a finite number")
        params[key] = float(value)
    missing = [k for k in required if k not in params]
    if missing:
        raise ScenarioError(f"{where}: a {dist} distribution needs {', '.join(required)} "
                            f"(missing: {', '.join(missing)})")
    p = params
    lo, hi = p.get("low"), p.get("high")

    def need(cond: bool, text: str) -> None:
        if not cond:
            raise ScenarioError(f"{where}: {text}")

    if lo is not None and hi is not None:
        need(lo < hi, f"low ({lo:g}) must be below high ({hi:g})")
    if dist == "loguniform":
        need(lo > 0.0, f"low ({lo:g}) must be > 0 for a loguniform distribution")
    if dist in ("normal", "truncnormal"):
        need(p["sd"] > 0.0, f"sd ({p['sd']:g}) must be > 0 (a fixed value is a plain number)")
        if dist == "truncnormal":
            need(lo is not None or hi is not None, "a truncnormal distribution needs low and/or high")
    if dist == "lognormal":
        by_median = "median" in p or "sigma" in p
        by_mean = "mean" in p or "sd" in p
        need(by_median != by_mean and (("median" in p and "sigma" in p) or ("mean" in p and "sd" in p)),
             "a lognormal distribution needs median and sigma (of the log) or mean and sd")
        if by_median:
            need(p["median"] > 0.0 and p["sigma"] > 0.0, "median and sigma must be > 0")
        else:
            need(p["mean"] > 0.0 and p["sd"] > 0.0, "mean and sd must be > 0")
        if lo is not None:
            need(lo >= 0.0, f"low ({lo:g}) must be >= 0 for a lognormal distribution")
    if dist in ("triangular", "pert"):
        need(lo <= p["mode"] <= hi, f"mode ({p['mode']:g}) must lie in [low, high] = [{lo:g}, {hi:g}]")
        if dist == "pert":
            need(p.get("shape", 4.0) > 0.0, "shape must be > 0")
    if dist == "beta":
        need(p["alpha"] > 0.0 and p["beta"] > 0.0, "alpha and beta must be > 0")
    return dist, tuple(params.items())


def _find_tables(node: Any, loc: tuple, out: list[tuple[tuple, dict]]) -> None:
    if isinstance(node, dict):
        if "dist" in node:
            out.append((loc, node))
            return
        for key, value in node.items():
            _find_tables(value, (*loc, key), out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _find_tables(value, (*loc, i), out)


def _set_loc(raw: Any, loc: tuple, value: Any) -> None:
    node = raw
    for part in loc[:-1]:
        node = node[part]
    node[loc[-1]] = value


def extract_uncertain(raw: dict[str, Any], *, source: str, previous: UncertainSet | None = None,
                      pinned: Collection[str] = ()) -> tuple[dict[str, Any], UncertainSet]:
    """Replace distribution tables in raw scenario data by their medians; collect the specs.

    Parameters
    ----------
    raw : dict
        Parsed TOML (after ``--set`` overrides); modified in place.
    source : str
        File name for error messages.
    previous : UncertainSet, optional
        The inputs before overrides: their order is kept (new ones come last).
    pinned : collection of str
        Dotted keys set to a number by ``--set``: their correlations are dropped
        (with a one-line warning); a correlation naming any other key that is not
        an uncertain input is an error.

    Returns
    -------
    raw : dict
        The data with every distribution table replaced by its median and the
        top-level ``correlations`` list removed.
    uncertain : UncertainSet
        The specs (empty when the file has none).

    Raises
    ------
    ScenarioError
        One line naming the file, the dotted key, the table and what is wrong.
    """
    correlations = raw.pop("correlations", None)
    found: list[tuple[tuple, dict]] = []
    _find_tables(raw, (), found)
    inputs: list[UncertainInput] = []
    for loc, table in found:
        dotted = _path_of(loc, raw)
        where = f"{source}: {dotted} = {fmt_table(table)}"
        why = _numeric_key(loc)
        if why is not None:
            raise ScenarioError(f"{where}: only numeric model keys can be uncertain ({dotted}: {why})")
        dist, params = _check_spec(table, where)
        spec = UncertainInput(path=dotted, loc=loc, dist=dist, params=params)
        s_lo, s_hi = spec.support
        a_lo, a_hi, text = _allowed_range(loc)
        if s_lo < a_lo or s_hi > a_hi:
            hint = "; give low and high to truncate it" if dist in ("normal", "lognormal") else ""
            raise ScenarioError(f"{where}: draws can reach [{s_lo:.4g}, {s_hi:.4g}], outside the allowed "
                                f"range ({text}){hint}")
        inputs.append(spec)
    if previous:
        rank = {name: i for i, name in enumerate(previous.names)}
        inputs.sort(key=lambda spec: rank.get(spec.path, len(rank)))
    names = [s.path for s in inputs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"{source}: {dup[0]}: given as a distribution twice")
    corr = _check_correlations(correlations, names, source, raw, set(pinned))
    # Replace the tables only now: the dotted paths above name list items from the raw data.
    for spec in inputs:
        _set_loc(raw, spec.loc, spec.median)
    result = UncertainSet(inputs=tuple(inputs), correlations=corr)
    if corr:
        _check_psd(result, source)
    return raw, result


def _check_correlations(items: Any, names: list[str], source: str, raw: dict[str, Any],
                        pinned: set[str]) -> tuple[tuple[str, str, float], ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ScenarioError(f"{source}: correlations: must be an array of tables [[correlations]] "
                            "with a, b and rho")
    out: list[tuple[str, str, float]] = []
    seen: set[frozenset[str]] = set()
    for i, item in enumerate(items):
        where = f"{source}: correlations.{i}"
        if not isinstance(item, dict) or set(item) != {"a", "b", "rho"}:
            raise ScenarioError(f"{where}: each [[correlations]] needs exactly a, b and rho")
        a, b, rho = item["a"], item["b"], item["rho"]
        if not isinstance(a, str) or not isinstance(b, str):
            raise ScenarioError(f"{where}: a and b must be dotted keys in quotes")
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not -1.0 <= rho <= 1.0:
            raise ScenarioError(f"{where}: rho = {rho!r}: out of range (allowed: >= -1 and <= 1)")
        if a == b:
            raise ScenarioError(f"{where}: a and b are the same key ({a})")
        pair = frozenset((a, b))
        if pair in seen:
            raise ScenarioError(f"{where}: the pair ({a}, {b}) is given twice")
        seen.add(pair)
        missing = [k for k in (a, b) if k not in names]
        if missing:
            # A key pinned to a number by --set drops its correlations (said in one line);
            # a key that is a number in the file, or no key at all, is a mistake.
            if all(k in pinned and _is_plain_number(raw, k) for k in missing):
                warnings.warn(f"{where}: {', '.join(missing)} is pinned to a number by --set; the correlation "
                              f"of {a} and {b} (rho = {rho:g}) is dropped", SimulatorWarning, stacklevel=4)
                continue
            key = next((k for k in missing if k not in pinned), missing[0])
            what = "a plain number in the file, not a distribution" if _is_plain_number(raw, key) else \
                "not an uncertain input"
            raise ScenarioError(f"{where}: {key} is {what}; a correlation needs two keys given as "
                                f"distributions (uncertain: {', '.join(names) or 'none'})")
        out.append((a, b, float(rho)))
    return tuple(out)


def _is_plain_number(raw: dict[str, Any], dotted: str) -> bool:
    """True when ``dotted`` names a number in the raw data (companies and events by name)."""
    node: Any = raw
    parts = dotted.split(".")
    i = 0
    while i < len(parts):
        part = parts[i]
        if isinstance(node, dict) and part in NAMED_LISTS and isinstance(node.get(part), list):
            if i + 1 >= len(parts):
                return False
            node = next((x for x in node[part] if isinstance(x, dict) and x.get("name") == parts[i + 1]), None)
            i += 2
            continue
        if isinstance(node, list) and part in ("low", "high") and len(node) == 2:
            node = node[0 if part == "low" else 1]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
        i += 1
    return isinstance(node, (int, float)) and not isinstance(node, bool)


def _check_psd(unc: UncertainSet, source: str) -> None:
    r = unc.rank_matrix
    w = np.linalg.eigvalsh(r)
    if w[0] < -1e-10:
        raise ScenarioError(f"{source}: correlations: the rank correlation matrix of "
                            f"{', '.join(unc.names)} is not positive semi-definite (smallest eigenvalue "
                            f"{w[0]:.3g}); make the correlations consistent, e.g. smaller |rho|")
    rn = 2.0 * np.sin(np.pi * r / 6.0)
    wn = np.linalg.eigvalsh(rn)
    if wn[0] < -1e-10:
        raise ScenarioError(f"{source}: correlations: the copula's normal correlation matrix "
                            f"(2 sin(pi rho / 6)) is not positive semi-definite (smallest eigenvalue "
                            f"{wn[0]:.3g}); make the correlations consistent, e.g. smaller |rho|")


def restore_tables(raw: dict[str, Any], unc: UncertainSet | None) -> dict[str, Any]:
    """Put the distribution tables of ``unc`` back into dumped scenario data (for re-validation)."""
    if not unc:
        return raw
    for spec in unc.inputs:
        try:
            _set_loc(raw, spec.loc, dict(spec.table))
        except (KeyError, IndexError, TypeError):
            continue
    if unc.correlations:
        raw["correlations"] = [{"a": a, "b": b, "rho": r} for a, b, r in unc.correlations]
    return raw


# --------------------------------------------------------------------------- results


def check_market_support(scenario: Scenario) -> None:
    """With competition on, every draw of the market must exceed every draw of the summed revenues.

    MODEL.md step 9 requires ``sector.market_size`` above the companies' summed
    revenue; the schema checks it on the medians, this on the supports of the
    keys given as distributions (one-line :class:`~simulator.errors.ScenarioError`).
    """
    unc = scenario.uncertain
    if not unc or not scenario.sector.competition.enabled:
        return
    by_path = {spec.path: spec for spec in unc.inputs}
    market = by_path.get("sector.market_size")
    lowest = market.support[0] if market is not None else scenario.sector.market_size
    highest = math.fsum(by_path[f"companies.{c.name}.revenue"].support[1] if f"companies.{c.name}.revenue" in by_path
                        else c.revenue for c in scenario.companies)
    if lowest > highest:
        return
    source = scenario.source_path or "<scenario>"
    table = f" = {fmt_table(market.table)}" if market is not None else f" = {scenario.sector.market_size:g}"
    raise ScenarioError(f"{source}: sector.market_size{table}: draws can reach {lowest:.4g}, not above the "
                        f"companies' summed revenue, which draws can take up to {highest:.4g}, with "
                        "sector.competition.enabled = true (the platforms hold the rest of the market at start)")
