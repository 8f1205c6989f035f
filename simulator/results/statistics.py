"""Intervals and quantiles of the streamed summaries: Wilson, normal-theory, histogram quantiles.

May import: :mod:`simulator.model`, :mod:`simulator.engines` (the quantile kernel)
and :mod:`simulator.results.outputs`.
"""

from __future__ import annotations

import numpy as np

from simulator.model import quantities as Q
from simulator.results.outputs import CONFIDENCE

__all__ = ["MIN_OUTCOME_PATHS", "Z95", "hist_quantiles", "mean_interval", "normal_quantile", "phi_interval",
           "wilson_interval"]

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


#: Fewest paths with (and without) each outcome for its correlation to be reported: the delta
#: method's normal approximation needs them (with one champion in 20,000 paths it would give a
#: correlation of -0.000 with an interval of zero width).
MIN_OUTCOME_PATHS = 10


def phi_interval(both, first, second, n, *, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The phi coefficient of two 0/1 outcomes and its interval, vectorised; the interval's last axis is (low, high).

    ``both`` paths with both outcomes, ``first`` and ``second`` with each, of ``n``.
    phi = (p11 - p1 p2) / sqrt(p1 q1 p2 q2) is Pearson's correlation of the two
    indicators.  Its standard error is the delta method's for the multinomial of
    the four cells, through (p11, p1, p2): with gradient g and per-path covariance
    S (var p11 = p11 q11, cov(p11, pj) = p11 qj, var pj = pj qj, cov(p1, p2) =
    p11 - p1 p2), se^2 = g' S g / n.  The interval is taken on Fisher's z scale,
    atanh(phi) +- z se / (1 - phi^2), and transformed back, so it stays inside
    [-1, 1].  NaN where either outcome happens, or fails to happen, in fewer than
    :data:`MIN_OUTCOME_PATHS` paths (phi undefined, or its interval unreliable).
    """
    n = np.asarray(n, dtype=np.float64)
    p11 = np.asarray(both, dtype=np.float64) / n
    p1 = np.asarray(first, dtype=np.float64) / n
    p2 = np.asarray(second, dtype=np.float64) / n
    q1, q2 = 1.0 - p1, 1.0 - p2
    z = normal_quantile(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.sqrt(p1 * q1 * p2 * q2)
        rare = np.minimum(np.minimum(p1, q1), np.minimum(p2, q2)) * n < MIN_OUTCOME_PATHS
        phi = np.where((d > 0.0) & ~rare, (p11 - p1 * p2) / d, np.nan)
        g11 = 1.0 / d
        g1 = -p2 / d - phi * (q1 - p1) / (2.0 * p1 * q1)
        g2 = -p1 / d - phi * (q2 - p2) / (2.0 * p2 * q2)
        var = (g11 * g11 * p11 * (1.0 - p11) + g1 * g1 * p1 * q1 + g2 * g2 * p2 * q2
               + 2.0 * (g11 * g1 * p11 * q1 + g11 * g2 * p11 * q2 + g1 * g2 * (p11 - p1 * p2))) / n
        se = np.sqrt(np.maximum(var, 0.0))
        inner = np.clip(phi, -1.0 + 1e-15, 1.0 - 1e-15)
        half = z * se / (1.0 - inner * inner)
        centre = np.arctanh(inner)
        low, high = np.tanh(centre - half), np.tanh(centre + half)
    return phi, np.stack([low, high], axis=-1)


def hist_quantiles(hist: np.ndarray, minmax: np.ndarray, levels, var: int | tuple[bool, float, float]) -> np.ndarray:
    """Quantiles from histograms over the last axis, interpolated within a bin.

    Parameters
    ----------
    hist : ndarray, shape (..., HIST_BINS)
        Counts on the grid of variable ``var`` (see ``_layout``).
    minmax : ndarray, shape (..., 2)
        Exact minimum and maximum of the same values (used in the edge bins).
    levels : sequence of float
        Quantile levels in [0, 1].
    var : int or tuple
        Which variable's grid (``quantities.VAR_*``), or the grid itself, ``(log10,
        low, high)`` (the competition histograms).

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
    log10, low, high = var if isinstance(var, tuple) else (Q.HIST_LOG10[var], Q.HIST_LOW[var], Q.HIST_HIGH[var])
    hist_quantile_rows(rows, np.ascontiguousarray(minmax, dtype=np.float64).reshape(-1, 2),
                         levels[order], float(low), (high - low) / (nb - 2), bool(log10), out)
    result = np.empty_like(out)
    result[:, order] = out
    return result.reshape(*lead, levels.size)
