"""Monte Carlo scenario simulator for the valuation of AI companies.

Quick start::

    import simulator
    scenario = simulator.load_scenario("scenarios/zhipu_base.toml")
    ds = simulator.run(scenario, paths=100_000, seed=1)
    print(ds.sim.table())
"""

from simulator import accessor as _accessor  # noqa: F401  (registers ds.sim)
from simulator.api import run
from simulator.config import Scenario, ScenarioError, load_scenario, parse_scenario
from simulator.io import open_results, save_results

__all__ = ["Scenario", "ScenarioError", "load_scenario", "open_results", "parse_scenario", "run",
           "save_results"]
