"""Competition and convergence (MODEL.md step 9): keys, limits, shares, joint outcomes.

The companies of a path and the platforms share one market; every check here is
either one of MODEL.md's limits (closed form, with a tolerance from the sample
size at a family-wise level), an identity that must hold path by path
(demands below the market, frozen shares, a rival's release), or the switch
that must leave every result bit for bit as it was.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import MODEL_MD
from scipy import stats
from test_limits import FROZEN

import simulator
from simulator.cli.main import main
from simulator.engines.dispatch import simulate
from simulator.errors import ScenarioError
from simulator.model.parameters import build_layout
from simulator.model.quantities import SECTOR_STATE_NAMES, STATE_NAMES
from simulator.model.scenario_file import parse_scenario
from simulator.runner.prepared import prepare_run
from simulator.studies.sweep import parse_sweep_param

# Two labs and the platforms: the labs' market sales (assumption for the tests) with room for both.
DUO = """
[scenario]
name = "duo"
horizon_months = 24
horizons = [12, 24]
seed = 17

[sector]
market_size = 20e9
market_growth = 0.3

[sector.competition]
enabled = true
convergence_rate = 0.2
concentration = 1.0
market_sigma = 0.1
platform_sigma = 0.1

[[sector.events]]
name = "platform_price_war"
hazard_per_year = 0.8
platforms = { mean = 0.2, sd = 0.1 }
market = { mean = 0.05, sd = 0.02 }

[[companies]]
name = "zhipu"
revenue = 724e6
valuation = 700e9
cash = 5e9

[[companies.events]]
name = "model_release"
hazard_per_year = 2.0
outcomes = [
  { name = "top3", probability = 0.3, demand = 0.4, narrative = 0.3 },
  { name = "flop", probability = 0.3, demand = -0.2, narrative = -0.3 },
  { name = "par", probability = 0.4 },
]

