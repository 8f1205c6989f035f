"""Scenario loading: every bad input is one clear line; good input loads, defaults and overrides."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from simulator.cli import main as cli_main
from simulator.errors import ScenarioError
from simulator.model.scenario_file import load_scenario, parse_scenario, with_overrides
from simulator.model.schema import Jump, Scenario
from simulator.report import docs

# A small valid scenario that does not depend on shared/: two companies, a sector event with an
# import cut, one with a narrative jump, and a company event with three branches.
BASE = """\
[scenario]
name = "base"
currency = "CNY"
horizon_months = 24
horizons = [6, 12, 24]
paths = 1000
seed = 7

[sector]
market_size = 1e12

[[sector.events]]
name = "export_control_escalation"
hazard_per_year = 0.3
import_cut = [0.3, 0.8]

[[sector.events]]
name = "regulatory_crackdown"
hazard_per_year = 0.1
narrative = { mean = -0.8, sd = 0.3 }

[[companies]]
name = "zhipu"
revenue = 724e6
valuation = 700e9
cash = 15e9

[companies.growth]
sigma_revenue = 0.4

[companies.chips]
imports_per_month = 200

[[companies.events]]
name = "model_release"
hazard_per_year = 2.0
outcomes = [
  { name = "top3", probability = 0.25, narrative = { mean = 0.5, sd = 0.2 }, growth = 0.3 },
  { name = "flop", probability = 0.25, narrative = -0.6 },
  { name = "par", probability = 0.5 },
]

[[companies]]
name = "minimax"
revenue = 500e6
valuation = 300e9
cash = 10e9

[outcomes]
collapse_valuation_ratio = 0.3
"""

# Everything before the first company: a file with no company at all.
NO_COMPANIES = BASE.split("[[companies]]")[0]


def edit(old: str, new: str) -> str:
    """BASE with one exact piece of text replaced (the piece must be there)."""
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(excinfo: pytest.ExceptionInfo[ScenarioError], *fragments: str) -> str:
    """The error's message, checked to be one line containing every fragment."""
    message = str(excinfo.value)
    assert "\n" not in message and "\r" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_base_is_valid(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE))
    assert [c.name for c in scenario.companies] == ["zhipu", "minimax"]


# --------------------------------------------------------------------------- bad files

