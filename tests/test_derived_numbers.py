"""Every number a run reports against a value computed here, independently, from the same paths.

A run is simulated once with every path traced (its full float64 state month by month:
``simulate(..., trace_paths=N)``), kept (the recorded float32 variables) and its outcome
codes recorded; the Dataset is built from that tally as :func:`simulator.run` builds it
(and its counts are checked to be those of a plain ``simulator.run``).  Each reported number
is then recomputed in this file from the traced paths, from MODEL.md's definitions, or in
closed form from the scenario's inputs, without calling the code that reports it:

- outcome classes from the traced valuation, revenue and failure (MODEL.md "Outcomes"), and
  from them every probability, the champion share and the decided probability, P(at least
  one champion), the champion counts, survival and the market exceedance, with their Wilson
  intervals from ``scipy.stats.binomtest``;
- the mean valuation at each horizon, the fundamental value in both readings (MODEL.md
  step 8) with their normal-theory intervals, the narrative premium and its share;
- E0, the start revenue, P/S, the required revenue and the implied market share in closed
  form from the scenario's numbers (docs/model-decisions.md, "Start of a path");
- every quantile fan against the exact order statistics of the kept paths, within the
  documented bound (``QUANTILE_ERROR``, one histogram bin).

These numbers are computed once for both engines (``simulator.results``), so the engines'
agreement cannot check them: this file is their independent truth.  Nothing here is
statistical (the same paths on both sides): the comparisons are exact up to rounding.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats

import simulator
from simulator.engines.dispatch import simulate
from simulator.model import quantities as Q
from simulator.results.outputs import QUANTILE_ERROR, QUANTILES
from simulator.runner.prepared import prepare_run

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
Z95 = float(stats.norm.ppf(0.975))

#: name -> (scenario file, overrides, paths).  The sixty-forty scenario has all three outcome
#: classes at the long horizons (the headline champion share); the portfolio, with the champion
#: bar lowered, has several companies with champions, a market and money raised.
CASES = {
    "sixty_forty": ("zhipu_sixty_forty.toml", [], 3000),
    "portfolio": ("sector_portfolio.toml", ["outcomes.champion_valuation_ratio=0.6",
                                            "outcomes.champion_max_price_to_sales=3000",
                                            # a market the four can outgrow (exceedance on some paths)
                                            "sector.market_size=2.4e9", "sector.market_growth=0.0"], 2000),
}


class Traced:
    """One run's Dataset and the traced state of every one of its paths."""

    def __init__(self, name: str):
        file, overrides, paths = CASES[name]
        self.prepared = p = prepare_run(SCENARIOS / file, paths=paths, seed=29, keep_paths=paths,
                                        overrides=overrides)
        self.tally = tally = simulate(p.layout, p.plan, paths=paths, seed=p.seed, keep_paths=paths,
                                      outcome_paths=paths, trace_paths=paths, market=p.market,
                                      uncertain=p.input_callback())
        self.codes = tally.path_outcome[0]  # (path, company, horizon), the kernel's own classification
        self.state = {name: tally.trace[i] for i, name in enumerate(Q.STATE_NAMES)}  # (path, company, month)
        self.mood = tally.trace_sector[Q.SECTOR_STATE_NAMES.index("mood")]  # (path, month)
        self.scenario = p.scenario
        self.n = paths
        self.horizons = [int(h) for h in self.ds["horizon"].values]
        self.v0 = np.asarray([c.valuation for c in self.scenario.companies])
        plain = simulator.run(SCENARIOS / file, paths=paths, seed=29, overrides=overrides)
        np.testing.assert_array_equal(plain["outcome_count"].values, self.ds["outcome_count"].values)

    @property
    def ds(self) -> xr.Dataset:
        """The run's Dataset, built afresh from the tally at each use (cheap): every test calls the
        code that reports the numbers, so a mutation tool sees which tests cover it."""
        return self.prepared.dataset(self.tally)

    def alive(self, month: int) -> np.ndarray:
        """(path, company) alive at the end of ``month``."""
        return self.state["alive"][:, :, month] > 0.5

    def valuation(self, month: int) -> np.ndarray:
        """(path, company) market valuation, the recovery value once failed."""
        return np.where(self.alive(month), np.exp(self.state["log_valuation"][:, :, month]),
                        self.state["value_at_failure"][:, :, month])

    def outcome_codes(self) -> np.ndarray:
        """(path, company, horizon) classes by MODEL.md's rule, from the traced state."""
        out = self.scenario.outcomes
        codes = np.empty((self.n, len(self.v0), len(self.horizons)), dtype=np.int8)
        for j, h in enumerate(self.horizons):
            alive = self.alive(h)
            log_rel = self.state["log_valuation"][:, :, h] - np.log(self.v0)
            with np.errstate(divide="ignore"):
                log_ps = self.state["log_valuation"][:, :, h] - np.log(self.state["revenue"][:, :, h])
            collapse = ~alive | (log_rel <= math.log(out.collapse_valuation_ratio))
            champion = (~collapse & (log_rel >= math.log(out.champion_valuation_ratio))
                        & (log_ps <= math.log(out.champion_max_price_to_sales)))
            codes[:, :, j] = np.where(collapse, Q.COLLAPSE, np.where(champion, Q.CHAMPION, Q.CONTESTED))
        return codes


@pytest.fixture(scope="module", params=sorted(CASES))
def traced(request) -> Traced:
    return Traced(request.param)


@pytest.fixture(scope="module")
def sixty_forty() -> Traced:
    return Traced("sixty_forty")


def _wilson(k, n) -> np.ndarray:
    """Wilson interval by scipy, elementwise; NaN where n is 0."""
    k, n = np.broadcast_arrays(np.asarray(k), np.asarray(n))
    out = np.full((*k.shape, 2), np.nan)
    for idx in np.ndindex(k.shape):
        if n[idx] > 0:
            ci = stats.binomtest(int(k[idx]), int(n[idx])).proportion_ci(method="wilson")
            out[idx] = (ci.low, ci.high)
    return out


