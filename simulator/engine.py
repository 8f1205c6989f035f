"""Run the model: random streams per block of paths, engines, streaming tallies.

Paths are split into fixed-size blocks.  Block ``b`` of a run seeded with
``SeedSequence(entropy, spawn_key=k)`` owns four streams (diffusion, events,
supply, funding), the children ``SeedSequence(entropy, spawn_key=(*k, b, j))``
driving ``SFC64`` bit generators; each path of the block gets four SFC64
streams of its own, seeded from the block's in path order (``_kernels.seed_lanes``).
A block's draws therefore depend only on the seed and the block index, never on
threads, processes or how many blocks run together, and the same seed gives
bit-identical results however the work is split.  Summaries stream: integer
tallies are summed, floating-point moments are merged block by block in block
order, so memory does not grow with paths.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from simulator import _layout as L
from simulator.params import ParameterLayout

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "RANDOM_STREAMS",
    "RunPlan",
    "Tally",
    "block_generators",
    "block_states",
    "normalise_seed",
    "plan_run",
    "simulate",
]

DEFAULT_BLOCK_SIZE = 4096
#: How the random streams are laid out, for the provenance of every result.
RANDOM_STREAMS = (
    "numpy SFC64 per block and stream: SeedSequence(entropy, spawn_key=(*key, block, stream)); each path's "
    "streams are SFC64s seeded with the next three outputs of its block's streams (counter 1, twelve rounds); "
    "streams: " + ", ".join(L.STREAM_NAMES))
#: Months recorded for quantile fans: every month up to this many, else thinned.
MAX_RECORDED_MONTHS = 121
ENGINES = ("numba", "numpy")


def normalise_seed(seed) -> np.random.SeedSequence:
    """The root ``SeedSequence`` of a run from an int, SeedSequence, Generator or None.

    ``None`` draws fresh entropy from the operating system; it is recorded in the
    results (``seed_entropy``) so the run can be repeated.
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise ValueError(f"seed: {seed!r} is not an int, SeedSequence, Generator or None")
    if isinstance(seed, (int, np.integer)) and int(seed) < 0:
        raise ValueError(f"seed: {seed} must be >= 0")
    root = np.random.default_rng(seed).bit_generator.seed_seq
    return np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key))


def block_generators(root: np.random.SeedSequence, block: int) -> list[np.random.Generator]:
    """The four generators (diffusion, events, supply, funding) of one block."""
    return [
        np.random.Generator(np.random.SFC64(np.random.SeedSequence(
            root.entropy, spawn_key=(*root.spawn_key, int(block), j))))
        for j in range(L.N_STREAMS)
    ]


def block_states(root: np.random.SeedSequence, block: int) -> np.ndarray:
    """SFC64 states (uint64, shape (4 streams, 4 words)) of the block's four generators.

    The kernels advance these states inline with numpy's own algorithms, so a
    stream gives exactly the variates its ``numpy.random.Generator`` would.
    """
    return np.stack([g.bit_generator.state["state"]["state"] for g in block_generators(root, block)])


@dataclass(frozen=True)
class RunPlan:
    """The time grid and recording choices of a run."""

    n_months: int
    horizons: np.ndarray  # months, int64
    recorded_months: np.ndarray  # months with histogram rows, int64
    dt: float = 1.0 / 12.0

    @property
    def rec_row(self) -> np.ndarray:
        """Month -> histogram row (-1: not recorded)."""
        rows = np.full(self.n_months + 1, -1, dtype=np.int64)
        rows[self.recorded_months] = np.arange(self.recorded_months.size)
        return rows


def plan_run(n_months: int, horizons: Sequence[int], *, fans: bool = True) -> RunPlan:
    """Choose the recorded months: all of them, or a thinned grid that keeps the horizons."""
    hz = np.asarray(sorted(horizons), dtype=np.int64)
    if not fans:
        months = hz
    elif n_months + 1 <= MAX_RECORDED_MONTHS:
        months = np.arange(n_months + 1, dtype=np.int64)
    else:
        step = math.ceil(n_months / (MAX_RECORDED_MONTHS - 1))
        months = np.union1d(np.arange(0, n_months + 1, step), np.append(hz, n_months))
    return RunPlan(n_months=n_months, horizons=hz, recorded_months=np.asarray(months, dtype=np.int64))


