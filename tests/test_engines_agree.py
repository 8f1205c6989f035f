"""The numba engine and the numpy reference engine agree in distribution.

The two engines share the model (MODEL.md) and the random streams of each
block, but not the order in which they draw, so they are compared as two
independent samples (they are also run with different seeds, so the samples
are independent by construction).  Every comparison is a hypothesis test whose
tolerance comes from the sample sizes:

* outcome probabilities, survival at each horizon, P(at least one champion)
  and the distribution of the number of champions: two-proportion z-tests
  with the pooled standard error;
* the means of the fundamental value and of V/V0 at each horizon: Welch
  z-tests with both standard errors (from the tallies' M2);
* with several companies, the paths in which both companies of a pair are
  champions (and both collapse), and with any, those whose revenue reached the
  required revenue: two-proportion z-tests;
* the distribution of every recorded variable at each horizon (hence every
  quantile of the fans), with competition the shares, the platforms' share and
  the market too: the largest gap between the two binned CDFs, bounded
  with the Dvoretzky-Kiefer-Wolfowitz inequality (Massart's constant),
  P(sup|F_n - F| > e) <= 2 exp(-2 n e^2), applied to each sample, which needs
  no assumption on the distribution (atoms included) and holds for every n.
  Binning can only shrink the gap, so the bound stays valid (conservative).

Within one test all comparisons form one family: each is made at
``ALPHA / m`` (Bonferroni, ``m`` = the number of comparisons actually made),
so the chance that a correct pair of engines fails a test is at most
``ALPHA`` = 0.001.  Seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from simulator.engines.dispatch import simulate
from simulator.engines.plan import plan_run
from simulator.engines.reference import bin_index
from simulator.engines.streams import normalise_seed
from simulator.engines.tally import merge_tallies
from simulator.model import quantities as L
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import parse_scenario

#: Family-wise false-alarm probability of each test.
ALPHA = 1e-3

MODEL_MD = Path(__file__).resolve().parents[1].parent / "shared" / "MODEL.md"


def _model_example() -> str:
    if not MODEL_MD.is_file():
        pytest.skip(f"{MODEL_MD} not found: the MODEL.md example needs shared/ beside the repository")
    match = re.search(r"```toml\n(.*?)```", MODEL_MD.read_text(encoding="utf-8"), re.DOTALL)
    assert match, f"{MODEL_MD} has no ```toml block"
    return match.group(1)


# A sector of three companies that exercises every channel of the model:
# - sector events with narrative, demand, growth, cash and opex effects, branches,
#   and export-control import cuts;
# - alpha: chips with binding capacity (scarcity premium), raises and backstop,
#   taxes with a loss carry-forward, interest, volatility decay, market price of
#   risk, a recovery fraction, company events with branches;
# - beta: chips disabled, funding disabled (fails when cash runs out), profitable
#   enough to pay taxes, with interest on cash;
# - gamma: a cash-burning startup kept alive by raises and the backstop.
PORTFOLIO = """
[scenario]
name = "engines_portfolio"
horizon_months = 36
horizons = [6, 12, 24, 36]

[sector.narrative]
initial = 0.1
long_run = 0.0
kappa = 0.5
sigma = 0.3

[[sector.events]]
name = "export_control"
hazard_per_year = 0.8
import_cut = [0.3, 0.8]
narrative = { mean = -0.1, sd = 0.2 }

[[sector.events]]
name = "demand_cycle"
hazard_per_year = 0.8
outcomes = [
  { name = "boom", probability = 0.4, demand = { mean = 0.2, sd = 0.1 }, growth = { mean = 0.1, sd = 0.05 }, narrative = 0.2 },
  { name = "bust", probability = 0.6, demand = { mean = -0.3, sd = 0.1 }, growth = -0.1, opex = 1.1, cash = -3e8 },
]

[[sector.events]]
name = "subsidy"
hazard_per_year = 0.5
cash = 1e9
opex = 0.9

