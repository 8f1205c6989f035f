"""The fundamental value's two readings, the backstop rule and export-control easing (MODEL.md steps 1, 5, 6, 8).

Deterministic companies (no volatility, no events) have one path repeated, so
their equity value, business value and month of failure have a closed form,
computed here by an independent month-by-month recurrence of MODEL.md step 6
and compared to 1e-9 with both engines.  The easing check is statistical: its
tolerance comes from the sample size at the family-wise level ALPHA.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import simulator
from simulator.engines.dispatch import simulate
from simulator.model.quantities import STATE_NAMES
from simulator.model.scenario_file import parse_scenario
from simulator.runner.prepared import prepare_run

ALPHA = 1e-3
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

#: A company whose path is certain: constant revenue R, margin g, opex O, no interest or tax.
DETERMINISTIC = """
[scenario]
name = "deterministic"
horizon_months = {months}
horizons = [{months}]
seed = 3

[sector.narrative]
initial = 0.0
long_run = 0.0
kappa = 0.0
sigma = 0.0

[[companies]]
name = "solo"
revenue = 1e9
valuation = 10e9
cash = {cash}
beta_sector = 1.0

[companies.growth]
initial = 0.0
long_run = 0.0
kappa = 0.0
sigma_growth = 0.0
sigma_revenue = 0.0

[companies.pricing]
price_drift = 0.0
price_sigma = 0.0
pass_through = 1.0
elasticity = 0.0
compute_cost_share = 0.5
compute_cost_drift = 0.0
scarcity_premium = 0.0

[companies.chips]
enabled = false

[companies.costs]
opex = 1.8e9
opex_growth = 0.0

[companies.funding]
{funding}

[companies.narrative]
long_run = 0.0
kappa = 0.0
sigma = 0.0

