"""``implied`` that explains itself: when no value of the key justifies the price, what binds and what lifts it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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



def test_the_wide_grid_is_geometric_only_over_many_decades_of_a_non_negative_range():
    import numpy as np

    from simulator.studies.calibrate import _wide_grid

    np.testing.assert_array_equal(_wide_grid(0.0, 1e16, 5), np.geomspace(1e4, 1e16, 5))  # an amount from 0
    np.testing.assert_array_equal(_wide_grid(1.0, 1001.0, 4), np.geomspace(1.0, 1001.0, 4))
    for low, high in ((1.0, 1000.0), (-5.0, 20.0), (-1e9, 1e9), (2.0, 3.0)):  # three decades or fewer; negative
        np.testing.assert_array_equal(_wide_grid(low, high, 6), np.linspace(low, high, 6))


def test_the_default_implied_range_follows_the_current_value():
    """Growth rates -0.5 to 3; other keys from 0 to ten times the current value, at least 1; a negative current
    value from ten times it to 0."""
    from simulator.model.scenario_file import load_scenario, with_overrides
    from simulator.studies.calibrate import default_implied_range

    sc = with_overrides(load_scenario(ZB), {"companies.zhipu.pricing.price_drift": -0.2,
                                            "companies.zhipu.costs.tax_rate": 0.05,
                                            "companies.zhipu.pricing.scarcity_premium": 0.0})
    cases = {
        "companies.zhipu.growth.initial": (-0.5, 3.0),
        "companies.zhipu.growth.long_run": (-0.5, 3.0),
        "companies.zhipu.cash": (0.0, 10 * sc.companies[0].cash),
        "companies.zhipu.costs.tax_rate": (0.0, 1.0),  # ten times 0.05 is below 1
        "companies.zhipu.pricing.price_drift": (-2.0, 0.0),
        "companies.zhipu.pricing.scarcity_premium": (0.0, 1.0),  # zero now
    }
    for path, expected in cases.items():
        assert default_implied_range(sc, path) == pytest.approx(expected, rel=1e-15), path


@pytest.mark.parametrize(("text", "message"), [
    ("companies.zhipu.growth.long_run", "expected dotted.path=LO:HI, e.g. companies.zhipu.growth.long_run=0.0:1.5"),
    ("companies.zhipu.growth.long_run=0.5", "expected dotted.path=LO:HI, e.g. "
                                            "companies.zhipu.growth.long_run=0.0:1.5"),
    ("companies.zhipu.growth.long_run=a:1", "LO and HI must be numbers"),
    ("companies.zhipu.growth.long_run=1=2:3", "LO and HI must be numbers"),
    ("companies.zhipu.growth.long_run=0.5:0.5", "need LO < HI (got 0.5 and 0.5)"),
    ("companies.zhipu.growth.long_run=0.5:0.1", "need LO < HI (got 0.5 and 0.1)"),
    ("companies.zhipu.growth.long_run=0:inf", "need LO < HI (got 0 and inf)"),
    ("companies.zhipu.growth.long_run=nan:1", "need LO < HI (got nan and 1)"),
    ("companies.zhipu.funding.enabled=0:1", "companies.zhipu.funding.enabled is a switch, not a numeric parameter"),
])
def test_each_mistake_in_a_searched_range_is_one_line(text, message):
    from simulator.errors import UserError
    from simulator.model.scenario_file import load_scenario
    from simulator.studies.calibrate import ParamRange, parse_param_range

    scenario = load_scenario(ZB)
    with pytest.raises(UserError) as err:
        parse_param_range(text, scenario)
    assert str(err.value) == f"--param {text!r}: {message}"
    assert parse_param_range(" companies.zhipu.growth.long_run =0:1.5", scenario) == ParamRange(
        "companies.zhipu.growth.long_run", 0.0, 1.5)


def test_the_root_of_a_grid_bracket():
    """The first sign change of the grid, refined; a grid point where the function is zero is the root."""
    import numpy as np

    from simulator.studies.calibrate import _solve_1d

    grid = np.linspace(0.0, 1.0, 11)
    f = lambda x: (x - 0.33) * (x - 0.77)  # noqa: E731 - two roots: the first is found
    assert _solve_1d(f, 0.0, 1.0, grid, f(grid)) == pytest.approx(0.33, abs=1e-5)
    g = lambda x: 0.42 - x  # noqa: E731 - decreasing
    assert _solve_1d(g, 0.0, 1.0, grid, g(grid)) == pytest.approx(0.42, abs=1e-5)
    h = lambda x: x - 0.3  # noqa: E731
    values = h(grid)
    values[3] = 0.0  # exactly zero on the grid (0.3 is not 3 * 0.1 in floating point)
    assert _solve_1d(h, 0.0, 1.0, grid, values) == grid[3]
    with pytest.raises(ValueError, match=r"^no sign change$"):
        _solve_1d(h, 0.0, 1.0, grid, np.abs(values) + 1.0)


@pytest.mark.parametrize(("overrides", "value", "kinds"), [
    ({"companies.zhipu.cash": 1e13, "companies.zhipu.chips.revenue_per_card": 5e4}, 0.9, ["chips", "margin", "exit"]),
    ({"companies.zhipu.cash": 1e13, "companies.zhipu.chips.enabled": False}, 0.9, ["exit"]),
    ({}, -0.5, ["cash", "exit"]),
])
def test_what_binds_reads_the_run_at_the_value(overrides, value, kinds):
    """Each line is a limit that holds in a plain run of the scenario with the key at the value (same paths and
    seed), with that run's medians and survival, and the override that lifts it."""
    import simulator
    from simulator.model.scenario_file import load_scenario, with_overrides
    from simulator.results.formatting import format_amount, percent
    from simulator.studies.binding import CAPACITY_SHARE, SURVIVAL, what_binds

    scenario = with_overrides(load_scenario(ZB), overrides)
    key = "companies.zhipu.growth.long_run"
    lines = what_binds(scenario, "zhipu", key, value, paths=3000, seed=5)
    ds = simulator.run(with_overrides(scenario, {key: value}), paths=3000, seed=5)
    at = {"company": "zhipu", "month": 36}
    revenue = float(ds["revenue_quantile"].sel(**at, quantile=0.5))
    capacity = float(ds["capacity_quantile"].sel(**at, quantile=0.5))
    alive = float(ds["survival"].sel(**at))
    margin = float(ds["gross_margin_quantile"].sel(**at, quantile=0.5))
    expected = {
        "chips": f"chip capacity caps revenue at {format_amount(capacity, 'CNY')} a year by month 36 (median served "
                 f"revenue {format_amount(revenue, 'CNY')}): lift it with --set companies.zhipu.chips.enabled=false, "
                 "or more cards (chips.domestic_per_month, chips.revenue_per_card)",
        "cash": f"{percent(1.0 - alive)} of paths fail by month 36 (the cash runs out): lift it with --set "
                "companies.zhipu.funding.backstop_probability=1, or more cash",
        "margin": f"compute costs exceed revenue (median gross margin {percent(margin)} at month 36): lift it with "
                  "--set companies.zhipu.pricing.scarcity_premium=0",
        "exit": f"the fundamental value is the discounted cash plus {scenario.companies[0].valuation_model.exit_multiple:g}"
                f"x operating profit at month 36 (discount rate {scenario.companies[0].valuation_model.discount_rate:g}):"
                " a larger companies.zhipu.valuation_model.exit_multiple raises it in proportion",
    }
    assert lines == [expected[k] for k in kinds]
    # The limits that hold, by the documented thresholds, are those named.
    assert ("chips" in kinds) == (revenue >= CAPACITY_SHARE * capacity and 0 < capacity < float("inf"))
    assert ("cash" in kinds) == (alive < SURVIVAL) and ("margin" in kinds) == (margin < 0.0)
