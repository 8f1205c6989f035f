"""Studies of many parameter sets (sweep, sensitivity, calibration): the options a user gives reach the
memory check and the kernel calls, the batches run are the ones the check counted, and what a sweep
records about its own run (seed, uncertain inputs held fixed, outputs out of range)."""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from test_robustness import OVERFLOW  # growth of 20 a year over 100 years

import simulator
from simulator.engines.plan import DEFAULT_BLOCK_SIZE
from simulator.errors import UserError
from simulator.model import quantities as L
from simulator.model.parameters import GLOBAL, build_layout
from simulator.model.scenario_file import load_scenario, parse_scenario, with_overrides
from simulator.results.dataset import competing
from simulator.runner import memory
from simulator.runner.memory import Need, sets_sizing
from simulator.runner.prepared import PreparedRun, prepare_run
from simulator.studies.sweep import evaluate_sets, prepare_sets, run_sets, sweep, sweep_table
from simulator.warnings import SimulatorWarning

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
G = "companies.zhipu.growth.initial"
IMPORTS = "companies.zhipu.chips.imports_per_month"
#: Family-wise error rate of each statistical test (docs/testing.md).
ALPHA = 0.001


class _Checked(Exception):
    """Raised by the stand-in memory check once it has recorded what it was asked."""


def _record_checks(monkeypatch, *, stop: bool) -> list:
    calls = []

    def check(needs, sizes, *, what="this run", available=None):
        calls.append((list(needs), dict(sizes), what))
        if stop:
            raise _Checked

    monkeypatch.setattr(memory, "check", check)
    return calls


def _expected_sizing(scenario, n_sets, *, paths, option, value=None, threads=None, engine="numba",
                     block_size=DEFAULT_BLOCK_SIZE, quantiles=True, outcome_paths=0, per_set_extra=0.0, max_memory=None,
                     competition=None):
    run = prepare_run(scenario, paths=paths, engine=engine, block_size=block_size, threads=threads, fans=False)
    return sets_sizing(run.layout, run.plan, n_sets, option=option, value=value, paths=paths, engine=engine,
                       block_size=block_size, threads=threads, quantiles=quantiles,
                       outcome_paths=min(outcome_paths, paths), per_set_extra=per_set_extra,
                       uncertain_slots=run.uncertain_slots, max_memory=max_memory,
                       competition=competing(run.layout.theta) if competition is None else competition)


#: The options of a study of parameter sets, as prepare_sets takes them; each case changes several, so
#: that any one of them lost on the way changes what the memory check is asked.
PREPARE_CASES = {
    "defaults": ("zhipu_base.toml", 3, {}),
    "every option": ("zhipu_base.toml", 6, {
        "threads": 1, "engine": "numpy", "block_size": 128, "quantiles": False, "outcome_paths": 5000,
        "max_memory": 1e5, "option": "--samples", "value": 3, "per_set_extra": 1e6,
        "extra": (Need("SALib's bootstrap", 2e6, ("--samples",)),), "what": "a Sobol study of 6 sets"}),
    "uncertain inputs, some outcome paths": ("zhipu_uncertain.toml", 4, {"threads": 2, "outcome_paths": 50}),
    # Room for two sets without competition's histograms, one with them.
    "competition asked for": ("zhipu_base.toml", 2, {"competition": True, "threads": 1, "max_memory": 1e7}),
    "a competing scenario": ("convergence.toml", 2, {"max_memory": 3e6}),
}


@pytest.mark.parametrize("case", list(PREPARE_CASES))
def test_a_study_of_sets_checks_the_memory_its_options_need(monkeypatch, case):
    """prepare_sets asks the memory check exactly what its options need (sets_sizing of those options,
    plus the study's own needs, under the study's name), and keeps the run and batches it sized."""
    file, n_sets, options = PREPARE_CASES[case]
    scenario = load_scenario(SCENARIOS / file)
    paths = 2000
    calls = _record_checks(monkeypatch, stop=False)
    prepared = prepare_sets(scenario, n_sets, paths=paths, seed=5, **options)
    sizing_options = {k: v for k, v in options.items() if k not in ("extra", "what")}
    expected = _expected_sizing(scenario, n_sets, paths=paths, **{"option": "parameter sets", **sizing_options})
    what = options.get("what", f"{n_sets:,} parameter sets x {paths:,} paths")
    assert calls == [([*expected.needs, *options.get("extra", ())], expected.sizes, what)]
    assert prepared.sizing == expected
    run = prepared.run
    assert (run.threads, run.engine, run.block_size, run.paths) == (
        options.get("threads"), options.get("engine", "numba"), options.get("block_size", DEFAULT_BLOCK_SIZE), paths)
    np.testing.assert_array_equal(run.plan.recorded_months, run.plan.horizons)  # no fans: horizons only
    assert (prepared.n_sets, prepared.quantiles, prepared.outcome_paths) == (
        n_sets, options.get("quantiles", True), min(options.get("outcome_paths", 0), paths))