@dataclass
class Tally:
    """Mergeable summaries of simulated paths (per parameter set).

    Integer arrays add exactly.  Floating-point moments are kept per block
    (``fv_blocks``, ``vh_blocks``: (count, mean, M2) of the fundamental value and
    of valuation at each horizon, relative to V0) and merged only when read, in
    block order (Chan et al.), so any split of the blocks over threads, processes
    or machines gives bit-identical moments.
    """

    n_paths: np.ndarray  # (set,)
    counts: np.ndarray  # (set, company, horizon, outcome)
    any_champion: np.ndarray  # (set, horizon)
    n_champions: np.ndarray  # (set, horizon, n_companies + 1)
    alive: np.ndarray  # (set, company, month)
    hist: np.ndarray | None  # (set, company, var, recorded month, bin)
    minmax: np.ndarray | None  # (set, company, var, recorded month, 2)
    block_ids: np.ndarray  # (block,)
    fv_blocks: np.ndarray  # (block, set, company, 3)
    vh_blocks: np.ndarray  # (block, set, company, horizon, 3)
    market_exceed: np.ndarray | None = None  # (set, horizon): paths whose combined revenue > market
    kept: np.ndarray | None = None  # (var, path, company, month) float32
    fail_month: np.ndarray | None = None  # (path, company)
    path_outcome: np.ndarray | None = None  # (set, path, company, horizon) int8 outcome codes
    blocks_done: int = 0
    elapsed: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def fv(self) -> np.ndarray:
        """(count, mean, M2) of fundamental value / V0, shape (set, company, 3)."""
        return _merge_in_block_order(self.block_ids, self.fv_blocks)

    @property
    def vh(self) -> np.ndarray:
        """(count, mean, M2) of valuation / V0 at each horizon, shape (set, company, horizon, 3)."""
        return _merge_in_block_order(self.block_ids, self.vh_blocks)


def _merge_in_block_order(block_ids: np.ndarray, moments: np.ndarray) -> np.ndarray:
    order = np.argsort(block_ids, kind="stable")
    total = np.zeros(moments.shape[1:])
    for i in order:
        total = _chan_merge(total, moments[i])
    return total


