"""Analytic limits beyond MODEL.md's list: channels whose law has a closed form, and an independent
implementation of the Schwartz-Moon anchor.

- the company narrative reverting toward a non-zero ``long_run`` from a start away from it (exact
  Ornstein-Uhlenbeck mean and variance);
- the funding channel's raise probability against the logistic at a fixed narrative (the count of
  raises per path is Binomial(months, p));
- taxes with a loss carry-forward and interest on cash, for a deterministic company that first
  loses money and then earns it (MODEL.md step 6 month by month, to 1e-9, both engines);
- installed cards with depreciation and Poisson deliveries (closed-form mean and variance);
- the Schwartz-Moon Amazon anchor against a numpy implementation of docs/model-decisions.md's
  month written here (two-sample tests: the bankruptcy probability and the equity value).

(The backstop saving a company with its probability is tests/test_fundamental_value.py's.)

Statistical checks use a family-wise error rate of ALPHA over the checks of each test
(Bonferroni); each says what effect it would see (a power check at 99%).  Seeds are fixed, so
the suite is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from test_fundamental_value import DETERMINISTIC
from test_limits import FROZEN

import simulator
from simulator.engines.dispatch import simulate
from simulator.model.quantities import STATE_NAMES
from simulator.model.scenario_file import parse_scenario
from simulator.runner.prepared import prepare_run

ALPHA = 1e-3
POWER_Z = float(stats.norm.ppf(0.99))  # an effect this many standard errors past the critical value is seen 99% of the time
DT = 1.0 / 12.0


def _z(k: int) -> float:
    """Two-sided normal critical value for a family of k checks at level ALPHA."""
    return float(stats.norm.ppf(1.0 - ALPHA / (2.0 * k)))


def _traced(sc, paths: int, seed: int, engine: str = "numba"):
    """(tally, state rows by name) of a run with every path traced."""
    p = prepare_run(sc, paths=paths, seed=seed, engine=engine)
    t = simulate(p.layout, p.plan, paths=paths, seed=p.seed, engine=engine, trace_paths=paths, market=p.market)
    return t, {name: t.trace[i] for i, name in enumerate(STATE_NAMES)}


# --------------------------------------------------------------------------- narrative


def test_company_narrative_reverts_to_a_non_zero_long_run():
    """E_t = lr + (E0 - lr) e^{-k t} + noise of variance s^2 (1 - e^{-2 k t}) / (2 k), sector mood frozen.

    The start E0 = log(V0 / R0) - log(base_multiple) = log 2 is implied by the valuation; the
    long run is -1, so the mean crosses from positive to negative over the three years.
    """
    lr, kappa, sigma, n = -1.0, 0.7, 0.4, 20_000
    sc = parse_scenario(FROZEN, source="frozen.toml", overrides={
        "companies.solo.narrative.long_run": lr, "companies.solo.narrative.kappa": kappa,
        "companies.solo.narrative.sigma": sigma})
    e0 = math.log(20e9 / 1e9) - math.log(10.0)
    ds = simulator.run(sc, paths=n, keep_paths=n, seed=31)
    assert float(ds["implied_narrative"].sel(company="solo")) == pytest.approx(e0, rel=1e-12)
    months = (3, 12, 36)
    z = _z(2 * len(months))
    chi_lo, chi_hi = stats.chi2.ppf([ALPHA / (4 * len(months)), 1 - ALPHA / (4 * len(months))], n - 1) / (n - 1)
    for m in months:
        t = m / 12.0
        e = ds["path_narrative"].sel(company="solo", month=m).values.astype(np.float64)
        mean = lr + (e0 - lr) * math.exp(-kappa * t)
        var = sigma**2 * (1.0 - math.exp(-2.0 * kappa * t)) / (2.0 * kappa)
        se = math.sqrt(var / n)
        assert abs(e.mean() - mean) <= z * se, (m, e.mean(), mean, se)
        assert chi_lo <= e.var(ddof=1) / var <= chi_hi, (m, e.var(ddof=1), var)
        # Power: reverting to 0 instead of lr, or away from lr (the sign of the pull), moves the mean
        # by far more than the test allows.
        for wrong in (e0 * math.exp(-kappa * t), lr + (e0 - lr) * math.exp(kappa * t)):
            assert abs(wrong - mean) > (z + POWER_Z) * se


# --------------------------------------------------------------------------- funding


#: A deterministic company that always wants money: cash 50B burning 108M a month, runway about
#: 460 months against a trigger of 1,200.  Each raise brings 1e-4 V0, too little to end the wish.
_ALWAYS_RAISING = """enabled = true
runway_trigger_months = 1200
base_logit = {base}
narrative_sensitivity = {sens}
raise_fraction_of_valuation = 1e-4
backstop_probability = 0.0
backstop = 0.0"""


@pytest.mark.parametrize(("base", "sens", "e0"), [(1.0, 2.0, -1.2), (-0.5, 1.5, 0.7)])
def test_raises_succeed_with_the_logistic_probability_of_the_narrative(base, sens, e0):
    """Every month one attempt with p = 1 / (1 + exp(-(base_logit + narrative_sensitivity E))): per path
    the number of raises in 36 months is Binomial(36, p) (the narrative is frozen at E0)."""
    months, n = 36, 2000
    text = DETERMINISTIC.format(months=months, cash=50e9, funding=_ALWAYS_RAISING.format(base=base, sens=sens))
    v0 = 10e9 * math.exp(e0)  # base multiple 10 on revenue 1e9: E0 = log(V0 / 1e10)
    text = text.replace("valuation = 10e9", f"valuation = {v0!r}").replace("discount_rate = 0.12",
                                                                          "discount_rate = 0.0")
    sc = parse_scenario(text, source="raising.toml")
    _, s = _traced(sc, n, seed=3)
    assert np.allclose(s["narrative"][:, 0, :], e0, rtol=1e-12)  # frozen at the implied start
    raises = s["raised"][:, 0, -1] / (1e-4 * v0)  # undiscounted: the number of raises times V0 / 1e4
    k = np.rint(raises)
    np.testing.assert_allclose(raises, k, atol=1e-6)
    p = 1.0 / (1.0 + math.exp(-(base + sens * e0)))
    total = int(k.sum())
    test = stats.binomtest(total, n * months, p)
    assert test.pvalue > ALPHA / 2, (total / (n * months), p)
    # Per path: Binomial(36, p), one independent draw a month (chi-square, bins pooled to >= 5 expected).
    expected = stats.binom.pmf(np.arange(months + 1), months, p) * n
    observed = np.bincount(k.astype(int), minlength=months + 1).astype(float)
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:
        obs, exp = np.append(obs[:-2], obs[-2:].sum()), np.append(exp[:-2], exp[-2:].sum())
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > ALPHA / 2
    # Power: the narrative's sign flipped, or ignored, changes p by more than the test allows.
    se = math.sqrt(p * (1 - p) / (n * months))
    for wrong in (1 / (1 + math.exp(-(base - sens * e0))), 1 / (1 + math.exp(-base))):
        assert abs(wrong - p) > (_z(2) + POWER_Z) * se


# --------------------------------------------------------------------------- taxes and interest


def _taxed_company(months: int) -> tuple[str, dict]:
    """A deterministic company whose revenue grows 30% a year past its flat-growing opex: losses
    first (they add to the carry-forward), then profits that use it up, then taxes."""
    inputs = {"revenue": 1e9, "growth": 0.3, "margin": 0.5, "opex": 0.6e9, "opex_growth": 0.05, "cash": 2e9,
              "tax": 0.25, "carryforward": 0.1e9, "interest": 0.04}
    text = DETERMINISTIC.format(months=months, cash=inputs["cash"], funding="enabled = false")
    text = (text.replace("initial = 0.0\nlong_run = 0.0\nkappa = 0.0\nsigma_growth",
                         f"initial = {inputs['growth']}\nlong_run = {inputs['growth']}\nkappa = 0.0\nsigma_growth")
            .replace("opex = 1.8e9\nopex_growth = 0.0",
                     f"opex = {inputs['opex']}\nopex_growth = {inputs['opex_growth']}\ntax_rate = {inputs['tax']}\n"
                     f"loss_carryforward = {inputs['carryforward']}\ninterest_rate = {inputs['interest']}"))
    return text, inputs


def _taxed_closed_form(months: int, x: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cash, carry-forward and tax paid at the end of each month, MODEL.md step 6 as written."""
    cash, lcf = x["cash"], x["carryforward"]
    out_cash, out_lcf, out_tax = [cash], [lcf], [0.0]
    for m in range(1, months + 1):
        revenue = x["revenue"] * math.exp(x["growth"] * m * DT)  # log D moves by mu dt (no volatility)
        opex = x["opex"] * math.exp(x["opex_growth"] * (m - 1) * DT)  # the rate at the start of the month
        profit = (revenue * x["margin"] - opex) * DT
        if profit < 0:
            tax, lcf = 0.0, lcf - profit
        else:
            used = min(lcf, profit)
            tax, lcf = x["tax"] * (profit - used), lcf - used
        cash = cash + profit + x["interest"] * cash * DT - tax
        out_cash.append(cash)
        out_lcf.append(lcf)
        out_tax.append(tax)
    return np.asarray(out_cash), np.asarray(out_lcf), np.asarray(out_tax)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_taxes_after_the_loss_carryforward_and_interest_on_cash(engine):
    months = 36
    text, x = _taxed_company(months)
    sc = parse_scenario(text, source="taxed.toml")
    cash, lcf, tax = _taxed_closed_form(months, x)
    # The case crosses every branch: losses (carry-forward grows), profits using it up, taxed profits.
    assert np.any(np.diff(lcf) > 0) and np.any(np.diff(lcf) < 0) and lcf[-1] == 0.0 and tax.sum() > 0
    _, s = _traced(sc, 64, seed=1, engine=engine)
    np.testing.assert_allclose(s["cash"][0, 0], cash, rtol=1e-9)
    np.testing.assert_allclose(s["loss_carryforward"][0, 0], lcf, rtol=1e-9, atol=1e-3)
    assert np.all(s["cash"] == s["cash"][:1])  # one path repeated: nothing random
    # The fundamental value at the end: discounted cash plus exit multiple times the last month's
    # (annualised, pre-tax) operating profit.
    t = months / 12.0
    profit = x["revenue"] * math.exp(x["growth"] * t) * x["margin"] - x["opex"] * math.exp(x["opex_growth"] * (t - DT))
    value = (cash[-1] + 15.0 * profit) * math.exp(-0.12 * t)
    ds = simulator.run(sc, paths=64, engine=engine)
    assert float(ds["fundamental_value"].sel(company="solo")) == pytest.approx(value, rel=1e-9)
    # Power: a tax on the profit before the carry-forward, or interest ignored, moves cash by far more.
    no_lcf, _, _ = _taxed_closed_form(months, {**x, "carryforward": 0.0})
    no_interest, _, _ = _taxed_closed_form(months, {**x, "interest": 0.0})
    for wrong in (no_lcf, no_interest):
        assert abs(wrong[-1] / cash[-1] - 1.0) > 1e-4


