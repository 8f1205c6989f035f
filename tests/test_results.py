"""The results Dataset: structure, units, intervals, quantile error bound, atomic writes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats

import simulator
from simulator.model import quantities as L
from simulator.results.outputs import OUTPUTS, QUANTILE_ERROR
from simulator.results.statistics import hist_quantiles, phi_interval, wilson_interval

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()  # per test: a mutation tool then sees every test that reads the builder's output
def portfolio_ds():
    sc = simulator.load_scenario(ROOT / "scenarios" / "sector_portfolio.toml")
    return simulator.run(sc, paths=4000, seed=2, keep_paths=10)


def test_every_variable_has_units_and_long_name(portfolio_ds):
    ds = portfolio_ds
    for name, var in ds.data_vars.items():
        assert name in OUTPUTS
        assert var.dims == OUTPUTS[name].dims
        assert var.attrs["long_name"]
        assert "units" in var.attrs
        assert "{currency}" not in var.attrs["units"]
    assert ds["valuation_quantile"].attrs["units"] == "CNY"
    assert ds["revenue_quantile"].attrs["units"] == "CNY/year"


def test_dimensions_and_coordinates(portfolio_ds):
    ds = portfolio_ds
    assert list(ds["outcome"].values) == ["champion", "contested", "collapse"]
    assert list(ds["bound"].values) == ["low", "high"]
    assert list(ds["company"].values) == ["zhipu", "minimax", "deepseek", "moonshot"]
    assert list(ds["horizon"].values) == [6, 12, 24, 36]
    assert ds.sizes["month"] == 37
    assert ds["path_valuation"].dtype == np.float32
    assert ds.sizes["path"] == 10
    assert "any_champion" in ds and "champion_count_probability" in ds


def test_provenance_attrs(portfolio_ds):
    attrs = portfolio_ds.attrs
    for key in ("scenario_text", "scenario_hash", "seed_entropy", "paths", "engine", "simulator_version",
                "created", "block_size", "currency"):
        assert key in attrs, key
    assert attrs["paths"] == 4000 and attrs["engine"] == "numba" and attrs["seed_entropy"] == "2"
    assert "[[companies]]" in attrs["scenario_text"]


def test_wilson_matches_scipy():
    for k, n in [(0, 10), (3, 10), (10, 10), (512, 1000), (1, 100000)]:
        ours = wilson_interval(k, n)
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        np.testing.assert_allclose(ours, [ref.low, ref.high], rtol=1e-12, atol=1e-15)
    assert np.isnan(wilson_interval(0, 0)).all()


def test_histogram_quantiles_within_one_bin_of_exact():
    """The documented error bound: one bin, relative for amounts, absolute otherwise."""
    rng = np.random.default_rng(4)
    n = 1_000_000
    samples = {
        L.VAR_VALUATION: np.exp(rng.normal(math.log(5e11), 1.5, n)),
        L.VAR_MARGIN: 1.0 - np.exp(rng.normal(-0.5, 0.6, n)),  # g = 1 - c/P < 1, as in the model
        L.VAR_NARRATIVE: rng.normal(1.0, 2.0, n),
    }
    levels = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    for var, x in samples.items():
        low, high = L.HIST_LOW[var], L.HIST_HIGH[var]
        vals = np.log10(x) if L.HIST_LOG10[var] else x
        j = np.clip(1 + ((vals - low) * ((L.HIST_BINS - 2) / (high - low))).astype(np.int64), 1, L.HIST_BINS - 2)
        j = np.where(vals < low, 0, np.where(vals >= high, L.HIST_BINS - 1, j))
        hist = np.bincount(j, minlength=L.HIST_BINS)
        got = hist_quantiles(hist, np.array([x.min(), x.max()]), levels, var)
        exact = np.quantile(x, levels)
        err = QUANTILE_ERROR[L.VAR_NAMES[var]]
        if L.HIST_LOG10[var]:
            assert np.all(np.abs(got / exact - 1.0) <= err), (got, exact)
        else:
            assert np.all(np.abs(got - exact) <= err), (got, exact)


def test_save_is_atomic_and_round_trips(tmp_path, portfolio_ds):
    out = tmp_path / "sub" / "run.nc"
    simulator.save_results(portfolio_ds, out)
    assert out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    back = simulator.open_results(out)
    xr.testing.assert_identical(back, portfolio_ds)


def test_failed_write_leaves_old_file(tmp_path, portfolio_ds, monkeypatch):
    out = tmp_path / "run.nc"
    simulator.save_results(portfolio_ds, out)
    before = out.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(RuntimeError):
        simulator.save_results(portfolio_ds, out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]


def test_table_mentions_every_company(portfolio_ds):
    text = portfolio_ds.sim.table()
    for company in portfolio_ds["company"].values:
        assert company in text
    assert "At least one champion" in text
    p, lo, hi = portfolio_ds.sim.outcome("zhipu", 36, "collapse")
    assert lo <= p <= hi


# --------------------------------------------------------------------------- joint outcomes, competition


@pytest.fixture(scope="module")
def competing_ds():
    """The portfolio sharing a 40B market with the platforms (MODEL.md step 9), kept paths included."""
    sc = simulator.load_scenario(ROOT / "scenarios" / "sector_portfolio.toml",
                                 overrides=["sector.competition.enabled=true", "sector.market_size=40e9"])
    return simulator.run(sc, paths=6000, seed=3, keep_paths=20)


def _bernoulli_pairs(rng, n: int, p1: float, p2: float, phi: float, reps: int):
    """Counts (both, first, second) of ``reps`` samples of ``n`` pairs of 0/1 outcomes with correlation ``phi``."""
    p11 = p1 * p2 + phi * math.sqrt(p1 * (1 - p1) * p2 * (1 - p2))
    cells = [p11, p1 - p11, p2 - p11, 1.0 - p1 - p2 + p11]
    counts = rng.multinomial(n, cells, size=reps)
    return counts[:, 0], counts[:, 0] + counts[:, 1], counts[:, 0] + counts[:, 2]


def test_phi_is_pearsons_correlation_of_the_indicators():
    rng = np.random.default_rng(8)
    a = rng.random(5000) < 0.2
    b = (rng.random(5000) < 0.5) & a | (rng.random(5000) < 0.1)
    phi, _ = phi_interval(np.sum(a & b), a.sum(), b.sum(), a.size)
    assert phi == pytest.approx(np.corrcoef(a, b)[0, 1], rel=1e-12)
    assert np.isnan(phi_interval(0, 0, 10, 100)[0])  # an outcome that never happens: undefined
    assert np.isnan(phi_interval(0, 9, 500, 20_000)[0])  # in fewer than 10 paths: not reported
    assert np.isfinite(phi_interval(0, 10, 500, 20_000)[0])


@pytest.mark.parametrize(("n", "p1", "p2", "phi"), [(2000, 0.3, 0.4, 0.25), (5000, 0.03, 0.05, 0.4),
                                                    (3000, 0.1, 0.6, -0.1)])
def test_phi_interval_covers_the_true_correlation(n, p1, p2, phi):
    """Over 800 samples the 95% interval covers the true phi 92-98% of the time (sd of the rate 0.8 point)."""
    both, first, second = _bernoulli_pairs(np.random.default_rng(21), n, p1, p2, phi, 800)
    _, ci = phi_interval(both, first, second, n)
    covered = np.mean((ci[:, 0] <= phi) & (phi <= ci[:, 1]))
    assert 0.92 <= covered <= 0.98, covered


def test_pair_counts_are_those_of_the_paths():
    """The kernels' counts of paths with both of a pair champions (collapse) equal those of the outcome codes."""
    from simulator.engines.dispatch import simulate
    from simulator.runner.prepared import prepare_run

    prepared = prepare_run(ROOT / "scenarios" / "sector_portfolio.toml", paths=3000, seed=4,
                           overrides=["companies.zhipu.valuation=20e9", "companies.deepseek.valuation=20e9"])
    tally = simulate(prepared.layout, prepared.plan, paths=3000, seed=prepared.seed, outcome_paths=3000)
    codes = tally.path_outcome[0]  # (path, company, horizon)
    for kind, code in enumerate((L.CHAMPION, L.COLLAPSE)):
        hit = codes == code
        both = np.einsum("pch,pdh->hcd", hit.astype(np.int64), hit.astype(np.int64))
        np.testing.assert_array_equal(tally.pairs[0, :, kind], np.triu(both, k=1))
    assert tally.pairs[0, -1, 0].sum() > 0  # some pairs are both champions


