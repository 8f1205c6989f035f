"""The two fields of a result's identity that tests/test_batch.py's command-line cases cannot reach:
the seed's spawn key (a SeedSequence given to the Python API) and the Zarr store of the kept paths.

Each change must make the stored result stale (recomputed, and the new file records it); the
same call again must find it up to date.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

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
