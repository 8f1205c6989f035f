"""Memory a run or a study needs, estimated from its sizes and checked before anything is allocated.

Every size a user gives (paths, kept paths, threads, block size, grid points,
samples, the scenarios of a batch) costs memory somewhere: per-block moments
grow with the paths, histograms with the threads, lane workspaces with the
block size, kept paths with their number, a study's results and per-path
outcomes with its parameter sets.  :func:`run_needs` and :func:`sets_sizing`
add these up from the same sizes the engines allocate
(:func:`simulator.engines.dispatch.memory_parts`) and the results Datasets
hold (:data:`simulator.results.outputs.OUTPUTS`); :func:`check` compares the
total with the memory this process can have and, when it does not fit, raises
one :class:`~simulator.errors.UserError` line naming the option that costs the
most, its value, the estimate and the largest value that fits::

    --keep-paths 50,000,000: needs about 53.6 GB of memory (kept paths 53.4 GB, ...)
    but 21.3 GB is available; at most 19,000,000 fit

A streaming run needs no memory per path (its summaries are histograms and
counters), so the paths alone are refused only when their per-block moments
(about 150 bytes per 4,096 paths) do not fit.  Every command and the Python API
(:func:`simulator.run`, the grouped runs, sweeps, sensitivity studies, batches)
call these checks before their first large allocation.

May import: :mod:`simulator.errors`, :mod:`simulator.model`, :mod:`simulator.engines`,
:mod:`simulator.results`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from simulator.engines.dispatch import engine_threads, max_threads, memory_parts
from simulator.engines.plan import RunPlan
from simulator.errors import UserError
from simulator.model import quantities as Q
from simulator.model.parameters import ParameterLayout
from simulator.results.outputs import OUTPUTS, QUANTILES

__all__ = ["MAX_TASKS_PER_CALL", "RESIDENT_PARTS", "USABLE_SHARE", "Need", "SetsSizing", "available_bytes",
           "bytes_per_set", "check", "format_bytes", "memory_budget", "need_of", "result_bytes_per_set", "run_needs",
           "sets_sizing", "total_bytes"]

#: Share of the available memory a run may plan to use (the rest: the interpreter, numba, the OS's caches).
USABLE_SHARE = 0.9
#: Rough bytes of one task's four generators (Python objects and SFC64 states) in a many-set call.
TASK_BYTES = 8_192
#: Upper bound on tasks (one block of paths under one set) per kernel call of a study: the
#: generators of every task of a call exist at once.
MAX_TASKS_PER_CALL = 32_768
#: The parts of a run's needs that stay in memory until its results are written (a batch holds
#: them for each scenario it has started): per path records, not the engine's working arrays.
RESIDENT_PARTS = ("kept paths", "outcome codes", "recorded input draws")


@dataclass(frozen=True)
class Need:
    """One part of an estimate: ``bytes``, proportional to the values of the options in ``drivers``.

    Attributes
    ----------
    what : str
        What the memory holds ("kept paths", "histograms", ...).
    bytes : float
        Its size.
    drivers : tuple of str
        The options (as the command line spells them: ``--keep-paths``) whose values
        it is proportional to; none for a part that does not change with any.
    """

    what: str
    bytes: float
    drivers: tuple[str, ...] = ()


def available_bytes() -> float:
    """Memory this process can still have: the system's available memory, or less under a cgroup limit."""
    import psutil

    available = float(psutil.virtual_memory().available)
    limit = _cgroup_room()
    return min(available, limit) if limit is not None else available


def _cgroup_room() -> float | None:
    """Bytes left under a cgroup (v2) memory limit, or None without one."""
    base = Path("/sys/fs/cgroup")
    try:
        text = (base / "memory.max").read_text().strip()
        if text == "max":
            return None
        return max(0.0, float(int(text)) - float(int((base / "memory.current").read_text().strip())))
    except (OSError, ValueError):
        return None


