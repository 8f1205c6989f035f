"""``implied`` that explains itself: when no value of the key justifies the price, what binds and what lifts it."""

from __future__ import annotations

import re
from pathlib import Path

from simulator.cli import main
from simulator.cli.main import _join_negative_ranges

ZB = str(Path(__file__).resolve().parents[1] / "scenarios" / "zhipu_base.toml")
FAST = ["--paths", "2000", "--replicates", "0", "--quiet"]


def test_when_no_allowed_value_reaches_the_price_it_names_what_binds(capsys):
    assert main(["implied", ZB, *FAST]) == 2
    out = capsys.readouterr().out
    assert "no value in its whole allowed range [-5, 20] does: the equity value peaks at" in out
    binds = re.search(r"chip capacity caps revenue at ([0-9.]+)B CNY a year by month 36", out)
    assert binds and 1.0 < float(binds.group(1)) < 5.0, out
    assert "lift it with --set companies.zhipu.chips.enabled=false" in out
    assert "companies.zhipu.valuation_model.exit_multiple" in out


def test_the_named_override_lifts_it(capsys):
    # With the chips' cap lifted, a value of the growth rate justifies the price.
    assert main(["implied", ZB, *FAST, "--set", "companies.zhipu.chips.enabled=false", "--param",
                 "companies.zhipu.growth.initial", "--range", "0:6"]) == 0
    assert "must be 2.7" in capsys.readouterr().out


def test_a_value_outside_the_searched_range_is_pointed_at(capsys):
    assert main(["implied", ZB, *FAST, "--set", "companies.zhipu.chips.enabled=false", "--param",
                 "companies.zhipu.growth.initial", "--range", "0:1"]) == 2
    out = capsys.readouterr().out
    m = re.search(r"it does between companies.zhipu.growth.initial = ([0-9.]+) and ([0-9.]+) \(allowed: \[-5, 20\]\): "
                  r"search there with --range ([0-9.]+):([0-9.]+)", out)
    assert m, out
    assert float(m.group(1)) <= 2.75 <= float(m.group(2))


def test_a_range_may_start_below_zero(capsys):
    assert _join_negative_ranges(["implied", "f.toml", "--range", "-1:6", "--set", "a=-1"]) == [
        "implied", "f.toml", "--range=-1:6", "--set", "a=-1"]
    assert main(["implied", ZB, *FAST, "--set", "companies.zhipu.chips.enabled=false", "--param",
                 "companies.zhipu.growth.initial", "--range", "-1:6"]) == 0
    assert "searched [-1, 6]" in capsys.readouterr().out


def test_the_fundamental_value_a_study_reports_is_the_runs():
    """Both readings and their intervals, per company, equal what a plain run with the same seed reports
    (tests/test_derived_numbers.py checks those against the kept paths)."""
    import numpy as np

    import simulator
    from simulator.model.scenario_file import load_scenario
    from simulator.studies.calibrate import fundamental_value

    scenario = load_scenario(Path(ZB).parent / "sector_portfolio.toml")
    run = simulator.run(scenario, paths=3000, seed=7)
    for company in run["company"].values:
        readings = fundamental_value(scenario, str(company), paths=3000, seed=7)
        for reading, name in (("equity", "fundamental_value"), ("business", "business_value")):
            mean, (low, high) = readings[reading]
            np.testing.assert_allclose([mean, low, high],
                                       [float(run[name].sel(company=company)),
                                        *run[f"{name}_ci"].sel(company=company).values], rtol=1e-12)

