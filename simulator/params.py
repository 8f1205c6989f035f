"""Flatten a :class:`~simulator.config.Scenario` into the engines' parameter arrays.

Every numeric key of a scenario has one dotted path and one or more slots in
the flat vector ``theta`` (see ``_layout.py``).  The same dotted path addresses
a parameter everywhere: ``--set`` overrides, sweeps, sensitivity studies and
calibration.  ``ParameterLayout.slots(path)`` turns a path into slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator import _layout as L
from simulator.config import Effects, Scenario, ScenarioError

__all__ = ["ParameterLayout", "build_layout"]

_COMPANY_KEYS: dict[str, int] = {
    "revenue": L.C_REVENUE,
    "valuation": L.C_VALUATION,
    "cash": L.C_CASH,
    "beta_sector": L.C_BETA,
    "growth.initial": L.G_INITIAL,
    "growth.long_run": L.G_LONG_RUN,
    "growth.kappa": L.G_KAPPA,
    "growth.sigma_growth": L.G_SIGMA_GROWTH,
    "growth.sigma_revenue": L.G_SIGMA_REVENUE,
    "growth.sigma_revenue_long_run": L.G_SIGMA_REVENUE_LR,
    "growth.volatility_decay": L.G_DECAY,
    "growth.market_price_of_risk": L.G_LAMBDA,
    "pricing.price_drift": L.P_DRIFT,
    "pricing.price_sigma": L.P_SIGMA,
    "pricing.pass_through": L.P_PASS_THROUGH,
    "pricing.elasticity": L.P_ELASTICITY,
    "pricing.compute_cost_share": L.P_COST_SHARE,
    "pricing.compute_cost_drift": L.P_COST_DRIFT,
    "pricing.scarcity_premium": L.P_SCARCITY,
    "chips.enabled": L.K_ENABLED,
    "chips.cards": L.K_CARDS,
    "chips.domestic_per_month": L.K_DOMESTIC,
    "chips.imports_per_month": L.K_IMPORTS,
    "chips.depreciation": L.K_DEPRECIATION,
    "chips.card_price": L.K_CARD_PRICE,
    "chips.revenue_per_card": L.K_REVENUE_PER_CARD,
    "costs.opex": L.O_OPEX,
    "costs.opex_growth": L.O_GROWTH,
    "costs.tax_rate": L.O_TAX,
    "costs.loss_carryforward": L.O_LOSS_CF,
    "costs.interest_rate": L.O_INTEREST,
    "funding.enabled": L.F_ENABLED,
    "funding.runway_trigger_months": L.F_TRIGGER,
    "funding.base_logit": L.F_BASE_LOGIT,
    "funding.narrative_sensitivity": L.F_NARRATIVE_SENS,
    "funding.raise_fraction_of_valuation": L.F_RAISE_FRACTION,
    "funding.backstop_probability": L.F_BACKSTOP_PROB,
    "funding.backstop": L.F_BACKSTOP,
    "funding.recovery_fraction": L.F_RECOVERY,
    "narrative.long_run": L.N_LONG_RUN,
    "narrative.kappa": L.N_KAPPA,
    "narrative.sigma": L.N_SIGMA,
    "valuation_model.base_multiple": L.V_BASE_MULTIPLE,
    "valuation_model.growth_sensitivity": L.V_GROWTH_SENS,
    "valuation_model.margin_sensitivity": L.V_MARGIN_SENS,
    "valuation_model.exit_multiple": L.V_EXIT_MULTIPLE,
    "valuation_model.discount_rate": L.V_DISCOUNT,
}

_GLOBAL_KEYS: dict[str, int] = {
    "sector.narrative.initial": L.S_INIT,
    "sector.narrative.long_run": L.S_LONG_RUN,
    "sector.narrative.kappa": L.S_KAPPA,
    "sector.narrative.sigma": L.S_SIGMA,
    "outcomes.champion_valuation_ratio": L.OUT_CHAMPION_RATIO,
    "outcomes.champion_max_price_to_sales": L.OUT_CHAMPION_MAX_PS,
    "outcomes.collapse_valuation_ratio": L.OUT_COLLAPSE_RATIO,
}

# Branch effect keys; a bare "growth" addresses the mean, a bare "import_cut"
# both ends of the range.
_BRANCH_KEYS: dict[str, tuple[int, ...]] = {
    "probability": (L.B_PROB,),
    "narrative": (L.B_NARR_MEAN,),
    "narrative.mean": (L.B_NARR_MEAN,),
    "narrative.sd": (L.B_NARR_SD,),
    "growth": (L.B_GROWTH_MEAN,),
    "growth.mean": (L.B_GROWTH_MEAN,),
    "growth.sd": (L.B_GROWTH_SD,),
    "demand": (L.B_DEMAND_MEAN,),
    "demand.mean": (L.B_DEMAND_MEAN,),
    "demand.sd": (L.B_DEMAND_SD,),
    "import_cut": (L.B_CUT_LOW, L.B_CUT_HIGH),
    "import_cut.low": (L.B_CUT_LOW,),
    "import_cut.high": (L.B_CUT_HIGH,),
    "cash": (L.B_CASH,),
    "opex": (L.B_OPEX,),
}


@dataclass(frozen=True)
class ParameterLayout:
    """The engines' view of a scenario: parameter vector, event tables, path registry.

    Attributes
    ----------
    theta : ndarray, shape (n_theta,)
        Every numeric parameter.
    events : ndarray of int64, shape (n_events, 4)
        Per event: company index (-1 sector), theta slot, first branch, branch count.
    branches : ndarray of int64, shape (n_branches,)
        Theta slot of each branch record.
    paths : dict
        Dotted path -> tuple of theta slots.
    """

    theta: np.ndarray
    events: np.ndarray
    branches: np.ndarray
    paths: dict[str, tuple[int, ...]] = field(repr=False)
    company_names: tuple[str, ...]
    event_names: tuple[str, ...]

    @property
    def n_theta(self) -> int:
        """Length of the parameter vector."""
        return int(self.theta.shape[0])

    def slots(self, path: str) -> tuple[int, ...]:
        """Theta slots of a dotted path; ``ScenarioError`` naming it if it is not numeric."""
        try:
            return self.paths[path]
        except KeyError:
            raise ScenarioError(
                f"{path}: not a numeric scenario key (e.g. companies.{self.company_names[0]}"
                ".growth.long_run; see docs/scenario-reference.md)") from None


def _company_values(company) -> dict[str, float]:
    g, p, k, o, f, n, v = (company.growth, company.pricing, company.chips, company.costs,
                           company.funding, company.narrative, company.valuation_model)
    return {
        "revenue": company.revenue, "valuation": company.valuation, "cash": company.cash,
        "beta_sector": company.beta_sector,
        "growth.initial": g.initial, "growth.long_run": g.long_run, "growth.kappa": g.kappa,
        "growth.sigma_growth": g.sigma_growth, "growth.sigma_revenue": g.sigma_revenue,
        "growth.sigma_revenue_long_run": g.sigma_revenue_final,
        "growth.volatility_decay": g.volatility_decay,
        "growth.market_price_of_risk": g.market_price_of_risk,
        "pricing.price_drift": p.price_drift, "pricing.price_sigma": p.price_sigma,
        "pricing.pass_through": p.pass_through, "pricing.elasticity": p.elasticity,
        "pricing.compute_cost_share": p.compute_cost_share,
        "pricing.compute_cost_drift": p.compute_cost_drift,
        "pricing.scarcity_premium": p.scarcity_premium,
        "chips.enabled": float(k.enabled), "chips.cards": k.cards,
        "chips.domestic_per_month": k.domestic_per_month,
        "chips.imports_per_month": k.imports_per_month, "chips.depreciation": k.depreciation,
        "chips.card_price": k.card_price, "chips.revenue_per_card": k.revenue_per_card,
        "costs.opex": o.opex, "costs.opex_growth": o.opex_growth, "costs.tax_rate": o.tax_rate,
        "costs.loss_carryforward": o.loss_carryforward, "costs.interest_rate": o.interest_rate,
        "funding.enabled": float(f.enabled), "funding.runway_trigger_months": f.runway_trigger_months,
        "funding.base_logit": f.base_logit, "funding.narrative_sensitivity": f.narrative_sensitivity,
        "funding.raise_fraction_of_valuation": f.raise_fraction_of_valuation,
        "funding.backstop_probability": f.backstop_probability, "funding.backstop": f.backstop,
        "funding.recovery_fraction": f.recovery_fraction,
        "narrative.long_run": n.long_run, "narrative.kappa": n.kappa, "narrative.sigma": n.sigma,
        "valuation_model.base_multiple": v.base_multiple,
        "valuation_model.growth_sensitivity": v.growth_sensitivity,
        "valuation_model.margin_sensitivity": v.margin_sensitivity,
        "valuation_model.exit_multiple": v.exit_multiple,
        "valuation_model.discount_rate": v.discount_rate,
    }


def _branch_values(branch: Effects, probability: float) -> list[float]:
    record = [0.0] * L.N_BRANCH
    record[L.B_PROB] = probability
    record[L.B_NARR_MEAN] = branch.narrative.mean
    record[L.B_NARR_SD] = branch.narrative.sd
    record[L.B_GROWTH_MEAN] = branch.growth.mean
    record[L.B_GROWTH_SD] = branch.growth.sd
    record[L.B_DEMAND_MEAN] = branch.demand.mean
    record[L.B_DEMAND_SD] = branch.demand.sd
    record[L.B_CUT_LOW], record[L.B_CUT_HIGH] = branch.import_cut
    record[L.B_CASH] = branch.cash
    record[L.B_OPEX] = branch.opex
    return record


def build_layout(scenario: Scenario) -> ParameterLayout:
    """Flatten ``scenario`` into a :class:`ParameterLayout`."""
    n_comp = len(scenario.companies)
    theta: list[float] = [0.0] * (L.N_GLOBAL + n_comp * L.N_COMPANY)
    paths: dict[str, tuple[int, ...]] = {}
    sector_narr = scenario.sector.narrative
    out = scenario.outcomes
    global_values = {
        "sector.narrative.initial": sector_narr.initial,
        "sector.narrative.long_run": sector_narr.long_run,
        "sector.narrative.kappa": sector_narr.kappa,
        "sector.narrative.sigma": sector_narr.sigma,
        "outcomes.champion_valuation_ratio": out.champion_valuation_ratio,
        "outcomes.champion_max_price_to_sales": out.champion_max_price_to_sales,
        "outcomes.collapse_valuation_ratio": out.collapse_valuation_ratio,
    }
    for key, slot in _GLOBAL_KEYS.items():
        theta[slot] = float(global_values[key])
        paths[key] = (slot,)
    for c, company in enumerate(scenario.companies):
        offset = L.N_GLOBAL + c * L.N_COMPANY
        values = _company_values(company)
        for key, rel in _COMPANY_KEYS.items():
            theta[offset + rel] = float(values[key])
            paths[f"companies.{company.name}.{key}"] = (offset + rel,)

    events: list[list[int]] = []
    branch_slots: list[int] = []
    event_names: list[str] = []
    scoped = [(-1, "sector.events", e) for e in scenario.sector.events]
    for c, company in enumerate(scenario.companies):
        scoped += [(c, f"companies.{company.name}.events", e) for e in company.events]
    for company_index, prefix, event in scoped:
        slot = len(theta)
        theta.extend([0.0] * L.N_EVENT)
        theta[slot + L.E_HAZARD] = event.hazard_per_year
        base = f"{prefix}.{event.name}"
        paths[f"{base}.hazard_per_year"] = (slot + L.E_HAZARD,)
        branches = event.branches()
        events.append([company_index, slot, len(branch_slots), len(branches)])
        event_names.append(base)
        for branch in branches:
            bslot = len(theta)
            theta.extend(_branch_values(branch, branch.probability))
            branch_slots.append(bslot)
            # An event without outcomes is addressed directly (its one branch).
            bbase = f"{base}.outcomes.{branch.name}" if event.outcomes else base
            for key, rels in _BRANCH_KEYS.items():
                if key == "probability" and not event.outcomes:
                    continue
                paths[f"{bbase}.{key}"] = tuple(bslot + r for r in rels)
    return ParameterLayout(
        theta=np.asarray(theta, dtype=np.float64),
        events=np.asarray(events, dtype=np.int64).reshape(-1, L.N_EV_COLUMNS),
        branches=np.asarray(branch_slots, dtype=np.int64),
        paths=paths,
        company_names=tuple(c.name for c in scenario.companies),
        event_names=tuple(event_names),
    )
