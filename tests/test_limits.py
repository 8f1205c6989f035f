"""The limits MODEL.md lists, checked with tolerances derived from the sample size.

Every statistical check uses a family-wise error rate of ALPHA over the
comparisons in that test (Bonferroni), so a correct engine fails a test with
probability below ALPHA; seeds are fixed, so the suite is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

import simulator
import simulator.results.outputs
from simulator.model.scenario_file import parse_scenario

ALPHA = 1e-3
POWER_Z = float(stats.norm.ppf(0.99))  # an effect this many standard errors past the critical value is seen 99% of the time

FROZEN = """
[scenario]
name = "frozen"
horizon_months = 36
horizons = [6, 12, 24, 36]
paths = 40000
seed = 11

[sector.narrative]
initial = 0.0
long_run = 0.0
kappa = 0.0
sigma = 0.0

[[companies]]
name = "solo"
revenue = 1e9
valuation = 20e9
cash = 1e15
beta_sector = 1.0

[companies.growth]
initial = 0.25
long_run = 0.25
kappa = 0.0
sigma_growth = 0.0
sigma_revenue = 0.4

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
opex = 0.0
opex_growth = 0.0

[companies.funding]
enabled = false

[companies.narrative]
long_run = 0.0
kappa = 0.0
sigma = 0.0

[outcomes]
champion_valuation_ratio = 1.0
champion_max_price_to_sales = 1e6
collapse_valuation_ratio = 0.3
"""


def _z(k: int) -> float:
    """Two-sided normal quantile for a family of k comparisons at level ALPHA."""
    return float(stats.norm.ppf(1.0 - ALPHA / (2.0 * k)))


def _frozen(**overrides) -> simulator.Scenario:
    return parse_scenario(FROZEN, source="frozen.toml", overrides=overrides or None)


def test_frozen_limit_matches_lognormal_closed_form():
    """Events off, narrative and growth frozen, capacity and cash unlimited: V_T is lognormal."""
    sc = _frozen()
    ds = simulator.run(sc)
    n = ds.attrs["paths"]
    mu, sigma = 0.25, 0.4
    checks = []
    for h in ds["horizon"].values:
        t = h / 12.0
        m, s = (mu - sigma**2 / 2.0) * t, sigma * math.sqrt(t)
        p_up = stats.norm.sf(0.0, loc=m, scale=s)  # P(V_T >= V0)
        p_down = stats.norm.cdf(math.log(0.3), loc=m, scale=s)  # P(V_T <= 0.3 V0)
        checks.append((float(ds["probability"].sel(company="solo", horizon=h, outcome="champion")), p_up))
        checks.append((float(ds["probability"].sel(company="solo", horizon=h, outcome="collapse")), p_down))
    z = _z(len(checks))
    for estimate, exact in checks:
        assert abs(estimate - exact) <= z * math.sqrt(exact * (1 - exact) / n) + 1e-12, (estimate, exact)
    # No failure: cash is unlimited.
    assert float(ds["survival"].min()) == 1.0


def test_frozen_limit_median_valuation_within_histogram_bound():
    sc = _frozen()
    ds = simulator.run(sc, paths=20000)
    n = ds.attrs["paths"]
    mu, sigma, t = 0.25, 0.4, 3.0
    median = 20e9 * math.exp((mu - sigma**2 / 2) * t)
    # Sampling error of the median of a lognormal: se(log median) = s * sqrt(pi / (2n)).
    se_log = sigma * math.sqrt(t) * math.sqrt(math.pi / (2 * n))
    bin_err = simulator.results.outputs.QUANTILE_ERROR["valuation"]
    got = float(ds["valuation_quantile"].sel(company="solo", month=36, quantile=0.5))
    assert abs(math.log(got / median)) <= _z(1) * se_log + math.log1p(bin_err)


def _counting_scenario(hazard: float, *, sector: bool) -> simulator.Scenario:
    """Cash moves only by events of +1: cash_T - cash_0 counts the events."""
    event = f"""
