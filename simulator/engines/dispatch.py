"""Run the model on an engine: choose it, hand it the blocks of paths, merge the tallies.

:func:`simulate` is the one entry point both engines share: the numba kernels
(:mod:`simulator.engines.kernels`, run by a pool of threads over groups of
tasks) and the numpy reference engine (:mod:`simulator.engines.reference`).
Results never depend on the engine's thread count or on how blocks are
grouped (:mod:`simulator.engines.streams`, :mod:`simulator.engines.tally`).

May import: :mod:`simulator.model` and the other modules of :mod:`simulator.engines`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from simulator.engines.plan import DEFAULT_BLOCK_SIZE, RunPlan
from simulator.engines.plan import blocks as path_blocks
from simulator.engines.streams import N_STREAMS, block_states
from simulator.engines.tally import Tally, empty_minmax, empty_tally, merge_tallies
from simulator.model import quantities as Q
from simulator.model.parameters import BRANCH, EVENT, EVENT_TABLE, GLOBAL, ParameterLayout
from simulator.warnings import COMPILE_NOTICE

__all__ = [
    "COMPILE_SECONDS",
    "DRAWS",
    "ENGINES",
    "competing_sets",
    "engine_threads",
    "import_kernels",
    "kernel_load_seconds",
    "max_threads",
    "memory_parts",
    "rng_bound_seconds",
    "simulate",
]

ENGINES = ("numba", "numpy")
#: About how long compiling the kernels takes (measured: ``benchmarks/startup.py --cold``, 2 cores); the notice
#: says so, so that a first run does not look hung.
COMPILE_SECONDS = 30
_LOAD_SECONDS = [0.0]
#: Where the numpy engine's random numbers come from (see :func:`simulate`).
DRAWS = ("block", "lanes")


def simulate(
    layout: ParameterLayout,
    plan: RunPlan,
    *,
    paths: int,
    seed: np.random.SeedSequence,
    theta_sets: np.ndarray | None = None,
    engine: str = "numba",
    block_size: int = DEFAULT_BLOCK_SIZE,
    fans: bool = True,
    keep_paths: int = 0,
    threads: int | None = None,
    blocks: Sequence[int] | None = None,
    uncertain: Callable[[int, int, int], tuple[np.ndarray, np.ndarray]] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_blocks: int | None = None,
    market: np.ndarray | None = None,
    outcome_paths: int = 0,
    keep_start: int = 0,
    hist_buffer: np.ndarray | None = None,
    trace_paths: int = 0,
    draws: str = "block",
) -> Tally:
    """Simulate ``paths`` paths for each parameter set and return their :class:`Tally`.

    Parameters
    ----------
    layout : ParameterLayout
        The scenario's flattened parameters.
    plan : RunPlan
        Months, horizons and recorded months.
    paths : int
        Paths per parameter set.
    seed : SeedSequence
        Root of the block streams (see :func:`normalise_seed`).
    theta_sets : ndarray, shape (n_sets, n_theta), optional
        Parameter sets sharing the same random numbers (common random numbers);
        default: the scenario's own parameters.
    engine : {"numba", "numpy"}
        The compiled engine or the numpy reference engine.
    block_size : int
        Paths per block (fixed per study: it defines the random streams).
    fans : bool
        Record month-by-month histograms for quantile fans.
    keep_paths : int
        Keep the first ``keep_paths`` full paths (float32).
    threads : int, optional
        Numba threads for this call; results do not depend on it.
    blocks : sequence of int, optional
        Only these block indices (for splitting a run over processes).
    uncertain : callable, optional
        ``uncertain(block, first_path, n_paths) -> (slots, values)`` with per-path
        parameter values (values shape (n_paths, n_slots)) for uncertain assumptions.
    progress : callable, optional
        Called with the number of paths finished after every chunk.
    chunk_blocks : int, optional
        Blocks per kernel call; a memory/progress trade-off with no effect on results.
    market : ndarray, shape (n_horizons,) or (n_sets, n_horizons), optional
        Market size at each horizon (of each parameter set); tallies the paths whose
        combined served revenue exceeds it (the "big market delusion" check).
    outcome_paths : int
        Record the outcome code of each company at each horizon for the first
        ``outcome_paths`` paths of every set (for paired comparisons).
    keep_start : int
        Keep the paths ``keep_start, ..., keep_start + keep_paths - 1`` instead of the
        first ones (``kept[:, 0]`` is path ``keep_start``), so that kept paths can be
        produced a group of blocks at a time in bounded memory.  Every selected block
        must start at or after ``keep_start``; not combinable with ``outcome_paths``.
    hist_buffer : ndarray of int64, optional
        Scratch for the histograms of a many-set call (numba engine), reused from
        call to call: fresh memory for each call's hundreds of MB cost page faults and
        kernel time.  Used when large enough; the returned tally's ``hist`` is then a
        view into it, valid until the buffer's next use.
    trace_paths : int
        Trace the whole state of the first ``trace_paths`` paths of set 0, month by
        month (``Tally.trace``, ``Tally.trace_sector``): for comparing the engines path by path.
    draws : {"block", "lanes"}
        The numpy engine's random numbers: its own block streams (default), or the
        kernels' per-path lane streams and sampling choices, so that both engines
        consume identical variates (:mod:`simulator.engines.reference_draws`; slow,
        for small runs).  The numba engine always draws from lanes.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if block_size < 1:
        raise ValueError(f"block_size: {block_size} must be >= 1")
    if paths < 1:
        raise ValueError(f"paths: {paths} must be >= 1")
    theta_sets = layout.theta[None, :] if theta_sets is None else np.ascontiguousarray(theta_sets, dtype=np.float64)
    if theta_sets.ndim != 2 or theta_sets.shape[1] != layout.n_theta:
        raise ValueError(f"theta_sets: shape {theta_sets.shape} must be (n_sets, {layout.n_theta})")
    n_sets = theta_sets.shape[0]
    n_comp = len(layout.company_names)
    keep_start = int(keep_start)
    if keep_start < 0:
        raise ValueError(f"keep_start: {keep_start} must be >= 0")
    keep = max(0, min(int(keep_paths), paths - keep_start))
    keep_start = keep_start if keep else 0
    all_blocks = path_blocks(paths, block_size)
    if blocks is not None:
        # In block order, as the whole run's (a selection of a run's millions of blocks is
        # looked up, not filtered from all of them).
        n_all = len(all_blocks)
        all_blocks = [all_blocks[b] for b in sorted(set(int(b) for b in blocks)) if 0 <= b < n_all]
    outcome_paths = min(int(outcome_paths), paths)
    if keep_start and outcome_paths:
        raise ValueError("keep_start: cannot be combined with outcome_paths")
    if keep_start and any(first < keep_start for _, first, _ in all_blocks):
        raise ValueError(f"keep_start: {keep_start} is after the first path of a selected block")
    market_h = np.zeros((n_sets, plan.horizons.size))
    if market is not None:  # one market for every set, or each set's own (a swept market size)
        market_h[:] = np.asarray(market, dtype=np.float64).reshape(-1, plan.horizons.size)
    trace = min(int(trace_paths), paths)
    if draws not in DRAWS:
        raise ValueError(f"draws: {draws!r} is not one of {', '.join(DRAWS)}")
    if keep_start and trace:
        raise ValueError("keep_start: cannot be combined with trace_paths")
    competition = bool(competing_sets(theta_sets).any())
    total = empty_tally(n_sets, n_comp, plan, fans=fans, keep=keep, outcome_paths=outcome_paths, trace=trace,
                        competition=competition)
    if engine == "numpy":
        from simulator.engines import reference

        if keep_start:
            # The reference engine indexes kept paths globally: keep up to the end, then slice.
            total = empty_tally(n_sets, n_comp, plan, fans=fans, keep=keep_start + keep,
                                outcome_paths=outcome_paths, competition=competition)
        for blk in all_blocks:
            start = time.perf_counter()
            part = reference.simulate_block(layout, plan, theta_sets, blk, seed, fans=fans,
                                            keep=keep_start + keep if keep else 0,
                                            uncertain=uncertain, market=market_h,
                                            outcome_paths=outcome_paths, trace=trace, draws=draws)
            part.elapsed = time.perf_counter() - start
            total = merge_tallies(total, part)
            if progress is not None:
                progress(blk[2] * n_sets)
        if keep_start:
            total.kept = np.ascontiguousarray(total.kept[:, keep_start:])
            total.kept_market = np.ascontiguousarray(total.kept_market[keep_start:])
            total.fail_month = np.ascontiguousarray(total.fail_month[keep_start:])
        return total
    return _simulate_numba(layout, plan, theta_sets, all_blocks, seed, total, fans=fans,
                           keep=keep, threads=threads, uncertain=uncertain, progress=progress,
                           chunk_blocks=chunk_blocks, market_h=market_h, keep_start=keep_start,
                           hist_buffer=hist_buffer)


