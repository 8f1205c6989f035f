"""The calibration solvers, the implied value's explanation and the scenario editor, against truths computed here.

Each solver is checked against scipy run directly on an evaluator of the same scenario, seed and paths
(``brentq`` on the common-random-numbers grid; ``least_squares`` from the best points of the Latin
hypercube, restarted as documented), so the value it reports, its seeds' values and its count of
evaluations must be those bit for bit; the explanations of an unreachable target and of an implied value
against plain runs (:func:`simulator.run`) at the points they name; the scenario editor against the TOML it
writes, read back with :mod:`tomllib`, and the columns of the comments it keeps.  Statistical checks state
their family-wise error ALPHA (Bonferroni) and derive their bounds from the sample sizes.
"""

from __future__ import annotations

import contextlib
import math
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats
from test_precision_calibration import FROZEN as PRECISION_FROZEN
from test_precision_calibration import _p_up

import simulator
import simulator.studies.binding as binding
import simulator.studies.calibrate as cal
from simulator.cli import main
from simulator.engines.streams import normalise_seed
from simulator.errors import ScenarioError, UnreachableError, UserError
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import parse_scenario, with_overrides
from simulator.results.formatting import format_amount, percent
from simulator.results.targets import Target
from simulator.studies.calibrate import Evaluator, ParamRange, calibrate, implied_value
from simulator.studies.scenario_edit import DERIVED_TAG, number_text, set_values

ROOT = Path(__file__).resolve().parents[1]
ZB = ROOT / "scenarios" / "zhipu_base.toml"
BASE = ZB.read_text(encoding="utf-8")
#: Family-wise error rate of each statistical test here.
ALPHA = 1e-3
#: The spawn-key tags of the replicate seeds (a calibration's and an implied value's: distinct streams).
CALIBRATE_TAG, IMPLIED_TAG = 1_000_003, 1_000_033

# MODEL.md's frozen limit (test_precision_calibration's) with growth reverting to 0: the growth rate the
# calibrations search moves the whole path.
FROZEN = PRECISION_FROZEN.replace("long_run = 0.10", "long_run = 0.0")
GROWTH = "companies.solo.growth.initial"
SIGMA = "companies.solo.growth.sigma_revenue"
EXIT = "companies.solo.valuation_model.exit_multiple"


def _frozen(**overrides):
    sc = parse_scenario(FROZEN, source="frozen.toml")
    return with_overrides(sc, overrides) if overrides else sc


def _replicates(root, tag: int, n: int) -> list[np.random.SeedSequence]:
    return [root] + [np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, tag, r)) for r in range(n)]


def _probability(sc, key_values: dict, target: Target, *, paths: int, seed, engine: str = "numba") -> float:
    ds = simulator.run(with_overrides(sc, key_values), paths=paths, seed=seed, engine=engine)
    if target.outcome == "champion_share":
        return float(ds["champion_share"].sel(company=target.company, horizon=target.horizon))
    return float(ds["probability"].sel(company=target.company, horizon=target.horizon, outcome=target.outcome))


class _Bar:
    """A progress bar that records what it is told."""

    def __init__(self, desc, enabled):
        self.desc, self.enabled, self.updates, self.postfix = desc, enabled, [], []

    def update(self, n):
        self.updates.append(int(n))

    def set_postfix_str(self, text, refresh=True):
        self.postfix.append((text, refresh))


@pytest.fixture
def bars(monkeypatch):
    """The bars the studies open, each recording its updates (study_bar replaced)."""
    made = []

    @contextlib.contextmanager
    def fake(desc, enabled, **_):
        bar = _Bar(desc, enabled)
        made.append(bar)
        yield bar if enabled else None

    monkeypatch.setattr(cal, "study_bar", fake)
    return made


# --- one key, one target: brentq on the grid ---------------------------------------------------------------


def _brentq_truth(f_of, lo, hi, grid, fgrid):
    """scipy's brentq on the first sign change of the grid, as documented; (root, function calls)."""
    signs = np.sign(fgrid)
    if np.any(signs == 0):
        return float(grid[np.flatnonzero(signs == 0)[0]]), 0
    i = next(k for k in range(len(grid) - 1) if signs[k] != signs[k + 1])
    root, info = optimize.brentq(f_of, grid[i], grid[i + 1], xtol=(hi - lo) * 1e-5, rtol=1e-10, maxiter=200,
                                 full_output=True)
    return float(root), int(info.function_calls)


def _calibration_truth(sc, target, prange, *, paths, root, replicates, grid_points, engine="numba"):
    """Each seed's brentq root and the evaluations it took, from scipy on a fresh evaluator of that seed."""
    roots, evaluations = [], 0
    for ss in _replicates(root, CALIBRATE_TAG, replicates):
        ev = Evaluator(sc, [prange], paths, ss, engine=engine)
        grid = np.linspace(prange.low, prange.high, grid_points)
        est = np.asarray([ev.estimates([[g]], [target])[0][0, 0] for g in grid])
        f = lambda v, ev=ev: float(ev.estimates([[v]], [target])[0][0, 0] - target.value)  # noqa: E731
        x, calls = _brentq_truth(f, prange.low, prange.high, grid, est - target.value)
        roots.append(x)
        evaluations += grid_points + calls
    return np.asarray(roots), evaluations + 1


def test_one_key_calibration_is_brentq_on_its_seeds_grid(bars):
    """The value of every seed is scipy's brentq root on that seed's grid bracket (xtol a 1e-5 of the range, a
    range that does not start at 0), the value their mean with its standard error, the evaluations every set
    simulated, each reported to the bar (a postfix per seed, not refreshed), and what it achieves the plain run's."""
    sc = _frozen()
    target = Target("solo", "champion", 12, 0.45)
    prange = ParamRange(GROWTH, -0.4, 0.8)
    res = calibrate(sc, [target], [prange], paths=1500, seed=11, replicates=1, grid_points=7, progress=True)
    roots, evaluations = _calibration_truth(sc, target, prange, paths=1500, root=normalise_seed(11), replicates=1,
                                            grid_points=7)
    np.testing.assert_array_equal(res.per_seed[:, 0], roots)
    np.testing.assert_array_equal(res.value, [roots.mean()])
    assert res.standard_error.shape == (1,)
    assert res.standard_error[0] == pytest.approx(abs(roots[1] - roots[0]) / 2, rel=1e-12)
    assert res.evaluations == evaluations
    assert res.params == [prange] and res.targets == [target] and res.notes == []
    assert res.method == "brentq on a common-random-numbers grid"
    (bar,) = bars
    assert (bar.desc, bar.enabled) == ("calibrate", True)
    assert bar.postfix == [("seed 1 of 2", False), ("seed 2 of 2", False)]
    assert sum(bar.updates) == 1500 * evaluations  # every set simulated, the final run's too
    assert res.achieved[0] == _probability(sc, {GROWTH: float(res.value[0])}, target, paths=1500, seed=11)