[[companies]]
name = "minimax"
revenue = 513e6
valuation = 265e9
cash = 8e9
"""


def duo(**changes) -> str:
    """DUO with ``key = value`` lines replaced (the key's first occurrence)."""
    text = DUO
    for key, value in changes.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert n == 1, key
    return text


# --------------------------------------------------------------------------- keys


def test_model_md_step_9_example_loads(model_example_toml):
    step9 = re.findall(r"```toml\n(.*?)```", MODEL_MD.read_text(encoding="utf-8"), re.DOTALL)[1]
    scenario = parse_scenario(model_example_toml + step9, source="MODEL.md")
    comp = scenario.sector.competition
    assert (comp.enabled, comp.convergence_rate, comp.concentration, comp.market_sigma, comp.platform_sigma) == (
        True, 0.2, 1.0, 0.1, 0.1)
    war = scenario.sector.events[-1]
    assert (war.platforms.mean, war.market.mean) == (0.2, 0.05)


def test_every_key_by_dotted_path():
    layout = build_layout(parse_scenario(DUO, source="duo.toml"))
    for key in ("sector.market_size", "sector.market_growth", "sector.competition.enabled",
                "sector.competition.convergence_rate", "sector.competition.concentration",
                "sector.competition.market_sigma", "sector.competition.platform_sigma",
                "sector.events.platform_price_war.market", "sector.events.platform_price_war.market.sd",
                "sector.events.platform_price_war.platforms.mean"):
        assert layout.slots(key)
    # The market is shared: a company event has no market or platforms key.
    with pytest.raises(ScenarioError, match="not a numeric scenario key"):
        layout.slots("companies.zhipu.events.model_release.outcomes.top3.platforms")


def test_switch_is_no_number_to_vary_or_draw():
    scenario = parse_scenario(DUO, source="duo.toml")
    with pytest.raises(ScenarioError, match="switch"):
        parse_sweep_param("sector.competition.enabled=0,1", scenario, build_layout(scenario))
    text = DUO.replace("enabled = true", 'enabled = { dist = "uniform", low = 0, high = 1 }')
    with pytest.raises(ScenarioError, match=r"sector.competition.enabled: a switch"):
        parse_scenario(text, source="duo.toml")


def test_uncertain_market_must_stay_above_the_revenues():
    ok = DUO.replace("market_size = 20e9", 'market_size = { dist = "uniform", low = 5e9, high = 40e9 }')
    assert parse_scenario(ok, source="duo.toml").uncertain
    bad = DUO.replace("market_size = 20e9", 'market_size = { dist = "uniform", low = 1e9, high = 40e9 }')
    with pytest.raises(ScenarioError) as excinfo:
        parse_scenario(bad, source="duo.toml")
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("duo.toml: sector.market_size = {dist = ")
    assert "draws can reach 1e+09" in message and "summed revenue" in message and "1.237e+09" in message


# --------------------------------------------------------------------------- the model

#: Family-wise false-alarm probability of each statistical test.
ALPHA = 1e-3


def _traced(text: str, paths: int, *, overrides=None, seed: int = 5, engine: str = "numba"):
    """The tally of ``paths`` paths with every state traced month by month."""
    prepared = prepare_run(parse_scenario(text, source="competition.toml", overrides=overrides), paths=paths,
                           seed=seed)
    return simulate(prepared.layout, prepared.plan, paths=paths, seed=prepared.seed, trace_paths=paths,
                    keep_paths=paths, engine=engine, uncertain=prepared.input_callback())


def _state(tally, name: str) -> np.ndarray:
    """A traced company variable, (path, company, month)."""
    return tally.trace[STATE_NAMES.index(name)]


def _sector(tally, name: str) -> np.ndarray:
    """A traced sector variable, (path, month)."""
    return tally.trace_sector[SECTOR_STATE_NAMES.index(name)]


def test_one_small_company_drifts_at_mu_minus_convergence():
    """MODEL.md's competition limit: concentration 1, no market or platform volatility, a company with a
    negligible share (1e9 of a 1e18 market), otherwise the frozen limit: log V_T is normal with mean
    log V0 + (mu - convergence_rate - sigma^2 / 2) T and variance sigma^2 T."""
    overrides = {"sector.market_size": 1e18, "sector.market_growth": 0.35, "sector.competition.enabled": True,
                 "sector.competition.convergence_rate": 0.2, "sector.competition.concentration": 1.0,
                 "sector.competition.market_sigma": 0.0, "sector.competition.platform_sigma": 0.0}
    ds = simulator.run(parse_scenario(FROZEN, source="frozen.toml", overrides=overrides))
    n = ds.attrs["paths"]
    mu, conv, sigma = 0.25, 0.2, 0.4
    checks = []
    for h in ds["horizon"].values:
        t = h / 12.0
        m, s = (mu - conv - sigma**2 / 2.0) * t, sigma * math.sqrt(t)
        for outcome, exact in (("champion", stats.norm.sf(0.0, loc=m, scale=s)),
                               ("collapse", stats.norm.cdf(math.log(0.3), loc=m, scale=s))):
            checks.append((float(ds["probability"].sel(company="solo", horizon=h, outcome=outcome)), exact))
    z = stats.norm.ppf(1.0 - ALPHA / (2.0 * len(checks)))
    for estimate, exact in checks:
        assert abs(estimate - exact) <= z * math.sqrt(exact * (1 - exact) / n), (estimate, exact)
    # Without the convergence the same paths are the frozen limit's (drift mu): the test can tell them apart.
    p36 = stats.norm.sf(0.0, loc=(mu - sigma**2 / 2.0) * 3.0, scale=sigma * math.sqrt(3.0))
    assert abs(float(ds["probability"].sel(company="solo", horizon=36, outcome="champion")) - p36) > 0.1


def test_competed_demands_sum_below_the_market_in_every_path_and_month():
    tally = _traced(DUO, 2000)
    demand = np.exp(_state(tally, "log_competed_demand")).sum(axis=1)  # (path, month)
    market = np.exp(_sector(tally, "log_market"))
    assert np.all(demand < market)
    # Served revenue is at most the competed demand, so the kept paths' revenues stay below the market too.
    assert np.all(tally.kept[0].sum(axis=1) < tally.kept_market)
    # The start: each company's competed demand is its revenue, the platforms hold the rest.
    np.testing.assert_allclose(np.exp(_state(tally, "log_competed_demand")[:, :, 0]), [[724e6, 513e6]] * 2000,
                               rtol=1e-14)
    np.testing.assert_allclose(_sector(tally, "platform_share")[:, 0], 1.0 - (724e6 + 513e6) / 20e9, rtol=1e-12)
    # The shares and the platforms' share add up to 1 in every path and month.
    total = np.exp(_state(tally, "log_share")).sum(axis=1) + _sector(tally, "platform_share")
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)


