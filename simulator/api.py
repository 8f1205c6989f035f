"""The Python entry point: ``run(scenario) -> xarray.Dataset``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from simulator.config import Scenario
from simulator.distributed import prepare_job, progress_bar, run_job
from simulator.engine import DEFAULT_BLOCK_SIZE

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
    job = prepare_job(scenario, paths=paths, seed=seed, engine=engine, keep_paths=keep_paths, threads=threads,
                      block_size=block_size, overrides=overrides, zarr=zarr)
    if client is not None or zarr is not None:
        return run_job(job, client=client, progress=progress)
    # One engine call over every block.  Keys given as distributions are drawn per
    # path (simulator.uncertainty); the first paths' outcomes are kept so that
    # `simulator attribute` can rank the inputs.
    with progress_bar(job, progress) as update:
        tally = job.simulate(progress=update)
    return job.dataset(tally)