def test_evaluate_sets_checks_the_memory_of_the_sets_it_is_given(monkeypatch):
    """evaluate_sets sizes the sets it is given (their count, whether they compete) with its options,
    and names its option for the number of sets."""
    scenario = load_scenario(SCENARIOS / "convergence.toml")
    layout = build_layout(scenario)
    thetas = np.repeat(layout.theta[None, :], 3, axis=0)
    thetas[:, GLOBAL.slot("sector.competition.enabled")] = 0.0  # the sets, not the scenario, decide
    # Room for three sets' histograms without competition, two with (on 2 cores).
    options = {"threads": 1, "block_size": 128, "outcome_paths": 7, "max_memory": 1.5e7}
    calls = _record_checks(monkeypatch, stop=True)
    with pytest.raises(_Checked):
        evaluate_sets(scenario, thetas, paths=1000, seed=1, sets_option="--grid", layout=layout, **options)
    with pytest.raises(_Checked):
        evaluate_sets(scenario, thetas[:2], paths=1000, seed=1)
    expected = _expected_sizing(scenario, 3, paths=1000, option="--grid", competition=False, **options)
    default = _expected_sizing(scenario, 2, paths=1000, option="parameter sets", competition=False)
    assert calls == [(expected.needs, expected.sizes, "3 parameter sets x 1,000 paths"),
                     (default.needs, default.sizes, "2 parameter sets x 1,000 paths")]


def test_evaluate_sets_passes_on_the_inputs_held_fixed_and_the_progress():
    """The sets vary an uncertain input themselves: it is held, not drawn (the result says so), every path of
    every set is counted by the progress callback, and no outcome codes are kept unless asked."""
    scenario = load_scenario(SCENARIOS / "zhipu_uncertain.toml")
    layout = build_layout(scenario)
    thetas = np.repeat(layout.theta[None, :], 2, axis=0)
    thetas[:, layout.slots(IMPORTS)[0]] = [0.0, 400.0]
    done = []
    kw = {"paths": 2000, "seed": 3, "quantiles": False}
    held = evaluate_sets(scenario, thetas, hold_fixed=[IMPORTS], progress=done.append, **kw)
    drawn = evaluate_sets(scenario, thetas, **kw)
    assert sum(done) == 2 * 2000 and held.path_outcome is None
    assert json.loads(held.ds.attrs["uncertain_held_fixed"]) == [IMPORTS]
    assert json.loads(drawn.ds.attrs["uncertain_held_fixed"]) == []
    # Drawn per path, the input's column is ignored: both sets are the same run.
    np.testing.assert_array_equal(drawn.ds["outcome_count"][0].values, drawn.ds["outcome_count"][1].values)
    assert not np.array_equal(held.ds["outcome_count"][0].values, held.ds["outcome_count"][1].values)


def test_sets_given_in_other_number_types_run_as_float64():
    scenario = load_scenario(SCENARIOS / "zhipu_base.toml")
    prepared = prepare_sets(scenario, 2, paths=200, seed=1, quantiles=False)
    thetas = np.repeat(prepared.run.layout.theta[None, :], 2, axis=0).astype(np.float32)
    as_float64 = run_sets(prepared, thetas.astype(np.float64)).ds
    for given in (thetas, thetas.tolist(), np.asfortranarray(thetas)):
        ds = run_sets(prepared, given).ds
        np.testing.assert_array_equal(ds["outcome_count"].values, as_float64["outcome_count"].values)
        np.testing.assert_array_equal(ds["fundamental_value"].values, as_float64["fundamental_value"].values)


