"""Every number a sensitivity study reports, against an independent truth computed in the test.

Morris and Sobol: the design is SALib's sampler with the documented settings (4 levels; Saltelli
without second order) and the study's seed, and the indices are SALib's analysers called here on the
same design and the outputs of the evaluations the study ran (caught as they run), with the documented
settings (1,000 bootstrap resamples, 95%): the same arithmetic, so they agree exactly.  The noise of
each evaluation is recomputed from the per-path outcome codes of the same evaluations (docs/sensitivity.md:
the per-path variance of the difference of the 0/1 outcome of two sets, over the paths).  OAT: each
set's key values.  Given-data methods: SALib's RBD-FAST, delta (first-order index) and PAWN on the
same draws with the documented settings, and Borgonovo's delta of a 0/1 output written out here
(``E_X |p - p(X)|`` over Plischke's equal-frequency classes, minus the permutation mean).  Attribution:
order statistics of small subsets.  Attributes and units: what docs/sensitivity.md says a result carries.

Every check here is exact (a deterministic computation on the same inputs), so no tolerance is stated
beyond floating-point reassociation where the test sums in another order.
"""

from __future__ import annotations

import json
import math
import warnings
from itertools import pairwise
from typing import ClassVar

import numpy as np
import pytest
from scipy import stats
from test_sensitivity import EX, LR, RANGES, G, _params, _toy

import simulator
from simulator.errors import UserError
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import parse_scenario
from simulator.studies import sensitivity as sensitivity_module
from simulator.studies.attribution import attribute
from simulator.studies.given_data import given_data
from simulator.studies.sensitivity import sensitivity
from simulator.studies.sensitivity_outputs import Output

#: SALib's intervals: the study asks for 95% (docs/sensitivity.md).
CONF = 0.95
#: Outcome codes of ``path_outcome`` (docs/sensitivity.md).
CHAMPION, CONTESTED, COLLAPSE = 0, 1, 2
#: Reassociation of a sum or mean of a few hundred terms.
RTOL = 1e-12


# --------------------------------------------------------------------------- helpers


def _catch_evaluations(monkeypatch) -> list:
    """Record (parameter sets, result) of every batch of evaluations a study runs."""
    real = sensitivity_module.run_sets
    calls = []

    def recording(sets, thetas, **kwargs):
        res = real(sets, thetas, **kwargs)
        calls.append((np.array(thetas, copy=True), res))
        return res

    monkeypatch.setattr(sensitivity_module, "run_sets", recording)
    return calls


class _Bar:
    """A stand-in for tqdm that adds up what the study reports as done."""

    made: ClassVar[list] = []

    def __init__(self, *, total, **_):
        self.total, self.done = total, 0
        _Bar.made.append(self)

    def update(self, n=1):
        self.done += n

    def close(self):
        pass


def _record_progress(monkeypatch) -> list:
    import tqdm.auto

    _Bar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", _Bar)
    return _Bar.made


def _probability(res, outcome: str, horizon: int = 24) -> np.ndarray:
    """P(outcome) of company ``solo`` of every set, read from the evaluations' Dataset."""
    return res.ds["probability"].sel(company="solo", horizon=horizon, outcome=outcome).values


def _quantile(res, var: str, q: float = 0.5, month: int = 24) -> np.ndarray:
    return res.ds[f"{var}_quantile"].sel(company="solo", month=month, quantile=q).values


def _indicator(res, code: int, horizon: int = 24) -> np.ndarray:
    """Per-path 0/1 outcome (set, path) of company ``solo`` from the recorded outcome codes."""
    h = list(res.ds["horizon"].values).index(horizon)
    return (res.path_outcome[:, :, 0, h] == code).astype(np.float64)


def _pair_variance(ind: np.ndarray, a, b) -> np.ndarray:
    """Per-path variance (unbiased) of the difference of two sets' 0/1 values."""
    return np.asarray([np.var(ind[i] - ind[j], ddof=1) for i, j in zip(a, b, strict=True)])