def competing_sets(theta_sets: np.ndarray) -> np.ndarray:
    """Which parameter sets have competition on (MODEL.md step 9), shape (set,) bool."""
    return np.asarray(theta_sets)[:, GLOBAL.slot("sector.competition.enabled")] > 0.5


def kernel_load_seconds() -> float:
    """Seconds this process has spent compiling the kernels or reading them from the cache (not simulating)."""
    return _LOAD_SECONDS[0]


def _load_kernels(K, run_args) -> None:
    """Compile (or read from the cache) the kernels before the first call, timed apart from the simulation."""
    start = time.perf_counter()
    say = COMPILE_NOTICE.get()
    if say is not None and not K.is_cached():
        say(f"compiling the kernels (first run only, ~{COMPILE_SECONDS} s)")
    K.load_for(*run_args)
    _LOAD_SECONDS[0] += time.perf_counter() - start


def max_threads() -> int:
    """Most engine threads a run can use: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def engine_threads(threads: int | None) -> int:
    """The threads a run uses: ``threads``, else ``NUMBA_NUM_THREADS`` when set, else every core."""
    if threads:
        return int(threads)
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    return max(1, int(env)) if env.isdigit() else max_threads()


def _run_threads(n_threads: int, call: Callable[[int], None]) -> None:
    """``call(thread)`` on ``n_threads`` threads at once (the kernel releases the GIL), or inline for one."""
    if n_threads <= 1:
        call(0)
        return
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="simulator") as pool:
        for done in [pool.submit(call, tid) for tid in range(n_threads)]:
            done.result()


def _private(alloc, shape, dtype=np.float64):
    """An array of its own cache lines: two threads' small scratch arrays never share one (false sharing)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    itemsize = np.dtype(dtype).itemsize
    pad = 128 // itemsize
    flat = alloc(math.prod(shape) + 2 * pad, dtype=dtype)
    return flat[pad:pad + math.prod(shape)].reshape(shape)