def test_a_calibration_without_a_bar_and_with_the_scenarios_seed(bars):
    """progress defaults to off; seed None is the scenario's seed (3), so the same calibration as seed=3; with
    one seed the standard error is NaN, one per key, without a warning."""
    sc = _frozen()
    target = Target("solo", "champion", 12, 0.45)
    prange = ParamRange(GROWTH, -0.4, 0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one seed: no standard error, and no numpy warning about it
        res = calibrate(sc, [target], [prange], paths=1000, replicates=0, grid_points=5)
    same = calibrate(sc, [target], [prange], paths=1000, seed=3, replicates=0, grid_points=5)
    np.testing.assert_array_equal(res.per_seed, same.per_seed)
    roots, _ = _calibration_truth(sc, target, prange, paths=1000, root=normalise_seed(3), replicates=0,
                                  grid_points=5)
    np.testing.assert_array_equal(res.per_seed[:, 0], roots)
    assert res.standard_error.shape == (1,) and res.standard_error.dtype == np.float64
    assert np.isnan(res.standard_error).all()
    assert [(b.desc, b.enabled) for b in bars] == [("calibrate", False)] * 2


def test_the_default_grid_and_replicates():
    """Without grid_points and replicates: 17 grid points and 4 replicate seeds (5 in all)."""
    sc = _frozen()
    target = Target("solo", "champion", 12, 0.45)
    prange = ParamRange(GROWTH, -0.4, 0.8)
    res = calibrate(sc, [target], [prange], paths=400, seed=2)
    roots, evaluations = _calibration_truth(sc, target, prange, paths=400, root=normalise_seed(2), replicates=4,
                                            grid_points=17)
    np.testing.assert_array_equal(res.per_seed[:, 0], roots)
    assert res.evaluations == evaluations


def test_a_calibration_on_the_numpy_engine_is_that_engines():
    """engine="numpy" is used for every evaluation and for what the value achieves (the engines differ)."""
    sc = _frozen()
    target = Target("solo", "champion", 12, 0.45)
    prange = ParamRange(GROWTH, -0.4, 0.8)
    res = calibrate(sc, [target], [prange], paths=600, seed=6, replicates=0, grid_points=5, engine="numpy")
    roots, evaluations = _calibration_truth(sc, target, prange, paths=600, root=normalise_seed(6), replicates=0,
                                            grid_points=5, engine="numpy")
    np.testing.assert_array_equal(res.per_seed[:, 0], roots)
    assert res.evaluations == evaluations
    assert res.achieved[0] == _probability(sc, {GROWTH: float(res.value[0])}, target, paths=600, seed=6,
                                           engine="numpy")


# --- several keys or targets: least squares from the best points of a Latin hypercube ---------------------


def _least_squares_truth(sc, targets, params, *, paths, seed, rng_seed):
    """scipy's least_squares on the scaled residuals (a target's sd at its value, at least that of 5%, over the
    trials; an undefined estimate 1e6) from the best-scoring of 16 (8 per key if more) Latin-hypercube points
    and the centre, restarted from the next best (4 in all) until every residual is within the two-sided
    ALPHA / targets normal quantile; (value, fits, evaluations)."""
    ev = Evaluator(sc, params, paths, seed)
    goal = np.asarray([t.value for t in targets])
    lows, highs = np.asarray([p.low for p in params]), np.asarray([p.high for p in params])
    d = len(params)
    u0s = np.vstack([stats.qmc.LatinHypercube(d=d, seed=rng_seed).random(max(16, 8 * d)), np.full((1, d), 0.5)])
    est, trials = ev.estimates(lows + u0s * (highs - lows), targets)

    def scale(n):
        return np.sqrt(np.maximum(goal * (1 - goal), 0.0025) / np.maximum(n, 1))

    score = np.nansum(((est - goal) / scale(trials)) ** 2, axis=1)
    z = stats.norm.ppf(1 - ALPHA / (2 * len(targets)))
    calls = [0]

    def residuals(u):
        calls[0] += 1
        e, n = ev.estimates([lows + u * (highs - lows)], targets)
        return np.nan_to_num((e[0] - goal) / scale(n[0]), nan=1e6)

    fits, best = [], None
    for start in np.argsort(score)[:4]:
        fit = optimize.least_squares(residuals, u0s[start], bounds=(0.0, 1.0), diff_step=0.02, max_nfev=80)
        fits.append(fit)
        if best is None or fit.cost < best.cost:
            best = fit
        if np.all(np.abs(fit.fun) <= z):
            break
    return lows + best.x * (highs - lows), fits, len(u0s) + calls[0]


def _p_collapse(mu: float, sigma: float = 0.5) -> float:
    return float(stats.norm.cdf(math.log(0.3), loc=mu - sigma**2 / 2, scale=sigma))


TWO_KEYS = [ParamRange(GROWTH, -0.5, 1.0), ParamRange(SIGMA, 0.1, 1.5)]


@pytest.mark.parametrize("targets", [
    # Targets on very different scales: a residual of the 0.2% target is scaled by the sd of 5% (floor).
    [Target("solo", "champion", 12, 0.5), Target("solo", "collapse", 12, 0.002)],
    # A share among the decided paths: its trials are those paths, not all paths, and differ by point.
    [Target("solo", "champion_share", 12, 0.9), Target("solo", "collapse", 12, 0.05)],
    [Target("solo", "champion_share", 12, 0.95), Target("solo", "champion", 12, 0.4)],
], ids=["scales", "share-and-collapse", "share-and-champion"])
def test_two_keys_are_scipys_least_squares_from_the_best_hypercube_points(targets):
    """Every seed's value (each its own hypercube, seeded by the replicate's number) and the evaluations are
    those of scipy's least_squares from the best starting points; the targets are reached (final check)."""
    sc = _frozen()
    res = calibrate(sc, targets, TWO_KEYS, paths=1500, seed=5, replicates=1)
    evaluations = 1
    for r, ss in enumerate(_replicates(normalise_seed(5), CALIBRATE_TAG, 1)):
        x, _, n = _least_squares_truth(sc, targets, TWO_KEYS, paths=1500, seed=ss, rng_seed=r)
        np.testing.assert_array_equal(res.per_seed[r], x)
        evaluations += n
    assert res.evaluations == evaluations
    assert res.method == "least squares (trf) from the best points of a Latin hypercube"
    assert np.all((res.per_seed >= [0.5 * -1, 0.1]) & (res.per_seed <= [1.0, 1.5]))
    ev = Evaluator(sc, TWO_KEYS, 1500, normalise_seed(5))
    est, _ = ev.estimates([res.value], targets)
    np.testing.assert_array_equal(res.achieved, est[0])
    assert res.achieved[0] == _probability(sc, {GROWTH: float(res.value[0]), SIGMA: float(res.value[1])},
                                           targets[0], paths=1500, seed=5)


# One key, two targets that disagree a little (champion at mu = 0.3, collapse at mu = 0.6, sigma 0.5): least
# squares, not brentq on the first target.  At 3,000 paths the best start's fit stalls at a largest scaled
# residual of 3.587 (above z = 3.48 for two targets at ALPHA) and one restart reaches 2.49; at 3,700 paths
# the first fit ends at 3.468, within z, and is the answer.
DISAGREE = [Target("solo", "champion", 12, _p_up(0.3)), Target("solo", "collapse", 12, _p_collapse(0.6))]


@pytest.mark.parametrize(("paths", "n_fits"), [(3000, 2), (3700, 1)])
def test_restarts_stop_at_the_first_fit_within_monte_carlo_noise(paths, n_fits):
    sc = _frozen()
    prange = ParamRange(GROWTH, -0.5, 1.0)
    x, fits, n = _least_squares_truth(sc, DISAGREE, [prange], paths=paths, seed=normalise_seed(5), rng_seed=0)
    z = stats.norm.ppf(1 - ALPHA / 4)
    worst = [float(np.max(np.abs(f.fun))) for f in fits]
    assert len(fits) == n_fits and worst[-1] <= z and all(w > z for w in worst[:-1]), worst
    ev = Evaluator(sc, [prange], paths, normalise_seed(5))
    value, method = cal._solve(ev, DISAGREE, grid_points=17, rng_seed=0)
    np.testing.assert_array_equal(value, x)
    assert ev.evaluations == n
    assert method == "least squares (trf) from the best points of a Latin hypercube"


def test_a_compromise_outside_the_tolerance_names_the_worst_target():
    """At 3,000 paths the compromise misses the collapse target by more than the allowed Monte Carlo tolerance
    (z sqrt(p (1 - p) / n) + 1 / n for each target at its value, z two-sided at ALPHA over the targets): the
    error names that target with what a plain run at the value gives."""
    sc = _frozen()
    prange = ParamRange(GROWTH, -0.5, 1.0)
    x, _, _ = _least_squares_truth(sc, DISAGREE, [prange], paths=3000, seed=normalise_seed(5), rng_seed=0)
    est = np.asarray([_probability(sc, {GROWTH: float(x[0])}, t, paths=3000, seed=5) for t in DISAGREE])
    goal = np.asarray([t.value for t in DISAGREE])
    z = stats.norm.ppf(1 - ALPHA / 4)
    tolerance = z * np.sqrt(goal * (1 - goal) / 3000) + 1 / 3000
    assert np.abs(est - goal)[0] <= tolerance[0] and np.abs(est - goal)[1] > tolerance[1]
    with pytest.raises(UnreachableError) as err:
        calibrate(sc, DISAGREE, [prange], paths=3000, seed=5, replicates=0)
    assert str(err.value) == (
        f"no values of {GROWTH} in the given ranges reach the targets: best solo.collapse@12 = {est[1]:.4f} against "
        f"{goal[1]:g} (allowed Monte Carlo tolerance {tolerance[1]:.4f}); widen the ranges or add parameters")


def test_three_keys_start_from_eight_hypercube_points_per_key():
    """With three keys the hypercube has 24 points (8 per key, more than 16) and the centre."""
    sc = _frozen()
    keys = [*TWO_KEYS, ParamRange("companies.solo.revenue", 0.5e9, 2e9)]
    targets = [Target("solo", "champion", 12, 0.5), Target("solo", "collapse", 12, 0.05)]
    ev = Evaluator(sc, keys, 500, normalise_seed(8))
    x, method = cal._solve(ev, targets, grid_points=17, rng_seed=0)
    truth, fits, n = _least_squares_truth(sc, targets, keys, paths=500, seed=normalise_seed(8), rng_seed=0)
    np.testing.assert_array_equal(x, truth)
    assert method == "least squares (trf) from the best points of a Latin hypercube"
    assert ev.evaluations == n and len(fits) == 1


def test_a_pair_out_of_reach_tries_four_starts_and_stays_in_the_ranges():
    """No point of the ranges gives both targets: four fits, each stopped on a bound of the ranges (the value
    stays inside them), and the best of them is the answer."""
    sc = _frozen()
    targets = [Target("solo", "champion", 12, 0.6), Target("solo", "collapse", 12, 0.3)]
    ev = Evaluator(sc, TWO_KEYS, 800, normalise_seed(7))
    x, _ = cal._solve(ev, targets, grid_points=17, rng_seed=0)
    truth, fits, n = _least_squares_truth(sc, targets, TWO_KEYS, paths=800, seed=normalise_seed(7), rng_seed=0)
    assert len(fits) == 4 and all(np.max(np.abs(f.fun)) > stats.norm.ppf(1 - ALPHA / 4) for f in fits)
    np.testing.assert_array_equal(x, truth)
    assert ev.evaluations == n
    assert np.all((x >= [-0.5, 0.1]) & (x <= [1.0, 1.5]))


def test_one_key_out_of_reach_says_what_the_range_reaches():
    """The grid's lowest and highest estimates are those of plain runs at its points."""
    sc = _frozen()
    target = Target("solo", "champion", 12, 0.99)
    grid = np.linspace(-0.2, 0.5, 5)
    reach = [_probability(sc, {GROWTH: float(g)}, target, paths=1000, seed=4) for g in grid]
    with pytest.raises(UnreachableError) as err:
        calibrate(sc, [target], [ParamRange(GROWTH, -0.2, 0.5)], paths=1000, seed=4, replicates=0, grid_points=5)
    assert str(err.value) == (f"no value of {GROWTH} in [-0.2, 0.5] reaches solo.champion@12 = 0.99: over that "
                              f"range it goes from {min(reach):.4f} to {max(reach):.4f}")


def test_a_share_with_no_decided_path_anywhere_reaches_nothing():
    """A champion share where no path is decided at any grid point has no estimate: 'from nan to nan'."""
    sc = _frozen(**{"outcomes.champion_valuation_ratio": 1000.0, "outcomes.collapse_valuation_ratio": 1e-3})
    target = Target("solo", "champion_share", 12, 0.5)
    assert math.isnan(_probability(sc, {GROWTH: 0.0}, target, paths=300, seed=4))
    with pytest.raises(UnreachableError) as err:
        calibrate(sc, [target], [ParamRange(GROWTH, 0.0, 0.2)], paths=300, seed=4, replicates=0, grid_points=3)
    assert str(err.value) == (f"no value of {GROWTH} in [0, 0.2] reaches solo.champion_share@12 = 0.5: over that "
                              "range it goes from nan to nan")


def test_a_replicate_seed_that_does_not_bracket_the_target_is_left_out_with_a_note():
    """Seed 36, 500 paths: at growth 0.3 the main seed and replicates 2 and 3 reach 0.63, replicate 1 does not
    (0.604): it is left out with a note, the later replicates are kept, and its evaluations still count."""
    sc = _frozen()
    prange = ParamRange(GROWTH, -0.2, 0.3)
    seeds = _replicates(normalise_seed(36), CALIBRATE_TAG, 3)
    top = [Evaluator(sc, [prange], 500, ss).estimates([[0.3]], [Target("solo", "champion", 12)])[0][0, 0]
           for ss in seeds]
    assert top[1] < 0.63 <= min(top[0], top[2], top[3]), top
    target = Target("solo", "champion", 12, 0.63)
    roots, evaluations = [], 1
    for ss in seeds:
        ev = Evaluator(sc, [prange], 500, ss)
        grid = np.linspace(-0.2, 0.3, 5)
        fgrid = ev.estimates(grid[:, None], [target])[0][:, 0] - 0.63
        evaluations += 5
        if not np.any(np.sign(fgrid[:-1]) != np.sign(fgrid[1:])):
            continue
        f = lambda v, ev=ev: float(ev.estimates([[v]], [target])[0][0, 0] - 0.63)  # noqa: E731
        x, calls = _brentq_truth(f, -0.2, 0.3, grid, fgrid)
        roots.append(x)
        evaluations += calls
    res = calibrate(sc, [target], [prange], paths=500, seed=36, replicates=3, grid_points=5)
    assert res.notes == ["replicate seed 1: target not bracketed; left out"]
    np.testing.assert_array_equal(res.per_seed[:, 0], roots)
    assert len(roots) == 3 and res.evaluations == evaluations


# --- the implied value: brentq on the fundamental value, and what it says when the range does not reach it --


def _implied_truth(sc, prange, *, paths, root, replicates, grid_points, reading, engine="numba"):
    """Each seed's brentq root of fundamental value - V0 on its grid, and the sets simulated."""
    v0 = sc.companies[0].valuation
    roots, sets = [], 0
    for ss in _replicates(root, IMPLIED_TAG, replicates):
        ev = Evaluator(sc, [prange], paths, ss, engine=engine)
        grid = np.linspace(prange.low, prange.high, grid_points)
        fv = ev.fundamental(grid[:, None], 0, reading)
        f = lambda v, ev=ev: float(ev.fundamental([[v]], 0, reading)[0] - v0)  # noqa: E731
        x, calls = _brentq_truth(f, prange.low, prange.high, grid, fv - v0)
        roots.append(x)
        sets += grid_points + calls
    return np.asarray(roots), sets


def _run_readings(sc, *, paths, seed, engine="numba"):
    ds = simulator.run(sc, paths=paths, seed=seed, engine=engine)
    return {reading: (float(ds[name].sel(company="solo")), tuple(float(v) for v in ds[f"{name}_ci"].sel(company="solo").values))
            for reading, name in (("equity", "fundamental_value"), ("business", "business_value"))}


# Cash 2B and an operating loss on the paths with little revenue (opex 0.3B a year against half the revenue):
# the equity value (floored at zero per path) and the business value differ.
IMPLIED_SC = {"companies.solo.cash": 2e9, "companies.solo.costs.opex": 0.3e9}


def test_an_implied_value_is_brentq_on_its_seeds_and_reports_plain_runs(bars):
    """The business value that the solution gives, in a plain run with the same seed and paths (not the
    scenario's 3 and 4,000), equals V0 to within brentq's tolerance on that (linear) reading; each seed's value is
    scipy's root; both readings at the scenario and at the solution are the plain runs'; the bar sees every set."""
    sc = _frozen(**IMPLIED_SC)
    prange = ParamRange(EXIT, 2.0, 150.0)
    res = implied_value(sc, "solo", prange, paths=1500, seed=13, replicates=2, grid_points=7, reading="business",
                        progress=True)
    roots, sets = _implied_truth(sc, prange, paths=1500, root=normalise_seed(13), replicates=2, grid_points=7,
                                 reading="business")
    np.testing.assert_array_equal(res.per_seed, roots)
    assert res.value == roots.mean() and res.standard_error == pytest.approx(roots.std(ddof=1) / math.sqrt(3), rel=1e-12)
    assert (res.param, res.company, res.reading, res.valuation) == (prange, "solo", "business", 20e9)
    lo, hi = (_run_readings(with_overrides(sc, {EXIT: v}), paths=1500, seed=13)["business"][0] for v in (2.0, 150.0))
    at_root = _run_readings(with_overrides(sc, {EXIT: float(roots[0])}), paths=1500, seed=13)["business"][0]
    slope = (hi - lo) / 148.0
    assert abs(at_root - 20e9) <= 2 * abs(slope) * 148.0 * 1e-5 + 1e-9 * 20e9
    assert res.at_scenario == _run_readings(sc, paths=1500, seed=13)
    assert res.at_solution == _run_readings(with_overrides(sc, {EXIT: res.value}), paths=1500, seed=13)
    assert res.at_scenario["equity"][0] != res.at_scenario["business"][0]  # the readings differ here
    (bar,) = bars
    assert (bar.desc, bar.enabled) == ("implied", True)
    assert sum(bar.updates) == 1500 * (sets + 2)  # the seeds' sets, the scenario's run, the solution's


def test_an_implied_value_defaults(bars):
    """Defaults: the equity reading, 17 grid points, 4 replicates, no bar; seed None is the scenario's."""
    sc = _frozen(**IMPLIED_SC)
    prange = ParamRange(EXIT, 2.0, 150.0)
    res = implied_value(sc, "solo", prange, paths=300)
    roots, _ = _implied_truth(sc, prange, paths=300, root=normalise_seed(3), replicates=4, grid_points=17,
                              reading="equity")
    np.testing.assert_array_equal(res.per_seed, roots)
    assert res.reading == "equity" and res.fundamental_at_scenario == res.at_scenario["equity"][0]
    assert [(b.desc, b.enabled) for b in bars] == [("implied", False)]


def test_an_implied_value_with_one_seed_and_the_numpy_engine():
    """One seed: a NaN standard error (and no warning); the numpy engine everywhere (its runs differ from
    numba's)."""
    sc = _frozen(**IMPLIED_SC)
    prange = ParamRange(EXIT, 2.0, 150.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one seed: no standard error, and no numpy warning about it
        res = implied_value(sc, "solo", prange, paths=400, seed=8, replicates=0, grid_points=4, engine="numpy")
    roots, _ = _implied_truth(sc, prange, paths=400, root=normalise_seed(8), replicates=0, grid_points=4,
                              reading="equity", engine="numpy")
    np.testing.assert_array_equal(res.per_seed, roots)
    assert math.isnan(res.standard_error)
    assert res.at_scenario == _run_readings(sc, paths=400, seed=8, engine="numpy")
    assert res.at_solution == _run_readings(with_overrides(sc, {EXIT: res.value}), paths=400, seed=8,
                                            engine="numpy")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"reading": "cash"}, "--reading 'cash': must be one of equity, business"),
    ({"company": "nobody"}, "--company 'nobody': no such company (known: solo)"),
])
def test_an_implied_value_of_an_unknown_reading_or_company_is_one_line(kwargs, message):
    args = {"company": "solo", **kwargs}
    company = args.pop("company")
    with pytest.raises(UserError) as err:
        implied_value(_frozen(), company, ParamRange(EXIT, 1.0, 2.0), paths=100, **args)
    assert str(err.value) == message