[[{"sector.events" if sector else "companies.events"}]]
name = "tick"
hazard_per_year = {hazard}
cash = 1.0
"""
    text = FROZEN.replace("cash = 1e15", "cash = 1000.0").replace("compute_cost_share = 0.5",
                                                                   "compute_cost_share = 1.0")
    if sector:
        text = text.replace("[[companies]]", event + "\n[[companies]]")
    else:
        text = text + event
    return parse_scenario(text, source="counting.toml")


@pytest.mark.parametrize("sector", [True, False], ids=["sector-event", "company-event"])
def test_event_counts_are_poisson(sector):
    hazard, months = 1.5, 36
    sc = _counting_scenario(hazard, sector=sector)
    n = 20000
    ds = simulator.run(sc, paths=n, keep_paths=n, seed=5)
    counts = np.rint(ds["path_cash"].sel(company="solo", month=months).values.astype(np.float64) - 1000.0)
    lam = hazard * months / 12.0
    # Chi-square goodness of fit, bins pooled so every expected count is >= 5.
    kmax = int(stats.poisson.ppf(1 - 5.0 / n, lam))
    observed = np.bincount(np.minimum(counts.astype(int), kmax), minlength=kmax + 1)
    expected = stats.poisson.pmf(np.arange(kmax + 1), lam) * n
    expected[-1] = stats.poisson.sf(kmax - 1, lam) * n
    assert observed.sum() == n
    result = stats.chisquare(observed, expected)
    assert result.pvalue > ALPHA, (observed, expected.round(1))
    mean_z = (counts.mean() - lam) / math.sqrt(lam / n)
    assert abs(mean_z) <= _z(1)


def test_branch_frequencies_match_probabilities():
    """A two-branch event: cash +1 or +1000; branch shares are binomial."""
    text = FROZEN.replace("cash = 1e15", "cash = 0.0").replace("compute_cost_share = 0.5",
                                                               "compute_cost_share = 1.0")
    text += """