[[sector.events]]
name = "licence"
hazard_per_year = 0.4
import_multiplier = [1.2, 2.5]

[[companies]]
name = "alpha"
revenue = 5e9
valuation = 100e9
cash = 4e9
beta_sector = 1.2

[companies.growth]
initial = 0.6
long_run = 0.25
kappa = 0.5
sigma_growth = 0.3
sigma_revenue = 0.5
sigma_revenue_long_run = 0.2
volatility_decay = 0.8
market_price_of_risk = 0.3

[companies.pricing]
price_drift = -0.1
price_sigma = 0.15
pass_through = 0.8
elasticity = 0.4
compute_cost_share = 0.5
compute_cost_drift = -0.05
scarcity_premium = 0.8

[companies.chips]
cards = 20_000
domestic_per_month = 300
imports_per_month = 400
depreciation = 0.25
card_price = 3e5
revenue_per_card = 2.6e5

[companies.costs]
opex = 4e9
opex_growth = 0.15
tax_rate = 0.2
loss_carryforward = 5e8
interest_rate = 0.03

[companies.funding]
runway_trigger_months = 18
base_logit = -3.0
narrative_sensitivity = 1.0
raise_fraction_of_valuation = 0.05
backstop_probability = 0.5
backstop = 3e9
recovery_fraction = 0.2

[companies.narrative]
long_run = 0.5
kappa = 0.4
sigma = 0.4

[companies.valuation_model]
base_multiple = 8.0
growth_sensitivity = 1.5
margin_sensitivity = 2.0
exit_multiple = 12.0
discount_rate = 0.1

[[companies.events]]
name = "model_release"
hazard_per_year = 2.0
outcomes = [
  { name = "top3", probability = 0.25, narrative = { mean = 0.4, sd = 0.2 }, growth = 0.2, demand = 0.1 },
  { name = "flop", probability = 0.25, narrative = { mean = -0.5, sd = 0.2 }, growth = { mean = -0.1, sd = 0.05 } },
  { name = "par", probability = 0.5 },
]

[[companies.events]]
name = "fine"
hazard_per_year = 0.3
cash = -1e9
opex = 1.2

[[companies]]
name = "beta"
revenue = 3e9
valuation = 45e9
cash = 1e9
beta_sector = 0.8

[companies.growth]
initial = 0.3
long_run = 0.15
kappa = 0.8
sigma_growth = 0.15
sigma_revenue = 0.35
volatility_decay = 0.3
sigma_revenue_long_run = 0.25

[companies.pricing]
price_drift = 0.0
price_sigma = 0.1
pass_through = 1.0
elasticity = 0.2
compute_cost_share = 0.3
compute_cost_drift = 0.0
scarcity_premium = 0.5

[companies.chips]
enabled = false

[companies.costs]
opex = 1.3e9
opex_growth = 0.1
tax_rate = 0.25
loss_carryforward = 5e8
interest_rate = 0.04

[companies.funding]
enabled = false

[companies.narrative]
long_run = 0.0
kappa = 0.3
sigma = 0.3

[companies.valuation_model]
base_multiple = 10.0
growth_sensitivity = 1.0
margin_sensitivity = 1.5
exit_multiple = 15.0
discount_rate = 0.1

[[companies]]
name = "gamma"
revenue = 2e8
valuation = 1.2e10
cash = 1.5e9
beta_sector = 1.0

[companies.growth]
initial = 1.5
long_run = 0.3
kappa = 0.6
sigma_growth = 0.4
sigma_revenue = 0.6

[companies.pricing]
price_drift = -0.1
price_sigma = 0.1
pass_through = 1.0
elasticity = 0.3
compute_cost_share = 0.5
compute_cost_drift = -0.05
scarcity_premium = 0.3

[companies.chips]
cards = 5_000
domestic_per_month = 100
imports_per_month = 100
card_price = 2e5
revenue_per_card = 2e5

[companies.costs]
opex = 1.2e9
opex_growth = 0.2