def test_a_fundamental_value_of_an_unknown_reading_is_one_line():
    ev = Evaluator(_frozen(), [ParamRange(EXIT, 1.0, 2.0)], 100, normalise_seed(1))
    with pytest.raises(UserError) as err:
        ev.fundamental([[1.5]], 0, "cash")
    assert str(err.value) == "--reading 'cash': must be one of equity, business"
    # The default reading is the equity value, the plain run's.
    value = ev.fundamental([[1.5]], 0)[0]
    assert value == _run_readings(with_overrides(_frozen(), {EXIT: 1.5}), paths=100, seed=1)["equity"][0]


def _union_values(sc, key, grid, wide, reading, *, paths, seed, engine="numba"):
    """The searched grid and the valid points of the wide grid, sorted, with plain runs' values there."""
    valid = []
    for x in wide:
        try:
            with_overrides(sc, {key: float(x)})
        except ScenarioError:
            continue
        valid.append(float(x))
    xs = np.sort(np.concatenate([grid, valid]))
    values = np.asarray([_run_readings(with_overrides(sc, {key: float(x)}), paths=paths, seed=seed,
                                       engine=engine)[reading][0] for x in xs])
    return xs, values


def test_an_implied_value_outside_the_range_points_where_it_is():
    """The range [2, 20] does not reach the price; over the key's whole allowed range [0, 1000] (a geometric
    grid of 2 x 5 + 1 points from 1e-9, with the searched grid) plain runs cross it between two neighbouring
    points: the error names them and the --range to search."""
    sc = _frozen(**IMPLIED_SC)
    grid = np.linspace(2.0, 20.0, 5)
    xs, values = _union_values(sc, EXIT, grid, np.geomspace(1e-9, 1000.0, 11), "equity", paths=1500, seed=13)
    fv = values[np.isin(xs, grid)]
    i = int(np.flatnonzero(np.diff(values >= 20e9))[0])
    with pytest.raises(UnreachableError) as err:
        implied_value(sc, "solo", ParamRange(EXIT, 2.0, 20.0), paths=1500, seed=13, replicates=0, grid_points=5)
    assert str(err.value) == (
        f"no value of {EXIT} in [2, 20] makes the equity value of solo reach its valuation 20.0B CNY: it goes from "
        f"{format_amount(fv.min())} to {format_amount(fv.max())}; it does between {EXIT} = {xs[i]:.4g} and "
        f"{xs[i + 1]:.4g} (allowed: [0, 1000]): search there with --range {xs[i]:.4g}:{xs[i + 1]:.4g}")


