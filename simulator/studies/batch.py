"""Batches: ``simulator batch scenarios/*.toml --out results/``, resumable, optionally on dask.

Every scenario gets ``<out>/<name>.nc`` (written atomically), and the batch a
comparison table, ``<out>/summary.nc`` and ``<out>/summary.csv``: one row per
scenario and company.

Nothing is lost and nothing is done twice:

- A result is *up to date* when its run identity (scenario hash, seed, paths,
  block size, engine, kept paths, the distributions of uncertain keys) is that of
  the run asked for and its data still match the checksum written with them
  (``content_sha256``: a file edited in place, even to the same size, is not
  trusted); such scenarios are skipped, the others (stale) recomputed.
- While a scenario runs, its merged tally is checkpointed at most every
  ``checkpoint_every`` seconds to ``<out>/.partial/<name>/tally.npz`` (written to a
  temporary file, then renamed).  A re-run resumes from the checkpoint: the blocks
  in it are not recomputed, and since tallies merge exactly and the floating-point
  moments are merged in block order, the result is bit-identical to an
  uninterrupted run.  A damaged checkpoint (empty, truncated, arrays that do not
  fit the run) is discarded with a one-line warning and the scenario recomputed.
- Every file is written to a temporary name and renamed, so a batch killed at any
  moment (even with SIGKILL) leaves complete files or none; the next write into
  the folder removes the temporary files of dead processes (SIGTERM removes them
  at once, :mod:`simulator.results.files`).  A lock file keeps two batches out of one folder.
- A scenario that fails (bad file, bad override) is reported in one line and the
  others still run; the exit code is then non-zero (2 for bad input, 1 otherwise).

``<out>/batch.log`` records what each run did (skipped, started, resumed,
checkpointed, done, failed), one line per event.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import os
import re
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.engines.plan import DEFAULT_BLOCK_SIZE
from simulator.engines.tally import Tally
from simulator.errors import BatchError, UserError
from simulator.model import quantities as L
from simulator.model.scenario_file import load_scenario
from simulator.results.dataset import scenario_hash
from simulator.results.files import atomic_file, remove_stale_temporaries
from simulator.results.io import save_results, verify_checksum
from simulator.results.outputs import OUTPUTS
from simulator.runner.distributed import Job, prepare_job, run_jobs
from simulator.runner.memory import RESIDENT_PARTS, Need, check

__all__ = ["BatchReport", "load_checkpoint", "run_batch", "save_checkpoint",
           "summary_dataset", "summary_rows"]

#: Valuation quantiles reported in the summary: median and the 5-95% range.
SUMMARY_QUANTILES = (0.05, 0.5, 0.95)
#: Seconds between checkpoints of a running scenario (default).
CHECKPOINT_SECONDS = 60.0
#: 3: the pair counts, required-revenue counts, share histograms and kept market (competition, issue 17).
CHECKPOINT_FORMAT = 3
_PARTIAL = ".partial"
_LOCK = ".batch.lock"
_LOG = "batch.log"
_TALLY_FIELDS = ("n_paths", "counts", "any_champion", "n_champions", "alive", "hist", "minmax", "block_ids",
                 "fv_blocks", "bv_blocks", "vh_blocks", "market_exceed", "pairs", "reached", "share_hist",
                 "share_minmax", "path_outcome")


@dataclass
class BatchReport:
    """What a batch did."""

    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: (scenario file or name, one-line message, whether it is bad input)
    failed: list[tuple[str, str, bool]] = field(default_factory=list)
    results: dict[str, Path] = field(default_factory=dict)
    summary: tuple[Path, Path] | None = None
    #: The summary variables of each result (read once).
    summaries: dict[str, xr.Dataset] = field(default_factory=dict, repr=False)

    @property
    def exit_code(self) -> int:
        """0: all done; 2: some scenario had bad input; 1: some other failure."""
        if not self.failed:
            return 0
        return 2 if all(user for _, _, user in self.failed) else 1


# ---------------------------------------------------------------------------
# Atomic files


def _remove_temporaries(out: Path) -> None:
    """Delete the temporary files of interrupted writes (``.<name>.<host>.<pid>.<random>.tmp``) whose
    process is gone, in the folder and the checkpoints' folders."""
    for folder in [out, *(p for p in (out / _PARTIAL).glob("*") if p.is_dir())]:
        remove_stale_temporaries(folder)


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (released by the OS even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    fh = open(out / _LOCK, "a")  # held (locked) for the whole batch
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BatchError(f"{out}: another batch is writing to this folder") from None
        yield
    finally:
        fh.close()


# ---------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(path: Path, job: Job) -> None:
    """Write the job's merged tally (with in-memory kept paths and recorded outcomes) atomically to ``path``."""
    t = job.tally
    arrays = {name: getattr(t, name) for name in _TALLY_FIELDS if getattr(t, name) is not None}
    arrays["blocks_done"] = np.int64(t.blocks_done)
    arrays["elapsed"] = np.float64(t.elapsed)
    if job.kept is not None:
        arrays["job_kept"] = job.kept
        arrays["job_kept_market"] = job.kept_market
        arrays["job_fail_month"] = job.fail_month
    if job.path_outcome is not None:
        arrays["job_path_outcome"] = job.path_outcome
    arrays["identity"] = np.asarray(_identity_text(job))
    with atomic_file(path) as fh:
        # np.savez_compressed's zlib level 6 takes three times as long as level 1 for a few
        # percent less space; checkpoints are written often and deleted soon.
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, value in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def load_checkpoint(path: Path, job: Job, *, on_damaged: Callable[[str], None] | None = None) -> bool:
    """Restore the job's tally from ``path`` if it was written for the same run; True if so.

    A missing checkpoint, or one of another run, is False.  A damaged one (empty,
    truncated, unreadable, or arrays that do not fit the run) is False too, after
    ``on_damaged(reason)``: the caller discards it and the scenario is recomputed.
    """
    if not path.exists():
        return False
    try:
        if path.stat().st_size == 0:
            raise ValueError("the file is empty")
        with np.load(path, allow_pickle=False) as data:
            if str(data["identity"]) != _identity_text(job):
                return False
            fields = {name: (data[name] if name in data else None) for name in _TALLY_FIELDS}
            tally = Tally(**fields, blocks_done=int(data["blocks_done"]), elapsed=float(data["elapsed"]))
            kept = data["job_kept"] if "job_kept" in data else None
            kept_market = data["job_kept_market"] if "job_kept_market" in data else None
            fail_month = data["job_fail_month"] if "job_fail_month" in data else None
            path_outcome = data["job_path_outcome"] if "job_path_outcome" in data else None
        problem = _checkpoint_problem(job, tally, kept, fail_month, path_outcome)
    except Exception as exc:  # empty, truncated or damaged: zipfile, zlib, numpy and OS errors alike
        problem = " ".join(str(exc).split())[:100] or exc.__class__.__name__
    if problem is not None:
        if on_damaged is not None:
            on_damaged(problem)
        return False
    job.tally, job.kept, job.kept_market, job.fail_month, job.path_outcome = (tally, kept, kept_market, fail_month,
                                                                             path_outcome)
    return True


def _checkpoint_problem(job: Job, tally: Tally, kept, fail_month, path_outcome) -> str | None:
    """Why a checkpoint's arrays cannot be this job's merged tally (None when they can)."""
    n_comp, n_hor = len(job.layout.company_names), job.plan.horizons.size
    ids = np.asarray(tally.block_ids)
    if tally.counts.shape != (1, n_comp, n_hor, 3):
        return f"outcome counts of shape {tally.counts.shape}"
    if ids.ndim != 1 or np.unique(ids).size != ids.size or (ids.size and not 0 <= ids.min() <= ids.max() < job.n_blocks):
        return "block list does not fit the run"
    if any(getattr(tally, name).shape[0] != ids.size for name in ("fv_blocks", "bv_blocks", "vh_blocks")):
        return "moments do not match the block list"
    paths = sum(min(job.block_size, job.paths - int(b) * job.block_size) for b in ids)
    if tally.n_paths.shape != (1,) or int(tally.n_paths[0]) != paths:
        return "path count does not match the block list"
    if (kept is None) != (job.kept_count == 0 or job.zarr is not None):
        return "kept paths missing or unexpected"
    if kept is not None and (kept.shape[1] != job.kept_count or fail_month is None):
        return "kept paths of another size"
    if (path_outcome.shape[0] if path_outcome is not None else 0) != job.recorded:
        return "recorded outcomes of another size"
    return None


def _identity_text(job: Job) -> str:
    return json.dumps({"format": CHECKPOINT_FORMAT, **job.identity()}, sort_keys=True)


def _result_identity(path: Path) -> dict | None:
    """The run identity recorded in a results file, or None if it is missing or unreadable."""
    try:
        import h5netcdf

        # The attributes alone: much faster than opening the Dataset.
        with h5netcdf.File(path, "r") as fh:
            a = dict(fh.attrs)
        return {
            "model_version": int(a.get("model_version", 1)),
            "scenario_hash": a["scenario_hash"],
            "seed_entropy": str(a["seed_entropy"]),
            "seed_spawn_key": [int(k) for k in json.loads(a["seed_spawn_key"])],
            "paths": int(a["paths"]),
            "block_size": int(a["block_size"]),
            "engine": str(a["engine"]),
            "kept_paths": int(a["kept_paths"]),
            "kept_paths_zarr": str(a.get("kept_paths_zarr", "")),
            **({"uncertain_inputs": str(a["uncertain_inputs"])} if "uncertain_inputs" in a else {}),
        }
    except Exception:  # any unreadable or foreign file is simply stale
        return None


def _recorded_seed(out: Path, name: str, digest: str, paths: int | None):
    """The seed of an earlier run of this scenario (for scenarios without a seed), or None."""
    ident = _result_identity(out / f"{name}.nc")
    if ident is None or ident["scenario_hash"] != digest or (paths is not None and ident["paths"] != paths):
        try:
            with np.load(out / _PARTIAL / name / "tally.npz", allow_pickle=False) as data:
                ident = json.loads(str(data["identity"]))
            if ident["scenario_hash"] != digest:
                return None
            return np.random.SeedSequence(int(ident["seed_entropy"]), spawn_key=tuple(ident["seed_spawn_key"]))
        except Exception:  # missing or damaged (load_checkpoint reports it): no recorded seed
            return None
    return np.random.SeedSequence(int(ident["seed_entropy"]), spawn_key=tuple(ident["seed_spawn_key"]))


# ---------------------------------------------------------------------------
# The batch


class _Log:
    """``batch.log``: one line per event, appended with a single write each."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, event: str, name: str = "-", **fields) -> None:
        stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
        extra = "".join(f" {k}={v}" for k, v in fields.items())
        line = f"{stamp} pid={os.getpid()} {event} {name}{extra}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def run_batch(
    scenarios: Sequence[str | Path],
    out: str | Path,
    *,
    paths: int | None = None,
    seed: int | None = None,
    overrides: Sequence[str] = (),
    engine: str = "numba",
    threads: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    keep_paths: int = 0,
    zarr: str | Path | None = None,
    client=None,
    blocks_per_task: int | None = None,
    checkpoint_every: float = CHECKPOINT_SECONDS,
    force: bool = False,
    progress: bool | None = None,
    echo: Callable[[str], None] | None = None,
) -> BatchReport:
    """Run every scenario into ``out``; skip up-to-date results, resume checkpoints.

    Parameters
    ----------
    scenarios : sequence of path
        Scenario TOML files.
    out : path
        Output folder: ``<name>.nc`` per scenario, ``summary.nc``, ``summary.csv``,
        ``batch.log`` and, while scenarios run, ``.partial/<name>/tally.npz``.
    paths, seed, overrides, engine, threads, block_size
        As for :func:`simulator.run`, applied to every scenario (default: each
        scenario's own paths and seed).  A scenario without a seed reuses the seed of
        its earlier result or checkpoint, so that it can be skipped or resumed.
    keep_paths : int
        Keep this many full paths per scenario: in the ``.nc`` file, or with ``zarr``
        in ``<zarr>/<name>.zarr`` (in chunks, bounded memory).
    zarr : path, optional
        Folder of the kept-path Zarr stores.
    client : distributed.Client, optional
        Spread the path blocks of all scenarios over this dask cluster; the results
        are bit-identical to the in-process ones.
    blocks_per_task : int, optional
        Blocks per task (see :func:`simulator.runner.distributed.run_jobs`); no effect on results.
    checkpoint_every : float
        Seconds between checkpoints of a running scenario (0: after every task).
    force : bool
        Recompute even up-to-date results (checkpoints are still resumed).
    progress : bool, optional
        Progress bars (tqdm, on stderr) of scenarios and paths; default: when
        stderr is a terminal.
    echo : callable, optional
        Receives the one-line messages (default: print to stdout, errors to stderr).

    Returns
    -------
    BatchReport
    """
    from tqdm.auto import tqdm

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    report = BatchReport()
    with _folder_lock(out):
        _remove_temporaries(out)
        log = _Log(out / _LOG)
        log("batch", scenarios=len(scenarios), client="yes" if client is not None else "no")
        disable = None if progress is None else not progress
        bar_sc = tqdm(total=len(scenarios), desc="scenarios", unit="scenario", position=0, disable=disable,
                      file=sys.stderr, dynamic_ncols=True)
        bar_paths = tqdm(total=0, desc="paths", unit="path", unit_scale=True, position=1, disable=disable,
                         file=sys.stderr, dynamic_ncols=True, leave=False)

        def say(text: str, *, error: bool = False) -> None:
            if echo is not None:
                echo(text)
            else:
                tqdm.write(text, file=sys.stderr if error else sys.stdout)

        def fail(label: str, message: str, user: bool) -> None:
            report.failed.append((label, message, user))
            log("failed", label, reason=json.dumps(message))
            say(f"simulator: error: {message}", error=True)
            bar_sc.update(1)

        try:
            jobs, order = _plan_jobs(scenarios, out, report, log, say, fail, bar_sc, paths=paths, seed=seed,
                                     overrides=overrides, engine=engine, threads=threads,
                                     block_size=block_size, keep_paths=keep_paths, zarr=zarr, force=force)
            bar_paths.reset(total=sum(job.paths for job in jobs))
            bar_paths.update(sum(job.paths_done for job in jobs))
            _execute(jobs, out, report, log, say, fail, bar_sc, bar_paths, client=client,
                     blocks_per_task=blocks_per_task, checkpoint_every=checkpoint_every,
                     overrides=overrides)
        finally:
            bar_paths.close()
            bar_sc.close()
        done = [name for name in order if name in report.results]
        if done:
            report.summary = write_summary(
                [report.summaries.get(name, report.results[name]) for name in done], out)
        with contextlib.suppress(OSError):
            (out / _PARTIAL).rmdir()  # only when empty: no scenario is half done
        log("end", computed=len(report.computed), skipped=len(report.skipped), failed=len(report.failed))
        tail = f"; summary: {report.summary[1]}" if report.summary else ""
        say(f"batch: {len(report.computed)} computed, {len(report.skipped)} up to date, "
            f"{len(report.failed)} failed{tail}")
    return report


def _plan_jobs(scenarios, out, report, log, say, fail, bar_sc, *, paths, seed, overrides, engine, threads,
               block_size, keep_paths, zarr, force):
    """Load every scenario; skip the up-to-date ones; restore checkpoints of the others."""
    jobs: list[Job] = []
    order: list[str] = []
    seen: dict[str, str] = {}
    resident = 0.0
    for path in scenarios:
        label = str(path)
        try:
            scenario = load_scenario(path, overrides=overrides)
            name = scenario.name
            if name in seen:
                raise BatchError(f"{path}: scenario name {name!r} is also that of {seen[name]}: "
                                 "their results would overwrite each other")
            seen[name] = label
            run_seed = seed
            if run_seed is None and scenario.scenario.seed is None:
                run_seed = _recorded_seed(out, name, scenario_hash(scenario), paths)
            job = prepare_job(scenario, paths=paths, seed=run_seed, engine=engine, block_size=block_size,
                              keep_paths=keep_paths, threads=threads,
                              zarr=None if zarr is None else Path(zarr) / f"{name}.zarr")
        except UserError as exc:
            fail(label, str(exc), True)
            continue
        except Exception as exc:  # an unexpected failure of one scenario must not stop the batch
            fail(label, f"{path}: {_one_line(exc)}", False)
            continue
        order.append(name)
        result = out / f"{name}.nc"
        partial = out / _PARTIAL / name
        if not force and _result_identity(result) == job.identity() and _kept_complete(job) and _intact(
                result, name, say, log):
            report.skipped.append(name)
            report.results[name] = result
            shutil.rmtree(partial, ignore_errors=True)
            log("skipped", name, reason="up-to-date")
            say(f"up to date: {name}: {result}")
            bar_sc.update(1)
            continue
        # The batch's started scenarios keep their kept paths and recorded outcomes until they finish.
        try:
            needs, sizes = job.memory_needs()
            check([*needs, Need("kept paths and outcomes of the batch's other scenarios", resident,
                                ("--keep-paths",))], sizes, what=f"{name} beside the batch's other scenarios")
        except UserError as exc:
            fail(label, f"{path}: {exc}", True)
            continue
        resident += sum(n.bytes for n in needs if n.what in RESIDENT_PARTS)
        def damaged(reason: str, name=name, partial=partial) -> None:
            say(f"simulator: warning: {partial / 'tally.npz'}: damaged checkpoint ({reason}); discarded, "
                f"{name} is recomputed from the start", error=True)
            log("checkpoint-discarded", name, reason=json.dumps(reason))
            (partial / "tally.npz").unlink(missing_ok=True)

        if load_checkpoint(partial / "tally.npz", job, on_damaged=damaged):
            job.start()
            if job.tally is None:  # its Zarr store is gone or another run's: the checkpoint is useless
                (partial / "tally.npz").unlink(missing_ok=True)
        else:
            job.start()
        log("started", name, paths=job.paths, resumed_paths=job.paths_done)
        jobs.append(job)
    return jobs, order


def _intact(result: Path, name: str, say, log) -> bool:
    """Whether an up-to-date result's content still matches the checksum written with it."""
    verified = verify_checksum(result)
    if verified:
        return True
    why = ("its data do not match the checksum written with them (changed since)" if verified is False
           else "it has no content checksum (written by an older version)")
    say(f"simulator: warning: {result}: {why}; {name} is recomputed", error=True)
    log("stale", name, reason="checksum" if verified is False else "no-checksum")
    return False


def _kept_complete(job: Job) -> bool:
    if not job.kept_count or job.zarr is None:
        return True
    from simulator.runner.distributed import KeptZarr

    return KeptZarr(job.zarr, job).complete()


def _execute(jobs, out, report, log, say, fail, bar_sc, bar_paths, *, client, blocks_per_task,
             checkpoint_every, overrides):
    last_save = {id(job): time.monotonic() for job in jobs}
    started: dict[int, float] = {}

    def start(job: Job) -> None:
        started[id(job)] = time.perf_counter()
    resumed_paths = {id(job): job.paths_done for job in jobs}

    def checkpoint(job: Job) -> None:
        if job.finished or time.monotonic() - last_save[id(job)] < checkpoint_every:
            return
        save_checkpoint(out / _PARTIAL / job.name / "tally.npz", job)
        last_save[id(job)] = time.monotonic()
        log("checkpoint", job.name, paths_done=job.paths_done)

    def done(job: Job) -> None:
        resumed = resumed_paths[id(job)]
        ds = job.grouped_dataset()
        if overrides:
            ds.attrs["overrides"] = json.dumps(list(overrides))
        result = save_results(ds, out / f"{job.name}.nc")
        shutil.rmtree(out / _PARTIAL / job.name, ignore_errors=True)
        seconds = time.perf_counter() - started.get(id(job), time.perf_counter())
        report.computed.append(job.name)
        report.results[job.name] = result
        report.summaries[job.name] = _summary_subset(ds)
        log("done", job.name, paths=job.paths, computed_paths=job.paths - resumed, seconds=f"{seconds:.2f}")
        note = f" (resumed {resumed:,} from a checkpoint)" if resumed else ""
        say(f"done: {job.name}: {job.paths:,} paths in {seconds:.1f} s{note} -> {result}")
        bar_sc.update(1)
        job.tally = job.kept = job.kept_market = job.fail_month = job.path_outcome = None  # free the finished scenario's memory

    def error(job: Job, exc: BaseException) -> None:
        user = isinstance(exc, UserError)
        fail(job.name, f"{job.name}: {_one_line(exc)}" if not user else str(exc), user)

    try:
        run_jobs(jobs, client=client, blocks_per_task=blocks_per_task, on_group=checkpoint, on_done=done,
                 on_error=error, progress=bar_paths.update, on_start=start)
    except KeyboardInterrupt:
        # Keep what is done: the next run resumes from here.
        for job in jobs:
            if job.tally is not None and not job.finished:
                save_checkpoint(out / _PARTIAL / job.name / "tally.npz", job)
                log("checkpoint", job.name, paths_done=job.paths_done, reason="interrupted")
        raise


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    more = f" [+{len(text) - 1} more; see `simulator validate`]" if len(text) > 1 else ""
    return f"{exc.__class__.__name__}: {text[0]}{more}" if text else exc.__class__.__name__


# ---------------------------------------------------------------------------
# Summary


def summary_rows(ds: xr.Dataset) -> list[dict]:
    """One row per company of a results Dataset: the columns of ``summary.csv``.

    Per horizon ``h`` (months): ``p_<outcome>_<h>m`` with ``_low``/``_high`` (95%
    Wilson), ``champion_share_<h>m`` with its interval, and the valuation quantiles
    ``valuation_p05_<h>m``, ``valuation_median_<h>m``, ``valuation_p95_<h>m``; then the
    fundamental value with its interval and the stated valuation.
    """
    rows = []
    for company in ds["company"].values:
        sel = {"company": company}
        row: dict = {"scenario": ds.attrs["scenario_name"], "company": str(company),
                     "currency": ds.attrs["currency"], "paths": int(ds.attrs["paths"]),
                     "seed": str(ds.attrs.get("seed_entropy", "")),
                     "scenario_hash": ds.attrs["scenario_hash"]}
        for h in ds["horizon"].values:
            at = {**sel, "horizon": h}
            for outcome in L.OUTCOME_NAMES:
                p = ds["probability"].sel(**at, outcome=outcome)
                ci = ds["probability_ci"].sel(**at, outcome=outcome)
                row[f"p_{outcome}_{h}m"] = float(p)
                row[f"p_{outcome}_{h}m_low"] = float(ci.sel(bound="low"))
                row[f"p_{outcome}_{h}m_high"] = float(ci.sel(bound="high"))
            row[f"champion_share_{h}m"] = float(ds["champion_share"].sel(**at))
            row[f"champion_share_{h}m_low"] = float(ds["champion_share_ci"].sel(**at, bound="low"))
            row[f"champion_share_{h}m_high"] = float(ds["champion_share_ci"].sel(**at, bound="high"))
            q = ds["valuation_quantile"].sel(**sel, month=h)
            for level, label in zip(SUMMARY_QUANTILES, ("p05", "median", "p95"), strict=True):
                row[f"valuation_{label}_{h}m"] = float(q.sel(quantile=level))
        for name in ("fundamental_value", "business_value"):
            row[name] = float(ds[name].sel(**sel))
            row[f"{name}_low"] = float(ds[f"{name}_ci"].sel(**sel, bound="low"))
            row[f"{name}_high"] = float(ds[f"{name}_ci"].sel(**sel, bound="high"))
        row["valuation_start"] = float(ds["valuation_start"].sel(**sel))
        rows.append(row)
    return rows


#: The summary's own words for an amount: its rows may be of scenarios in different currencies.
SUMMARY_MONEY = "currency of the row's scenario (see currency)"
#: A result's dimensions as the summary has them: one row per scenario and company, months at the horizons.
_SUMMARY_DIMS = {"company": "row", "month": "horizon"}


def summary_dataset(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """The comparison table as a Dataset: dimension ``row`` (scenario, company), ``horizon``
    (the union of the scenarios' horizons; NaN where a scenario has no such horizon).

    Each variable is the result's variable of the same name (:data:`simulator.results.outputs.OUTPUTS`
    gives its dimensions, units and description), the valuation quantiles at the horizons only."""
    horizons = np.unique(np.concatenate([ds["horizon"].values for ds in datasets])).astype(np.int64)
    cols: dict[str, list] = {k: [] for k in ("scenario", "company", "currency", "paths", "seed",
                                             "scenario_hash")}
    n_rows = sum(ds.sizes["company"] for ds in datasets)
    # The labels every result has, in the summary's order.
    picks = {"outcome": list(L.OUTCOME_NAMES), "bound": ["low", "high"], "quantile": list(SUMMARY_QUANTILES)}
    labels = {"row": np.arange(n_rows, dtype=np.int64), "horizon": horizons,
              "outcome": np.asarray(picks["outcome"], dtype=object), "bound": np.asarray(picks["bound"], dtype=object),
              "quantile": np.asarray(picks["quantile"])}
    dims = {name: tuple(_SUMMARY_DIMS.get(d, d) for d in OUTPUTS[name].dims) for name in _SUMMARY_VARS}
    values = {name: np.full([labels[d].size for d in dims[name]], np.nan) for name in _SUMMARY_VARS}
    r = 0
    for ds in datasets:
        cols_h = np.searchsorted(horizons, ds["horizon"].values)
        for company in ds["company"].values:
            for key, value in (("scenario", ds.attrs["scenario_name"]), ("company", str(company)),
                               ("currency", ds.attrs["currency"]), ("paths", int(ds.attrs["paths"])),
                               ("seed", str(ds.attrs.get("seed_entropy", ""))),
                               ("scenario_hash", ds.attrs["scenario_hash"])):
                cols[key].append(value)
            for name in _SUMMARY_VARS:
                da = ds[name].sel(company=company)
                if "month" in da.dims:  # a fan over the months: its values at the horizons
                    da = da.sel(month=ds["horizon"].values).rename(month="horizon")
                da = da.sel({d: picks[d] for d in da.dims if d in picks}).transpose(*dims[name][1:])
                if "horizon" in da.dims:
                    values[name][r, cols_h] = da.values
                else:
                    values[name][r] = da.values
            r += 1
    variables = {name: xr.Variable(dims[name], values[name], attrs={
        "units": OUTPUTS[name].units.replace("{currency}", SUMMARY_MONEY), "long_name": OUTPUTS[name].long_name})
        for name in _SUMMARY_VARS}
    out = xr.Dataset(variables, coords={**labels, **{k: ("row", np.asarray(v, dtype=np.int64 if k == "paths" else
                                                                            object)) for k, v in cols.items()}})
    out["horizon"].attrs = {"units": "months", "long_name": "horizon at which outcomes are classified"}
    out.attrs.update({
        "title": "Batch summary: one row per scenario and company",
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "Conventions": "CF-1.10",
    })
    return out


#: Per-horizon column names end in ``_<months>m`` (and ``_low``/``_high`` for intervals).
_HORIZON_COLUMN = re.compile(r"_(\d+)m(?:_low|_high)?$")
_SUMMARY_VARS = ("probability", "probability_ci", "champion_share", "champion_share_ci", "valuation_quantile",
                 "fundamental_value", "fundamental_value_ci", "business_value", "business_value_ci",
                 "valuation_start")


def _summary_subset(ds: xr.Dataset) -> xr.Dataset:
    return ds[list(_SUMMARY_VARS)].load()


def _read_summary_subset(path: Path) -> xr.Dataset:
    """The summary variables of a results file, read directly with h5netcdf.

    Opening the whole Dataset with xarray takes a good fraction of a second per
    file; these few small variables are read in milliseconds.
    """
    import h5netcdf

    def decode(values: np.ndarray) -> np.ndarray:
        if values.dtype.kind in "OS":
            return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)
        return values

    try:
        with h5netcdf.File(path, "r") as fh:
            data = {name: (fh.variables[name].dimensions, fh.variables[name][...]) for name in _SUMMARY_VARS}
            dims = {d for dims, _ in data.values() for d in dims}
            coords = {d: decode(fh.variables[d][...]) for d in dims}
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in fh.attrs.items()}
    except (OSError, KeyError):
        with xr.open_dataset(path, engine="h5netcdf") as ds:  # written by another version: the slow way
            return _summary_subset(ds)
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_summary(results: Sequence[Path | xr.Dataset], out: Path) -> tuple[Path, Path]:
    """Write ``summary.nc`` and ``summary.csv`` (atomically) from results (files or Datasets), in order."""
    datasets, rows = [], []
    for item in results:
        small = item if isinstance(item, xr.Dataset) else _read_summary_subset(item)
        datasets.append(small)
        rows.extend(summary_rows(small))
    nc = save_results(summary_dataset(datasets), out / "summary.nc")
    # Columns: identification, then each horizon in order, then the per-company values.
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    horizon_of = {k: int(m.group(1)) for k in columns if (m := _HORIZON_COLUMN.search(k))}
    first = [k for k in columns if k not in horizon_of and not k.startswith(("fundamental", "business", "valuation_start"))]
    last = [k for k in columns if k not in horizon_of and k not in first]
    by_horizon = sorted((k for k in columns if k in horizon_of), key=lambda k: horizon_of[k])
    columns = first + by_horizon + last
    csv_path = out / "summary.csv"
    with atomic_file(csv_path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            # repr of a float round-trips exactly; NaN is an empty cell.
            writer.writerow({k: ("" if isinstance(v, float) and v != v else v) for k, v in row.items()})
    return nc, csv_path


# ---------------------------------------------------------------------------
# Command line


