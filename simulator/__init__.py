"""Monte Carlo scenario simulator for the valuation of AI companies.

Quick start::

    import simulator
    scenario = simulator.load_scenario("scenarios/zhipu_base.toml")
    ds = simulator.run(scenario, paths=100_000, seed=1)
    print(ds.sim.table())

The package is layered (``docs/architecture.md``): ``model`` (what is simulated),
``engines`` (how it is sampled), ``results`` (Datasets), ``run`` (prepared runs,
dask), ``studies``, ``report`` and ``cli``.  The names below are its public API;
they are imported on first use, so ``import simulator`` stays cheap.
"""

from __future__ import annotations

import importlib

__all__ = ["Scenario", "ScenarioError", "figures", "load_scenario", "open_results", "parse_scenario", "run",
           "save_results", "write_report"]

_PUBLIC = {
    "Scenario": "simulator.model.schema",
    "ScenarioError": "simulator.errors",
    "load_scenario": "simulator.model.scenario_file",
    "parse_scenario": "simulator.model.scenario_file",
    "run": "simulator.runner.api",
    "save_results": "simulator.results.io",
    "open_results": "simulator.results.io",
    "write_report": "simulator.report.writer",
    "figures": "simulator.report.notebook",
}


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