def test_an_implied_value_out_of_the_whole_range_says_what_binds_at_its_peak():
    """No discount rate in [-0.5, 1] gives 1e15: the error names the peak of the business value over both grids
    (plain runs, numpy engine, seed 13 and 1,500 paths, not the scenario's) and what binds there (the cash: a
    share of paths that fail depends on the seed and the paths)."""
    disc = "companies.solo.valuation_model.discount_rate"
    sc = _frozen(**{"companies.solo.cash": 1e9, "companies.solo.costs.opex": 1.55e9, "companies.solo.valuation": 1e15})
    grid = np.linspace(0.0, 0.5, 5)
    xs, values = _union_values(sc, disc, grid, np.linspace(-0.5, 1.0, 11), "business", paths=1500, seed=13,
                               engine="numpy")
    fv = values[np.isin(xs, grid)]
    best = int(np.argmax(values))
    lines = binding.what_binds(sc, "solo", disc, float(xs[best]), paths=1500, seed=13, engine="numpy")
    assert any("of paths fail by month 12" in line for line in lines)
    with pytest.raises(UnreachableError) as err:
        implied_value(sc, "solo", ParamRange(disc, 0.0, 0.5), paths=1500, seed=13, replicates=0, grid_points=5,
                      reading="business", engine="numpy")
    assert str(err.value) == (
        f"no value of {disc} in [0, 0.5] makes the business value of solo reach its valuation "
        f"{format_amount(1e15, 'CNY')}: it goes from {format_amount(fv.min())} to {format_amount(fv.max())}, and no "
        f"value in its whole allowed range [-0.5, 1] does: the business value peaks at "
        f"{format_amount(values[best], 'CNY')} ({disc} = {xs[best]:.4g}). What binds there:\n"
        + "\n".join(f"- {line}" for line in lines))


