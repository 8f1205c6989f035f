"""Grouped runs: path blocks in groups, in this process or on a dask.distributed cluster.

A prepared run (:mod:`simulator.runner.prepared`) is split into *groups* of
consecutive path blocks.  Each group is one task, :func:`simulate_group`, that
returns the group's :class:`~simulator.engines.tally.Tally`; the tallies are
merged with :func:`~simulator.engines.tally.merge_tallies`.  Integer
tallies add exactly and the floating-point moments are kept per block and merged
in block order when read, so the result is bit-identical to one in-process
:func:`simulator.run` with the same seed, whatever the groups, the order in which
they finish, the workers or the machines.

Kept paths (``keep_paths``) are produced group by group (``simulate(...,
keep_start=...)``) and written either to one in-memory array or, with ``zarr``, to
a Zarr store in chunks of one block, so their memory is bounded too.

Keys given as distributions (:mod:`simulator.model.uncertain`) are drawn per path in
each task from the block's own stream, exactly as :func:`simulator.run` draws them,
and the outcome codes of the first ``RECORDED_PATHS`` paths are gathered group by
group, so the Dataset (with ``input_draw`` and ``path_outcome``) is bit-identical too.

Usage::

    import simulator
    from simulator.runner.distributed import dask_client

    with dask_client(cluster="local:2") as client:       # or scheduler="tcp://host:8786"
        ds = simulator.run("scenarios/zhipu_base.toml", paths=10**7, client=client)

``simulator.run(..., client=client)`` and ``simulator.run(..., zarr="paths.zarr")``
both go through :func:`run_grouped`.  See ``docs/scaling.md``.

May import: everything below :mod:`simulator.runner` and :mod:`simulator.runner.prepared`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.engines.dispatch import simulate
from simulator.engines.input_draws import input_callback
from simulator.engines.plan import DEFAULT_BLOCK_SIZE, RunPlan
from simulator.engines.tally import Tally, merge_tallies
from simulator.errors import DaskError
from simulator.model import quantities as Q
from simulator.model.parameters import ParameterLayout
from simulator.model.schema import Scenario
from simulator.model.uncertain import UncertainSet
from simulator.results.dataset import package_version, scenario_hash
from simulator.results.outputs import OUTPUTS
from simulator.runner.prepared import PreparedRun, prepare_run
from simulator.runner.progress import progress_bar

__all__ = ["DaskError", "Job", "KeptZarr", "check_workers", "dask_client", "prepare_job",
           "run_grouped", "run_job", "run_jobs", "simulate_group"]

#: Blocks per task in this process: a few seconds of work, so checkpoints and
#: progress are regular, and large enough that the per-call overhead is negligible.
IN_PROCESS_BLOCKS = 64
#: Bounds on blocks per task on a cluster: small tasks balance better, but each task
#: returns its histograms (7 MB per company), so a task must be worth sending.
MIN_TASK_BLOCKS = 4
MAX_TASK_BLOCKS = 64
#: Kept paths returned by one task are at most about this many bytes.
KEPT_TASK_BYTES = 64 * 2**20

# One kernel at a time per worker process: numba's thread pool is per process, and
# concurrent calls would oversubscribe the cores (or abort with the workqueue layer).
_KERNEL_LOCK = threading.Lock()


def simulate_group(layout: ParameterLayout, plan: RunPlan, *, paths: int, seed: np.random.SeedSequence,
                   blocks: Sequence[int], engine: str = "numba", block_size: int = DEFAULT_BLOCK_SIZE,
                   threads: int | None = None, keep_paths: int = 0,
                   progress: Callable[[int], None] | None = None, market: np.ndarray | None = None,
                   uncertain: UncertainSet | None = None, outcome_paths: int = 0) -> Tally:
    """Simulate one group of consecutive blocks; the task a worker runs.

    Parameters
    ----------
    layout, plan
        The scenario's parameters and time grid.
    paths : int
        Paths of the whole run (the last block may be short).
    seed : SeedSequence
        Root of the block streams.
    blocks : sequence of int
        Consecutive block indices.
    engine, block_size
        As in :func:`simulator.engines.dispatch.simulate`.
    threads : int, optional
        Numba threads; default: this dask worker's thread count (all of numba's
        threads outside a worker).  Results do not depend on it.
    keep_paths : int
        Paths kept by the whole run; the group keeps those of its own blocks, with
        ``kept[:, 0]`` its first path.
    progress : callable, optional
        Called with the paths finished after every kernel call.
    market : ndarray, optional
        Market size at each horizon (:func:`simulator.results.market_path`).
    uncertain : UncertainSet, optional
        The scenario's uncertain inputs, drawn per path from the block's own stream
        (seeded by ``seed``), as :func:`simulator.run` draws them.
    outcome_paths : int
        Paths of the whole run whose outcome codes are recorded; the group returns
        those of its own blocks as ``path_outcome`` (set, path, company, horizon),
        with ``path_outcome[:, 0]`` its first path.

    Returns
    -------
    Tally
    """
    blocks = [int(b) for b in blocks]
    first = blocks[0] * block_size
    end = min(paths, (blocks[-1] + 1) * block_size)
    keep_here = max(0, min(int(keep_paths), end) - first)
    record_end = min(int(outcome_paths), end)
    record_here = max(0, record_end - first)
    if threads is None:
        threads = _worker_threads()
    callback = input_callback(uncertain, layout, seed)
    common = dict(paths=paths, seed=seed, engine=engine, block_size=block_size, threads=threads,
                  market=market, uncertain=callback)
    # The engine indexes outcome codes by path from the run's first path, which cannot
    # be combined with keeping paths from a later start: such a group (kept and
    # recorded paths, not at the start of the run) records its outcomes in a second
    # pass over its recorded blocks (the same streams, so the same paths).
    separate = bool(record_here and keep_here and first)
    with _KERNEL_LOCK:
        part = simulate(layout, plan, blocks=blocks, keep_paths=keep_here, keep_start=first if keep_here else 0,
                        progress=progress, outcome_paths=record_end if record_here and not separate else 0,
                        **common)
        if separate:
            recorded_blocks = [b for b in blocks if b * block_size < record_end]
            part.path_outcome = simulate(layout, plan, blocks=recorded_blocks, fans=False,
                                         outcome_paths=record_end, **common).path_outcome
    if record_here:
        part.path_outcome = np.ascontiguousarray(part.path_outcome[:, first:record_end])
    return part


def _worker_threads() -> int | None:
    """The dask worker's thread count (capped at numba's pool), or None outside a worker."""
    if "distributed" not in sys.modules:  # not imported: certainly not on a worker (and no import cost)
        return None
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:
        return None
    nthreads = getattr(getattr(worker, "state", worker), "nthreads", None)
    if not nthreads:
        return None
    from simulator.engines.dispatch import max_threads

    return max(1, min(int(nthreads), max_threads()))


class KeptZarr:
    """Kept paths written to a Zarr store, one block of paths per chunk.

    The store is created with every variable filled with NaN and the run's identity
    in its attributes; each finished group writes its own region (whole chunks, so
    a group rewritten after an interruption replaces exactly its own chunks), and
    ``complete`` is set once every group is in.  It opens with
    ``xarray.open_zarr(path, consolidated=False)``.
    """

    def __init__(self, path: Path, job: Job):
        self.path = Path(path)
        self.job = job
        self.months = job.plan.recorded_months

    def matches(self) -> bool:
        """Whether the store exists and was created for this run (same identity)."""
        try:
            import zarr

            attrs = dict(zarr.open_group(str(self.path), mode="r").attrs)
        except Exception:  # missing or unreadable: not this run's store
            return False
        return attrs.get("run_identity") == json.dumps(self.job.identity(), sort_keys=True)

    def complete(self) -> bool:
        """Whether every kept path has been written."""
        if not self.matches():
            return False
        import zarr

        return bool(zarr.open_group(str(self.path), mode="r").attrs.get("complete", False))

    def create(self) -> None:
        """(Re)create the store, empty (NaN), for this run."""
        import dask.array as da

        job = self.job
        if self.path.exists():
            shutil.rmtree(self.path)
        n, n_comp, chunk = job.kept_count, len(job.layout.company_names), job.block_size
        variables = {}
        for var in Q.VAR_NAMES:
            variables[f"path_{var}"] = xr.Variable(
                ("path", "company", "month"),
                da.full((n, n_comp, self.months.size), np.nan, dtype=np.float32,
                        chunks=(chunk, n_comp, self.months.size)))
        variables["failure_month"] = xr.Variable(
            ("path", "company"), da.zeros((n, n_comp), dtype=np.int64, chunks=(chunk, n_comp)))
        template = _with_output_attrs(xr.Dataset(variables, coords={
            "path": np.arange(n, dtype=np.int64),
            "company": np.asarray(job.layout.company_names, dtype=object),
            "month": self.months.astype(np.int64)}), job.scenario.currency)
        template.attrs.update({
            "title": f"Kept paths of scenario {job.scenario.name}",
            "scenario_name": job.scenario.name,
            "scenario_hash": scenario_hash(job.scenario),
            "complete": False,
        })
        self.path.parent.mkdir(parents=True, exist_ok=True)
        template.to_zarr(str(self.path), compute=False, mode="w", consolidated=False)
        import zarr

        # The identity goes in last: a store whose creation was interrupted never matches.
        zarr.open_group(str(self.path), mode="r+").attrs["run_identity"] = json.dumps(
            job.identity(), sort_keys=True)

    def write(self, first: int, kept: np.ndarray, fail_month: np.ndarray) -> None:
        """Write the kept paths ``first, first + 1, ...`` of one group."""
        n = kept.shape[1]
        data = {f"path_{var}": (("path", "company", "month"), kept[v][:, :, self.months])
                for v, var in enumerate(Q.VAR_NAMES)}
        data["failure_month"] = (("path", "company"), fail_month.astype(np.int64))
        xr.Dataset(data).to_zarr(str(self.path), region={"path": slice(first, first + n)},
                                 consolidated=False)

    def finish(self) -> None:
        """Mark the store complete."""
        import zarr

        zarr.open_group(str(self.path), mode="r+").attrs["complete"] = True


def _with_output_attrs(ds: xr.Dataset, currency: str) -> xr.Dataset:
    """Give kept-path variables the units and long names of :data:`simulator.results.outputs.OUTPUTS`."""
    for name in ds.data_vars:
        spec = OUTPUTS.get(name)
        if spec is not None:
            ds[name].attrs = {"long_name": spec.long_name,
                              "units": spec.units.replace("{currency}", currency)}
    return ds


@dataclass
class Job(PreparedRun):
    """One prepared run split into groups of blocks, and its merged tally so far."""

    #: Merged tally of the finished groups (kept paths excluded).
    tally: Tally | None = None
    #: In-memory kept paths (without ``zarr``): (var, path, company, month) and (path, company).
    kept: np.ndarray | None = None
    fail_month: np.ndarray | None = None
    #: Outcome codes of the first :attr:`recorded` paths (path, company, horizon); -1 until simulated.
    path_outcome: np.ndarray | None = None
    sink: KeptZarr | None = None

    @classmethod
    def of(cls, prepared: PreparedRun) -> Job:
        """A job that runs ``prepared`` group by group."""
        return cls(**{f.name: getattr(prepared, f.name) for f in fields(PreparedRun)})

    @property
    def paths_done(self) -> int:
        """Paths of the finished groups."""
        return 0 if self.tally is None else int(self.tally.n_paths[0])

    def start(self) -> None:
        """Allocate the outputs: recorded outcome codes, kept paths (in memory or the Zarr store)."""
        n_comp = len(self.layout.company_names)
        if self.recorded and self.path_outcome is None:
            self.path_outcome = np.full((self.recorded, n_comp, self.plan.horizons.size), -1, dtype=np.int8)
        n = self.kept_count
        if not n:
            return
        if self.zarr is not None:
            self.sink = KeptZarr(self.zarr, self)
            if self.tally is None or not self.sink.matches():
                self.tally = None  # a resumed tally is only valid with its own store
                self.sink.create()
        elif self.kept is None:
            self.kept = np.full((Q.N_VARS, n, n_comp, self.plan.n_months + 1), np.nan, dtype=np.float32)
            self.fail_month = np.zeros((n, n_comp), dtype=np.int64)

    def pending_groups(self, blocks_per_task: int) -> list[tuple[int, ...]]:
        """The blocks not merged yet, as groups of consecutive blocks.

        Groups that hold kept paths are smaller, so that a task returns at most
        about :data:`KEPT_TASK_BYTES` of them.
        """
        done = set() if self.tally is None else set(self.tally.block_ids.tolist())
        n_comp = len(self.layout.company_names)
        kept_blocks = max(1, KEPT_TASK_BYTES // (self.block_size * Q.N_VARS * n_comp
                                                 * (self.plan.n_months + 1) * 4))
        keep_end = self.kept_count
        groups: list[tuple[int, ...]] = []
        current: list[int] = []
        for b in range(self.n_blocks):
            if b in done:
                if current:
                    groups.append(tuple(current))
                    current = []
                continue
            limit = kept_blocks if b * self.block_size < keep_end else blocks_per_task
            # A group never straddles the end of the kept paths: its size limit changes there.
            straddles = bool(current) and (current[0] * self.block_size < keep_end) != (b * self.block_size < keep_end)
            if current and (len(current) >= limit or straddles):
                groups.append(tuple(current))
                current = []
            current.append(b)
        if current:
            groups.append(tuple(current))
        return groups

    def task_kwargs(self, group: Sequence[int]) -> dict:
        """Keyword arguments of :func:`simulate_group` for one group."""
        return {"paths": self.paths, "seed": self.seed, "blocks": tuple(group), "engine": self.engine,
                "block_size": self.block_size, "threads": self.threads, "keep_paths": self.kept_count,
                "market": self.market, "uncertain": self.uncertain, "outcome_paths": self.recorded}

    def absorb(self, group: Sequence[int], part: Tally) -> None:
        """Merge one finished group (its kept paths go to the array or the Zarr store)."""
        first = int(group[0]) * self.block_size
        if part.path_outcome is not None:
            self.path_outcome[first:first + part.path_outcome.shape[1]] = part.path_outcome[0]
        part.path_outcome = None
        if part.kept is not None and part.kept.shape[1] > 0:
            n = part.kept.shape[1]
            if self.sink is not None:
                self.sink.write(first, part.kept, part.fail_month)
            else:
                self.kept[:, first:first + n] = part.kept
                self.fail_month[first:first + n] = part.fail_month
        part.kept = None
        part.fail_month = None
        self.tally = part if self.tally is None else merge_tallies(self.tally, part)

    @property
    def finished(self) -> bool:
        """Whether every block has been merged."""
        return self.tally is not None and self.tally.block_ids.size == self.n_blocks

    def run_attrs(self) -> dict:
        """Provenance attributes, the same as :func:`simulator.run` writes."""
        attrs = super().run_attrs()
        if self.sink is not None:
            attrs["kept_paths_zarr"] = str(self.zarr)
        return attrs

    def grouped_dataset(self) -> xr.Dataset:
        """The results Dataset of the merged groups (every group must be merged; marks the Zarr store complete)."""
        if not self.finished:
            missing = self.n_blocks - (0 if self.tally is None else self.tally.block_ids.size)
            raise RuntimeError(f"{self.name}: {missing} blocks missing")
        tally = self.tally
        if self.kept is not None:
            tally = Tally(**{**tally.__dict__, "kept": self.kept, "fail_month": self.fail_month})
        if self.sink is not None:
            self.sink.finish()
        return self.dataset(tally, path_outcome=self.path_outcome)


def prepare_job(scenario: Scenario | str | Path, **options) -> Job:
    """Load and check a scenario and describe its grouped run (nothing is simulated).

    ``options`` are those of :func:`simulator.runner.prepared.prepare_run`.

    Raises
    ------
    ScenarioError
        Bad scenario file, override or option (one-line message).
    """
    return Job.of(prepare_run(scenario, **options))


def run_jobs(
    jobs: Sequence[Job],
    *,
    client=None,
    blocks_per_task: int | None = None,
    on_group: Callable[[Job], None] | None = None,
    on_done: Callable[[Job], None] | None = None,
    on_error: Callable[[Job, BaseException], None] | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[Job], None] | None = None,
) -> None:
    """Run the pending groups of every job, in this process or on a dask cluster.

    Parameters
    ----------
    jobs : sequence of Job
        Started jobs (:meth:`Job.start`); their finished groups are skipped.
    client : distributed.Client, optional
        Spread the groups of every job over the cluster's workers (jobs run side by
        side); default: in this process, one job after the other.
    blocks_per_task : int, optional
        Blocks per group; default :data:`IN_PROCESS_BLOCKS` in process, and on a
        cluster enough groups for four per worker thread, within
        [:data:`MIN_TASK_BLOCKS`, :data:`MAX_TASK_BLOCKS`].
    on_group : callable, optional
        ``on_group(job)`` after each group is merged (checkpoints).
    on_done : callable, optional
        ``on_done(job)`` when a job's last group is merged.
    on_error : callable, optional
        ``on_error(job, exc)`` when a job fails; its remaining groups are dropped and
        the other jobs go on.  Default: raise.
    progress : callable, optional
        Called with the number of paths finished, as they finish.
    on_start : callable, optional
        ``on_start(job)`` when the first task of a job is started (or submitted).
    """
    on_start = on_start or (lambda job: None)
    if client is None:
        _run_in_process(jobs, blocks_per_task, on_group, on_done, on_error, progress, on_start)
    else:
        _run_on_cluster(jobs, client, blocks_per_task, on_group, on_done, on_error, progress, on_start)


def _run_in_process(jobs, blocks_per_task, on_group, on_done, on_error, progress, on_start) -> None:
    for job in jobs:
        on_start(job)
        try:
            for group in job.pending_groups(blocks_per_task or IN_PROCESS_BLOCKS):
                part = simulate_group(job.layout, job.plan, progress=progress, **job.task_kwargs(group))
                job.absorb(group, part)
                if on_group is not None:
                    on_group(job)
            if on_done is not None:
                on_done(job)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(job, exc)


def _run_on_cluster(jobs, client, blocks_per_task, on_group, on_done, on_error, progress, on_start) -> None:
    from distributed import as_completed

    slots = max(1, sum(client.nthreads().values()))
    tasks: list[tuple[Job, tuple[int, ...]]] = []
    for job in jobs:
        per_task = blocks_per_task or min(MAX_TASK_BLOCKS, max(MIN_TASK_BLOCKS,
                                                               math.ceil(job.n_blocks / (4 * slots))))
        tasks.extend((job, g) for g in job.pending_groups(per_task))
    remaining = {id(job): 0 for job in jobs}
    for job, _ in tasks:
        remaining[id(job)] += 1
    failed: set[int] = set()
    started: set[int] = set()
    for job in jobs:  # nothing to run (all groups were checkpointed)
        if remaining[id(job)] == 0:
            on_start(job)
            _finish(job, on_done, on_error)
    # A bounded window of tasks in flight bounds the client's memory (each returns a tally).
    window = 2 * slots
    pending = iter(tasks)
    meta: dict = {}

    def submit_next(ac) -> None:
        for job, group in pending:
            if id(job) in failed:
                continue
            if id(job) not in started:
                started.add(id(job))
                on_start(job)
            fut = client.submit(simulate_group, job.layout, job.plan, pure=False,
                                key=f"simulate-{_key_name(job.name)}-{group[0]}-{os.urandom(4).hex()}",
                                **job.task_kwargs(group))
            meta[fut.key] = (job, group)
            ac.add(fut)
            return

    ac = as_completed(loop=client.loop)
    for _ in range(window):
        submit_next(ac)
    for fut in ac:
        job, group = meta.pop(fut.key)
        if id(job) in failed:
            fut.release()
            submit_next(ac)
            continue
        try:
            part = fut.result()
            fut.release()
            job.absorb(group, part)
            if progress is not None:
                progress(int(part.n_paths.sum()))
            if on_group is not None:
                on_group(job)
        except Exception as exc:
            failed.add(id(job))
            for other in [f for f in list(ac.futures) if meta.get(f.key, (None,))[0] is job]:
                other.cancel()
            if on_error is None:
                raise
            on_error(job, exc)
        else:
            remaining[id(job)] -= 1
            if remaining[id(job)] == 0:
                if not _finish(job, on_done, on_error):
                    failed.add(id(job))
        submit_next(ac)


def _finish(job, on_done, on_error) -> bool:
    try:
        if on_done is not None:
            on_done(job)
        return True
    except Exception as exc:
        if on_error is None:
            raise
        on_error(job, exc)
        return False


def _key_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_." else "_" for ch in name)[:40]


def run_job(job: Job, *, client=None, progress: bool = False, blocks_per_task: int | None = None) -> xr.Dataset:
    """Simulate a prepared job group by group (in this process or on ``client``); its Dataset."""
    job.start()
    with progress_bar(job, progress) as update:
        run_jobs([job], client=client, blocks_per_task=blocks_per_task, progress=update)
    return job.grouped_dataset()


def run_grouped(scenario: Scenario | str | Path, *, client=None, progress: bool = False,
                blocks_per_task: int | None = None, **options) -> xr.Dataset:
    """Simulate a scenario group by group; what :func:`simulator.run` does with ``client`` or ``zarr``.

    Parameters
    ----------
    scenario : Scenario or path
        As for :func:`simulator.run`.
    client : distributed.Client, optional
        Run the groups on this dask cluster (see :func:`dask_client`).  For the same
        seed the results are bit-identical to the in-process run.
    progress : bool
        Show a progress bar.
    blocks_per_task : int, optional
        Blocks per task (see :func:`run_jobs`); no effect on results.
    **options
        ``paths``, ``seed``, ``engine``, ``keep_paths``, ``threads``, ``block_size``,
        ``overrides`` and ``zarr``, as for :func:`simulator.run` (see :func:`prepare_job`).
        With ``zarr`` the ``keep_paths`` kept paths go to that Zarr store in chunks (one
        block of paths per chunk) instead of the Dataset; ``ds.attrs["kept_paths_zarr"]``
        names it.  Open it with ``xarray.open_zarr(path, consolidated=False)``.

    Returns
    -------
    xarray.Dataset
    """
    return run_job(prepare_job(scenario, **options), client=client, progress=progress,
                   blocks_per_task=blocks_per_task)


def _versions() -> dict:
    """Versions that must agree between the client and the workers for identical results."""
    from importlib.metadata import version

    return {"simulator": package_version(), "numpy": np.__version__, "numba": version("numba")}


def check_workers(client) -> None:
    """Raise :class:`DaskError` if a worker cannot import the simulator or runs other versions."""
    ours = _versions()
    try:
        theirs = client.run(_versions)
    except Exception as exc:
        raise DaskError(f"workers cannot run the simulator ({exc.__class__.__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); install it on every worker") from None
    if not theirs:
        raise DaskError("the cluster has no workers")
    for worker, versions in theirs.items():
        if versions != ours:
            raise DaskError(f"worker {worker} runs {versions}, this process {ours}: "
                            "install the same versions everywhere")


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, cluster: str | None = None, *,
                timeout: float = 30.0) -> Iterator[object]:
    """A ``distributed.Client`` for an existing scheduler or a new LocalCluster; closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``, ``tls://...``) or the path
        of a scheduler file (``*.json``, as written by ``dask scheduler
        --scheduler-file`` or dask-mpi).
    cluster : str, optional
        ``"local:N"``: a LocalCluster of N worker processes with one thread each,
        started here and shut down on exit.
    timeout : float
        Seconds to wait for the scheduler.

    Yields
    ------
    distributed.Client
    """
    if (scheduler is None) == (cluster is None):
        raise DaskError("give exactly one of scheduler and cluster")
    from distributed import Client, LocalCluster

    local = None
    try:
        if cluster is not None:
            n = _parse_local(cluster)
            local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                 dashboard_address=None, silence_logs=50)  # failures are reported by the caller
            client = Client(local)
        elif scheduler.endswith(".json"):
            if not Path(scheduler).is_file():
                raise DaskError(f"{scheduler}: no such scheduler file")
            client = Client(scheduler_file=scheduler, timeout=timeout)
        else:
            client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:  # ValueError: an address dask cannot parse
        if local is not None:
            local.close()
        raise DaskError(f"cannot connect to the dask scheduler {scheduler or cluster}: "
                        f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    try:
        check_workers(client)
        yield client
    finally:
        client.close()
        if local is not None:
            local.close()


def _parse_local(cluster: str) -> int:
    kind, _, count = cluster.partition(":")
    try:
        n = int(count)
    except ValueError:
        n = 0
    if kind != "local" or n < 1:
        raise DaskError(f"cluster: {cluster!r} is not local:N with N >= 1 worker processes")
    return n