[companies.funding]
runway_trigger_months = 12
base_logit = -2.0
narrative_sensitivity = 0.8
raise_fraction_of_valuation = 0.04
backstop_probability = 0.4
backstop = 1e9

[companies.narrative]
long_run = 0.5
kappa = 0.5
sigma = 0.5

[companies.valuation_model]
base_multiple = 12.0

[[companies.events]]
name = "contract"
hazard_per_year = 1.0
outcomes = [
  { name = "won", probability = 0.5, cash = 3e8, demand = { mean = 0.3, sd = 0.1 } },
  { name = "lost", probability = 0.5, narrative = -0.2, opex = 1.05 },
]

[outcomes]
champion_valuation_ratio = 1.0
champion_max_price_to_sales = 40
collapse_valuation_ratio = 0.3
"""


# ----------------------------------------------------------------------------- statistics


def _two_sided_normal_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def _two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of H0: p1 = p2 (pooled standard error)."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return 1.0  # both proportions 0 or both 1: identical
    return _two_sided_normal_p((x1 / n1 - x2 / n2) / se)


def _welch_p(mom1: np.ndarray, mom2: np.ndarray) -> float:
    """Two-sided p-value of H0: equal means, from (count, mean, M2) of each sample."""
    (n1, m1, s1), (n2, m2, s2) = mom1, mom2
    se = math.sqrt(s1 / (n1 - 1.0) / n1 + s2 / (n2 - 1.0) / n2)
    if se == 0.0:
        return 1.0 if m1 == m2 else 0.0
    return _two_sided_normal_p((m1 - m2) / se)


def _dkw_p(h1: np.ndarray, h2: np.ndarray) -> tuple[float, float]:
    """Bound on P(gap >= observed) under H0 (same distribution), and the gap.

    With e1 + e2 = D split so that n1 e1^2 = n2 e2^2, DKW on each sample gives
    P(sup |F1 - F2| >= D) <= 4 exp(-2 D^2 / (n1^-1/2 + n2^-1/2)^2).
    """
    n1, n2 = h1.sum(), h2.sum()
    gap = float(np.max(np.abs(np.cumsum(h1) / n1 - np.cumsum(h2) / n2)))
    p = 4.0 * math.exp(-2.0 * gap**2 / (n1**-0.5 + n2**-0.5) ** 2)
    return min(1.0, p), gap


@dataclass
class _Family:
    """Comparisons of one test, checked together at family-wise level ``alpha``."""

    alpha: float = ALPHA
    results: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, label: str, p: float, detail: str = "") -> None:
        self.results.append((label, p, detail))

    def check(self) -> None:
        m = len(self.results)
        assert m > 0
        per_test = self.alpha / m
        failed = [r for r in self.results if r[1] < per_test]
        lines = [f"{label}: p={p:.3g} {detail}" for label, p, detail in failed]
        assert not failed, (f"{len(failed)} of {m} comparisons reject equality at family-wise "
                            f"alpha={self.alpha} (each at {per_test:.2e}):\n" + "\n".join(lines))


def _compare(fam: _Family, a, b, layout, plan, *, sa: int = 0, sb: int = 0,
             tag: str = "", hist_months=None) -> None:
    """Add every comparison of tally ``a`` (set ``sa``) with tally ``b`` (set ``sb``)."""
    n1, n2 = int(a.n_paths[sa]), int(b.n_paths[sb])
    names = layout.company_names
    n_comp = len(names)
    for c, name in enumerate(names):
        for h, month in enumerate(plan.horizons):
            where = f"{tag}{name} month {month}"
            for o, outcome in enumerate(L.OUTCOME_NAMES):
                x1, x2 = int(a.counts[sa, c, h, o]), int(b.counts[sb, c, h, o])
                if x1 + x2 > 0:
                    fam.add(f"P({outcome}) {where}", _two_proportion_p(x1, n1, x2, n2),
                            f"{x1 / n1:.4f} vs {x2 / n2:.4f}")
            x1, x2 = int(a.alive[sa, c, month]), int(b.alive[sb, c, month])
            fam.add(f"survival {where}", _two_proportion_p(x1, n1, x2, n2),
                    f"{x1 / n1:.4f} vs {x2 / n2:.4f}")
            fam.add(f"mean V/V0 {where}", _welch_p(a.vh[sa, c, h], b.vh[sb, c, h]),
                    f"{a.vh[sa, c, h, 1]:.5g} vs {b.vh[sb, c, h, 1]:.5g}")
            x1, x2 = int(a.reached[sa, c, h]), int(b.reached[sb, c, h])
            if x1 + x2 > 0:
                fam.add(f"P(required revenue reached) {where}", _two_proportion_p(x1, n1, x2, n2),
                        f"{x1 / n1:.4f} vs {x2 / n2:.4f}")
        fam.add(f"{tag}{name} mean equity value/V0", _welch_p(a.fv[sa, c], b.fv[sb, c]),
                f"{a.fv[sa, c, 1]:.5g} vs {b.fv[sb, c, 1]:.5g}")
        fam.add(f"{tag}{name} mean business value/V0", _welch_p(a.bv[sa, c], b.bv[sb, c]),
                f"{a.bv[sa, c, 1]:.5g} vs {b.bv[sb, c, 1]:.5g}")
        if a.hist is not None:
            months = plan.horizons if hist_months is None else hist_months
            for month in months:
                row = int(plan.rec_row[month])
                for v, var in enumerate(L.VAR_NAMES):
                    p, gap = _dkw_p(a.hist[sa, c, v, row], b.hist[sb, c, v, row])
                    fam.add(f"CDF of {var} {tag}{name} month {month}", p, f"max gap {gap:.4f}")
    if n_comp > 1:
        for h, month in enumerate(plan.horizons):
            x1, x2 = int(a.any_champion[sa, h]), int(b.any_champion[sb, h])
            if x1 + x2 > 0:
                fam.add(f"P(any champion) {tag}month {month}", _two_proportion_p(x1, n1, x2, n2),
                        f"{x1 / n1:.4f} vs {x2 / n2:.4f}")
            for k in range(n_comp + 1):
                x1, x2 = int(a.n_champions[sa, h, k]), int(b.n_champions[sb, h, k])
                if x1 + x2 > 0:
                    fam.add(f"P({k} champions) {tag}month {month}",
                            _two_proportion_p(x1, n1, x2, n2), f"{x1 / n1:.4f} vs {x2 / n2:.4f}")
            for kind, outcome in enumerate(("champions", "collapse")):
                for c in range(n_comp):
                    for d in range(c + 1, n_comp):
                        x1, x2 = int(a.pairs[sa, h, kind, c, d]), int(b.pairs[sb, h, kind, c, d])
                        if x1 + x2 > 0:
                            fam.add(f"P(both {outcome}) {names[c]}-{names[d]} {tag}month {month}",
                                    _two_proportion_p(x1, n1, x2, n2), f"{x1 / n1:.4f} vs {x2 / n2:.4f}")
    if a.share_hist is not None:
        labels = [*(f"share of {name}" for name in names), "platforms' share", "market"]
        months = plan.horizons if hist_months is None else hist_months
        for month in months:
            row = int(plan.rec_row[month])
            for q, label in enumerate(labels):
                p, gap = _dkw_p(a.share_hist[sa, q, row], b.share_hist[sb, q, row])
                fam.add(f"CDF of {label} {tag}month {month}", p, f"max gap {gap:.4f}")


def _check_exact(t, plan, n_comp: int, n_paths: int, n_sets: int = 1) -> None:
    """What every tally must satisfy whatever the draws."""
    assert np.all(t.n_paths == n_paths)
    assert np.all(t.counts.sum(axis=-1) == n_paths)
    assert np.all(t.n_champions.sum(axis=-1) == n_paths)
    assert np.all(t.alive[:, :, 0] == n_paths)
    assert np.all(np.diff(t.alive, axis=-1) <= 0), "failure is absorbing"
    # Champions are alive: P(champion) <= survival; collapse includes every failure.
    for h, month in enumerate(plan.horizons):
        assert np.all(t.counts[:, :, h, L.CHAMPION] <= t.alive[:, :, month])
        assert np.all(t.counts[:, :, h, L.COLLAPSE] >= n_paths - t.alive[:, :, month])
    assert np.all(t.any_champion == n_paths - t.n_champions[:, :, 0])
    assert np.all(t.fv[..., 0] == n_paths) and np.all(t.vh[..., 0] == n_paths)
    # Both champions (collapse) in a pair: at most either's own count; only pairs first < second.
    for kind, outcome in enumerate((L.CHAMPION, L.COLLAPSE)):
        own = t.counts[:, :, :, outcome].transpose(0, 2, 1)  # (set, horizon, company)
        both = t.pairs[:, :, kind]
        assert np.all(both <= own[:, :, :, None]) and np.all(both <= own[:, :, None, :])
        assert np.all(np.tril(both) == 0)  # np.tril: over the last two axes, diagonal included
    assert np.all(t.reached <= t.counts[..., L.CHAMPION] + t.counts[..., L.CONTESTED] + t.counts[..., L.COLLAPSE])
    if t.share_hist is not None:
        assert np.all(t.share_hist.sum(axis=-1) == n_paths)
        for s in range(n_sets):
            for q in range(n_comp + 2):
                for r in range(plan.recorded_months.size):
                    nz = np.flatnonzero(t.share_hist[s, q, r])
                    lo, hi = bin_index(t.share_minmax[s, q, r], L.share_grid(q, n_comp))
                    assert (lo, hi) == (nz[0], nz[-1]), (s, q, r)
    if t.hist is not None:
        assert np.all(t.hist.sum(axis=-1) == n_paths)
        # min and max fall in the first and last non-empty bins.
        for s in range(n_sets):
            for c in range(n_comp):
                for v in range(L.N_VARS):
                    for r in range(plan.recorded_months.size):
                        nz = np.flatnonzero(t.hist[s, c, v, r])
                        lo, hi = bin_index(t.minmax[s, c, v, r], v)
                        assert (lo, hi) == (nz[0], nz[-1]), (s, c, v, r)


def _run_both(layout, plan, paths: int, seed: int, **kw):
    """numba with ``seed``, numpy with ``seed + 1``: independent samples."""
    out = []
    for k, engine in enumerate(("numba", "numpy")):
        out.append(simulate(layout, plan, paths=paths, seed=normalise_seed(seed + k),
                            engine=engine, **kw))
    return out


def _setup(text: str, overrides=None):
    scenario = parse_scenario(text, overrides=overrides)
    layout = build_layout(scenario)
    plan = plan_run(scenario.scenario.horizon_months, scenario.scenario.horizon_list)
    return layout, plan


# ----------------------------------------------------------------------------- tests


def test_bin_index_grid():
    """The reference binning follows the grid of ``_layout`` at its edges."""
    nb = L.HIST_BINS
    for v in range(L.N_VARS):
        low, high = L.HIST_LOW[v], L.HIST_HIGH[v]
        width = (high - low) / (nb - 2)
        if L.HIST_LOG10[v]:
            x = np.array([-1.0, 0.0, 1e-300, np.nan, 10.0**low, 10.0 ** (low + 2.5 * width),
                          10.0 ** (high - 0.5 * width), 10.0**high, np.inf])
            expected = [0, 0, 0, 0, 1, 3, nb - 2, nb - 1, nb - 1]
        else:
            x = np.array([-np.inf, low - 1.0, np.nan, low, low + 2.5 * width, high - 0.5 * width,
                          high, high + 1.0, np.inf])
            expected = [0, 0, 0, 1, 3, nb - 2, nb - 1, nb - 1, nb - 1]
        assert bin_index(x, v).tolist() == expected, L.VAR_NAMES[v]


def test_model_example_agrees():
    """MODEL.md's example scenario: outcomes, survival, means and fans agree."""
    layout, plan = _setup(_model_example())
    paths = 40_000
    a, b = _run_both(layout, plan, paths, seed=20_261_121, keep_paths=64)
    for t in (a, b):
        _check_exact(t, plan, 1, paths)
    # Month 0 is deterministic: both engines put every path in the same bins,
    # with the same extremes, kept values and no failure before month 1.
    assert np.array_equal(a.hist[:, :, :, 0], b.hist[:, :, :, 0])
    np.testing.assert_allclose(a.minmax[:, :, :, 0], b.minmax[:, :, :, 0], rtol=1e-12)
    np.testing.assert_allclose(a.kept[..., 0], b.kept[..., 0], rtol=1e-6)
    # Failed kept paths record zero revenue from their failure month on.
    for t in (a, b):
        for p in range(64):
            f = int(t.fail_month[p, 0])
            if f:
                assert np.all(t.kept[L.VAR_REVENUE, p, 0, f:] == 0.0)
                assert np.all(t.kept[L.VAR_REVENUE, p, 0, 1:f] > 0.0)
            else:
                assert np.all(t.kept[L.VAR_REVENUE, p, 0, :] > 0.0)
    fam = _Family()
    _compare(fam, a, b, layout, plan)
    fam.check()