# (id, file text, fragments the one-line message must contain besides the file's path)
BAD_FILES = [
    ("malformed_toml", "[scenario\n" + BASE, ["not valid TOML", "line 1"]),
    ("malformed_toml_unclosed_array", edit("horizons = [6, 12, 24]", "horizons = [6, 12, 24"),
     ["not valid TOML"]),
    ("unknown_key_top_level", "colour = 'red'\n" + BASE, ["colour", "unknown key"]),
    ("unknown_key_nested", edit("sigma_revenue = 0.4", "sigma_revenue = 0.4\nsigma_revnue = 0.5"),
     ["companies.zhipu.growth.sigma_revnue", "unknown key"]),
    ("unknown_key_in_event_branch",
     edit('{ name = "par", probability = 0.5 }', '{ name = "par", probability = 0.5, narative = 0.1 }'),
     ["companies.zhipu.events.model_release.outcomes.par.narative", "unknown key"]),
    ("unknown_table", BASE + "\n[sectr]\nmarket_size = 1.0\n", ["sectr", "unknown key"]),
    ("string_for_number", edit("cash = 15e9", 'cash = "15e9"'),
     ["companies.zhipu.cash", "'15e9'", "valid number", ">= 0", "<= 1e+16", "CNY"]),
    ("bool_for_number", edit("hazard_per_year = 0.3", "hazard_per_year = true"),
     ["sector.events.export_control_escalation.hazard_per_year", "True", "valid number",
      ">= 0", "<= 1000"]),
    ("bool_for_integer", edit("paths = 1000", "paths = true"),
     ["scenario.paths", "True", "valid integer", ">= 1"]),
    ("float_for_integer", edit("horizon_months = 24", "horizon_months = 24.5"),
     ["scenario.horizon_months", "24.5", "valid integer", ">= 1", "<= 1200"]),
    ("negative_hazard", edit("hazard_per_year = 0.1", "hazard_per_year = -0.1"),
     ["sector.events.regulatory_crackdown.hazard_per_year", "-0.1", "out of range", ">= 0",
      "<= 1000", "1/year"]),
    ("probability_above_one",
     edit('name = "top3", probability = 0.25', 'name = "top3", probability = 1.5'),
     ["companies.zhipu.events.model_release.outcomes.top3.probability", "1.5", "out of range",
      ">= 0", "<= 1"]),
    ("branch_probabilities_not_summing_to_one",
     edit('name = "top3", probability = 0.25', 'name = "top3", probability = 0.3'),
     ["companies.zhipu.events.model_release.outcomes", "sum to 1.05", "must sum to 1"]),
    ("duplicate_branch_names", edit('name = "flop"', 'name = "top3"'),
     ["companies.zhipu.events.model_release.outcomes", "duplicate branch name 'top3'"]),
    ("direct_effects_and_outcomes", edit("hazard_per_year = 2.0", "hazard_per_year = 2.0\ngrowth = 0.1"),
     ["companies.zhipu.events.model_release.growth", "outcomes"]),
    ("nan_value", edit("valuation = 700e9", "valuation = nan"),
     ["companies.zhipu.valuation", "nan", "finite", "> 0"]),
    ("inf_value", edit("market_size = 1e12", "market_size = inf"),
     ["sector.market_size", "inf", "finite", "CNY/year"]),
    ("negative_inf_in_jump", edit("mean = -0.8", "mean = -inf"),
     ["sector.events.regulatory_crackdown.narrative.mean", "-inf", "finite"]),
    ("nan_in_import_cut", edit("import_cut = [0.3, 0.8]", "import_cut = [nan, 0.8]"),
     ["sector.events.export_control_escalation.import_cut", "nan", "finite"]),
    ("empty_companies_list", "companies = []\n" + NO_COMPANIES,
     ["companies", "at least one company"]),
    ("missing_companies", NO_COMPANIES, ["companies", "required key is missing"]),
    ("duplicate_company_names", edit('name = "minimax"', 'name = "zhipu"'),
     ["companies", "duplicate name 'zhipu'"]),
    ("duplicate_event_names", edit('name = "regulatory_crackdown"', 'name = "export_control_escalation"'),
     ["sector.events", "duplicate name 'export_control_escalation'"]),
    ("horizon_beyond_horizon_months", edit("horizons = [6, 12, 24]", "horizons = [6, 12, 36]"),
     ["scenario.horizons", "[6, 12, 36]", "36", "horizon_months (24)"]),
    ("horizons_decreasing", edit("horizons = [6, 12, 24]", "horizons = [12, 6, 24]"),
     ["scenario.horizons", "[12, 6, 24]", "strictly increasing"]),
    ("horizons_repeated", edit("horizons = [6, 12, 24]", "horizons = [6, 6, 24]"),
     ["scenario.horizons", "[6, 6, 24]", "strictly increasing"]),
    ("horizons_empty", edit("horizons = [6, 12, 24]", "horizons = []"),
     ["scenario.horizons", "at least one month"]),
    ("import_cut_low_above_high", edit("import_cut = [0.3, 0.8]", "import_cut = [0.8, 0.3]"),
     ["sector.events.export_control_escalation.import_cut", "[0.8, 0.3]", "0 <= low <= high <= 1"]),
    ("import_cut_above_one", edit("import_cut = [0.3, 0.8]", "import_cut = 1.5"),
     ["sector.events.export_control_escalation.import_cut", "1.5", "0 <= low <= high <= 1"]),
    ("collapse_ratio_equal_to_champion_ratio",
     edit("collapse_valuation_ratio = 0.3", "collapse_valuation_ratio = 1.0"),
     ["outcomes.collapse_valuation_ratio", "1.0", "below champion_valuation_ratio (1.0)"]),
    ("collapse_ratio_above_champion_ratio",
     edit("collapse_valuation_ratio = 0.3", "collapse_valuation_ratio = 0.5\nchampion_valuation_ratio = 0.4"),
     ["outcomes.collapse_valuation_ratio", "0.5", "below champion_valuation_ratio (0.4)"]),
    ("currency_lower_case", edit('currency = "CNY"', 'currency = "cny"'),
     ["scenario.currency", "'cny'", "[A-Z]{3}"]),
    ("currency_too_long", edit('currency = "CNY"', 'currency = "EURO"'),
     ["scenario.currency", "'EURO'", "[A-Z]{3}"]),
    ("zero_revenue", edit("revenue = 724e6", "revenue = 0"),
     ["companies.zhipu.revenue", "= 0", "out of range", "> 0", "<= 1e+16", "CNY/year"]),
    ("missing_valuation", edit("valuation = 700e9\n", ""),
     ["companies.zhipu.valuation", "required key is missing", "> 0"]),
    ("missing_event_hazard", edit("hazard_per_year = 0.1\n", ""),
     ["sector.events.regulatory_crackdown.hazard_per_year", "required key is missing"]),
    ("jump_of_wrong_type", edit("narrative = { mean = -0.8, sd = 0.3 }", 'narrative = "big"'),
     ["sector.events.regulatory_crackdown.narrative", "'big'"]),
    ("negative_jump_sd", edit("sd = 0.3", "sd = -0.3"),
     ["sector.events.regulatory_crackdown.narrative.sd", "-0.3", "out of range", ">= 0"]),
    ("bad_company_name", edit('name = "minimax"', 'name = "mini max"'),
     ["companies", "'mini max'", "pattern"]),
    # MODEL.md step 9: the platforms hold the rest of the market, so it must exceed the summed revenue.
    ("market_not_above_summed_revenue",
     edit("market_size = 1e12", "market_size = 1.2e9\n\n[sector.competition]\nenabled = true"),
     ["sector.market_size", "1200000000.0", "must exceed the companies' summed revenue", "1.224e+09 CNY/year",
      "sector.competition.enabled = true"]),
    ("market_effect_on_a_company_event",
     edit('{ name = "flop", probability = 0.25, narrative = -0.6 }',
          '{ name = "flop", probability = 0.25, narrative = -0.6, platforms = 0.2 }'),
     ["companies.zhipu.events.model_release.outcomes.flop.platforms", "0.2", "belongs to a sector event"]),
    ("competition_concentration_negative",
     edit("market_size = 1e12", "market_size = 1e12\n\n[sector.competition]\nconcentration = -1"),
     ["sector.competition.concentration", "-1", "out of range", ">= 0", "<= 10"]),
]


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_file_is_one_line_naming_file_key_value_range(tmp_path: Path, text: str,
                                                           fragments: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    message = one_line_error(excinfo, *fragments)
    assert message.startswith(f"{path}: ")


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in BAD_FILES[:6]],
                         ids=[c[0] for c in BAD_FILES[:6]])
