"""Quantiles of streamed histograms, interpolated within a bin: one scan per row.

May import: numpy and numba.
"""

import math

import numpy as np
from numba import njit

__all__ = ["hist_quantile_rows"]


@njit(cache=True, error_model="numpy")
def hist_quantile_rows(hist, minmax, levels, low, width, log10, out):
    """Quantiles of each row of binned counts, interpolated within a bin, in one scan per row.

    ``hist`` (rows, bins) counts on a grid of ``bins - 2`` bins of ``width`` from
    ``low`` plus two edge bins; ``minmax`` (rows, 2) the exact extremes, used in
    the edge bins; ``levels`` ascending; ``out`` (rows, levels), NaN for an
    empty row.  The bin of level q is the first whose cumulative count reaches
    ceil(q x total) (the integer counts below a real target are those below its
    ceiling); amounts on log10 grids are returned as ``10 ** x``.
    """
    n_rows, nb = hist.shape
    for r in range(n_rows):
        total = 0
        for b in range(nb):
            total += hist[r, b]
        lo = minmax[r, 0]
        hi = minmax[r, 1]
        j = 0
        cum = hist[r, 0]
        for i in range(levels.shape[0]):
            if total == 0:
                out[r, i] = np.nan
                continue
            target = levels[i] * total
            key = math.ceil(max(target, 1e-300))
            while cum < key and j < nb - 1:
                j += 1
                cum += hist[r, j]
            count = float(hist[r, j])
            before = float(cum) - count
            frac = (target - before) / count if count > 0.0 else 0.5
            frac = min(max(frac, 0.0), 1.0)
            x = low + (j - 1 + frac) * width
            value = 10.0 ** x if log10 else x
            if j == 0:
                value = lo
            elif j == nb - 1:
                value = hi
            out[r, i] = min(max(value, lo), hi)
