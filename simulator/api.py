"""The Python entry point: ``run(scenario) -> xarray.Dataset``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from simulator import _layout as L
from simulator.config import Scenario, ScenarioError, load_scenario
from simulator.engine import DEFAULT_BLOCK_SIZE, normalise_seed, plan_run, simulate
from simulator.params import build_layout
from simulator.results import build_dataset, market_path
from simulator.uncertainty import RECORDED_PATHS, annotate_dataset

__all__ = ["run"]


def run(
    scenario: Scenario | str | Path,
    *,
    paths: int | None = None,
    seed=None,
    engine: str = "numba",
    keep_paths: int = 0,
    threads: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    overrides: Sequence[str] | dict | None = None,
    progress: bool = False,
    client=None,
    zarr: str | Path | None = None,
) -> xr.Dataset:
    """Simulate a scenario and return its results as a labelled Dataset.

    Parameters
    ----------
    scenario : Scenario or path
        A validated scenario (see :func:`simulator.load_scenario`) or a TOML file.
    paths : int, optional
        Number of paths (default: ``scenario.paths``).
    seed : int, SeedSequence, Generator or None, optional
        Default: ``scenario.seed``; if that is unset too, fresh entropy (recorded
        in ``ds.attrs["seed_entropy"]``).
    engine : {"numba", "numpy"}
        Compiled engine (default) or the numpy reference engine.
    keep_paths : int
        Keep the first N full paths (float32) in the Dataset.
    threads : int, optional
        Numba threads; results are bit-identical whatever the number.
    block_size : int
        Paths per random-stream block (recorded in the attrs).
    overrides : sequence of "dotted.key=value" or mapping, optional
        Applied when ``scenario`` is a path.
    progress : bool
        Show a progress bar (tqdm) for runs longer than a second.
    client : distributed.Client, optional
        Spread the path blocks over this dask cluster; bit-identical to the
        in-process run for the same seed (see :mod:`simulator.distributed`).
    zarr : path, optional
        Write the ``keep_paths`` kept paths to this Zarr store in chunks instead of
        the Dataset (bounded memory; ``ds.attrs["kept_paths_zarr"]`` names it).

    Returns
    -------
    xarray.Dataset
        See ``simulator.results.OUTPUTS`` for the variables.
    """
    if client is not None or zarr is not None:
        from simulator.distributed import run_grouped

        return run_grouped(scenario, paths=paths, seed=seed, engine=engine, keep_paths=keep_paths,
                           threads=threads, block_size=block_size, overrides=overrides,
                           progress=progress, client=client, zarr=zarr)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides=overrides)
    elif overrides:
        from simulator.config import with_overrides

        scenario = with_overrides(scenario, overrides)
    meta = scenario.scenario
    n_paths = int(meta.paths if paths is None else paths)
    if n_paths < 1:
        raise ScenarioError(f"paths: {n_paths} must be >= 1")
    if keep_paths < 0:
        raise ScenarioError(f"keep_paths: {keep_paths} must be >= 0")
    root = normalise_seed(meta.seed if seed is None else seed)
    layout = build_layout(scenario)
    plan = plan_run(meta.horizon_months, meta.horizon_list)
    bar = None
    callback = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_paths, unit="path", unit_scale=True, delay=1.0, desc=scenario.name,
                   leave=False)
        callback = bar.update
    # Keys given as distributions are drawn per path (simulator.uncertainty); the
    # first paths' outcomes are kept so `simulator attribute` can rank the inputs.
    unc = scenario.uncertain
    recorded = min(n_paths, RECORDED_PATHS) if unc else 0
    try:
        tally = simulate(layout, plan, paths=n_paths, seed=root, engine=engine, block_size=block_size,
                         keep_paths=keep_paths, threads=threads, progress=callback,
                         market=market_path(scenario, plan.horizons),
                         uncertain=unc.callback(layout, root) if unc else None, outcome_paths=recorded)
    finally:
        if bar is not None:
            bar.close()
    ds = build_dataset(scenario, layout, plan, tally, attrs={
        "engine": engine,
        "seed_entropy": str(root.entropy),
        "seed_spawn_key": list(root.spawn_key),
        "block_size": int(block_size),
        "random_streams": "numpy SFC64 per block and stream; SeedSequence(entropy, spawn_key=(*key, block, "
                          "stream)); streams: " + ", ".join(L.STREAM_NAMES),
        "kept_paths": int(min(keep_paths, n_paths)),
    })
    if unc:
        ds = annotate_dataset(ds, unc, root, block_size=block_size, path_outcome=tally.path_outcome[0])
    return ds

