"""What scenario discovery reads: the per-path draws of the uncertain inputs and whether each path has an event.

From a run's results file: its ``input_draw`` and ``path_outcome`` (the first
paths, :data:`simulator.model.uncertain.RECORDED_PATHS` at most), and for a
threshold on a quantity its kept paths (``simulator run --keep-paths N``).
From a scenario file: the scenario is run now with the draws and outcome codes
of every path kept (:meth:`simulator.runner.prepared.PreparedRun.dataset`, as
``simulator run`` records them), or, for a threshold, the quantity at the
month of every path, kept a group of blocks at a time so memory stays bounded.

May import: :mod:`simulator.errors`, :mod:`simulator.model`, :mod:`simulator.engines`,
:mod:`simulator.results`, :mod:`simulator.runner` and :mod:`simulator.studies.given_data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulator.errors import UserError
from simulator.model import quantities as Q
from simulator.model.schema import Scenario
from simulator.results.targets import PathEvent, parse_event
from simulator.studies.given_data import (
    no_uncertain_inputs,
    open_draws,
    refuse_run_options,
    run_provenance,
    scenario_from_attrs,
)

if TYPE_CHECKING:
    from simulator.runner.prepared import PreparedRun

__all__ = ["DiscoveryData", "check_memory", "discovery_data"]

#: Paths kept at once when a threshold event is computed from a scenario (bounds the kept arrays).
KEEP_CHUNK_PATHS = 65_536
#: Bytes per path and input that discovery holds at most: the draws, the three samples' copies,
#: PRIM's data frames and peeling masks.  Measured peak (tracemalloc, PRIM, 2e4 to 1e5 paths, 3 to 8
#: inputs): 122 to 134 with the per-path bytes below; CART about 15 (tests/test_discovery.py).
BYTES_PER_PATH_INPUT = 160
#: Bytes per path besides: outcome codes, 0/1 outcome, sample indices, masks.
BYTES_PER_PATH = 64


@dataclass
class DiscoveryData:
    """The draws (paths, inputs), the event per path, the input names, the run's provenance and scenario."""

    draws: np.ndarray
    y: np.ndarray
    inputs: list[str]
    attrs: dict
    scenario: Scenario
    event: PathEvent


def check_memory(paths: int, inputs: int, *, option: str = "--paths", run: PreparedRun | None = None) -> None:
    """Refuse, in one line, a discovery whose arrays (beside those of ``run``, when it runs now) would not fit
    in the memory available (:func:`simulator.runner.memory.check`)."""
    from simulator.runner.memory import check, need_of

    needs, sizes = run.memory_needs(paths_option=option) if run is not None else ([], {})
    own = need_of("discovery's draws and samples", float(paths) * (inputs * BYTES_PER_PATH_INPUT + BYTES_PER_PATH),
                  option)
    check([*needs, own], {**sizes, option: int(paths)}, what=f"discovery over {inputs} inputs")


def discovery_data(source: Path, event: str, *, paths: int | None = None, seed=None, overrides=(),
                   threads: int | None = None, engine: str = "numba", progress: bool = False) -> DiscoveryData:
    """The draws and the per-path event of a results file (``.nc``) or of a scenario file run now.

    Raises
    ------
    UserError
        A file without per-path draws, a scenario without uncertain inputs, a bad
        event, a threshold on a file without kept paths, too many paths (one line).
    """
    if Path(source).suffix == ".nc":
        refuse_run_options(source, paths, overrides)
        return _from_results(Path(source), event)
    return _from_scenario(Path(source), event, paths=paths, seed=seed, overrides=overrides, threads=threads,
                          engine=engine, progress=progress)