def test_portfolio_every_channel_agrees():
    """Three companies sharing sector events; every channel of the model is active."""
    layout, plan = _setup(PORTFOLIO)
    paths = 30_000
    a, b = _run_both(layout, plan, paths, seed=7_000)
    for t in (a, b):
        _check_exact(t, plan, 3, paths)
    # The scenario really exercises what it is meant to: champions, failures of
    # the unfunded company, and several champions at once.
    n = paths
    assert a.counts[0, :, :, L.CHAMPION].max(axis=-1).min() > 0.01 * n
    assert (a.alive[0, :, -1] < 0.99 * n).all()
    assert a.n_champions[0, -1, 2:].sum() > 0.01 * n
    fam = _Family()
    _compare(fam, a, b, layout, plan)
    fam.check()


def test_competition_agrees():
    """The portfolio sharing one market with the platforms (MODEL.md step 9), winner-take-most, with the
    market's and the platforms' jumps on sector events: outcomes, pairs, shares and the market agree."""
    text = PORTFOLIO.replace('name = "licence"', 'name = "licence"\nplatforms = { mean = 0.3, sd = 0.1 }\n'
                             'market = { mean = -0.05, sd = 0.05 }')
    layout, plan = _setup(text, overrides={"sector.market_size": 40e9, "sector.competition.enabled": True,
                                           "sector.competition.concentration": 1.5,
                                           "sector.competition.convergence_rate": 0.3})
    paths = 20_000
    a, b = _run_both(layout, plan, paths, seed=9_100)
    for t in (a, b):
        _check_exact(t, plan, 3, paths)
    assert a.share_hist is not None and a.pairs[0, -1, 0].sum() > 0.01 * paths
    fam = _Family()
    _compare(fam, a, b, layout, plan)
    fam.check()