def _readable_up(n: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above n (a readable path count)."""
    candidates = sorted(m * 10**e for e in range(0, 16) for m in (1, 2, 5))
    return next(c for c in candidates if c >= n)


def _salib_seed(seed) -> int:
    return sensitivity_module._salib_seed(seed)


def _provenance(run_attrs: dict) -> dict:
    """The attributes of a run that say what it was: scenario, seed, streams, engine (docs/sensitivity.md)."""
    return {k: v for k, v in run_attrs.items()
            if k.startswith(("scenario_", "seed_", "uncertain_")) or k in (
                "currency", "horizon_months", "simulator_version", "block_size", "random_streams", "engine")}


# --------------------------------------------------------------------------- Morris


def test_morris_indices_and_noise_are_salibs_on_the_same_trajectories(monkeypatch):
    """SALib's Morris design (4 levels, the study's seed) and SALib's analysis of the outputs of the very
    evaluations the study ran (4 levels, 1,000 resamples, 95%) give every index; the noise of one
    elementary effect is recomputed from the per-path outcomes; the note on noise follows its rule."""
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    calls = _catch_evaluations(monkeypatch)
    bars = _record_progress(monkeypatch)
    sc, seed, paths, r = _toy(), 5, 24, 4
    ranges = {G: (0.05, 0.15), LR: RANGES[LR], EX: RANGES[EX]}  # growth's effect moderate: the note is due
    keys = list(ranges)
    outs = ["solo.champion@24", "solo.narrative_q50@24", "solo.valuation_q50@24"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no all-NaN reductions on a quantile output
        ds = sensitivity(sc, method="morris", samples=r, paths=paths, params=[f"{p}={lo}:{hi}" for p, (lo, hi) in ranges.items()], outputs=outs,
                         seed=seed, progress=True)
    (thetas, res), = calls
    k = len(keys)
    layout = build_layout(sc)
    unit = np.stack([(thetas[:, layout.slots(p)[0]] - ranges[p][0]) / (ranges[p][1] - ranges[p][0])
                     for p in keys], axis=1)
    problem = {"num_vars": k, "names": keys, "bounds": [[0.0, 1.0]] * k}
    np.testing.assert_allclose(unit, morris_sample.sample(problem, r, num_levels=4, seed=_salib_seed(seed)),
                               rtol=0, atol=1e-12)
    # Morris' design: r trajectories of k + 1 points on the grid {0, 1/3, 2/3, 1}, each step moving one key
    # by the step 2/3 (p / (2 (p - 1)) for p = 4 levels).
    np.testing.assert_allclose(unit * 3, np.round(unit * 3), atol=1e-9)
    steps = np.diff(unit.reshape(r, k + 1, k), axis=1).reshape(-1, k)
    assert np.all(np.sum(np.abs(steps) > 1e-9, axis=1) == 1)
    np.testing.assert_allclose(np.abs(steps).sum(axis=1), 2 / 3, rtol=1e-9)

    y = {outs[0]: _probability(res, "champion"), outs[1]: _quantile(res, "narrative"),
         outs[2]: _quantile(res, "valuation")}
    for out in outs:
        si = morris_analyze.analyze(problem, unit, y[out], num_levels=4, conf_level=CONF, num_resamples=1000,
                                    seed=_salib_seed(seed))
        for f in ("mu", "mu_star", "sigma", "mu_star_conf"):
            np.testing.assert_array_equal(ds[f].sel(output=out, parameter=keys).values,
                                          np.asarray(si[f], dtype=np.float64), err_msg=f"{f} {out}")
        assert float(ds["output_range"].sel(output=out)) == y[out].max() - y[out].min()

    # Noise of one elementary effect: sqrt(per-path variance of the step's difference / paths) / step,
    # averaged (in variance) over the steps that move each key.
    ind = _indicator(res, CHAMPION)
    a = np.arange(unit.shape[0]).reshape(r, k + 1)[:, 1:].ravel()
    var = _pair_variance(ind, a, a - 1)
    moved = np.argmax(np.abs(unit[a] - unit[a - 1]) > 1e-9, axis=1)
    noise = np.asarray([math.sqrt(var[moved == j].mean() / paths) / (2 / 3) for j in range(k)])
    np.testing.assert_allclose(ds["noise_sd"].sel(output=outs[0], parameter=keys).values, noise, rtol=RTOL)
    assert np.isnan(ds["noise_sd"].sel(output=outs[1:]).values).all()  # no per-path value

    # The note: noise in mu_star (one effect's noise over sqrt(r)) above a tenth of the largest effect,
    # with the paths that would bring it under 5% (noise variance ~ 1 / paths).
    top = float(ds["mu_star"].sel(output=outs[0]).max())
    worst = noise.max() / math.sqrt(r)
    assert 0.1 * top < worst < min(1.0, 0.1 / top) * top  # the note is due here (and would be missed
    need = _readable_up(math.ceil(paths * (worst / (0.05 * top)) ** 2))  # at 0.1 / top or 1.1 x top)
    assert json.loads(ds.attrs["notes"]) == [
        f"{outs[0]}: Monte Carlo noise in mu_star is up to {worst / top:.0%} of the largest effect at "
        f"{paths:,} paths per evaluation; about {need:,} paths would bring it under 5%"]

    assert ds.attrs["method"] == "morris" and ds.attrs["study"] == "sensitivity"
    assert (ds.attrs["samples"], ds.attrs["num_levels"], ds.attrs["sets"]) == (r, 4, r * (k + 1))
    assert ds.attrs["paths"] == paths and ds.attrs["kernel_calls"] == res.kernel_calls
    assert ds.attrs["title"] == "Sensitivity (morris) of scenario toy"
    assert ds.attrs["common_random_numbers"] == "every evaluation restarts the same random streams path by path"
    assert json.loads(ds.attrs["output_units"]) == {outs[0]: "1", outs[1]: "log multiple", outs[2]: sc.currency}
    assert "units" not in ds.attrs  # the outputs have different units
    assert ds["noise_sd"].dims == ("output", "parameter")
    # The progress bar counts every path of every evaluation.
    assert [(b.total, b.done) for b in bars] == [(r * (k + 1) * paths, r * (k + 1) * paths)]


def test_morris_noise_of_one_path_is_not_measurable():
    """One path per evaluation: no per-path variance to measure, so the noise is NaN as its long_name says
    (not 0, which would read as "no noise"), without a failure or a warning; the indices still come out."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ds = sensitivity(_toy(), method="morris", samples=4, paths=1, params=_params(G, LR),
                         outputs=["solo.champion@24"], seed=3)
    assert np.isnan(ds["noise_sd"].sel(output="solo.champion@24").values).all()
    assert np.isfinite(ds["mu_star"].values).all()