def format_bytes(n: float) -> str:
    """``1.5 GB``, ``320 MB``, ``12 kB`` (powers of 1000)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def check(needs: Iterable[Need], sizes: Mapping[str, int], *, what: str = "this run",
          available: float | None = None) -> None:
    """Raise a one-line :class:`UserError` when the needs do not fit in memory.

    ``sizes`` are the values of the options the needs depend on.  The message
    names the option to lower: of those whose lowering alone can make the run
    fit, the one that drives the most bytes (else the one that drives the most);
    its value, the estimate with its largest parts, what is available and the
    largest value of that option that fits with everything else as it is.
    """
    needs = [n for n in needs if n.bytes > 0]
    total = sum(n.bytes for n in needs)
    room = USABLE_SHARE * (available_bytes() if available is None else float(available))
    if total <= room or not needs:
        return
    candidates = []
    for option, value in sizes.items():
        driven = sum(n.bytes for n in needs if option in n.drivers)
        if driven <= 0 or value <= 0:
            continue
        rest = total - driven
        fits = math.floor(value * (room - rest) / driven) if room > rest else 0
        candidates.append((fits >= 1, driven, option, int(value), fits, rest))
    parts: dict[str, float] = {}
    for n in needs:
        parts[n.what] = parts.get(n.what, 0.0) + n.bytes
    detail = ", ".join(f"{k} {format_bytes(v)}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])[:3])
    if not candidates:
        raise UserError(f"{what} needs about {format_bytes(total)} of memory ({detail}) but "
                        f"{format_bytes(room)} is available")
    feasible, _, option, value, fits, rest = max(candidates)
    limit = (f"at most {fits:,} fit" if feasible else
             f"even the smallest {option} does not fit (the rest needs {format_bytes(rest)})")
    raise UserError(f"{option} {value:,}: {what} needs about {format_bytes(total)} of memory ({detail}) but "
                    f"{format_bytes(room)} is available; {limit}")


def run_needs(layout: ParameterLayout, plan: RunPlan, *, paths: int, paths_option: str = "--paths",
              engine: str = "numba", block_size: int, keep_paths: int = 0, kept_in_memory: bool = True,
              threads: int | None = None, fans: bool = True, recorded: int = 0,
              uncertain_slots: int = 0) -> tuple[list[Need], dict[str, int]]:
    """What one run (one parameter set) needs: the engine's arrays and the results Dataset's.

    Returns the needs and the sizes they depend on (for :func:`check`).
    ``recorded`` paths keep their outcome codes and input draws; kept paths
    count twice (the engine's array and the Dataset's months), unless they go to
    a Zarr store (``kept_in_memory=False``: a group's worth at a time).
    """
    keep = min(int(keep_paths), int(paths)) if kept_in_memory else 0
    options = {"paths": paths_option, "threads": "--threads", "block_size": "--block-size",
               "keep_paths": "--keep-paths"}
    needs = [Need(what, nbytes, tuple(options[d] for d in drivers))
             for what, nbytes, drivers in memory_parts(
                 layout, plan, paths=paths, engine=engine, block_size=block_size, fans=fans, keep_paths=keep,
                 threads=threads, outcome_paths=recorded, uncertain_slots=uncertain_slots)]
    # The Dataset's kept paths hold the recorded months only, float32; recorded draws are float64.
    needs.append(Need("kept paths", keep * layout.n_companies * Q.N_VARS * plan.recorded_months.size * 4.0,
                      ("--keep-paths",)))
    needs.append(Need("recorded input draws", 3 * recorded * uncertain_slots * 8.0))
    sizes = {paths_option: int(paths), "--threads": max(1, engine_threads(threads) if engine == "numba" else 1),
             "--block-size": int(block_size), "--keep-paths": keep}
    return needs, sizes


def result_bytes_per_set(n_comp: int, plan: RunPlan, *, quantiles: bool) -> float:
    """Bytes of one parameter set's variables in a study's Dataset, from the table of outputs."""
    sizes = {"company": n_comp, "horizon": plan.horizons.size, "outcome": 3, "bound": 2,
             "month": plan.recorded_months.size, "quantile": len(QUANTILES), "champions": n_comp + 1,
             "rival": n_comp}
    total = 0.0
    for name, spec in OUTPUTS.items():
        if "path" in spec.dims or (name.endswith("_quantile") and not quantiles):
            continue
        total += 8.0 * math.prod(sizes[d] for d in spec.dims)
    return total


def memory_budget(max_memory: float | None = None) -> float:
    """Bytes the per-set accumulators of one batch of a study may use (default: min(1 GiB, a quarter free))."""
    if max_memory is not None:
        return float(max_memory)
    try:
        available = available_bytes()
    except Exception:  # psutil missing or restricted: a conservative default
        available = 4e9
    return max(64e6, min(1.0 * 2**30, 0.25 * available))


def bytes_per_set(n_comp: int, plan: RunPlan, *, quantiles: bool, outcome_paths: int, threads: int,
                  n_blocks: int, competition: bool = False) -> float:
    """Bytes of one parameter set's accumulators in a many-set kernel call (sizes a study's batches)."""
    n_hor, n_rec = plan.horizons.size, plan.recorded_months.size
    # Histograms: a slot per thread (one shared slot once sets run as task groups),
    # and the contiguous copies hist_quantiles makes; counted generously. With competition,
    # the shares', the platforms' and the market's histograms (MODEL.md step 9) too.
    rows = n_comp * Q.N_VARS + (n_comp + 2 if competition else 0)
    hist = (threads + 4) * rows * n_rec * Q.HIST_BINS * 8.0 if quantiles else 0.0
    # Counts per thread: outcomes, survival, champions, required revenue, pairs of companies.
    small = (threads + 1) * 8.0 * (n_comp * n_hor * 5 + n_hor * (n_comp + 3) + n_comp * (plan.n_months + 1)
                                   + 2 * n_hor * n_comp * n_comp)
    moments = n_blocks * 8.0 * n_comp * (n_hor + 1) * 3 * 2
    tasks = min(n_blocks, 64) * TASK_BYTES
    return hist + small + moments + outcome_paths * n_comp * n_hor + tasks + 4096.0


@dataclass(frozen=True)
class SetsSizing:
    """What a study of many parameter sets needs, and how its sets go into kernel calls (:func:`sets_sizing`).

    Attributes
    ----------
    needs : list of Need
        The parts of the estimate (for :func:`check`).
    sizes : dict
        The values of the options the needs depend on.
    batch : int
        Parameter sets per batch of kernel calls (their accumulators fit :func:`memory_budget`).
    chunk_blocks : int
        Blocks of paths per kernel call (at most :data:`MAX_TASKS_PER_CALL` tasks a call).
    """

    needs: list[Need]
    sizes: dict[str, int]
    batch: int
    chunk_blocks: int

    def check(self, *, what: str, extra: Iterable[Need] = ()) -> None:
        """:func:`check` these needs, and any ``extra`` of the study's own (same sizes)."""
        check([*self.needs, *extra], self.sizes, what=what)


