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
from simulator.results.statistics import hist_quantiles, wilson_interval

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


def test_writes_create_missing_folders_and_respect_the_umask(tmp_path, portfolio_ds, monkeypatch):
    """Results and text go through the same atomic write: any depth of new folders, the umask's
    mode, a hidden temporary file beside the target (a rename within one folder is atomic)."""
    import os
    import stat

    from simulator.results.io import write_text_atomic

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