def test_morris_noise_of_two_paths_is_the_unbiased_variance(monkeypatch):
    """With two paths the per-path variance of a difference d is (d1 - d2)^2 / 2 (n - 1 = 1 in the
    denominator), written out here."""
    calls = _catch_evaluations(monkeypatch)
    keys = [G, LR]
    ds = sensitivity(_toy(), method="morris", samples=4, paths=2, params=_params(*keys),
                     outputs=["solo.champion@24"], seed=3)
    (thetas, res), = calls
    layout = build_layout(_toy())
    unit = np.stack([(thetas[:, layout.slots(p)[0]] - RANGES[p][0]) / (RANGES[p][1] - RANGES[p][0])
                     for p in keys], axis=1)
    ind = _indicator(res, CHAMPION)
    a = np.arange(unit.shape[0]).reshape(4, 3)[:, 1:].ravel()
    d = ind[a] - ind[a - 1]
    var = (d[:, 0] - d[:, 1]) ** 2 / 2.0
    moved = np.argmax(np.abs(unit[a] - unit[a - 1]) > 1e-9, axis=1)
    expected = [math.sqrt(var[moved == j].mean() / 2) / (2 / 3) for j in range(2)]
    np.testing.assert_allclose(ds["noise_sd"].sel(output="solo.champion@24", parameter=keys).values, expected,
                               rtol=RTOL)
    assert max(expected) > 0  # some path flips: the check can fail


# --------------------------------------------------------------------------- Sobol


