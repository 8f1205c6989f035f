"""Precision targets, calibration, implied values and comparisons (issue 3).

The closed-form scenario of MODEL.md's frozen limit gives exact probabilities:
P(V_T >= V0) = Phi((mu - sigma^2/2) sqrt(T) / sigma).  Tolerances come from the
sample sizes (a family-wise error rate of ALPHA per test, with a power check where a test
says "no effect beyond noise"); the coverage checks use enough replications that the allowed
band (92% to 98%) is several binomial standard errors wide.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats

import simulator
from simulator.cli import main
from simulator.engines.dispatch import simulate
from simulator.engines.plan import plan_run
from simulator.engines.streams import normalise_seed
from simulator.errors import TargetError, UnreachableError, UserError
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import parse_scenario, with_overrides
from simulator.results.statistics import wilson_interval
from simulator.results.targets import Target, parse_target
from simulator.studies.calibrate import ParamRange, calibrate, implied_value, parse_param_range
from simulator.studies.compare import compare
from simulator.studies.precision import run_to_precision, wilson_half_width

ROOT = Path(__file__).resolve().parents[1]
#: Family-wise error rate of each statistical test here.
ALPHA = 1e-3

FROZEN = """
[scenario]
name = "frozen"
horizon_months = 12
horizons = [12]
paths = 4000
seed = 3

[sector.narrative]
kappa = 0.0
sigma = 0.0

[[companies]]
name = "solo"
revenue = 1e9
valuation = 20e9
cash = 1e15

[companies.growth]
initial = 0.10
long_run = 0.10
kappa = 0.0
sigma_growth = 0.0
sigma_revenue = 0.5

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
kappa = 0.0
sigma = 0.0

[companies.valuation_model]
growth_sensitivity = 0.0