# --- what binds: each limit at its documented threshold ------------------------------------------------------


def _binds_truth(sc, company, key, value, *, paths, seed, engine="numba", share, survival):
    """The lines of MODEL's limits that hold in a plain run with the key at the value, written out here."""
    run = with_overrides(sc, {key: value})
    ds = simulator.run(run, paths=paths, seed=seed, engine=engine)
    h = int(ds["horizon"].values[-1])
    at = {"company": company, "month": h}
    revenue = float(ds["revenue_quantile"].sel(**at, quantile=0.5))
    capacity = float(ds["capacity_quantile"].sel(**at, quantile=0.5))
    alive = float(ds["survival"].sel(**at))
    margin = float(ds["gross_margin_quantile"].sel(**at, quantile=0.5))
    spec, cur, lines = run.company(company), run.currency, []
    if spec.chips.enabled and 0 < capacity < math.inf and revenue >= share * capacity:
        lines.append(f"chip capacity caps revenue at {format_amount(capacity, cur)} a year by month {h} (median "
                     f"served revenue {format_amount(revenue, cur)}): lift it with --set "
                     f"companies.{company}.chips.enabled=false, or more cards (chips.domestic_per_month, "
                     "chips.revenue_per_card)")
    if alive < survival:
        lines.append(f"{percent(1.0 - alive)} of paths fail by month {h} (the cash runs out): lift it with --set "
                     f"companies.{company}.funding.backstop_probability=1, or more cash")
    if margin < 0.0:
        lines.append(f"compute costs exceed revenue (median gross margin {percent(margin)} at month {h}): lift it "
                     f"with --set companies.{company}.pricing.scarcity_premium=0")
    vm = spec.valuation_model
    lines.append(f"the fundamental value is the discounted cash plus {vm.exit_multiple:g}x operating profit at "
                 f"month {h} (discount rate {vm.discount_rate:g}): a larger "
                 f"companies.{company}.valuation_model.exit_multiple raises it in proportion")
    return lines, {"revenue": revenue, "capacity": capacity, "alive": alive, "margin": margin}


def test_what_binds_runs_on_the_engine_it_is_given():
    """A share of failing paths read from a numpy-engine run (numba's differs)."""
    sc = _frozen(**{"companies.solo.cash": 1e9, "companies.solo.costs.opex": 1.55e9})
    lines, _ = _binds_truth(sc, "solo", EXIT, 10.0, paths=1500, seed=13, engine="numpy", share=0.9, survival=0.9)
    numba_lines, _ = _binds_truth(sc, "solo", EXIT, 10.0, paths=1500, seed=13, share=0.9, survival=0.9)
    assert lines != numba_lines and len(lines) == 2
    assert binding.what_binds(sc, "solo", EXIT, 10.0, paths=1500, seed=13, engine="numpy") == lines


def test_what_binds_at_exactly_its_thresholds(monkeypatch):
    """Served revenue at exactly the capacity share binds ("at or above"); survival at exactly its threshold
    does not ("below"); a gross margin of exactly zero does not ("exceed"); a capacity below one currency unit
    still binds (any capacity above zero)."""
    monkeypatch.setattr(binding, "CAPACITY_SHARE", 1.0)
    monkeypatch.setattr(binding, "SURVIVAL", 1.0)
    zb = simulator.load_scenario(ZB)
    tiny = with_overrides(zb, {"companies.zhipu.cash": 1e13, "companies.zhipu.chips.revenue_per_card": 1e-9})
    key = "companies.zhipu.growth.long_run"
    lines, seen = _binds_truth(tiny, "zhipu", key, 0.9, paths=1000, seed=5, share=1.0, survival=1.0)
    assert seen["revenue"] == seen["capacity"] and 0 < seen["capacity"] < 1 and seen["alive"] == 1.0
    assert lines[0].startswith("chip capacity caps revenue") and len(lines) == 3  # chips, margin, exit
    assert binding.what_binds(tiny, "zhipu", key, 0.9, paths=1000, seed=5) == lines
    flat = _frozen(**{"companies.solo.pricing.compute_cost_share": 1.0})
    lines, seen = _binds_truth(flat, "solo", EXIT, 10.0, paths=500, seed=5, share=1.0, survival=1.0)
    assert seen["margin"] == 0.0 and seen["alive"] == 1.0 and len(lines) == 1
    assert binding.what_binds(flat, "solo", EXIT, 10.0, paths=500, seed=5) == lines


