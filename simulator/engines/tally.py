"""Streaming summaries of simulated paths, and how two of them merge.

Integer tallies (outcome counts, histograms) add exactly; floating-point
moments are kept per block and merged only when read, in block order, so any
split of the blocks over threads, processes or machines gives bit-identical
results, and memory does not grow with the number of paths.

May import: :mod:`simulator.model` and :mod:`simulator.engines.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.engines.plan import RunPlan
from simulator.model import quantities as Q

__all__ = ["Tally", "empty_minmax", "empty_tally", "merge_tallies"]


@dataclass
class Tally:
    """Mergeable summaries of simulated paths (per parameter set).

    Integer arrays add exactly.  Floating-point moments are kept per block
    (``fv_blocks``, ``bv_blocks``, ``vh_blocks``: (count, mean, M2) of the
    fundamental value as equity value and as business value, and of valuation
    at each horizon, relative to V0) and merged only when read, in
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
    bv_blocks: np.ndarray  # (block, set, company, 3)
    market_exceed: np.ndarray | None = None  # (set, horizon): paths whose combined revenue > market
    # (set, horizon, 2, company, company): paths in which both companies of a pair (first < second)
    # are champions (0) or collapse (1); the joint outcomes' correlations come from these.
    pairs: np.ndarray | None = None
    reached: np.ndarray | None = None  # (set, company, horizon): paths whose revenue reached the required
    # With competition on (MODEL.md step 9): (set, company + 2, recorded month, bin) histograms of each
    # company's share, the platforms' share and the market, and their (min, max).
    share_hist: np.ndarray | None = None
    share_minmax: np.ndarray | None = None
    kept: np.ndarray | None = None  # (var, path, company, month) float32
    kept_market: np.ndarray | None = None  # (path, month) float32 market M of the kept paths (0: no competition)
    fail_month: np.ndarray | None = None  # (path, company)
    path_outcome: np.ndarray | None = None  # (set, path, company, horizon) int8 outcome codes
    trace: np.ndarray | None = None  # (state variable, path, company, month) float64, quantities.STATE_NAMES
    # (sector variable, path, month) float64 of the traced paths, quantities.SECTOR_STATE_NAMES
    trace_sector: np.ndarray | None = None
    blocks_done: int = 0
    elapsed: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def fv(self) -> np.ndarray:
        """(count, mean, M2) of equity value (fundamental value floored at 0) / V0, shape (set, company, 3)."""
        return _merge_in_block_order(self.block_ids, self.fv_blocks)

    @property
    def bv(self) -> np.ndarray:
        """(count, mean, M2) of business value / V0, shape (set, company, 3)."""
        return _merge_in_block_order(self.block_ids, self.bv_blocks)

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


def empty_tally(n_sets: int, n_comp: int, plan: RunPlan, *, fans: bool, keep: int,
                outcome_paths: int = 0, trace: int = 0, competition: bool = False) -> Tally:
    """Zero tallies of ``n_sets`` sets (``keep`` kept, ``trace`` traced and ``outcome_paths`` recorded paths).

    ``competition``: some set has it on (with ``fans``, the share histograms are kept).
    """
    n_hor = plan.horizons.size
    n_rec = plan.recorded_months.size
    return Tally(
        n_paths=np.zeros(n_sets, dtype=np.int64),
        counts=np.zeros((n_sets, n_comp, n_hor, 3), dtype=np.int64),
        any_champion=np.zeros((n_sets, n_hor), dtype=np.int64),
        n_champions=np.zeros((n_sets, n_hor, n_comp + 1), dtype=np.int64),
        alive=np.zeros((n_sets, n_comp, plan.n_months + 1), dtype=np.int64),
        hist=np.zeros((n_sets, n_comp, Q.N_VARS, n_rec, Q.HIST_BINS), dtype=np.int64) if fans else None,
        minmax=empty_minmax((n_sets, n_comp, Q.N_VARS, n_rec)) if fans else None,
        block_ids=np.zeros(0, dtype=np.int64),
        fv_blocks=np.zeros((0, n_sets, n_comp, 3)),
        bv_blocks=np.zeros((0, n_sets, n_comp, 3)),
        vh_blocks=np.zeros((0, n_sets, n_comp, n_hor, 3)),
        market_exceed=np.zeros((n_sets, n_hor), dtype=np.int64),
        pairs=np.zeros((n_sets, n_hor, 2, n_comp, n_comp), dtype=np.int64),
        reached=np.zeros((n_sets, n_comp, n_hor), dtype=np.int64),
        share_hist=(np.zeros((n_sets, n_comp + 2, n_rec, Q.HIST_BINS), dtype=np.int64)
                    if fans and competition else None),
        share_minmax=empty_minmax((n_sets, n_comp + 2, n_rec)) if fans and competition else None,
        path_outcome=np.full((n_sets, outcome_paths, n_comp, n_hor), -1, dtype=np.int8) if outcome_paths else None,
        kept=np.full((Q.N_VARS, keep, n_comp, plan.n_months + 1), np.nan, dtype=np.float32) if keep else None,
        kept_market=np.full((keep, plan.n_months + 1), np.nan, dtype=np.float32) if keep else None,
        fail_month=np.zeros((keep, n_comp), dtype=np.int64) if keep else None,
        trace=np.full((Q.N_STATE, trace, n_comp, plan.n_months + 1), np.nan) if trace else None,
        trace_sector=np.full((Q.N_SECTOR_STATE, trace, plan.n_months + 1), np.nan) if trace else None,
    )


