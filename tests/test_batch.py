"""Batches: resume after SIGKILL, stale results, bad input, dask, merged quantiles, Zarr."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import simulator
from simulator.cli import main
from simulator.engines.dispatch import simulate
from simulator.engines.plan import plan_run
from simulator.engines.streams import normalise_seed
from simulator.engines.tally import merge_tallies
from simulator.model import quantities as L
from simulator.model.parameters import build_layout
from simulator.results.dataset import scenario_hash
from simulator.results.outputs import QUANTILE_ERROR, QUANTILES
from simulator.results.statistics import hist_quantiles

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def _scenario(folder: Path, source: str, *, paths: int, cash: str | None = None) -> Path:
    """A copy of a shipped scenario with its own number of paths (and optionally cash)."""
    text = (SCENARIOS / f"{source}.toml").read_text(encoding="utf-8")
    text = re.sub(r"^paths = .*$", f"paths = {paths}", text, count=1, flags=re.M)
    if cash is not None:
        text = re.sub(r"^cash = .*$", f"cash = {cash}", text, count=1, flags=re.M)
    path = folder / f"{source}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _without_created(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs.pop("created", None)
    return ds


def _assert_same_results(a: Path, b: Path) -> None:
    xr.testing.assert_identical(_without_created(simulator.open_results(a)),
                                _without_created(simulator.open_results(b)))


def _log_of_last_run(out: Path) -> list[str]:
    lines = (out / "batch.log").read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if " batch - " in line)
    return lines[start:]


def _events(lines: list[str], event: str) -> list[str]:
    return [line.split()[3] for line in lines if line.split()[2] == event]


def test_resume_after_sigkill_matches_an_uninterrupted_batch(tmp_path):
    src = tmp_path / "scenarios"
    src.mkdir()
    files = [str(_scenario(src, "zhipu_base", paths=12_000)),
             str(_scenario(src, "narrative_flip", paths=100_000)),
             str(_scenario(src, "sovereign_backstop", paths=12_000))]
    opts = ["--checkpoint-every", "0", "--blocks-per-task", "5", "--quiet"]
    # Compile (or load) the kernels here first: on a clean checkout the child would
    # otherwise spend most of the deadline below compiling them (numba's cache is on disk).
    simulator.run(files[0], paths=64)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "batch", *files, "--out", str(out), *opts],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = out / ".partial" / "narrative_flip" / "tally.npz"
    deadline = time.monotonic() + 90
    # Kill it once the first scenario is done and the second has checkpointed part of its blocks.
    while not ((out / "zhipu_base.nc").exists() and checkpoint.exists()):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert not (out / "narrative_flip.nc").exists(), "killed too late: the second scenario had finished"
    first = (out / "zhipu_base.nc").stat()

    assert main(["batch", *files, "--out", str(out), *opts]) == 0
    log = _log_of_last_run(out)
    assert _events(log, "skipped") == ["zhipu_base"]  # finished before the kill: not recomputed
    assert (out / "zhipu_base.nc").stat().st_mtime_ns == first.st_mtime_ns
    assert (out / "zhipu_base.nc").stat().st_ino == first.st_ino
    resumed = [line for line in log if " started narrative_flip " in line]
    assert resumed and int(re.search(r"resumed_paths=(\d+)", resumed[0]).group(1)) > 0, log
    assert _events(log, "done") == ["narrative_flip", "sovereign_backstop"]

    # Every file is complete, valid and identical to an uninterrupted batch.
    clean = tmp_path / "clean"
    assert main(["batch", *files, "--out", str(clean), "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [".batch.lock", "batch.log", "narrative_flip.nc", "sovereign_backstop.nc", "summary.csv",
                     "summary.nc", "zhipu_base.nc"], names
    for name in ("zhipu_base.nc", "narrative_flip.nc", "sovereign_backstop.nc", "summary.nc"):
        _assert_same_results(out / name, clean / name)
    assert (out / "summary.csv").read_bytes() == (clean / "summary.csv").read_bytes()


def test_stale_scenario_is_recomputed_alone(tmp_path, capsys):
    a = _scenario(tmp_path, "zhipu_base", paths=6_000)
    b = _scenario(tmp_path, "narrative_flip", paths=6_000)
    out = tmp_path / "out"
    argv = ["batch", str(a), str(b), "--out", str(out)]
    assert main(argv) == 0
    def mtimes():
        return {name: (out / name).stat().st_mtime_ns for name in ("zhipu_base.nc", "narrative_flip.nc")}

    before = mtimes()
    assert main(argv) == 0
    assert _events(_log_of_last_run(out), "skipped") == ["zhipu_base", "narrative_flip"]
    assert mtimes() == before

    _scenario(tmp_path, "narrative_flip", paths=6_000, cash="12e9")
    assert main(argv) == 0
    log = _log_of_last_run(out)
    assert _events(log, "skipped") == ["zhipu_base"]
    assert _events(log, "done") == ["narrative_flip"]
    assert (out / "zhipu_base.nc").stat().st_mtime_ns == before["zhipu_base.nc"]
    ds = simulator.open_results(out / "narrative_flip.nc")
    assert ds.attrs["scenario_hash"] == scenario_hash(simulator.load_scenario(b))
    # Other paths or another seed make every result stale.
    assert main([*argv, "--paths", "5000"]) == 0
    assert _events(_log_of_last_run(out), "done") == ["zhipu_base", "narrative_flip"]
    assert "up to date: zhipu_base" in capsys.readouterr().out


def test_bad_scenario_is_reported_and_the_rest_runs(tmp_path, capsys):
    good = _scenario(tmp_path, "zhipu_base", paths=5_000)
    bad = _scenario(tmp_path, "narrative_flip", paths=5_000, cash="-5")
    other = _scenario(tmp_path, "sovereign_backstop", paths=5_000)
    out = tmp_path / "out"
    code = main(["batch", str(good), str(bad), str(other), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "narrative_flip.toml" in err[0] and "cash" in err[0], err
    assert "Traceback" not in err[0]
    assert (out / "zhipu_base.nc").exists() and (out / "sovereign_backstop.nc").exists()
    assert not (out / "narrative_flip.nc").exists()
    summary = xr.open_dataset(out / "summary.nc", engine="h5netcdf").load()
    assert list(summary["scenario"].values) == ["zhipu_base", "sovereign_backstop"]
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("scenario,company,")


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_distributed_batch_is_bit_identical_to_in_process(tmp_path, dask_cluster):
    files = [str(_scenario(tmp_path, "zhipu_base", paths=12_000)),
             str(_scenario(tmp_path, "sector_portfolio", paths=6_000))]
    opts = ["--seed", "11", "--blocks-per-task", "1", "--quiet"]
    assert main(["batch", *files, "--out", str(tmp_path / "local"), *opts]) == 0
    address = dask_cluster.scheduler.address
    assert main(["batch", *files, "--out", str(tmp_path / "dask"), "--scheduler", address, *opts]) == 0
    assert "client=yes" in (tmp_path / "dask" / "batch.log").read_text()
    for name in ("zhipu_base.nc", "sector_portfolio.nc", "summary.nc"):
        _assert_same_results(tmp_path / "local" / name, tmp_path / "dask" / name)
    assert (tmp_path / "local" / "summary.csv").read_bytes() == (tmp_path / "dask" / "summary.csv").read_bytes()

    # The Python API: simulator.run(..., client=...), with kept paths.
    kw = {"paths": 10_000, "seed": 5, "keep_paths": 300}
    local = simulator.run(SCENARIOS / "zhipu_base.toml", **kw)
    remote = simulator.run(SCENARIOS / "zhipu_base.toml", client=dask_cluster, **kw)
    xr.testing.assert_identical(_without_created(local), _without_created(remote))


def test_merged_quantiles_within_one_bin_of_exact_on_a_million_paths():
    """Tallies of 16 groups of blocks merged; quantiles against exact ones of the same paths.

    Twelve months (horizons 6 and 12) keep the million paths within the time budget.
    """
    sc = simulator.load_scenario(SCENARIOS / "zhipu_base.toml",
                                 overrides=["scenario.horizon_months=12", "scenario.horizons=[6, 12]"])
    layout = build_layout(sc)
    plan = plan_run(sc.scenario.horizon_months, sc.scenario.horizon_list)
    root = normalise_seed(2024)
    paths, block, per_group = 1_000_000, 4096, 16
    n_blocks = -(-paths // block)
    rows = plan.rec_row[plan.horizons]
    exact = np.empty((L.N_VARS, paths, plan.horizons.size), dtype=np.float32)
    merged = None
    for g0 in range(0, n_blocks, per_group):
        group = range(g0, min(n_blocks, g0 + per_group))
        first = g0 * block
        part = simulate(layout, plan, paths=paths, seed=root, block_size=block, blocks=group,
                        keep_paths=len(group) * block, keep_start=first)
        exact[:, first:first + part.kept.shape[1]] = part.kept[:, :, 0][:, :, plan.horizons]
        part.kept = part.kept_market = part.fail_month = None
        merged = part if merged is None else merge_tallies(merged, part)
    assert int(merged.n_paths[0]) == paths
    for v, var in enumerate(L.VAR_NAMES):
        got = hist_quantiles(merged.hist[0, 0, v][rows], merged.minmax[0, 0, v][rows], QUANTILES, v)
        want = np.quantile(exact[v].astype(np.float64), QUANTILES, axis=0).T  # (horizon, level)
        err = QUANTILE_ERROR[var]
        if L.HIST_LOG10[v]:
            zero = want == 0
            assert np.all(got[zero] == 0), var
            # float32 kept values: a relative rounding of 1e-7 on top of the one-bin bound.
            assert np.all(np.abs(got[~zero] / want[~zero] - 1.0) <= err + 1e-6), (var, got, want)
        else:
            assert np.all(np.abs(got - want) <= err + 1e-6 * np.abs(want)), (var, got, want)


def test_kept_paths_to_zarr_in_chunks_equal_the_in_memory_ones(tmp_path):
    kw = {"paths": 10_000, "seed": 8, "keep_paths": 5_000}
    store = tmp_path / "kept.zarr"
    ds = simulator.run(SCENARIOS / "sector_portfolio.toml", zarr=store, **kw)
    ref = simulator.run(SCENARIOS / "sector_portfolio.toml", **kw)
    assert ds.attrs["kept_paths_zarr"] == str(store.resolve())
    kept = xr.open_zarr(store, consolidated=False)
    assert kept.attrs["complete"] is True
    assert kept["path_valuation"].encoding["chunks"][0] == 4096  # one block of paths per chunk
    path_vars = [v for v in ref.data_vars if v.startswith("path_") or v == "failure_month"]
    for var in path_vars:
        np.testing.assert_array_equal(kept[var].values, ref[var].values)
        assert kept[var].attrs["units"] == ref[var].attrs["units"]
    summary = ref.drop_vars([*path_vars, "path"])
    summary.attrs["kept_paths_zarr"] = ds.attrs["kept_paths_zarr"]
    xr.testing.assert_identical(_without_created(ds), _without_created(summary))


def test_tally_memory_does_not_grow_with_paths():
    """Only the per-block moments (32 bytes per block, company and horizon) grow with paths."""
    sc = simulator.load_scenario(SCENARIOS / "zhipu_base.toml")
    layout = build_layout(sc)
    plan = plan_run(sc.scenario.horizon_months, sc.scenario.horizon_list)
    small = simulate(layout, plan, paths=200, seed=normalise_seed(1), block_size=100)
    large = simulate(layout, plan, paths=2000, seed=normalise_seed(1), block_size=100)
    for name, value in small.__dict__.items():
        if isinstance(value, np.ndarray):
            other = large.__dict__[name]
            if name in ("block_ids", "fv_blocks", "bv_blocks", "vh_blocks"):
                assert other.shape[0] == 10 * value.shape[0] and other.shape[1:] == value.shape[1:]
            else:
                assert other.shape == value.shape, name


_UNCERTAIN_CASH = 'cash = { dist = "lognormal", median = 10e9, sigma = SIGMA }'


def _uncertain_scenario(folder: Path, sigma: float) -> Path:
    """zhipu_base with its cash uncertain: the distribution's spread is not in the scenario hash."""
    path = _scenario(folder, "zhipu_base", paths=3_000)
    text = re.sub(r"^cash = .*$", _UNCERTAIN_CASH.replace("SIGMA", repr(sigma)), path.read_text(), count=1,
                  flags=re.M)
    path.write_text(text, encoding="utf-8")
    return path