[[companies.events]]
name = "release"
hazard_per_year = 2.0
outcomes = [
  { name = "small", probability = 0.7, cash = 1.0 },
  { name = "big", probability = 0.3, cash = 1000.0 },
]
"""
    sc = parse_scenario(text, source="branches.toml")
    n = 20000
    ds = simulator.run(sc, paths=n, keep_paths=n, seed=9)
    total = ds["path_cash"].sel(company="solo", month=36).values.astype(np.float64)
    big = np.floor(total / 1000.0 + 1e-6)
    small = np.rint(total - 1000.0 * big)
    events, n_big = small.sum() + big.sum(), big.sum()
    share = n_big / events
    assert abs(share - 0.3) <= _z(1) * math.sqrt(0.3 * 0.7 / events)


@pytest.mark.parametrize("kappa", [0.0, 0.8, 3.0])
def test_ou_variance_is_exact(kappa):
    """Sector mood S with the company narrative frozen: Var(S_T) = sigma^2 (1 - e^{-2 kappa T}) / (2 kappa)."""
    sigma, t, n = 0.5, 3.0, 20000
    sc = _frozen(**{"sector.narrative.kappa": kappa, "sector.narrative.sigma": sigma,
                    "sector.narrative.long_run": 0.0})
    ds = simulator.run(sc, paths=n, keep_paths=n, seed=21)
    e = ds["path_narrative"].sel(company="solo").values.astype(np.float64)
    s_t = e[:, -1] - e[:, 0]
    exact = sigma**2 * t if kappa == 0 else sigma**2 * (1 - math.exp(-2 * kappa * t)) / (2 * kappa)
    lo, hi = stats.chi2.ppf([ALPHA / 2, 1 - ALPHA / 2], n - 1) / (n - 1)
    ratio = s_t.var(ddof=1) / exact
    assert lo <= ratio <= hi, (ratio, lo, hi)
    assert abs(s_t.mean()) <= _z(1) * math.sqrt(exact / n)


def test_flat_margin_at_full_pass_through():
    """pass_through = 1, no scarcity, no cost drift: the gross margin never moves."""
    sc = _frozen(**{"companies.solo.pricing.price_sigma": 0.3, "companies.solo.pricing.price_drift": -0.2,
                    "companies.solo.pricing.elasticity": 0.5})
    ds = simulator.run(sc, paths=2000, keep_paths=2000)
    margin = ds["path_gross_margin"].values.astype(np.float64)
    assert np.max(np.abs(margin - 0.5)) < 1e-6
    q = ds["gross_margin_quantile"]
    assert float(np.abs(q - 0.5).max()) < 1e-9  # min == max: quantiles are exact


def test_margin_moves_without_full_pass_through():
    """pass_through = 0.5: c / P = c0 exp(-(1 - 0.5) log P), so g_T = 1 - 0.5 X with X lognormal,
    log X ~ N(0, s^2), s = 0.5 price_sigma sqrt(T): its mean and variance in closed form."""
    n, sigma, t = 4000, 0.3, 3.0
    sc = _frozen(**{"companies.solo.pricing.price_sigma": sigma, "companies.solo.pricing.pass_through": 0.5})
    ds = simulator.run(sc, paths=n, keep_paths=n)
    g = ds["path_gross_margin"].sel(company="solo", month=36).values.astype(np.float64)
    s2 = (0.5 * sigma) ** 2 * t
    var_x = (math.exp(s2) - 1.0) * math.exp(s2)
    kurt = math.exp(4 * s2) + 2 * math.exp(3 * s2) + 3 * math.exp(2 * s2) - 6.0  # excess kurtosis of X
    z = _z(2)
    assert abs(g.mean() - (1.0 - 0.5 * math.exp(s2 / 2))) <= z * math.sqrt(0.25 * var_x / n)
    assert abs(g.var(ddof=1) / (0.25 * var_x) - 1.0) <= z * math.sqrt((kurt + 2.0) / n)
    # Power: at full pass-through the margin would not move at all (the variance test sees it).
    assert z * math.sqrt((kurt + 2.0) / n) + POWER_Z * math.sqrt((kurt + 2.0) / n) < 1.0


def test_schwartz_moon_amazon_bankruptcy_probability():
    """The published anchor: P(bankruptcy over 100 quarters) must land in 27-33%."""
    ds = simulator.run(simulator.load_scenario(_repo_file("scenarios/schwartz_moon_amazon.toml")),
                       paths=40000)
    p_bankrupt = 1.0 - float(ds["survival"].sel(company="amazon", month=300))
    n = ds.attrs["paths"]
    half = _z(1) * math.sqrt(p_bankrupt * (1 - p_bankrupt) / n)
    assert 0.27 + half <= p_bankrupt <= 0.33 - half, p_bankrupt


def _repo_file(rel: str):
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / rel


def _strip_time(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs.pop("created", None)
    return ds


def test_bit_identical_across_threads_and_repeats():
    sc = simulator.load_scenario(_repo_file("scenarios/sector_portfolio.toml"))
    one = simulator.run(sc, paths=9000, seed=3, threads=1, keep_paths=5, block_size=1024)
    two = simulator.run(sc, paths=9000, seed=3, threads=2, keep_paths=5, block_size=1024)
    again = simulator.run(sc, paths=9000, seed=3, threads=2, keep_paths=5, block_size=1024)
    xr.testing.assert_identical(_strip_time(one), _strip_time(two))
    xr.testing.assert_identical(_strip_time(two), _strip_time(again))


def test_bit_identical_across_process_split():
    """Blocks run separately (as on several processes) and merged give the same Dataset."""
    from simulator.engines.dispatch import simulate
    from simulator.engines.plan import plan_run
    from simulator.engines.streams import normalise_seed
    from simulator.engines.tally import merge_tallies
    from simulator.model.parameters import build_layout
    from simulator.results.dataset import build_dataset

    sc = simulator.load_scenario(_repo_file("scenarios/zhipu_base.toml"))
    layout = build_layout(sc)
    plan = plan_run(sc.scenario.horizon_months, sc.scenario.horizon_list)
    seed = normalise_seed(17)
    whole = simulate(layout, plan, paths=10000, seed=seed, block_size=1000, keep_paths=3)
    first = simulate(layout, plan, paths=10000, seed=seed, block_size=1000, keep_paths=3, blocks=range(0, 4))
    second = simulate(layout, plan, paths=10000, seed=seed, block_size=1000, keep_paths=3,
                      blocks=range(4, 10), threads=1)
    merged = merge_tallies(first, second)
    a = _strip_time(build_dataset(sc, layout, plan, whole))
    b = _strip_time(build_dataset(sc, layout, plan, merged))
    xr.testing.assert_identical(a, b)


def test_fresh_entropy_is_recorded_and_reproduces():
    sc = _frozen()
    unseeded = sc.model_copy(update={"scenario": sc.scenario.model_copy(update={"seed": None})})
    first = simulator.run(unseeded, paths=1000)
    entropy = int(first.attrs["seed_entropy"])
    again = simulator.run(sc, paths=1000, seed=entropy)
    xr.testing.assert_identical(_strip_time(first).drop_attrs(), _strip_time(again).drop_attrs())