def test_parse_scenario_names_the_given_source(text: str, fragments: list[str]) -> None:
    with pytest.raises(ScenarioError) as excinfo:
        parse_scenario(text, source="inline.toml")
    assert one_line_error(excinfo, *fragments).startswith("inline.toml: ")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    one_line_error(excinfo, str(path), "no such file")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(tmp_path)
    one_line_error(excinfo, str(tmp_path), "cannot read")


# --------------------------------------------------------------------------- bad overrides

# (id, --set strings, fragments the one-line message must contain besides the file's path)
BAD_OVERRIDES = [
    ("set_without_equals", ["companies.zhipu.cash"],
     ["--set", "'companies.zhipu.cash'", "dotted.key=value"]),
    ("set_unknown_company", ["companies.baidu.cash=1"],
     ["--set", "companies.baidu.cash", "no company named 'baidu'", "known: zhipu, minimax"]),
    ("set_unknown_event", ["sector.events.tariff.hazard_per_year=1"],
     ["sector.events.tariff.hazard_per_year", "no event named 'tariff'", "export_control_escalation"]),
    ("set_unknown_branch", ["companies.zhipu.events.model_release.outcomes.win.probability=0.5"],
     ["companies.zhipu.events.model_release.outcomes.win.probability", "no outcome named 'win'",
      "top3, flop, par"]),
    ("set_unparseable_value", ["companies.zhipu.cash=1e9e9"],
     ["companies.zhipu.cash", "'1e9e9'", "not a TOML value"]),
    ("set_unparseable_list", ["sector.events.export_control_escalation.import_cut=[0.3,"],
     ["sector.events.export_control_escalation.import_cut", "'[0.3,'", "not a TOML value"]),
    ("set_path_through_a_value", ["companies.zhipu.cash.amount=1"],
     ["companies.zhipu.cash.amount", "companies.zhipu.cash is a value, not a table"]),
    ("set_empty_key", ["=1"], ["not a dotted key"]),
    ("set_empty_segment", ["companies..cash=1"], ["'companies..cash'", "not a dotted key"]),
    ("set_company_without_key", ["companies.zhipu=1"], ["name a key inside companies.zhipu"]),
    ("set_unknown_key", ["companies.zhipu.growth.kapa=0.5"],
     ["companies.zhipu.growth.kapa", "unknown key"]),
    ("set_out_of_range", ["companies.zhipu.chips.imports_per_month=-5"],
     ["companies.zhipu.chips.imports_per_month", "-5", "out of range", ">= 0", "cards/month"]),
    ("set_bool_for_number", ["sector.narrative.sigma=true"],
     ["sector.narrative.sigma", "True", "valid number", "<= 10"]),
    ("set_nan", ["companies.minimax.cash=nan"], ["companies.minimax.cash", "nan", "finite"]),
    ("set_probabilities_not_summing", ["companies.zhipu.events.model_release.outcomes.top3.probability=0.5"],
     ["companies.zhipu.events.model_release.outcomes", "sum to 1.25", "must sum to 1"]),
    ("set_horizon_months_below_horizons", ["scenario.horizon_months=12"],
     ["scenario.horizons", "month 24", "horizon_months (12)"]),
    ("set_competition_on_a_small_market", ["sector.competition.enabled=true", "sector.market_size=1e9"],
     ["sector.market_size", "1000000000.0", "summed revenue, 1.224e+09 CNY/year"]),
    ("set_competition_switch_to_a_number", ["sector.competition.enabled=1"],
     ["sector.competition.enabled", "valid boolean"]),
]