#: Each field of a result's identity, and a batch option (or edit) that changes only that field.
_IDENTITY_CHANGES = {
    "scenario_hash": ["--set", "companies.zhipu.cash=11e9"],
    "seed_entropy": ["--seed", "2"],
    "paths": ["--paths", "2500"],
    "block_size": ["--block-size", "512"],
    "engine": ["--engine", "numpy"],
    "kept_paths": ["--keep-paths", "10"],
    "uncertain_inputs": "sigma",
    "model_version": "version",
}


@pytest.mark.parametrize("field", sorted(_IDENTITY_CHANGES))
def test_every_field_of_a_results_identity_makes_it_stale(field, tmp_path, monkeypatch):
    source = _uncertain_scenario(tmp_path, 0.2)
    out = tmp_path / "out"
    base = ["batch", str(source), "--out", str(out), "--paths", "3000", "--seed", "1", "--block-size", "1024",
            "--quiet"]
    assert main(base) == 0
    before = simulator.open_results(out / "zhipu_base.nc").attrs
    change = _IDENTITY_CHANGES[field]
    argv = list(base)
    if change == "sigma":
        _uncertain_scenario(tmp_path, 0.3)
    elif change == "version":
        monkeypatch.setattr(L, "MODEL_VERSION", L.MODEL_VERSION + 1)
    else:
        argv += change
    assert main(argv) == 0
    assert _events(_log_of_last_run(out), "done") == ["zhipu_base"], f"a change of {field} kept the old result"
    after = simulator.open_results(out / "zhipu_base.nc").attrs
    if field == "uncertain_inputs":
        assert after["uncertain_inputs"] != before["uncertain_inputs"]
        assert after["scenario_hash"] == before["scenario_hash"]  # the medians did not move
    else:
        assert str(after[field]) != str(before[field]), field  # the new result records the change
    # The same options again: now up to date, not recomputed.
    assert main(argv) == 0
    assert _events(_log_of_last_run(out), "skipped") == ["zhipu_base"]