[outcomes]
champion_max_price_to_sales = 1e6
"""


def _p_up(mu: float, sigma: float = 0.5, t: float = 1.0) -> float:
    """Closed form P(V_T >= V0) in the frozen limit."""
    return float(stats.norm.sf(0.0, loc=(mu - sigma**2 / 2) * t, scale=sigma * math.sqrt(t)))


@pytest.fixture(scope="module")
def frozen():
    return parse_scenario(FROZEN, source="frozen.toml")


def test_wilson_half_width_matches_interval():
    for k, n in [(30, 100), (1, 5000), (2500, 5000)]:
        lo, hi = wilson_interval(k, n)
        assert wilson_half_width(k / n, n) == pytest.approx((hi - lo) / 2, rel=1e-12)


def test_fixed_size_coverage_is_nominal(frozen):
    """Over 600 independent runs, the 95% Wilson interval covers the exact probability 92-98% of the time."""
    exact = _p_up(0.10)
    layout = build_layout(frozen)
    plan = plan_run(12, (12,), fans=False)
    covered = 0
    reps = 600
    for r in range(reps):
        t = simulate(layout, plan, paths=1500, seed=normalise_seed(10_000 + r), fans=False, block_size=512)
        k = int(t.counts[0, 0, 0, 0])
        lo, hi = wilson_interval(k, 1500)
        covered += lo <= exact <= hi
    assert 0.92 <= covered / reps <= 0.98, covered / reps


def test_precision_target_coverage_and_width(frozen):
    """Precision-target runs: the half-width target is met and coverage stays nominal."""
    # Champion means V_T >= 1.4 V0 here, so p is near 0.24 and the pilot, not the worst case
    # p = 0.5, sets the sample size.
    sc = with_overrides(frozen, {"outcomes.champion_valuation_ratio": 1.4})
    exact = float(stats.norm.sf(math.log(1.4), loc=0.10 - 0.5**2 / 2, scale=0.5))
    target = Target("solo", "champion", 12)
    covered, met, reps = 0, 0, 400
    sizes = set()
    for r in range(reps):
        ds = run_to_precision(sc, precision=0.03, targets=[target], seed=20_000 + r, pilot_paths=512,
                              block_size=32)
        _, lo, hi, n = target.estimate(ds)
        covered += lo <= exact <= hi
        met += bool(ds.attrs["precision_met"])
        sizes.add(n)
    assert 0.92 <= covered / reps <= 0.98, covered / reps
    # A run misses the width only if the pilot's 99.9% interval missed p or the main estimate
    # strayed past the conservative bound: rare.  Require a miss rate below 1% (binomial bound).
    assert reps - met <= stats.binom.ppf(1 - 1e-3, reps, 0.01), reps - met
    assert len(sizes) > 1  # the pilot really chose the sample size


def test_precision_main_sample_is_the_plain_run(frozen):
    ds = run_to_precision(frozen, precision=0.02, seed=7, pilot_paths=1024)
    plain = simulator.run(frozen, paths=ds.attrs["paths"], seed=7)
    np.testing.assert_array_equal(ds["outcome_count"].values, plain["outcome_count"].values)
    assert ds.attrs["precision_met"] == 1


def test_calibration_recovers_known_parameter(frozen):
    """Target the closed-form P at mu = 0.3: calibration must find 0.3 within its reported uncertainty."""
    true_mu = 0.30
    target = Target("solo", "champion", 12, _p_up(true_mu))
    params = [ParamRange("companies.solo.growth.initial", -0.5, 1.0)]
    frozen_lr = with_overrides(frozen, {"companies.solo.growth.long_run": 0.0})
    result = calibrate(frozen_lr, [target], params, paths=20_000, seed=5, replicates=7)
    # The value is the mean of 8 independent seeds' solutions and its standard error their spread
    # over sqrt(8): (value - truth) / SE is Student t with 7 degrees of freedom, tested at ALPHA.
    tq = stats.t.ppf(1 - ALPHA / 2, df=len(result.per_seed) - 1)
    se = result.standard_error[0]
    assert abs(result.value[0] - true_mu) <= tq * se, (result.value, result.standard_error, result.per_seed)
    # Power: a calibration off by 0.02 in growth (a 2.6-point move of the target) would fail.
    assert 0 < (tq + stats.norm.ppf(0.99)) * se < 0.02, se


def test_calibration_two_targets_least_squares(frozen):
    """Two parameters, two targets (champion and collapse at different thresholds)."""
    sc = with_overrides(frozen, {"companies.solo.growth.long_run": 0.0})
    mu, sigma = 0.2, 0.6
    up = _p_up(mu, sigma)
    down = float(stats.norm.cdf(math.log(0.3), loc=(mu - sigma**2 / 2), scale=sigma))
    targets = [Target("solo", "champion", 12, up), Target("solo", "collapse", 12, down)]
    params = [ParamRange("companies.solo.growth.initial", -0.5, 1.0),
              ParamRange("companies.solo.growth.sigma_revenue", 0.1, 1.5)]
    result = calibrate(sc, targets, params, paths=20_000, seed=9, replicates=5)
    # Two t tests (6 seeds each) at a family-wise ALPHA, and the power to see an error of 0.03.
    tq = stats.t.ppf(1 - ALPHA / 4, df=len(result.per_seed) - 1)
    for value, truth, se in zip(result.value, (mu, sigma), result.standard_error, strict=True):
        assert abs(value - truth) <= tq * se, (result.value, result.standard_error)
        assert 0 < (tq + stats.norm.ppf(0.99)) * se < 0.03, se


def test_unreachable_target_is_a_clear_error(frozen):
    target = Target("solo", "champion", 12, 0.99)
    with pytest.raises(UnreachableError, match=r"no value of companies\.solo\.growth\.initial in"):
        calibrate(frozen, [target], [ParamRange("companies.solo.growth.initial", 0.0, 0.5)], paths=2000,
                  replicates=0)


def test_implied_value_solves_fundamental_equals_valuation(frozen):
    """Zero margin, no opex, no exit value: FV = cash * exp(-r T); solve the discount rate for FV = V0."""
    sc = with_overrides(frozen, {"companies.solo.cash": 25e9,
                                                  "companies.solo.pricing.compute_cost_share": 1.0,
                                                  "companies.solo.valuation_model.exit_multiple": 0.0})
    res = implied_value(sc, "solo", ParamRange("companies.solo.valuation_model.discount_rate", 0.0, 0.5),
                        paths=2000, seed=1, replicates=1)
    exact = math.log(25e9 / 20e9)  # 25e9 exp(-r * 1) = 20e9
    assert res.value == pytest.approx(exact, abs=1e-4)


def test_an_implied_value_reports_both_readings_where_it_was_asked_and_where_it_lands(frozen):
    """Its readings under the scenario's assumptions are the plain run's; at the solution, those of the scenario
    with the key set to the value found; the value is the mean over the seeds, with their standard error."""
    from simulator.studies.calibrate import fundamental_value

    sc = with_overrides(frozen, {"companies.solo.cash": 10e9})  # revenue noise: each seed its own root
    key = "companies.solo.valuation_model.exit_multiple"
    res = implied_value(sc, "solo", ParamRange(key, 0.0, 40.0), paths=2000, seed=3, replicates=2,
                        reading="business")
    assert res.reading == "business" and res.per_seed.size == 3 and res.valuation == 20e9
    assert len(set(res.per_seed.tolist())) == 3
    assert res.value == res.per_seed.mean()
    assert res.standard_error == res.per_seed.std(ddof=1) / math.sqrt(3)
    assert res.at_scenario == fundamental_value(sc, "solo", paths=2000, seed=3)
    at = fundamental_value(with_overrides(sc, {key: res.value}), "solo", paths=2000, seed=3)
    for reading in ("equity", "business"):
        np.testing.assert_allclose(np.hstack(res.at_solution[reading]), np.hstack(at[reading]), rtol=1e-12)
    assert res.fundamental_at_scenario == res.at_scenario["business"][0]


def test_paired_self_comparison_is_exactly_zero(tmp_path):
    sc = simulator.load_scenario(ROOT / "scenarios" / "zhipu_base.toml")
    a = simulator.run(sc, paths=3000, seed=4)
    diff = compare(a, a)
    assert diff.attrs["paired"] == 1
    assert float(np.abs(diff["probability_difference"]).max()) == 0.0
    assert float(np.abs(diff["probability_difference_ci"]).max()) == 0.0


def test_pairing_tightens_the_interval():
    sc = simulator.load_scenario(ROOT / "scenarios" / "zhipu_base.toml")
    other = with_overrides(sc, {"companies.zhipu.chips.imports_per_month": 0.0})
    a = simulator.run(sc, paths=6000, seed=4)
    b = simulator.run(other, paths=6000, seed=4)
    paired = compare(a, b)
    unpaired = compare(a, b, paired=False)
    assert paired.attrs["paired"] == 1 and unpaired.attrs["paired"] == 0
    xr.testing.assert_allclose(paired["probability_difference"], unpaired["probability_difference"])
    w_p = paired["probability_difference_ci"].diff("bound")
    w_u = unpaired["probability_difference_ci"].diff("bound")
    informative = unpaired["probability_difference"].sel(outcome="collapse") != 0
    assert bool((w_p <= w_u + 1e-15).all())
    assert float(w_p.sel(outcome="collapse").where(informative).mean()) < \
        0.5 * float(w_u.sel(outcome="collapse").where(informative).mean())


def test_different_seeds_are_compared_unpaired():
    sc = simulator.load_scenario(ROOT / "scenarios" / "zhipu_base.toml")
    a = simulator.run(sc, paths=2000, seed=1)
    b = simulator.run(sc, paths=2000, seed=2)
    diff = compare(a, b)
    assert diff.attrs["paired"] == 0 and "seed_entropy" in diff.attrs["pairing"]


BAD_TARGETS = [
    ("openai.champion@36=0.6", "no company named 'openai'"),
    ("zhipu.winner@36=0.6", "unknown outcome 'winner'"),
    ("zhipu.champion@48=0.6", "horizon 48 is not one of"),
    ("zhipu.champion@36=1.5", "allowed 0 to 1"),
    ("zhipu.champion@36=-0.1", "allowed 0 to 1"),
    ("zhipu.champion", "expected COMPANY.OUTCOME@MONTHS"),
    ("zhipu.champion@36=abc", "is not a number"),
]


@pytest.mark.parametrize("text, needle", BAD_TARGETS)
def test_bad_targets_are_one_line_errors(text, needle):
    sc = simulator.load_scenario(ROOT / "scenarios" / "zhipu_base.toml")
    with pytest.raises(TargetError, match=needle.replace("(", r"\(")):
        parse_target(text, sc, need_value=True)


@pytest.mark.parametrize("argv, needle", [
    (["calibrate", "{zb}", "--target", "zhipu.champion@36=1.5", "--param",
      "companies.zhipu.growth.long_run=0:1"], "allowed 0 to 1"),
    (["calibrate", "{zb}", "--target", "zhipu.collapse@36=0.01", "--param",
      "companies.zhipu.growth.long_run=0:1", "--paths", "500", "--replicates", "0"], "no value of"),
    (["calibrate", "{zb}", "--target", "zhipu.collapse@36=0.5", "--param",
      "companies.zhipu.growth.long_run=1:0"], "need LO < HI"),
    (["calibrate", "{zb}", "--target", "zhipu.collapse@36=0.5", "--param",
      "companies.zhipu.growth.nope=0:1"], "not a numeric scenario key"),
    (["run", "{zb}", "--precision", "0.7"], "allowed between 0 and 0.5"),
    (["run", "{zb}", "--precision", "0.01", "--target", "zhipu.champion@7"], "horizon 7"),
    (["compare", "missing_a.nc", "missing_b.nc"], "no such file"),
])
def test_cli_bad_inputs_exit_2(argv, needle, capsys):
    argv = [a.replace("{zb}", str(ROOT / "scenarios" / "zhipu_base.toml")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_param_range_checks_schema_bounds():
    sc = simulator.load_scenario(ROOT / "scenarios" / "zhipu_base.toml")
    with pytest.raises(simulator.ScenarioError, match="hazard_per_year"):
        parse_param_range("sector.events.export_control_escalation.hazard_per_year=-1:2", sc)


def test_cli_calibrate_writes_a_valid_scenario(tmp_path, capsys):
    out = tmp_path / "cal.toml"
    code = main(["calibrate", str(ROOT / "scenarios" / "zhipu_base.toml"), "--target", "zhipu.collapse@36=0.8",
                 "--param", "companies.zhipu.growth.long_run=0.0:2.0", "--paths", "3000", "--replicates", "1",
                 "--out", str(out)])
    assert code == 0
    sc = simulator.load_scenario(out)
    assert sc.name == "cal"
    assert 0.0 < sc.company("zhipu").growth.long_run < 2.0
    text = out.read_text()
    assert "[calibrated; was 0.35]" in text and "# seed 004" in text  # source comments survive


def test_a_calibration_reports_what_a_plain_run_at_its_value_gives(frozen):
    """The value is the mean over the seeds with their standard error; what it achieves, and the interval, are
    what a plain run of the scenario with the key at that value reports (main seed, same paths)."""
    sc = with_overrides(frozen, {"companies.solo.growth.long_run": 0.0})
    key = "companies.solo.growth.initial"
    target = Target("solo", "champion", 12, 0.4)
    res = calibrate(sc, [target], [ParamRange(key, -0.5, 1.0)], paths=3000, seed=4, replicates=2)
    assert res.per_seed.shape == (3, 1) and len(set(res.per_seed[:, 0].tolist())) == 3
    np.testing.assert_array_equal(res.value, res.per_seed.mean(axis=0))
    np.testing.assert_array_equal(res.standard_error, res.per_seed.std(axis=0, ddof=1) / math.sqrt(3))
    assert (res.paths, res.method, res.notes) == (3000, "brentq on a common-random-numbers grid", [])
    run = simulator.run(with_overrides(sc, {key: float(res.value[0])}), paths=3000, seed=4)
    p = run["probability"].sel(company="solo", horizon=12, outcome="champion")
    np.testing.assert_allclose(res.achieved, [float(p)], rtol=1e-12)
    np.testing.assert_allclose(res.achieved_ci[0], run["probability_ci"].sel(company="solo", horizon=12,
                                                                             outcome="champion").values, rtol=1e-9)
    assert res.evaluations > 3


@pytest.mark.parametrize(("targets", "params", "message"), [
    ([], [ParamRange("companies.solo.growth.initial", 0, 1)],
     "calibrate needs at least one --target with a value and one --param"),
    ([Target("solo", "champion", 12, 0.5)], [], "calibrate needs at least one --target with a value and one --param"),
    ([Target("solo", "champion", 12)], [ParamRange("companies.solo.growth.initial", 0, 1)],
     "--target solo.champion@12: give the value to reach, e.g. solo.champion@12=0.6"),
])
def test_a_calibration_without_a_target_value_or_a_key_is_one_line(frozen, targets, params, message):
    with pytest.raises(UserError) as err:
        calibrate(frozen, targets, params, paths=100)
    assert str(err.value) == message
