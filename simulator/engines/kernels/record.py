"""What is recorded month by month: histogram bins for the quantile fans, and the kept paths.

The recorded variables (:mod:`simulator.model.quantities`) are binned every
recorded month into a task's bin buffer (one uint16 per path, variable and
month), with their exact extremes, and the buffer is added to the histograms
once per task.  Amounts are binned on log10 grids and their extremes tracked
in natural logs (no exp per lane).  With competition on, the market shares,
the platforms' share and the market are buffered and counted alike, into
histograms of their own.
The first paths of a run can be kept whole.  ``lanes`` is ``(P, S, sec)``.
"""

import math

import numpy as np
from numba import njit

from simulator.engines.kernels.fastmath import INF, fast_log
from simulator.engines.kernels.lanes import offset, row
from simulator.engines.kernels.rng import no_refcounts
from simulator.engines.kernels.state import (
    ALIVE,
    CASH,
    LOG_CAPACITY,
    LOG_MARKET,
    LOG_PLATFORM_SHARE,
    LOG_REVENUE,
    LOG_SHARE,
    LOG_VALUATION,
    MARGIN,
    MOOD,
    NARRATIVE,
    REVENUE,
    SECTOR_TRACED,
    TRACED,
    VALUE_AT_FAILURE,
    company_state,
)
from simulator.model.quantities import (
    HIST_BINS,
    HIST_HIGH,
    HIST_LOG10,
    HIST_LOW,
    MARKET_HIST_HIGH,
    MARKET_HIST_LOW,
    N_VARS,
    SHARE_HIST_HIGH,
    SHARE_HIST_LOW,
    VAR_CAPACITY,
    VAR_CASH,
    VAR_MARGIN,
    VAR_NARRATIVE,
    VAR_REVENUE,
    VAR_VALUATION,
)

__all__ = ["flush_bins", "flush_share_bins", "keep_lanes", "record_lanes", "record_shares", "trace_lanes"]

_INV_LN10 = 1.0 / math.log(10.0)
# Histogram grids as compile-time constants: the bin scale is folded into the code.
_LOW_R, _LOW_V, _LOW_C, _LOW_K, _LOW_G, _LOW_E = HIST_LOW
_HIGH_R, _HIGH_V, _HIGH_C, _HIGH_K, _HIGH_G, _HIGH_E = HIST_HIGH
_HIST_LOG = np.asarray(HIST_LOG10, dtype=np.bool_)
_ROW_R, _ROW_V, _ROW_C, _ROW_K, _ROW_G, _ROW_E = (row(VAR_REVENUE), row(VAR_VALUATION), row(VAR_CASH),
                                                  row(VAR_CAPACITY), row(VAR_MARGIN), row(VAR_NARRATIVE))


@njit(cache=True, error_model="numpy", inline="always")
def _bin_of(x, low, high):
    """Histogram bin of ``x`` on a grid of HIST_BINS - 2 bins over [low, high) plus two edge bins."""
    nb = HIST_BINS
    y = (x - low) * ((nb - 2) / (high - low))
    y = y if y > -1.0 else -1.0  # also -inf and NaN
    y = y if y < nb - 2.5 else nb - 2.5  # so j <= nb - 2 whenever x < high
    j = np.int32(y + 1.0)  # truncation: floor for y + 1 >= 0
    j = j if x >= low else np.int32(0)
    j = j if x < high else np.int32(nb - 1)
    return np.uint16(j)


@njit(cache=True, error_model="numpy", inline="always")
def _min_max(vals, at, n, lo, hi):
    """Smallest and largest of the row of ``vals`` at offset ``at`` (n lanes) and (lo, hi): eight running pairs.

    One running pair is a chain of dependent compares (LLVM does not vectorise
    a floating-point min/max reduction without fast-math); eight interleaved
    pairs run in parallel.  The result does not depend on the order.
    """
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = lo
    h0 = h1 = h2 = h3 = h4 = h5 = h6 = h7 = hi
    n8 = n - n % np.uint64(8)
    for i in range(np.uint64(0), n8, np.uint64(8)):
        r = at + i
        x0 = vals[r]
        x1 = vals[r + np.uint64(1)]
        x2 = vals[r + np.uint64(2)]
        x3 = vals[r + np.uint64(3)]
        x4 = vals[r + np.uint64(4)]
        x5 = vals[r + np.uint64(5)]
        x6 = vals[r + np.uint64(6)]
        x7 = vals[r + np.uint64(7)]
        l0 = x0 if x0 < l0 else l0
        l1 = x1 if x1 < l1 else l1
        l2 = x2 if x2 < l2 else l2
        l3 = x3 if x3 < l3 else l3
        l4 = x4 if x4 < l4 else l4
        l5 = x5 if x5 < l5 else l5
        l6 = x6 if x6 < l6 else l6
        l7 = x7 if x7 < l7 else l7
        h0 = x0 if x0 > h0 else h0
        h1 = x1 if x1 > h1 else h1
        h2 = x2 if x2 > h2 else h2
        h3 = x3 if x3 > h3 else h3
        h4 = x4 if x4 > h4 else h4
        h5 = x5 if x5 > h5 else h5
        h6 = x6 if x6 > h6 else h6
        h7 = x7 if x7 > h7 else h7
    for i in range(n8, n):
        x = vals[at + i]
        l0 = x if x < l0 else l0
        h0 = x if x > h0 else h0
    l0 = l1 if l1 < l0 else l0
    l2 = l3 if l3 < l2 else l2
    l4 = l5 if l5 < l4 else l4
    l6 = l7 if l7 < l6 else l6
    l0 = l2 if l2 < l0 else l0
    l4 = l6 if l6 < l4 else l4
    h0 = h1 if h1 > h0 else h0
    h2 = h3 if h3 > h2 else h2
    h4 = h5 if h5 > h4 else h4
    h6 = h7 if h7 > h6 else h6
    h0 = h2 if h2 > h0 else h0
    h4 = h6 if h6 > h4 else h4
    return (l4 if l4 < l0 else l0), (h4 if h4 > h0 else h0)