def _run_batch(out: Path, *scenarios: Path, extra: tuple[str, ...] = ()) -> int:
    return main(["batch", *map(str, scenarios), "--out", str(out), "--paths", "2000", "--seed", "3", "--quiet",
                 *extra])


def test_a_result_without_a_model_version_is_of_the_first_model_and_recomputed(tmp_path):
    # Results written before the attribute existed were of model version 1; the model is now at a later one.
    source = _scenario(tmp_path, "narrative_flip", paths=2000)
    out = tmp_path / "out"
    assert _run_batch(out, source) == 0
    import h5py

    with h5py.File(out / "narrative_flip.nc", "r+") as fh:  # file attributes: the checksum still holds
        del fh.attrs["model_version"]
    assert L.MODEL_VERSION > 1
    assert _run_batch(out, source) == 0
    assert _events(_log_of_last_run(out), "done") == ["narrative_flip"]


def test_a_changed_or_unverifiable_result_is_recomputed_with_a_warning_saying_which(tmp_path, capsys):
    import h5py

    source = _scenario(tmp_path, "narrative_flip", paths=2000)
    out = tmp_path / "out"
    result = out / "narrative_flip.nc"
    assert _run_batch(out, source) == 0
    for edit, why, reason in [
            ("values", "its data do not match the checksum written with them (changed since)", "checksum"),
            ("checksum", "it has no content checksum (written by an older version)", "no-checksum")]:
        with h5py.File(result, "r+") as fh:
            if edit == "values":
                fh["probability"][...] = fh["probability"][...] * 0.5
            else:
                del fh.attrs["content_sha256"]
        capsys.readouterr()
        assert _run_batch(out, source) == 0
        warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
        assert warnings == [f"simulator: warning: {result}: {why}; narrative_flip is recomputed"]
        log = _log_of_last_run(out)
        assert [line.split()[2:] for line in log if line.split()[2] == "stale"] == [
            ["stale", "narrative_flip", f"reason={reason}"]]
        assert _events(log, "done") == ["narrative_flip"]


