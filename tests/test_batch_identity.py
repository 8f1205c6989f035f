"""The two fields of a result's identity that tests/test_batch.py's command-line cases cannot reach:
the seed's spawn key (a SeedSequence given to the Python API) and the Zarr store of the kept paths.

Each change must make the stored result stale (recomputed, and the new file records it); the
same call again must find it up to date.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import xarray as xr

import simulator
from simulator.studies.batch import run_batch

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _scenario(folder: Path) -> Path:
    text = (SCENARIOS / "zhipu_base.toml").read_text(encoding="utf-8")
    path = folder / "zhipu_base.toml"
    path.write_text(re.sub(r"^paths = .*$", "paths = 2000", text, count=1, flags=re.M), encoding="utf-8")
    return path


def _batch(source: Path, out: Path, **kw):
    return run_batch([source], out, echo=lambda _text: None, progress=False, **kw)


def test_another_spawn_key_of_the_same_seed_makes_the_result_stale(tmp_path):
    source, out = _scenario(tmp_path), tmp_path / "out"
    first = _batch(source, out, seed=np.random.SeedSequence(1))
    assert first.computed == ["zhipu_base"]
    child = np.random.SeedSequence(1, spawn_key=(3,))
    second = _batch(source, out, seed=child)
    assert second.computed == ["zhipu_base"], "another spawn key of seed 1 kept the old result"
    attrs = simulator.open_results(out / "zhipu_base.nc").attrs
    assert attrs["seed_entropy"] == "1" and "3" in str(attrs["seed_spawn_key"])
    assert _batch(source, out, seed=np.random.SeedSequence(1, spawn_key=(3,))).skipped == ["zhipu_base"]


def test_another_zarr_store_for_the_kept_paths_makes_the_result_stale(tmp_path):
    source, out = _scenario(tmp_path), tmp_path / "out"
    kw = {"seed": 1, "keep_paths": 10}
    assert _batch(source, out, zarr=tmp_path / "a", **kw).computed == ["zhipu_base"]
    assert _batch(source, out, zarr=tmp_path / "a", **kw).skipped == ["zhipu_base"]
    again = _batch(source, out, zarr=tmp_path / "b", **kw)
    assert again.computed == ["zhipu_base"], "kept paths written elsewhere, yet the old result was kept"
    attrs = simulator.open_results(out / "zhipu_base.nc").attrs
    assert str(tmp_path / "b") in attrs["kept_paths_zarr"]
    assert (tmp_path / "b" / "zhipu_base.zarr").is_dir()


def _same(a, b) -> None:
    a, b = a.copy(), b.copy()
    for ds in (a, b):
        ds.attrs.pop("created", None)
    xr.testing.assert_identical(a, b)


def test_a_checkpoint_with_kept_paths_resumes_to_the_uninterrupted_result(tmp_path):
    """In process (the batch's own resume test kills a child process): the first group of blocks,
    checkpointed with its kept paths, resumed by a new job, equals the plain run; a checkpoint of
    another seed, or without the kept paths the job wants, is not resumed."""
    from simulator.runner.distributed import prepare_job, run_jobs, simulate_group
    from simulator.studies.batch import load_checkpoint, save_checkpoint

    sc = simulator.load_scenario(SCENARIOS / "sector_portfolio.toml")
    kw = {"paths": 3000, "block_size": 1024, "seed": 6, "keep_paths": 1500}
    job = prepare_job(sc, **kw)
    job.start()
    group = job.pending_groups(1)[0]
    job.absorb(group, simulate_group(job.layout, job.plan, **job.task_kwargs(group)))
    job.tally.elapsed = 1.25
    save_checkpoint(tmp_path / "tally.npz", job)
    resumed = prepare_job(sc, **kw)
    assert load_checkpoint(tmp_path / "tally.npz", resumed)
    assert 0 < resumed.paths_done == job.paths_done < 3000 and resumed.tally.elapsed == 1.25
    resumed.start()
    run_jobs([resumed], blocks_per_task=1)
    _same(resumed.grouped_dataset(), simulator.run(sc, **kw))
    assert not load_checkpoint(tmp_path / "tally.npz", prepare_job(sc, **{**kw, "seed": 7}))
    assert not load_checkpoint(tmp_path / "tally.npz", prepare_job(sc, **{**kw, "keep_paths": 0}))
    assert not load_checkpoint(tmp_path / "missing.npz", prepare_job(sc, **kw))
