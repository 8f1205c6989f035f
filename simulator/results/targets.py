"""Named estimates of a results Dataset: ``zhipu.champion@36``, ``zhipu.champion_share@36=0.6``.

A *target* names one probability of a run: a company's outcome probability
(``champion``, ``contested``, ``collapse``), its champion share
(``champion_share`` = P(champion) / (P(champion) + P(collapse))), or, without a
company, ``any_champion`` (at least one company is a champion). ``@H`` is the
horizon in months; ``=VALUE`` the value a calibration should reach.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import xarray as xr

from simulator.errors import TargetError
from simulator.model.schema import Scenario

__all__ = ["Target", "TargetError", "all_targets", "parse_target"]

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


def parse_target(text: str, scenario: Scenario, *, need_value: bool = False) -> Target:
    """Parse ``[company.]outcome@horizon[=value]`` and check it against the scenario.

    Raises
    ------
    TargetError
        One line naming the target and what is wrong with it.
    """
    m = _PATTERN.match(text.strip())
    if not m:
        raise TargetError(f"--target {text!r}: expected COMPANY.OUTCOME@MONTHS[=VALUE], "
                          "e.g. zhipu.champion@36=0.6")
    company, outcome, horizon = m["company"], m["outcome"], int(m["horizon"])
    if outcome not in OUTCOMES:
        raise TargetError(f"--target {text!r}: unknown outcome {outcome!r} (allowed: {', '.join(OUTCOMES)})")
    names = tuple(c.name for c in scenario.companies)
    if outcome == "any_champion":
        if company is not None:
            raise TargetError(f"--target {text!r}: any_champion takes no company (write any_champion@{horizon})")
    elif company is None:
        raise TargetError(f"--target {text!r}: name the company, e.g. {names[0]}.{outcome}@{horizon}")
    elif company not in names:
        raise TargetError(f"--target {text!r}: no company named {company!r} (known: {', '.join(names)})")
    horizons = scenario.scenario.horizon_list
    if horizon not in horizons:
        raise TargetError(f"--target {text!r}: horizon {horizon} is not one of the scenario's horizons "
                          f"({', '.join(map(str, horizons))})")
    value = None
    if m["value"] is not None:
        try:
            value = float(m["value"])
        except ValueError:
            raise TargetError(f"--target {text!r}: value {m['value']!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise TargetError(f"--target {text!r}: value {value:g} is a probability, allowed 0 to 1")
    if need_value and value is None:
        raise TargetError(f"--target {text!r}: give the value to reach, e.g. {text}=0.6")
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