def test_two_scenarios_of_one_name_are_refused_naming_both_files(tmp_path, capsys):
    first = _scenario(tmp_path, "narrative_flip", paths=2000)
    (tmp_path / "copy").mkdir()
    second = (tmp_path / "copy" / "other.toml")
    second.write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "out"
    assert _run_batch(out, first, second) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"simulator: error: {second}: scenario name 'narrative_flip' is also that of {first}: "
                   "their results would overwrite each other"]
    assert (out / "narrative_flip.nc").exists()  # the first one ran


def test_a_given_seed_is_used_for_a_scenario_without_one(tmp_path):
    # A scenario file without a seed takes the batch's --seed, not a seed recorded by an earlier run
    # (nor a new random one).
    text = re.sub(r"^seed = .*\n", "", (SCENARIOS / "narrative_flip.toml").read_text(encoding="utf-8"),
                  count=1, flags=re.M)
    assert "\nseed" not in text
    source = tmp_path / "narrative_flip.toml"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert _run_batch(out, source, extra=("--seed", "11")) == 0
    ds = simulator.open_results(out / "narrative_flip.nc")
    ref = simulator.run(source, paths=2000, seed=11)
    assert int(ds.attrs["seed_entropy"]) == int(ref.attrs["seed_entropy"]) == 11
    np.testing.assert_array_equal(ds["outcome_count"].values, ref["outcome_count"].values)