# --- the evaluator and the searched keys ----------------------------------------------------------------


def test_the_evaluator_counts_every_set_and_reports_its_paths():
    """Evaluations add up over calls (sets, not keys); each set's paths go to the progress callable; a value per
    key or a ValueError; block size as given (it changes the streams: the plain run with that block size)."""
    sc = _frozen()
    seen = []
    keys = [ParamRange(GROWTH, -0.5, 1.0), ParamRange(SIGMA, 0.1, 1.5)]
    ev = Evaluator(sc, keys, 700, normalise_seed(4), progress=seen.append, block_size=64)
    ev.tally([[0.1, 0.5], [0.2, 0.5], [0.3, 0.5]])
    ev.tally([[0.1, 0.6]])
    assert ev.evaluations == 4 and sum(seen) == 4 * 700
    with pytest.raises(ValueError):
        ev.theta([0.1])
    with pytest.raises(ValueError):
        ev.theta([0.1, 0.5, 0.7])
    target = Target("solo", "champion", 12)
    est, trials = ev.estimates([[0.2, 0.5]], [target])
    ds = simulator.run(with_overrides(sc, {GROWTH: 0.2}), paths=700, seed=4, block_size=64)
    assert est[0, 0] == float(ds["probability"].sel(company="solo", horizon=12, outcome="champion"))
    assert trials[0, 0] == 700


def test_the_chance_of_any_champion_among_several_companies_is_the_runs():
    sc = simulator.load_scenario(ROOT / "scenarios" / "sector_portfolio.toml")
    key = "companies.zhipu.growth.long_run"
    ev = Evaluator(sc, [ParamRange(key, 0.0, 1.0)], 400, normalise_seed(9))
    est, trials = ev.estimates([[0.5]], [Target(None, "any_champion", 36)])
    ds = simulator.run(with_overrides(sc, {key: 0.5}), paths=400, seed=9)
    assert est[0, 0] == float(ds["any_champion"].sel(horizon=36)) and trials[0, 0] == 400


def test_a_key_inside_a_distribution_names_the_distributions_key():
    """The bare key of a jump whose mean is a distribution: the message names that mean and its table."""
    text = BASE.replace("narrative = { mean = 0.15, sd = 0.1 }",
                        'narrative = { mean = { dist = "uniform", low = 0.1, high = 0.2 }, sd = 0.1 }')
    sc = parse_scenario(text, source="u.toml")
    key = "companies.zhipu.events.government_contract.narrative"
    with pytest.raises(UserError) as err:
        cal.parse_param_range(f"{key}=0:1", sc)
    assert str(err.value) == (f'--param {key}: the scenario gives this key as a distribution ({key}.mean = {{dist = '
                              f'"uniform", low = 0.1, high = 0.2}}), so it cannot be searched; fix it with --set '
                              f'{key}.mean=VALUE or search another key')
    with pytest.raises(UserError) as err:
        cal.parse_param_range(f"{key}.mean=0:1", sc)
    assert str(err.value).startswith(f'--param {key}.mean: the scenario gives this key as a distribution ({{dist = '
                                     '"uniform"')


@pytest.mark.parametrize(("low", "high", "geometric"), [
    (100.0, 200.0, False),  # twice, not a thousand times
    (1e-6, 1e-2, True),  # four decades, all below 1
    (0.0, 1.0, True),  # from zero: every decade down to 1e-12 of the top
    (0.0, 0.5, True),
])
def test_the_wide_grid_is_geometric_by_the_ratio_of_its_ends(low, high, geometric):
    expected = np.geomspace(max(low, high * 1e-12), high, 7) if geometric else np.linspace(low, high, 7)
    np.testing.assert_array_equal(cal._wide_grid(low, high, 7), expected)


@pytest.mark.parametrize(("value", "text"), [(100000, "100000"), (10**20, "100000000000000000000"), (-300, "-300")])
def test_a_whole_number_is_written_as_an_integer(value, text):
    """An int stays a TOML integer (1e5 would read back as a float)."""
    assert number_text(value) == text
    assert tomllib.loads(f"v = {number_text(value)}")["v"] == value


# --- the scenario editor: what it writes, read back ----------------------------------------------------------


def _line(text: str, start: str) -> str:
    (line,) = [line for line in text.splitlines() if line.strip().startswith(start)]
    return line


def _aligned(before: str, value: str, tag: str | None = None) -> str:
    """``before`` (``key = value  # comment``) with the new value and the comment in its column (at least one
    space after the value), and the tag at the comment's end."""
    head, comment = before.split("#", 1)
    key = head.split("=")[0].rstrip()
    column = len(head)
    new = f"{key} = {value}"
    old_value = head.split("=", 1)[1].strip()
    tail = f"#{comment.rstrip()}" + (f" [{tag}; was {old_value}]" if tag else "")
    return new + " " * max(1, column - len(new)) + tail


@pytest.mark.parametrize(("key", "start", "value", "text"), [
    ("companies.zhipu.growth.long_run", "long_run = 0.35 ", 0.8, "0.8"),
    ("companies.zhipu.growth.long_run", "long_run = 0.35 ", -1.2345678901234567e-5, "-1.2345678901234568e-5"),
    ("companies.zhipu.funding.backstop", "backstop = 5e9", 7.24e8, "7.24e8"),
    ("sector.events.export_control_escalation.import_cut.low", "import_cut =", 1e-7, "[1e-7, 0.8]"),
    ("sector.events.export_control_escalation.import_cut.high", "import_cut =", 0.95, "[0.3, 0.95]"),
    ("companies.zhipu.events.government_contract.demand.mean", "demand = 0.09", 0.2, "{ mean = 0.2, sd = 0.0 }"),
    ("companies.zhipu.chips.enabled", "enabled = true                  # seed 000 threat 3", False, "false"),
])
@pytest.mark.parametrize("tag", [None, "calibrated"])
def test_a_value_is_written_shortest_with_its_comment_in_its_column(key, start, value, text, tag):
    """The line's new value in its shortest form, the comment where it was (one space when the value is too
    wide for the gap), the tag and the value before only with a tag; the file gives exactly the value back."""
    before = _line(BASE, start)
    edited = set_values(BASE, {key: value}, tag=tag)
    at = BASE.splitlines().index(before)
    assert edited.splitlines()[at] == _aligned(before, text, tag)
    table = tomllib.loads(edited)
    if key.startswith("sector.events"):
        assert table["sector"]["events"][0]["import_cut"] == tomllib.loads(f"v = {text}")["v"]
    elif "government_contract" in key:
        assert table["companies"][0]["events"][1]["demand"] == {"mean": 0.2, "sd": 0.0}
    else:
        section, name = key.split(".")[-2:]
        assert table["companies"][0][section][name] == value
    # Every other line as it was.
    assert [a for a, b in zip(BASE.splitlines(), edited.splitlines(), strict=True) if a != b] == [before]


