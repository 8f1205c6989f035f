"""Uncertain assumptions: distribution tables, copula, per-path draws, attribution.

Statistical checks use a family-wise error rate of ALPHA over the checks of each test
(Bonferroni), with a power check where a test says "no effect beyond noise".
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from test_precision_calibration import FROZEN  # the closed-form one-company scenario

import simulator
from simulator.cli import main
from simulator.engines.input_draws import recorded_draws
from simulator.engines.streams import UNCERTAIN_STREAM, normalise_seed
from simulator.errors import ScenarioError
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import parse_scenario, with_overrides
from simulator.results.outputs import QUANTILE_ERROR
from simulator.studies.attribution import attribute

BASE = """
[scenario]
name = "unc"
horizon_months = 12
horizons = [6, 12]
seed = 11

[[companies]]
name = "a"
revenue = 1e9
valuation = 1e10
cash = 1e9
"""

N_DRAWS = 200_000
ALPHA = 1e-3
POWER_Z = float(stats.norm.ppf(0.99))  # an effect this many standard errors past the critical value is seen 99% of the time


def _z(k: int) -> float:
    """Two-sided normal critical value for a family of k checks at level ALPHA."""
    return float(stats.norm.ppf(1.0 - ALPHA / (2.0 * k)))


def _one(key: str, table: str, *, extra: str = ""):
    """A scenario whose company key ``key`` (e.g. growth.long_run) is the distribution ``table``."""
    section, _, leaf = key.rpartition(".")
    if section:
        text = BASE + f"[companies.{section}]\n{leaf} = {table}\n"
    else:
        text = "\n".join(f"{leaf} = {table}" if line.startswith(f"{leaf} =") else line
                         for line in BASE.splitlines()) + f"\n{leaf} = {table}\n" * (f"\n{leaf} =" not in BASE)
    text += extra
    return parse_scenario(text, source="unc.toml")


def _draws(sc, n=N_DRAWS, seed=3):
    return recorded_draws(sc.uncertain, normalise_seed(seed), n, block_size=4096)


CASES = [
    ("growth.long_run", '{dist = "uniform", low = 0.1, high = 0.6}', stats.uniform(0.1, 0.5)),
    ("cash", '{dist = "loguniform", low = 1e8, high = 1e10}', stats.loguniform(1e8, 1e10)),
    ("growth.long_run", '{dist = "normal", mean = 0.3, sd = 0.05}', stats.norm(0.3, 0.05)),
    ("growth.kappa", '{dist = "normal", mean = 0.3, sd = 0.2, low = 0.0}',
     stats.truncnorm(-1.5, np.inf, loc=0.3, scale=0.2)),
    ("growth.kappa", '{dist = "truncnormal", mean = 0.5, sd = 0.4, low = 0.2, high = 1.0}',
     stats.truncnorm(-0.75, 1.25, loc=0.5, scale=0.4)),
    ("cash", '{dist = "lognormal", median = 1e9, sigma = 0.5}', stats.lognorm(0.5, scale=1e9)),
    ("cash", '{dist = "lognormal", mean = 2e9, sd = 1e9}',
     stats.lognorm(math.sqrt(math.log1p(0.25)), scale=2e9 * math.exp(-0.5 * math.log1p(0.25)))),
    ("growth.long_run", '{dist = "triangular", low = 0.0, mode = 0.1, high = 0.5}',
     stats.triang(0.2, loc=0.0, scale=0.5)),
    ("funding.backstop_probability", '{dist = "beta", alpha = 2, beta = 5}', stats.beta(2, 5)),
    ("growth.initial", '{dist = "beta", alpha = 0.5, beta = 0.5, low = 1.0, high = 3.0}',
     stats.beta(0.5, 0.5, loc=1.0, scale=2.0)),
    ("growth.initial", '{dist = "pert", low = 0.5, mode = 1.0, high = 3.0}',
     stats.beta(1 + 4 * 0.5 / 2.5, 1 + 4 * 2.0 / 2.5, loc=0.5, scale=2.5)),
    ("growth.initial", '{dist = "pert", low = 0.5, mode = 1.0, high = 3.0, shape = 8}',
     stats.beta(1 + 8 * 0.5 / 2.5, 1 + 8 * 2.0 / 2.5, loc=0.5, scale=2.5)),
]


@pytest.mark.parametrize(("key", "table", "ref"), CASES, ids=[f"{c[0]}:{c[1][8:20]}" for c in CASES])
def test_sample_moments_match_scipy(key, table, ref):
    sc = _one(key, table)
    x = _draws(sc)[:, 0]
    n = x.size
    mean, var = ref.stats(moments="mv")
    kurt = float(ref.stats(moments="k"))
    # Three checks at a family-wise ALPHA: the mean's standard error is sd / sqrt(n), the variance's
    # sd^2 sqrt((excess kurtosis + 2) / n).
    assert abs(x.mean() - mean) <= _z(3) * math.sqrt(var / n), (x.mean(), mean)
    assert abs(x.var(ddof=1) - var) <= _z(3) * var * math.sqrt((kurt + 2.0) / n), (x.var(), var)
    assert stats.kstest(x, ref.cdf).pvalue > ALPHA / 3
    # The validated scenario holds the median.
    spec = sc.uncertain.inputs[0]
    assert spec.median == pytest.approx(float(ref.median()), rel=1e-9, abs=1e-12)
    assert build_layout(sc).theta[build_layout(sc).slots(spec.path)[0]] == pytest.approx(spec.median)


def test_copula_rank_correlations():
    text = BASE + """
