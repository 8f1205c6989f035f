"""Why no value of a key justifies the price: which part of the model binds, and the override that lifts it.

``simulator implied`` solves for the value of one key at which the fundamental
value equals the stated valuation.  When no value in the key's whole allowed
range does, the answer is not "widen the range" but what caps the value:
:func:`what_binds` runs the scenario with the key at its most favourable value
and reports, for the company at the last horizon, each limit that holds there:

- chip capacity: served revenue at (nearly) the capacity of the installed cards,
  so more demand earns nothing (``--set companies.<c>.chips.enabled=false`` lifts it);
- cash: paths that fail before the horizon (a certain state backstop lifts it);
- compute costs: a negative gross margin (scarcity premium) at the horizon;
- and always the exit multiple, the one number that turns operating profit at the
  horizon into value.

May import: every layer below :mod:`simulator.studies`.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.model.scenario_file import with_overrides
from simulator.model.schema import Scenario
from simulator.results.formatting import format_amount, percent

__all__ = ["CAPACITY_SHARE", "what_binds"]

#: Served revenue at or above this share of capacity (medians) counts as capped by chips.
CAPACITY_SHARE = 0.9
#: Survival below this at the horizon counts as cash binding.
SURVIVAL = 0.9


def what_binds(scenario: Scenario, company: str, path: str, value: float, *, paths: int, seed=None,
               engine: str = "numba") -> list[str]:
    """One line per limit that holds for ``company`` at the last horizon with ``path`` set to ``value``.

    Each line says what binds, by how much, and the ``--set`` override that lifts it.
    """
    from simulator.runner.api import run

    sc = with_overrides(scenario, {path: value})
    ds = run(sc, paths=paths, seed=seed, engine=engine)
    h = int(ds["horizon"].values[-1])
    at = {"company": company, "month": h}
    cur = sc.currency
    spec = sc.company(company)
    lines = []
    revenue = float(ds["revenue_quantile"].sel(**at, quantile=0.5))
    capacity = float(ds["capacity_quantile"].sel(**at, quantile=0.5))
    if spec.chips.enabled and math.isfinite(capacity) and capacity > 0 and revenue >= CAPACITY_SHARE * capacity:
        lines.append(f"chip capacity caps revenue at {format_amount(capacity, cur)} a year by month {h} (median "
                     f"served revenue {format_amount(revenue, cur)}): lift it with --set "
                     f"companies.{company}.chips.enabled=false, or more cards (chips.domestic_per_month, "
                     "chips.revenue_per_card)")
    alive = float(ds["survival"].sel(**at))
    if alive < SURVIVAL:
        lines.append(f"{percent(1.0 - alive)} of paths fail by month {h} (the cash runs out): lift it with --set "
                     f"companies.{company}.funding.backstop_probability=1, or more cash")
    margin = float(ds["gross_margin_quantile"].sel(**at, quantile=0.5))
    if np.isfinite(margin) and margin < 0.0:
        lines.append(f"compute costs exceed revenue (median gross margin {percent(margin)} at month {h}): lift it "
                     f"with --set companies.{company}.pricing.scarcity_premium=0")
    vm = spec.valuation_model
    lines.append(f"the fundamental value is the discounted cash plus {vm.exit_multiple:g}x operating profit at "
                 f"month {h} (discount rate {vm.discount_rate:g}): a larger "
                 f"companies.{company}.valuation_model.exit_multiple raises it in proportion")
    return lines