def test_chips_and_funding_disabled_agree():
    """MODEL.md's example without chips (unlimited capacity) and without funding."""
    layout, plan = _setup(_model_example(), overrides=[
        "companies.zhipu.chips.enabled=false", "companies.zhipu.funding.enabled=false",
        "companies.zhipu.costs.tax_rate=0.3", "companies.zhipu.costs.interest_rate=0.05",
        "companies.zhipu.costs.loss_carryforward=1e9", "companies.zhipu.cash=30e9",
        "companies.zhipu.growth.volatility_decay=1.0",
        "companies.zhipu.growth.sigma_revenue_long_run=0.1",
        "companies.zhipu.growth.market_price_of_risk=0.3",
    ])
    paths = 40_000
    a, b = _run_both(layout, plan, paths, seed=31_337)
    for t in (a, b):
        _check_exact(t, plan, 1, paths)
        # No chips: capacity is unlimited, so every path sits in the top bin.
        assert np.all(t.hist[0, 0, L.VAR_CAPACITY, :, -1] == paths)
    fam = _Family()
    _compare(fam, a, b, layout, plan)
    fam.check()


def _uncertain_portfolio(layout):
    """Per-path uncertain growth and hazard, the same for both engines (tied to the block)."""
    slots = np.array([layout.slots("companies.alpha.growth.long_run")[0],
                      layout.slots("sector.events.export_control.hazard_per_year")[0]])

    def uncertain(block, first, n):
        rng = np.random.default_rng([12_345, block])
        values = np.column_stack([rng.uniform(0.0, 0.5, n), rng.uniform(0.2, 2.0, n)])
        return slots, values

    return uncertain