def test_identical_companies_have_identical_share_distributions():
    """Two copies of one company: their shares in a path are exchangeable, so their distributions are equal.

    Dvoretzky-Kiefer-Wolfowitz on each company's shares (valid whatever their dependence) bounds the gap
    between the two empirical CDFs at 2 eps with probability 1 - 4 exp(-2 n eps^2) >= 1 - ALPHA; and
    each copy leads in half the paths (two-sided binomial test).
    """
    head = DUO[:DUO.index('[[companies]]\nname = "minimax"')]
    zhipu = head[head.index("[[companies]]"):]
    n = 20_000
    tally = _traced(head + zhipu.replace('name = "zhipu"', 'name = "twin"'), n)
    share = np.exp(_state(tally, "log_share"))
    assert share.shape[1] == 2  # zhipu and its twin
    eps = math.sqrt(math.log(4.0 / ALPHA) / (2.0 * n))
    for month in (6, 12, 24):
        a, b = np.sort(share[:, 0, month]), np.sort(share[:, 1, month])
        grid = np.concatenate([a, b])
        gap = np.max(np.abs(np.searchsorted(a, grid, side="right") - np.searchsorted(b, grid, side="right"))) / n
        assert gap <= 2 * eps, (month, gap)
    leads = int(np.count_nonzero(share[:, 0, 24] > share[:, 1, 24]))
    ties = int(np.count_nonzero(share[:, 0, 24] == share[:, 1, 24]))
    assert stats.binomtest(leads, n - ties).pvalue > ALPHA
    assert ties < n  # the copies do move apart


def test_rival_top3_release_lowers_the_others_shares_that_month():
    """Paired paths (same seed): a rival's top-3 release that raises its demand against one that does not.

    Until the rival's first release the two runs are the same paths bit for bit; in the month of it, the
    other company's share and the platforms' share are lower in every path where it happens.
    """
    n = 3000
    base = _traced(DUO, n, overrides={"companies.zhipu.events.model_release.outcomes.top3.demand": 0.0})
    boost = _traced(DUO, n)
    pull_a, pull_b = _state(base, "log_demand")[:, 0], _state(boost, "log_demand")[:, 0]
    differs = pull_a != pull_b
    released = differs.any(axis=1)
    assert released.sum() > n // 2
    first = np.argmax(differs, axis=1)
    other_a = _state(base, "log_share")[:, 1]
    other_b = _state(boost, "log_share")[:, 1]
    paths = np.flatnonzero(released)
    month = first[paths]
    assert np.all(pull_b[paths, month] > pull_a[paths, month])
    assert np.all(other_b[paths, month] < other_a[paths, month])
    assert np.all(_sector(boost, "platform_share")[paths, month] < _sector(base, "platform_share")[paths, month])
    for p, m in zip(paths, month, strict=True):
        assert np.array_equal(other_a[p, :m], other_b[p, :m])


def test_concentration_zero_keeps_every_share_at_its_start_value_exactly():
    """With concentration 0 a share is R_i / M0 whatever the pulls, while every company lives."""
    never_fail = {"companies.zhipu.cash": 1e15, "companies.minimax.cash": 1e15,
                  "sector.competition.concentration": 0.0}
    tally = _traced(DUO, 1000, overrides=never_fail)
    share = _state(tally, "log_share")
    assert np.all(share == share[:, :, :1])  # bit for bit, every month
    np.testing.assert_allclose(np.exp(share[0, :, 0]), [724e6 / 20e9, 513e6 / 20e9], rtol=1e-14)
    platforms = _sector(tally, "platform_share")
    assert np.all(platforms == platforms[:, :1])
    # The pulls and the market do move: the competed demand follows the market alone.
    assert np.ptp(_state(tally, "log_demand")[:, 0, -1]) > 0.5
    demand = _state(tally, "log_competed_demand")[:, :, 1:] - _sector(tally, "log_market")[:, None, 1:]
    np.testing.assert_allclose(demand, share[:, :, 1:], atol=1e-12)