@pytest.mark.parametrize(("overrides", "fragments"), [c[1:] for c in BAD_OVERRIDES],
                         ids=[c[0] for c in BAD_OVERRIDES])
def test_bad_override_is_one_line_naming_file_and_key(tmp_path: Path, overrides: list[str],
                                                       fragments: list[str]) -> None:
    path = write(tmp_path, BASE)
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path, overrides=overrides)
    assert one_line_error(excinfo, *fragments).startswith(f"{path}: ")


def test_enough_distinct_bad_input_cases() -> None:
    ids = [c[0] for c in BAD_FILES + BAD_OVERRIDES]
    assert len(set(ids)) == len(ids) >= 24


# --------------------------------------------------------------------------- good files


def test_model_md_example_loads(tmp_path: Path, model_example_toml: str) -> None:
    scenario = load_scenario(write(tmp_path, model_example_toml, "example.toml"))
    assert isinstance(scenario, Scenario)
    assert scenario.name == "zhipu_base"
    assert scenario.currency == "CNY"
    assert scenario.scenario.paths == 100_000
    assert scenario.scenario.seed == 20261121
    assert scenario.scenario.horizon_list == (6, 12, 24, 36)
    zhipu = scenario.company("zhipu")
    assert (zhipu.revenue, zhipu.valuation, zhipu.cash) == (724e6, 700e9, 15e9)
    assert zhipu.chips.imports_per_month == 200
    assert zhipu.valuation_model.base_multiple == 10.0
    assert [e.name for e in scenario.sector.events] == ["export_control_escalation", "regulatory_crackdown"]
    assert scenario.sector.events[0].import_cut == (0.3, 0.8)
    assert scenario.sector.events[1].narrative == Jump(mean=-0.8, sd=0.3)
    release = zhipu.events[0]
    assert [(b.name, b.probability) for b in release.branches()] == [
        ("top3", 0.25), ("flop", 0.25), ("par", 0.5)]
    assert release.outcomes[0].growth == Jump(mean=0.3, sd=0.0)
    assert scenario.outcomes.champion_max_price_to_sales == 100
    assert scenario.source_text == model_example_toml