def test_joint_outcome_and_competition_outputs(competing_ds):
    ds = competing_ds
    for name in ("champion_count_probability_ci", "champion_correlation", "champion_correlation_ci",
                 "collapse_correlation", "collapse_correlation_ci", "market_share_quantile",
                 "platform_share_quantile", "market_quantile", "path_market", "required_revenue_reached",
                 "required_revenue_reached_ci"):
        assert ds[name].dims == OUTPUTS[name].dims, name
        assert ds[name].attrs["long_name"] and "{currency}" not in ds[name].attrs["units"]
    assert ds["market_quantile"].attrs["units"] == ds["path_market"].attrs["units"] == "CNY/year"
    p = ds["champion_count_probability"]
    ci = ds["champion_count_probability_ci"]
    assert bool(((ci.sel(bound="low") <= p) & (p <= ci.sel(bound="high"))).all())
    for kind in ("champion", "collapse"):
        r = ds[f"{kind}_correlation"].values
        np.testing.assert_array_equal(r, np.swapaxes(r, -1, -2))
        diagonal = np.diagonal(r, axis1=-2, axis2=-1)
        assert np.all(np.isnan(diagonal) | (diagonal == 1.0))
    assert np.isfinite(ds["collapse_correlation"].sel(horizon=36, company="zhipu", rival="minimax"))
    # At start each company holds its revenue's share of the market, and the platforms the rest.
    revenue = ds["revenue_start"].values
    np.testing.assert_allclose(ds["market_share_quantile"].sel(month=0).values,
                               np.repeat((revenue / 40e9)[:, None], ds.sizes["quantile"], axis=1), rtol=1e-2)
    np.testing.assert_allclose(ds["platform_share_quantile"].sel(month=0), 1 - revenue.sum() / 40e9, rtol=1e-2)
    np.testing.assert_allclose(ds["path_market"].sel(month=0), 40e9, rtol=1e-7)
    assert bool((ds["market_share_quantile"].diff("quantile") >= 0).all())
    reached = ds["required_revenue_reached"]
    assert bool((reached <= ds["survival"].sel(month=ds["horizon"].values).rename(month="horizon")).all())
    text = ds.sim.table()
    for fragment in ("Exactly k champions", "Correlation of outcomes", "Market shares (competition on)",
                     "platforms", "required_revenue"):
        assert fragment in text