def test_larger_concentration_raises_the_leaders_share():
    """Three labs and the platforms, each a quarter of the market at start, pulls of equal law: the
    largest share is pathwise non-decreasing in the concentration (a sharper power of the same pulls),
    and its mean rises; paired paths (same seed; cash unlimited, so the pulls are the same paths)."""
    text = DUO.replace("market_size = 20e9", "market_size = 4e9")
    overrides = {"companies.zhipu.revenue": 1e9, "companies.minimax.revenue": 1e9,
                 "companies.zhipu.cash": 1e15, "companies.minimax.cash": 1e15,
                 "sector.competition.convergence_rate": 0.0, "sector.competition.platform_sigma": 0.4,
                 "sector.competition.market_sigma": 0.0, "sector.market_growth": 0.0}
    for name in ("zhipu", "minimax"):
        overrides.update({f"companies.{name}.growth.initial": 0.08, f"companies.{name}.growth.long_run": 0.08,
                          f"companies.{name}.growth.sigma_growth": 0.0, f"companies.{name}.growth.sigma_revenue": 0.4,
                          f"companies.{name}.pricing.elasticity": 0.0})
    text = text.replace("[[sector.events]]\nname = \"platform_price_war\"\nhazard_per_year = 0.8",
                        "[[sector.events]]\nname = \"platform_price_war\"\nhazard_per_year = 0.0")
    text = text.replace("hazard_per_year = 2.0", "hazard_per_year = 0.0")
    text += '\n[[companies]]\nname = "deepseek"\nrevenue = 1e9\nvaluation = 200e9\ncash = 1e15\n' \
            "[companies.growth]\ninitial = 0.08\nlong_run = 0.08\nsigma_growth = 0.0\nsigma_revenue = 0.4\n" \
            "[companies.pricing]\nelasticity = 0.0\n"
    n = 4000
    leader = []
    for c in (1.0, 2.0):
        tally = _traced(text, n, overrides={**overrides, "sector.competition.concentration": c})
        shares = np.concatenate([np.exp(_state(tally, "log_share")), _sector(tally, "platform_share")[:, None]],
                                axis=1)
        leader.append(shares.max(axis=1))  # (path, month)
    assert np.all(leader[1] >= leader[0] - 1e-12)
    gain = leader[1][:, 24] - leader[0][:, 24]
    z = gain.mean() / (gain.std(ddof=1) / math.sqrt(n))
    assert z > stats.norm.ppf(1.0 - ALPHA)


def test_switched_off_is_bit_identical_to_no_table():
    """``enabled = false`` with every other competition key and the market effects set: the same results,
    bit for bit, as the scenario without them (the market's draws come from a stream of their own)."""
    plain = DUO.split("[sector.competition]")[0] + DUO[DUO.index("[[companies]]"):]
    off = DUO.replace("enabled = true", "enabled = false").replace(
        "concentration = 1.0", "concentration = 2.5").replace("hazard_per_year = 0.8", "hazard_per_year = 0.8")
    plain = plain.replace("[[companies]]", """[[sector.events]]
name = "platform_price_war"
hazard_per_year = 0.8

[[companies]]""", 1)
    a = simulator.run(parse_scenario(plain, source="plain.toml"), paths=5000, keep_paths=50)
    b = simulator.run(parse_scenario(off, source="off.toml"), paths=5000, keep_paths=50)
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


# --------------------------------------------------------------------------- the big market check


def test_implied_reports_the_static_and_the_dynamic_market_check(tmp_path, capsys):
    """``simulator implied`` keeps the required revenues against the stated market, and with competition on
    adds each company's probability of reaching its required revenue under competition."""
    path = tmp_path / "duo.toml"
    path.write_text(DUO, encoding="utf-8")
    code = main(["implied", str(path), "--paths", "2000", "--replicates", "2", "--seed", "1",
                 "--param", "companies.zhipu.cash", "--range", "0:2e12"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "stated market by month 24" in out
    lines = out.splitlines()
    for company in ("zhipu", "minimax"):
        row = next(i for i, line in enumerate(lines) if line.strip().startswith(company + " "))
        assert "P(revenue at month 24 reaches it, under competition) = " in lines[row + 1]
    off = tmp_path / "off.toml"
    off.write_text(DUO.replace("enabled = true", "enabled = false"), encoding="utf-8")
    main(["implied", str(off), "--paths", "2000", "--replicates", "2", "--seed", "1",
          "--param", "companies.zhipu.cash", "--range", "0:2e12"])
    out = capsys.readouterr().out
    assert "stated market by month 24" in out and "under competition" not in out


def test_a_swept_market_size_is_each_sets_own():
    """sector.market_size is a parameter now: a sweep's static market check uses each set's market, and each
    set equals the plain run with that market (common random numbers)."""
    from simulator.studies.sweep import sweep

    sc = parse_scenario(DUO.replace("enabled = true", "enabled = false"), source="duo.toml")
    ds = sweep(sc, ["sector.market_size=3e9,30e9"], paths=3000, seed=4)
    key = "sector.market_size"
    assert ds["market_size"].dims == (key, "horizon")
    small, large = (ds.sel({key: size}) for size in (3e9, 30e9))
    assert float(small["market_exceeded"].sel(horizon=24)) > float(large["market_exceeded"].sel(horizon=24))
    for size in (3e9, 30e9):
        plain = simulator.run(parse_scenario(DUO.replace("enabled = true", "enabled = false"), source="duo.toml",
                                             overrides={key: size}), paths=3000, seed=4)
        for name in ("market_size", "market_exceeded", "implied_market_share", "outcome_count"):
            np.testing.assert_array_equal(ds[name].sel({key: size}).values, plain[name].values, err_msg=name)