def empty_minmax(shape: tuple[int, ...]) -> np.ndarray:
    """Running (min, max) pairs, empty: (+inf, -inf)."""
    out = np.empty((*shape, 2))
    out[..., 0] = np.inf
    out[..., 1] = -np.inf
    return out


def _add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Counts of two tallies added (either may lack them)."""
    return a if b is None else (b if a is None else a + b)


def _extremes(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Running (min, max) pairs of two tallies combined (either may lack them)."""
    if a is None or b is None:
        return a if b is None else b
    return np.stack([np.minimum(a[..., 0], b[..., 0]), np.maximum(a[..., 1], b[..., 1])], axis=-1)


def merge_tallies(a: Tally, b: Tally) -> Tally:
    """Merge ``b`` (later blocks) into ``a`` (earlier blocks); exact and order-fixed."""
    out = Tally(
        n_paths=a.n_paths + b.n_paths,
        counts=a.counts + b.counts,
        any_champion=a.any_champion + b.any_champion,
        n_champions=a.n_champions + b.n_champions,
        alive=a.alive + b.alive,
        hist=None if a.hist is None else a.hist + b.hist,
        minmax=None if a.minmax is None else _extremes(a.minmax, b.minmax),
        block_ids=np.concatenate([a.block_ids, b.block_ids]),
        fv_blocks=np.concatenate([a.fv_blocks, b.fv_blocks]),
        bv_blocks=np.concatenate([a.bv_blocks, b.bv_blocks]),
        vh_blocks=np.concatenate([a.vh_blocks, b.vh_blocks]),
        market_exceed=a.market_exceed + b.market_exceed,
        pairs=_add(a.pairs, b.pairs),
        reached=_add(a.reached, b.reached),
        share_hist=_add(a.share_hist, b.share_hist),
        share_minmax=_extremes(a.share_minmax, b.share_minmax),
        path_outcome=a.path_outcome if b.path_outcome is None else (
            b.path_outcome if a.path_outcome is None else np.maximum(a.path_outcome, b.path_outcome)),
        kept=a.kept if b.kept is None else (b.kept if a.kept is None else np.fmax(a.kept, b.kept)),
        kept_market=a.kept_market if b.kept_market is None else (
            b.kept_market if a.kept_market is None else np.fmax(a.kept_market, b.kept_market)),
        fail_month=a.fail_month if b.fail_month is None else (
            b.fail_month if a.fail_month is None else np.maximum(a.fail_month, b.fail_month)),
        trace=a.trace if b.trace is None else (b.trace if a.trace is None else np.fmax(a.trace, b.trace)),
        trace_sector=a.trace_sector if b.trace_sector is None else (
            b.trace_sector if a.trace_sector is None else np.fmax(a.trace_sector, b.trace_sector)),
        blocks_done=a.blocks_done + b.blocks_done,
        elapsed=a.elapsed + b.elapsed,
    )
    return out