@pytest.mark.parametrize("shape", [(4,), (0, 4), (2, 3, 4)])
def test_evaluate_sets_refuses_sets_of_the_wrong_shape_before_any_work(monkeypatch, shape):
    scenario = load_scenario(SCENARIOS / "zhipu_base.toml")
    calls = _record_checks(monkeypatch, stop=True)
    with pytest.raises(ValueError, match=re.escape(f"theta_sets: shape {shape} must be (n_sets, n_theta) "
                                                   "with at least one set")):
        evaluate_sets(scenario, np.zeros(shape), paths=100)
    assert calls == []


def test_run_sets_refuses_sets_that_do_not_fit_what_was_prepared():
    scenario = load_scenario(SCENARIOS / "zhipu_base.toml")
    prepared = prepare_sets(scenario, 2, paths=100, seed=1)
    n_theta = prepared.run.layout.n_theta
    for bad in (np.zeros((2, n_theta - 1)), np.zeros(n_theta)):
        with pytest.raises(ValueError, match=re.escape(f"theta_sets: shape {bad.shape} must be (n_sets, "
                                                       f"{n_theta})")):
            run_sets(prepared, bad)
    too_many = np.repeat(prepared.run.layout.theta[None, :], 3, axis=0)
    with pytest.raises(ValueError, match=r"^theta_sets: 3 sets, more than the 2 prepared$"):
        run_sets(prepared, too_many)


@pytest.mark.parametrize("engine, quantiles", [("numba", True), ("numba", False), ("numpy", True)])
def test_run_sets_runs_the_batches_its_memory_check_counted(monkeypatch, engine, quantiles):
    """Five sets in batches of two: each kernel call gets the batch's sets, the blocks per call and (numba,
    with quantiles) the one histogram buffer the memory check counted; the progress callback and the inputs
    held fixed reach every call; the joined result is the one-batch result, and the kernel calls are
    counted."""
    scenario = load_scenario(SCENARIOS / "zhipu_uncertain.toml")
    layout = build_layout(scenario)
    thetas = np.repeat(layout.theta[None, :], 5, axis=0)
    thetas[:, layout.slots(G)[0]] = np.linspace(0.3, 0.9, 5)
    kw = {"paths": 300, "seed": 2, "block_size": 64, "engine": engine, "quantiles": quantiles,
          "outcome_paths": 20}
    whole = prepare_sets(scenario, 5, **kw)
    assert whole.sizing.batch == 5
    per_set = memory.bytes_per_set(layout.n_companies, whole.run.plan, quantiles=quantiles, outcome_paths=20,
                                   threads=memory.max_threads() if engine == "numba" else 1, n_blocks=5)
    split = prepare_sets(scenario, 5, max_memory=2.5 * per_set, **kw)
    assert split.sizing.batch == 2
    seen = []
    simulate = PreparedRun.simulate

    def spy(self, progress=None, **options):
        seen.append({"progress": progress, **options})
        return simulate(self, progress, **options)

    done = []
    monkeypatch.setattr(PreparedRun, "simulate", spy)
    one = run_sets(whole, thetas, hold_fixed=[G], progress=done.append)
    seen.clear()
    start = time.perf_counter()
    res = run_sets(split, thetas, hold_fixed=[G], progress=done.append)
    elapsed = time.perf_counter() - start
    assert [len(call["theta_sets"]) for call in seen] == [2, 2, 1]
    for call, s0 in zip(seen, (0, 2, 4), strict=True):
        np.testing.assert_array_equal(call["theta_sets"], thetas[s0:s0 + 2])
        assert call["chunk_blocks"] == split.sizing.chunk_blocks
        assert call["progress"] == done.append and list(call["exclude"]) == [G]
        assert (call["fans"], call["outcome_paths"]) == (quantiles, 20)
    buffers = {id(call["hist_buffer"]) for call in seen}
    if engine == "numba" and quantiles:
        n_rec = split.run.plan.recorded_months.size
        assert len(buffers) == 1 and seen[0]["hist_buffer"].dtype == np.int64
        assert seen[0]["hist_buffer"].size == 2 * layout.n_companies * L.N_VARS * n_rec * L.HIST_BINS
    else:
        assert buffers == {id(None)}
    per_call = max(1, min(split.sizing.chunk_blocks, 5))
    assert res.kernel_calls == (3 * math.ceil(5 / per_call) if engine == "numba" else 0)
    assert type(res.kernel_calls) is int
    assert 0.0 < res.seconds <= elapsed
    assert res.ds.attrs["sets_per_kernel_batch"] == 2 and one.ds.attrs["sets_per_kernel_batch"] == 5
    for ds in (res.ds, one.ds):
        ds.attrs.pop("sets_per_kernel_batch")
        ds.attrs.pop("created")  # a clock, not a result
    xr.testing.assert_identical(res.ds, one.ds)
    np.testing.assert_array_equal(res.path_outcome, one.path_outcome)