def test_the_calibrate_command_writes_a_switch_and_a_list_it_was_given():
    """``calibrate --set companies.zhipu.chips.enabled=false --set scenario.horizons=[12,36]`` writes the
    switch and the list back into the calibrated file (each with its comment and the tag; the horizons as
    integers), and the file reads back with them and the calibrated value (both failed before the fix: a
    switch crashed the editor, a list of integers was written as floats and read back as a tuple)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cal.toml"
        assert main(["calibrate", str(ZB), "--set", "companies.zhipu.chips.enabled=false", "--set",
                     "scenario.horizons=[12,36]", "--target", "zhipu.collapse@36=0.3", "--param",
                     "companies.zhipu.growth.long_run=0:2", "--paths", "300", "--replicates", "0", "--out", str(out),
                     "--quiet"]) == 0
        text = out.read_text(encoding="utf-8")
    switch = "enabled = true                  # seed 000 threat 3"
    assert _line(text, "enabled = false                 # seed 000 threat 3") == _aligned(_line(BASE, switch), "false",
                                                                                        "calibrated")
    assert _line(text, "horizons = ") == _aligned(_line(BASE, "horizons = "), "[12, 36]", "calibrated")
    assert tomllib.loads(text)["scenario"]["horizons"] == [12, 36]
    sc = parse_scenario(text, source="cal.toml")
    assert not sc.company("zhipu").chips.enabled and 0 < sc.company("zhipu").growth.long_run < 2


def test_a_tag_follows_the_comment_without_its_trailing_spaces():
    text = BASE.replace("long_run = 0.35                 # seed 004: the market", "long_run = 0.35  # growth   \n"
                        "# seed 004: the market", 1)
    edited = set_values(text, {"companies.zhipu.growth.long_run": 0.8}, tag="calibrated")
    assert _line(edited, "long_run = 0.8") == "long_run = 0.8   # growth [calibrated; was 0.35]"  # column kept


def test_a_line_without_a_comment_gets_none_and_a_tag_starts_one():
    frozen = FROZEN
    assert _line(set_values(frozen, {GROWTH: 0.25}), "initial =") == "initial = 0.25"
    assert _line(set_values(frozen, {GROWTH: 0.25}, tag="calibrated"), "initial =") == \
        "initial = 0.25  # calibrated; was 0.10"
    nocomment = BASE.replace(_line(BASE, "demand = 0.09"), "demand = 0.09")
    key = "companies.zhipu.events.government_contract.demand.sd"
    assert _line(set_values(nocomment, {key: 0.05}), "demand =") == "demand = { mean = 0.09, sd = 0.05 }"  # no trailing spaces
    assert _line(set_values(nocomment, {key: 0.05}, tag="calibrated"), "demand =") == \
        "demand = { mean = 0.09, sd = 0.05 }  # calibrated; was 0.09"


@pytest.mark.parametrize(("key", "value", "line"), [
    ("companies.zhipu.events.model_release.outcomes.top3.growth", 0.25,
     '  { name = "top3", probability = 0.2, narrative = { mean = 0.4, sd = 0.15 }, growth = 0.25 },'),
    ("companies.zhipu.events.model_release.outcomes.top3.narrative", 0.6,
     '  { name = "top3", probability = 0.2, narrative = { mean = 0.6, sd = 0.15 }, growth = 0.1 },'),
    ("companies.zhipu.events.model_release.outcomes.top3.narrative.sd", 0.5,
     '  { name = "top3", probability = 0.2, narrative = { mean = 0.4, sd = 0.5 }, growth = 0.1 },'),
    ("companies.zhipu.events.model_release.outcomes.top3.demand", 0.05,
     '  { name = "top3", probability = 0.2, narrative = { mean = 0.4, sd = 0.15 }, growth = 0.1, demand = 0.05 },'),
    ("companies.zhipu.events.model_release.outcomes.top3.growth.mean", 0.3,
     '  { name = "top3", probability = 0.2, narrative = { mean = 0.4, sd = 0.15 }, growth = { mean = 0.3, sd = 0.0 } },'),
    ("companies.zhipu.events.model_release.outcomes.top3.import_cut.high", 0.5,
     '  { name = "top3", probability = 0.2, narrative = { mean = 0.4, sd = 0.15 }, growth = 0.1, '
     'import_cut = [0.0, 0.5] },'),
])
@pytest.mark.parametrize("tag", [None, "calibrated"])
def test_a_value_inside_an_inline_table_is_written_in_place_without_a_tag(key, value, line, tag):
    """An inline table has no comments: its member is written in the file's style, no tag, same line."""
    edited = set_values(BASE, {key: value}, tag=tag)
    assert _line(edited, '{ name = "top3"') == line
    outcome = tomllib.loads(edited)["companies"][0]["events"][0]["outcomes"][0]
    assert outcome == tomllib.loads(f"v = {line.strip().rstrip(',')}")["v"]


NOTE_LINE = "# Calibrated by `simulator calibrate` on DAY from zhipu_base.toml:"


@pytest.mark.parametrize(("top", "gap"), [
    (f"{NOTE_LINE}\n#   x = 1\n\n", "\n\n"),  # the note, a blank line: the new note, a blank line
    (f"{NOTE_LINE}\n#   x = 1\n", "\n"),  # straight into the file: no blank line added
    (f"{NOTE_LINE}\n", "\n"),
])
def test_a_new_note_replaces_the_old_one_and_keeps_what_follows(top, gap):
    key = "companies.zhipu.growth.long_run"
    hand = "# written by hand under the note\n"
    edited = set_values(top + hand + BASE, {key: 0.8}, note="Calibrated by `simulator calibrate` again\n\n  y = 2")
    body = set_values(hand + BASE, {key: 0.8})
    assert edited == "# Calibrated by `simulator calibrate` again\n#\n#   y = 2" + gap + body
    # Without a note the file's note stays as it is.
    assert set_values(top + hand + BASE, {key: 0.8}) == top + body


@pytest.mark.parametrize(("text", "values", "message"), [
    ("x = = 1\n", {"a.b": 1.0}, r"^x\.toml: not valid TOML: "),
    ('[scenario]\nname = "x"\nhorizon_months = "twelve"\n', {"scenario.seed": 1}, r"^x\.toml: "),
    (BASE, {"": 1.0}, r"^x\.toml: '': not a dotted key such as companies\.zhipu\.cash$"),
    (BASE, {"companies..cash": 1.0}, r"^x\.toml: 'companies\.\.cash': not a dotted key such as companies\.zhipu\.cash$"),
    (BASE, {"companies.zhipu.cash.": 1.0}, r"^x\.toml: 'companies\.zhipu\.cash\.': not a dotted key such as "),
])
def test_a_file_or_key_the_editor_cannot_use_is_one_line_naming_the_file(text, values, message):
    with pytest.raises(ScenarioError, match=message):
        set_values(text, values, source="x.toml")


def test_values_that_contradict_each_other_are_refused_naming_the_keys():
    """A range's bare key (both ends) and one of its ends in one edit: the file cannot give both, and the check
    lists the keys that do not read back (three, then '...')."""
    cut = "sector.events.export_control_escalation.import_cut"
    with pytest.raises(ScenarioError) as err:
        set_values(BASE, {cut: 0.5, f"{cut}.low": 0.2}, source="x.toml")
    assert str(err.value) == (f"x.toml: editing the file did not give the intended values ({cut}, {cut}.high); edit "
                              "it by hand or use --set")
    top3 = "companies.zhipu.events.model_release.outcomes.top3.import_cut"
    with pytest.raises(ScenarioError) as err:
        set_values(BASE, {cut: 0.5, f"{cut}.low": 0.2, top3: 0.5, f"{top3}.high": 0.7}, source="x.toml")
    assert str(err.value) == (f"x.toml: editing the file did not give the intended values ({cut}, {cut}.high, "
                              f"{top3}...); edit it by hand or use --set")


