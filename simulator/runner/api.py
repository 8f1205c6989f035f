"""The Python entry point: ``run(scenario) -> xarray.Dataset``.

May import: everything below :mod:`simulator.runner`, and the modules of :mod:`simulator.runner`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from simulator.engines.plan import DEFAULT_BLOCK_SIZE
from simulator.model.schema import Scenario
from simulator.runner.prepared import prepare_run
from simulator.runner.progress import progress_bar

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
        in-process run for the same seed (see :mod:`simulator.runner.distributed`).
    zarr : path, optional
        Write the ``keep_paths`` kept paths to this Zarr store in chunks instead of
        the Dataset (bounded memory; ``ds.attrs["kept_paths_zarr"]`` names it).

    Returns
    -------
    xarray.Dataset
        See ``simulator.results.outputs.OUTPUTS`` for the variables.
    """
    prepared = prepare_run(scenario, paths=paths, seed=seed, engine=engine, keep_paths=keep_paths,
                           threads=threads, block_size=block_size, overrides=overrides, zarr=zarr)
    if client is not None or zarr is not None:
        from simulator.runner.distributed import Job, run_job

        return run_job(Job.of(prepared), client=client, progress=progress)
    # One engine call over every block.  Keys given as distributions are drawn per
    # path (simulator.model.uncertain); the first paths' outcomes are kept so that
    # `simulator attribute` can rank the inputs.
    with progress_bar(prepared, progress) as update:
        tally = prepared.simulate(progress=update)
    return prepared.dataset(tally)