def test_a_sweep_records_its_seed_streams_and_note():
    seed = np.random.SeedSequence(11, spawn_key=(4, 2))
    ds = sweep(SCENARIOS / "zhipu_base.toml", [f"{G}=0.5,1"], paths=100, seed=seed, quantiles=False)
    assert (ds.attrs["seed_entropy"], json.loads(ds.attrs["seed_spawn_key"])) == ("11", [4, 2])
    assert ds.attrs["random_streams"].endswith("; every parameter set restarts the same streams "
                                               "(common random numbers)")
    assert ds.attrs["note"] == ("each grid point's intervals are marginal; all points share their random numbers "
                                "path by path (common random numbers), so differences between points are much "
                                "more precise than the intervals suggest")


def test_a_sweep_of_an_uncertain_input_holds_it_at_each_grid_value():
    """A swept key that the scenario draws per path is held at each grid value, not drawn: each point's
    probabilities match the plain run with the key set to that value (the other inputs drawn), within
    the sampling error of the two (ALPHA over the two points), and the result says what was held."""
    scenario = load_scenario(SCENARIOS / "zhipu_uncertain.toml")
    n = 20_000
    ds = sweep(scenario, {IMPORTS: [0.0, 400.0]}, paths=n, seed=3, quantiles=False)
    assert ds.attrs["uncertain_inputs"] == scenario.uncertain.to_json()
    assert json.loads(ds.attrs["uncertain_held_fixed"]) == [IMPORTS]
    z = stats.norm.isf(ALPHA / 2 / 2)
    point = ds["probability"].sel(outcome="collapse").isel(horizon=-1, company=0)
    for value in (0.0, 400.0):
        run = simulator.run(with_overrides(scenario, {IMPORTS: value}), paths=n, seed=3)
        p_run = float(run["probability"].sel(outcome="collapse").isel(horizon=-1, company=0))
        p_point = float(point.sel({IMPORTS: value}))
        sd = math.sqrt(p_run * (1 - p_run) / n + p_point * (1 - p_point) / n)
        assert abs(p_point - p_run) <= z * sd, (value, p_point, p_run)
    # Power: were the key drawn per path, every point would be the mixture over its range, about half the
    # gap between the ends away from each end; the check sees that with probability 99% or more.
    gap = abs(float(point.sel({IMPORTS: 0.0})) - float(point.sel({IMPORTS: 400.0})))
    assert gap / 2 >= (z + stats.norm.isf(0.01)) * math.sqrt(2 * 0.25 / n)