def test_writes_create_missing_folders_and_respect_the_umask(tmp_path, portfolio_ds, monkeypatch):
    """Results and text go through the same atomic write: any depth of new folders, the umask's
    mode, a hidden temporary file beside the target (a rename within one folder is atomic)."""
    import os
    import stat

    from simulator.results.files import write_text_atomic

    temporaries = []
    to_netcdf = xr.Dataset.to_netcdf

    def spy(ds, path, *args, **kwargs):
        temporaries.append(Path(path))
        return to_netcdf(ds, path, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", spy)
    for umask, mode in ((0o022, 0o644), (0o077, 0o600)):
        old = os.umask(umask)
        try:
            nc = simulator.save_results(portfolio_ds, tmp_path / f"{umask}" / "b" / "run.nc")
            md = write_text_atomic(tmp_path / f"{umask}" / "d" / "report.md", "Zhipu 智谱: 700B CNY\n")
        finally:
            os.umask(old)
        assert stat.S_IMODE(nc.stat().st_mode) == mode and stat.S_IMODE(md.stat().st_mode) == mode
    tmp = temporaries[-1]
    assert tmp.parent == nc.parent and tmp.name.startswith(".run.nc.") and tmp.name.endswith(".tmp"), tmp
    assert md.read_bytes() == "Zhipu 智谱: 700B CNY\n".encode()
    xr.testing.assert_identical(simulator.open_results(nc), portfolio_ds)
    assert sorted(p.name for p in md.parent.iterdir()) == ["report.md"]  # no temporary file left
    assert sorted(p.name for p in nc.parent.iterdir()) == ["run.nc"]