def test_sobol_indices_and_noise_are_salibs_on_the_same_saltelli_sample(monkeypatch):
    """SALib's Saltelli sample (no second order, the study's seed) through each uncertain input's quantile
    function gives the sets; SALib's analysis (1,000 resamples, 95%) of the outputs of those evaluations
    gives every index; the output variance and the noise share are recomputed from the evaluations and
    their per-path outcomes; the result carries the run's provenance and the units of its indices."""
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    calls = _catch_evaluations(monkeypatch)
    bars = _record_progress(monkeypatch)
    sc, seed, paths, n = _toy(uncertain=True), 4, 48, 64
    outs = ["solo.champion@24", "solo.narrative_q50@24", "solo.valuation_q50@24"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no all-NaN reductions on a quantile output
        ds = sensitivity(sc, method="sobol", samples=n, paths=paths, outputs=outs, seed=seed, progress=True)
    (thetas, res), = calls
    specs = list(sc.uncertain.inputs)
    keys = [s.path for s in specs]
    k = len(keys)
    layout = build_layout(sc)
    problem = {"num_vars": k, "names": keys, "bounds": [[0.0, 1.0]] * k}
    unit = sobol_sample.sample(problem, n, calc_second_order=False, seed=_salib_seed(seed))
    for j, spec in enumerate(specs):
        np.testing.assert_array_equal(thetas[:, layout.slots(spec.path)[0]], spec.ppf(unit[:, j]), err_msg=spec.path)

    y = {outs[0]: _probability(res, "champion"), outs[1]: _quantile(res, "narrative"),
         outs[2]: _quantile(res, "valuation")}
    step = k + 2  # A, AB_1 .. AB_k, B
    a_rows = np.arange(n) * step
    for out in outs:
        si = sobol_analyze.analyze(problem, y[out], calc_second_order=False, num_resamples=1000, conf_level=CONF,
                                   seed=_salib_seed(seed))
        for f in ("S1", "S1_conf", "ST", "ST_conf"):
            np.testing.assert_array_equal(ds[f].sel(output=out, parameter=keys).values,
                                          np.asarray(si[f], dtype=np.float64), err_msg=f"{f} {out}")
        var_y = np.var(np.concatenate([y[out][a_rows], y[out][a_rows + k + 1]]), ddof=1)
        assert float(ds["output_variance"].sel(output=out)) == pytest.approx(var_y, rel=RTOL)
        assert float(ds["output_range"].sel(output=out)) == y[out].max() - y[out].min()

    # Noise share: the per-path variance of A_j - AB_j over 2 paths (one evaluation's non-common noise)
    # over the output variance.
    ind = _indicator(res, CHAMPION)
    var_y = float(ds["output_variance"].sel(output=outs[0]))
    share = np.asarray([_pair_variance(ind, a_rows, a_rows + 1 + j).mean() / (2 * paths) / var_y
                        for j in range(k)])
    np.testing.assert_allclose(ds["noise_share"].sel(output=outs[0], parameter=keys).values, share, rtol=RTOL)
    assert np.isnan(ds["noise_share"].sel(output=outs[1:]).values).all()
    j = int(np.argmax(share))
    assert share[j] > 0.01  # the note is due
    need = _readable_up(math.ceil(paths * share[j] / 0.01))
    assert json.loads(ds.attrs["notes"]) == [
        f"{outs[0]}: Monte Carlo noise is {share[j]:.1%} of the output variance (largest for {keys[j]}) at "
        f"{paths:,} paths per evaluation; indices below about that are noise; about {need:,} paths would bring "
        "it under 1%"]  # and no note on correlations: the inputs have none

    for name in ("S1", "S1_conf", "ST", "ST_conf", "noise_share"):
        assert ds[name].attrs["units"] == "1", name
    for name, var in ds.data_vars.items():
        assert var.dtype == np.float64, name
    assert json.loads(ds.attrs["output_units"]) == {outs[0]: "1", outs[1]: "log multiple", outs[2]: sc.currency}
    assert ds.attrs["method"] == "sobol" and ds.attrs["study"] == "sensitivity"
    assert (ds.attrs["samples"], ds.attrs["sets"], ds.attrs["paths"]) == (n, n * step, paths)
    assert ds.attrs["kernel_calls"] == res.kernel_calls
    run = simulator.run(sc, paths=paths, seed=seed)
    expected = _provenance(run.attrs)
    assert {"scenario_text", "seed_entropy", "random_streams", "uncertain_inputs", "horizon_months"} <= set(expected)
    for key, value in expected.items():
        if key == "random_streams":  # the same streams, restarted by every set
            assert ds.attrs[key] == f"{value}; every parameter set restarts the same streams (common random numbers)"
        else:
            assert ds.attrs[key] == value, key
    assert set(json.loads(ds.attrs["uncertain_held_fixed"])) == set(keys)
    assert [(b.total, b.done) for b in bars] == [(n * step * paths, n * step * paths)]


CORRELATED = """
[[correlations]]
a = "companies.solo.growth.initial"
b = "companies.solo.narrative.long_run"
rho = 0.5
"""


def test_sobol_of_a_constant_output_is_zero_and_the_next_output_is_salibs(monkeypatch):
    """An output that no set moves (no champion at 1000 times today's valuation) has indices 0 and a note;
    the output after it is SALib's analysis of its evaluations; correlated inputs get their note."""
    from SALib.analyze import sobol as sobol_analyze

    calls = _catch_evaluations(monkeypatch)
    sc = parse_scenario(_correlated_text(), source="toy.toml", overrides=["outcomes.champion_valuation_ratio=1000"])
    seed, paths, n = 2, 16, 64
    outs = ["solo.champion@24", "solo.narrative_q50@24"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is divided by the constant output's zero variance
        ds = sensitivity(sc, method="sobol", samples=n, paths=paths, outputs=outs, seed=seed)
    (_, res), = calls
    keys = [s.path for s in sc.uncertain.inputs]
    assert np.all(_probability(res, "champion") == 0.0)
    for f in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_array_equal(ds[f].sel(output=outs[0]).values, 0.0, err_msg=f)
    assert float(ds["output_variance"].sel(output=outs[0])) == 0.0
    assert np.isnan(ds["noise_share"].sel(output=outs[0]).values).all()  # no variance to share
    problem = {"num_vars": len(keys), "names": keys, "bounds": [[0.0, 1.0]] * len(keys)}
    si = sobol_analyze.analyze(problem, _quantile(res, "narrative"), calc_second_order=False, num_resamples=1000,
                               conf_level=CONF, seed=_salib_seed(seed))
    for f in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_array_equal(ds[f].sel(output=outs[1], parameter=keys).values,
                                      np.asarray(si[f], dtype=np.float64), err_msg=f)
    assert json.loads(ds.attrs["notes"]) == [
        f"{outs[0]}: the output does not vary over the samples; all indices are 0",
        "the inputs' rank correlations are ignored: Sobol indices assume independent inputs"]


def _correlated_text() -> str:
    from test_sensitivity import TOY

    values = {"GROWTH": '{ dist = "uniform", low = -0.1, high = 0.3 }',
              "LONG_RUN": '{ dist = "uniform", low = -0.15, high = 0.15 }',
              "EXIT": '{ dist = "pert", low = 5, mode = 10, high = 30 }'}
    text = TOY
    for key, value in values.items():
        text = text.replace(key, value)
    return text + CORRELATED


@pytest.mark.parametrize(("method", "samples"), [("oat", None), ("morris", 4), ("sobol", 64)])
def test_an_output_no_evaluation_defines_is_nan_without_warnings(method, samples):
    """The champion share among decided paths when no path is decided (no champion at 1000 times today's
    valuation, no collapse without randomness): NaN in every evaluation, so every index and the output's
    range are NaN (float), and the study warns of nothing; the next output is unaffected."""
    sc = _nan_share_scenario()
    outs = ["solo.champion_share@24", "solo.valuation_q50@24"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = sensitivity(sc, method=method, samples=samples, params=_params(G, LR), outputs=outs, paths=20, seed=1)
    index = {"oat": "swing", "morris": "mu_star", "sobol": "ST"}[method]
    assert np.isnan(ds[index].sel(output=outs[0]).values).all()
    assert np.isfinite(ds[index].sel(output=outs[1]).values).all()
    assert math.isnan(float(ds["output_range"].sel(output=outs[0])))
    for name, var in ds.data_vars.items():
        assert var.dtype == np.float64, name


def _nan_share_scenario():
    from test_sensitivity import DETERMINISTIC, TOY

    text = TOY.replace("GROWTH", "0.1").replace("LONG_RUN", "0.0").replace("EXIT", "15.0")
    return parse_scenario(text, source="toy.toml", overrides=[*DETERMINISTIC, "outcomes.champion_valuation_ratio=1000"])


# --------------------------------------------------------------------------- OAT


#: Keys whose scenario value is not the middle of the studied range, and two event hazards whose
#: change moves few paths (their swing is near the noise).
SHOCK, RELEASE = "sector.events.shock.hazard_per_year", "companies.solo.events.release.hazard_per_year"
OAT_RANGES = {G: (0.0, 0.4), LR: (-0.05, 0.15), EX: (5.0, 30.0), SHOCK: (0.49, 0.51), RELEASE: (0.98, 1.02)}


def test_oat_sets_hold_the_other_keys_at_the_scenarios_values_and_the_swing_se_is_paired(monkeypatch):
    """Set 0 is the scenario; set 1 + 2j (2 + 2j) moves key j alone to LO (HI), the others at the
    scenario's values; the swing's standard error is the per-path (paired) one recomputed from the
    outcome codes; the note lists exactly the keys whose swing is within 2 of them."""
    calls = _catch_evaluations(monkeypatch)
    bars = _record_progress(monkeypatch)
    sc, paths = _toy(), 1500
    keys = list(OAT_RANGES)
    outs = ["solo.champion@24", "solo.collapse@24"]
    ds = sensitivity(sc, method="oat", params=[f"{p}={lo}:{hi}" for p, (lo, hi) in OAT_RANGES.items()],
                     outputs=outs, paths=paths, seed=9, progress=True)
    (thetas, res), = calls
    layout = build_layout(sc)
    k = len(keys)
    np.testing.assert_array_equal(thetas[0], layout.theta)
    for j, p in enumerate(keys):
        for row, end in ((1 + 2 * j, 0), (2 + 2 * j, 1)):
            expected = layout.theta.copy()
            expected[layout.slots(p)] = OAT_RANGES[p][end]
            np.testing.assert_allclose(thetas[row], expected, rtol=RTOL, atol=0, err_msg=f"{p} {end}")
    lo_rows, hi_rows = 1 + 2 * np.arange(k), 2 + 2 * np.arange(k)
    notes = []
    for out, code in zip(outs, (CHAMPION, COLLAPSE), strict=True):
        ind = _indicator(res, code)
        se = np.sqrt(_pair_variance(ind, hi_rows, lo_rows) / paths)
        np.testing.assert_allclose(ds["swing_se"].sel(output=out, parameter=keys).values, se, rtol=RTOL)
        swing = np.abs(ind[hi_rows].mean(axis=1) - ind[lo_rows].mean(axis=1))
        np.testing.assert_allclose(ds["swing"].sel(output=out, parameter=keys).values, swing, rtol=RTOL)
        within = [keys[j] for j in range(k) if swing[j] < 2 * se[j]]
        # Here the exit multiple moves no path (swing 0 = 2 x 0: not named); the release hazard is within
        # the noise; the shock hazard is too for the collapse (the note names two keys), and is between
        # 2 and 3 standard errors for the champion.
        assert swing[2] == se[2] == 0.0 and within == ([RELEASE] if out == outs[0] else [SHOCK, RELEASE])
        if out == outs[0]:
            assert 2 * se[3] < swing[3] < 3 * se[3], (swing, se)
        in_ds_order = [str(p) for p in ds["parameter"].values if str(p) in within]
        if within:
            notes.append(f"{out}: the swing of {', '.join(in_ds_order)} is within 2 standard errors of 0 at "
                         f"{paths:,} paths (indistinguishable from Monte Carlo noise)")
        for name in ("low", "high", "base"):
            assert ds[name].attrs["units"] == "1", name
    assert json.loads(ds.attrs["notes"]) == notes
    assert ds.attrs["units"] == "1" and ds.attrs["sets"] == 1 + 2 * k and ds.attrs["method"] == "oat"
    assert ds["base_value"].dims == ("parameter",)
    assert [(b.total, b.done) for b in bars] == [((1 + 2 * k) * paths, (1 + 2 * k) * paths)]


def test_oat_of_uncertain_inputs_holds_the_others_at_their_medians(monkeypatch):
    """With the scenario's uncertain inputs as keys, LO and HI are each input's 5% and 95% quantiles and
    the other inputs sit at their medians (50% quantile); the base set is the scenario's values."""
    calls = _catch_evaluations(monkeypatch)
    sc = _toy(uncertain=True)
    ds = sensitivity(sc, method="oat", outputs=["solo.champion@24"], paths=200, seed=8)
    (thetas, _), = calls
    layout = build_layout(sc)
    specs = list(sc.uncertain.inputs)
    np.testing.assert_array_equal(thetas[0], layout.theta)
    median = {s.path: float(s.ppf(np.asarray([0.5]))[0]) for s in specs}
    for j, spec in enumerate(specs):
        lo, hi = (float(x) for x in spec.ppf(np.asarray([0.05, 0.95])))
        assert float(ds["low_value"].sel(parameter=spec.path)) == lo
        assert float(ds["high_value"].sel(parameter=spec.path)) == hi
        for row, value in ((1 + 2 * j, lo), (2 + 2 * j, hi)):
            for other in specs:
                got = thetas[row, layout.slots(other.path)[0]]
                assert got == (value if other is spec else median[other.path]), (spec.path, other.path)


def test_oat_units_follow_the_outputs():
    """Outputs in different units: no common ``units`` (on the Dataset or its values), and each output's
    own in ``output_units`` (a valuation in the scenario's currency)."""
    sc = _toy()
    outs = ["solo.champion@24", "solo.valuation_q50@24"]
    ds = sensitivity(sc, method="oat", params=_params(G), outputs=outs, paths=100, seed=1)
    assert json.loads(ds.attrs["output_units"]) == {outs[0]: "1", outs[1]: sc.currency}
    assert "units" not in ds.attrs
    for name in ("low", "high", "base"):
        assert "units" not in ds[name].attrs, name
    one = sensitivity(sc, method="oat", params=_params(G), outputs=outs[1:], paths=100, seed=1)
    assert one.attrs["units"] == sc.currency and one["low"].attrs["units"] == sc.currency


# --------------------------------------------------------------------------- given data


def _given_outputs():
    """Outputs of a one-company run with two horizons (index 0 and 1 of ``path_outcome``'s last axis)."""
    return [Output(text="a.champion@12", company=0, name="champion", month=12),
            Output(text="a.collapse@12", company=0, name="collapse", month=12),
            Output(text="a.champion@24", company=0, name="champion", month=24)]


def _given_draws(n: int, seed: int):
    """Draws of four inputs and outcomes that depend on them in different shapes.  Horizon 12: champion
    with a probability that moves with x0 by halves (+- 0.08), with x1 and x3 by their top tenth (+0.3 and
    +0.5), not with x2; the other paths collapse with a probability rising with x2, else are contested.
    x3 takes 21 values (ties).  No path is a champion at horizon 24 (a constant output)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4))
    x[:, 3] = np.round(x[:, 3] * 20) / 20
    p = (0.25 + np.where(x[:, 0] > 0.5, 0.08, -0.08) + np.where(x[:, 1] > 0.9, 0.3, -0.3 / 9)
         + np.where(x[:, 3] > 0.9, 0.5, -0.5 / 9))
    hit = rng.random(n) < np.clip(p, 0, 1)
    fall = rng.random(n) < x[:, 2] * 0.5 + 0.25  # the paths that are not champions: collapse or contested
    outcomes = np.empty((n, 1, 2), dtype=np.int8)
    outcomes[:, 0, 0] = np.where(hit, CHAMPION, np.where(fall, COLLAPSE, CONTESTED))
    outcomes[:, 0, 1] = CONTESTED
    return x, outcomes


def _binary_delta(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Borgonovo's delta of a 0/1 output (docs/sensitivity.md), written out: E_X |p - p(X)| over
    Plischke's equal-frequency classes of x (ties in path order), minus its mean over 20 permutations
    of y, and half the 2.5-97.5% range of 100 bootstrap resamples."""
    n = y.size
    classes = int(min(math.ceil(n ** (2.0 / (7.0 + math.tanh((1500.0 - n) / 500.0)))), 48))  # Plischke (SALib)
    edges = np.linspace(0, n, classes + 1).astype(np.int64)
    ordered = y[np.argsort(x, kind="stable")]

    def delta(v):
        return sum((hi - lo) / n * abs(v[lo:hi].mean() - v.mean()) for lo, hi in pairwise(edges))

    null = np.mean([delta(rng.permutation(ordered)) for _ in range(20)])
    boot = [delta(ordered[np.sort(rng.integers(0, n, n))]) - null for _ in range(100)]
    return delta(ordered) - null, (np.percentile(boot, 97.5) - np.percentile(boot, 2.5)) / 2


def test_given_data_indices_are_salibs_and_borgonovos_on_the_same_draws():
    """Each output's row: SALib's RBD-FAST (M = 10, 100 resamples), delta's first-order index (50
    resamples) and PAWN (10 slides) called here on the same draws and seed, Borgonovo's delta written
    out; a constant output between two others is all zeros; the inputs explain the sum of RBD-FAST's."""
    from SALib.analyze import delta as delta_analyze
    from SALib.analyze import pawn as pawn_analyze
    from SALib.analyze import rbd_fast

    n, seed = 3000, 12345
    draws, outcomes = _given_draws(n, 1)
    names = ["x0", "x1", "x2", "x3"]
    outs = _given_outputs()
    attrs = {"scenario_name": "given", "seed_entropy": "7"}
    ds = given_data(draws, outcomes, names, outs, np.asarray([12, 24]), ("rbd-fast", "delta", "pawn"), seed, attrs)
    problem = {"num_vars": 4, "names": names, "bounds": [[0.0, 1.0]] * 4}
    for out in outs[:2]:
        y = (outcomes[:, 0, 0] == out.outcome).astype(np.float64)
        row = ds.sel(output=out.text, parameter=names)
        si = rbd_fast.analyze(problem, draws, y, M=10, num_resamples=100, conf_level=CONF, seed=seed)
        np.testing.assert_array_equal(row["rbd_fast_S1"].values, si["S1"])
        np.testing.assert_array_equal(row["rbd_fast_S1_conf"].values, si["S1_conf"])
        assert float(row["explained_share"]) == float(np.nansum(si["S1"]))
        si = delta_analyze.analyze(problem, draws, y, num_resamples=50, conf_level=CONF, seed=seed, method="sobol")
        np.testing.assert_array_equal(row["delta_S1"].values, si["S1"])
        np.testing.assert_array_equal(row["delta_S1_conf"].values, si["S1_conf"])
        rng = np.random.default_rng(seed)
        est = np.asarray([_binary_delta(draws[:, j], y, rng) for j in range(4)])
        np.testing.assert_allclose(row["delta"].values, est[:, 0], rtol=RTOL, atol=1e-15)
        np.testing.assert_allclose(row["delta_conf"].values, est[:, 1], rtol=RTOL, atol=1e-15)
        si = pawn_analyze.analyze(problem, draws, y, S=10, seed=seed)
        for stat in ("median", "minimum", "maximum", "CV"):
            np.testing.assert_array_equal(row[f"pawn_{stat.lower()}"].values, si[stat], err_msg=stat)
    constant = ds.sel(output=outs[2].text)
    for name in ("rbd_fast_S1", "rbd_fast_S1_conf", "delta", "delta_conf", "delta_S1", "delta_S1_conf",
                 "pawn_median", "pawn_minimum", "pawn_maximum", "pawn_cv"):
        np.testing.assert_array_equal(constant[name].values, 0.0, err_msg=name)
        assert ds[name].dtype == np.float64 and ds[name].attrs["units"] == "1", name
    assert float(constant["explained_share"]) == 0.0
    # What the result says it is (docs/sensitivity.md), with the run's attributes kept.
    assert ds.attrs["scenario_name"] == "given" and ds.attrs["seed_entropy"] == "7"
    assert ds.attrs["method"] == "rbd-fast,delta,pawn" and ds.attrs["study"] == "sensitivity"
    assert ds.attrs["given_data"] == 1 and ds.attrs["samples"] == n
    assert ds.attrs["title"] == "Given-data sensitivity (rbd-fast, delta, pawn) of scenario given"
    assert json.loads(ds.attrs["notes"]) == [
        "given-data indices use the per-path draws of the uncertain inputs of one run: no extra runs; they are "
        "shares of the per-path variance of a 0/1 outcome, most of which is event and diffusion randomness, so "
        "they are small; rank, don't add"]
    assert ds["output"].dtype == object and ds["parameter"].dtype == object  # like a run's labels


def test_given_data_ranks_by_the_first_index_of_the_methods_run():
    """Inputs are sorted by RBD-FAST's index when it is run, else by delta, else by PAWN's median, of the
    first output; here the three indices rank the inputs three different ways, so each choice shows."""
    draws, outcomes = _given_draws(3000, 1)
    names = ["x0", "x1", "x2", "x3"]
    outs = _given_outputs()[:1]
    full = given_data(draws, outcomes, names, outs, np.asarray([12, 24]), ("rbd-fast", "delta", "pawn"), 5, {})

    def ranked(key):
        values = full[key].sel(output=outs[0].text, parameter=names).values
        return [names[j] for j in np.argsort(-values, kind="stable")]

    orders = {key: ranked(key) for key in ("rbd_fast_S1", "delta", "pawn_median")}
    assert len({tuple(o) for o in orders.values()}) == 3, orders  # three different rankings
    assert [str(p) for p in full["parameter"].values] == orders["rbd_fast_S1"]
    for methods, key in ((("delta", "pawn"), "delta"), (("pawn",), "pawn_median")):
        ds = given_data(draws, outcomes, names, outs, np.asarray([12, 24]), methods, 5, {})
        assert [str(p) for p in ds["parameter"].values] == orders[key], methods
        assert ds.attrs["method"] == ",".join(methods)
        assert ds.attrs["title"] == f"Given-data sensitivity ({', '.join(methods)}) of scenario "  # no name given
        # No RBD-FAST: nothing says how much the inputs explain.
        assert ds["explained_share"].dtype == np.float64 and np.isnan(ds["explained_share"].values).all()


def test_given_data_of_one_path_and_of_an_output_without_paths():
    """One path: every outcome is constant, so every index is 0; a quantile output has no per-path 0/1
    value, which the given-data methods need (a one-line error)."""
    draws, outcomes = _given_draws(1, 1)
    ds = given_data(draws, outcomes, ["x0", "x1", "x2", "x3"], _given_outputs()[:1], np.asarray([12, 24]),
                    ("rbd-fast",), 5, {})
    np.testing.assert_array_equal(ds["rbd_fast_S1"].values, 0.0)
    quantile = Output(text="a.valuation_q50@12", company=0, name="valuation_q50", month=12, quantile=0.5)
    with pytest.raises(UserError) as info:
        given_data(draws, outcomes, ["x0", "x1", "x2", "x3"], [quantile], np.asarray([12, 24]), ("pawn",), 5, {})
    assert str(info.value) == ("--output a.valuation_q50@12: given-data methods need an outcome output "
                               "(champion, contested, collapse or any_champion), which each path has")


# --------------------------------------------------------------------------- attribution


def test_attribution_of_small_subsets_uses_the_order_statistics_clipped_to_the_subset():
    """Subsets of 1, 2, 3 and 5 paths: the median and the interval between the order statistics
    floor(m/2 - z sqrt(m)/2) and ceil(m/2 + z sqrt(m)/2), clipped to the subset's smallest and largest
    value (one path: the interval is that path's draw); an outcome no path has (NaN) does not stop the
    outcomes after it; labels and horizons have the types of a run's."""
    rng = np.random.default_rng(4)
    n = 40
    draws = rng.normal(size=(n, 2))
    outcomes = np.full((n, 2, 2), CONTESTED, dtype=np.int8)
    outcomes[:1, 0, 0] = COLLAPSE  # no champion, one collapse
    outcomes[:2, 0, 1] = CHAMPION
    outcomes[2:5, 0, 1] = COLLAPSE
    outcomes[:5, 1, 0] = CHAMPION
    horizons = np.asarray([12, 24], dtype=np.int32)
    ds = attribute(draws, outcomes, inputs=["u", "v"], companies=["x", "y"], horizons=horizons)
    z = stats.norm.ppf(0.975)
    med_all, sd_all = np.median(draws, axis=0), draws.std(axis=0, ddof=1)
    sizes = set()
    for c in range(2):
        for h in range(2):
            for o, name in enumerate(("champion", "contested", "collapse")):
                at = {"company": ["x", "y"][c], "horizon": [12, 24][h], "outcome": name}
                mask = outcomes[:, c, h] == o
                for j, inp in enumerate(("u", "v")):
                    shift = float(ds["median_shift"].sel(input=inp, **at))
                    if not mask.any():
                        assert math.isnan(shift) and math.isnan(float(ds["subset_median"].sel(input=inp, **at)))
                        continue
                    sub = np.sort(draws[mask, j])
                    m = sub.size
                    sizes.add(m)
                    lo = sub[min(max(math.floor(m / 2 - z * math.sqrt(m) / 2), 0), m - 1)]
                    hi = sub[max(min(math.ceil(m / 2 + z * math.sqrt(m) / 2), m - 1), 0)]
                    assert float(ds["subset_median"].sel(input=inp, **at)) == np.median(sub)
                    np.testing.assert_allclose(
                        [shift, *ds["median_shift_ci"].sel(input=inp, **at).values],
                        [(np.median(sub) - med_all[j]) / sd_all[j], (lo - med_all[j]) / sd_all[j],
                         (hi - med_all[j]) / sd_all[j]], rtol=RTOL)
    assert {1, 2, 3, 5} <= sizes
    assert ds["subset_median"].dtype == np.float64 and ds["median_shift"].dtype == np.float64
    assert ds["horizon"].dtype == np.int64
    run = simulator.run(_toy(), paths=10, seed=1)
    for name in ("input", "company", "outcome", "bound"):
        assert ds[name].dtype == run["company"].dtype == object, name
    assert ds["bound"].values.tolist() == ["low", "high"]


@pytest.mark.parametrize("n", [1, 2])
def test_attribution_of_one_and_two_paths(n):
    """Two paths: the scale is the sample standard deviation (n - 1 = 1), |d| / sqrt(2); one path has
    none (NaN, and no warning: it is not computed)."""
    draws = np.asarray([[1.0, 10.0], [4.0, 10.0]])[:n]
    outcomes = np.asarray([CHAMPION, COLLAPSE], dtype=np.int8)[:n].reshape(n, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = attribute(draws, outcomes, inputs=["u", "w"], companies=["x"], horizons=[12])
    sd = ds["input_sd"].values
    if n == 1:
        assert np.isnan(sd).all() and ds.attrs["paths"] == 1
        assert float(ds["subset_median"].sel(input="u", company="x", horizon=12, outcome="champion")) == 1.0
    else:
        np.testing.assert_allclose(sd, [3.0 / math.sqrt(2.0), 0.0], rtol=RTOL)
        assert float(ds["median_shift"].sel(input="u", company="x", horizon=12, outcome="champion")) == (
            pytest.approx((1.0 - 2.5) / (3.0 / math.sqrt(2.0)), rel=RTOL))


def test_given_data_asks_salibs_delta_for_its_first_order_index_only(monkeypatch):
    """SALib's delta.analyze computes Borgonovo's delta by kernel densities unless asked for the Sobol
    index alone; that delta is not reported (the 0/1 output's delta is computed exactly, from class
    frequencies) and takes minutes at 10^5 paths, so the study asks for method="sobol" only."""
    from SALib.analyze import delta as delta_analyze

    asked = []
    real = delta_analyze.analyze

    def spy(*args, **kwargs):
        asked.append(kwargs.get("method", "all"))
        return real(*args, **kwargs)

    monkeypatch.setattr(delta_analyze, "analyze", spy)
    draws, outcomes = _given_draws(400, 1)
    given_data(draws, outcomes, ["x0", "x1", "x2", "x3"], _given_outputs()[:1], np.asarray([12, 24]), ("delta",),
               5, {"scenario_name": "given"})
    assert asked == ["sobol"]


def test_sobol_noise_note_names_the_noisiest_key_wherever_it_is_studied():
    """The note names the key with the largest noise share, here the second key studied (growth, whose
    share is recomputed from the result's own noise_share), with that key's share."""
    ds = sensitivity(_toy(), method="sobol", samples=64, paths=48, params=_params(LR, G),
                     outputs=["solo.champion@24"], seed=4)
    share = ds["noise_share"].sel(output="solo.champion@24")
    noisiest = str(share.parameter.values[int(np.argmax(share.values))])
    assert noisiest == G  # the second of the keys as given: a note naming the first would be wrong
    note, = json.loads(ds.attrs["notes"])
    assert f"Monte Carlo noise is {float(share.max()):.1%} of the output variance (largest for {G})" in note


def test_morris_notes_an_unbounded_input_with_the_values_its_grid_ends_take():
    """Morris's grid includes the positions 0 and 1, an input's support ends: for a normal input those are
    its 2^-53 and 1 - 2^-53 quantiles (scipy's norm.ppf here, about 8.2 sd out), which the result's note
    names with the way out; a bounded input (uniform, pert) gets no such note."""
    normal = '{ dist = "normal", mean = 0.1, sd = 0.05 }'
    ds = sensitivity(_toy(uncertain=True), method="morris", samples=4, paths=20, outputs=["solo.champion@24"],
                     seed=3, overrides=[f"{G}={normal}"])
    lo, hi = stats.norm(0.1, 0.05).ppf([2.0**-53, 1.0 - 2.0**-53])
    assert abs(lo - 0.1) / 0.05 > 8.0
    about = [n for n in json.loads(ds.attrs["notes"]) if "unbounded" in n]
    assert about == [f"{G}: its normal distribution is unbounded, so Morris's grid ends are its 2^-53 and "
                     f"1 - 2^-53 quantiles ({lo:.4g} and {hi:.4g}); study it over a range with --param {G}=LO:HI, "
                     "or with --method sobol"]
    bounded = sensitivity(_toy(uncertain=True), method="morris", samples=4, paths=20, outputs=["solo.champion@24"],
                          seed=3)
    assert not [n for n in json.loads(bounded.attrs.get("notes", "[]")) if "unbounded" in n]


@pytest.mark.parametrize(("dist", "params", "unbounded"), [
    ("normal", {"mean": 0.0, "sd": 1.0}, True),
    ("normal", {"mean": 0.0, "sd": 1.0, "low": -1.0}, True),
    ("normal", {"mean": 0.0, "sd": 1.0, "low": -1.0, "high": 1.0}, False),
    ("truncnormal", {"mean": 0.0, "sd": 1.0, "low": -1.0, "high": 1.0}, False),
    ("lognormal", {"median": 1.0, "sigma": 0.5}, True),
    ("lognormal", {"median": 1.0, "sigma": 0.5, "high": 3.0}, False),
    ("uniform", {"low": 0.0, "high": 1.0}, False),
    ("loguniform", {"low": 0.1, "high": 1.0}, False),
    ("triangular", {"low": 0.0, "mode": 0.2, "high": 1.0}, False),
    ("beta", {"alpha": 2.0, "beta": 3.0}, False),
    ("pert", {"low": 0.0, "mode": 0.2, "high": 1.0}, False),
])
def test_an_input_is_unbounded_where_its_distribution_reaches_far_tails(dist, params, unbounded):
    """The support table of simulator.model.uncertain: only a normal without both truncations and a lognormal
    without an upper one have extreme quantiles more than 5 interquartile ranges from the median (a normal's are
    6.1 away); every other distribution's support is its bounds, at most 3.5 of them away here."""
    from simulator.model.uncertain import UncertainInput

    spec = UncertainInput(path="x", loc=("x",), dist=dist, params=tuple(params.items()))
    assert spec.unbounded is unbounded
    lo, hi = spec.support
    median = spec.median
    scale = float(np.diff(spec.ppf(np.asarray([0.25, 0.75])))[0])
    assert (max(median - lo, hi - median) > 5.0 * scale) is unbounded  # a normal: 8.2 sd = 6.1 interquartile ranges
