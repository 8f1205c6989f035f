"""The time grid of a run and how its paths are cut into blocks.

May import: nothing of the package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

__all__ = ["DEFAULT_BLOCK_SIZE", "MAX_RECORDED_MONTHS", "Blocks", "RunPlan", "blocks", "plan_run"]


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


class Blocks(Sequence):
    """(block index, first path, number of paths) of every block of a run, made when asked for.

    A sequence, not a list: a run of 10^11 paths has 24 million blocks, whose
    tuples would take gigabytes before the first path is simulated.
    """

    def __init__(self, paths: int, block_size: int):
        self.paths = int(paths)
        self.block_size = int(block_size)

    def __len__(self) -> int:
        return -(-self.paths // self.block_size)

    @overload
    def __getitem__(self, index: int) -> tuple[int, int, int]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, int, int]]: ...

    def __getitem__(self, index):
        n = len(self)
        if isinstance(index, slice):
            return [self[b] for b in range(*index.indices(n))]
        b = int(index)
        if b < 0:
            b += n
        if not 0 <= b < n:
            raise IndexError(f"block {index} of {n}")
        first = b * self.block_size
        return (b, first, min(self.block_size, self.paths - first))


def blocks(paths: int, block_size: int) -> Blocks:
    """(block index, first path, number of paths) for every block."""
    return Blocks(paths, block_size)
