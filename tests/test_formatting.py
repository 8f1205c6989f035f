"""Numbers people can read, written the same way by the command line, ``ds.sim`` and the reports."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import simulator
from simulator.cli import main
from simulator.report.writer import write_report
from simulator.results.formatting import key_values_text, percent, percent_ci, points, text_table

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.mark.parametrize(("p", "text"), [
    (0.0, "0.0%"), (1.0, "100.0%"), (0.25, "25.0%"), (0.01, "1.0%"), (0.0076, "0.76%"), (0.001, "0.10%"),
    (0.0004, "0.040%"), (0.0000123, "0.0012%"), (0.99961, "99.961%"), (0.9996, "99.960%"), (0.995, "99.50%"),
    (math.nan, "n/a"),
])
def test_small_probabilities_keep_two_significant_digits(p, text):
    assert percent(p) == text


def test_every_nonzero_probability_reads_nonzero_and_below_one_reads_below_100():
    for p in np.geomspace(1e-9, 0.5, 200):
        assert float(percent(p).rstrip("%")) > 0, p
        assert float(percent(1 - p).rstrip("%")) < 100, p


def test_points_follow_the_same_rule():
    assert points(0.0004, sign=True) == "+0.040 pp" and points(-0.02) == "-2.0 pp" and points(0.0) == "0.0 pp"


def test_swept_values_in_their_natural_format():
    assert key_values_text(np.linspace(0, 400, 4)) == ["0", "133", "267", "400"]
    assert key_values_text(np.linspace(0, 2000, 4)) == ["0", "667", "1330", "2000"]
    assert key_values_text([0.2, 0.35, 0.5]) == ["0.2", "0.35", "0.5"]
    assert key_values_text([1e9, 9e9], "CNY") == ["1.00B", "9.00B"]
    assert key_values_text([0.1, 0.1000001]) == ["0.1", "0.1000001"]


def test_text_tables_never_cut_or_run_columns_together():
    rows = [["companies.zhipu.events.model_release.outcomes.top3.narrative.mean", "-1.23B", "12345678.9"],
            ["x", "5", "6"]]
    lines = text_table(["a very long header indeed", "b", "c"], rows)
    assert lines[0].startswith("a very long header indeed")
    assert "narrative.mean  -1.23B  12345678.9" in lines[1]
    assert len({len(line) for line in lines[:2]}) == 1


@pytest.fixture(scope="module")
def portfolio():
    # Four companies: P(at least one champion) is small but not zero at 36 months.
    return simulator.run(SCENARIOS / "sector_portfolio.toml", paths=20_000, seed=7)


def test_command_line_and_report_write_the_same_numbers(portfolio, tmp_path):
    table = portfolio.sim.table()
    report = (write_report(portfolio, tmp_path).parent / "report.md").read_text()
    checked = 0
    for company in portfolio["company"].values:
        h = int(portfolio["horizon"].values[-1])
        for outcome in ("champion", "contested", "collapse"):
            text = percent_ci(*portfolio.sim.outcome(str(company), h, outcome))
            assert text in table and text in report, text
            checked += 1
    p = float(portfolio["any_champion"].sel(horizon=h))
    lo, hi = portfolio["any_champion_ci"].sel(horizon=h).values
    assert 0 < p < 0.001  # the case of the issue: 0.04% printed "0.0% [0.0%, 0.0%]"
    assert percent_ci(p, lo, hi) in table and percent_ci(p, lo, hi) in report
    assert "0.0% [0.0%, 0.0%]" not in table
    assert checked == 12


def test_attribute_on_an_outcome_no_path_has_says_so(tmp_path, capsys):
    scenario = SCENARIOS / "zhipu_base.toml"
    argv = ["attribute", str(scenario), "--paths", "2000", "--output", "zhipu.champion@36",
            "--set", 'companies.zhipu.growth.long_run={ dist = "uniform", low = 0.1, high = 0.6 }']
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "no path has this outcome at month 36: nothing to attribute" in out and "nan" not in out


def test_sweep_table_has_whole_headers_and_natural_values(capsys, tmp_path):
    key = "companies.zhipu.chips.imports_per_month"
    assert main(["sweep", str(SCENARIOS / "zhipu_base.toml"), "--param", f"{key}=0:400:4", "--paths", "300",
                 "--out", str(tmp_path / "s.nc")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if key in line)
    assert header.split()[0] == key
    assert "133.333" not in out and " 133 " in out
    assert "4 parameter sets x 300 paths" in out and "(1 kernel call," in out


def test_a_sweep_dataset_records_the_units_of_its_keys(tmp_path):
    from simulator.studies.sweep import sweep

    ds = sweep(SCENARIOS / "zhipu_base.toml", ["companies.zhipu.funding.backstop=1e9:9e9:2"], paths=100, seed=1,
               quantiles=False)
    assert ds["companies.zhipu.funding.backstop"].attrs["units"] == "CNY"
    assert isinstance(ds, xr.Dataset)


def test_a_correlation_is_written_with_its_interval_or_not_at_all():
    from simulator.results.formatting import correlation_ci

    assert correlation_ci(0.1234, -0.05, 0.2999) == "+0.123 [-0.050, +0.300]"
    assert correlation_ci(float("nan"), float("nan"), float("nan")) == "n/a"  # an outcome too rare to correlate


def test_the_sweep_table_holds_each_grid_points_numbers():
    """Every cell of the sweep table against the Dataset at that grid point and company: the swept values
    in their key's format, champion and collapse probabilities and the champion share with their intervals,
    at the last horizon; the header names the scenario, the grid, the paths and the month; rows past
    max_rows are counted, not printed."""
    import itertools

    from simulator.studies.sweep import sweep, sweep_table

    keys = ["companies.zhipu.growth.initial", "companies.zhipu.funding.backstop"]
    ds = sweep(SCENARIOS / "sector_portfolio.toml", [f"{keys[0]}=0.5,1.5", f"{keys[1]}=1e9,3e9,5e9"], paths=300,
               seed=2, quantiles=False)
    last = int(ds["horizon"].values[-1])
    assert last != int(ds["horizon"].values[0])
    companies = [str(c) for c in ds["company"].values]
    lines = sweep_table(ds, max_rows=10).splitlines()
    assert lines[0] == (f"{ds.attrs['scenario_name']}: sweep of 2 key(s), 6 grid points x 300 paths, month {last}; "
                        "95% Wilson intervals")
    assert lines[1].split() == [*keys, "company", "champion", "collapse", "champion", "share"]
    values = {k: key_values_text(ds[k].values, ds[k].attrs["units"], ds.attrs["currency"]) for k in keys}
    expected = []
    for (i, a), (j, b) in itertools.product(enumerate(ds[keys[0]].values), enumerate(ds[keys[1]].values)):
        for company in companies:
            sel = ds.sel({keys[0]: a, keys[1]: b, "company": company, "horizon": last})
            cells = [percent_ci(float(sel["probability"].sel(outcome=o)),
                                *map(float, sel["probability_ci"].sel(outcome=o).values))
                     for o in ("champion", "collapse")]
            cells.append(percent_ci(float(sel["champion_share"]), *map(float, sel["champion_share_ci"].values)))
            expected.append([values[keys[0]][i], values[keys[1]][j], company, *cells])
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[2:-1]]
    assert rows == expected[:10]
    assert lines[-1] == f"... ({len(expected) - 10} more rows in the file)"
    assert "more rows" not in sweep_table(ds, max_rows=len(expected))