def sets_sizing(layout: ParameterLayout, plan: RunPlan, n_sets: int, *, option: str, value: int | None = None,
                paths: int, engine: str = "numba", block_size: int, threads: int | None = None,
                quantiles: bool = True, outcome_paths: int = 0, per_set_extra: float = 0.0,
                uncertain_slots: int = 0, max_memory: float | None = None,
                competition: bool = False) -> SetsSizing:
    """What a study of ``n_sets`` parameter sets needs, and the batches that run them
    (:func:`simulator.studies.sweep.run_sets` runs exactly these batches).

    The sets' parameters, their results and recorded outcomes grow with the sets
    (named ``option``, e.g. ``--param`` grid points or ``--samples``, whose value
    is ``value``: the sets are proportional to it); the kernel calls run the sets
    in batches sized to :func:`memory_budget` (``competition``: the sets compete,
    which adds histograms per set).  ``per_set_extra`` adds bytes per set (a
    sensitivity study's per-path values).
    """
    value = int(n_sets if value is None else value)
    n_comp = layout.n_companies
    n_hor = plan.horizons.size
    n_blocks = -(-int(paths) // int(block_size))
    outcome_paths = min(int(outcome_paths), int(paths))
    threads_max = max_threads() if engine == "numba" else 1
    per_set = bytes_per_set(n_comp, plan, quantiles=quantiles, outcome_paths=outcome_paths, threads=threads_max,
                            n_blocks=n_blocks, competition=competition)
    batch = int(max(1, min(n_sets, memory_budget(max_memory) // per_set)))
    # All blocks of a batch in one kernel call unless that makes too many tasks.
    chunk_blocks = int(max(1, min(n_blocks, MAX_TASKS_PER_CALL // batch)))
    options = {"paths": "--paths", "threads": "--threads", "block_size": "--block-size", "keep_paths": "--keep-paths"}
    # The batch's kernel calls: its per-block moments grow with the paths, not with the study's sets.
    needs = [Need(what, nbytes, tuple(options[d] for d in drivers))
             for what, nbytes, drivers in memory_parts(
                 layout, plan, paths=paths, n_sets=batch, engine=engine, block_size=block_size, fans=quantiles,
                 threads=threads, outcome_paths=outcome_paths, uncertain_slots=uncertain_slots,
                 chunk_blocks=chunk_blocks)]
    # Per set: parameters (the grid and its copy), results (each batch's Dataset and the joined one),
    # outcome codes (each batch's and the joined ones) and the caller's extra.
    each = (2 * layout.n_theta * 8.0 + 2 * result_bytes_per_set(n_comp, plan, quantiles=quantiles)
            + 2 * outcome_paths * n_comp * n_hor + per_set_extra)
    needs.append(Need("parameter sets and their results", each * n_sets, (option,)))
    sizes = {option: value, "--paths": int(paths),
             "--threads": max(1, engine_threads(threads) if engine == "numba" else 1), "--block-size": int(block_size)}
    return SetsSizing(needs=needs, sizes=sizes, batch=batch, chunk_blocks=chunk_blocks)


def need_of(what: str, nbytes: float, *drivers: str) -> Need:
    """A part of ``nbytes`` proportional to the values of ``drivers``."""
    return Need(what, float(nbytes), tuple(drivers))


def total_bytes(needs: Sequence[Need]) -> float:
    """The sum of the parts."""
    return float(sum(n.bytes for n in needs))