[companies.growth]
initial = { dist = "pert", low = 0.5, mode = 1.0, high = 3.0 }
long_run = { dist = "uniform", low = 0.1, high = 0.6 }
kappa = { dist = "lognormal", median = 0.5, sigma = 0.5, high = 10 }

[[correlations]]
a = "companies.a.growth.initial"
b = "companies.a.growth.long_run"
rho = 0.6

[[correlations]]
a = "companies.a.growth.kappa"
b = "companies.a.growth.long_run"
rho = -0.3
"""
    sc = parse_scenario(text, source="c.toml")
    x = _draws(sc, n=100_000)
    rho = stats.spearmanr(x).statistic
    want = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 1.0]])
    # Fisher's z of a Spearman coefficient has standard error sqrt(1.06 / (n - 3)) (Fieller et al.
    # 1957); three coefficients and a marginal check at a family-wise ALPHA.
    se = math.sqrt(1.06 / (x.shape[0] - 3))
    pairs = np.triu_indices(3, 1)
    err = np.abs(np.arctanh(rho[pairs]) - np.arctanh(want[pairs]))
    assert np.all(err <= _z(4) * se), (rho, want)
    # Power: the Pearson correlation of the Gaussian copula, had it not been converted to the rank
    # correlation asked for (6 / pi arcsin(rho / 2)), would be seen.
    assert abs(np.arctanh(6 / math.pi * math.asin(0.3)) - np.arctanh(0.6)) > (_z(4) + POWER_Z) * se
    # Marginals are untouched by the copula.
    assert stats.kstest(x[:, 1], stats.uniform(0.1, 0.5).cdf).pvalue > ALPHA / 4


def test_non_psd_correlations_rejected(tmp_path, capsys):
    text = BASE + """
[companies.growth]
initial = { dist = "uniform", low = 0.5, high = 3.0 }
long_run = { dist = "uniform", low = 0.1, high = 0.6 }
kappa = { dist = "uniform", low = 0.1, high = 1.0 }

[[correlations]]
a = "companies.a.growth.initial"
b = "companies.a.growth.long_run"
rho = 0.9

[[correlations]]
a = "companies.a.growth.long_run"
b = "companies.a.growth.kappa"
rho = 0.9