def _private_full(shape, value):
    out = _private(np.empty, shape)
    out[...] = value
    return out


def _workspace(layout: ParameterLayout, plan: RunPlan, *, sets_per_group: int, block_size: int, fans: bool,
               tape: bool, competition: bool = False):
    """One thread's lane arrays for groups of up to ``sets_per_group`` sets (kernels/bundles.py)."""
    from simulator.engines.kernels import bundles
    from simulator.engines.kernels.chips import MAX_TABLE, SCRATCH_ROWS
    from simulator.engines.kernels.lanes import LANES, STREAM_ROWS
    from simulator.engines.kernels.state import COMPANY_ROWS, SECTOR_ROWS

    n_comp = layout.n_companies
    n_events = int(layout.events.shape[0])
    n_rec = plan.recorded_months.size if fans else 1
    per_month = 1 + n_events + 4 * n_comp
    draw_months = plan.n_months if sets_per_group > 1 else 1
    cap = plan.n_months * LANES * max(2, n_events) if tape else 0
    n_streams = N_STREAMS
    return bundles.Workspace(
        P=_private(np.empty, layout.n_theta * LANES), S=_private(np.zeros, n_comp * COMPANY_ROWS * LANES),
        sec=_private(np.zeros, SECTOR_ROWS * LANES), p_none=_private(np.empty, max(1, n_events) * LANES),
        beta=_private(np.empty, n_comp * LANES), draws=_private(np.empty, draw_months * per_month * LANES),
        us=_private(np.empty, LANES), sup=_private(np.empty, SCRATCH_ROWS * LANES),
        rs=_private(np.empty, n_streams * STREAM_ROWS * LANES, dtype=np.uint64),
        rs0=_private(np.empty, n_streams * STREAM_ROWS * LANES, dtype=np.uint64),
        raw=_private(np.empty, LANES, dtype=np.uint64), one=_private(np.empty, 4, dtype=np.uint64),
        block_state=_private(np.empty, (n_streams, 4), dtype=np.uint64),
        rec_vals=_private(np.empty, Q.N_VARS * LANES), rec_bins=_private(np.empty, Q.N_VARS * LANES, dtype=np.uint16),
        tape_i=_private(np.empty, (cap, 3), dtype=np.int64), tape_f=_private(np.empty, (cap, 6)), tape_n=_private(np.zeros, 2, dtype=np.int64),
        tape_end=_private(np.zeros, plan.n_months + 1, dtype=np.int64),
        # Uninitialised: every entry the inversion reads is written first.
        tables=_private(np.empty, (sets_per_group, n_comp, MAX_TABLE)),
        guides=_private(np.empty, (sets_per_group, n_comp, MAX_TABLE), dtype=np.int64),
        table_len=_private(np.zeros, (sets_per_group, n_comp), dtype=np.int64),
        table_rate=_private_full((sets_per_group, n_comp), -1.0),
        # Reused from group to group: fresh pages for every group cost a twentieth of a
        # sweep in page faults.  Every entry is written before it is read.
        bin_pool=_private(np.empty, sets_per_group * n_comp * n_rec * Q.N_VARS * (block_size if fans else 1), dtype=np.uint16),
        mm_pool=_private(np.empty, sets_per_group * n_comp * n_rec * Q.N_VARS * 2),
        chips=_private(np.empty, (sets_per_group, n_comp), dtype=np.bool_),
        funding=_private(np.empty, (sets_per_group, n_comp), dtype=np.bool_),
        compete=_private(np.empty, sets_per_group, dtype=np.bool_), market_z=_private(np.empty, 2 * LANES),
        share_vals=_private(np.empty, (n_comp + 2) * LANES),
        oc=_private(np.empty, n_comp, dtype=np.int64),
        # The share bins of a block (competition with fans), every entry written before it is read.
        share_pool=_private(np.empty, sets_per_group * ((n_comp + 2) * n_rec * block_size if fans and competition
                                                        else 1), dtype=np.uint16),
        differs=_private(np.empty, layout.n_theta, dtype=np.bool_), all_slots=np.arange(layout.n_theta, dtype=np.int64))


