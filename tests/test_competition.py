"""Competition and convergence (MODEL.md step 9): keys, limits, shares, joint outcomes.

The companies of a path and the platforms share one market; every check here is
either one of MODEL.md's limits (closed form, with a tolerance from the sample
size at a family-wise level), an identity that must hold path by path
(demands below the market, frozen shares, a rival's release), or the switch
that must leave every result bit for bit as it was.
"""

from __future__ import annotations

import re

import pytest
from conftest import MODEL_MD

from simulator.errors import ScenarioError
from simulator.model.parameters import build_layout
from simulator.model.scenario_file import parse_scenario
from simulator.studies.sweep import parse_sweep_param

# Two labs and the platforms: the labs' market sales (assumption for the tests) with room for both.
DUO = """
[scenario]
name = "duo"
horizon_months = 24
horizons = [12, 24]
seed = 17

[sector]
market_size = 20e9
market_growth = 0.3

[sector.competition]
enabled = true
convergence_rate = 0.2
concentration = 1.0
market_sigma = 0.1
platform_sigma = 0.1

[[sector.events]]
name = "platform_price_war"
hazard_per_year = 0.8
platforms = { mean = 0.2, sd = 0.1 }
market = { mean = 0.05, sd = 0.02 }

[[companies]]
name = "zhipu"
revenue = 724e6
valuation = 700e9
cash = 5e9

[[companies.events]]
name = "model_release"
hazard_per_year = 2.0
outcomes = [
  { name = "top3", probability = 0.3, demand = 0.4, narrative = 0.3 },
  { name = "flop", probability = 0.3, demand = -0.2, narrative = -0.3 },
  { name = "par", probability = 0.4 },
]

[[companies]]
name = "minimax"
revenue = 513e6
valuation = 265e9
cash = 8e9
"""


def duo(**changes) -> str:
    """DUO with ``key = value`` lines replaced (the key's first occurrence)."""
    text = DUO
    for key, value in changes.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
        assert n == 1, key
    return text


# --------------------------------------------------------------------------- keys


def test_model_md_step_9_example_loads(model_example_toml):
    step9 = re.findall(r"```toml\n(.*?)```", MODEL_MD.read_text(encoding="utf-8"), re.DOTALL)[1]
    scenario = parse_scenario(model_example_toml + step9, source="MODEL.md")
    comp = scenario.sector.competition
    assert (comp.enabled, comp.convergence_rate, comp.concentration, comp.market_sigma, comp.platform_sigma) == (
        True, 0.2, 1.0, 0.1, 0.1)
    war = scenario.sector.events[-1]
    assert (war.platforms.mean, war.market.mean) == (0.2, 0.05)


def test_every_key_by_dotted_path():
    layout = build_layout(parse_scenario(DUO, source="duo.toml"))
    for key in ("sector.market_size", "sector.market_growth", "sector.competition.enabled",
                "sector.competition.convergence_rate", "sector.competition.concentration",
                "sector.competition.market_sigma", "sector.competition.platform_sigma",
                "sector.events.platform_price_war.market", "sector.events.platform_price_war.market.sd",
                "sector.events.platform_price_war.platforms.mean"):
        assert layout.slots(key)
    # The market is shared: a company event has no market or platforms key.
    with pytest.raises(ScenarioError, match="not a numeric scenario key"):
        layout.slots("companies.zhipu.events.model_release.outcomes.top3.platforms")


def test_switch_is_no_number_to_vary_or_draw():
    scenario = parse_scenario(DUO, source="duo.toml")
    with pytest.raises(ScenarioError, match="switch"):
        parse_sweep_param("sector.competition.enabled=0,1", scenario, build_layout(scenario))
    text = DUO.replace("enabled = true", 'enabled = { dist = "uniform", low = 0, high = 1 }')
    with pytest.raises(ScenarioError, match=r"sector.competition.enabled: a switch"):
        parse_scenario(text, source="duo.toml")


def test_uncertain_market_must_stay_above_the_revenues():
    ok = DUO.replace("market_size = 20e9", 'market_size = { dist = "uniform", low = 5e9, high = 40e9 }')
    assert parse_scenario(ok, source="duo.toml").uncertain
    bad = DUO.replace("market_size = 20e9", 'market_size = { dist = "uniform", low = 1e9, high = 40e9 }')
    with pytest.raises(ScenarioError) as excinfo:
        parse_scenario(bad, source="duo.toml")
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("duo.toml: sector.market_size = {dist = ")
    assert "draws can reach 1e+09" in message and "summed revenue" in message and "1.237e+09" in message