[companies.valuation_model]
base_multiple = 10.0
exit_multiple = 15.0
discount_rate = 0.12
"""

REVENUE, MARGIN, OPEX, V0, EXIT, RATE = 1e9, 0.5, 1.8e9, 10e9, 15.0, 0.12


def _deterministic(months: int, cash: float, funding: str):
    return parse_scenario(DETERMINISTIC.format(months=months, cash=cash, funding=funding),
                          source="deterministic.toml")


def _closed_form(months: int, cash: float, *, raise_fraction=0.0, trigger=12.0, backstop=0.0,
                 backstop_probability=0.0, funding=True):
    """MODEL.md step 6 month by month for the deterministic company: (equity, business, failure month).

    A raise is certain (base_logit 50) when the runway is short; the backstop is
    certain when ``backstop_probability`` is 1 and never when it is 0.
    """
    dt = 1.0 / 12.0
    flow = (REVENUE * MARGIN - OPEX) * dt
    raised_pv = 0.0
    for m in range(1, months + 1):
        cash += flow
        if funding:
            burn = -flow
            if burn > 0.0 and cash < trigger * burn:
                cash += raise_fraction * V0
                raised_pv += raise_fraction * V0 * math.exp(-RATE * m * dt)
            if cash < 0.0 and backstop_probability == 1.0:
                cash += backstop
                raised_pv += backstop * math.exp(-RATE * m * dt)
        if cash < 0.0:
            return 0.0, -raised_pv, m
    value = (cash + EXIT * (REVENUE * MARGIN - OPEX)) * math.exp(-RATE * months * dt)
    return max(value, 0.0), value - raised_pv, 0


CERTAIN_RAISE = """enabled = true
runway_trigger_months = 12
base_logit = 50.0
narrative_sensitivity = 0.0
raise_fraction_of_valuation = 0.01
backstop_probability = 0.0
backstop = 0.0"""


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("case", ["no_funding", "certain_raises", "raises_and_positive_value"])
def test_business_value_equals_the_closed_form(engine, case):
    months = 36
    if case == "no_funding":
        cash, funding, kw = 50e9, "enabled = false", dict(funding=False)
    elif case == "certain_raises":
        # Raised every month (the runway stays short): the terminal value is negative, so the
        # equity value is 0 (floored) while the business value is that value minus the raises.
        cash, funding, kw = 1e9, CERTAIN_RAISE, dict(raise_fraction=0.01)
    else:
        # Enough cash for a positive terminal value, and a trigger that makes it raise anyway:
        # equity minus business value is exactly the discounted money raised.
        cash, funding, kw = 30e9, CERTAIN_RAISE.replace("runway_trigger_months = 12",
                                                        "runway_trigger_months = 400"), dict(
            raise_fraction=0.01, trigger=400.0)
    equity, business, failed = _closed_form(months, cash, **kw)
    assert failed == 0
    ds = simulator.run(_deterministic(months, cash, funding), paths=64, engine=engine)
    sel = ds.sel(company="solo")
    assert float(sel["fundamental_value"]) == pytest.approx(equity, rel=1e-9, abs=1e-3)
    assert float(sel["business_value"]) == pytest.approx(business, rel=1e-9)
    # One path repeated: no sampling error, the interval is the point.
    np.testing.assert_allclose(sel["business_value_ci"].values, business, rtol=1e-9)
    if case == "no_funding":
        assert equity > 0 and business == pytest.approx(equity, rel=1e-12)
    elif case == "certain_raises":
        assert equity == 0.0 and business < -1e10
    else:
        assert equity > 0 and equity - business > 1e9  # the raises are counted once, in the equity value
    assert ds["business_value"].attrs["units"] == "CNY"
    assert "raised" in ds["business_value"].attrs["long_name"]


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("backstop, failure_month", [(80e6, 10), (90e6, 11), (0.0, 10)])
def test_a_backstop_smaller_than_the_shortfall_does_not_save_the_company(engine, backstop, failure_month):
    # 1e9 of cash burning 108.3M a month: cash first goes negative in month 10, 83.3M short.
    # An 80M backstop does not cover it (failure in month 10); 90M does (6.7M left), and month 11
    # is short again by 101.7M, more than the 90M the state brings (failure in month 11).
    funding = (f"enabled = true\nrunway_trigger_months = 12\nbase_logit = 0.0\nraise_fraction_of_valuation = 0.0\n"
               f"backstop_probability = 1.0\nbackstop = {backstop}")
    _, business, expected = _closed_form(24, 1e9, backstop=backstop, backstop_probability=1.0)
    assert expected == failure_month
    ds = simulator.run(_deterministic(24, 1e9, funding), paths=32, engine=engine, keep_paths=32)
    np.testing.assert_array_equal(ds["failure_month"].values, failure_month)
    alive = ds["survival"].sel(company="solo")
    assert float(alive.sel(month=24)) == 0.0
    # The state's money is lost with the company: the business value is minus what it brought.
    assert float(ds["business_value"].sel(company="solo")) == pytest.approx(business, rel=1e-9, abs=1e-3)
    assert float(ds["fundamental_value"].sel(company="solo")) == 0.0


def test_the_backstop_saves_with_its_probability():
    # A backstop big enough for one month saves the company in month 10 with probability p:
    # survivors at month 10 are Binomial(n, p); the month-11 shortfall (101.7M) exceeds 90M, so
    # all fail by month 11 whatever the draw.
    n, p = 40_000, 0.3
    funding = ("enabled = true\nrunway_trigger_months = 12\nbase_logit = 0.0\nraise_fraction_of_valuation = 0.0\n"
               f"backstop_probability = {p}\nbackstop = 90e6")
    sc = _deterministic(12, 1e9, funding)
    ds = simulator.run(sc, paths=n, keep_paths=n)
    months = ds["failure_month"].values[:, 0]
    saved = int(np.count_nonzero(months == 11))
    assert np.all((months == 10) | (months == 11))
    test = stats.binomtest(saved, n, p)
    assert test.pvalue > ALPHA, f"{saved} of {n} saved against p = {p}"
    # Power: a backstop probability 0.02 away would be seen (the interval excludes it).
    lo, hi = test.proportion_ci(confidence_level=1 - ALPHA)
    assert hi - lo < 0.02


def _easing_scenario(hazard: float, low: float, high: float) -> str:
    return DETERMINISTIC.format(months=24, cash=1e15, funding="enabled = false").replace(
        "[companies.chips]\nenabled = false",
        "[companies.chips]\ncards = 1000\ndomestic_per_month = 0\nimports_per_month = 100\ndepreciation = 0.0\n"
        "card_price = 0.0\nrevenue_per_card = 1e6").replace(
        "[[companies]]",
        f"[[sector.events]]\nname = \"export_control_easing\"\nhazard_per_year = {hazard}\n"
        f"import_multiplier = [{low}, {high}]\n\n[[companies]]")


@pytest.mark.parametrize("engine, paths", [("numba", 20_000), ("numpy", 4_000)])
def test_an_easing_raises_installed_cards_by_what_its_multiplier_implies(engine, paths):
    # Imports Poisson(100 I) a month, no depreciation, no domestic supply: E[K_T] = K0 + 100 sum_m E[I_m],
    # and with N_m ~ Poisson(h m dt) easings by the month-m delivery, each multiplying I by an
    # independent uniform k in [low, high], E[I_m] = E[E[k]^N_m] = exp(h m dt (E[k] - 1)).
    hazard, low, high, months = 1.0, 1.5, 2.5, 24
    sc = parse_scenario(_easing_scenario(hazard, low, high), source="easing.toml")
    prepared = prepare_run(sc, paths=paths, seed=17, engine=engine)
    t = simulate(prepared.layout, prepared.plan, paths=paths, seed=prepared.seed, engine=engine,
                 trace_paths=paths, market=prepared.market)
    cards = t.trace[STATE_NAMES.index("cards"), :, 0, -1]
    factor = t.trace[STATE_NAMES.index("import_factor"), :, 0, -1]
    dt = 1.0 / 12.0
    mean_k = (low + high) / 2.0
    expected = 1000 + 100 * sum(math.exp(hazard * m * dt * (mean_k - 1.0)) for m in range(1, months + 1))
    z_crit = stats.norm.ppf(1 - ALPHA / 4)  # two two-sided checks
    se = cards.std(ddof=1) / math.sqrt(paths)
    assert abs(cards.mean() - expected) < z_crit * se, f"mean cards {cards.mean():.1f} vs {expected:.1f} +- {se:.1f}"
    assert factor.max() > 1.0  # the import factor rises above 1 (it could only fall before)
    # Power: without the easing the expectation is 1000 + 100 * 24 = 3400; the check above sees a shift
    # of that size with probability >= 99% (it exceeds the critical value plus 2.33 standard errors).
    assert abs(expected - (1000 + 100 * months)) > (z_crit + stats.norm.ppf(0.99)) * se
    # The import factor's own mean: E[I_T] = exp(h T (E[k] - 1)); its tail is heavy, so test the log:
    # log I_T = sum of N_T iid log k, mean h T E[log k].
    mean_logk = (high * math.log(high) - high - low * math.log(low) + low) / (high - low)
    logs = np.log(factor)
    se_log = logs.std(ddof=1) / math.sqrt(paths)
    assert abs(logs.mean() - hazard * months * dt * mean_logk) < z_crit * se_log


def test_equity_value_exceeds_business_value_by_the_floor_and_the_raised_money():
    # On every shipped scenario where money is raised, per path: equity - business =
    # (discounted shortfall below zero on surviving paths) + (discounted money raised), both >= 0.
    # Checked on traced paths against the engine's own tallies of both readings.
    checked = 0
    for path in sorted(SCENARIOS.glob("*.toml")):
        # The opex of the last month is recovered below from each company's opex growth: a growth
        # drawn per path (zhipu_uncertain) is pinned to its median for this check.
        scenario = simulator.load_scenario(path)
        names = scenario.uncertain.names if scenario.uncertain else ()
        pinned = [f"{k}={c.costs.opex_growth}" for c in scenario.companies
                  if (k := f"companies.{c.name}.costs.opex_growth") in names]
        prepared = prepare_run(path, paths=2000, seed=5, overrides=pinned or None)
        t = simulate(prepared.layout, prepared.plan, paths=2000, seed=prepared.seed, trace_paths=2000,
                     uncertain=prepared.input_callback(), market=prepared.market)
        for c, company in enumerate(prepared.scenario.companies):
            raised = t.trace[STATE_NAMES.index("raised"), :, c, -1]
            if not np.any(raised > 0):
                continue
            checked += 1
            gap = (t.fv[0, c, 1] - t.bv[0, c, 1]) * company.valuation
            alive = t.trace[STATE_NAMES.index("alive"), :, c, -1] > 0.5
            dt = prepared.plan.dt
            opex = t.trace[STATE_NAMES.index("opex"), :, c, -1] / math.exp(company.costs.opex_growth * dt)
            profit = (t.trace[STATE_NAMES.index("revenue"), :, c, -1]
                      * t.trace[STATE_NAMES.index("gross_margin"), :, c, -1] - opex)
            value = t.trace[STATE_NAMES.index("cash"), :, c, -1] + company.valuation_model.exit_multiple * profit
            discount = math.exp(-company.valuation_model.discount_rate * prepared.plan.n_months * dt)
            floor = np.where(alive, np.maximum(-value, 0.0) * discount, 0.0)
            assert gap >= raised.mean() * (1 - 1e-9), path.name
            assert gap == pytest.approx(floor.mean() + raised.mean(), rel=1e-6), f"{path.name} {company.name}"
    assert checked >= 4  # the Zhipu scenarios raise money