def _from_results(path: Path, text: str) -> DiscoveryData:
    ds = open_draws(path)
    companies = [str(c) for c in ds["company"].values]
    horizons = [int(h) for h in ds["horizon"].values]
    scenario = scenario_from_attrs(ds.attrs)
    event = parse_event(text, scenario)
    draws = ds["input_draw"].values
    if event.target is not None:
        y = event.from_outcomes(ds["path_outcome"].values, companies, horizons)
    else:
        var = f"path_{event.variable}"
        if var not in ds:
            raise UserError(f"{path}: {event.label} needs the kept paths' {event.variable} ({var}), which this "
                            "file does not hold; run it with `simulator run --keep-paths N`, or give the "
                            "scenario file")
        if event.month not in set(int(m) for m in ds["month"].values):
            raise UserError(f"{path}: {event.label}: month {event.month} is not among the kept months")
        n = min(ds.sizes["sample"], ds.sizes["path"])
        draws = draws[:n]
        y = event.from_values(ds[var].sel(company=event.company, month=event.month).values[:n])
    return DiscoveryData(np.asarray(draws, dtype=np.float64), np.asarray(y, dtype=bool),
                         [str(x) for x in ds["input"].values], run_provenance(ds.attrs), scenario, event)


def _from_scenario(path: Path, text: str, *, paths, seed, overrides, threads, engine, progress) -> DiscoveryData:
    from simulator.engines.input_draws import recorded_draws
    from simulator.runner.prepared import prepare_run
    from simulator.runner.progress import progress_bar

    prepared = prepare_run(path, paths=paths, seed=seed, engine=engine, threads=threads,
                           overrides=list(overrides), fans=False)
    unc = prepared.uncertain
    if not unc:
        raise UserError(no_uncertain_inputs(prepared.scenario))
    event = parse_event(text, prepared.scenario)
    n = prepared.paths
    check_memory(n, len(unc), run=prepared)
    with progress_bar(prepared, progress) as update:
        if event.target is not None:
            tally = prepared.simulate(update, outcome_paths=n)
            ds = prepared.dataset(tally)
            draws = ds["input_draw"].values
            y = event.from_outcomes(ds["path_outcome"].values, [c.name for c in prepared.scenario.companies],
                                    list(prepared.plan.horizons))
        else:
            tally, values = _kept_values(prepared, event, update)
            ds = prepared.dataset(tally)
            draws = recorded_draws(unc, prepared.seed, n, block_size=prepared.block_size)
            y = event.from_values(values)
    return DiscoveryData(np.asarray(draws, dtype=np.float64), np.asarray(y, dtype=bool), list(unc.names),
                         run_provenance(ds.attrs), prepared.scenario, event)


def _kept_values(prepared, event: PathEvent, progress):
    """The run's tally and the event's quantity at its month on every path, kept a group of blocks at a time."""
    from simulator.engines.dispatch import simulate
    from simulator.engines.tally import merge_tallies

    n, size = prepared.paths, prepared.block_size
    per_call = max(1, KEEP_CHUNK_PATHS // size)
    n_blocks = prepared.n_blocks
    v = Q.VAR_NAMES.index(event.variable)
    c = [co.name for co in prepared.scenario.companies].index(event.company)
    values = np.empty(n, dtype=np.float64)
    total = None
    callback = prepared.input_callback()
    for first_block in range(0, n_blocks, per_call):
        blocks = list(range(first_block, min(n_blocks, first_block + per_call)))
        start = first_block * size
        stop = min(n, (blocks[-1] + 1) * size)
        part = simulate(prepared.layout, prepared.plan, paths=n, seed=prepared.seed, engine=prepared.engine,
                        block_size=size, fans=False, keep_paths=stop - start, keep_start=start,
                        threads=prepared.threads, blocks=blocks, uncertain=callback, market=prepared.market,
                        progress=progress)
        values[start:stop] = part.kept[v, :, c, event.month]
        # Only the merged counts are kept: each part's kept arrays cover its own paths.
        part.kept = None
        part.kept_market = None
        part.fail_month = None
        total = part if total is None else merge_tallies(total, part)
    return total, values