def test_a_sweep_whose_outputs_leave_float64_says_so_once():
    """One warning for the whole grid, naming the grid point's set, the company and the key that drove it;
    the result records the sentence."""
    scenario = parse_scenario(OVERFLOW, source="over.toml")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = sweep(scenario, ["companies.a.growth.initial=0.1,20"], paths=64, seed=1, max_memory=1.0)
    ours = [w for w in caught if issubclass(w.category, SimulatorWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert re.fullmatch(r"over: revenue_quantile.* of set 1, company a are not finite: its amounts leave "
                        r"float64's range \(e\^710\); the largest exponent is companies\.a\.growth\.initial "
                        r"\(initial = 20 over 100 years: e\^2000\); lower it or shorten horizon_months", message), \
        message
    assert message == f"over: {ds.attrs['out_of_range']}"


def test_sweep_takes_the_scenarios_paths_and_refuses_an_empty_or_repeated_grid():
    scenario = load_scenario(SCENARIOS / "zhipu_base.toml")
    small = with_overrides(scenario, {"scenario.paths": 150})
    ds = sweep(small, {G: [1, 2]}, seed=1, quantiles=False)  # whole numbers are values too
    assert ds.attrs["paths"] == 150 and ds[G].dtype == np.float64 and ds[G].values.tolist() == [1.0, 2.0]
    assert int(ds["outcome_count"].isel({G: 0, "horizon": 0}).sum()) == 150
    with pytest.raises(UserError, match=r"^sweep: give at least one --param PATH=LO:HI:N$"):
        sweep(scenario, [], paths=10)
    with pytest.raises(UserError, match=rf"^--param {re.escape(G)}: swept twice$"):
        sweep(scenario, [f"{G}=1,2", f"{IMPORTS}=1,2", f"{G}=3"], paths=10)


@pytest.mark.parametrize("quantiles", [True, False])
def test_a_sweep_too_large_for_memory_names_its_grid(monkeypatch, quantiles):
    scenario = load_scenario(SCENARIOS / "zhipu_base.toml")
    calls = _record_checks(monkeypatch, stop=True)
    with pytest.raises(_Checked):
        sweep(scenario, [f"{G}=0.1:1:5", f"{IMPORTS}=0:100:3"], paths=500, threads=1, max_memory=4e5,
              quantiles=quantiles)
    expected = _expected_sizing(scenario, 15, paths=500, option="--param grid points", threads=1,
                                max_memory=4e5, quantiles=quantiles)
    assert calls == [(expected.needs, expected.sizes, "a sweep of 15 grid points x 500 paths")]


def test_the_sweep_table_writes_amounts_in_the_scenarios_currency():
    """A swept amount is written as the scenario's amounts are (with its suffix), its column right-aligned
    like the numbers beside it."""
    ds = sweep(SCENARIOS / "zhipu_base.toml", {"companies.zhipu.cash": [2e9, 25e9]}, paths=100, seed=1,
               quantiles=False)
    lines = sweep_table(ds).splitlines()
    header, rows = lines[1], lines[2:]
    assert header.split()[0] == "companies.zhipu.cash"
    assert [row.split()[:2] for row in rows] == [["2.00B", "zhipu"], ["25.0B", "zhipu"]]
    width = len("companies.zhipu.cash")
    assert rows[0][:width] == "2.00B".rjust(width)
    assert {row.index("zhipu") for row in rows} == {header.index("company")}  # names left-aligned


def test_a_sweep_without_quantiles_records_none():
    ds = sweep(SCENARIOS / "zhipu_base.toml", [f"{G}=0.5,1"], paths=100, seed=1, quantiles=False)
    with_them = sweep(SCENARIOS / "zhipu_base.toml", [f"{G}=0.5,1"], paths=100, seed=1)
    quantile_outputs = {name for name in with_them.data_vars if name.endswith("_quantile")}
    assert quantile_outputs and not quantile_outputs & set(ds.data_vars)


def test_the_progress_bar_of_a_sweep_counts_every_path_of_every_grid_point(monkeypatch):
    import tqdm.auto

    bars = []

    class Bar:
        def __init__(self, total, **kw):
            self.total, self.n, self.closed = total, 0, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    sweep(SCENARIOS / "zhipu_base.toml", [f"{G}=0.5,1,1.5"], paths=300, seed=1, block_size=64, quantiles=False,
          progress=True)
    assert [(bar.total, bar.n, bar.closed) for bar in bars] == [(900, 900, True)]


def test_the_grid_of_no_keys_is_the_scenario_itself():
    from simulator.studies.sweep import grid_thetas

    layout = build_layout(load_scenario(SCENARIOS / "zhipu_base.toml"))
    np.testing.assert_array_equal(grid_thetas(layout, layout.theta, []), layout.theta[None, :])


def test_the_sweep_table_shows_sixty_rows_and_counts_the_rest():
    ds = sweep(SCENARIOS / "zhipu_base.toml", [f"{G}=0.1:1.5:8", f"{IMPORTS}=0:700:8"], paths=50, seed=1,
               quantiles=False)
    lines = sweep_table(ds).splitlines()
    assert len(lines) == 2 + 60 + 1 and lines[-1] == "... (4 more rows in the file)"
    assert len(sweep_table(ds, max_rows=64).splitlines()) == 2 + 64
