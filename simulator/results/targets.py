"""Named estimates of a results Dataset: ``zhipu.champion@36``, ``zhipu.champion_share@36=0.6``.

A *target* names one probability of a run: a company's outcome probability
(``champion``, ``contested``, ``collapse``), its champion share
(``champion_share`` = P(champion) / (P(champion) + P(collapse))), or, without a
company, ``any_champion`` (at least one company is a champion). ``@H`` is the
horizon in months; ``=VALUE`` the value a calibration should reach.

A *path event* is what one path either does or does not do, for scenario
discovery: an outcome target that each path has (``zhipu.champion@36``,
``any_champion@36``), or a recorded quantity of a company beyond a threshold at
a horizon (``zhipu.valuation@36>=700e9``, with ``>=``, ``>``, ``<=`` or ``<``
and any of ``revenue``, ``valuation``, ``cash``, ``capacity``,
``gross_margin``, ``narrative``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import xarray as xr

from simulator.errors import TargetError
from simulator.model import quantities as Q
from simulator.model.schema import Scenario

__all__ = ["COMPARISONS", "PathEvent", "Target", "TargetError", "all_targets", "parse_event", "parse_target"]

OUTCOMES = ("champion", "contested", "collapse", "champion_share", "any_champion")
_PATTERN = re.compile(r"^(?:(?P<company>[A-Za-z][A-Za-z0-9_-]*)\.)?(?P<outcome>[a-z_]+)@(?P<horizon>\d+)"
                      r"(?:=(?P<value>.+))?$")


@dataclass(frozen=True)
class Target:
    """One named probability of a run, optionally with the value to reach."""

    company: str | None
    outcome: str
    horizon: int
    value: float | None = None

    @property
    def label(self) -> str:
        """The target as written (without the value)."""
        prefix = f"{self.company}." if self.company else ""
        return f"{prefix}{self.outcome}@{self.horizon}"

    def estimate(self, ds: xr.Dataset) -> tuple[float, float, float, int]:
        """(estimate, CI low, CI high, number of trials) of this target in a results Dataset."""
        if self.outcome == "any_champion":
            if "any_champion" in ds:
                p = float(ds["any_champion"].sel(horizon=self.horizon))
                lo, hi = (float(x) for x in ds["any_champion_ci"].sel(horizon=self.horizon).values)
                return p, lo, hi, int(ds.attrs["paths"])
            # One company: at least one champion is that company being a champion.
            company = str(ds["company"].values[0])
            return Target(company, "champion", self.horizon).estimate(ds)
        sel = {"company": self.company, "horizon": self.horizon}
        if self.outcome == "champion_share":
            p = float(ds["champion_share"].sel(sel))
            lo, hi = (float(x) for x in ds["champion_share_ci"].sel(sel).values)
            counts = ds["outcome_count"].sel(sel)
            trials = int(counts.sel(outcome="champion") + counts.sel(outcome="collapse"))
            return p, lo, hi, trials
        p = float(ds["probability"].sel(outcome=self.outcome, **sel))
        lo, hi = (float(x) for x in ds["probability_ci"].sel(outcome=self.outcome, **sel).values)
        return p, lo, hi, int(ds.attrs["paths"])

    def from_counts(self, counts: np.ndarray, any_champion: np.ndarray, paths: int,
                    companies: tuple[str, ...], horizons: tuple[int, ...]) -> tuple[float, int]:
        """(estimate, trials) from raw tallies ``counts[company, horizon, outcome]``."""
        h = horizons.index(self.horizon)
        if self.outcome == "any_champion":
            if len(companies) == 1:
                return counts[0, h, 0] / paths, paths
            return any_champion[h] / paths, paths
        c = companies.index(self.company)
        if self.outcome == "champion_share":
            decided = counts[c, h, 0] + counts[c, h, 2]
            return (counts[c, h, 0] / decided if decided else float("nan")), int(decided)
        o = ("champion", "contested", "collapse").index(self.outcome)
        return counts[c, h, o] / paths, paths


def parse_target(text: str, scenario: Scenario, *, need_value: bool = False, option: str = "--target") -> Target:
    """Parse ``[company.]outcome@horizon[=value]`` and check it against the scenario.

    ``option`` names the command-line option in messages.

    Raises
    ------
    TargetError
        One line naming the target and what is wrong with it.
    """
    m = _PATTERN.match(text.strip())
    if not m:
        raise TargetError(f"{option} {text!r}: expected COMPANY.OUTCOME@MONTHS[=VALUE], "
                          "e.g. zhipu.champion@36=0.6")
    company, outcome, horizon = m["company"], m["outcome"], int(m["horizon"])
    if outcome not in OUTCOMES:
        raise TargetError(f"{option} {text!r}: unknown outcome {outcome!r} (allowed: {', '.join(OUTCOMES)})")
    names = tuple(c.name for c in scenario.companies)
    if outcome == "any_champion":
        if company is not None:
            raise TargetError(f"{option} {text!r}: any_champion takes no company (write any_champion@{horizon})")
    elif company is None:
        raise TargetError(f"{option} {text!r}: name the company, e.g. {names[0]}.{outcome}@{horizon}")
    elif company not in names:
        raise TargetError(f"{option} {text!r}: no company named {company!r} (known: {', '.join(names)})")
    horizons = scenario.scenario.horizon_list
    if horizon not in horizons:
        raise TargetError(f"{option} {text!r}: horizon {horizon} is not one of the scenario's horizons "
                          f"({', '.join(map(str, horizons))})")
    value = None
    if m["value"] is not None:
        try:
            value = float(m["value"])
        except ValueError:
            raise TargetError(f"{option} {text!r}: value {m['value']!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise TargetError(f"{option} {text!r}: value {value:g} is a probability, allowed 0 to 1")
    if need_value and value is None:
        raise TargetError(f"{option} {text!r}: give the value to reach, e.g. {text}=0.6")
    return Target(company, outcome, horizon, value)


def all_targets(scenario: Scenario) -> list[Target]:
    """Every probability a run reports (each outcome and champion share, each company, horizon)."""
    out = []
    for h in scenario.scenario.horizon_list:
        for c in scenario.companies:
            for o in ("champion", "contested", "collapse"):
                out.append(Target(c.name, o, h))
        if len(scenario.companies) > 1:
            out.append(Target(None, "any_champion", h))
    return out


#: Comparisons of a threshold event, longest first (so ``>=`` is not read as ``>``).
COMPARISONS = (">=", "<=", ">", "<")
_EVENT = re.compile(r"^(?:(?P<company>[A-Za-z][A-Za-z0-9_-]*)\.)?(?P<variable>[a-z_]+)@(?P<month>\d+)\s*"
                    r"(?P<op>>=|<=|>|<)\s*(?P<value>\S+)$")


@dataclass(frozen=True)
class PathEvent:
    """Something each path does or does not do: an outcome target, or a quantity beyond a threshold.

    Attributes
    ----------
    target : Target or None
        The outcome (``champion``, ``contested``, ``collapse`` of a company, or
        ``any_champion``) when the event is an outcome.
    company : str or None
        The company of a threshold event.
    variable : str or None
        A recorded quantity (:data:`simulator.model.quantities.VAR_NAMES`) of a threshold event.
    month : int
        The horizon (outcome) or the month (threshold).
    op : str or None
        One of :data:`COMPARISONS` (threshold events).
    threshold : float or None
        The value compared with (threshold events), in the quantity's units.
    """

    target: Target | None
    company: str | None
    variable: str | None
    month: int
    op: str | None = None
    threshold: float | None = None

    @property
    def label(self) -> str:
        """The event as written (``zhipu.champion@36``, ``zhipu.valuation@36>=7e+11``)."""
        if self.target is not None:
            return self.target.label
        return f"{self.company}.{self.variable}@{self.month}{self.op}{self.threshold:g}"

    def from_outcomes(self, path_outcome: np.ndarray, companies, horizons) -> np.ndarray:
        """0/1 per path from outcome codes ``path_outcome`` (path, company, horizon)."""
        t = self.target
        h = list(int(x) for x in horizons).index(t.horizon)
        if t.outcome == "any_champion":
            return (path_outcome[:, :, h] == Q.CHAMPION).any(axis=1)
        c = list(companies).index(t.company)
        return path_outcome[:, c, h] == Q.OUTCOME_NAMES.index(t.outcome)

    def from_values(self, values: np.ndarray) -> np.ndarray:
        """0/1 per path from the quantity's values at the month (threshold events)."""
        v = np.asarray(values, dtype=np.float64)
        x = self.threshold
        return {">=": v >= x, ">": v > x, "<=": v <= x, "<": v < x}[self.op]


