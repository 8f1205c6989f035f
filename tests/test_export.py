"""Export and notebooks: tidy CSV tables of every result kind that read back to the same Dataset,
DataFrames from ``ds.sim``, and figures that show themselves inline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

import simulator
from simulator.cli import main
from simulator.results.export import read_csv, write_csv
from simulator.studies.attribution import attribute
from simulator.studies.compare import compare
from simulator.studies.given_data import draws_from
from simulator.studies.sensitivity import sensitivity
from simulator.studies.sweep import sweep

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
ZB = SCENARIOS / "zhipu_base.toml"
UNCERTAIN = 'companies.zhipu.growth.long_run={ dist = "uniform", low = 0.1, high = 0.6 }'


def _attribution():
    draws, outcomes, names, horizons, companies, _attrs, _ = draws_from(ZB, paths=2000, seed=1, overrides=[UNCERTAIN],
                                                                         threads=None, engine="numba")
    return attribute(draws, outcomes, inputs=names, companies=companies, horizons=horizons)


RESULTS = {
    "run with kept paths": lambda: simulator.run(SCENARIOS / "sector_portfolio.toml", paths=500, seed=1, keep_paths=5),
    "run with uncertain inputs": lambda: simulator.run(ZB, paths=1000, seed=1, overrides=[UNCERTAIN]),
    "sweep": lambda: sweep(ZB, ["companies.zhipu.chips.imports_per_month=0:400:3",
                                "companies.zhipu.growth.long_run=0.2:0.5:2"], paths=200, seed=1),
    "oat": lambda: sensitivity(ZB, method="oat", params=["companies.zhipu.growth.long_run=0.2:0.5"], paths=200,
                               seed=1, outputs=["zhipu.collapse@36", "zhipu.valuation_q50@36"]),
    "attribution": _attribution,
    "comparison": lambda: compare(simulator.run(ZB, paths=300, seed=1), simulator.run(ZB, paths=300, seed=1,
                                  overrides=["companies.zhipu.chips.imports_per_month=0"])),
}


@pytest.mark.parametrize("kind", list(RESULTS))
def test_csv_tables_read_back_to_the_same_dataset(kind, tmp_path):
    ds = RESULTS[kind]()
    # Through a NetCDF file, as `simulator export` reads it.
    ds = simulator.open_results(simulator.save_results(ds, tmp_path / "r.nc"))
    written = write_csv(ds, tmp_path / "csv")
    assert all(p.suffix == ".csv" and p.stat().st_size > 0 for p in written)
    xr.testing.assert_identical(read_csv(tmp_path / "csv"), ds)


def test_batch_summary_reads_back(tmp_path):
    out = tmp_path / "batch"
    assert main(["batch", str(ZB), str(SCENARIOS / "schwartz_moon_amazon.toml"), "--out", str(out), "--paths", "300",
                 "--quiet"]) == 0
    assert main(["export", str(out / "summary.nc"), "--csv", str(tmp_path / "csv")]) == 0
    xr.testing.assert_identical(read_csv(tmp_path / "csv"), simulator.open_results(out / "summary.nc"))


def test_tables_are_tidy_dataframes_with_intervals_as_two_columns():
    ds = simulator.run(ZB, paths=500, seed=1)
    tables = ds.sim.tables()
    probabilities = tables["company-horizon-outcome"]
    assert isinstance(probabilities, pd.DataFrame)
    assert {"company", "horizon", "outcome", "probability", "probability_ci_low", "probability_ci_high"} <= set(
        probabilities.columns)
    assert len(probabilities) == ds.sizes["company"] * ds.sizes["horizon"] * ds.sizes["outcome"]
    row = probabilities.query("horizon == 36 and outcome == 'collapse'").iloc[0]
    assert row["probability"] == float(ds["probability"].sel(company="zhipu", horizon=36, outcome="collapse"))
    assert list(ds.sim.frame("champion_share").columns) == ["company", "horizon", "champion_share"]


def test_run_and_export_commands_write_csv(tmp_path, capsys):
    assert main(["run", str(ZB), "--paths", "300", "--quiet", "--out", str(tmp_path / "r.nc"),
                 "--csv", str(tmp_path / "a")]) == 0
    assert main(["export", str(tmp_path / "r.nc"), "--csv", str(tmp_path / "b")]) == 0
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").glob("*.csv") if p.name != "attributes.csv"}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").glob("*.csv") if p.name != "attributes.csv"}
    assert a == b and "company-horizon-outcome.csv" in a
    assert "csv: 6 tables, variables.csv and attributes.csv in" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "missing.nc"), "--csv", str(tmp_path / "c")]) == 2


@pytest.mark.parametrize("kind", ["run with kept paths", "sweep", "oat", "attribution"])
def test_figures_show_inline_in_a_notebook(kind):
    figures = simulator.figures(RESULTS[kind]())
    assert figures
    for name, fig in figures.items():
        png = fig._repr_png_()  # what Jupyter calls to show a figure inline
        assert png.startswith(b"\x89PNG") and len(png) > 5000, name