def import_kernels():
    """The kernel package, imported on first use; the import's time counts as loading the kernels
    (:func:`kernel_load_seconds`): numba and the cached machine code, not simulation."""
    import sys

    if "simulator.engines.kernels" not in sys.modules:
        start = time.perf_counter()
        from simulator.engines import kernels

        _LOAD_SECONDS[0] += time.perf_counter() - start
        return kernels
    return sys.modules["simulator.engines.kernels"]


def _grouping(n_sets: int, n_threads: int, n_comp: int, n_rec: int, block: int) -> tuple[bool, int]:
    """(whether each set's tasks run as one group, sets per group) of a numba call."""
    # Many parameter sets: each set's tasks run as one group on one thread, so the
    # sets' histograms (hundreds of MB for a sweep) need no copy per thread.
    by_set = n_sets >= 8 * n_threads
    # Several sets per group share their lanes' diffusion draws (and event arrivals
    # when their event parameters agree): up to 16, at least 8 groups per thread,
    # and their histogram buffers (uint16 per path) under ~32 MB per thread.
    sets_per_group = 1
    if by_set:
        buffer_per_set = 2 * n_comp * Q.N_VARS * n_rec * block
        sets_per_group = max(1, min(16, n_sets // (8 * n_threads), int(32e6 // buffer_per_set)))
    return by_set, sets_per_group


def memory_parts(layout: ParameterLayout, plan: RunPlan, *, paths: int, n_sets: int = 1, engine: str = "numba",
                 block_size: int = DEFAULT_BLOCK_SIZE, fans: bool = True, keep_paths: int = 0,
                 threads: int | None = None, outcome_paths: int = 0, uncertain_slots: int = 0,
                 chunk_blocks: int | None = None) -> list[tuple[str, float, tuple[str, ...]]]:
    """Bytes the large arrays of one :func:`simulate` call take: ``(what, bytes, drivers)``.

    Read off the allocations of :func:`simulate` and :func:`_workspace` (the tally,
    each thread's histograms, counters and lane workspace, the floating-point
    moments kept per block, kept paths, recorded outcome codes); nothing is
    allocated.  ``drivers`` names the sizes a part is proportional to (``paths``,
    ``threads``, ``block_size``, ``keep_paths``; none: fixed), so that
    :mod:`simulator.runner.memory` can say which one to lower, and by how much,
    when a run does not fit.
    """
    n_comp, n_hor = layout.n_companies, plan.horizons.size
    n_rec = plan.recorded_months.size if fans else 1
    n_months = plan.n_months + 1
    n_blocks = -(-int(paths) // int(block_size))
    block = min(int(block_size), int(paths))
    n_threads = engine_threads(threads) if engine == "numba" else 1
    hist_set = n_comp * Q.N_VARS * n_rec * (Q.HIST_BINS + 2) * 8.0 if fans else 0.0
    counters = n_sets * n_comp * (n_months + 4 * n_hor) * 8.0  # alive, failure months, outcome counts
    keep = min(int(keep_paths), int(paths))
    parts = [
        # Moments (count, mean, M2) per block: equity and business value, valuation at each horizon;
        # collected call by call and joined once (two copies at the end).
        ("per-block moments", 2 * n_blocks * n_sets * n_comp * (2 + n_hor) * 3 * 8.0 + 16.0 * n_blocks,
         ("paths",)),
        ("kept paths", keep * n_comp * (Q.N_VARS * n_months * 4.0 + 8.0), ("keep_paths",)),
        ("outcome codes", n_sets * min(int(outcome_paths), int(paths)) * n_comp * n_hor * 1.0, ()),
        # The tally's own histograms and counters, and the quantiles' copy of the histograms.
        ("histograms", 2 * n_sets * hist_set + 2 * counters, ()),
    ]
    if engine == "numba":
        by_set, per_group = _grouping(n_sets, n_threads, n_comp, n_rec, block)
        from simulator.engines.kernels.chips import MAX_TABLE
        from simulator.engines.kernels.lanes import LANES

        n_events = int(layout.events.shape[0])
        per_call = min(n_blocks, chunk_blocks or max(2 * n_threads, -(-32 // max(1, n_sets))))  # per kernel call
        parts += [
            # A histogram slot per thread (one shared slot when sets run as groups), counters per thread.
            ("histograms", (1 if by_set else n_threads) * n_sets * hist_set, () if by_set else ("threads",)),
            ("histograms", n_threads * counters, ("threads",)),
            # Each thread's lane workspace: histogram bins of its paths, draws, event tape, supply tables.
            ("workspaces", n_threads * per_group * n_comp * n_rec * Q.N_VARS * block * (2 + 16.0 / LANES),
             ("threads", "block_size")),
            ("workspaces", n_threads * ((plan.n_months if per_group > 1 else 1) * (1 + n_events + 4 * n_comp)
                                        * LANES * 8.0
                                        + (plan.n_months * LANES * max(2, n_events) * 56.0 if per_group > 1 else 0.0)
                                        + per_group * n_comp * MAX_TABLE * 16.0 + layout.n_theta * LANES * 9.0
                                        + 65536.0), ("threads",)),
            ("workspaces", 2.0 * per_call * block * uncertain_slots * 8.0, ("block_size",)),
        ]
    else:
        parts += [
            ("histograms", n_sets * hist_set + counters, ()),
            # The reference engine's state of one block: about forty float64 arrays (set, company, path).
            ("workspaces", 40.0 * n_sets * n_comp * block * 8.0 + 2.0 * block * uncertain_slots * 8.0,
             ("block_size",)),
        ]
    return parts


def _simulate_numba(layout, plan, theta_sets, all_blocks, seed, total, *, fans, keep, threads,
                    uncertain, progress, chunk_blocks, market_h, keep_start=0, hist_buffer=None):
    K = import_kernels()
    from simulator.engines.kernels import bundles

    n_threads = engine_threads(threads)
    n_sets = theta_sets.shape[0]
    n_comp = layout.n_companies
    n_hor = plan.horizons.size
    n_rec = plan.recorded_months.size
    # Only a run's last block is short: the first two blocks hold the largest.
    biggest_block = max((blk[2] for blk in all_blocks[:2]), default=1)
    by_set, sets_per_group = _grouping(n_sets, n_threads, n_comp, n_rec if fans else 1, biggest_block)
    # Every parameter of the event arrivals: hazards and all branch fields.
    # And the competition switch: with it on, sector events draw market and platforms jumps too.
    ev_slots = np.concatenate([layout.events[:, EVENT_TABLE.slot] + EVENT.slot("hazard_per_year"),
                               (layout.branches[:, None] + np.arange(BRANCH.size)).ravel(),
                               [GLOBAL.slot("sector.competition.enabled")]]).astype(np.int64)
    hist_slots = 1 if by_set else n_threads
    hist_shape = (hist_slots, n_sets, n_comp, Q.N_VARS, n_rec, Q.HIST_BINS) if fans else (1, 1, 1, 1, 1, 1)
    n_hist = math.prod(hist_shape)
    if fans and hist_slots == 1 and hist_buffer is not None and hist_buffer.size >= n_hist:
        # Zeroed by the kernel's groups, each its own sets', in the first call.
        hist = hist_buffer[:n_hist].reshape(hist_shape)
        hist_dirty = True
    else:
        hist = np.zeros(hist_shape, dtype=np.int64)
        hist_dirty = False
    minmax = empty_minmax(hist_shape[:-1])
    # The shares' histograms, with competition on (MODEL.md step 9), in the same slots.
    share_shape = ((hist_slots, n_sets, n_comp + 2, n_rec, Q.HIST_BINS) if fans and total.share_hist is not None
                   else (1, 1, 1, 1, 1))
    share_hist = np.zeros(share_shape, dtype=np.int64)
    share_minmax = empty_minmax(share_shape[:-1])
    pairs = np.zeros((n_threads, n_sets, n_hor, 2, n_comp, n_comp), dtype=np.int64)
    reached = np.zeros((n_threads, n_sets, n_comp, n_hor), dtype=np.int64)
    counts = np.zeros((n_threads, n_sets, n_comp, n_hor, 3), dtype=np.int64)
    any_champ = np.zeros((n_threads, n_sets, n_hor), dtype=np.int64)
    n_champ = np.zeros((n_threads, n_sets, n_hor, n_comp + 1), dtype=np.int64)
    # Paths by month of failure (index 0: never failed), per thread.
    fail_counts = np.zeros((n_threads, n_sets, n_comp, plan.n_months + 1), dtype=np.int64)
    market_exceed = np.zeros((n_threads, n_sets, n_hor), dtype=np.int64)
    path_outcome = (total.path_outcome if total.path_outcome is not None
                    else np.zeros((n_sets, 0, n_comp, n_hor), dtype=np.int8))
    kept = total.kept if total.kept is not None else np.zeros((Q.N_VARS, 0, n_comp, plan.n_months + 1),
                                                              dtype=np.float32)
    kept_market = (total.kept_market if total.kept_market is not None
                   else np.zeros((0, plan.n_months + 1), dtype=np.float32))
    fail_month = total.fail_month if total.fail_month is not None else np.zeros((0, n_comp), dtype=np.int64)
    model = bundles.Model(theta=theta_sets, events=layout.events, branches=layout.branches, n_comp=n_comp)
    n_trace = 0 if total.trace is None else total.trace.shape[1]
    run_plan = bundles.Plan(n_months=plan.n_months, dt=float(plan.dt), horizons=plan.horizons,
                            rec_row=plan.rec_row, market=market_h, fans=bool(fans), keep_n=int(keep),
                            trace_n=int(n_trace))
    trace = total.trace if total.trace is not None else np.zeros((Q.N_STATE, 0, n_comp, plan.n_months + 1))
    trace_sector = (total.trace_sector if total.trace_sector is not None
                    else np.zeros((Q.N_SECTOR_STATE, 0, plan.n_months + 1)))
    share_any = sets_per_group > 1
    work = [_workspace(layout, plan, sets_per_group=sets_per_group, block_size=biggest_block, fans=fans,
                       tape=share_any, competition=total.share_hist is not None) for _ in range(n_threads)]
    # About 32 block-sets per kernel call (at least two tasks per thread): the progress
    # bar moves every ~130k paths, and the per-call overhead stays under 1%.
    per_chunk = chunk_blocks or max(2 * n_threads, -(-32 // max(1, n_sets)))
    per_chunk = max(1, min(per_chunk, len(all_blocks)))
    start_all = time.perf_counter()
    # Each call's per-block moments, joined once at the end: joining them call by call
    # would copy the whole array every call (quadratic in the blocks of a long run).
    moments: dict[str, list[np.ndarray]] = {name: [getattr(total, name)] for name in
                                           ("fv_blocks", "bv_blocks", "vh_blocks", "block_ids")}
    for i0 in range(0, len(all_blocks), per_chunk):
        chunk = all_blocks[i0:i0 + per_chunk]
        # Tasks set by set, each set's blocks together: a group of tasks (below) is
        # a run of consecutive sets with all their blocks.
        task_set = np.repeat(np.arange(n_sets, dtype=np.int64), len(chunk))
        task_block = np.tile(np.arange(len(chunk)), n_sets)
        # The kernel indexes kept paths from its task start: shift by keep_start.
        task_start = np.asarray([chunk[j][1] - keep_start for j in task_block], dtype=np.int64)
        task_n = np.asarray([chunk[j][2] for j in task_block], dtype=np.int64)
        states = [block_states(seed, blk[0]) for blk in chunk]
        rng = np.stack([states[j] for j in task_block])
        if uncertain is not None:
            slots_list, values_list = [], []
            for b, first, n in chunk:
                slots, values = uncertain(b, first, n)
                slots_list.append(np.asarray(slots, dtype=np.int64))
                values_list.append(np.asarray(values, dtype=np.float64))
            unc_slots = slots_list[0]
            unc_values = np.concatenate(values_list, axis=0)
            # Row of each task's first path in the concatenated values.
            block_row = np.concatenate([[0], np.cumsum([blk[2] for blk in chunk])[:-1]])
            task_unc_row = block_row[task_block].astype(np.int64)
        else:
            unc_slots = np.zeros(0, dtype=np.int64)
            unc_values = np.zeros((0, 0))
            task_unc_row = np.zeros(task_set.size, dtype=np.int64)
        step = len(chunk) * sets_per_group if by_set else 1
        group_start = np.append(np.arange(0, task_set.size, step), task_set.size).astype(np.int64)
        share_events = np.zeros(group_start.size - 1, dtype=np.bool_)
        if share_any:  # groups of one set have no one to share with
            share_events[:] = [
                bool(np.all(theta_sets[s0:s0 + sets_per_group][:, ev_slots] == theta_sets[s0, ev_slots]))
                for s0 in task_set[group_start[:-1]]]
        fv_stats = np.zeros((task_set.size, n_comp, 2))
        bv_stats = np.zeros((task_set.size, n_comp, 2))
        vh_stats = np.zeros((task_set.size, n_comp, n_hor, 2))
        inputs = bundles.Inputs(slots=unc_slots, values=unc_values, task_row=task_unc_row)
        tasks = bundles.Tasks(set=task_set, start=task_start, n=task_n, rng=rng, group_start=group_start,
                              share_events=share_events)
        out = bundles.Tallies(counts=counts, any_champion=any_champ, n_champions=n_champ, fail_counts=fail_counts,
                              market_exceed=market_exceed, hist=hist, minmax=minmax, hist_dirty=hist_dirty,
                              fv=fv_stats, bv=bv_stats, vh=vh_stats, kept=kept, kept_market=kept_market,
                              fail_month=fail_month, path_outcome=path_outcome, trace=trace,
                              trace_sector=trace_sector, pairs=pairs, reached=reached, share_hist=share_hist,
                              share_minmax=share_minmax)

        n_groups = group_start.size - 1
        next_group = np.zeros(1, dtype=np.int64)
        if not K.is_loaded():
            load_start = time.perf_counter()
            _load_kernels(K, (next_group, n_groups, 0, model, inputs, run_plan, tasks, out, work[0]))
            start_all += time.perf_counter() - load_start  # the simulation's time leaves the compilation out

        def call(tid: int, inputs=inputs, tasks=tasks, out=out, next_group=next_group, n_groups=n_groups) -> None:
            K.run_groups(next_group, n_groups, tid, model, inputs, run_plan, tasks, out, work[tid])

        _run_threads(min(n_threads, n_groups), call)
        hist_dirty = False  # later calls add to the first one's counts
        # Keep the float moments per block; they are merged in block order when read.
        n_b = len(chunk)
        counts_col = task_n.astype(np.float64).reshape(n_sets, n_b).T
        vh_b = vh_stats.reshape(n_sets, n_b, n_comp, n_hor, 2).swapaxes(0, 1)
        for name, stats in (("fv_blocks", fv_stats), ("bv_blocks", bv_stats)):
            blocks = stats.reshape(n_sets, n_b, n_comp, 2).swapaxes(0, 1)
            moments[name].append(np.concatenate(
                [np.broadcast_to(counts_col[:, :, None, None], (n_b, n_sets, n_comp, 1)), blocks], axis=-1))
        moments["vh_blocks"].append(np.concatenate(
            [np.broadcast_to(counts_col[:, :, None, None, None], (n_b, n_sets, n_comp, n_hor, 1)), vh_b],
            axis=-1))
        moments["block_ids"].append(np.asarray([blk[0] for blk in chunk], dtype=np.int64))
        for j in range(len(chunk)):
            total.n_paths += chunk[j][2]
        total.blocks_done += len(chunk)
        if progress is not None:
            progress(sum(blk[2] for blk in chunk) * n_sets)
    for name, parts in moments.items():
        setattr(total, name, np.concatenate(parts))
    del moments
    total.elapsed = time.perf_counter() - start_all
    total.counts += counts.sum(axis=0)
    total.any_champion += any_champ.sum(axis=0)
    total.n_champions += n_champ.sum(axis=0)
    failed = fail_counts.sum(axis=0)
    n_run = failed.sum(axis=-1, keepdims=True)
    failed[..., 0] = 0
    total.alive += n_run - np.cumsum(failed, axis=-1)
    total.market_exceed += market_exceed.sum(axis=0)
    total.pairs += pairs.sum(axis=0)
    total.reached += reached.sum(axis=0)
    if total.share_hist is not None:
        total.share_hist += share_hist.sum(axis=0)
        total.share_minmax = np.stack([share_minmax[..., 0].min(axis=0), share_minmax[..., 1].max(axis=0)], axis=-1)
    if fans:
        # Threads' histograms added in place into thread 0's (``total`` is fresh
        # from empty_tally): a sweep's are hundreds of MB, and a sum over the
        # thread axis into a new array cost seconds of page faults.
        for t in range(1, hist.shape[0]):
            np.add(hist[0], hist[t], out=hist[0])
        total.hist = hist[0]
        total.minmax = np.stack([minmax[..., 0].min(axis=0), minmax[..., 1].max(axis=0)], axis=-1)
    if keep:
        total.kept = kept
        total.kept_market = kept_market
        total.fail_month = fail_month
    return total


def rng_bound_seconds(layout: ParameterLayout, plan: RunPlan, *, paths: int, seed: np.random.SeedSequence,
                      block_size: int = DEFAULT_BLOCK_SIZE, threads: int | None = None) -> float:
    """Seconds to draw, on the engine's threads, exactly the variates ``paths`` paths consume in the common case.

    The random-number bound of the throughput benchmarks: per path and month one
    sector normal, one uniform per event type and, per company, four normals and
    one supply uniform, from the same per-path streams, and nothing else
    (kernels/bound.py).  The block streams are created inside the timing, as in a run.
    """
    from simulator.engines import kernels as K

    n_threads = engine_threads(threads)
    all_blocks = path_blocks(paths, block_size)
    task_n = np.asarray([n for _, _, n in all_blocks], dtype=np.int64)
    counts = (int(layout.events.shape[0]), layout.n_companies, int(plan.n_months), task_n)
    out = np.zeros(len(all_blocks))
    start = time.perf_counter()
    rng = np.stack([block_states(seed, b) for b, _, _ in all_blocks])
    next_task = np.zeros(1, dtype=np.int64)
    _run_threads(min(n_threads, len(all_blocks)), lambda tid: K.draw_only(next_task, counts, rng, out))
    return time.perf_counter() - start