[[correlations]]
a = "companies.a.growth.initial"
b = "companies.a.growth.kappa"
rho = -0.9
"""
    with pytest.raises(ScenarioError, match="not positive semi-definite"):
        parse_scenario(text, source="c.toml")
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "positive semi-definite" in err and "c.toml" in err


@pytest.mark.parametrize(("key", "table", "message"), [
    ("growth.kappa", '{dist = "normal", mean = 0.3, sd = 0.2}', "outside the allowed range (>= 0"),
    ("growth.kappa", '{dist = "gamma", shape = 2}', "dist must be one of"),
    ("growth.kappa", '{dist = "uniform", low = 0.5}', "missing: high"),
    ("growth.kappa", '{dist = "uniform", low = 0.5, high = 0.1}', "low (0.5) must be below high (0.1)"),
    ("growth.kappa", '{dist = "uniform", low = 0.5, high = "x"}', "must be a finite number"),
    ("growth.kappa", '{dist = "triangular", low = 0, mode = 2, high = 1}', "mode (2) must lie"),
    ("growth.kappa", '{dist = "lognormal", median = 1, sd = 1}', "median and sigma"),
    ("chips.enabled", '{dist = "uniform", low = 0, high = 1}', "a switch"),
])
def test_bad_distribution_tables_are_one_line_errors(key, table, message):
    with pytest.raises(ScenarioError) as info:
        _one(key, table)
    text = str(info.value)
    assert "\n" not in text and message in text and "unc.toml" in text
    assert f"companies.a.{key}" in text


def test_non_model_keys_cannot_be_uncertain():
    text = BASE.replace("horizon_months = 12", 'horizon_months = { dist = "uniform", low = 6, high = 12 }')
    with pytest.raises(ScenarioError, match=r"scenario\.horizon_months .*only numeric model keys"):
        parse_scenario(text, source="unc.toml")
    # The market size is a model parameter since competition (MODEL.md step 9); its switch is no number.
    assert parse_scenario(BASE + '[sector]\nmarket_size = { dist = "uniform", low = 1, high = 2 }\n',
                          source="unc.toml").uncertain.names == ("sector.market_size",)
    with pytest.raises(ScenarioError, match=r"sector\.competition\.enabled: a switch"):
        parse_scenario(BASE + '[sector.competition]\nenabled = { dist = "uniform", low = 0, high = 1 }\n',
                       source="unc.toml")


def test_correlation_errors():
    head = BASE + '[companies.growth]\nlong_run = { dist = "uniform", low = 0.1, high = 0.6 }\n'
    for corr, message in [
        ('a = "companies.a.growth.long_run"\nb = "companies.a.growth.kappa"\nrho = 0.5', "not an uncertain input"),
        ('a = "companies.a.growth.long_run"\nb = "companies.a.growth.long_run"\nrho = 0.5', "the same key"),
        ('a = "companies.a.growth.long_run"\nb = "x"\nrho = 1.5', "rho = 1.5: out of range"),
    ]:
        with pytest.raises(ScenarioError, match=message):
            parse_scenario(head + "[[correlations]]\n" + corr + "\n", source="c.toml")


def test_event_keys_and_overrides():
    text = BASE + """
[[sector.events]]
name = "ban"
hazard_per_year = { dist = "uniform", low = 0.2, high = 1.0 }
import_cut = [0.3, { dist = "uniform", low = 0.5, high = 0.9 }]

[[companies.events]]
name = "release"
hazard_per_year = 2.0
outcomes = [
  { name = "hit", probability = 0.5, narrative = { mean = { dist = "normal", mean = 0.5, sd = 0.1 }, sd = 0.2 } },
  { name = "flop", probability = 0.5 },
]
"""
    sc = parse_scenario(text, source="e.toml")
    names = sc.uncertain.names
    # In the order of the file.
    assert names == ("companies.a.events.release.outcomes.hit.narrative.mean",
                     "sector.events.ban.hazard_per_year", "sector.events.ban.import_cut.high")
    layout = build_layout(sc)
    for name in names:
        layout.slots(name)  # every uncertain key is a model parameter
    assert sc.sector.events[0].import_cut == (0.3, pytest.approx(0.7))
    # Overrides: a number pins a key, a table makes one uncertain, other keys keep theirs.
    pinned = with_overrides(sc, ["sector.events.ban.hazard_per_year=0.5"])
    assert "sector.events.ban.hazard_per_year" not in pinned.uncertain.names
    assert pinned.sector.events[0].hazard_per_year == 0.5
    more = with_overrides(sc, ['companies.a.cash={dist="uniform", low=1e8, high=1e9}'])
    assert more.uncertain.names == (*names, "companies.a.cash")
    assert more.companies[0].cash == pytest.approx(5.5e8)
    assert with_overrides(sc, ["companies.a.revenue=2e9"]).uncertain == sc.uncertain


def _toy_text() -> str:
    return BASE.replace("cash = 1e9", "cash = 1e13") + """
[companies.growth]
initial = { dist = "uniform", low = -0.4, high = 0.6 }
kappa = 0.0
sigma_growth = 0.0
sigma_revenue = 0.2

[companies.chips]
enabled = false