def test_kept_paths_whose_zarr_store_is_incomplete_are_recomputed(tmp_path):
    import zarr

    source = _scenario(tmp_path, "narrative_flip", paths=2000)
    out, store = tmp_path / "out", tmp_path / "kept"
    extra = ("--keep-paths", "20", "--zarr", str(store))
    assert _run_batch(out, source, extra=extra) == 0
    assert _run_batch(out, source, extra=extra) == 0
    assert _events(_log_of_last_run(out), "skipped") == ["narrative_flip"]
    zarr.open_group(str(store / "narrative_flip.zarr"), mode="r+").attrs["complete"] = False  # interrupted
    assert _run_batch(out, source, extra=extra) == 0
    assert _events(_log_of_last_run(out), "done") == ["narrative_flip"]


def test_a_checkpoint_is_compressed_and_names_its_format_in_canonical_json(tmp_path):
    import json

    from simulator.runner.distributed import prepare_job, simulate_group
    from simulator.studies.batch import CHECKPOINT_FORMAT, save_checkpoint

    job = prepare_job(SCENARIOS / "narrative_flip.toml", paths=2000, seed=3)
    job.start()
    group = job.pending_groups(2)[0]
    job.absorb(group, simulate_group(job.layout, job.plan, **job.task_kwargs(group)))
    save_checkpoint(tmp_path / "tally.npz", job)
    with np.load(tmp_path / "tally.npz") as data:
        raw = sum(data[name].nbytes for name in data.files)
        identity = str(data["identity"])
    # The value histograms are mostly empty bins: deflated, the checkpoint is a small part of its arrays.
    assert (tmp_path / "tally.npz").stat().st_size < raw / 10
    # Canonical JSON (sorted keys): the same run gives the same text whatever built its identity.
    fields = json.loads(identity)
    assert identity == json.dumps(fields, sort_keys=True)
    assert fields["format"] == CHECKPOINT_FORMAT and fields["seed_entropy"] == "3"