# --------------------------------------------------------------------------- chips


def test_installed_cards_depreciate_and_grow_by_poisson_deliveries():
    """K_m = a K_{m-1} + Poisson(lam), a = 1 - depreciation / 12, no events (I = 1):
    E[K_m] = a^m K0 + lam (1 - a^m) / (1 - a) and Var[K_m] = lam (1 - a^{2m}) / (1 - a^2)."""
    k0, domestic, imports, depreciation, n = 1000.0, 30.0, 20.0, 0.3, 20_000
    text = DETERMINISTIC.format(months=36, cash=1e15, funding="enabled = false").replace(
        "[companies.chips]\nenabled = false",
        f"[companies.chips]\ncards = {k0}\ndomestic_per_month = {domestic}\nimports_per_month = {imports}\n"
        f"depreciation = {depreciation}\ncard_price = 1e3\nrevenue_per_card = 1e6")
    sc = parse_scenario(text, source="cards.toml")
    ds = simulator.run(sc, paths=n, keep_paths=n, seed=8)
    lam, a = domestic + imports, 1.0 - depreciation * DT
    months = (1, 12, 36)
    z = _z(2 * len(months))
    chi = stats.chi2.ppf([ALPHA / (4 * len(months)), 1 - ALPHA / (4 * len(months))], n - 1) / (n - 1)
    for m in months:
        cards = ds["path_capacity"].sel(company="solo", month=m).values.astype(np.float64) / 1e6  # price index 1
        mean = a**m * k0 + lam * (1 - a**m) / (1 - a)
        var = lam * (1 - a ** (2 * m)) / (1 - a * a)
        se = math.sqrt(var / n)
        assert abs(cards.mean() - mean) <= z * se + 1e-6 * mean, (m, cards.mean(), mean)
        assert chi[0] <= cards.var(ddof=1) / var <= chi[1], (m, cards.var(ddof=1), var)
        # Power: without depreciation the mean would be k0 + lam m.
        if m > 1:
            assert abs(k0 + lam * m - mean) > (z + POWER_Z) * se
    # The cards cost card_price each: cash falls by the purchases (revenue, margin and opex as in
    # the deterministic company, so the flow besides cards is known).
    bought = np.diff(ds["path_capacity"].sel(company="solo").values.astype(np.float64) / 1e6, axis=1)
    new = bought + depreciation * DT * ds["path_capacity"].sel(company="solo").values[:, :-1] / 1e6
    assert np.allclose(new, np.rint(new), atol=1e-2) and new.min() >= -1e-2  # whole cards delivered


