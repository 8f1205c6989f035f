"""Sweeps and sensitivity studies: many parameter sets, common random numbers, SALib.

Statistical checks use a family-wise error rate of ALPHA over the checks of each test
(Bonferroni); where a test says "no effect beyond noise" it also checks that it would see an
effect of a stated size (power 99%).  SALib's intervals are 95% ones: they are rescaled to the
family's level.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import simulator
from simulator.cli import main
from simulator.engines import dispatch as K
from simulator.engines.dispatch import simulate
from simulator.engines.plan import plan_run
from simulator.engines.streams import normalise_seed
from simulator.errors import UserError
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import parse_scenario, with_overrides
from simulator.results.dataset import build_dataset, build_sets_dataset
from simulator.runner.memory import bytes_per_set
from simulator.studies.sensitivity import sensitivity
from simulator.studies.sweep import evaluate_sets, grid_thetas, parse_sweep_param, sweep

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]

# One company whose valuation is revenue times a fixed multiple, so
# log V_T - log V_0 = (mu - sigma^2 / 2) T + narrative (mean-reverting to long_run) + noise.
# Only growth.initial and narrative.long_run can move the champion probability or the
# valuation; exit_multiple and opex only enter the fundamental value.
TOY = """
[scenario]
name = "toy"
horizon_months = 24
horizons = [12, 24]
paths = 20000
seed = 7

[sector.narrative]
kappa = 0.5
sigma = 0.15

[[sector.events]]
name = "shock"
hazard_per_year = 0.5
narrative = { mean = -0.2, sd = 0.2 }

[[companies]]
name = "solo"
revenue = 1e9
valuation = 10e9
cash = 1e13

[companies.growth]
initial = GROWTH
long_run = 0.1
kappa = 0.0
sigma_growth = 0.0
sigma_revenue = 0.25

[companies.pricing]
price_drift = 0.0
price_sigma = 0.0
pass_through = 1.0
elasticity = 0.0
compute_cost_drift = 0.0
scarcity_premium = 0.0

[companies.chips]
enabled = false

[companies.funding]
enabled = false

[companies.narrative]
long_run = LONG_RUN
kappa = 1.0
sigma = 0.15

[companies.valuation_model]
base_multiple = 10.0
growth_sensitivity = 0.0
margin_sensitivity = 0.0
exit_multiple = EXIT

