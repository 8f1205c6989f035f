"""The time grid of a run and how its paths are cut into blocks.

May import: nothing of the package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_BLOCK_SIZE", "MAX_RECORDED_MONTHS", "RunPlan", "blocks", "plan_run"]


DEFAULT_BLOCK_SIZE = 4096


#: Months recorded for quantile fans: every month up to this many, else thinned.
MAX_RECORDED_MONTHS = 121


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


def blocks(paths: int, block_size: int) -> list[tuple[int, int, int]]:
    """(block index, first path, number of paths) for every block."""
    n_blocks = -(-paths // block_size)
    return [(b, b * block_size, min(block_size, paths - b * block_size)) for b in range(n_blocks)]