@no_refcounts
def record_lanes(lanes, beta, c, n, base, buffers, month_row, scratch):
    """Bins of company ``c``'s recorded variables in every lane, into the task's buffers; min/max per variable.

    ``buffers`` = (bins (company, recorded month, variable, path) uint16 from
    path ``base``, extremes (company, recorded month, variable, 2)); ``scratch``
    = (values, bins): N_VARS rows of lanes each, so the loop vectorises.
    """
    _, S, sec = lanes
    binbuf, mm = buffers
    vals, bins = scratch
    cs = company_state(c)
    bc = offset(c)
    for i in range(n):
        alive = S[cs + ALIVE + i] > 0.5
        cash = S[cs + CASH + i]
        vf = S[cs + VALUE_AT_FAILURE + i]
        log_r = S[cs + LOG_REVENUE + i] if alive else -INF
        log_v = S[cs + LOG_VALUATION + i] if alive else (fast_log(vf) if vf > 0.0 else -INF)
        log_cash = fast_log(cash) if (alive and cash > 0.0) else -INF
        log_cap = S[cs + LOG_CAPACITY + i] if alive else -INF
        g = S[cs + MARGIN + i]
        e = S[cs + NARRATIVE + i] + beta[bc + i] * sec[MOOD + i]
        bins[_ROW_R + i] = _bin_of(log_r * _INV_LN10, _LOW_R, _HIGH_R)
        bins[_ROW_V + i] = _bin_of(log_v * _INV_LN10, _LOW_V, _HIGH_V)
        bins[_ROW_C + i] = _bin_of(log_cash * _INV_LN10, _LOW_C, _HIGH_C)
        bins[_ROW_K + i] = _bin_of(log_cap * _INV_LN10, _LOW_K, _HIGH_K)
        bins[_ROW_G + i] = _bin_of(g, _LOW_G, _HIGH_G)
        bins[_ROW_E + i] = _bin_of(e, _LOW_E, _HIGH_E)
        vals[_ROW_R + i] = log_r
        vals[_ROW_V + i] = log_v
        vals[_ROW_C + i] = log_cash
        vals[_ROW_K + i] = log_cap
        vals[_ROW_G + i] = g
        vals[_ROW_E + i] = e
    b0 = np.uint64(base)
    for v in range(N_VARS):
        # Unsigned indices: a signed one gets a negative-index check per lane, and
        # LLVM then stores the 64 bins one by one instead of as vectors.
        out = binbuf[c, month_row, v]
        rv = offset(v)
        for i in range(n):
            out[b0 + i] = bins[rv + i]
        mm[c, month_row, v, 0], mm[c, month_row, v, 1] = _min_max(vals, rv, n, mm[c, month_row, v, 0],
                                                                  mm[c, month_row, v, 1])


@no_refcounts
def flush_bins(buffers, n_paths, hist, minmax, slot, s):
    """Add a task's buffered bins to histogram slot ``slot`` of parameter set ``s``, one row at a time."""
    binbuf, mm = buffers
    n_comp, n_rec, n_vars = binbuf.shape[0], binbuf.shape[1], binbuf.shape[2]
    for c in range(n_comp):
        for r in range(n_rec):
            for v in range(n_vars):
                counts = hist[slot, s, c, v, r]
                bins = binbuf[c, r, v]
                for ip in range(n_paths):
                    counts[bins[ip]] += 1
                lo = mm[c, r, v, 0]
                hi = mm[c, r, v, 1]
                if _HIST_LOG[v]:
                    lo = math.exp(lo)
                    hi = math.exp(hi)
                if lo < minmax[slot, s, c, v, r, 0]:
                    minmax[slot, s, c, v, r, 0] = lo
                if hi > minmax[slot, s, c, v, r, 1]:
                    minmax[slot, s, c, v, r, 1] = hi


