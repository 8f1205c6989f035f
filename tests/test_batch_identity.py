"""The two fields of a result's identity that tests/test_batch.py's command-line cases cannot reach:
the seed's spawn key (a SeedSequence given to the Python API) and the Zarr store of the kept paths.

Each change must make the stored result stale (recomputed, and the new file records it); the
same call again must find it up to date.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import xarray as xr

import simulator
from simulator.studies.batch import run_batch

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _scenario(folder: Path) -> Path:
    text = (SCENARIOS / "zhipu_base.toml").read_text(encoding="utf-8")
    path = folder / "zhipu_base.toml"
    path.write_text(re.sub(r"^paths = .*$", "paths = 2000", text, count=1, flags=re.M), encoding="utf-8")
    return path


def _batch(source: Path, out: Path, **kw):
    return run_batch([source], out, echo=lambda _text: None, progress=False, **kw)


def test_another_spawn_key_of_the_same_seed_makes_the_result_stale(tmp_path):
    source, out = _scenario(tmp_path), tmp_path / "out"
    first = _batch(source, out, seed=np.random.SeedSequence(1))
    assert first.computed == ["zhipu_base"]
    child = np.random.SeedSequence(1, spawn_key=(3,))
    second = _batch(source, out, seed=child)
    assert second.computed == ["zhipu_base"], "another spawn key of seed 1 kept the old result"
    attrs = simulator.open_results(out / "zhipu_base.nc").attrs
    assert attrs["seed_entropy"] == "1" and "3" in str(attrs["seed_spawn_key"])
    assert _batch(source, out, seed=np.random.SeedSequence(1, spawn_key=(3,))).skipped == ["zhipu_base"]


def test_another_zarr_store_for_the_kept_paths_makes_the_result_stale(tmp_path):
    source, out = _scenario(tmp_path), tmp_path / "out"
    kw = {"seed": 1, "keep_paths": 10}
    assert _batch(source, out, zarr=tmp_path / "a", **kw).computed == ["zhipu_base"]
    assert _batch(source, out, zarr=tmp_path / "a", **kw).skipped == ["zhipu_base"]
    again = _batch(source, out, zarr=tmp_path / "b", **kw)
    assert again.computed == ["zhipu_base"], "kept paths written elsewhere, yet the old result was kept"
    attrs = simulator.open_results(out / "zhipu_base.nc").attrs
    assert str(tmp_path / "b") in attrs["kept_paths_zarr"]
    assert (tmp_path / "b" / "zhipu_base.zarr").is_dir()


def _same(a, b) -> None:
    a, b = a.copy(), b.copy()
    for ds in (a, b):
        ds.attrs.pop("created", None)
    xr.testing.assert_identical(a, b)


def test_a_checkpoint_with_kept_paths_resumes_to_the_uninterrupted_result(tmp_path):
    """In process (the batch's own resume test kills a child process): the first group of blocks,
    checkpointed with its kept paths, resumed by a new job, equals the plain run; a checkpoint of
    another seed, or without the kept paths the job wants, is not resumed."""
    from simulator.runner.distributed import prepare_job, run_jobs, simulate_group
    from simulator.studies.batch import load_checkpoint, save_checkpoint

    sc = simulator.load_scenario(SCENARIOS / "sector_portfolio.toml")
    kw = {"paths": 3000, "block_size": 1024, "seed": 6, "keep_paths": 1500}
    job = prepare_job(sc, **kw)
    job.start()
    group = job.pending_groups(1)[0]
    job.absorb(group, simulate_group(job.layout, job.plan, **job.task_kwargs(group)))
    job.tally.elapsed = 1.25
    save_checkpoint(tmp_path / "tally.npz", job)
    resumed = prepare_job(sc, **kw)
    assert load_checkpoint(tmp_path / "tally.npz", resumed)
    assert 0 < resumed.paths_done == job.paths_done < 3000 and resumed.tally.elapsed == 1.25
    resumed.start()
    run_jobs([resumed], blocks_per_task=1)
    _same(resumed.grouped_dataset(), simulator.run(sc, **kw))
    assert not load_checkpoint(tmp_path / "tally.npz", prepare_job(sc, **{**kw, "seed": 7}))
    assert not load_checkpoint(tmp_path / "tally.npz", prepare_job(sc, **{**kw, "keep_paths": 0}))
    assert not load_checkpoint(tmp_path / "missing.npz", prepare_job(sc, **kw))


def test_the_batch_summary_holds_each_results_numbers(tmp_path):
    """summary.csv and summary.nc against the per-scenario results files they summarise: every
    probability, interval, champion share, valuation quantile and value, row by row; horizons a
    scenario lacks are empty (CSV) or NaN (NetCDF)."""
    import csv

    from simulator.studies.batch import SUMMARY_QUANTILES

    first = _scenario(tmp_path)
    text = (SCENARIOS / "sector_portfolio.toml").read_text(encoding="utf-8")
    text = re.sub(r"^paths = .*$", "paths = 800", text, count=1, flags=re.M)
    text = re.sub(r"^horizons = .*$", "horizons = [12, 30]", text, count=1, flags=re.M)
    second = tmp_path / "sector_portfolio.toml"
    second.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    report = run_batch([first, second], out, seed=4, echo=lambda _t: None, progress=False)
    assert report.exit_code == 0 and report.computed == ["zhipu_base", "sector_portfolio"]
    runs = [simulator.open_results(out / f"{name}.nc") for name in ("zhipu_base", "sector_portfolio")]
    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    summary = simulator.open_results(out / "summary.nc")
    horizons = sorted({int(h) for ds in runs for h in ds["horizon"].values})
    assert list(summary["horizon"].values) == horizons == [6, 12, 24, 30, 36]
    expected_rows = [(ds, str(c)) for ds in runs for c in ds["company"].values]
    assert [(r["scenario"], r["company"]) for r in rows] == [(ds.attrs["scenario_name"], c) for ds, c in expected_rows]
    columns = list(rows[0])
    assert columns[:6] == ["scenario", "company", "currency", "paths", "seed", "scenario_hash"]
    assert columns[-7:] == ["fundamental_value", "fundamental_value_low", "fundamental_value_high", "business_value",
                            "business_value_low", "business_value_high", "valuation_start"]
    by_horizon = [int(re.search(r"_(\d+)m", k).group(1)) for k in columns[6:-7]]
    assert by_horizon == sorted(by_horizon)  # grouped by horizon, in order
    for r, (row, (ds, company)) in enumerate(zip(rows, expected_rows, strict=True)):
        sel = ds.sel(company=company)
        assert row["paths"] == str(ds.attrs["paths"]) and row["seed"] == "4"
        assert row["scenario_hash"] == ds.attrs["scenario_hash"] and row["currency"] == "CNY"
        for h in horizons:
            have = h in ds["horizon"].values
            for o, outcome in enumerate(("champion", "contested", "collapse")):
                for suffix, value in (("", sel["probability"].sel(horizon=h, outcome=outcome) if have else None),
                                      ("_low", sel["probability_ci"].sel(horizon=h, outcome=outcome, bound="low")
                                       if have else None),
                                      ("_high", sel["probability_ci"].sel(horizon=h, outcome=outcome, bound="high")
                                       if have else None)):
                    cell = row.get(f"p_{outcome}_{h}m{suffix}", "")
                    assert (cell == "") if not have else float(cell) == float(value), (row["company"], h, outcome)
                got = summary["probability"].values[r, horizons.index(h), o]
                assert np.isnan(got) if not have else got == float(sel["probability"].sel(horizon=h, outcome=outcome))
            if not have:
                continue
            share = float(sel["champion_share"].sel(horizon=h))
            cell = row[f"champion_share_{h}m"]
            assert (cell == "" and np.isnan(share)) or float(cell) == share
            for bound in ("low", "high"):
                cell = row[f"champion_share_{h}m_{bound}"]
                value = float(sel["champion_share_ci"].sel(horizon=h, bound=bound))
                assert (cell == "" and np.isnan(value)) or float(cell) == value
            for level, label in zip(SUMMARY_QUANTILES, ("p05", "median", "p95"), strict=True):
                value = float(sel["valuation_quantile"].sel(month=h, quantile=level))
                assert float(row[f"valuation_{label}_{h}m"]) == value
                assert summary["valuation_quantile"].values[r, horizons.index(h), SUMMARY_QUANTILES.index(level)] == value
        for name in ("fundamental_value", "business_value"):
            assert float(row[name]) == float(sel[name]) == float(summary[name].values[r])
            lo, hi = sel[f"{name}_ci"].values
            assert (float(row[f"{name}_low"]), float(row[f"{name}_high"])) == (lo, hi)
            np.testing.assert_array_equal(summary[f"{name}_ci"].values[r], [lo, hi])
        assert float(row["valuation_start"]) == float(sel["valuation_start"]) == summary["valuation_start"].values[r]
    # summary.nc as a whole: each variable is the results' variable of that name, row by row, with its
    # description, its units (amounts in the row's currency) and its dimensions (company -> row, month ->
    # horizon); the horizons a scenario lacks are NaN; the row coordinates name scenario, company and run.
    from simulator.studies.batch import SUMMARY_MONEY

    assert sorted(summary.data_vars) == sorted(["probability", "probability_ci", "champion_share", "champion_share_ci",
                                                "valuation_quantile", "fundamental_value", "fundamental_value_ci",
                                                "business_value", "business_value_ci", "valuation_start"])
    for name in summary.data_vars:
        run_var = runs[0][name]
        assert summary[name].dims == tuple({"company": "row", "month": "horizon"}.get(d, d) for d in run_var.dims)
        assert summary[name].attrs["long_name"] == run_var.attrs["long_name"]
        assert summary[name].attrs["units"] == (SUMMARY_MONEY if run_var.attrs["units"] == "CNY"
                                                else run_var.attrs["units"])
        for r, (ds, company) in enumerate(expected_rows):
            got = summary[name].isel(row=r)
            want = ds[name].sel(company=company)
            if "month" in want.dims:
                want = want.sel(month=ds["horizon"].values, quantile=list(SUMMARY_QUANTILES)).rename(month="horizon")
            for dim in ("outcome", "bound"):
                if dim in want.dims:
                    want = want.sel({dim: got[dim].values})
            if "horizon" in got.dims:
                lacking = [h for h in horizons if h not in ds["horizon"].values]
                assert np.isnan(got.sel(horizon=lacking).values).all()
                got = got.sel(horizon=ds["horizon"].values)
            np.testing.assert_array_equal(got.transpose(*want.dims).values, want.values, err_msg=f"{name} row {r}")
    for key, value_of in {"scenario": lambda ds, c: ds.attrs["scenario_name"], "company": lambda ds, c: c,
                          "currency": lambda ds, c: ds.attrs["currency"], "paths": lambda ds, c: int(ds.attrs["paths"]),
                          "seed": lambda ds, c: str(ds.attrs["seed_entropy"]),
                          "scenario_hash": lambda ds, c: ds.attrs["scenario_hash"]}.items():
        assert summary[key].dims == ("row",)
        assert list(summary[key].values) == [value_of(ds, c) for ds, c in expected_rows], key
    assert list(summary["outcome"].values) == ["champion", "contested", "collapse"]
    assert list(summary["bound"].values) == ["low", "high"]
    assert list(summary["quantile"].values) == list(SUMMARY_QUANTILES)
    assert summary["horizon"].attrs["units"] == "months" and summary["horizon"].dtype == np.int64
    # Run again: both are up to date, and the summary is made from the results files read back (not from
    # the Datasets just computed): the same table.
    csv_text = (out / "summary.csv").read_text(encoding="utf-8")
    again = run_batch([first, second], out, seed=4, echo=lambda _t: None, progress=False)
    assert again.skipped == ["zhipu_base", "sector_portfolio"] and again.computed == []
    assert (out / "summary.csv").read_text(encoding="utf-8") == csv_text
    reread = simulator.open_results(out / "summary.nc")
    summary.attrs.pop("created")
    reread.attrs.pop("created")
    xr.testing.assert_identical(reread, summary)


def test_a_scenario_without_a_seed_reuses_the_seed_of_its_earlier_result_or_checkpoint(tmp_path):
    """No seed in the file and none given: the first batch draws fresh entropy; later batches reuse
    it (from the result, or from a checkpoint), so the result is up to date or resumes; another
    scenario text or path count does not reuse it."""
    from simulator.runner.distributed import prepare_job, simulate_group
    from simulator.studies.batch import save_checkpoint

    text = _scenario(tmp_path).read_text(encoding="utf-8")
    source = tmp_path / "zhipu_base.toml"
    source.write_text(re.sub(r"^seed = .*$", "", text, count=1, flags=re.M), encoding="utf-8")
    out = tmp_path / "out"
    assert _batch(source, out).computed == ["zhipu_base"]
    entropy = simulator.open_results(out / "zhipu_base.nc").attrs["seed_entropy"]
    assert _batch(source, out).skipped == ["zhipu_base"]
    assert _batch(source, out, paths=1000).computed == ["zhipu_base"]  # other paths: fresh entropy
    assert simulator.open_results(out / "zhipu_base.nc").attrs["seed_entropy"] != entropy
    # A checkpoint left by an interrupted run of this scenario gives its seed to the next run.
    other = tmp_path / "other"
    sc = simulator.load_scenario(source)
    job = prepare_job(sc, paths=2000, seed=np.random.SeedSequence(424242))
    job.start()
    group = job.pending_groups(1)[0]
    job.absorb(group, simulate_group(job.layout, job.plan, **job.task_kwargs(group)))
    save_checkpoint(other / ".partial" / "zhipu_base" / "tally.npz", job)
    report = _batch(source, other)
    assert report.computed == ["zhipu_base"]
    assert simulator.open_results(other / "zhipu_base.nc").attrs["seed_entropy"] == "424242"
    assert "resumed_paths=" in (other / "batch.log").read_text() and " resumed_paths=0" not in (
        other / "batch.log").read_text()


def test_the_summary_files_of_edge_cases(tmp_path, monkeypatch):
    """Outcomes and bounds in another order, a result without a recorded seed, an undefined champion
    share (an empty cell), a result h5netcdf alone cannot read (read by xarray instead), and the
    files' form: one header of distinct columns, Unix line ends, CF attributes, a UTC creation time."""
    import h5netcdf

    from simulator.results.io import save_results
    from simulator.studies.batch import summary_dataset, summary_rows, write_summary

    ds = simulator.run(SCENARIOS / "narrative_flip.toml", paths=500, seed=1)
    base = summary_dataset([ds])
    assert all(base[name].dtype == np.float64 for name in base.data_vars)
    assert base.attrs["Conventions"] == "CF-1.10" and base.attrs["created"].endswith("+00:00")
    reordered = summary_dataset([ds.isel(outcome=[2, 0, 1], bound=[1, 0])])
    xr.testing.assert_identical(reordered.drop_attrs(), base.drop_attrs())

    unseeded = ds.copy()
    del unseeded.attrs["seed_entropy"]
    assert list(summary_dataset([unseeded])["seed"].values) == [""] and summary_rows(unseeded)[0]["seed"] == ""

    undecided = ds.copy(deep=True)
    first = int(ds["horizon"].values[0])
    undecided["champion_share"].loc[{"horizon": first}] = np.nan
    _, csv_path = write_summary([undecided], tmp_path / "a")
    text = csv_path.read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",")
    assert b"\r" not in csv_path.read_bytes() and len(header) == len(set(header))
    with open(csv_path, newline="", encoding="utf-8") as fh:
        (row,) = list(__import__("csv").DictReader(fh))
    assert row[f"champion_share_{first}m"] == ""

    path = save_results(ds, tmp_path / "narrative_flip.nc")
    fast_nc, fast_csv = write_summary([path], tmp_path / "fast")
    refused = []

    class H5netcdfCannot(h5netcdf.File):  # the summary's own reader (mode given by position) fails; xarray's works
        def __init__(self, *args, **kwargs):
            if len(args) > 1 and Path(args[0]) == path:
                refused.append(path)
                self._closed = True  # nothing to close when the object is collected
                raise OSError("unreadable by h5netcdf alone")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(h5netcdf, "File", H5netcdfCannot)
    slow_nc, slow_csv = write_summary([path], tmp_path / "slow")
    monkeypatch.undo()
    assert refused == [path]
    assert slow_csv.read_text(encoding="utf-8") == fast_csv.read_text(encoding="utf-8")
    fast, slow = simulator.open_results(fast_nc), simulator.open_results(slow_nc)
    fast.attrs.pop("created")
    slow.attrs.pop("created")
    xr.testing.assert_identical(slow, fast)