def test_defaults_fill_in(tmp_path: Path) -> None:
    text = "[[companies]]\nname = 'solo'\nrevenue = 1e6\nvaluation = 1e9\ncash = 0\n"
    scenario = load_scenario(write(tmp_path, text, "my_case.toml"))
    meta = scenario.scenario
    assert scenario.name == "my_case"  # from the file name
    assert scenario.currency == "CNY"
    assert meta.horizon_months == 36
    assert meta.horizons is None
    assert meta.horizon_list == (6, 12, 24, 36)
    assert meta.seed is None
    company = scenario.company("solo")
    assert company.growth.sigma_revenue_long_run is None
    assert company.growth.sigma_revenue_final == company.growth.sigma_revenue
    # The defaults MODEL.md states.
    assert company.growth.market_price_of_risk == 0.0
    assert company.growth.volatility_decay == 0.0
    assert company.costs.tax_rate == 0.0 and company.costs.interest_rate == 0.0
    assert company.funding.recovery_fraction == 0.0
    assert company.narrative.long_run == 0.0
    outcomes = scenario.outcomes
    assert (outcomes.champion_valuation_ratio, outcomes.champion_max_price_to_sales,
            outcomes.collapse_valuation_ratio) == (1.0, 100.0, 0.3)
    assert scenario.sector.events == () and company.events == ()


@pytest.mark.parametrize(("months", "expected"), [(36, (6, 12, 24, 36)), (24, (6, 12, 24)),
                                                  (30, (6, 12, 24, 30)), (48, (6, 12, 24, 36, 48)),
                                                  (3, (3,))])
def test_default_horizons_follow_horizon_months(months: int, expected: tuple[int, ...]) -> None:
    companies = BASE[BASE.index("[[companies]]"):]
    text = f"[scenario]\nhorizon_months = {months}\n{companies}"
    scenario = parse_scenario(text)
    assert scenario.scenario.horizon_list == expected


def test_explicit_long_run_revenue_volatility_and_scalar_forms(tmp_path: Path) -> None:
    text = edit("sigma_revenue = 0.4", "sigma_revenue = 0.4\nsigma_revenue_long_run = 0.1")
    text = text.replace("import_cut = [0.3, 0.8]", "import_cut = 0.5")
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.company("zhipu").growth.sigma_revenue_final == 0.1
    assert scenario.sector.events[0].import_cut == (0.5, 0.5)
    flop = scenario.company("zhipu").events[0].outcomes[1]
    assert flop.narrative == Jump(mean=-0.6, sd=0.0)
    crackdown = scenario.sector.events[1]
    [branch] = crackdown.branches()
    assert branch.probability == 1.0 and branch.narrative == crackdown.narrative