def test_parameter_sets_and_uncertain_parameters_agree():
    """Several parameter sets with per-path uncertain parameters: each set agrees."""
    layout, plan = _setup(PORTFOLIO)
    sets = np.repeat(layout.theta[None, :], 2, axis=0)
    sets[1, layout.slots("companies.gamma.funding.backstop_probability")] = 0.9
    sets[1, layout.slots("sector.events.demand_cycle.hazard_per_year")] = 2.0
    sets[1, layout.slots("companies.alpha.chips.imports_per_month")] = 100.0
    uncertain = _uncertain_portfolio(layout)
    paths = 16_384
    a, b = _run_both(layout, plan, paths, seed=99, theta_sets=sets, uncertain=uncertain)
    for t in (a, b):
        _check_exact(t, plan, 3, paths, n_sets=2)
    fam = _Family()
    for s in range(2):
        _compare(fam, a, b, layout, plan, sa=s, sb=s, tag=f"set {s}: ",
                 hist_months=[plan.horizons[-1]])
    fam.check()
    # The second set changes what it should: a stronger backstop keeps gamma alive.
    for t in (a, b):
        assert t.alive[1, 2, -1] > t.alive[0, 2, -1]


def test_reference_reproducible_and_split_invariant():
    """The numpy engine: same seed, same tallies; identical sets, identical tallies;
    any split of the blocks over calls merges to the same integer tallies."""
    # A short horizon: this test is about bookkeeping, not statistics.
    layout, plan = _setup(PORTFOLIO, overrides=["scenario.horizon_months=12",
                                                "scenario.horizons=[6, 12]"])
    seed = normalise_seed(5)
    sets = np.repeat(layout.theta[None, :], 2, axis=0)
    kw = dict(paths=2_000, seed=seed, engine="numpy", block_size=512, theta_sets=sets,
              keep_paths=600)
    whole = simulate(layout, plan, **kw)
    again = simulate(layout, plan, **kw)
    parts = [simulate(layout, plan, blocks=blocks, **kw) for blocks in ([0, 2], [1, 3])]
    merged = merge_tallies(parts[0], parts[1])
    for name in ("counts", "any_champion", "n_champions", "alive", "hist", "fail_month"):
        assert np.array_equal(getattr(whole, name), getattr(again, name)), name
        assert np.array_equal(getattr(whole, name), getattr(merged, name)), name
        # Sets with equal parameters share every random number.
        if name not in ("fail_month",):
            arr = getattr(whole, name)
            assert np.array_equal(arr[0], arr[1]), name
    np.testing.assert_array_equal(whole.kept, merged.kept)
    # Moments are kept per block and merged in block order: bit-identical.
    for t in (again, merged):
        assert np.array_equal(whole.fv, t.fv) and np.array_equal(whole.vh, t.vh)
    # Recording fans or not does not change what is simulated.
    bare = simulate(layout, plan, **{**kw, "fans": False, "keep_paths": 0})
    assert bare.hist is None and bare.kept is None
    for name in ("counts", "any_champion", "n_champions", "alive", "fv", "vh"):
        assert np.array_equal(getattr(whole, name), getattr(bare, name)), name