def test_the_report_names_each_failed_scenario_file_and_whether_it_was_bad_input(tmp_path, monkeypatch):
    # Bad input (exit 2) and an unexpected failure of one scenario (exit 1, its class and first line, the rest
    # counted) are each one entry: the file given, the message, and the kind; the other scenarios run.
    from simulator.studies import batch

    good = _scenario(tmp_path, "zhipu_base", paths=2000)
    broken = _scenario(tmp_path, "sovereign_backstop", paths=2000)
    bad = _scenario(tmp_path, "narrative_flip", paths=2000, cash="-5")
    real_prepare = batch.prepare_job

    def prepare(scenario, **options):
        if scenario.name == "sovereign_backstop":
            raise RuntimeError("a bug\nsecond line\nthird line")
        return real_prepare(scenario, **options)

    monkeypatch.setattr(batch, "prepare_job", prepare)
    report = batch.run_batch([good, broken, bad], tmp_path / "out", paths=2000, seed=3, progress=False,
                             echo=lambda line: None)
    (label_broken, message_broken, user_broken), (label_bad, message_bad, user_bad) = report.failed
    assert (label_bad, user_bad) == (str(bad), True) and message_bad.startswith(f"{bad}: ") and "cash" in message_bad
    assert (label_broken, user_broken) == (str(broken), False)
    assert message_broken == f"{broken}: RuntimeError: a bug [+2 more; see `simulator validate`]"
    assert report.computed == ["zhipu_base"] and report.exit_code == 1
    log = _log_of_last_run(tmp_path / "out")
    assert [line.split()[3] for line in log if line.split()[2] == "failed"] == [str(broken), str(bad)]