@no_refcounts
def record_shares(lanes, n_comp, n, base, out, where, vals):
    """Bins of the market shares, the platforms' share and the market of every lane, into the task's buffer.

    ``out`` = (bins (company + 2, recorded month, path) uint16 of this set from
    path ``base``, extremes (slot, set, company + 2, recorded month, 2));
    ``where`` = (slot, set, recorded month); ``vals`` scratch of company + 2
    rows of lanes (the logs, for the extremes).  Rows: each company's share (0
    after failure), the platforms' share, the market M.  Shares are binned on
    :data:`SHARE_HIST_LOW`..:data:`SHARE_HIST_HIGH`, the market on the amounts'
    grid, both in log10; :func:`flush_share_bins` adds the buffer to the
    histograms once per task (one histogram row at a time stays in cache).
    """
    _, S, sec = lanes
    binbuf, mm = out
    slot, s, month_row = where
    b0 = np.uint64(base)
    for c in range(n_comp):
        cs = company_state(c)
        rc = offset(c)
        bins = binbuf[c, month_row]
        for i in range(n):
            x = S[cs + LOG_SHARE + i]
            vals[rc + i] = x
            bins[b0 + i] = _bin_of(x * _INV_LN10, SHARE_HIST_LOW, SHARE_HIST_HIGH)
    rp = offset(n_comp)
    rm = offset(n_comp + 1)
    platforms = binbuf[n_comp, month_row]
    market = binbuf[n_comp + 1, month_row]
    for i in range(n):
        x = sec[LOG_PLATFORM_SHARE + i]
        vals[rp + i] = x
        platforms[b0 + i] = _bin_of(x * _INV_LN10, SHARE_HIST_LOW, SHARE_HIST_HIGH)
        x = sec[LOG_MARKET + i]
        vals[rm + i] = x
        market[b0 + i] = _bin_of(x * _INV_LN10, MARKET_HIST_LOW, MARKET_HIST_HIGH)
    for q in range(n_comp + 2):
        lo, hi = _min_max(vals, offset(q), n, INF, -INF)
        lo = math.exp(lo)
        hi = math.exp(hi)
        if lo < mm[slot, s, q, month_row, 0]:
            mm[slot, s, q, month_row, 0] = lo
        if hi > mm[slot, s, q, month_row, 1]:
            mm[slot, s, q, month_row, 1] = hi


@no_refcounts
def flush_share_bins(binbuf, n_paths, hist, slot, s):
    """Add a task's buffered share bins (company + 2, recorded month, path) to histogram slot ``slot`` of set ``s``."""
    for q in range(binbuf.shape[0]):
        for r in range(binbuf.shape[1]):
            counts = hist[slot, s, q, r]
            bins = binbuf[q, r]
            for ip in range(n_paths):
                counts[bins[ip]] += 1


@no_refcounts
def keep_lanes(lanes, beta, n, n_comp, p0, keep, m):
    """Store month ``m`` of the lanes whose path index ``p0 + i`` is below the number kept.

    ``keep`` = (kept paths (variable, path, company, month) float32, the market
    (path, month) float32, 0 without competition, number kept).
    """
    _, S, sec = lanes
    kept, kept_market, keep_n = keep
    for i in range(n):
        p = p0 + np.int64(i)
        if p < keep_n:
            kept_market[p, m] = math.exp(sec[LOG_MARKET + i])
            for c in range(n_comp):
                cs = company_state(c)
                alive = S[cs + ALIVE + i] > 0.5
                b = beta[offset(c) + i]
                kept[VAR_REVENUE, p, c, m] = S[cs + REVENUE + i] if alive else 0.0
                kept[VAR_VALUATION, p, c, m] = math.exp(S[cs + LOG_VALUATION + i]) if alive else S[
                    cs + VALUE_AT_FAILURE + i]
                kept[VAR_CASH, p, c, m] = S[cs + CASH + i] if alive else 0.0
                kept[VAR_CAPACITY, p, c, m] = math.exp(S[cs + LOG_CAPACITY + i]) if alive else 0.0
                kept[VAR_MARGIN, p, c, m] = S[cs + MARGIN + i]
                kept[VAR_NARRATIVE, p, c, m] = S[cs + NARRATIVE + i] + b * sec[MOOD + i]


@no_refcounts
def trace_lanes(lanes, n, n_comp, p0, trace, m):
    """Store month ``m`` of the whole state of the lanes whose path index ``p0 + i`` is below the number traced.

    ``trace`` = (state (variable, path, company, month) float64 in the order of
    :data:`simulator.model.quantities.STATE_NAMES`, sector state (variable, path,
    month) in the order of :data:`simulator.model.quantities.SECTOR_STATE_NAMES`,
    number traced).  For the engines' path-by-path comparison.
    """
    _, S, sec = lanes
    state, sector, trace_n = trace
    for i in range(n):
        p = p0 + np.int64(i)
        if p < trace_n:
            for k in range(len(SECTOR_TRACED)):
                sector[k, p, m] = sec[SECTOR_TRACED[k] + i]
            for c in range(n_comp):
                cs = company_state(c)
                for k in range(len(TRACED)):
                    state[k, p, c, m] = S[cs + TRACED[k] + i]