# --------------------------------------------------------------------------- Schwartz-Moon


def _schwartz_moon_numpy(sc, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """docs/model-decisions.md's month for one company without events, chips, funding or narrative,
    written independently in numpy: (failed by the end, equity value per path)."""
    c = sc.companies[0]
    g, costs, vm = c.growth, c.costs, c.valuation_model
    rng = np.random.default_rng(seed)
    months = sc.scenario.horizon_months
    margin = 1.0 - c.pricing.compute_cost_share
    log_d = np.full(n, math.log(c.revenue))
    mu = np.full(n, g.initial)
    sig_r, sig_g = g.sigma_revenue, g.sigma_growth
    cash = np.full(n, c.cash)
    lcf = np.full(n, costs.loss_carryforward)
    alive = np.ones(n, dtype=bool)
    a = math.exp(-g.kappa * DT)
    b = math.sqrt((1 - a * a) / (2 * g.kappa))
    decay = math.exp(-g.volatility_decay * DT)
    revenue = np.exp(log_d)
    for m in range(1, months + 1):
        z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
        log_d = log_d + (mu - g.market_price_of_risk * sig_r - 0.5 * sig_r**2) * DT + sig_r * math.sqrt(DT) * z1
        mu = g.long_run + (mu - g.long_run) * a + sig_g * b * z2
        sig_r = g.sigma_revenue_long_run + (sig_r - g.sigma_revenue_long_run) * decay
        sig_g = sig_g * decay
        opex = costs.opex * math.exp(costs.opex_growth * (m - 1) * DT)
        revenue = np.where(alive, np.exp(log_d), revenue)
        profit = (revenue * margin - opex) * DT
        used = np.minimum(lcf, np.maximum(profit, 0.0))
        tax = np.where(profit > 0, costs.tax_rate * (profit - used), 0.0)
        new_lcf = np.where(profit < 0, lcf - profit, lcf - used)
        new_cash = cash + profit + costs.interest_rate * cash * DT - tax
        lcf = np.where(alive, new_lcf, lcf)
        cash = np.where(alive, new_cash, cash)
        alive &= cash >= 0.0
    t = months / 12.0
    value = (cash + vm.exit_multiple * (revenue * margin - costs.opex * math.exp(costs.opex_growth * (t - DT))))
    equity = np.where(alive, np.maximum(value, 0.0), 0.0) * math.exp(-vm.discount_rate * t)
    return ~alive, equity


@pytest.mark.slow
def test_schwartz_moon_anchor_against_an_independent_implementation():
    """Bankruptcy by month 300 and the equity value, engine vs numpy (two-sample tests).

    Tighter than MODEL.md's 27-33% band (tests/test_limits.py keeps that contract): with 100,000
    paths on each side a difference of 1.2 percentage points would be seen (power 99%)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scenarios" / "schwartz_moon_amazon.toml"
    sc = simulator.load_scenario(path)
    n = 100_000
    ds = simulator.run(sc, paths=n, seed=77)
    failed, equity = _schwartz_moon_numpy(sc, n, seed=78)
    p_engine = 1.0 - float(ds["survival"].sel(company="amazon", month=300))
    p_numpy = failed.mean()
    pooled = (p_engine + p_numpy) / 2
    se = math.sqrt(2 * pooled * (1 - pooled) / n)
    z = _z(2)
    assert abs(p_engine - p_numpy) <= z * se, (p_engine, p_numpy, se)
    assert (z + POWER_Z) * se < 0.012
    fv = float(ds["fundamental_value"].sel(company="amazon"))
    lo, hi = ds["fundamental_value_ci"].sel(company="amazon").values
    se_engine = (hi - lo) / 2 / stats.norm.ppf(0.975)
    se_fv = math.hypot(se_engine, equity.std(ddof=1) / math.sqrt(n))
    assert abs(fv - equity.mean()) <= z * se_fv, (fv, equity.mean(), se_fv)
    # Power: a difference of 6% of the equity value would be seen.
    assert (z + POWER_Z) * se_fv < 0.06 * fv