def test_a_scenario_whose_kept_paths_do_not_fit_beside_the_others_is_refused_alone(tmp_path, monkeypatch, capsys):
    # The kept paths of the batch's started scenarios stay in memory until they finish, and add up: with
    # room for one scenario and one and a half others' kept paths, the third of three equal scenarios is one
    # error naming --keep-paths and how many fit; the batch goes on without it (a bad file after it is
    # still reported).
    from simulator.runner import memory
    from simulator.runner.distributed import prepare_job

    first = _scenario(tmp_path, "narrative_flip", paths=2000)
    text = first.read_text(encoding="utf-8")
    copies = []
    for name in ("second", "third"):
        copies.append(tmp_path / f"{name}.toml")
        copies[-1].write_text(text.replace('name = "narrative_flip"', f'name = "{name}"', 1), encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('name = "narrative_flip"', 'name = "bad"', 1).replace("[scenario]", "[scenario]\nx = 1"),
                   encoding="utf-8")
    job = prepare_job(first, paths=2000, seed=3, keep_paths=2000, threads=1)
    needs, _ = job.memory_needs()
    total = memory.total_bytes(needs)
    resident = sum(n.bytes for n in needs if n.what in memory.RESIDENT_PARTS)
    assert resident > 0
    monkeypatch.setattr(memory, "available_bytes", lambda: (total + 1.5 * resident) / memory.USABLE_SHARE)
    out = tmp_path / "out"
    assert _run_batch(out, first, *copies, bad, extra=("--keep-paths", "2000", "--threads", "1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and re.fullmatch(
        rf"simulator: error: {re.escape(str(copies[1]))}: --keep-paths 2,000: third beside the batch's other "
        r"scenarios needs about [\d.]+ [kMG]?B of memory \(.*kept paths and outcomes of the batch's other "
        r"scenarios [\d.]+ [kMG]?B.*\) but [\d.]+ [kMG]?B is available; at most ([\d,]+) fit", err[0]), err
    # Every byte of kept paths (this scenario's and the others') scales with --keep-paths, the rest does not.
    own = sum(n.bytes for n in needs if "--keep-paths" in n.drivers)
    fits = math.floor(2000 * (own + 1.5 * resident) / (own + 2 * resident))
    assert int(re.search(r"at most ([\d,]+) fit", err[0]).group(1).replace(",", "")) == fits < 2000
    assert str(bad) in err[1]
    assert sorted(p.name for p in out.glob("*.nc")) == ["narrative_flip.nc", "second.nc", "summary.nc"]
    log = _log_of_last_run(out)
    assert [line.split()[3] for line in log if line.split()[2] == "failed"] == [str(copies[1]), str(bad)]


def test_an_up_to_date_result_takes_its_leftover_checkpoint_away(tmp_path):
    source = _scenario(tmp_path, "narrative_flip", paths=2000)
    out = tmp_path / "out"
    assert _run_batch(out, source) == 0
    leftover = out / ".partial" / "narrative_flip"
    leftover.mkdir(parents=True)
    (leftover / "tally.npz").write_bytes(b"left by an interrupted run")
    assert _run_batch(out, source) == 0
    assert _events(_log_of_last_run(out), "skipped") == ["narrative_flip"]
    assert not leftover.exists()


def _checkpoint_after_one_group(source: Path, checkpoint: Path, **options):
    """The checkpoint a batch of ``source`` leaves when interrupted after its first group; the job."""
    from simulator.runner.distributed import prepare_job, simulate_group
    from simulator.studies.batch import save_checkpoint

    job = prepare_job(source, **options)
    job.start()
    group = job.pending_groups(2)[0]
    job.absorb(group, simulate_group(job.layout, job.plan, **job.task_kwargs(group)))
    checkpoint.parent.mkdir(parents=True)
    save_checkpoint(checkpoint, job)
    return job


def _planned(monkeypatch, checkpoint: Path, source: Path, out: Path, **options) -> list[tuple[int, bool]]:
    """Run a batch that is stopped once planned, before it runs a block: each job's paths already done,
    and whether the checkpoint is still there."""
    from simulator.studies import batch

    seen = []

    def interrupted(jobs, *args, **kwargs):
        seen.extend((j.paths_done, checkpoint.exists()) for j in jobs)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "_execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        batch.run_batch([source], out, progress=False, **{"echo": lambda line: None, **options})
    monkeypatch.undo()
    return seen


def test_a_resumed_scenario_keeps_its_checkpoint_until_it_finishes(tmp_path, monkeypatch):
    # Interrupted again before its next checkpoint, a resumed scenario must still find the one it resumed from.
    source, out = _scenario(tmp_path, "narrative_flip", paths=20_000), tmp_path / "out"
    checkpoint = out / ".partial" / "narrative_flip" / "tally.npz"
    job = _checkpoint_after_one_group(source, checkpoint, paths=20_000, seed=3)
    assert 0 < job.paths_done < 20_000
    assert _planned(monkeypatch, checkpoint, source, out, paths=20_000, seed=3) == [(job.paths_done, True)]


def test_a_checkpoint_whose_zarr_store_is_gone_is_removed_and_the_scenario_starts_over(tmp_path, monkeypatch):
    import shutil

    source, out, store = _scenario(tmp_path, "narrative_flip", paths=20_000), tmp_path / "out", tmp_path / "kept"
    checkpoint = out / ".partial" / "narrative_flip" / "tally.npz"
    _checkpoint_after_one_group(source, checkpoint, paths=20_000, seed=3, keep_paths=50,
                                zarr=store / "narrative_flip.zarr")
    shutil.rmtree(store)  # the kept paths written so far are lost
    assert _planned(monkeypatch, checkpoint, source, out, paths=20_000, seed=3, keep_paths=50, zarr=store) == [
        (0, False)]


def test_a_damaged_checkpoint_is_removed_before_the_scenario_runs_again(tmp_path, monkeypatch):
    # Interrupted again before its first new checkpoint, the batch must not find (and report) it a second time.
    source, out = _scenario(tmp_path, "narrative_flip", paths=20_000), tmp_path / "out"
    checkpoint = out / ".partial" / "narrative_flip" / "tally.npz"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    said = []
    assert _planned(monkeypatch, checkpoint, source, out, paths=20_000, seed=3, echo=said.append) == [(0, False)]
    assert any("damaged checkpoint (the file is empty)" in line for line in said), said