def test_uncertain_card_supply_agrees():
    """Per-path uncertain card supply: both engines deliver cards at the path's own rate."""
    layout, plan = _setup(PORTFOLIO)
    slots = np.array(layout.slots("companies.alpha.chips.domestic_per_month"))

    def uncertain(block, first, n):
        rng = np.random.default_rng([777, block])
        return slots, rng.uniform(1000.0, 3000.0, (n, 1))

    paths = 8_192
    a, b = _run_both(layout, plan, paths, seed=4_242, uncertain=uncertain)
    fam = _Family()
    _compare(fam, a, b, layout, plan, hist_months=[12, 36])
    fam.check()


def test_kept_paths_are_the_first_sets_whatever_the_threads():
    """Kept paths come from parameter set 0 only, so they never race between sets."""
    layout, plan = _setup(PORTFOLIO)
    sets = np.repeat(layout.theta[None, :], 4, axis=0)
    slot = layout.slots("companies.alpha.cash")[0]
    sets[1:, slot] *= 3.0
    runs = [simulate(layout, plan, paths=600, seed=normalise_seed(2), theta_sets=sets, keep_paths=300,
                     threads=t, block_size=150) for t in (1, 2, 2)]
    single = simulate(layout, plan, paths=600, seed=normalise_seed(2), keep_paths=300, block_size=150)
    for run in runs:
        np.testing.assert_array_equal(run.kept, single.kept)
        np.testing.assert_array_equal(run.fail_month, single.fail_month)