def _chan_merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Merge (count, mean, M2) moments; ``a`` first, so the order is fixed."""
    na, nb = a[..., 0], b[..., 0]
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = b[..., 1] - a[..., 1]
        frac = np.where(n > 0, nb / np.where(n > 0, n, 1.0), 0.0)
        mean = a[..., 1] + delta * frac
        m2 = a[..., 2] + b[..., 2] + delta * delta * na * frac
    return np.stack([n, mean, m2], axis=-1)


def _empty_tally(n_sets: int, n_comp: int, plan: RunPlan, *, fans: bool, keep: int,
                 outcome_paths: int = 0) -> Tally:
    n_hor = plan.horizons.size
    n_rec = plan.recorded_months.size
    return Tally(
        n_paths=np.zeros(n_sets, dtype=np.int64),
        counts=np.zeros((n_sets, n_comp, n_hor, 3), dtype=np.int64),
        any_champion=np.zeros((n_sets, n_hor), dtype=np.int64),
        n_champions=np.zeros((n_sets, n_hor, n_comp + 1), dtype=np.int64),
        alive=np.zeros((n_sets, n_comp, plan.n_months + 1), dtype=np.int64),
        hist=np.zeros((n_sets, n_comp, L.N_VARS, n_rec, L.HIST_BINS), dtype=np.int64) if fans else None,
        minmax=_empty_minmax((n_sets, n_comp, L.N_VARS, n_rec)) if fans else None,
        block_ids=np.zeros(0, dtype=np.int64),
        fv_blocks=np.zeros((0, n_sets, n_comp, 3)),
        vh_blocks=np.zeros((0, n_sets, n_comp, n_hor, 3)),
        market_exceed=np.zeros((n_sets, n_hor), dtype=np.int64),
        path_outcome=np.full((n_sets, outcome_paths, n_comp, n_hor), -1, dtype=np.int8) if outcome_paths else None,
        kept=np.full((L.N_VARS, keep, n_comp, plan.n_months + 1), np.nan, dtype=np.float32) if keep else None,
        fail_month=np.zeros((keep, n_comp), dtype=np.int64) if keep else None,
    )


def _empty_minmax(shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty((*shape, 2))
    out[..., 0] = np.inf
    out[..., 1] = -np.inf
    return out


def merge_tallies(a: Tally, b: Tally) -> Tally:
    """Merge ``b`` (later blocks) into ``a`` (earlier blocks); exact and order-fixed."""
    out = Tally(
        n_paths=a.n_paths + b.n_paths,
        counts=a.counts + b.counts,
        any_champion=a.any_champion + b.any_champion,
        n_champions=a.n_champions + b.n_champions,
        alive=a.alive + b.alive,
        hist=None if a.hist is None else a.hist + b.hist,
        minmax=None if a.minmax is None else np.stack(
            [np.minimum(a.minmax[..., 0], b.minmax[..., 0]),
             np.maximum(a.minmax[..., 1], b.minmax[..., 1])], axis=-1),
        block_ids=np.concatenate([a.block_ids, b.block_ids]),
        fv_blocks=np.concatenate([a.fv_blocks, b.fv_blocks]),
        vh_blocks=np.concatenate([a.vh_blocks, b.vh_blocks]),
        market_exceed=a.market_exceed + b.market_exceed,
        path_outcome=a.path_outcome if b.path_outcome is None else (
            b.path_outcome if a.path_outcome is None else np.maximum(a.path_outcome, b.path_outcome)),
        kept=a.kept if b.kept is None else (b.kept if a.kept is None else np.fmax(a.kept, b.kept)),
        fail_month=a.fail_month if b.fail_month is None else (
            b.fail_month if a.fail_month is None else np.maximum(a.fail_month, b.fail_month)),
        blocks_done=a.blocks_done + b.blocks_done,
        elapsed=a.elapsed + b.elapsed,
    )
    return out


def _blocks(paths: int, block_size: int) -> list[tuple[int, int, int]]:
    """(block index, first path, number of paths) for every block."""
    n_blocks = -(-paths // block_size)
    return [(b, b * block_size, min(block_size, paths - b * block_size)) for b in range(n_blocks)]


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
    market : ndarray, shape (n_horizons,), optional
        Market size at each horizon; tallies the paths whose combined served revenue
        exceeds it (the "big market delusion" check).
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
    all_blocks = _blocks(paths, block_size)
    if blocks is not None:
        wanted = set(int(b) for b in blocks)
        all_blocks = [blk for blk in all_blocks if blk[0] in wanted]
    outcome_paths = min(int(outcome_paths), paths)
    if keep_start and outcome_paths:
        raise ValueError("keep_start: cannot be combined with outcome_paths")
    if keep_start and any(first < keep_start for _, first, _ in all_blocks):
        raise ValueError(f"keep_start: {keep_start} is after the first path of a selected block")
    market_h = (np.zeros(plan.horizons.size) if market is None
                else np.ascontiguousarray(market, dtype=np.float64).reshape(plan.horizons.size))
    total = _empty_tally(n_sets, n_comp, plan, fans=fans, keep=keep, outcome_paths=outcome_paths)
    if engine == "numpy":
        from simulator import reference

        if keep_start:
            # The reference engine indexes kept paths globally: keep up to the end, then slice.
            total = _empty_tally(n_sets, n_comp, plan, fans=fans, keep=keep_start + keep,
                                 outcome_paths=outcome_paths)
        for blk in all_blocks:
            start = time.perf_counter()
            part = reference.simulate_block(layout, plan, theta_sets, blk, seed, fans=fans,
                                            keep=keep_start + keep if keep else 0,
                                            uncertain=uncertain, market=market_h,
                                            outcome_paths=outcome_paths)
            part.elapsed = time.perf_counter() - start
            total = merge_tallies(total, part)
            if progress is not None:
                progress(blk[2] * n_sets)
        if keep_start:
            total.kept = np.ascontiguousarray(total.kept[:, keep_start:])
            total.fail_month = np.ascontiguousarray(total.fail_month[keep_start:])
        return total
    return _simulate_numba(layout, plan, theta_sets, all_blocks, seed, total, fans=fans,
                           keep=keep, threads=threads, uncertain=uncertain, progress=progress,
                           chunk_blocks=chunk_blocks, market_h=market_h, keep_start=keep_start,
                           hist_buffer=hist_buffer)


def _simulate_numba(layout, plan, theta_sets, all_blocks, seed, total, *, fans, keep, threads,
                    uncertain, progress, chunk_blocks, market_h, keep_start=0, hist_buffer=None):
    from simulator import _kernels as K

    previous = K.set_threads(threads) if threads else None
    try:
        n_threads_max = K.max_threads()
        n_sets = theta_sets.shape[0]
        n_comp = len(layout.company_names)
        n_hor = plan.horizons.size
        n_rec = plan.recorded_months.size
        # Many parameter sets: each set's tasks run as one group on one thread, so the
        # sets' histograms (hundreds of MB for a sweep) need no copy per thread.
        by_set = n_sets >= 8 * K.get_threads()
        # Several sets per group share their lanes' diffusion draws (and event arrivals
        # when their event parameters agree): up to 16, at least 8 groups per thread,
        # and their histogram buffers (uint16 per path) under ~32 MB per thread.
        sets_per_group = 1
        if by_set:
            buffer_per_set = 2 * n_comp * L.N_VARS * (n_rec if fans else 1) * max((blk[2] for blk in all_blocks), default=1)
            sets_per_group = max(1, min(16, n_sets // (8 * K.get_threads()), int(32e6 // buffer_per_set)))
        # Every parameter of the event arrivals: hazards and all branch fields.
        ev_slots = np.concatenate([layout.events[:, L.EV_SLOT] + L.E_HAZARD,
                                   (layout.branches[:, None] + np.arange(L.N_BRANCH)).ravel()]).astype(np.int64)
        hist_slots = 1 if by_set else n_threads_max
        hist_shape = (hist_slots, n_sets, n_comp, L.N_VARS, n_rec, L.HIST_BINS) if fans else (1, 1, 1, 1, 1, 1)
        n_hist = math.prod(hist_shape)
        if fans and hist_slots == 1 and hist_buffer is not None and hist_buffer.size >= n_hist:
            # Zeroed by the kernel's groups, each its own sets', in the first call.
            hist = hist_buffer[:n_hist].reshape(hist_shape)
            hist_dirty = True
        else:
            hist = np.zeros(hist_shape, dtype=np.int64)
            hist_dirty = False
        minmax = _empty_minmax(hist_shape[:-1])
        counts = np.zeros((n_threads_max, n_sets, n_comp, n_hor, 3), dtype=np.int64)
        any_champ = np.zeros((n_threads_max, n_sets, n_hor), dtype=np.int64)
        n_champ = np.zeros((n_threads_max, n_sets, n_hor, n_comp + 1), dtype=np.int64)
        # Paths by month of failure (index 0: never failed), per thread.
        fail_counts = np.zeros((n_threads_max, n_sets, n_comp, plan.n_months + 1), dtype=np.int64)
        market_exceed = np.zeros((n_threads_max, n_sets, n_hor), dtype=np.int64)
        path_outcome = (total.path_outcome if total.path_outcome is not None
                        else np.zeros((n_sets, 0, n_comp, n_hor), dtype=np.int8))
        kept = total.kept if total.kept is not None else np.zeros((L.N_VARS, 0, n_comp, plan.n_months + 1), dtype=np.float32)
        fail_month = total.fail_month if total.fail_month is not None else np.zeros((0, n_comp), dtype=np.int64)
        rec_row = plan.rec_row
        # About 32 block-sets per kernel call (at least two tasks per thread): the progress
        # bar moves every ~130k paths, and the per-call overhead stays under 1%.
        per_chunk = chunk_blocks or max(2 * K.get_threads(), -(-32 // max(1, n_sets)))
        per_chunk = max(1, min(per_chunk, len(all_blocks)))
        start_all = time.perf_counter()
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
            if sets_per_group > 1:  # groups of one set have no one to share with
                share_events[:] = [
                    bool(np.all(theta_sets[s0:s0 + sets_per_group][:, ev_slots] == theta_sets[s0, ev_slots]))
                    for s0 in task_set[group_start[:-1]]]
            fv_stats = np.zeros((task_set.size, n_comp, 2))
            vh_stats = np.zeros((task_set.size, n_comp, n_hor, 2))
            with K.tasks_handed_out_one_by_one():
                K.simulate_tasks(
                    theta_sets, unc_slots, unc_values, task_unc_row, layout.events, layout.branches,
                    n_comp, plan.n_months, plan.horizons, rec_row, plan.dt, task_set, task_start,
                    task_n, rng, counts, any_champ, n_champ, fail_counts, hist, minmax, fans,
                    fv_stats, vh_stats, kept, keep, fail_month, market_h, market_exceed, path_outcome,
                    group_start, share_events, hist_dirty)
            hist_dirty = False  # later calls add to the first one's counts
            # Keep the float moments per block; they are merged in block order when read.
            n_b = len(chunk)
            counts_col = task_n.astype(np.float64).reshape(n_sets, n_b).T
            fv_b = fv_stats.reshape(n_sets, n_b, n_comp, 2).swapaxes(0, 1)
            vh_b = vh_stats.reshape(n_sets, n_b, n_comp, n_hor, 2).swapaxes(0, 1)
            total.fv_blocks = np.concatenate([total.fv_blocks, np.concatenate(
                [np.broadcast_to(counts_col[:, :, None, None], (n_b, n_sets, n_comp, 1)), fv_b], axis=-1)])
            total.vh_blocks = np.concatenate([total.vh_blocks, np.concatenate(
                [np.broadcast_to(counts_col[:, :, None, None, None], (n_b, n_sets, n_comp, n_hor, 1)), vh_b],
                axis=-1)])
            total.block_ids = np.concatenate([total.block_ids,
                                              np.asarray([blk[0] for blk in chunk], dtype=np.int64)])
            for j in range(len(chunk)):
                total.n_paths += chunk[j][2]
            total.blocks_done += len(chunk)
            if progress is not None:
                progress(sum(blk[2] for blk in chunk) * n_sets)
        total.elapsed = time.perf_counter() - start_all
        total.counts += counts.sum(axis=0)
        total.any_champion += any_champ.sum(axis=0)
        total.n_champions += n_champ.sum(axis=0)
        failed = fail_counts.sum(axis=0)
        n_run = failed.sum(axis=-1, keepdims=True)
        failed[..., 0] = 0
        total.alive += n_run - np.cumsum(failed, axis=-1)
        total.market_exceed += market_exceed.sum(axis=0)
        if fans:
            # Threads' histograms added in place into thread 0's (``total`` is fresh
            # from _empty_tally): a sweep's are hundreds of MB, and a sum over the
            # thread axis into a new array cost seconds of page faults.
            for t in range(1, hist.shape[0]):
                np.add(hist[0], hist[t], out=hist[0])
            total.hist = hist[0]
            total.minmax = np.stack([minmax[..., 0].min(axis=0), minmax[..., 1].max(axis=0)], axis=-1)
        if keep:
            total.kept = kept
            total.fail_month = fail_month
        return total
    finally:
        if previous is not None:
            K.set_threads(previous)