def parse_event(text: str, scenario: Scenario, *, option: str = "--outcome") -> PathEvent:
    """Parse a path event: ``[company.]outcome@H``, ``any_champion@H`` or ``company.variable@M>=VALUE``.

    Outcomes are checked by :func:`parse_target` (the company and the horizon must
    exist); a threshold names a company, a recorded quantity, a month from 1 to
    the scenario's last month, a comparison and a number.

    Raises
    ------
    TargetError
        One line naming the option, the text and what is wrong with it.
    """
    text = text.strip()
    if not any(op in text for op in COMPARISONS):
        target = parse_target(text, scenario, option=option)
        if target.value is not None:
            raise TargetError(f"{option} {text!r}: an outcome takes no =VALUE (each path has it or not)")
        if target.outcome == "champion_share":
            raise TargetError(f"{option} {text!r}: champion_share is a ratio of probabilities, not something "
                              "a path does; use champion, contested, collapse or any_champion")
        return PathEvent(target=target, company=target.company, variable=None, month=target.horizon)
    m = _EVENT.match(text)
    names = tuple(c.name for c in scenario.companies)
    if not m:
        raise TargetError(f"{option} {text!r}: expected COMPANY.QUANTITY@MONTH>=VALUE (or >, <=, <), "
                          f"e.g. {names[0]}.valuation@{scenario.scenario.horizon_months}>=700e9")
    company, variable, month = m["company"], m["variable"], int(m["month"])
    if variable not in Q.VAR_NAMES:
        raise TargetError(f"{option} {text!r}: unknown quantity {variable!r} (allowed: {', '.join(Q.VAR_NAMES)})")
    if company is None:
        raise TargetError(f"{option} {text!r}: name the company, e.g. {names[0]}.{variable}@{month}{m['op']}"
                          f"{m['value']}")
    if company not in names:
        raise TargetError(f"{option} {text!r}: no company named {company!r} (known: {', '.join(names)})")
    last = scenario.scenario.horizon_months
    if not 1 <= month <= last:
        raise TargetError(f"{option} {text!r}: month {month} is outside the run (allowed: 1 to {last})")
    try:
        value = float(m["value"])
    except ValueError:
        raise TargetError(f"{option} {text!r}: threshold {m['value']!r} is not a number") from None
    if not np.isfinite(value):
        raise TargetError(f"{option} {text!r}: threshold {value} must be a finite number")
    return PathEvent(target=None, company=company, variable=variable, month=month, op=m["op"], threshold=value)
