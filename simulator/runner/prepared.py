"""One prepared run: a scenario, its seed, paths and options turned into what an engine needs.

:func:`prepare_run` is the one place where a run's options are checked and its
pieces are built: the parameter layout, the time plan, the root seed of the
block streams, the per-path draws of uncertain inputs and the stated market.
:func:`simulator.run`, the grouped and distributed runs
(:mod:`simulator.runner.distributed`) and every study start from a
:class:`PreparedRun`, so they all validate the same way and raise the same
error type (:class:`~simulator.errors.ScenarioError`).

May import: :mod:`simulator.errors`, :mod:`simulator.model`, :mod:`simulator.engines`
and :mod:`simulator.results`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.engines.dispatch import ENGINES, simulate
from simulator.engines.input_draws import InputCallback, input_callback
from simulator.engines.plan import DEFAULT_BLOCK_SIZE, RunPlan, plan_run
from simulator.engines.streams import RANDOM_STREAMS, normalise_seed
from simulator.engines.tally import Tally
from simulator.errors import ScenarioError
from simulator.model import quantities as Q
from simulator.model.parameters import ParameterLayout, build_layout
from simulator.model.scenario_file import load_scenario, with_overrides
from simulator.model.schema import SEED_MAX, Scenario
from simulator.model.uncertain import RECORDED_PATHS, UncertainSet
from simulator.results.dataset import build_dataset, market_path, scenario_hash
from simulator.results.draws import annotate_dataset
from simulator.runner.memory import Need, check, run_needs
from simulator.warnings import SimulatorWarning

__all__ = ["SCENARIO_INPUTS", "PreparedRun", "prepare_run", "resolve_scenario"]

#: The default of :meth:`PreparedRun.simulate`'s ``inputs``: the scenario's own uncertain inputs.
SCENARIO_INPUTS = object()


def resolve_scenario(scenario: Scenario | str | Path, overrides: Sequence[str] | dict | None = None) -> Scenario:
    """A validated scenario from a file or a Scenario, with ``--set`` overrides applied."""
    if not isinstance(scenario, Scenario):
        return load_scenario(scenario, overrides=overrides)
    if overrides:
        return with_overrides(scenario, overrides)
    return scenario


@dataclass
class PreparedRun:
    """What an engine needs to simulate one scenario, and what its Dataset records.

    Attributes
    ----------
    name : str
        The scenario's name.
    scenario : Scenario
        The validated scenario (overrides applied).
    layout : ParameterLayout
        Its parameter vector and event tables.
    plan : RunPlan
        Months, horizons and recorded months.
    paths : int
        Paths of the run.
    seed : SeedSequence
        Root of the block streams.
    engine, block_size, keep_paths, zarr, threads, fans
        The run's options (see :func:`prepare_run`).
    attrs : dict
        Extra provenance for the Dataset.
    """

    name: str
    scenario: Scenario
    layout: ParameterLayout
    plan: RunPlan
    paths: int
    seed: np.random.SeedSequence
    engine: str = "numba"
    block_size: int = DEFAULT_BLOCK_SIZE
    keep_paths: int = 0
    zarr: Path | None = None
    threads: int | None = None
    fans: bool = True
    attrs: dict = field(default_factory=dict)

    @property
    def uncertain(self) -> UncertainSet | None:
        """The scenario's uncertain inputs (None when it has none)."""
        return self.scenario.uncertain or None

    @property
    def recorded(self) -> int:
        """Paths whose draws and outcome codes go in the Dataset (uncertain inputs only)."""
        return min(self.paths, RECORDED_PATHS) if self.uncertain else 0

    @property
    def market(self) -> np.ndarray | None:
        """Market size at each horizon, or None."""
        return market_path(self.scenario, self.plan.horizons)

    @property
    def n_blocks(self) -> int:
        """Blocks of the whole run."""
        return -(-self.paths // self.block_size)

    @property
    def kept_count(self) -> int:
        """Paths kept (at most ``paths``)."""
        return min(int(self.keep_paths), self.paths)

    @property
    def uncertain_slots(self) -> int:
        """Parameter slots the uncertain inputs set per path."""
        unc = self.uncertain
        return sum(len(self.layout.slots(spec.path)) for spec in unc.inputs) if unc else 0

    def memory_needs(self, *, paths_option: str = "--paths") -> tuple[list[Need], dict[str, int]]:
        """What this run needs in memory, by part, and the sizes it depends on (:mod:`simulator.runner.memory`)."""
        return run_needs(self.layout, self.plan, paths=self.paths, paths_option=paths_option, engine=self.engine, block_size=self.block_size, keep_paths=self.keep_paths,
            kept_in_memory=self.zarr is None, threads=self.threads, fans=self.fans, recorded=self.recorded,
            uncertain_slots=self.uncertain_slots)

    def input_callback(self, *, seed: np.random.SeedSequence | None = None,
                       exclude: Sequence[str] = ()) -> InputCallback | None:
        """The engines' per-path draws of the uncertain inputs (None without any).

        ``seed`` replaces the run's root (a study's replicate); ``exclude`` holds
        the named inputs at their scenario values (swept or sampled by the study).
        """
        return input_callback(self.uncertain, self.layout, self.seed if seed is None else seed,
                              exclude=exclude)

    def identity(self) -> dict:
        """What defines the run's results: equal identities give bit-identical results."""
        return {
            "model_version": Q.MODEL_VERSION,
            "scenario_hash": scenario_hash(self.scenario),
            "seed_entropy": str(self.seed.entropy),
            "seed_spawn_key": [int(k) for k in self.seed.spawn_key],
            "paths": int(self.paths),
            "block_size": int(self.block_size),
            "engine": self.engine,
            "kept_paths": int(self.kept_count),
            "kept_paths_zarr": str(self.zarr) if self.zarr is not None and self.kept_count else "",
            # The distributions are not in the scenario hash (it holds their medians).
            **({"uncertain_inputs": self.uncertain.to_json()} if self.uncertain else {}),
        }

    def run_attrs(self) -> dict:
        """Provenance attributes of the run's Dataset."""
        attrs = {
            "model_version": Q.MODEL_VERSION,
            "engine": self.engine,
            "seed_entropy": str(self.seed.entropy),
            "seed_spawn_key": list(self.seed.spawn_key),
            "block_size": int(self.block_size),
            "random_streams": RANDOM_STREAMS,
            "kept_paths": int(self.kept_count),
        }
        attrs.update(self.attrs)
        return attrs

    def simulate(self, progress: Callable[[int], None] | None = None, *, theta_sets: np.ndarray | None = None,
                 fans: bool | None = None, seed: np.random.SeedSequence | None = None, exclude: Sequence[str] = (),
                 outcome_paths: int | None = None, inputs: InputCallback | object | None = SCENARIO_INPUTS,
                 chunk_blocks: int | None = None, hist_buffer: np.ndarray | None = None) -> Tally:
        """Simulate the run in this process: what :func:`simulator.run` does, and what every study calls.

        Parameters
        ----------
        progress : callable, optional
            Called with the paths finished.
        theta_sets : ndarray, shape (n_sets, n_theta), optional
            Parameter sets on common random numbers (a study); default the scenario's
            own.  Kept paths are those of the plain run only.
        fans : bool, optional
            Record histograms of the recorded months (default: the plan's fans).
        seed : SeedSequence, optional
            Another root for the block streams (a study's replicate).
        exclude : sequence of str
            Uncertain inputs held at their scenario values (the study varies them).
        outcome_paths : int, optional
            Paths whose outcome codes are kept (default: :attr:`recorded` for the
            plain run, none for parameter sets).
        inputs : callable or None
            The per-path input draws when they come from elsewhere than the
            scenario (a stored run's; None: none); default :meth:`input_callback`.
        chunk_blocks, hist_buffer
            As for :func:`simulator.engines.dispatch.simulate` (no effect on results).
        """
        root = self.seed if seed is None else seed
        plain = theta_sets is None
        return simulate(self.layout, self.plan, paths=self.paths, seed=root, theta_sets=theta_sets,
                        engine=self.engine, block_size=self.block_size, fans=self.fans if fans is None else fans,
                        keep_paths=self.keep_paths if plain else 0, threads=self.threads, progress=progress,
                        market=self.market,
                        uncertain=(self.input_callback(seed=root, exclude=exclude) if inputs is SCENARIO_INPUTS
                                   else inputs),
                        outcome_paths=(self.recorded if plain else 0) if outcome_paths is None else outcome_paths,
                        chunk_blocks=chunk_blocks, hist_buffer=hist_buffer)

    def dataset(self, tally: Tally, *, path_outcome: np.ndarray | None = None,
                attrs: dict | None = None) -> xr.Dataset:
        """The results Dataset of a whole run's tally.

        ``path_outcome`` (path, company, horizon) are the recorded paths' outcome
        codes when they do not come with the tally (a grouped run gathers them).
        """
        if path_outcome is None and tally.path_outcome is not None:
            path_outcome = tally.path_outcome[0]
        ds = build_dataset(self.scenario, self.layout, self.plan, tally,
                           attrs={**self.run_attrs(), **(attrs or {})})
        if self.uncertain:
            # Keys given as distributions: which, with the first paths' draws and outcomes
            # (for `simulator attribute` and the given-data sensitivity methods).
            ds = annotate_dataset(ds, self.uncertain, self.seed, block_size=self.block_size,
                                  path_outcome=path_outcome)
        return ds


def prepare_run(scenario: Scenario | str | Path, *, paths: int | None = None, seed=None,
                engine: str = "numba", block_size: int = DEFAULT_BLOCK_SIZE, keep_paths: int = 0,
                zarr: str | Path | None = None, threads: int | None = None,
                overrides: Sequence[str] | dict | None = None, fans: bool = True,
                paths_option: str | None = None) -> PreparedRun:
    """Load and check a scenario and its options; nothing is simulated.

    Parameters
    ----------
    scenario : Scenario or path
        A validated scenario or a TOML file.
    paths : int, optional
        Number of paths (default: ``scenario.paths``).
    seed : int, SeedSequence, Generator or None, optional
        Default: ``scenario.seed``; if that is unset too, fresh entropy (recorded
        in the results as ``seed_entropy``).
    engine : {"numba", "numpy"}
        Compiled engine or the numpy reference engine.
    block_size : int
        Paths per random-stream block.
    keep_paths : int
        Keep the first N full paths.
    zarr : path, optional
        Zarr store for the kept paths (grouped runs).
    threads : int, optional
        Engine threads; results do not depend on it.
    overrides : sequence of "dotted.key=value" or mapping, optional
        Applied to the scenario.
    fans : bool
        Record every month for quantile fans (a run); False records only the
        horizons (a study, which reads outcomes and at most their quantiles).
    paths_option : str, optional
        What the paths are called in a memory error (default ``--paths``, or
        ``scenario.paths`` when they come from the file).

    Raises
    ------
    ScenarioError
        Bad scenario file, override or option (one-line message).
    """
    scenario = resolve_scenario(scenario, overrides)
    meta = scenario.scenario
    n_paths = int(meta.paths if paths is None else paths)
    if n_paths < 1:
        raise ScenarioError(f"paths: {n_paths} must be >= 1")
    if keep_paths < 0:
        raise ScenarioError(f"keep_paths: {keep_paths} must be >= 0")
    if block_size < 1:
        raise ScenarioError(f"block_size: {block_size} must be >= 1")
    if engine not in ENGINES:
        raise ScenarioError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if keep_paths > n_paths:
        warnings.warn(f"--keep-paths {keep_paths:,}: the run has {n_paths:,} paths; keeping all {n_paths:,}",
                      SimulatorWarning, stacklevel=2)
    if threads is not None and int(threads) < 1:
        raise ScenarioError(f"threads: {threads} must be >= 1")
    if isinstance(seed, (int, np.integer)) and not 0 <= int(seed) <= SEED_MAX:
        raise ScenarioError(f"seed: {seed} must be >= 0 and <= {SEED_MAX} (the range of scenario.seed)")
    try:
        root = normalise_seed(meta.seed if seed is None else seed)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    prepared = PreparedRun(name=scenario.name, scenario=scenario, layout=build_layout(scenario),
                           plan=plan_run(meta.horizon_months, meta.horizon_list, fans=fans), paths=n_paths,
                           seed=root, engine=engine, block_size=int(block_size), keep_paths=int(keep_paths),
                           zarr=None if zarr is None else Path(zarr).resolve(),
                           threads=None if threads is None else int(threads), fans=fans)
    # Nothing is allocated yet: check that the run fits in memory (one line naming the
    # option that costs the most otherwise).
    check(*prepared.memory_needs(paths_option=paths_option or ("--paths" if paths is not None else "scenario.paths")),
          what=f"{scenario.name} ({n_paths:,} paths)")
    return prepared