def _mean_ci(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and its 95% normal-theory interval along ``axis``."""
    mean = x.mean(axis=axis)
    half = Z95 * x.std(axis=axis, ddof=1) / math.sqrt(x.shape[axis])
    return mean, np.stack([mean - half, mean + half], axis=-1)


# --------------------------------------------------------------------------- outcomes


def test_outcome_classes_and_probabilities(traced):
    codes = traced.outcome_codes()
    np.testing.assert_array_equal(traced.codes, codes)  # the kernel's per-path codes, path by path
    counts = np.stack([(codes == o).sum(axis=0) for o in range(3)], axis=-1)  # (company, horizon, outcome)
    ds = traced.ds
    np.testing.assert_array_equal(ds["outcome_count"].values, counts)
    np.testing.assert_allclose(ds["probability"].values, counts / traced.n, rtol=1e-15)
    np.testing.assert_allclose(ds["probability_ci"].values, _wilson(counts, traced.n), rtol=1e-10, atol=1e-14)
    assert counts[..., Q.CONTESTED].sum() > 0 and counts[..., Q.CHAMPION].sum() > 0  # the cases can tell


def test_champion_share_counts_only_decided_paths(traced):
    """share = champions / (champions + collapses): contested paths are in neither."""
    codes = traced.outcome_codes()
    champion = (codes == Q.CHAMPION).sum(axis=0)
    collapse = (codes == Q.COLLAPSE).sum(axis=0)
    decided = champion + collapse
    ds = traced.ds
    with np.errstate(invalid="ignore"):
        share = champion / decided
    np.testing.assert_allclose(ds["champion_share"].values, share, rtol=1e-15, equal_nan=True)
    np.testing.assert_allclose(ds["champion_share_ci"].values, _wilson(champion, decided), rtol=1e-10,
                               atol=1e-14, equal_nan=True)
    np.testing.assert_allclose(ds["decided_probability"].values, decided / traced.n, rtol=1e-15)


def test_the_sixty_forty_headline_share(sixty_forty):
    """The headline number: at 36 months the share among decided paths, not P(champion)."""
    codes = sixty_forty.outcome_codes()[:, 0, -1]
    champion, contested = int((codes == Q.CHAMPION).sum()), int((codes == Q.CONTESTED).sum())
    decided = sixty_forty.n - contested
    share = float(sixty_forty.ds["champion_share"].sel(company="zhipu", horizon=36))
    assert share == champion / decided
    # Contested paths are common here, so counting them as decided would move the share far.
    assert contested > 0.1 * sixty_forty.n and abs(champion / sixty_forty.n - share) > 0.05


def test_any_champion_and_champion_counts(traced):
    codes = traced.outcome_codes()
    n_champions = (codes == Q.CHAMPION).sum(axis=1)  # (path, horizon)
    ds = traced.ds
    if len(traced.v0) == 1:
        assert "any_champion" not in ds and "champion_count_probability" not in ds
        return
    k = (n_champions > 0).sum(axis=0)
    np.testing.assert_allclose(ds["any_champion"].values, k / traced.n, rtol=1e-15)
    np.testing.assert_allclose(ds["any_champion_ci"].values, _wilson(k, traced.n), rtol=1e-10, atol=1e-14)
    counts = np.stack([(n_champions == j).sum(axis=0) for j in range(len(traced.v0) + 1)], axis=-1)
    np.testing.assert_allclose(ds["champion_count_probability"].values, counts / traced.n, rtol=1e-15)
    assert np.all(k > 0) or np.any(counts[:, 2:].sum(axis=-1) > 0), "no champions: the case cannot tell"
    assert counts[:, 2:].sum() > 0  # two or more champions in some path: counts differ from any


def test_survival_from_the_month_of_failure(traced):
    ds = traced.ds
    months = ds["month"].values
    failed = ds["failure_month"].values  # (path, company), 0: never
    alive = np.stack([(failed == 0) | (failed > m) for m in months], axis=-1).sum(axis=0)  # (company, month)
    np.testing.assert_array_equal(alive, np.stack([traced.alive(int(m)) for m in months], axis=-1).sum(axis=0))
    np.testing.assert_allclose(ds["survival"].values, alive / traced.n, rtol=1e-15)
    np.testing.assert_allclose(ds["survival_ci"].values, _wilson(alive, traced.n), rtol=1e-10, atol=1e-14)
    assert alive.min() < traced.n  # some company fails: survival is not trivially 1


def test_market_exceedance(traced):
    ds = traced.ds
    market = traced.scenario.sector.market_size * np.exp(
        traced.scenario.sector.market_growth * np.asarray(traced.horizons) / 12.0)
    np.testing.assert_allclose(ds["market_size"].values, market, rtol=1e-15)
    revenue = np.stack([np.where(traced.alive(h), traced.state["revenue"][:, :, h], 0.0).sum(axis=1)
                        for h in traced.horizons], axis=-1)  # (path, horizon)
    k = (revenue > market).sum(axis=0)
    np.testing.assert_allclose(ds["market_exceeded"].values, k / traced.n, rtol=1e-15)
    np.testing.assert_allclose(ds["market_exceeded_ci"].values, _wilson(k, traced.n), rtol=1e-10, atol=1e-14)
    if len(traced.v0) > 1:
        assert np.any((k > 0) & (k < traced.n))  # the case can tell


# --------------------------------------------------------------------------- means and values


def test_mean_valuation_at_each_horizon(traced):
    ds = traced.ds
    v = np.stack([traced.valuation(h) for h in traced.horizons], axis=-1)  # (path, company, horizon)
    mean, ci = _mean_ci(v)
    np.testing.assert_allclose(ds["mean_valuation"].values, mean, rtol=1e-10)
    np.testing.assert_allclose(ds["mean_valuation_ci"].values, ci, rtol=1e-9)


def test_fundamental_value_in_both_readings_and_the_premium(traced):
    """MODEL.md step 8 on each traced path: discounted cash plus exit multiple times the last month's
    operating profit, 0 when failed; equity floors it at 0, business does not and subtracts the money raised."""
    ds = traced.ds
    end = traced.prepared.plan.n_months
    t = end / 12.0
    for c, company in enumerate(traced.scenario.companies):
        s = {k: v[:, c, end] for k, v in traced.state.items()}
        opex = s["opex"] / math.exp(company.costs.opex_growth / 12.0)  # the rate of the last month
        profit = s["revenue"] * s["gross_margin"] - opex
        value = (s["cash"] + company.valuation_model.exit_multiple * profit) * math.exp(
            -company.valuation_model.discount_rate * t)
        alive = s["alive"] > 0.5
        equity = np.where(alive, np.maximum(value, 0.0), 0.0)
        business = np.where(alive, value, 0.0) - s["raised"]
        sel = ds.sel(company=company.name)
        for name, x in (("fundamental_value", equity), ("business_value", business)):
            mean, ci = _mean_ci(x)
            assert float(sel[name]) == pytest.approx(mean, rel=1e-9, abs=1e-6 * company.valuation), name
            np.testing.assert_allclose(sel[f"{name}_ci"].values, ci, rtol=1e-8, atol=1e-6 * company.valuation)
        v0 = company.valuation
        assert float(sel["valuation_start"]) == v0
        assert float(sel["narrative_premium"]) == pytest.approx(v0 - equity.mean(), rel=1e-9)
        assert float(sel["narrative_premium_share"]) == pytest.approx(1.0 - equity.mean() / v0, rel=1e-9)
    raised = traced.state["raised"][:, :, end]
    assert np.any(raised > 0)  # money is raised: business value differs from equity value


def test_start_values_and_implied_narrative_in_closed_form(traced):
    """R0, P/S and E0 = log(V0 / R0) - log(base_multiple) - growth_sensitivity (mu0 - long_run)."""
    ds = traced.ds
    for c, company in enumerate(traced.scenario.companies):
        chips = company.chips
        r0 = min(company.revenue, chips.cards * chips.revenue_per_card) if chips.enabled else company.revenue
        vm = company.valuation_model
        e0 = (math.log(company.valuation / r0) - math.log(vm.base_multiple)
              - vm.growth_sensitivity * (company.growth.initial - company.growth.long_run))
        sel = ds.sel(company=company.name)
        assert float(sel["revenue_start"]) == pytest.approx(r0, rel=1e-15)
        assert float(sel["price_to_sales_start"]) == pytest.approx(company.valuation / r0, rel=1e-15)
        assert float(sel["implied_narrative"]) == pytest.approx(e0, rel=1e-13)
        # The paths start there: E = N + beta_sector S at month 0, and V = V0.
        start = traced.state["narrative"][:, c, 0] + company.beta_sector * traced.mood[:, 0]
        np.testing.assert_allclose(start, e0, rtol=1e-12)
        np.testing.assert_allclose(ds["path_narrative"].sel(company=company.name, month=0).values, e0, rtol=1e-6)
        np.testing.assert_allclose(traced.valuation(0)[:, c], company.valuation, rtol=1e-12)


def test_required_revenue_and_implied_market_share_in_closed_form(traced):
    """R_req = (V0 e^{r T} / exit_multiple + opex e^{opex_growth T}) / g0, g0 the start margin."""
    ds = traced.ds
    sector = traced.scenario.sector
    required = []
    for company in traced.scenario.companies:
        chips, pricing, vm = company.chips, company.pricing, company.valuation_model
        capacity = chips.cards * chips.revenue_per_card if chips.enabled else math.inf
        excess = max(0.0, company.revenue / capacity - 1.0)
        g0 = 1.0 - pricing.compute_cost_share * (1.0 + pricing.scarcity_premium * excess)
        row = [(company.valuation * math.exp(vm.discount_rate * h / 12.0) / vm.exit_multiple
                + company.costs.opex * math.exp(company.costs.opex_growth * h / 12.0)) / g0
               for h in traced.horizons]
        required.append(row)
        np.testing.assert_allclose(ds["required_revenue"].sel(company=company.name).values, row, rtol=1e-12)
    required = np.asarray(required)
    np.testing.assert_allclose(ds["required_revenue_total"].values, required.sum(axis=0), rtol=1e-12)
    market = sector.market_size * np.exp(sector.market_growth * np.asarray(traced.horizons) / 12.0)
    np.testing.assert_allclose(ds["implied_market_share"].values, required / market, rtol=1e-12)


# --------------------------------------------------------------------------- quantile fans


@pytest.mark.parametrize("var", Q.VAR_NAMES)
def test_quantile_fans_within_one_bin_of_the_kept_paths(traced, var):
    """Each fan quantile at level q lies within one bin (QUANTILE_ERROR) of the order statistics
    around rank q n of the same paths' kept values, at every recorded month."""
    ds = traced.ds
    got = ds[f"{var}_quantile"].values  # (company, month, quantile)
    kept = np.sort(ds[f"path_{var}"].values.astype(np.float64), axis=0)  # (path, company, month)
    n = traced.n
    err = QUANTILE_ERROR[var]
    log10 = Q.HIST_LOG10[Q.VAR_NAMES.index(var)]
    checked = 0
    for i, q in enumerate(QUANTILES):
        k = math.ceil(q * n)  # rank (1-based) of the order statistic the histogram inverts
        lo, hi = kept[max(k - 2, 0)], kept[min(k, n - 1)]  # the neighbours on either side
        g = got[:, :, i]
        finite = np.isfinite(lo) & np.isfinite(hi)
        if log10:
            # float32 kept values: a relative rounding of 1e-7 on top of the one-bin bound.
            ok = (g >= lo / (1 + err) * (1 - 1e-6)) & (g <= hi * (1 + err) * (1 + 1e-6))
        else:
            ok = (g >= lo - err - 1e-6 * np.abs(lo)) & (g <= hi + err + 1e-6 * np.abs(hi))
        ok |= ~finite & (g == lo)  # unlimited capacity: inf on both sides
        assert ok.all(), (var, q, np.argwhere(~ok)[:3], g[~ok][:3], lo[~ok][:3], hi[~ok][:3])
        checked += int(finite.sum())
    assert checked > 0


# --------------------------------------------------------------------------- studies


def _without_created(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs.pop("created", None)
    return ds


def test_every_sweep_point_is_the_plain_run_with_that_value():
    """Every variable of every grid point, bit for bit: the sets restart the plain run's streams."""
    from simulator.studies.sweep import sweep

    # A market small enough that the companies' revenue exceeds it on some paths.
    sc = simulator.load_scenario(SCENARIOS / "sector_portfolio.toml", overrides=["sector.market_size=2.4e9",
                                                                                  "sector.market_growth=0.0"])
    keys = ("companies.zhipu.chips.imports_per_month", "sector.events.export_control_escalation.hazard_per_year")
    grid = ([0.0, 300.0], [0.2, 1.5])
    ds = sweep(sc, [f"{keys[0]}=0,300", f"{keys[1]}=0.2,1.5"], paths=1500, seed=13)
    compared = 0
    for a in grid[0]:
        for b in grid[1]:
            run = simulator.run(sc, paths=1500, seed=13, overrides=[f"{keys[0]}={a}", f"{keys[1]}={b}"])
            point = ds.sel({keys[0]: a, keys[1]: b})
            for name in point.data_vars:
                want = run[name]
                if "month" in want.dims:
                    want = want.sel(month=point["month"].values)  # the sweep records the horizons
                np.testing.assert_array_equal(point[name].values, want.values, err_msg=f"{name} at {a}, {b}")
                compared += 1
    assert compared >= 4 * 20
    exceeded = ds["market_exceeded"].values
    assert np.any((exceeded > 0) & (exceeded < 1))
    assert ds.attrs["paths"] == 1500 and ds.attrs["seed_entropy"] == "13" and ds.attrs["engine"] == "numba"
    # The grid points differ (the swept values matter), so equality is not trivial.
    p = ds["probability"].sel(company="zhipu", horizon=36, outcome="collapse").values
    assert len(np.unique(p)) == 4


def _paired_codes(path: Path, overrides, paths: int, seed: int) -> np.ndarray:
    """Per-path outcome codes (path, company, horizon) of a plain run, by the kernel."""
    p = prepare_run(path, paths=paths, seed=seed, overrides=overrides)
    return p.simulate(outcome_paths=paths).path_outcome[0]


def test_compare_equals_the_difference_computed_path_by_path():
    """compare(a, b) against independent truths: paired differences from the two runs' own per-path
    outcomes (variance (p01 + p10 - d^2) / n), Newcombe's interval from scipy's Wilson intervals, and the
    plain differences of the fundamental values and quantiles."""
    from simulator.studies.compare import compare

    path, n, seed = SCENARIOS / "zhipu_sixty_forty.toml", 3000, 4
    other = ["companies.zhipu.costs.opex_growth=0.6"]
    a = simulator.run(path, paths=n, seed=seed)
    b = simulator.run(path, paths=n, seed=seed, overrides=other)
    diff = compare(a, b)
    assert diff.attrs["paired"] == 1
    ca, cb = _paired_codes(path, [], n, seed), _paired_codes(path, other, n, seed)
    for o in range(3):
        ia, ib = (ca == o).astype(float), (cb == o).astype(float)
        d = (ib - ia).mean(axis=0)  # (company, horizon)
        p01, p10 = ((ia == 0) & (ib == 1)).mean(axis=0), ((ia == 1) & (ib == 0)).mean(axis=0)
        half = Z95 * np.sqrt((p01 + p10 - d * d) / n)
        got = diff["probability_difference"].isel(outcome=o).values
        np.testing.assert_allclose(got, d, rtol=0, atol=1e-15)
        np.testing.assert_allclose(diff["probability_difference_ci"].isel(outcome=o).values,
                                   np.stack([d - half, d + half], axis=-1), rtol=1e-12, atol=1e-15)
    assert float(np.abs(diff["probability_difference"]).max()) > 0.05  # the runs differ
    # Unpaired: Newcombe's hybrid score interval from each run's Wilson interval.
    unpaired = compare(a, b, paired=False)
    ka, kb = a["outcome_count"].values, b["outcome_count"].values
    wa, wb = _wilson(ka, n), _wilson(kb, n)
    pa, pb = ka / n, kb / n
    low = pb - pa - np.sqrt((pb - wb[..., 0]) ** 2 + (wa[..., 1] - pa) ** 2)
    high = pb - pa + np.sqrt((wb[..., 1] - pb) ** 2 + (pa - wa[..., 0]) ** 2)
    np.testing.assert_allclose(unpaired["probability_difference"].values, pb - pa, atol=1e-15)
    np.testing.assert_allclose(unpaired["probability_difference_ci"].values, np.stack([low, high], -1),
                               rtol=1e-9, atol=1e-12)
    # The champion share's difference, unpaired, from the decided counts.
    sa = ka[..., 0] / (ka[..., 0] + ka[..., 2])
    sb = kb[..., 0] / (kb[..., 0] + kb[..., 2])
    np.testing.assert_allclose(diff["champion_share_difference"].values, sb - sa, atol=1e-15, equal_nan=True)
    # Fundamental values and quantiles: b - a, half-widths added in quadrature.
    for name in ("fundamental_value", "business_value"):
        d = b[name].values - a[name].values
        half = np.hypot(np.diff(a[f"{name}_ci"].values, axis=-1)[..., 0] / 2,
                        np.diff(b[f"{name}_ci"].values, axis=-1)[..., 0] / 2)
        np.testing.assert_allclose(diff[f"{name}_difference"].values, d, rtol=1e-15)
        np.testing.assert_allclose(diff[f"{name}_difference_ci"].values, np.stack([d - half, d + half], -1),
                                   rtol=1e-12)
    levels = list(diff["quantile"].values)
    qa = a["valuation_quantile"].sel(month=a["horizon"].values, quantile=levels).values
    qb = b["valuation_quantile"].sel(month=b["horizon"].values, quantile=levels).values
    np.testing.assert_allclose(diff["valuation_quantile_difference"].values, qb - qa, rtol=1e-15)


def test_named_targets_read_the_numbers_they_name(traced):
    """``company.outcome@H`` (the targets of precision runs and calibration) against the counts:
    estimate, Wilson interval and the number of trials, from the Dataset and from raw tallies."""
    from simulator.results.targets import all_targets, parse_target

    ds, sc = traced.ds, traced.scenario
    counts = ds["outcome_count"].values
    names = tuple(c.name for c in sc.companies)
    n_comp, n = len(names), traced.n
    codes = traced.outcome_codes()
    any_k = (codes == Q.CHAMPION).any(axis=1).sum(axis=0)  # (horizon,)
    for j, h in enumerate(traced.horizons):
        for c, company in enumerate(names):
            for o, outcome in enumerate(Q.OUTCOME_NAMES):
                target = parse_target(f"{company}.{outcome}@{h}", sc)
                assert target.value is None and (target.company, target.outcome, target.horizon) == (company, outcome, h)
                k = counts[c, j, o]
                lo, hi = _wilson(k, n)
                assert target.estimate(ds) == pytest.approx((k / n, lo, hi, n), rel=1e-12)
                assert target.from_counts(counts, any_k, n, names, tuple(traced.horizons)) == (k / n, n)
                assert target.from_counts(counts, any_k * 0, n, names, tuple(traced.horizons)) == (k / n, n)
            share = parse_target(f"{company}.champion_share@{h}=0.6", sc)
            assert share.value == 0.6 and share.label == f"{company}.champion_share@{h}"
            decided = counts[c, j, 0] + counts[c, j, 2]
            lo, hi = _wilson(counts[c, j, 0], decided)
            got = share.estimate(ds)
            if decided:
                assert got == pytest.approx((counts[c, j, 0] / decided, lo, hi, decided), rel=1e-12)
                assert share.from_counts(counts, any_k, n, names, tuple(traced.horizons)) == (
                    counts[c, j, 0] / decided, decided)
        anyone = parse_target(f"any_champion@{h}", sc)
        assert anyone.company is None and anyone.label == f"any_champion@{h}"
        k = any_k[j] if n_comp > 1 else counts[0, j, 0]
        lo, hi = _wilson(k, n)
        assert anyone.estimate(ds) == pytest.approx((k / n, lo, hi, n), rel=1e-12)
        assert anyone.from_counts(counts, any_k, n, names, tuple(traced.horizons)) == (k / n, n)
        if n_comp == 1:  # one company: its own champions, whatever the any-champion tally says
            assert anyone.from_counts(counts, any_k * 0, n, names, tuple(traced.horizons)) == (k / n, n)
    from simulator.errors import TargetError

    for text, message in ((f"champion@{h}", f"name the company, e.g. {names[0]}.champion@{h}"),
                          (f"{names[0]}.any_champion@{h}", f"any_champion takes no company (write any_champion@{h})"),
                          (f"{names[0]}.champion@{h}", "give the value to reach")):
        with pytest.raises(TargetError, match=re.escape(message)):
            parse_target(text, sc, need_value=True)
    for value in ("0", "1", "0.25"):  # the bounds are allowed; beyond them, not
        assert parse_target(f"{names[0]}.champion@{h}={value}", sc).value == float(value)
    for value in ("1.0001", "-1e-9", "2"):
        with pytest.raises(TargetError, match="is a probability, allowed 0 to 1"):
            parse_target(f"{names[0]}.champion@{h}={value}", sc)
    for text, message in ((f"{names[0]}.winner@{h}", "unknown outcome 'winner' (allowed: champion, contested, "
                                                     "collapse, champion_share, any_champion)"),
                          (f"nobody.champion@{h}", f"no company named 'nobody' (known: {', '.join(names)})"),
                          (f"{names[0]}.champion@7", "horizon 7 is not one of the scenario's horizons ("
                                                     + ", ".join(map(str, traced.horizons)) + ")"),
                          (f"{names[0]}.champion@{h}=x", "value 'x' is not a number"),
                          ("champion", "expected COMPANY.OUTCOME@MONTHS[=VALUE], e.g. zhipu.champion@36=0.6")):
        with pytest.raises(TargetError, match=re.escape(f"--target {text!r}: {message}")):
            parse_target(text, sc)
    none_decided = np.zeros_like(counts)
    none_decided[..., Q.CONTESTED] = n
    share = parse_target(f"{names[0]}.champion_share@{h}", sc)
    got, trials = share.from_counts(none_decided, any_k, n, names, tuple(traced.horizons))
    assert np.isnan(got) and trials == 0
    two = sc.model_copy(update={"companies": sc.companies[:2]})  # any_champion is listed from two companies on
    assert any(t.outcome == "any_champion" for t in all_targets(two)) == (n_comp > 1)
    listed = {t.label for t in all_targets(sc)}
    want = {f"{c}.{o}@{h}" for c in names for o in Q.OUTCOME_NAMES for h in traced.horizons}
    if n_comp > 1:
        want |= {f"any_champion@{h}" for h in traced.horizons}
    assert listed == want and len(all_targets(sc)) == len(want)
    assert np.any(any_k > 0) or n_comp == 1


def test_compare_intervals_of_shares_quantiles_and_any_champion_and_its_table():
    """The rest of compare's output against values computed here: Newcombe intervals of the champion
    share and of P(at least one champion) from scipy's Wilson intervals, the quantile differences'
    distribution-free half-widths (the fan read at the ranks n q -/+ z sqrt(n q (1 - q))), and the
    table's lines, which print each of these numbers."""
    from simulator.studies.compare import compare, compare_table

    path, n = SCENARIOS / "sector_portfolio.toml", 1500
    over = ["outcomes.champion_valuation_ratio=0.6", "outcomes.champion_max_price_to_sales=3000",
            "sector.competition.enabled=false"]  # as written before competition: the labs grow apart
    a = simulator.run(path, paths=n, seed=3, overrides=over)
    b = simulator.run(path, paths=n, seed=3, overrides=[*over, "companies.zhipu.costs.opex_growth=0.05"])
    diff = compare(a, b)

    def newcombe(ka, na, kb, nb):
        pa, pb = ka / na, kb / nb
        wa, wb = _wilson(ka, na), _wilson(kb, nb)
        return pb - pa, np.stack([pb - pa - np.sqrt((pb - wb[..., 0]) ** 2 + (wa[..., 1] - pa) ** 2),
                                  pb - pa + np.sqrt((wb[..., 1] - pb) ** 2 + (pa - wa[..., 0]) ** 2)], -1)

    ka, kb = a["outcome_count"].values, b["outcome_count"].values
    d, ci = newcombe(ka[..., 0], ka[..., 0] + ka[..., 2], kb[..., 0], kb[..., 0] + kb[..., 2])
    np.testing.assert_allclose(diff["champion_share_difference"].values, d, atol=1e-15, equal_nan=True)
    np.testing.assert_allclose(diff["champion_share_difference_ci"].values, ci, rtol=1e-9, atol=1e-12, equal_nan=True)
    d, ci = newcombe(np.rint(a["any_champion"].values * n), n, np.rint(b["any_champion"].values * n), n)
    np.testing.assert_allclose(diff["any_champion_difference"].values, d, atol=1e-15)
    np.testing.assert_allclose(diff["any_champion_difference_ci"].values, ci, rtol=1e-9, atol=1e-12)
    assert np.any(np.abs(diff["any_champion_difference"].values) > 0)
    levels = list(diff["quantile"].values)
    fan_levels = a["quantile"].values

    def half(ds):
        fan = ds["valuation_quantile"].sel(month=ds["horizon"].values).values  # (company, horizon, level)
        out = np.empty((*fan.shape[:2], len(levels)))
        for i, q in enumerate(levels):
            delta = Z95 * math.sqrt(q * (1 - q) / n)
            lo, hi = max(q - delta, fan_levels[0]), min(q + delta, fan_levels[-1])
            for idx in np.ndindex(fan.shape[:2]):
                out[(*idx, i)] = (np.interp(hi, fan_levels, fan[idx]) - np.interp(lo, fan_levels, fan[idx])) / 2
        return out

    d = diff["valuation_quantile_difference"].values
    h = np.hypot(half(a), half(b))
    np.testing.assert_allclose(diff["valuation_quantile_difference_ci"].values, np.stack([d - h, d + h], -1),
                               rtol=1e-9, atol=1e-3)
    # The table prints every difference with its interval, in percent or currency amounts.
    from simulator.results.accessor import format_amount

    text = compare_table(diff)
    # Each table row's cells, split on the column gaps: company, month, outcome, difference, interval,
    # the differences in percentage points as results.formatting writes them.
    from simulator.results.formatting import points

    lines = text.splitlines()
    rows = {tuple(re.split(r"\s{2,}", line.strip())[:3]): re.split(r"\s{2,}", line.strip())[3:] for line in lines}
    for c in diff["company"].values:
        for hz in diff["horizon"].values:
            for o in diff["outcome"].values:
                x = float(diff["probability_difference"].sel(company=c, horizon=hz, outcome=o))
                lo, hi = diff["probability_difference_ci"].sel(company=c, horizon=hz, outcome=o).values
                want = [points(x, sign=True), f"[{points(lo, sign=True)}, {points(hi, sign=True)}]"]
                assert rows[(str(c), str(int(hz)), str(o))] == want
            x = float(diff["champion_share_difference"].sel(company=c, horizon=hz))
            lo, hi = diff["champion_share_difference_ci"].sel(company=c, horizon=hz).values
            if np.isfinite(x):
                want = [points(x, sign=True), f"[{points(lo, sign=True)}, {points(hi, sign=True)}]"]
                assert rows[(str(c), str(int(hz)), "champion share")] == want
            q = float(diff["valuation_quantile_difference"].sel(company=c, horizon=hz, quantile=0.5))
            assert any(line.startswith(f"{c:<12}{int(hz):>6}  q05") and f"q50 {format_amount(q)} [" in line
                       for line in lines), (c, hz)
        for name in ("fundamental_value", "business_value"):
            x = float(diff[f"{name}_difference"].sel(company=c))
            lo, hi = diff[f"{name}_difference_ci"].sel(company=c).values
            assert f"{c:<12} {format_amount(x)} [{format_amount(lo)}, {format_amount(hi)}]" in lines
    assert "Equity value, b - a (CNY)" in text and "Business value, b - a (CNY)" in text
    assert lines[-1] == f"pairing: {diff.attrs['pairing']}" and diff.attrs["paired"] == 1
    assert lines[0] == f"b - a: {diff.attrs['b']} minus {diff.attrs['a']} ({diff.attrs['method']}; percentage points)"
    assert lines[1] == "" and re.split(r"\s{2,}", lines[2].strip()) == ["company", "month", "outcome", "difference",
                                                                         "95% interval"]


def test_compare_pairs_only_runs_that_saw_the_same_random_numbers():
    """Pairing needs the same seed, paths and block size (else unpaired, saying why); runs of other
    companies or horizons cannot be compared at all, and a forced pairing that is impossible is an error."""
    from simulator.errors import UserError
    from simulator.studies.compare import compare

    path = SCENARIOS / "zhipu_base.toml"
    a = simulator.run(path, paths=600, seed=1, block_size=256)
    for kw, why in (({"paths": 700}, "different paths (600 vs 700)"),
                    ({"block_size": 128}, "different block_size (256 vs 128)"),
                    ({"seed": 2}, "different seed_entropy (1 vs 2)")):
        b = simulator.run(path, **{"paths": 600, "seed": 1, "block_size": 256, **kw})
        diff = compare(a, b)
        assert diff.attrs["paired"] == 0 and diff.attrs["pairing"] == f"unpaired: {why}", diff.attrs["pairing"]
        with pytest.raises(UserError, match=re.escape(f"cannot pair the runs: {why}")):
            compare(a, b, paired=True)
    other = simulator.run(path, paths=600, seed=1, block_size=256,
                          overrides=["scenario.horizons=[12, 36]"])
    with pytest.raises(UserError, match="same companies and horizons"):
        compare(a, other)
    # The re-simulation reproduces the stored runs only with their own engine and spawn key.
    for kw in ({"engine": "numpy", "paths": 300}, {"seed": np.random.SeedSequence(1, spawn_key=(3,))}):
        kw = {"paths": 600, "seed": 1, "block_size": 256, **kw}
        x = simulator.run(path, **kw)
        y = simulator.run(path, **kw, overrides=["companies.zhipu.costs.opex_growth=0.6"])
        paired = compare(x, y)
        assert paired.attrs["paired"] == 1, (kw, paired.attrs["pairing"])
        assert float(np.abs(paired["probability_difference"]).max()) > 0
    events = simulator.run(path, paths=600, seed=1, block_size=256,
                           overrides=["sector.events.export_control_escalation.hazard_per_year=0.9"])
    assert compare(a, events).attrs["paired"] == 1
    assert compare(a, events, paired=False).attrs["pairing"] == "unpaired: not requested"


def test_champion_share_of_one_and_of_no_decided_path():
    """Edge cases a sample rarely shows, on a tally written by hand: one decided path (share 1, its
    Wilson interval on one trial) and none (no share: NaN, and a decided probability of 0)."""
    from simulator.engines.tally import empty_tally
    from simulator.results.dataset import build_dataset

    p = prepare_run(SCENARIOS / "zhipu_base.toml", paths=6, seed=1, overrides=["scenario.horizons=[12, 36]"])
    tally = empty_tally(1, 1, p.plan, fans=False, keep=0)
    tally.n_paths[:] = 6
    tally.alive[:] = 6
    tally.counts[0, 0, 0] = (1, 5, 0)  # month 12: one champion, five contested
    tally.counts[0, 0, 1] = (0, 6, 0)  # month 36: all contested
    ds = build_dataset(p.scenario, p.layout, p.plan, tally)
    share = ds["champion_share"].sel(company="zhipu").values
    assert share[0] == 1.0 and np.isnan(share[1])
    np.testing.assert_allclose(ds["champion_share_ci"].sel(company="zhipu").values[0], _wilson(1, 1), rtol=1e-12)
    assert np.isnan(ds["champion_share_ci"].sel(company="zhipu").values[1]).all()
    np.testing.assert_allclose(ds["decided_probability"].sel(company="zhipu").values, [1 / 6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(ds["probability"].sel(company="zhipu").values, [[1 / 6, 5 / 6, 0], [0, 1, 0]])


def test_sets_dataset_fills_set_by_set_a_variable_it_does_not_compute(monkeypatch):
    """build_sets_dataset computes every known variable vectorised; one it does not know (added to
    build_dataset later) is filled set by set from each set's own tally and parameters."""
    from simulator.model.parameters import build_layout
    from simulator.results import dataset as D
    from simulator.results.outputs import OUTPUTS, Output
    from simulator.studies.sweep import grid_thetas, parse_sweep_param

    sc = simulator.load_scenario(SCENARIOS / "sector_portfolio.toml")
    layout = build_layout(sc)
    key = "companies.zhipu.valuation"  # moves what start_state derives: per-set parameters must reach it
    thetas = grid_thetas(layout, layout.theta, [parse_sweep_param(f"{key}=100e9,300e9,900e9", sc, layout)])
    slot = layout.slots(key)[0]
    p = prepare_run(sc, paths=600, seed=5)
    tally = p.simulate(theta_sets=thetas, fans=False)
    real = D.build_dataset

    def with_extra(scenario, layout, plan, t, *, set_index=0, theta=None, attrs=None, **options):
        ds = real(scenario, layout, plan, t, set_index=set_index, theta=theta, attrs=attrs, **options)
        theta = layout.theta if theta is None else theta
        ds["extra"] = (("company",), t.counts[set_index, :, -1, Q.COLLAPSE] + theta[slot]
                       + ds["implied_narrative"].values)
        return ds

    monkeypatch.setitem(OUTPUTS, "extra", Output(("company",), "1", "a variable the vectorised builder lacks"))
    monkeypatch.setattr(D, "build_dataset", with_extra)
    many = D.build_sets_dataset(sc, layout, p.plan, tally, thetas, attrs={"seed_entropy": "5"})
    e0 = many["implied_narrative"].values  # (set, company), vectorised
    assert len(np.unique(e0[:, 0])) == 3  # the valuation moves zhipu's E0
    want = tally.counts[:, :, -1, Q.COLLAPSE] + thetas[:, slot][:, None] + e0
    np.testing.assert_allclose(many["extra"].values, want, rtol=1e-15)
    assert many["extra"].dims == ("set", "company") and many["extra"].attrs["units"] == "1"
    assert many.attrs["seed_entropy"] == "5" and many.attrs["paths"] == 600
    assert "path" not in many.coords and "market_size" in many
    if "set" in many["market_size"].dims:  # each set's own market (sector.market_size is a parameter): not swept here
        assert bool((many["market_size"].max("set") == many["market_size"].min("set")).all())
    for k in range(3):  # and the known variables of each set are still its own
        np.testing.assert_array_equal(many["outcome_count"].isel(set=k).values, tally.counts[k])


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_start_above_capacity_edge_cases_and_coordinates(engine):
    """A company whose demand starts above its fleet's capacity (served revenue capped, scarcity in the
    start margin, so in E0 and the required revenue), an exit multiple below 1 and of 0, no market,
    one kept path; and the coordinates every variable is labelled with."""
    over = ["companies.zhipu.chips.cards=2000", "companies.zhipu.valuation_model.exit_multiple=0.5",
            "sector.market_size=0"]
    ds = simulator.run(SCENARIOS / "zhipu_base.toml", paths=64, seed=1, keep_paths=1, engine=engine, overrides=over)
    c = simulator.load_scenario(SCENARIOS / "zhipu_base.toml", overrides=over).companies[0]
    capacity = c.chips.cards * c.chips.revenue_per_card
    assert capacity < c.revenue
    g0 = 1.0 - c.pricing.compute_cost_share * (1.0 + c.pricing.scarcity_premium * (c.revenue / capacity - 1.0))
    vm = c.valuation_model
    e0 = (math.log(c.valuation / capacity) - math.log(vm.base_multiple)
          - vm.growth_sensitivity * (c.growth.initial - c.growth.long_run))
    sel = ds.sel(company="zhipu")
    assert float(sel["revenue_start"]) == pytest.approx(capacity, rel=1e-15)
    assert float(sel["implied_narrative"]) == pytest.approx(e0, rel=1e-13)
    np.testing.assert_allclose(sel["path_gross_margin"].sel(month=0).values, g0, rtol=1e-6)
    horizons = ds["horizon"].values
    want = [(c.valuation * math.exp(vm.discount_rate * h / 12.0) / 0.5
             + c.costs.opex * math.exp(c.costs.opex_growth * h / 12.0)) / g0 for h in horizons]
    np.testing.assert_allclose(sel["required_revenue"].values, want, rtol=1e-12)
    for name in ("market_size", "implied_market_share", "market_exceeded"):
        assert name not in ds, name  # no market stated
    assert ds.sizes["path"] == 1 and list(ds["path"].values) == [0] and "failure_month" in ds
    assert list(ds["outcome"].values) == list(Q.OUTCOME_NAMES) and list(ds["bound"].values) == ["low", "high"]
    # Chips off: capacity unlimited whatever the cards, no scarcity; a fleet worth 0.1 CNY a year: capped.
    for chips, revenue, excess in ((["companies.zhipu.chips.enabled=false", "companies.zhipu.chips.cards=1"],
                                    c.revenue, 0.0),
                                   (["companies.zhipu.chips.cards=1e-3", "companies.zhipu.chips.revenue_per_card=100"],
                                    0.1, c.revenue / 0.1 - 1.0)):
        run = simulator.run(SCENARIOS / "zhipu_base.toml", paths=64, seed=1, engine=engine, keep_paths=1,
                            overrides=chips)
        g0 = 1.0 - c.pricing.compute_cost_share * (1.0 + c.pricing.scarcity_premium * excess)
        assert float(run["revenue_start"].sel(company="zhipu")) == pytest.approx(revenue, rel=1e-12)
        assert float(run["path_gross_margin"].sel(company="zhipu", month=0, path=0)) == pytest.approx(g0, rel=1e-6)
    none = simulator.run(SCENARIOS / "zhipu_base.toml", paths=64, seed=1, engine=engine,
                         overrides=["companies.zhipu.valuation_model.exit_multiple=0"])
    assert np.isinf(none["required_revenue"].values).all()  # no exit multiple: no revenue is enough
    assert "path" not in none.dims and "failure_month" not in none


def test_champion_counts_are_labelled_and_the_scenario_hash_is_its_canonical_json(traced):
    """The champions coordinate (0..n) and the scenario hash: SHA-256 of the effective scenario as
    compact JSON with sorted keys (the results' identity across versions: a batch compares it)."""
    import hashlib
    import json

    from simulator.results.dataset import scenario_hash

    ds = traced.ds
    if len(traced.v0) > 1:
        assert list(ds["champions"].values) == list(range(len(traced.v0) + 1))
    sc = traced.scenario
    canonical = json.dumps(sc.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    assert ds.attrs["scenario_hash"] == scenario_hash(sc) == hashlib.sha256(canonical.encode()).hexdigest()
    assert json.loads(ds.attrs["scenario_json"]) == sc.model_dump(mode="json")
    assert ds.attrs["scenario_name"] == sc.name and ds.attrs["scenario_text"] == sc.source_text
    assert ds.attrs["scenario_description"] == sc.scenario.description
    from importlib.metadata import version

    assert ds.attrs["scenario_source"] == sc.source_path
    assert ds.attrs["simulator_version"] == version("ai-valuation-simulator")


def test_compare_result_is_labelled_and_says_how_it_paired():
    """compare's Dataset: every variable's dimensions and units, the runs' names and hashes, the
    method and the pairing, including when a stored run cannot be reproduced or differs in structure."""
    from simulator.model.scenario_file import parse_scenario
    from simulator.studies.compare import compare

    path = SCENARIOS / "zhipu_base.toml"
    a = simulator.run(path, paths=500, seed=2)
    b = simulator.run(path, paths=500, seed=2, overrides=["companies.zhipu.costs.opex_growth=0.5"])
    diff = compare(a, b)
    dims = {"probability_difference": ("company", "horizon", "outcome"),
            "probability_difference_ci": ("company", "horizon", "outcome", "bound"),
            "champion_share_difference": ("company", "horizon"),
            "champion_share_difference_ci": ("company", "horizon", "bound"),
            "valuation_quantile_difference": ("company", "horizon", "quantile"),
            "valuation_quantile_difference_ci": ("company", "horizon", "quantile", "bound"),
            "fundamental_value_difference": ("company",), "fundamental_value_difference_ci": ("company", "bound"),
            "business_value_difference": ("company",), "business_value_difference_ci": ("company", "bound")}
    assert {name: diff[name].dims for name in diff.data_vars} == dims
    for name in dims:
        money = name.startswith(("valuation", "fundamental", "business"))
        assert diff[name].attrs["units"] == ("CNY" if money else "1"), name
    assert diff.attrs == {**diff.attrs, "a": "zhipu_base", "b": "zhipu_base", "a_hash": a.attrs["scenario_hash"],
                          "b_hash": b.attrs["scenario_hash"], "currency": "CNY", "paired": 1, "pairing": "paired",
                          "method": "paired: same seed and paths, both re-simulated with common random numbers"}
    assert diff.attrs["a_hash"] != diff.attrs["b_hash"]
    unpaired = compare(a, b, paired=False)
    assert unpaired.attrs["method"] == "unpaired: Newcombe hybrid score interval"
    # A stored run the re-simulation does not reproduce (another version, a hand edit): unpaired.
    edited = b.copy()
    edited["outcome_count"] = edited["outcome_count"] + 1
    why = "re-simulating did not reproduce the stored counts (another version or engine?)"
    assert compare(a, edited).attrs["pairing"] == f"unpaired: {why}"
    # Another event: other random streams, so not paired.
    text = path.read_text(encoding="utf-8").replace(
        "[[companies]]", '[[sector.events]]\nname = "extra"\nhazard_per_year = 0.5\ncash = 1.0\n\n[[companies]]', 1)
    other = simulator.run(parse_scenario(text, source=str(path)), paths=500, seed=2)
    assert compare(a, other).attrs["pairing"] == "unpaired: different scenario structure (events, branches or months)"