[companies.valuation_model]
base_multiple = 10.0
growth_sensitivity = 0.0
exit_multiple = { dist = "uniform", low = 5, high = 30 }
"""


def _toy_uncertain():
    return parse_scenario(_toy_text(), source="toy.toml")


def test_run_draws_per_path_and_records_them():
    sc = _toy_uncertain()
    ds1 = simulator.run(sc, paths=10_000, threads=1)
    ds2 = simulator.run(sc, paths=10_000, threads=2)
    for name in ("probability", "input_draw", "path_outcome", "valuation_quantile"):
        np.testing.assert_array_equal(ds1[name].values, ds2[name].values)
    assert ds1["input_draw"].shape == (10_000, 2)
    assert "companies.a.growth.initial" in ds1.attrs["uncertain_inputs"]
    # The draws come from the block's own stream: regenerate block 1 by hand.
    root = normalise_seed(sc.scenario.seed)
    gen = np.random.Generator(np.random.SFC64(np.random.SeedSequence(
        root.entropy, spawn_key=(*root.spawn_key, 1, UNCERTAIN_STREAM))))
    u = stats.norm.cdf(gen.standard_normal((4096, 2)))
    np.testing.assert_allclose(ds1["input_draw"].values[4096:8192, 0], -0.4 + u[:, 0], atol=1e-12)
    # Per-path growth drives the outcome: P(champion) is higher on the paths that drew a high
    # growth (one-sided two-proportion test at ALPHA).
    g = ds1["input_draw"].values[:, 0]
    champ = ds1["path_outcome"].values[:, 0, -1] == 0
    high, low = champ[g > 0.3], champ[g < -0.1]
    pooled = np.concatenate([high, low]).mean()
    se = math.sqrt(pooled * (1 - pooled) * (1 / high.size + 1 / low.size))
    assert high.mean() - low.mean() > stats.norm.ppf(1 - ALPHA) * se
    # Revenue at month 12 in closed form (chips off, cash unlimited): log R = log R0 + mu - sigma_r^2 / 2
    # - elasticity (price_drift + price_sigma W') + sigma_r W, with mu the path's own draw, uniform on
    # [-0.4, 0.6]; and the median run's (mu = 0.1).  Both runs' quantiles against the exact ones
    # (sampling error of a quantile plus the histogram's one bin), 3 levels each.
    fixed = simulator.run(with_overrides(sc, ["companies.a.growth.initial=0.1"]), paths=10_000)
    pricing = sc.companies[0].pricing
    centre = math.log(1e9) - 0.2**2 / 2 - pricing.elasticity * pricing.price_drift
    s = math.hypot(0.2, pricing.elasticity * pricing.price_sigma)
    lo, hi = -0.4, 0.6

    def cdf_uncertain(x):
        # E_mu Phi((x - centre - mu) / s) for mu uniform: (s / (hi - lo)) [G(u_lo) - G(u_hi)], G(u) = u Phi(u) + phi(u).
        u_lo, u_hi = (x - centre - lo) / s, (x - centre - hi) / s
        gg = lambda u: u * stats.norm.cdf(u) + stats.norm.pdf(u)  # noqa: E731
        return s / (hi - lo) * (gg(u_lo) - gg(u_hi))

    from scipy.optimize import brentq

    bin_err = math.log1p(QUANTILE_ERROR["revenue"])
    z = _z(6)
    for ds, cdf in ((ds1, cdf_uncertain), (fixed, lambda x: stats.norm.cdf(x, centre + 0.1, s))):
        for q in (0.05, 0.5, 0.95):
            exact = brentq(lambda x, q=q, cdf=cdf: cdf(x) - q, centre - 5, centre + 5, xtol=1e-12)
            density = (cdf(exact + 1e-5) - cdf(exact - 1e-5)) / 2e-5
            se = math.sqrt(q * (1 - q) / 10_000) / density
            got = math.log(float(ds["revenue_quantile"].sel(month=12, company="a", quantile=q)))
            assert abs(got - exact) <= z * se + bin_err, (q, got, exact, se)


def test_numpy_engine_draws_the_same_inputs():
    sc = _toy_uncertain()
    a = simulator.run(sc, paths=1500, engine="numba")
    b = simulator.run(sc, paths=1500, engine="numpy")
    np.testing.assert_array_equal(a["input_draw"].values, b["input_draw"].values)
    pa = a["probability"].sel(company="a", horizon=12, outcome="champion").item()
    pb = b["probability"].sel(company="a", horizon=12, outcome="champion").item()
    pooled = (pa + pb) / 2
    assert abs(pa - pb) <= _z(1) * math.sqrt(pooled * (1 - pooled) * 2 / 1500)


def test_attribute_ranks_the_driver(tmp_path, capsys):
    sc = _toy_uncertain()
    ds = simulator.run(sc, paths=20_000)
    att = attribute(ds["input_draw"].values, ds["path_outcome"].values, inputs=list(ds["input"].values),
                    companies=["a"], horizons=[6, 12])
    champ = att["median_shift"].sel(company="a", horizon=12, outcome="champion")
    # The driver's shift is significant (its 95% interval, rescaled to a family-wise ALPHA over the
    # three checks, excludes 0, on the right side); the exit multiple, which cannot move an outcome,
    # shows no shift beyond noise, and the test could see one of 0.08 (power 99%).
    def interval(outcome, key):
        lo, hi = att["median_shift_ci"].sel(company="a", horizon=12, outcome=outcome, input=key).values
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * _z(3) / stats.norm.ppf(0.975)
        return mid - half, mid + half

    growth, exit_m = "companies.a.growth.initial", "companies.a.valuation_model.exit_multiple"
    assert interval("champion", growth)[0] > 0 and interval("collapse", growth)[1] < 0
    lo, hi = interval("champion", exit_m)
    assert lo <= 0.0 <= hi
    assert (hi - lo) / 2 * (1 + POWER_Z / _z(3)) < 0.08
    assert float(champ.sel(input=growth)) > 0.25  # the closed form's size: growth decides most outcomes
    # The command line: from a saved run, no re-run.
    path = tmp_path / "r.nc"
    simulator.save_results(ds, path)
    assert main(["attribute", str(path), "--output", "a.champion@12", "--out", str(tmp_path / "att.nc")]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("companies.")]
    assert lines[0].startswith("companies.a.growth.initial")
    assert (tmp_path / "att.nc").exists()


# --------------------------------------------------------------------------- every engine caller


def _same(a, b) -> None:
    a, b = a.copy(), b.copy()
    for ds in (a, b):
        ds.attrs.pop("created", None)
    xr.testing.assert_identical(a, b)


@pytest.fixture(scope="module")
def dask_client_1():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_distributed_run_with_distributions_is_bit_identical(dask_client_1, monkeypatch):
    from simulator.runner import distributed as D

    sc = _toy_uncertain()
    kw = {"paths": 5000, "block_size": 512, "keep_paths": 1200}
    local = simulator.run(sc, **kw)
    assert "input_draw" in local and int((local["path_outcome"] < 0).sum()) == 0
    _same(local, simulator.run(sc, client=dask_client_1, **kw))
    # Groups of one block each, kept paths past the first group: their outcomes are
    # recorded in a second pass, and the result is still the same.
    monkeypatch.setattr(D, "KEPT_TASK_BYTES", 1)
    _same(local, D.run_grouped(sc, blocks_per_task=1, **kw))


def test_batch_with_distributions_equals_run_and_tracks_them(tmp_path):
    from simulator.runner.distributed import prepare_job, run_jobs, simulate_group
    from simulator.studies.batch import load_checkpoint, save_checkpoint

    path = tmp_path / "toy.toml"
    path.write_text(_toy_text(), encoding="utf-8")
    out = tmp_path / "out"
    argv = ["batch", str(path), "--out", str(out), "--paths", "3000", "--block-size", "1024", "--quiet"]
    assert main(argv) == 0
    ref = tmp_path / "ref.nc"
    simulator.save_results(simulator.run(path, paths=3000, block_size=1024), ref)
    _same(simulator.open_results(out / "unc.nc"), simulator.open_results(ref))
    assert main(argv) == 0
    assert " skipped unc " in (out / "batch.log").read_text()
    # Another distribution with the same median (so the same scenario hash) is not up to date.
    path.write_text(_toy_text().replace("low = -0.4, high = 0.6", "low = -0.9, high = 1.1"), encoding="utf-8")
    assert main(argv) == 0
    assert (out / "batch.log").read_text().count(" done unc ") == 2
    assert simulator.open_results(out / "unc.nc").attrs["uncertain_inputs"] != \
        simulator.open_results(ref).attrs["uncertain_inputs"]
    # A checkpoint keeps the recorded outcomes of the groups already done.
    sc = _toy_uncertain()
    job = prepare_job(sc, paths=3000, block_size=1024)
    job.start()
    group = job.pending_groups(1)[0]
    job.absorb(group, simulate_group(job.layout, job.plan, **job.task_kwargs(group)))
    save_checkpoint(tmp_path / "tally.npz", job)
    resumed = prepare_job(sc, paths=3000, block_size=1024)
    assert load_checkpoint(tmp_path / "tally.npz", resumed)
    resumed.start()
    run_jobs([resumed], blocks_per_task=1)
    _same(resumed.grouped_dataset(), simulator.run(sc, paths=3000, block_size=1024))


def test_precision_run_draws_the_distributions(monkeypatch):
    from simulator.results.targets import parse_target
    from simulator.studies import precision
    from simulator.studies.precision import run_to_precision

    sc = _toy_uncertain()
    pilots = []
    real = precision.simulate
    monkeypatch.setattr(precision, "simulate", lambda *a, **k: pilots.append(k) or real(*a, **k))
    ds = run_to_precision(sc, precision=0.03, targets=[parse_target("a.champion@12", sc)], seed=4,
                          pilot_paths=1024, max_paths=20_000)
    assert len(pilots) == 1 and pilots[0]["uncertain"] is not None
    assert ds.attrs["precision_met"] == 1 and "input_draw" in ds
    plain = simulator.run(sc, paths=ds.attrs["paths"], seed=4)
    np.testing.assert_array_equal(ds["outcome_count"].values, plain["outcome_count"].values)
    np.testing.assert_array_equal(ds["path_outcome"].values, plain["path_outcome"].values)


# The frozen one-company model of tests/test_precision_calibration.py: P(champion at 12)
# is P(V_12 >= V0) = P_up(mu, sigma) in closed form; here sigma_revenue is uncertain.
_FROZEN_UNC = (FROZEN.replace("paths = 4000\n", "")
               .replace("long_run = 0.10\n", "long_run = 0.0\n", 1)
               .replace("sigma_revenue = 0.5\n", 'sigma_revenue = { dist = "uniform", low = 0.1, high = 1.5 }\n'))
assert _FROZEN_UNC.count("dist =") == 1 and "long_run = 0.0\n" in _FROZEN_UNC


def _p_up(mu: float, sigma: float) -> float:
    return float(stats.norm.sf(0.0, loc=mu - sigma**2 / 2, scale=sigma))


def test_calibration_draws_the_other_uncertain_keys():
    from scipy import integrate

    from simulator.results.targets import Target
    from simulator.studies.calibrate import Evaluator, ParamRange, calibrate

    sc = parse_scenario(_FROZEN_UNC, source="frozen.toml")
    growth = ParamRange("companies.solo.growth.initial", -0.5, 1.0)
    # An evaluation at the scenario's own value is exactly simulator.run.
    target = Target("solo", "champion", 12, None)
    ev = Evaluator(sc, [growth], 3000, normalise_seed(5))
    est, _ = ev.estimates([[0.10]], [target])
    ds = simulator.run(sc, paths=3000, seed=5)
    assert est[0, 0] == float(ds["probability"].sel(company="solo", horizon=12, outcome="champion"))
    # The target is P_up at mu = 0.3 averaged over sigma ~ U(0.1, 1.5); at the median
    # sigma (0.8) the same target would need mu = 0.405.
    goal = integrate.quad(lambda s: _p_up(0.3, s) / 1.4, 0.1, 1.5)[0]
    result = calibrate(sc, [Target("solo", "champion", 12, goal)], [growth], paths=8000, seed=2, replicates=4)
    # A t test over the 5 seeds at ALPHA; it would reject the median-sigma answer (0.405).
    tq = stats.t.ppf(1 - ALPHA / 2, df=len(result.per_seed) - 1)
    se = result.standard_error[0]
    assert abs(result.value[0] - 0.3) <= tq * se, result.per_seed
    assert abs(0.405 - 0.3) > (tq + POWER_Z) * se


def test_calibrating_an_uncertain_key_is_a_one_line_error(tmp_path, capsys):
    from simulator.errors import UserError
    from simulator.results.targets import Target
    from simulator.studies.calibrate import ParamRange, calibrate, implied_value, parse_param_range

    sc = parse_scenario(_FROZEN_UNC, source="frozen.toml")
    key = "companies.solo.growth.sigma_revenue"
    with pytest.raises(UserError, match=f"--param {key}: the scenario gives this key as a distribution"):
        parse_param_range(f"{key}=0.1:1.5", sc)
    with pytest.raises(UserError, match=key):
        calibrate(sc, [Target("solo", "champion", 12, 0.5)], [ParamRange(key, 0.1, 1.5)], paths=100)
    with pytest.raises(UserError, match=key):
        implied_value(sc, "solo", ParamRange(key, 0.1, 1.5), paths=100)
    path = tmp_path / "frozen.toml"
    path.write_text(_FROZEN_UNC, encoding="utf-8")
    for argv in (["calibrate", str(path), "--target", "solo.champion@12=0.5", "--param", f"{key}=0.1:1.5"],
                 ["implied", str(path), "--param", key, "--range", "0.1:1.5"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and key in err and "distribution" in err, err


def test_compare_pairs_runs_with_the_same_distributions():
    from simulator.studies.compare import compare

    sc = _toy_uncertain()
    a = simulator.run(sc, paths=2000, seed=4)
    diff = compare(a, a)
    assert diff.attrs["paired"] == 1 and float(np.abs(diff["probability_difference"]).max()) == 0.0
    wider = with_overrides(sc, ['companies.a.growth.initial={dist="uniform", low=-0.9, high=1.1}'])
    b = simulator.run(wider, paths=2000, seed=4)
    assert compare(a, b).attrs["pairing"] == "unpaired: different uncertain inputs (keys given as distributions)"


def test_attribution_is_the_median_shift_in_standard_deviations_computed_here():
    """Every median shift, its order-statistic interval, the subset medians and shares, recomputed with numpy
    from the draws and outcome codes: an outcome no path has gives NaN (and the outcomes after it are still
    computed), an input that does not vary has no scale (NaN)."""
    rng = np.random.default_rng(1)
    n = 500
    draws = rng.normal(size=(n, 3))
    draws[:, 2] = 5.0  # constant
    outcomes = np.zeros((n, 2, 2), dtype=np.int8)
    outcomes[:, 0, 0] = np.where(draws[:, 0] > 0.5, 2, np.where(draws[:, 0] < -0.5, 0, 1))
    outcomes[:, 0, 1] = np.where(draws[:, 1] > 0.0, 0, 1)  # no collapse at all
    outcomes[:, 1, :] = rng.integers(0, 3, size=(n, 2))
    ds = attribute(draws, outcomes, inputs=list("abc"), companies=["x", "y"], horizons=[12, 24])
    z = stats.norm.ppf(0.975)
    med_all, sd_all = np.median(draws, axis=0), draws.std(axis=0, ddof=1)
    np.testing.assert_array_equal(ds["input_median"].values, med_all)
    np.testing.assert_array_equal(ds["input_sd"].values, sd_all)
    for c in range(2):
        for h in range(2):
            for o in range(3):
                mask = outcomes[:, c, h] == o
                at = {"company": ["x", "y"][c], "horizon": [12, 24][h],
                      "outcome": ("champion", "contested", "collapse")[o]}
                assert float(ds["subset_share"].sel(**at)) == mask.mean()
                for j in range(3):
                    got = float(ds["median_shift"].sel(input="abc"[j], **at))
                    ci = ds["median_shift_ci"].sel(input="abc"[j], **at).values
                    if not mask.any() or sd_all[j] == 0:
                        assert math.isnan(got) and np.isnan(ci).all()
                        continue
                    sub = np.sort(draws[mask, j])
                    m = sub.size
                    half = 0.5 * z * math.sqrt(m)
                    lo, hi = sub[max(0, math.floor(m / 2 - half))], sub[min(m - 1, math.ceil(m / 2 + half))]
                    assert float(ds["subset_median"].sel(input="abc"[j], **at)) == np.median(sub)
                    np.testing.assert_allclose([got, *ci], [(np.median(sub) - med_all[j]) / sd_all[j],
                                                            (lo - med_all[j]) / sd_all[j],
                                                            (hi - med_all[j]) / sd_all[j]], rtol=1e-14)
    assert ds.attrs == {"method": "median shift in standard deviations (@RISK scenario analysis)", "paths": n}
    assert ds["bound"].values.tolist() == ["low", "high"] and ds["horizon"].dtype == np.int64
    assert ds["median_shift"].attrs["units"] == "1"