def test_integers_are_accepted_as_numbers() -> None:
    scenario = parse_scenario(edit("revenue = 724e6", "revenue = 724000000"))
    assert scenario.company("zhipu").revenue == 724e6


OVERRIDES = [
    "companies.zhipu.chips.imports_per_month=0",
    "sector.events.export_control_escalation.hazard_per_year=0.5",
    "companies.zhipu.events.model_release.outcomes.top3.probability=0.4",
    "companies.zhipu.events.model_release.outcomes.par.probability=0.35",
]


def _check_overridden(scenario: Scenario) -> None:
    zhipu = scenario.company("zhipu")
    assert zhipu.chips.imports_per_month == 0
    assert scenario.sector.events[0].name == "export_control_escalation"
    assert scenario.sector.events[0].hazard_per_year == 0.5
    probabilities = {b.name: b.probability for b in zhipu.events[0].outcomes}
    assert probabilities == {"top3": 0.4, "flop": 0.25, "par": 0.35}
    assert math.fsum(probabilities.values()) == pytest.approx(1.0)


def test_overrides_by_dotted_path(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    scenario = load_scenario(path, overrides=OVERRIDES)
    _check_overridden(scenario)
    # Only the addressed keys move; the other company and the file are untouched.
    assert scenario.company("minimax") == load_scenario(path).company("minimax")
    assert scenario.sector.events[1] == load_scenario(path).sector.events[1]
    assert path.read_text(encoding="utf-8") == BASE


def test_overrides_on_model_md_example(tmp_path: Path, model_example_toml: str) -> None:
    scenario = load_scenario(write(tmp_path, model_example_toml), overrides=OVERRIDES)
    _check_overridden(scenario)


def test_override_forms() -> None:
    scenario = parse_scenario(BASE, overrides=[
        "scenario.currency=USD",  # a bare word is a string
        "sector.events.regulatory_crackdown.narrative={ mean = -1.0, sd = 0.5 }",
        "sector.events.export_control_escalation.import_cut=[0.5, 0.9]",
        "companies.minimax.costs.tax_rate=0.25",  # a table the file does not have
        "scenario.horizons=[12, 24]",
    ])
    assert scenario.currency == "USD"
    assert scenario.sector.events[1].narrative == Jump(mean=-1.0, sd=0.5)
    assert scenario.sector.events[0].import_cut == (0.5, 0.9)
    assert scenario.company("minimax").costs.tax_rate == 0.25
    assert scenario.scenario.horizon_list == (12, 24)
    mapped = parse_scenario(BASE, overrides={"companies.zhipu.cash": 1e9})
    assert mapped.company("zhipu").cash == 1e9


def test_with_overrides_derives_a_new_scenario(model_example_toml: str) -> None:
    base = parse_scenario(model_example_toml, source="example.toml")
    derived = with_overrides(base, OVERRIDES)
    _check_overridden(derived)
    assert base.company("zhipu").chips.imports_per_month == 200  # the original is unchanged
    assert with_overrides(base, []) == base
    with pytest.raises(ScenarioError) as excinfo:
        with_overrides(base, ["companies.baidu.cash=1"])
    one_line_error(excinfo, "example.toml", "no company named 'baidu'")


def test_scenario_is_frozen() -> None:
    scenario = parse_scenario(BASE)
    with pytest.raises(ValidationError, match="frozen"):
        scenario.scenario.paths = 5  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        scenario.company("zhipu").growth.kappa = 0.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        scenario.companies = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        scenario.companies.append(scenario.companies[0])  # type: ignore[attr-defined]
    assert isinstance(scenario.company("zhipu").events[0].outcomes, tuple)


# --------------------------------------------------------------------------- reference docs


def test_scenario_reference_is_up_to_date() -> None:
    assert docs.DEFAULT_OUTPUT.is_file(), "run `simulator docs` to create it"
    assert docs.DEFAULT_OUTPUT.read_text(encoding="utf-8") == docs.scenario_reference_markdown(), (
        "docs/scenario-reference.md is out of date: run `simulator docs`")


def test_scenario_reference_lists_every_key() -> None:
    text = docs.scenario_reference_markdown()
    for key in ("companies.<name>.growth.kappa", "sector.events.<name>.hazard_per_year",
                "companies.<name>.events.<name>.outcomes.<branch>.probability",
                "sector.events.<name>.import_cut", "scenario.horizons", "outcomes.collapse_valuation_ratio",
                "companies.<name>.valuation_model.discount_rate", "companies.<name>.chips.card_price"):
        assert f"| `{key}` |" in text, key
    assert "{currency}/year" in text
    assert "source_text" not in text and "source_path" not in text


def test_docs_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "reference.md"
    assert cli_main(["docs", "--check", "--output", str(target)]) == 1
    assert cli_main(["docs", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == docs.scenario_reference_markdown()
    assert [p.name for p in target.parent.iterdir()] == ["reference.md"]  # no temporary left
    assert cli_main(["docs", "--check", "--output", str(target)]) == 0
    target.write_text("stale\n", encoding="utf-8")
    capsys.readouterr()
    assert cli_main(["docs", "--check", "--output", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of date" in err and str(target) in err



def _every_layout_key_takes_a_set(path: Path) -> None:
    from simulator.model.parameters import build_layout

    layout = build_layout(load_scenario(path))
    checked = 0
    for key, slots in layout.paths.items():
        old = float(layout.theta[slots[0]])
        new = old * 0.999 if old else 1e-3
        try:
            after = build_layout(load_scenario(path, overrides={key: new}))
        except ScenarioError as exc:
            assert "is a value, not a table" not in str(exc) and "not a dotted key" not in str(exc), str(exc)
            continue
        changed = np.flatnonzero(after.theta != layout.theta)
        assert set(changed) <= set(slots) and np.all(after.theta[list(slots)] == new), key
        checked += 1
    assert checked > 0.8 * len(layout.paths)  # most keys take a nudge: the check above ran on them


@pytest.mark.parametrize("name", ["zhipu_base", "convergence", "sector_portfolio", "narrative_flip"])
def test_every_numeric_key_of_the_layout_can_be_set(name):
    """Every dotted key the parameter layout lists (what sweeps, sensitivity and calibration search) is
    one ``--set`` addresses, including a range's ``low``/``high`` and a jump's ``mean``/``sd`` and its bare
    key (its mean, the sd kept): the override lands in exactly that key's slots. A value the model refuses
    (a range turned upside down, branch probabilities that no longer sum to 1) may be refused, but never
    as an unaddressable key."""
    _every_layout_key_takes_a_set(Path(__file__).resolve().parents[1] / "scenarios" / f"{name}.toml")


def test_parts_of_numbers_written_bare_can_be_set(tmp_path):
    """A jump written as a bare number (its mean, sd 0) and a range written as one number (both ends):
    their parts are still keys ``--set`` addresses, and the rest of the number is kept."""
    text = (Path(__file__).resolve().parents[1] / "scenarios" / "zhipu_base.toml").read_text(encoding="utf-8")
    jump, cut = "narrative = { mean = -0.1, sd = 0.2 }", "import_cut = [0.3, 0.8]"
    assert jump in text and cut in text
    path = tmp_path / "bare.toml"
    path.write_text(text.replace(jump, "narrative = -0.1").replace(cut, "import_cut = 0.5"), encoding="utf-8")
    _every_layout_key_takes_a_set(path)
    event = "sector.events.export_control_escalation"
    sc = load_scenario(path, overrides={f"{event}.narrative.sd": 0.3, f"{event}.import_cut.high": 0.9})
    escalation = next(e for e in sc.sector.events if e.name == "export_control_escalation")
    assert (escalation.narrative.mean, escalation.narrative.sd) == (-0.1, 0.3)
    assert tuple(escalation.import_cut) == (0.5, 0.9)
