"""Which uncertain inputs drive each outcome: median shifts inside each outcome's paths (@RISK style).

May import: :mod:`simulator.model`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import stats

from simulator.model import quantities as Q

__all__ = ["attribute"]


def _median_ci(sorted_x: np.ndarray, z: float) -> tuple[float, float, float]:
    """Median and a distribution-free ~95% interval (order statistics) of sorted values."""
    m = sorted_x.size
    if m == 0:
        return math.nan, math.nan, math.nan
    med = float(np.median(sorted_x))
    half = 0.5 * z * math.sqrt(m)
    lo = int(max(0, math.floor(m / 2 - half)))
    hi = int(min(m - 1, math.ceil(m / 2 + half)))
    return med, float(sorted_x[lo]), float(sorted_x[hi])


def attribute(draws: np.ndarray, outcomes: np.ndarray, *, inputs: Sequence[str],
              companies: Sequence[str], horizons: Sequence[int]):
    """Which uncertain inputs drive each outcome: @RISK-style scenario analysis.

    For each company, horizon and outcome, the paths with that outcome form a
    subset; for each input, the shift of its median inside the subset from its
    median over all paths, in standard deviations of the input over all paths.
    A shift beyond about 0.5 is what @RISK calls significant.

    Parameters
    ----------
    draws : ndarray, shape (paths, inputs)
    outcomes : ndarray of int8, shape (paths, companies, horizons)
    inputs, companies, horizons
        Labels.

    Returns
    -------
    xarray.Dataset
        ``median_shift`` (input, company, horizon, outcome), ``median_shift_ci``
        (... , bound; from an order-statistic interval of the subset median),
        ``subset_median``, ``subset_share`` (company, horizon, outcome),
        ``input_median`` and ``input_sd`` (input).
    """
    n, k = draws.shape
    _, n_comp, n_hor = outcomes.shape
    z = float(stats.norm.ppf(0.975))
    med_all = np.median(draws, axis=0)
    sd_all = draws.std(axis=0, ddof=1) if n > 1 else np.full(k, np.nan)
    shift = np.full((k, n_comp, n_hor, 3), np.nan)
    shift_ci = np.full((k, n_comp, n_hor, 3, 2), np.nan)
    sub_med = np.full((k, n_comp, n_hor, 3), np.nan)
    share = np.zeros((n_comp, n_hor, 3))
    for c in range(n_comp):
        for h in range(n_hor):
            for o in range(3):
                mask = outcomes[:, c, h] == o
                share[c, h, o] = mask.mean() if n else math.nan
                if not mask.any():
                    continue
                sub = np.sort(draws[mask], axis=0)
                for j in range(k):
                    med, lo, hi = _median_ci(sub[:, j], z)
                    sub_med[j, c, h, o] = med
                    with np.errstate(invalid="ignore", divide="ignore"):
                        scale = sd_all[j] if sd_all[j] > 0 else math.nan
                        shift[j, c, h, o] = (med - med_all[j]) / scale
                        shift_ci[j, c, h, o] = ((lo - med_all[j]) / scale, (hi - med_all[j]) / scale)
    ds = xr.Dataset(
        {
            "median_shift": (("input", "company", "horizon", "outcome"), shift, {
                "long_name": "shift of the input's median inside the outcome's paths, in standard "
                             "deviations of the input", "units": "1"}),
            "median_shift_ci": (("input", "company", "horizon", "outcome", "bound"), shift_ci, {
                "long_name": "95% order-statistic interval of the median shift", "units": "1"}),
            "subset_median": (("input", "company", "horizon", "outcome"), sub_med, {
                "long_name": "median of the input inside the outcome's paths"}),
            "subset_share": (("company", "horizon", "outcome"), share, {
                "long_name": "share of paths with the outcome", "units": "1"}),
            "input_median": (("input",), med_all, {"long_name": "median of the input over all paths"}),
            "input_sd": (("input",), sd_all, {"long_name": "standard deviation of the input over all paths"}),
        },
        coords={"input": np.asarray(list(inputs), dtype=object),
                "company": np.asarray(list(companies), dtype=object),
                "horizon": np.asarray(list(horizons), dtype=np.int64),
                "outcome": np.asarray(Q.OUTCOME_NAMES, dtype=object),
                "bound": np.asarray(["low", "high"], dtype=object)},
        attrs={"method": "median shift in standard deviations (@RISK scenario analysis)", "paths": int(n)},
    )
    return ds
