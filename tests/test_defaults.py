"""Currency-neutral defaults: no amount key defaults to a number that means something in one currency only.

A USD company written from scratch (revenue 75M, valuation 6.5B, cash 1.2B) used
to take opex 4.5e9 and cards at 1.2e6 from CNY-sized defaults, silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import simulator
from simulator.cli import main
from simulator.model.scenario_file import defaulted_keys, derived_amounts, parse_scenario
from simulator.model.schema import DERIVED_AMOUNTS, MONEY, Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

FROM_SCRATCH = """
[scenario]
name = "acme"
currency = "{currency}"
horizon_months = 24
seed = 5

[sector.narrative]
sigma = 0.2

[[sector.events]]
name = "shock"
hazard_per_year = 1.0
cash = {shock}

[[companies]]
name = "acme"
revenue = {revenue}
valuation = {valuation}
cash = {cash}
"""


def _scratch(factor: float, currency: str) -> str:
    return FROM_SCRATCH.format(currency=currency, revenue=75e6 * factor, valuation=6.5e9 * factor,
                               cash=1.2e9 * factor, shock=-50e6 * factor)


def test_every_amount_key_is_required_derived_or_zero():
    """The class, from the schema: any key in units of the currency has no fixed non-zero default."""

    def walk(model, prefix):
        for name, info in model.model_fields.items():
            if info.exclude:
                continue
            sub = getattr(info.annotation, "model_fields", None)
            inner = [a for a in getattr(info.annotation, "__args__", ()) if hasattr(a, "model_fields")]
            if sub is not None or inner:
                yield from walk(info.annotation if sub is not None else inner[0], f"{prefix}{name}.")
                continue
            units = (info.json_schema_extra or {}).get("units", "")
            if MONEY in str(units):
                yield f"{prefix}{name}", info

    seen = list(walk(Scenario, ""))
    assert len(seen) >= 8
    for key, info in seen:
        default = info.default
        derived = key.removeprefix("companies.") in DERIVED_AMOUNTS
        assert info.is_required() or default == 0.0 or (default is None and derived), key


def test_a_usd_scenario_from_scratch_lists_its_derived_amounts(capsys):
    sc = parse_scenario(_scratch(1.0, "USD"), source="acme.toml")
    company = sc.companies[0]
    assert company.chips.revenue_per_card == pytest.approx(3 * 75e6 / company.chips.cards)
    assert company.chips.card_price == pytest.approx(2 * company.chips.revenue_per_card)
    assert company.costs.opex == pytest.approx(75e6 * (1 - company.pricing.compute_cost_share))
    assert company.funding.backstop == pytest.approx(company.costs.opex)
    listed = {d.path for d in derived_amounts(sc)}
    assert listed == {f"companies.acme.{k}" for k in DERIVED_AMOUNTS}
    assert listed <= set(defaulted_keys(sc))


def test_validate_and_run_list_the_keys_that_took_a_default(tmp_path, capsys):
    path = tmp_path / "acme.toml"
    path.write_text(_scratch(1.0, "USD"))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "default: companies.acme.costs.opex = 15.0M USD/year (revenue x (1 - pricing.compute_cost_share)" in out
    assert out.count("default: ") == len(DERIVED_AMOUNTS)
    assert main(["validate", str(path), "--defaults"]) == 0
    out = capsys.readouterr().out
    assert "    companies.acme.growth.kappa = 0.6" in out and "    sector.narrative.kappa = 0.5" in out
    assert "sector.narrative.sigma" not in out.split("at their defaults")[1]  # given in the file
    assert main(["run", str(path), "--paths", "200", "--out", str(tmp_path / "r.nc")]) == 0
    out = capsys.readouterr().out
    assert out.count("default: ") == len(DERIVED_AMOUNTS)
    # A shipped scenario states every amount it uses: nothing is listed.
    assert main(["validate", str(SCENARIOS / "zhipu_base.toml")]) == 0
    assert "default:" not in capsys.readouterr().out


def test_the_same_company_in_another_currency_gives_the_same_results():
    # Every amount times 8 (a power of two: exact in floating point): the same outcomes, path by path.
    runs = [simulator.run(parse_scenario(_scratch(f, cur), source=cur), paths=4000)
            for f, cur in ((1.0, "USD"), (8.0, "CNY"))]
    np.testing.assert_array_equal(runs[0]["outcome_count"].values, runs[1]["outcome_count"].values)
    np.testing.assert_array_equal(runs[0]["survival"].values, runs[1]["survival"].values)
    np.testing.assert_allclose(8 * runs[0]["fundamental_value"].values, runs[1]["fundamental_value"].values,
                               rtol=1e-12)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_no_shipped_scenario_reads_a_derived_amount(path):
    # So the rule moved no shipped result: every amount they use is stated in the file.
    sc = simulator.load_scenario(path)
    assert [d.path for d in derived_amounts(sc) if d.used] == []
