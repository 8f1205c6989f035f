"""Write-back with a style-preserving TOML library: any key, comments and layout kept.

``calibrate --out`` used to edit the text with hand-written regular expressions,
which failed on a branch key of zhipu_base ("could not find where to write this
key in the file").
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import simulator
from simulator.cli import main
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import parse_scenario
from simulator.studies.scenario_edit import number_text, set_values

ROOT = Path(__file__).resolve().parents[1]
BASE = (ROOT / "scenarios" / "zhipu_base.toml").read_text()


def _comments(text: str) -> list[str]:
    return [m.group(0).strip() for m in re.finditer(r"#.*$", text, flags=re.M)]


def _theta(text: str, **values):
    layout = build_layout(parse_scenario(text))
    return {k: [float(layout.theta[s]) for s in layout.paths[k]] for k in values}


# Every kind of key: a plain key, a branch of an array of inline tables, a jump's parts (inline table
# and scalar), a range end, a key the file does not spell out, a table the file does not have.
KEYS = {
    "companies.zhipu.growth.long_run": 0.8123,
    "companies.zhipu.events.model_release.outcomes.top3.demand": 0.5,
    "companies.zhipu.events.model_release.outcomes.top3.narrative": 0.6,
    "companies.zhipu.events.model_release.outcomes.flop.narrative.sd": 0.2,
    "companies.zhipu.events.government_contract.demand.sd": 0.01,
    "sector.events.export_control_escalation.import_cut.high": 0.95,
    "companies.zhipu.funding.backstop": 7.5e9,
    "sector.events.regulatory_crackdown.cash": -1e9,
}


@pytest.mark.parametrize("key", list(KEYS))
def test_any_key_is_written_with_every_comment_kept(key):
    value = KEYS[key]
    text = set_values(BASE, {key: value}, tag="calibrated")
    assert _theta(text, **{key: 0})[key] == [value] or key.endswith(".high")
    # Every source comment survives, and no line but the edited one changes.
    for comment in _comments(BASE):
        assert any(comment.split(" [calibrated;")[0] in c for c in _comments(text)), comment
    changed = [line for line in text.splitlines() if line not in BASE.splitlines()]
    assert len(changed) == 1, changed


def test_all_keys_at_once_give_exactly_those_values():
    text = set_values(BASE, KEYS, tag="calibrated")
    before, after = build_layout(parse_scenario(BASE)), build_layout(parse_scenario(text))
    moved = {k for k, slots in after.paths.items()
             if [after.theta[s] for s in slots] != [before.theta[s] for s in slots]}
    # The bare key of a jump is its mean; a range's bare key moves with its end.
    assert moved == set(KEYS) | {"companies.zhipu.events.model_release.outcomes.top3.narrative.mean",
                                 "companies.zhipu.events.model_release.outcomes.top3.demand.mean",
                                 "companies.zhipu.events.model_release.outcomes.flop.narrative.sd",
                                 "sector.events.export_control_escalation.import_cut"}
    assert "narrative = { mean = 0.6, sd = 0.15 }" in text  # the sd kept
    assert "demand = { mean = 0.09, sd = 0.01 }" in text  # a scalar jump became a table, in the file's style


def test_a_missing_table_is_created():
    text = set_values(BASE, {"sector.market_growth": 0.4, "companies.zhipu.growth.market_price_of_risk": 0.1})
    sc = parse_scenario(text)
    assert sc.sector.market_growth == 0.4 and sc.company("zhipu").growth.market_price_of_risk == 0.1


def test_a_second_calibration_keeps_one_tag_and_one_note():
    note = "Calibrated by `simulator calibrate` on DAY from zhipu_base.toml:\n  x = 1"
    once = set_values(BASE, {"companies.zhipu.growth.long_run": 0.8}, tag="calibrated", note=note)
    twice = set_values(once, {"companies.zhipu.growth.long_run": 0.9}, tag="calibrated",
                       note=note.replace("DAY", "LATER"))
    line = next(line for line in twice.splitlines() if line.startswith("long_run = 0.9"))
    assert line.count("[calibrated;") == 1 and line.endswith("[calibrated; was 0.35]")
    assert twice.count("# Calibrated by `simulator calibrate`") == 1 and "LATER" in twice
    assert twice.split("\n", 3)[3] == once.split("\n", 3)[3].replace("long_run = 0.8 ", "long_run = 0.9 ")


def test_an_unknown_entry_is_one_line():
    with pytest.raises(simulator.ScenarioError, match="no events entry named 'nope'"):
        set_values(BASE, {"companies.zhipu.events.nope.hazard_per_year": 1.0})


@pytest.mark.parametrize("value", [5e9, 0.35, 0.1 + 0.2, 1e-7, 724e6, 2.0, 0.4, 123456.789])
def test_numbers_are_written_short_and_read_back_exactly(value):
    text = number_text(value)
    assert float(text) == value and len(text) <= len(repr(value))
    assert parse_scenario(BASE.replace("backstop = 5e9", f"backstop = {text}")).company(
        "zhipu").funding.backstop == value


def test_calibrate_writes_a_branch_key_of_zhipu_base(tmp_path, capsys):
    out = tmp_path / "cal.toml"
    key = "companies.zhipu.events.model_release.outcomes.top3.demand"
    assert main(["calibrate", str(ROOT / "scenarios" / "zhipu_base.toml"), "--target", "zhipu.collapse@36=0.75",
                 "--param", f"{key}=0:1", "--paths", "2000", "--replicates", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert re.search(r'\{ name = "top3", .*demand = [0-9.e-]+ \}', text)
    value = simulator.load_scenario(out).company("zhipu").events[0].outcomes[0].demand.mean
    assert f"{key} = {value:.6g}" in capsys.readouterr().out


def test_a_figure_that_derives_amounts_keeps_them_as_they_were():
    # schwartz_moon_amazon leaves chips.revenue_per_card, chips.card_price and funding.backstop to
    # their defaults derived from revenue: moving revenue must not move them (a calibration keeps
    # them fixed), so the written file spells them out with the values they had.
    from simulator.studies.scenario_edit import DERIVED_TAG

    path = ROOT / "scenarios" / "schwartz_moon_amazon.toml"
    before = simulator.load_scenario(path)
    (company,) = before.companies
    assert company.derived, "the check needs a company with derived amounts"
    text = set_values(path.read_text(encoding="utf-8"), {"companies.amazon.revenue": 1.5e9}, tag="calibrated")
    after = parse_scenario(text, source="edited.toml")
    assert after.companies[0].revenue == 1.5e9 and not after.companies[0].derived
    for key in company.derived:
        table, name = key.split(".")
        assert getattr(getattr(after.companies[0], table), name) == getattr(getattr(company, table), name), key
    assert text.count(DERIVED_TAG) == len(company.derived)
    # Untouched companies and edits of sector keys write nothing more.
    assert DERIVED_TAG not in set_values(path.read_text(encoding="utf-8"), {"sector.market_growth": 0.3})


@pytest.mark.parametrize(("value", "text"), [
    (5e9, "5e9"), (0.35, "0.35"), (0.1 + 0.2, "0.30000000000000004"), (1e-7, "1e-7"), (724e6, "7.24e8"),
    (2.0, "2.0"), (123456.789, "123456.789"), (1.5e-5, "1.5e-5"), (-2.5e12, "-2.5e12"), (1e22, "1e22"),
    (7, "7"), (True, "true"), (False, "false"),
])
def test_each_number_is_written_in_its_shortest_form(value, text):
    """The shortest of Python's repr and the fewest-digit scientific form (no trailing zeros, no '+'), which
    reads back exactly; whole numbers and switches as TOML writes them."""
    assert number_text(value) == text


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_number_that_is_not_finite_is_refused(value):
    with pytest.raises(ValueError, match=rf"^{value}: not a finite number$"):
        number_text(value)


def _event_line(text: str, start: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip().startswith(start))


def test_a_part_of_a_number_turns_it_into_the_jump_or_range_it_is_part_of():
    """A jump's mean or sd of a key written as one number (or not written) becomes { mean, sd } with the
    number as its mean (or the default); a range's end of a key written as one number (or not written) becomes
    [low, high] with the other end as it was."""
    scalar_cut = BASE.replace("import_cut = [0.3, 0.8] ", "import_cut = 0.5 ", 1)
    text = set_values(scalar_cut, {"sector.events.export_control_escalation.import_cut.low": 0.2})
    assert _event_line(text, "import_cut").startswith("import_cut = [0.2, 0.5]")
    no_cut = BASE.replace("import_cut = [0.3, 0.8] ", "", 1)
    text = set_values(no_cut, {"sector.events.export_control_escalation.import_cut.high": 0.7})
    assert parse_scenario(text).sector.events[0].import_cut == (0.0, 0.7)  # the low end keeps its default
    text = set_values(BASE, {"companies.zhipu.events.government_contract.demand.mean": 0.2})
    assert _event_line(text, "demand").startswith("demand = { mean = 0.2, sd = 0.0 }")
    text = set_values(BASE, {"sector.events.security_breach.demand.sd": 0.05})  # not written: mean 0
    assert "demand = { mean = 0.0, sd = 0.05 }" in text
    assert parse_scenario(text).sector.events[2].demand.sd == 0.05


def test_a_jump_an_inline_table_does_not_have_is_added_inside_it_in_the_files_style():
    key = "companies.zhipu.events.model_release.outcomes.top3.demand.sd"
    text = set_values(BASE, {key: 0.25})
    assert _event_line(text, '{ name = "top3"').startswith(
        '{ name = "top3", probability = 0.2, narrative = { mean = 0.4, sd = 0.15 }, growth = 0.1, '
        'demand = { mean = 0.0, sd = 0.25 } },')
    assert _theta(text, **{key: 0})[key] == [0.25]


@pytest.mark.parametrize(("key", "message"), [
    ("companies.zhipu", "name a key inside companies.zhipu"),
    ("companies.zhipu.events.model_release", "name a key inside companies.zhipu.events.model_release"),
    ("companies.zhipu.growth.long_run.foo", "companies.zhipu.growth.long_run is a value, not a table"),
])
def test_a_path_that_names_no_key_is_one_line(key, message):
    with pytest.raises(simulator.ScenarioError, match=rf"^<calibrated>: {re.escape(key)}: {re.escape(message)}$"):
        set_values(BASE, {key: 1.0})


def test_a_list_the_file_does_not_have_is_one_line():
    text = BASE.split("[[sector.events]]")[0] + "[[companies]]" + BASE.split("[[companies]]", 1)[1]
    with pytest.raises(simulator.ScenarioError, match=r"^x\.toml: sector\.events\.security_breach\.hazard_per_year: "
                                                      r"the file has no sector\.events$"):
        set_values(text, {"sector.events.security_breach.hazard_per_year": 1.0}, source="x.toml")


def test_the_top_level_outcomes_table_is_a_table_even_when_the_file_does_not_write_it():
    """``outcomes.champion_valuation_ratio`` names the scenario's [outcomes] table, not an event's list of
    outcomes: --set and the editor take it in a file without that table (both refused it: "name a key inside",
    "the file has no outcomes")."""
    from simulator.model.scenario_file import with_overrides

    text = BASE.split("[outcomes]")[0]
    sc = parse_scenario(text, source="x.toml")
    assert with_overrides(sc, ["outcomes.champion_valuation_ratio=2"]).outcomes.champion_valuation_ratio == 2.0
    edited = set_values(text, {"outcomes.collapse_valuation_ratio": 0.25}, source="x.toml")
    assert parse_scenario(edited).outcomes.collapse_valuation_ratio == 0.25