[[companies.events]]
name = "release"
hazard_per_year = 1.0
outcomes = [
  { name = "hit", probability = 0.5, narrative = { mean = 0.15, sd = 0.1 } },
  { name = "flop", probability = 0.5, narrative = { mean = -0.15, sd = 0.1 } },
]
"""
# The same model with every source of randomness switched off.
DETERMINISTIC = ["companies.solo.growth.sigma_revenue=0", "companies.solo.narrative.sigma=0",
                 "sector.narrative.sigma=0", "sector.events.shock.hazard_per_year=0",
                 "companies.solo.events.release.hazard_per_year=0"]
G, LR, EX = ("companies.solo.growth.initial", "companies.solo.narrative.long_run",
             "companies.solo.valuation_model.exit_multiple")
RANGES = {G: (-0.1, 0.3), LR: (-0.15, 0.15), EX: (5.0, 30.0)}
ALPHA = 1e-3
POWER_Z = float(stats.norm.ppf(0.99))
Z95 = float(stats.norm.ppf(0.975))  # SALib's intervals: 95%, i.e. Z95 standard errors


def _z(k: int, *, sides: int = 2) -> float:
    """Normal critical value for a family of k checks at level ALPHA."""
    return float(stats.norm.ppf(1.0 - ALPHA / (sides * k)))


def _toy(*, uncertain: bool = False, deterministic: bool = False):
    values = ({"GROWTH": '{ dist = "uniform", low = -0.1, high = 0.3 }',
               "LONG_RUN": '{ dist = "uniform", low = -0.15, high = 0.15 }',
               "EXIT": '{ dist = "pert", low = 5, mode = 10, high = 30 }'} if uncertain
              else {"GROWTH": "0.1", "LONG_RUN": "0.0", "EXIT": "15.0"})
    text = TOY
    for key, value in values.items():
        text = text.replace(key, value)
    return parse_scenario(text, source="toy.toml", overrides=DETERMINISTIC if deterministic else None)


def _params(*names):
    return [f"{n}={RANGES[n][0]}:{RANGES[n][1]}" for n in names]


def _order(ds, key, output):
    score = ds[key].sel(output=output).values
    return [str(p) for p in ds["parameter"].values[np.argsort(-score, kind="stable")]]


# --------------------------------------------------------------------------- Sobol


def test_sobol_only_one_parameter_matters():
    sc = _toy()
    ds = sensitivity(sc, method="sobol", samples=64, paths=2048,
                     params=[*_params(G, EX), "companies.solo.costs.opex=1e8:1e9"],
                     outputs=["solo.champion@24"])
    s = ds.sel(output="solo.champion@24")
    scale = _z(6) / Z95  # six checks at a family-wise ALPHA
    first = s.sel(parameter=G)
    assert abs(float(first["S1"]) - 1.0) <= scale * float(first["S1_conf"])
    assert abs(float(first["ST"]) - 1.0) <= scale * float(first["ST_conf"])
    for other in (EX, "companies.solo.costs.opex"):
        o = s.sel(parameter=other)
        for index in ("S1", "ST"):
            assert abs(float(o[index])) <= scale * float(o[f"{index}_conf"]) + 1e-12
            # Power: an index of 0.1 would be seen.
            assert (_z(6) + POWER_Z) * float(o[f"{index}_conf"]) / Z95 < 0.1
    assert str(ds["parameter"].values[0]) == G  # ranked by total index
    assert ds.sizes["parameter"] == 3 and ds.attrs["method"] == "sobol"
    assert ds.attrs["sets"] == 64 * 5


# --------------------------------------------------------------------------- signs


def _paired_sweep(sc, spec, output):
    """P(output) along a sweep and the paired (common random numbers) SE of each step."""
    layout = build_layout(sc)
    parsed = [parse_sweep_param(spec, sc, layout)]
    thetas = grid_thetas(layout, layout.theta, parsed)
    paths = 4096
    res = evaluate_sets(sc, thetas, paths=paths, quantiles=False, outcome_paths=paths, layout=layout)
    code = {"champion": 0, "collapse": 2}[output]
    ind = (res.path_outcome[:, :, 0, -1] == code).astype(float)  # (set, path) at the last horizon
    p = ind.mean(axis=1)
    np.testing.assert_array_equal(p, res.ds["probability"].isel(company=0, horizon=-1).sel(outcome=output))
    d = ind[1:] - ind[:-1]
    se = np.sqrt(d.var(axis=1, ddof=1) / paths)
    return p, se


@pytest.fixture(scope="module")
def zhipu():
    # Champions need V >= V0 and a price-to-sales ratio within reach at 36 months.
    return simulator.load_scenario(ROOT / "scenarios" / "zhipu_base.toml",
                                   overrides=["outcomes.champion_max_price_to_sales=2000"])


#: Each paired sweep makes four one-sided checks (one per step) at a family-wise ALPHA.
_STEP_Z = _z(4, sides=1)
#: A rise (or fall) of three percentage points in one step would be seen (4,096 paired paths).
_STEP_EFFECT = 0.03


def test_more_export_hazard_never_raises_champion(zhipu):
    p, se = _paired_sweep(zhipu, "sector.events.export_control_escalation.hazard_per_year=0:4:5", "champion")
    assert np.all(np.diff(p) <= _STEP_Z * se + 1e-12), (p, se)
    assert np.all((_STEP_Z + POWER_Z) * se < _STEP_EFFECT), se  # power
    assert p[0] - p[-1] > _z(1) * math.sqrt(p[0] * (1 - p[0]) / 4096)  # the hazard matters


def test_fewer_imported_cards_never_raise_champion(zhipu):
    p, se = _paired_sweep(zhipu, "companies.zhipu.chips.imports_per_month=0:800:5", "champion")
    # Along rising imports: the champion probability never falls beyond noise.
    assert np.all(np.diff(p) >= -_STEP_Z * se - 1e-12), (p, se)
    assert np.all((_STEP_Z + POWER_Z) * se < _STEP_EFFECT), se  # power
    assert p[-1] - p[0] > _z(1) * math.sqrt(p[-1] * (1 - p[-1]) / 4096)  # imports matter


def test_higher_backstop_never_raises_collapse(zhipu):
    p, se = _paired_sweep(zhipu, "companies.zhipu.funding.backstop_probability=0:1:5", "collapse")
    assert np.all(np.diff(p) <= _STEP_Z * se + 1e-12), (p, se)
    assert np.all((_STEP_Z + POWER_Z) * se < _STEP_EFFECT), se  # power


# --------------------------------------------------------------------------- many sets


def test_identical_sets_give_identical_results(zhipu):
    layout = build_layout(zhipu)
    thetas = np.repeat(layout.theta[None, :], 5, axis=0)
    # A tiny memory budget forces batches of one set: five kernel calls.
    res = evaluate_sets(zhipu, thetas, paths=5000, seed=3, max_memory=1.0, layout=layout)
    assert res.kernel_calls == 5
    ds = res.ds
    for name, var in ds.data_vars.items():
        if "set" in var.dims:
            first = var.isel(set=0).values
            for k in range(1, 5):
                np.testing.assert_array_equal(var.isel(set=k).values, first, err_msg=name)
    # And the same as an ordinary run with the same seed and paths.
    run = simulator.run(zhipu, paths=5000, seed=3)
    np.testing.assert_array_equal(ds["outcome_count"].isel(set=0).values, run["outcome_count"].values)
    np.testing.assert_array_equal(
        ds["valuation_quantile"].isel(set=0).values,
        run["valuation_quantile"].sel(month=ds["month"].values).values)


def test_sets_run_as_task_groups_equal_sets_run_one_by_one(zhipu):
    # 20 sets in one kernel call run one group of tasks per set with one shared
    # histogram slot (engine: n_sets >= 8 x threads); one set per call runs one
    # group per task with a histogram per thread.  Same numbers either way.
    layout = build_layout(zhipu)
    thetas = grid_thetas(layout, layout.theta, [parse_sweep_param(
        "companies.zhipu.chips.imports_per_month=0:570:20", zhipu, layout)])
    grouped = evaluate_sets(zhipu, thetas, paths=5000, seed=3, layout=layout, threads=2)
    assert grouped.kernel_calls == 1
    single = evaluate_sets(zhipu, thetas, paths=5000, seed=3, max_memory=1.0, layout=layout, threads=2)
    assert single.kernel_calls == 20
    for name, var in grouped.ds.data_vars.items():
        np.testing.assert_array_equal(var.values, single.ds[name].values, err_msg=name)


@pytest.mark.parametrize("case", ["hazard_straddles_groups", "portfolio_uncertain"])
def test_sets_sharing_draws_in_groups_equal_sets_run_one_by_one(zhipu, case, monkeypatch):
    # With 48+ sets on 2 threads the engine runs 3 sets per group of tasks: each
    # group of lanes is seeded once, its diffusion draws are drawn once for the
    # group, and the event arrivals of the first set are replayed for the others
    # when their event parameters agree.  Here some groups straddle a change of
    # the export-control hazard (no replay) and the others replay; the second
    # case has four companies, company events and a per-path uncertain input.
    if case == "hazard_straddles_groups":
        sc = zhipu
        specs = ["sector.events.export_control_escalation.hazard_per_year=0.5,3",
                 "companies.zhipu.chips.imports_per_month=0:570:25"]
    else:
        sc = with_overrides(simulator.load_scenario(ROOT / "scenarios" / "sector_portfolio.toml"),
                            ['companies.minimax.growth.long_run={dist="uniform", low=0.1, high=0.5}'])
        specs = ["companies.zhipu.chips.imports_per_month=0:570:16",
                 "companies.deepseek.funding.backstop_probability=0.1,0.9,0.5"]
    layout = build_layout(sc)
    thetas = grid_thetas(layout, layout.theta, [parse_sweep_param(s, sc, layout) for s in specs])
    assert thetas.shape[0] >= 48
    # A budget that holds every set's histograms (sector_portfolio's include its shares').
    grouped = evaluate_sets(sc, thetas, paths=700, seed=3, layout=layout, threads=2, max_memory=4e9)
    assert grouped.kernel_calls == 1
    single = evaluate_sets(sc, thetas, paths=700, seed=3, max_memory=1.0, layout=layout, threads=2)
    assert single.kernel_calls == thetas.shape[0]
    # Batches of 17 sets (still in groups), their histograms in one buffer reused from batch to batch.
    plan = plan_run(sc.scenario.horizon_months, sc.scenario.horizon_list, fans=False)
    per_set = bytes_per_set(len(layout.company_names), plan, quantiles=True, outcome_paths=0,
                            threads=K.max_threads(), n_blocks=1, competition=sc.sector.competition.enabled)
    batched = evaluate_sets(sc, thetas, paths=700, seed=3, max_memory=17.5 * per_set, layout=layout, threads=2)
    assert batched.ds.attrs["sets_per_kernel_batch"] == 17
    for name, var in grouped.ds.data_vars.items():
        np.testing.assert_array_equal(var.values, single.ds[name].values, err_msg=name)
        np.testing.assert_array_equal(var.values, batched.ds[name].values, err_msg=name)
    # Blocks of 256 paths, one kernel call per block: the buffer is zeroed by the first call
    # of each batch only, and the later calls add to its counts.
    whole = evaluate_sets(sc, thetas, paths=700, seed=3, block_size=256, layout=layout, threads=2, max_memory=4e9)
    assert whole.kernel_calls == 1
    monkeypatch.setattr("simulator.runner.memory.MAX_TASKS_PER_CALL", 17)
    by_block = evaluate_sets(sc, thetas, paths=700, seed=3, block_size=256, max_memory=17.5 * per_set,
                             layout=layout, threads=2)
    assert by_block.kernel_calls == 3 * -(-thetas.shape[0] // 17)
    for name, var in whole.ds.data_vars.items():
        np.testing.assert_array_equal(var.values, by_block.ds[name].values, err_msg=name)


def _sets_at_once_equal_one_at_a_time(sc, param: str, paths: int, seed: int):
    """The many-set Dataset of a sweep of ``param`` against build_dataset of each set; returns the former."""
    layout = build_layout(sc)
    thetas = grid_thetas(layout, layout.theta, [parse_sweep_param(param, sc, layout)])
    plan = plan_run(sc.scenario.horizon_months, sc.scenario.horizon_list, fans=False)
    tally = simulate(layout, plan, paths=paths, seed=normalise_seed(seed), theta_sets=thetas, fans=True)
    many = build_sets_dataset(sc, layout, plan, tally, thetas)
    for k in range(thetas.shape[0]):
        one = build_dataset(sc, layout, plan, tally, set_index=k, theta=thetas[k])
        assert set(many.data_vars) == set(one.data_vars)  # the same variables, no more
        for name in one.data_vars:
            got = many[name].isel(set=k) if "set" in many[name].dims else many[name]
            np.testing.assert_allclose(got.values, one[name].values, rtol=1e-13, atol=0, equal_nan=True,
                                       err_msg=name)
    return many



def test_a_study_prepares_its_run_once_and_runs_the_batches_it_checked(monkeypatch):
    # The memory check of a study sizes its batches (with the competition's histograms when the sets
    # compete) and those batches run; the run is prepared and checked once per study.
    from simulator.runner import prepared as prepared_module
    from simulator.studies import sweep as sweep_module

    calls = []
    real = prepared_module.prepare_run

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "prepare_run", counted)
    sc = simulator.load_scenario(ROOT / "scenarios" / "sector_portfolio.toml")
    assert sc.sector.competition.enabled
    layout = build_layout(sc)
    plan = plan_run(sc.scenario.horizon_months, sc.scenario.horizon_list, fans=False)
    costs = {on: bytes_per_set(len(layout.company_names), plan, quantiles=True, outcome_paths=0,
                               threads=K.max_threads(), n_blocks=1, competition=on) for on in (False, True)}
    assert costs[True] > costs[False]
    budget = 5.5 * costs[True]  # 5 competing sets a batch; 5 sets without the competition's would be too few
    assert budget // costs[False] > 5
    assert sweep_module.prepare_sets(sc, 12, paths=300, max_memory=budget).sizing.batch == 5  # the one checked
    calls.clear()
    ds = sweep(sc, ["companies.zhipu.chips.imports_per_month=0:570:12"], paths=300, seed=3, max_memory=budget)
    assert ds.attrs["sets_per_kernel_batch"] == 5 and ds.attrs["kernel_calls"] == 3
    assert len(calls) == 1
    calls.clear()
    sensitivity(sc, method="oat", params=["companies.zhipu.chips.imports_per_month=0:570"], paths=300, seed=3)
    assert len(calls) == 1

def test_vectorised_builder_matches_build_dataset(zhipu):
    _sets_at_once_equal_one_at_a_time(zhipu, "companies.zhipu.chips.imports_per_month=0,150,600", 3000, 5)


def test_vectorised_builder_matches_build_dataset_with_competition():
    """Joint outcomes, shares and the required revenue reached: many sets at once equal one set at a time."""
    sc = simulator.load_scenario(ROOT / "scenarios" / "sector_portfolio.toml",
                                 overrides=["sector.competition.enabled=true", "sector.market_size=40e9"])
    many = _sets_at_once_equal_one_at_a_time(sc, "sector.competition.convergence_rate=0,0.5", 2000, 6)
    assert "market_share_quantile" in many and "champion_correlation" in many


def test_sweep_dataset_shape_and_crn(zhipu):
    ds = sweep(zhipu, ["companies.zhipu.chips.imports_per_month=0:400:3",
                       "companies.zhipu.funding.backstop_probability=0.2,0.8"], paths=3000, seed=9)
    assert ds["probability"].dims == ("companies.zhipu.chips.imports_per_month",
                                      "companies.zhipu.funding.backstop_probability",
                                      "company", "horizon", "outcome")
    np.testing.assert_array_equal(ds["companies.zhipu.chips.imports_per_month"].values, [0.0, 200.0, 400.0])
    assert ds["companies.zhipu.chips.imports_per_month"].attrs["path"] == "companies.zhipu.chips.imports_per_month"
    for name in ("probability_ci", "champion_share_ci", "survival_ci", "valuation_quantile",
                 "mean_valuation_ci", "fundamental_value_ci"):
        assert name in ds
    # A grid point equals the run with that override (same streams).
    run = simulator.run(with_overrides(zhipu, ["companies.zhipu.chips.imports_per_month=200",
                                               "companies.zhipu.funding.backstop_probability=0.8"]),
                        paths=3000, seed=9)
    point = ds.sel({"companies.zhipu.chips.imports_per_month": 200.0,
                    "companies.zhipu.funding.backstop_probability": 0.8})
    np.testing.assert_array_equal(point["outcome_count"].values, run["outcome_count"].values)
    from simulator.report.kinds import result_kind

    assert result_kind(ds) == "sweep"


# --------------------------------------------------------------------------- noise vs deterministic


@pytest.mark.parametrize(("method", "key", "samples"), [("oat", "swing", None), ("morris", "mu_star", 10),
                                                         ("sobol", "ST", 64)])
def test_methods_rank_like_the_deterministic_model(method, key, samples):
    out = "solo.valuation_q50@24"
    noisy = sensitivity(_toy(), method=method, samples=samples, paths=2048, params=_params(G, LR, EX),
                        outputs=[out])
    exact = sensitivity(_toy(deterministic=True), method=method, samples=samples, paths=64,
                        params=_params(G, LR, EX), outputs=[out])
    assert _order(noisy, key, out) == _order(exact, key, out) == [G, LR, EX]
    for ds in (noisy, exact):
        assert float(ds[key].sel(output=out, parameter=EX)) == 0.0  # no effect, exactly (common numbers)
        if method == "sobol":
            for index in ("S1", "ST"):  # in [0, 1] up to noise: 2 x 3 x 2 checks at a family-wise ALPHA
                value, conf = ds[index].sel(output=out).values, ds[f"{index}_conf"].sel(output=out).values
                conf = conf * _z(12, sides=1) / Z95
                assert np.all(value + conf >= 0.0) and np.all(value - conf <= 1.0)
    if method == "oat":
        from simulator.report.kinds import result_kind

        assert result_kind(noisy) == "tornado"
        assert {"low", "high", "base", "low_value", "high_value"} <= set(noisy.variables)
    if method == "sobol":
        from simulator.report.kinds import result_kind

        assert result_kind(noisy) == "sobol"


def test_given_data_methods_rank_like_the_deterministic_model():
    out = "solo.champion@24"
    noisy = sensitivity(_toy(uncertain=True), method="given-data", paths=20_000, outputs=[out])
    exact = sensitivity(_toy(uncertain=True, deterministic=True), method="given-data", paths=20_000,
                        outputs=[out])
    for key in ("rbd_fast_S1", "delta", "delta_S1", "pawn_median"):
        assert _order(noisy, key, out) == _order(exact, key, out) == [G, LR, EX], key
    for ds in (noisy, exact):
        for key in ("rbd_fast_S1", "delta", "delta_S1"):  # in [0, 1] up to noise, 2 x 3 x 3 x 2 checks
            value, conf = ds[key].sel(output=out).values, ds[f"{key}_conf"].sel(output=out).values
            conf = conf * _z(36, sides=1) / Z95
            assert np.all(value + conf >= 0.0) and np.all(value - conf <= 1.0), key
        assert np.all((ds["pawn_median"].values >= 0) & (ds["pawn_median"].values <= 1))
    # Event and diffusion randomness dilute every index of the noisy model.
    assert float(noisy["explained_share"].sel(output=out)) < float(exact["explained_share"].sel(output=out))


def test_given_data_from_a_saved_run_needs_no_run(tmp_path, capsys):
    ds = simulator.run(_toy(uncertain=True), paths=5000)
    path = tmp_path / "run.nc"
    simulator.save_results(ds, path)
    out = tmp_path / "pawn.nc"
    assert main(["sensitivity", str(path), "--method", "pawn", "--output", "solo.champion@24",
                 "--out", str(out), "--quiet"]) == 0
    res = simulator.open_results(out)
    assert res.attrs["samples"] == 5000 and str(res["parameter"].values[0]) == G


# --------------------------------------------------------------------------- command line


def _write_toy(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(TOY.replace("GROWTH", "0.1").replace("LONG_RUN", "0.0").replace("EXIT", "15.0"))
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["--method", "oat", "--param", "companies.solo.cash=5e9:1e9"], "LO (5e+09) is above HI (1e+09)"),
    (["--method", "oat", "--param", "companies.solo.nope=1:2"], "not a numeric scenario key"),
    (["--method", "oat", "--param", "scenario.paths=1:2"], "not a numeric scenario key"),
    (["--method", "oat", "--param", "companies.solo.chips.enabled=0:1"], "a switch"),
    (["--method", "oat", "--param", "companies.solo.funding.backstop_probability=0:2"], "out of range"),
    (["--method", "oat", "--param", "companies.solo.cash=1:1"], "the range is empty"),
    (["--method", "oat", "--param", "companies.solo.cash"], "expected PATH=LO:HI"),
    (["--method", "sobol", "--samples", "32", *[f"--param={p}" for p in _params(G, EX)]], "too few for sobol"),
    (["--method", "sobol", "--samples", "100", *[f"--param={p}" for p in _params(G, EX)]], "power of two"),
    (["--method", "morris", "--samples", "2", *[f"--param={p}" for p in _params(G, EX)]], "too few for morris"),
    (["--method", "oat", "--param", _params(G)[0], "--output", "solo.champion@7"], "not a horizon"),
    (["--method", "pawn"], "no uncertain inputs"),
])
def test_bad_sensitivity_arguments_exit_2(tmp_path, capsys, args, message):
    path = _write_toy(tmp_path)
    assert main(["sensitivity", str(path), *args, "--quiet", "--paths", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("simulator: error:") and message in err, err


@pytest.mark.parametrize(("param", "message"), [
    ("companies.solo.cash=5e9:1e9:3", "above HI"),
    ("companies.solo.cash=1e9:5e9:1", "N = 1 points"),
    ("companies.solo.cash=1e9:5e9:x", "whole number"),
    ("companies.solo.revenue=-1:5e9:3", "out of range"),
    ("companies.solo.growth=0:1:3", "not a numeric scenario key"),
])
def test_bad_sweep_arguments_exit_2(tmp_path, capsys, param, message):
    path = _write_toy(tmp_path)
    assert main(["sweep", str(path), "--param", param, "--quiet", "--paths", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("simulator: error:") and message in err, err


def test_cli_sweep_and_oat(tmp_path, capsys):
    path = _write_toy(tmp_path)
    out = tmp_path / "sweep.nc"
    assert main(["sweep", str(path), "--param", f"{G}=-0.1:0.3:3", "--paths", "2000", "--out", str(out),
                 "--quiet"]) == 0
    ds = simulator.open_results(out)
    assert ds["probability"].dims[0] == G and ds.sizes[G] == 3
    p = ds["probability"].sel(company="solo", horizon=24, outcome="champion").values
    assert np.all(np.diff(p) > 0)
    out = tmp_path / "oat.nc"
    assert main(["sensitivity", str(path), "--method", "oat", *[f"--param={p}" for p in _params(G, LR, EX)],
                 "--output", "solo.champion@24", "--paths", "2000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [line.split()[0] for line in printed.splitlines() if line.startswith("companies.")]
    assert rows == [G, LR, EX]
    assert simulator.open_results(out)["swing"].dims == ("output", "parameter")


def test_noise_note_says_how_many_paths():
    ds = sensitivity(_toy(), method="sobol", samples=64, paths=16, params=_params(G, LR, EX),
                     outputs=["solo.champion@24"])
    notes = __import__("json").loads(ds.attrs["notes"])
    assert any("Monte Carlo noise" in n and "paths would bring it under 1%" in n for n in notes), notes
    share = float(ds["noise_share"].sel(output="solo.champion@24", parameter=G))
    assert share > 0.01
    quiet = sensitivity(_toy(), method="sobol", samples=64, paths=2048, params=_params(G, LR, EX),
                        outputs=["solo.champion@24"])
    # Noise variance shrinks like 1 / paths (common random numbers keep it small).
    assert float(quiet["noise_share"].sel(output="solo.champion@24", parameter=G)) < share / 20


def _numpy_hist_quantiles(hist, minmax, levels, var):
    """hist_quantiles' definition written out with numpy, one level at a time (the reference)."""
    from simulator.model import quantities as L

    hist = np.asarray(hist, dtype=np.float64)
    nb = hist.shape[-1]
    low, high, log10 = L.HIST_LOW[var], L.HIST_HIGH[var], L.HIST_LOG10[var]
    width = (high - low) / (nb - 2)
    cum = np.cumsum(hist, axis=-1)
    total = cum[..., -1:]
    out = np.empty((*hist.shape[:-1], len(levels)))
    for i, q in enumerate(levels):
        target = q * total
        j = np.minimum(np.sum(cum < np.maximum(target, 1e-300), axis=-1, keepdims=True), nb - 1)
        before = np.take_along_axis(cum, np.maximum(j - 1, 0), axis=-1) * (j > 0)
        count = np.take_along_axis(hist, j, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.clip(np.where(count > 0, (target - before) / count, 0.5), 0.0, 1.0)
        x = low + (j - 1 + frac) * width
        value = 10.0 ** x if log10 else x
        value = np.where(j == 0, minmax[..., :1], value)
        value = np.where(j == nb - 1, minmax[..., 1:], value)
        value = np.clip(value, minmax[..., :1], minmax[..., 1:])
        out[..., i] = np.where(total > 0, value, np.nan)[..., 0]
    return out


def test_many_set_quantiles_equal_the_numpy_definition():
    from simulator.results.outputs import QUANTILES
    from simulator.results.statistics import hist_quantiles

    rng = np.random.default_rng(1)
    levels = [QUANTILES[3], *QUANTILES[:3], *QUANTILES[4:]]  # not sorted: the kernel sorts them
    for v in range(6):
        h = rng.integers(0, 3, size=(40, 3, 4096)) * (rng.random((40, 3, 4096)) < 0.01)
        h[0, 0] = 0  # empty
        h[1, 1, 0] = 5  # mass below the grid
        h[2, 2, -1] = 7  # and above
        h[3, 0, :] = 0
        h[3, 0, 100] = 1  # a single path
        mm = np.stack([np.full((40, 3), -1e3), np.full((40, 3), 1e20)], axis=-1)
        # 10 ** x may differ in the last bit between numpy's power and the C library's pow.
        np.testing.assert_allclose(hist_quantiles(h, mm, levels, v), _numpy_hist_quantiles(h, mm, levels, v),
                                   rtol=1e-14, atol=0)


def test_given_data_methods_give_each_output_its_own_row_and_the_same_numbers_for_the_same_seed():
    """With several outputs, each output's row is what the methods give for that output alone; an outcome no
    path has (a champion at 1000 times today's valuation) is explained by nothing (zeros) and does not stop the outputs after
    it; the same seed gives the same numbers (the bootstrap and PAWN's slices are seeded)."""
    outs = ["solo.champion@24", "solo.collapse@24", "solo.collapse@12"]
    kw = {"method": "given-data", "paths": 4000, "seed": 3, "overrides": ["outcomes.champion_valuation_ratio=1000"]}
    both = sensitivity(_toy(uncertain=True), outputs=outs, **kw)
    again = sensitivity(_toy(uncertain=True), outputs=outs, **kw)
    fields = [name for name in both.data_vars if both[name].dims == ("output", "parameter")]
    assert {"rbd_fast_S1", "rbd_fast_S1_conf", "delta", "delta_conf", "delta_S1", "pawn_median"} <= set(fields)
    for name in [*fields, "explained_share"]:
        np.testing.assert_array_equal(both[name].values, again[name].values, err_msg=name)
    for name in fields:
        np.testing.assert_array_equal(both[name].sel(output=outs[0]).values, 0.0, err_msg=name)
    assert float(both["explained_share"].sel(output=outs[0])) == 0.0
    for out in outs[1:]:
        alone = sensitivity(_toy(uncertain=True), outputs=[out], **kw)
        assert float(alone["explained_share"].sel(output=out)) > 0.0
        for name in [*fields, "explained_share"]:  # rows aligned by parameter (each Dataset ranks its own)
            np.testing.assert_array_equal(both[name].sel(output=out).sel(parameter=alone["parameter"]).values
                                          if "parameter" in both[name].dims else both[name].sel(output=out).values,
                                          alone[name].sel(output=out).values, err_msg=f"{name} {out}")


def test_given_data_methods_take_overrides_on_a_loaded_scenario_and_refuse_them_on_a_results_file(tmp_path):
    """--set applies to a scenario given as an object as to a file; a results file is read as is, so --set and
    --paths on it are one-line errors (they were ignored)."""
    sc = _toy(uncertain=True)
    kw = {"method": "given-data", "paths": 3000, "seed": 2, "outputs": ["solo.collapse@24"]}
    changed = sensitivity(sc, overrides=["outcomes.collapse_valuation_ratio=0.6"], **kw)
    direct = sensitivity(with_overrides(sc, {"outcomes.collapse_valuation_ratio": 0.6}), **kw)
    np.testing.assert_array_equal(changed["rbd_fast_S1"].values, direct["rbd_fast_S1"].values)
    assert not np.array_equal(changed["rbd_fast_S1"].values, sensitivity(sc, **kw)["rbd_fast_S1"].values)
    path = tmp_path / "run.nc"
    simulator.save_results(simulator.run(sc, paths=2000), path)
    for extra in ({"overrides": ["companies.solo.cash=1e9"]}, {"paths": 100}):
        with pytest.raises(UserError, match=r"--paths and --set apply to a scenario file; a results file is read "
                                            r"as is$"):
            sensitivity(path, method="pawn", outputs=["solo.champion@24"], **extra)


def test_oat_low_high_and_base_are_plain_runs_at_those_values():
    """Each key at each end of its range, the others at the scenario's values: the probability and its
    interval are a plain run's with the same seed and paths (common random numbers), the swing their gap."""
    sc = _toy()
    out = "solo.champion@24"
    ds = sensitivity(sc, method="oat", params=_params(G, LR), outputs=[out], paths=3000, seed=6)

    def run_p(overrides):
        run = simulator.run(with_overrides(sc, overrides), paths=3000, seed=6)
        at = {"company": "solo", "horizon": 24, "outcome": "champion"}
        return float(run["probability"].sel(**at)), run["probability_ci"].sel(**at).values

    base, base_ci = run_p({})
    assert float(ds["base"].sel(output=out)) == base
    np.testing.assert_array_equal(ds["base_ci"].sel(output=out).values, base_ci)
    for key in (G, LR):
        for end, value in (("low", RANGES[key][0]), ("high", RANGES[key][1])):
            p, ci = run_p({key: value})
            assert float(ds[end].sel(output=out, parameter=key)) == p, (key, end)
            np.testing.assert_array_equal(ds[f"{end}_ci"].sel(output=out, parameter=key).values, ci)
            assert float(ds[f"{end}_value"].sel(parameter=key)) == value
        assert float(ds["swing"].sel(output=out, parameter=key)) == abs(
            float(ds["high"].sel(output=out, parameter=key)) - float(ds["low"].sel(output=out, parameter=key)))
        assert float(ds["base_value"].sel(parameter=key)) == float(build_layout(sc).theta[build_layout(sc).slots(key)[0]])
