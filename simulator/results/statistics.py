"""Intervals and quantiles of the streamed summaries: Wilson, normal-theory, histogram quantiles.

May import: :mod:`simulator.model`, :mod:`simulator.engines` (the quantile kernel)
and :mod:`simulator.results.outputs`.
"""

from __future__ import annotations

import numpy as np

from simulator.model import quantities as Q
from simulator.results.outputs import CONFIDENCE

__all__ = ["Z95", "hist_quantiles", "mean_interval", "normal_quantile", "wilson_interval"]

#: ``scipy.special.ndtri(0.975)`` to the last bit (a test checks it): the 95% intervals need no scipy
#: import, which would cost a command a second of start-up.
Z95 = 1.959963984540054


def normal_quantile(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (1.96 for 0.95), bit for bit scipy's."""
    if confidence == 0.95:
        return Z95
    from scipy.special import ndtri

    return float(ndtri(0.5 + confidence / 2.0))


def wilson_interval(successes, trials, *, confidence: float = CONFIDENCE) -> np.ndarray:
    """Wilson score interval, vectorised; last axis is (low, high); NaN where trials is 0.

    Agrees with ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = normal_quantile(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # Exact endpoints where the estimate is 0 or 1 (the formula gives them up to rounding).
    low = np.where((k == 0) & (n > 0), 0.0, low)
    high = np.where((k == n) & (n > 0), 1.0, high)
    return np.stack([low, high], axis=-1)


def mean_interval(moments: np.ndarray, scale, *, confidence: float = CONFIDENCE):
    """Mean and normal-theory interval from (count, mean, M2) moments."""
    n, mean, m2 = moments[..., 0], moments[..., 1], moments[..., 2]
    z = normal_quantile(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.where(n > 1, m2 / np.maximum(n - 1, 1) / n, np.nan))
    centre = mean * scale
    half = z * se * scale
    return centre, np.stack([centre - half, centre + half], axis=-1)


def hist_quantiles(hist: np.ndarray, minmax: np.ndarray, levels, var: int) -> np.ndarray:
    """Quantiles from histograms over the last axis, interpolated within a bin.

    Parameters
    ----------
    hist : ndarray, shape (..., HIST_BINS)
        Counts on the grid of variable ``var`` (see ``_layout``).
    minmax : ndarray, shape (..., 2)
        Exact minimum and maximum of the same values (used in the edge bins).
    levels : sequence of float
        Quantile levels in [0, 1].
    var : int
        Which variable's grid (``_layout.VAR_*``).

    Returns
    -------
    ndarray, shape (..., len(levels))
    """
    from simulator.engines.kernels import hist_quantile_rows

    nb = hist.shape[-1]
    lead = hist.shape[:-1]
    levels = np.asarray(levels, dtype=np.float64)
    order = np.argsort(levels, kind="stable")
    rows = np.ascontiguousarray(hist, dtype=np.int64).reshape(-1, nb)
    out = np.empty((rows.shape[0], levels.size))
    low, high = Q.HIST_LOW[var], Q.HIST_HIGH[var]
    hist_quantile_rows(rows, np.ascontiguousarray(minmax, dtype=np.float64).reshape(-1, 2),
                         levels[order], float(low), (high - low) / (nb - 2), bool(Q.HIST_LOG10[var]), out)
    result = np.empty_like(out)
    result[:, order] = out
    return result.reshape(*lead, levels.size)