AMAZON = (ROOT / "scenarios" / "schwartz_moon_amazon.toml").read_text(encoding="utf-8")


def test_derived_amounts_are_written_for_the_touched_company_only_and_tagged_only_with_a_tag():
    """A second company (the first not touched): its derived amounts are written out with their values, without a
    comment when there is no tag; a company named like a part of a sector key is not touched by that key."""
    block = AMAZON[AMAZON.index("[[companies]]"):AMAZON.index("[outcomes]")]
    two = AMAZON.replace("[outcomes]", block.replace('name = "amazon"', 'name = "second"', 1) + "[outcomes]", 1)
    before = parse_scenario(two, source="two.toml")
    derived = before.companies[1].derived
    assert derived and before.companies[0].derived == derived
    edited = set_values(two, {"companies.second.revenue": 1.5e9})
    after = parse_scenario(edited, source="two.toml")
    assert DERIVED_TAG not in edited and after.companies[0].derived == derived and not after.companies[1].derived
    for key in derived:
        table, name = key.split(".")
        assert getattr(getattr(after.companies[1], table), name) == getattr(getattr(before.companies[1], table), name)
    assert edited.count(DERIVED_TAG) == 0 and set_values(two, {"companies.second.revenue": 1.5e9},
                                                         tag="c").count(DERIVED_TAG) == len(derived)
    named = AMAZON.replace('name = "amazon"', 'name = "narrative"', 1)
    edited = set_values(named, {"sector.narrative.kappa": 0.3}, tag="calibrated")
    assert DERIVED_TAG not in edited
    assert len([a for a, b in zip(named.splitlines(), edited.splitlines(), strict=True) if a != b]) == 1


def test_a_table_the_file_does_not_have_is_written_as_a_table():
    frozen = FROZEN.replace("[companies.costs]\nopex = 0.0\nopex_growth = 0.0\n", "")
    edited = set_values(frozen, {"companies.solo.costs.opex": 1e8})
    assert "[companies.costs]\nopex = 1e8\n" in edited
    assert tomllib.loads(edited)["companies"][0]["costs"] == {"opex": 1e8}


def test_a_key_of_a_table_whose_last_line_is_an_inline_table_keeps_its_line():
    """A file that ends with an inline table and no newline: the edited key stays on its own line."""
    text = FROZEN + '\n[[sector.events]]\nname = "e"\nhazard_per_year = 0.5\nnarrative = { mean = 0.1, sd = 0.2 }'
    edited = set_values(text, {"sector.events.e.hazard_per_year": 0.7})
    assert edited == text.replace("hazard_per_year = 0.5", "hazard_per_year = 0.7")


@pytest.mark.parametrize(("key", "value", "start", "text"), [
    ("companies.zhipu.events.government_contract.narrative.sd", 0.5, "narrative = { mean = 0.15,",
     "{ mean = 0.15, sd = 0.5 }"),
    ("companies.zhipu.events.government_contract.narrative", 0.3, "narrative = { mean = 0.15,",
     "{ mean = 0.3, sd = 0.1 }"),
    ("sector.events.export_control_escalation.narrative.mean", -0.25, "narrative = { mean = -0.1,",
     "{ mean = -0.25, sd = 0.2 }"),
])
@pytest.mark.parametrize("tag", [None, "calibrated"])
def test_a_jump_on_a_line_of_a_table_is_tagged_like_any_changed_line(key, value, start, text, tag):
    """A jump written { mean, sd } on a line of a table (not inside an inline table) is one changed line: the
    comment in its column and, with a tag, [tag; was { the jump before }] (it had none before the fix)."""
    before = _line(BASE, start)
    edited = set_values(BASE, {key: value}, tag=tag)
    at = BASE.splitlines().index(before)
    assert edited.splitlines()[at] == _aligned(before, text, tag)
    assert [a for a, b in zip(BASE.splitlines(), edited.splitlines(), strict=True) if a != b] == [before]
    layout = build_layout(parse_scenario(edited))
    jump = key if key.endswith((".mean", ".sd")) else f"{key}.mean"
    assert [float(layout.theta[s]) for s in layout.paths[jump]] == [value]


def test_an_implied_replicate_seed_that_does_not_bracket_is_left_out():
    """Seed 43, 300 paths: over [2, 86] the main seed and replicates 2 and 3 reach the price, replicate 1 does
    not (its root is near 92): it is left out and the later replicates kept, each scipy's root on its grid."""
    sc = _frozen(**IMPLIED_SC)
    prange = ParamRange(EXIT, 2.0, 86.0)
    roots = []
    for ss in _replicates(normalise_seed(43), IMPLIED_TAG, 3):
        ev = Evaluator(sc, [prange], 300, ss)
        grid = np.linspace(2.0, 86.0, 5)
        fv = ev.fundamental(grid[:, None], 0, "equity") - 20e9
        if not np.any(np.sign(fv[:-1]) != np.sign(fv[1:])):
            continue
        f = lambda v, ev=ev: float(ev.fundamental([[v]], 0, "equity")[0] - 20e9)  # noqa: E731
        roots.append(_brentq_truth(f, 2.0, 86.0, grid, fv)[0])
    res = implied_value(sc, "solo", prange, paths=300, seed=43, replicates=3, grid_points=5)
    assert len(roots) == 3
    np.testing.assert_array_equal(res.per_seed, roots)


def test_a_pair_out_of_reach_names_the_worst_target_with_its_tolerance():
    """The best of four fits misses: the error names the target furthest beyond its tolerance (z sqrt(p (1 - p)
    / n) + 1 / n, z two-sided at ALPHA over the two targets), with what a plain run at the value gives."""
    sc = _frozen()
    targets = [Target("solo", "champion", 12, 0.6), Target("solo", "collapse", 12, 0.3)]
    x, _, _ = _least_squares_truth(sc, targets, TWO_KEYS, paths=800, seed=normalise_seed(7), rng_seed=0)
    values = {GROWTH: float(x[0]), SIGMA: float(x[1])}
    est = np.asarray([_probability(sc, values, t, paths=800, seed=7) for t in targets])
    goal = np.asarray([0.6, 0.3])
    tolerance = stats.norm.ppf(1 - ALPHA / 4) * np.sqrt(goal * (1 - goal) / 800) + 1 / 800
    w = int(np.argmax(np.abs(est - goal) - tolerance))
    assert abs(est[w] - goal[w]) > tolerance[w]
    with pytest.raises(UnreachableError) as err:
        calibrate(sc, targets, TWO_KEYS, paths=800, seed=7, replicates=0)
    assert str(err.value) == (
        f"no values of {GROWTH}, {SIGMA} in the given ranges reach the targets: best {targets[w].label} = "
        f"{est[w]:.4f} against {goal[w]:g} (allowed Monte Carlo tolerance {tolerance[w]:.4f}); widen the ranges or "
        "add parameters")