def test_non_adjacent_blocks_with_uncertain_parameters_match_single_blocks():
    layout, plan = _setup(PORTFOLIO)
    slots = np.array(layout.slots("companies.alpha.growth.initial"))

    def uncertain(block, first, n):
        return slots, np.random.default_rng(block).uniform(0.0, 1.0, (n, 1))

    seed = normalise_seed(8)
    kw = dict(paths=800, seed=seed, block_size=200, uncertain=uncertain)
    both = simulate(layout, plan, blocks=[0, 2], chunk_blocks=2, **kw)
    parts = [simulate(layout, plan, blocks=[b], **kw) for b in (0, 2)]
    assert np.array_equal(both.counts, parts[0].counts + parts[1].counts)
    assert np.array_equal(both.hist, parts[0].hist + parts[1].hist)


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_agree(path):
    """Every shipped scenario: outcomes, survival, means and every fan agree between engines."""
    layout, plan = _setup(path.read_text())
    n_comp = len(layout.company_names)
    # Enough paths for the tests to have power, few enough for the numpy engine to be quick.
    paths = max(8_000, 1_200_000 // (plan.n_months * n_comp))
    a, b = _run_both(layout, plan, paths, seed=4242)
    for t in (a, b):
        _check_exact(t, plan, n_comp, paths)
    fam = _Family()
    _compare(fam, a, b, layout, plan)
    fam.check()


def test_market_exceedance_and_path_outcomes_agree():
    """Combined revenue above a stated market, and per-path outcome codes, in both engines."""
    layout, plan = _setup(PORTFOLIO)
    paths = 20_000
    # A market level near the middle of combined revenue, so the probability is informative.
    market = np.full(plan.horizons.size, 3.0e9)
    a, b = _run_both(layout, plan, paths, seed=77, market=market, outcome_paths=paths, fans=False)
    fam = _Family()
    for h in range(plan.horizons.size):
        fam.add(f"market@{h}", _two_proportion_p(int(a.market_exceed[0, h]), paths,
                                                 int(b.market_exceed[0, h]), paths))
    fam.check()
    share = a.market_exceed[0] / paths
    assert ((share > 0.05) & (share < 0.95)).any(), share  # the comparison is not vacuous
    for t in (a, b):
        codes = t.path_outcome[0]
        assert codes.min() >= 0
        for o in range(3):
            assert np.array_equal((codes == o).sum(axis=0), t.counts[0, :, :, o])
