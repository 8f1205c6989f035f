"""Numba kernels: the only module that imports numba.

``simulate_tasks`` runs the whole model of MODEL.md for a list of *tasks*: a
task is one block of paths under one parameter set.  Tasks run in parallel
(``prange``); each task owns its four random streams (``numpy.random.Generator``
objects spawned per block by ``engine.py``), so results never depend on the
number of threads.  Integer tallies (outcome counts, histograms) are
accumulated per thread and are exact in any order; floating-point tallies are
written per task and merged in task order by the caller.
"""

import math

import numpy as np
from numba import get_thread_id, njit, prange
from numba.np.random import _constants as _zig

from simulator._layout import (
    B_CASH, B_CUT_HIGH, B_CUT_LOW, B_DEMAND_MEAN, B_DEMAND_SD, B_GROWTH_MEAN, B_GROWTH_SD,
    B_NARR_MEAN, B_NARR_SD, B_OPEX, B_PROB, C_BETA, C_CASH, C_REVENUE, C_VALUATION, CHAMPION,
    COLLAPSE, CONTESTED, E_HAZARD, EV_COMPANY, EV_FIRST_BRANCH, EV_N_BRANCHES, EV_SLOT,
    F_BACKSTOP, F_BACKSTOP_PROB, F_BASE_LOGIT, F_ENABLED, F_NARRATIVE_SENS, F_RAISE_FRACTION,
    F_RECOVERY, F_TRIGGER, G_DECAY, G_INITIAL, G_KAPPA, G_LAMBDA, G_LONG_RUN, G_SIGMA_GROWTH,
    G_SIGMA_REVENUE, G_SIGMA_REVENUE_LR, HIST_BINS, HIST_HIGH, HIST_LOG10, HIST_LOW, K_CARD_PRICE, K_CARDS, K_DEPRECIATION,
    K_DOMESTIC, K_ENABLED, K_IMPORTS, K_REVENUE_PER_CARD, MAX_LOG_VALUATION_RATIO, N_COMPANY, N_GLOBAL, N_KAPPA,
    N_LONG_RUN, N_SIGMA, N_VARS, O_GROWTH, O_INTEREST, O_LOSS_CF, O_OPEX, O_TAX,
    OUT_CHAMPION_MAX_PS, OUT_CHAMPION_RATIO, OUT_COLLAPSE_RATIO, P_COST_DRIFT, P_COST_SHARE,
    P_DRIFT, P_ELASTICITY, P_PASS_THROUGH, P_SCARCITY, P_SIGMA, S_INIT, S_KAPPA, S_LONG_RUN,
    S_SIGMA, V_BASE_MULTIPLE, V_DISCOUNT, V_EXIT_MULTIPLE, V_GROWTH_SENS, V_MARGIN_SENS,
    VAR_CAPACITY, VAR_CASH, VAR_MARGIN, VAR_NARRATIVE, VAR_REVENUE, VAR_VALUATION,
)

# ---------------------------------------------------------------------------
# Random streams.  Each stream is numpy's SFC64 bit generator, its state taken
# from the block's ``numpy.random.Generator`` (``engine.block_states``) and
# advanced here inline: a call through numba's Generator goes through a
# function pointer per variate, which cost more than the model itself.  The
# draws are numpy's own algorithms (``next_double``, the ziggurat normal, the
# PTRS / multiplication Poisson), so every variate equals the one the
# Generator would give (tests/test_rng.py checks this bit for bit).
# ---------------------------------------------------------------------------
_U1 = np.uint64(1)
_U3 = np.uint64(3)
_U8 = np.uint64(8)
_U11 = np.uint64(11)
_U24 = np.uint64(24)
_U40 = np.uint64(40)
_U_BYTE = np.uint64(0xFF)
_U_MANTISSA = np.uint64(0x000FFFFFFFFFFFFF)
_TWO_M53 = 1.0 / 9007199254740992.0
_ZIG_W = _zig.wi_double
_ZIG_K = _zig.ki_double
_ZIG_F = _zig.fi_double
_ZIG_R = float(_zig.ziggurat_nor_r)
_ZIG_INV_R = float(_zig.ziggurat_nor_inv_r)
_LOGGAM_A = np.array([8.333333333333333e-02, -2.777777777777778e-03, 7.936507936507937e-04,
                      -5.952380952380952e-04, 8.417508417508418e-04, -1.917526917526918e-03,
                      6.410256410256410e-03, -2.955065359477124e-02, 1.796443723688307e-01,
                      -1.39243221690590e+00])


@njit(cache=True, error_model="numpy", inline="always")
def next_uint64(s):
    """Advance SFC64 state ``s`` (uint64[4]: a, b, c, counter) and return its output."""
    a = s[0]
    b = s[1]
    c = s[2]
    tmp = a + b + s[3]
    s[3] += _U1
    s[0] = b ^ (b >> _U11)
    s[1] = c + (c << _U3)
    s[2] = ((c << _U24) | (c >> _U40)) + tmp
    return tmp


@njit(cache=True, error_model="numpy", inline="always")
def next_double(s):
    """Uniform on [0, 1) with 53 random bits (numpy's ``Generator.random``)."""
    return float(next_uint64(s) >> _U11) * _TWO_M53


@njit(cache=True, error_model="numpy", inline="always")
def standard_normal(s):
    """numpy's ziggurat standard normal (``Generator.standard_normal``).

    The first rectangle test (99.3% of draws) is inlined at every call site;
    the rest of numpy's loop is one out-of-line function, which keeps the
    compiled kernel (and its compile time) small.
    """
    r = next_uint64(s)
    idx = np.intp(r & _U_BYTE)
    r >>= _U8
    rabs = (r >> _U1) & _U_MANTISSA
    x = float(rabs) * _ZIG_W[idx]
    if r & _U1:
        x = -x
    if rabs < _ZIG_K[idx]:
        return x
    return _normal_rest(s, idx, rabs, x)


@njit(cache=True, error_model="numpy")
def _normal_rest(s, idx, rabs, x):
    """numpy's ziggurat after a failed rectangle test: tail or wedge test, then draw again."""
    while True:
        if idx == 0:
            while True:
                xx = -_ZIG_INV_R * math.log1p(-next_double(s))
                yy = -math.log1p(-next_double(s))
                if yy + yy > xx * xx:
                    if (rabs >> _U8) & _U1:
                        return -(_ZIG_R + xx)
                    return _ZIG_R + xx
        else:
            if (_ZIG_F[idx - 1] - _ZIG_F[idx]) * next_double(s) + _ZIG_F[idx] < math.exp(-0.5 * x * x):
                return x
        r = next_uint64(s)
        idx = np.intp(r & _U_BYTE)
        r >>= _U8
        rabs = (r >> _U1) & _U_MANTISSA
        x = float(rabs) * _ZIG_W[idx]
        if r & _U1:
            x = -x
        if rabs < _ZIG_K[idx]:
            return x


@njit(cache=True, error_model="numpy")
def _loggam(x):
    """numpy's ``random_loggam`` (log-gamma used inside its Poisson sampler)."""
    if x == 1.0 or x == 2.0:
        return 0.0
    n = int(7 - x) if x < 7.0 else 0
    x0 = x + n
    x2 = (1.0 / x0) * (1.0 / x0)
    gl0 = _LOGGAM_A[9]
    for k in range(9):
        gl0 *= x2
        gl0 += _LOGGAM_A[8 - k]
    gl = gl0 / x0 + 0.5 * 1.8378770664093453 + (x0 - 0.5) * math.log(x0) - x0
    if x < 7.0:
        for _ in range(n):
            gl -= math.log(x0 - 1.0)
            x0 -= 1.0
    return gl


@njit(cache=True, error_model="numpy", inline="always")
def ptrs_constants(lam):
    """Constants of numpy's PTRS Poisson sampler for ``lam`` (>= 10): (loglam, a, b, invalpha, vr).

    The engine keeps them per company and recomputes them only when the supply
    rate changes, which saves a square root, a logarithm and two divisions per draw.
    """
    b = 0.931 + 2.53 * math.sqrt(lam)
    return (math.log(lam), -0.059 + 0.02483 * b, b, 1.1239 + 1.1328 / (b - 3.4),
            0.9277 - 3.6224 / (b - 2.0))


@njit(cache=True, error_model="numpy", inline="always")
def poisson_ptrs(s, lam, loglam, a, b, invalpha, vr):
    """numpy's PTRS Poisson draw for lam >= 10, with its constants given.

    The quick acceptance (about 86% of draws at the engine's rates) is inlined;
    the rest of numpy's loop runs out of line.
    """
    u = next_double(s) - 0.5
    v = next_double(s)
    us = 0.5 - abs(u)
    k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
    if us >= 0.07 and v <= vr:
        return k
    return _poisson_ptrs_rest(s, lam, loglam, a, b, invalpha, vr, u, v, us, k)


@njit(cache=True, error_model="numpy")
def _poisson_ptrs_rest(s, lam, loglam, a, b, invalpha, vr, u, v, us, k):
    """numpy's PTRS loop after the quick acceptance failed for (u, v)."""
    while True:
        if not (k < 0 or (us < 0.013 and v > us)):
            if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
                    <= -lam + k * loglam - _loggam(k + 1.0)):
                return k
        u = next_double(s) - 0.5
        v = next_double(s)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k


@njit(cache=True, error_model="numpy")
def poisson(s, lam):
    """numpy's Poisson sampler (``Generator.poisson``): PTRS for lam >= 10, else multiplication."""
    if lam >= 10.0:
        loglam, a, b, invalpha, vr = ptrs_constants(lam)
        return poisson_ptrs(s, lam, loglam, a, b, invalpha, vr)
    if lam == 0.0:
        return 0
    enlam = math.exp(-lam)
    x = 0
    prod = 1.0
    while True:
        prod *= next_double(s)
        if prod > enlam:
            x += 1
        else:
            return x


@njit(cache=True, error_model="numpy")
def fill_draws(state, kind, lam, out):
    """Fill ``out`` with draws of one kind, for tests.

    Kinds: 0 uniform, 1 standard normal, 2 Poisson(lam), 3 Poisson(lam >= 10)
    through the engine's path with cached PTRS constants.
    """
    loglam, a, b, invalpha, vr = ptrs_constants(max(lam, 10.0))
    for i in range(out.shape[0]):
        if kind == 3:
            out[i] = poisson_ptrs(state, lam, loglam, a, b, invalpha, vr)
            continue
        if kind == 0:
            out[i] = next_double(state)
        elif kind == 1:
            out[i] = standard_normal(state)
        else:
            out[i] = poisson(state, lam)


_INV_LN10 = 1.0 / math.log(10.0)
_INF = np.inf
# Largest table for Poisson inversion of card supply; larger means use the
# generator's own sampler.
_MAX_TABLE = 8192

# Company state columns (per path, per company).
_N = 0       # company narrative
_MU = 1      # expected growth
_LOGD = 2    # log demand revenue
_LOGP = 3    # log price index
_LOGC = 4    # log unit compute cost
_K = 5       # installed cards
_I = 6       # import factor
_CASH = 7
_OPEX = 8
_LCF = 9     # loss carry-forward
_ALIVE = 10
_VFAIL = 11  # valuation frozen at failure (recovery applied)
_G0 = 12     # gross margin at start
_E0 = 13     # implied narrative at start
_LOGV0 = 14
_FAILM = 15  # month of failure (0: alive)
_SIGR = 16   # current revenue volatility
_SIGG = 17   # current growth volatility
_R = 18      # last served revenue
_CAP = 19    # last capacity
_G = 20      # last gross margin
_LOGV = 21   # last log valuation
_LOGR = 22   # log served revenue
_LOGCAP = 23  # log capacity (inf: unlimited)
_NST = 24

# Per-company constants derived at path start.
_AN = 0      # exp(-kappa_N dt)
_BN = 1      # OU noise scale of N
_AG = 2      # exp(-kappa dt) for growth
_BG = 3      # OU noise scale of growth per unit sigma
_DECAY = 4   # exp(-volatility_decay dt)
_LOGBASE = 5
_PTRS_LAM = 6  # supply rate whose PTRS constants are cached in _PTRS .. _PTRS + 4
_GROWO = 7   # exp(opex_growth dt)
_LOGRPC = 8  # log revenue per card
_PTRS = 9
_NDER = 14


@njit(cache=True, error_model="numpy", inline="always")
def _ou_coefficients(kappa, sigma, dt):
    """Exact OU step: x' = m + (x - m) a + b z; kappa = 0 is a random walk."""
    if kappa > 0.0:
        a = math.exp(-kappa * dt)
        b = sigma * math.sqrt((1.0 - a * a) / (2.0 * kappa))
    else:
        a = 1.0
        b = sigma * math.sqrt(dt)
    return a, b


@njit(cache=True, error_model="numpy", inline="always")
def _poisson_inverse(u, lam):
    """Poisson(lam) by inversion of one uniform: monotone in lam (common random numbers)."""
    if lam <= 0.0:
        return 0
    p = math.exp(-lam)
    cdf = p
    k = 0
    while u > cdf and k < 10_000:
        k += 1
        p *= lam / k
        cdf += p
    return k


@njit(cache=True, error_model="numpy")
def poisson_cdf_table(lam, out, guide):
    """Fill ``out`` with P(X <= k), X ~ Poisson(lam), and ``guide`` with a guide table.

    ``guide[j]`` is the smallest k with P(X <= k) >= j / n, so inversion starts
    next to the answer (Devroye's guide-table method: about two comparisons a
    draw instead of a branchy bisection).  Returns the table length n, or 0 if
    ``out`` is too short.
    """
    n = int(lam + 12.0 * math.sqrt(lam) + 30.0)
    if n > out.shape[0] or lam <= 0.0:
        return 0
    log_lam = math.log(lam)
    cdf = 0.0
    for k in range(n):
        cdf += math.exp(-lam + k * log_lam - math.lgamma(k + 1.0))
        out[k] = cdf
    k = 0
    for j in range(n):
        target = j / n
        while k < n - 1 and out[k] < target:
            k += 1
        guide[j] = k
    return n


@njit(cache=True, error_model="numpy", inline="always")
def _valuation(th, off, st, c, sector_s, log_base):
    """Log market valuation from the current state (before any failure)."""
    logr = st[c, _LOGR]
    if logr == -_INF:
        return -_INF
    e = st[c, _N] + th[off + C_BETA] * sector_s
    logv = (logr + log_base + th[off + V_GROWTH_SENS] * (st[c, _MU] - th[off + G_LONG_RUN])
            + th[off + V_MARGIN_SENS] * (st[c, _G] - st[c, _G0]) + e)
    cap = st[c, _LOGV0] + MAX_LOG_VALUATION_RATIO
    return logv if logv < cap else cap


@njit(cache=True, error_model="numpy", inline="always")
def _serve(th, off, st, c, log_rpc):
    """Served revenue, capacity and gross margin from demand, price, cost and cards (in logs)."""
    logd = st[c, _LOGD]
    logp = st[c, _LOGP]
    if th[off + K_ENABLED] > 0.5:
        k = st[c, _K]
        logcap = math.log(k) + log_rpc + logp if k > 0.0 else -_INF
    else:
        logcap = _INF
    logr = logd if logd < logcap else logcap
    unit = math.exp(st[c, _LOGC] - logp)  # compute cost per unit of price
    scarcity = th[off + P_SCARCITY]
    if scarcity > 0.0 and logd > logcap:
        unit *= 1.0 + scarcity * (math.exp(logd - logcap) - 1.0) if logcap > -_INF else 1.0
    st[c, _LOGR] = logr
    st[c, _R] = math.exp(logr)
    st[c, _LOGCAP] = logcap
    st[c, _G] = 1.0 - unit


# Histogram grids as compile-time constants: the bin scale is folded into the code.
_LOW_R, _LOW_V, _LOW_C, _LOW_K, _LOW_G, _LOW_E = HIST_LOW
_HIGH_R, _HIGH_V, _HIGH_C, _HIGH_K, _HIGH_G, _HIGH_E = HIST_HIGH
_HIST_LOG = np.asarray(HIST_LOG10, dtype=np.bool_)


@njit(cache=True, error_model="numpy", inline="always")
def _bin_of(x, low, high):
    """Histogram bin of ``x`` on a grid of HIST_BINS - 2 bins over [low, high) plus two edge bins."""
    nb = HIST_BINS
    if not x >= low:  # also -inf and NaN
        return 0
    if x >= high:
        return nb - 1
    j = 1 + int((x - low) * ((nb - 2) / (high - low)))
    return j if j < nb - 1 else nb - 2


@njit(cache=True, error_model="numpy", inline="always")
def _record(st, c, sector_s, beta, row, ip, binbuf, mm):
    """Store the bins of the company's current state in the task's buffer, update min/max.

    Buffering the bins per task and adding them to the histograms row by row
    afterwards keeps the histogram updates inside a cache-sized working set.
    Amounts are binned on log10 grids and their extremes tracked in natural
    logs (no exp here); ``_flush_bins`` converts the extremes back.
    """
    e = st[c, _N] + beta * sector_s
    if st[c, _ALIVE] > 0.5:
        log_r = st[c, _LOGR]
        log_v = st[c, _LOGV]
        cash = st[c, _CASH]
        log_cash = math.log(cash) if cash > 0.0 else -_INF
        log_cap = st[c, _LOGCAP]
    else:
        vf = st[c, _VFAIL]
        log_r = -_INF
        log_v = math.log(vf) if vf > 0.0 else -_INF
        log_cash = -_INF
        log_cap = -_INF
    g = st[c, _G]
    binbuf[c, row, VAR_REVENUE, ip] = _bin_of(log_r * _INV_LN10, _LOW_R, _HIGH_R)
    binbuf[c, row, VAR_VALUATION, ip] = _bin_of(log_v * _INV_LN10, _LOW_V, _HIGH_V)
    binbuf[c, row, VAR_CASH, ip] = _bin_of(log_cash * _INV_LN10, _LOW_C, _HIGH_C)
    binbuf[c, row, VAR_CAPACITY, ip] = _bin_of(log_cap * _INV_LN10, _LOW_K, _HIGH_K)
    binbuf[c, row, VAR_MARGIN, ip] = _bin_of(g, _LOW_G, _HIGH_G)
    binbuf[c, row, VAR_NARRATIVE, ip] = _bin_of(e, _LOW_E, _HIGH_E)
    _minmax(mm, c, row, VAR_REVENUE, log_r)
    _minmax(mm, c, row, VAR_VALUATION, log_v)
    _minmax(mm, c, row, VAR_CASH, log_cash)
    _minmax(mm, c, row, VAR_CAPACITY, log_cap)
    _minmax(mm, c, row, VAR_MARGIN, g)
    _minmax(mm, c, row, VAR_NARRATIVE, e)


@njit(cache=True, error_model="numpy", inline="always")
def _minmax(mm, c, row, v, x):
    if x < mm[c, row, v, 0]:
        mm[c, row, v, 0] = x
    if x > mm[c, row, v, 1]:
        mm[c, row, v, 1] = x


@njit(cache=True, error_model="numpy")
def _flush_bins(binbuf, n_paths, mm, hist, minmax, tid, s):
    """Add a task's buffered bins to this thread's histograms, one row at a time."""
    n_comp, n_rec, n_vars = binbuf.shape[0], binbuf.shape[1], binbuf.shape[2]
    for c in range(n_comp):
        for r in range(n_rec):
            for v in range(n_vars):
                counts = hist[tid, s, c, v, r]
                bins = binbuf[c, r, v]
                for ip in range(n_paths):
                    counts[bins[ip]] += 1
                lo = mm[c, r, v, 0]
                hi = mm[c, r, v, 1]
                if _HIST_LOG[v]:
                    lo = math.exp(lo)
                    hi = math.exp(hi)
                if lo < minmax[tid, s, c, v, r, 0]:
                    minmax[tid, s, c, v, r, 0] = lo
                if hi > minmax[tid, s, c, v, r, 1]:
                    minmax[tid, s, c, v, r, 1] = hi


@njit(cache=True, error_model="numpy")
def _keep(st, c, sector_s, th, off, kept, p, m):
    alive = st[c, _ALIVE] > 0.5
    kept[VAR_REVENUE, p, c, m] = st[c, _R] if alive else 0.0
    kept[VAR_VALUATION, p, c, m] = math.exp(st[c, _LOGV]) if alive else st[c, _VFAIL]
    kept[VAR_CASH, p, c, m] = st[c, _CASH] if alive else 0.0
    kept[VAR_CAPACITY, p, c, m] = math.exp(st[c, _LOGCAP]) if alive else 0.0
    kept[VAR_MARGIN, p, c, m] = st[c, _G]
    kept[VAR_NARRATIVE, p, c, m] = st[c, _N] + th[off + C_BETA] * sector_s


@njit(cache=True, error_model="numpy")
def _apply_effects(st, c, growth, demand, cut, cash, opex_mult):
    """Apply one drawn event effect to company c (narrative handled by the caller)."""
    if st[c, _ALIVE] < 0.5:
        return
    st[c, _MU] += growth
    st[c, _LOGD] += demand
    st[c, _I] *= 1.0 - cut
    st[c, _CASH] += cash
    st[c, _OPEX] *= opex_mult


@njit(cache=True, error_model="numpy")
def _draw_jump(gen, mean, sd):
    if sd > 0.0:
        return mean + sd * standard_normal(gen)
    return mean


@njit(cache=True, error_model="numpy")
def _simulate_task(theta_row, unc_slots, unc_values, unc_row0, ev, br, n_comp, n_months,
                   hz_month, n_hor, rec_row, dt, path0, n_paths, gd, ge, gs, gf,
                   tid, s, task, counts, any_champ, n_champ, fail_counts, hist, minmax,
                   hist_on, fv_stats, vh_stats, kept, keep_n,
                   st, der, th_buf, tables, guides, table_len, table_lam, fail_month, binbuf,
                   mm, market_h, market_exceed, path_outcome):
    n_events = ev.shape[0]
    p_none = np.empty(n_events)
    n_unc = unc_slots.shape[0]
    if s != 0:
        keep_n = 0  # kept paths are those of the first parameter set
    sqdt = math.sqrt(dt)
    horizon_t = n_months * dt
    for ip in range(n_paths):
        p = path0 + ip
        # Parameters of this path: the set's row, with per-path uncertain draws.
        if n_unc > 0:
            for j in range(theta_row.shape[0]):
                th_buf[j] = theta_row[j]
            for j in range(n_unc):
                th_buf[unc_slots[j]] = unc_values[unc_row0 + ip, j]
            th = th_buf
        else:
            th = theta_row
        ss_a, ss_b = _ou_coefficients(th[S_KAPPA], th[S_SIGMA], dt)
        for e in range(n_events):
            p_none[e] = math.exp(-th[ev[e, EV_SLOT] + E_HAZARD] * dt)
        sector_s = th[S_INIT]
        s_lr = th[S_LONG_RUN]
        log_champ = math.log(th[OUT_CHAMPION_RATIO])
        log_ps = math.log(th[OUT_CHAMPION_MAX_PS])
        collapse_ratio = th[OUT_COLLAPSE_RATIO]
        log_collapse = math.log(collapse_ratio) if collapse_ratio > 0.0 else -_INF
        for c in range(n_comp):
            off = N_GLOBAL + c * N_COMPANY
            a, b = _ou_coefficients(th[off + N_KAPPA], th[off + N_SIGMA], dt)
            der[c, _AN] = a
            der[c, _BN] = b
            a, b = _ou_coefficients(th[off + G_KAPPA], 1.0, dt)
            der[c, _AG] = a
            der[c, _BG] = b
            der[c, _DECAY] = math.exp(-th[off + G_DECAY] * dt)
            der[c, _LOGBASE] = math.log(th[off + V_BASE_MULTIPLE])
            der[c, _GROWO] = math.exp(th[off + O_GROWTH] * dt)
            rpc = th[off + K_REVENUE_PER_CARD]
            der[c, _LOGRPC] = math.log(rpc) if rpc > 0.0 else -_INF
            der[c, _PTRS_LAM] = -1.0
            st[c, _MU] = th[off + G_INITIAL]
            st[c, _LOGD] = math.log(th[off + C_REVENUE])
            st[c, _LOGP] = 0.0
            share = th[off + P_COST_SHARE]
            st[c, _LOGC] = math.log(share) if share > 0.0 else -_INF
            st[c, _K] = th[off + K_CARDS]
            st[c, _I] = 1.0
            st[c, _CASH] = th[off + C_CASH]
            st[c, _OPEX] = th[off + O_OPEX]
            st[c, _LCF] = th[off + O_LOSS_CF]
            st[c, _ALIVE] = 1.0
            st[c, _VFAIL] = 0.0
            st[c, _FAILM] = 0.0
            st[c, _SIGR] = th[off + G_SIGMA_REVENUE]
            st[c, _SIGG] = th[off + G_SIGMA_GROWTH]
            st[c, _G0] = 0.0
            _serve(th, off, st, c, der[c, _LOGRPC])
            st[c, _G0] = st[c, _G]
            # The narrative at start is implied by the stated valuation.
            e0 = (math.log(th[off + C_VALUATION] / st[c, _R]) - der[c, _LOGBASE]
                  - th[off + V_GROWTH_SENS] * (st[c, _MU] - th[off + G_LONG_RUN]))
            st[c, _E0] = e0
            st[c, _N] = e0 - th[off + C_BETA] * sector_s
            st[c, _LOGV0] = math.log(th[off + C_VALUATION])
            st[c, _LOGV] = st[c, _LOGV0]
            if hist_on and rec_row[0] >= 0:
                _record(st, c, sector_s, th[off + C_BETA], rec_row[0], ip, binbuf, mm)
            if p < keep_n:
                _keep(st, c, sector_s, th, off, kept, p, 0)
        h_idx = 0
        for m in range(1, n_months + 1):
            # 1. Events: arrivals by inversion of one uniform each (fixed draws).
            z_s = standard_normal(gd)
            for e in range(n_events):
                u = next_double(gd)
                # Most months have no event: one comparison with P(0 events).
                count = 0 if u <= p_none[e] else _poisson_inverse(u, th[ev[e, EV_SLOT] + E_HAZARD] * dt)
                comp = ev[e, EV_COMPANY]
                for _ in range(count):
                    first = ev[e, EV_FIRST_BRANCH]
                    nbr = ev[e, EV_N_BRANCHES]
                    b = first + nbr - 1
                    if nbr > 1:
                        total = 0.0
                        for k in range(nbr):
                            total += th[br[first + k] + B_PROB]
                        ub = next_double(ge) * total
                        acc = 0.0
                        for k in range(nbr):
                            acc += th[br[first + k] + B_PROB]
                            if ub < acc:
                                b = first + k
                                break
                    slot = br[b]
                    narr = _draw_jump(ge, th[slot + B_NARR_MEAN], th[slot + B_NARR_SD])
                    growth = _draw_jump(ge, th[slot + B_GROWTH_MEAN], th[slot + B_GROWTH_SD])
                    demand = _draw_jump(ge, th[slot + B_DEMAND_MEAN], th[slot + B_DEMAND_SD])
                    lo = th[slot + B_CUT_LOW]
                    hi = th[slot + B_CUT_HIGH]
                    cut = lo + (hi - lo) * next_double(ge) if hi > lo else lo
                    cash = th[slot + B_CASH]
                    opex_mult = th[slot + B_OPEX]
                    if comp < 0:
                        sector_s += narr
                        for c in range(n_comp):
                            _apply_effects(st, c, growth, demand, cut, cash, opex_mult)
                    else:
                        st[comp, _N] += narr
                        _apply_effects(st, comp, growth, demand, cut, cash, opex_mult)
            # 2. Sector mood.
            sector_s = s_lr + (sector_s - s_lr) * ss_a + ss_b * z_s
            for c in range(n_comp):
                off = N_GLOBAL + c * N_COMPANY
                # Diffusion shocks are drawn for failed companies too, so every
                # path consumes the same number of variates (common random numbers).
                z_n = standard_normal(gd)
                z_mu = standard_normal(gd)
                z_d = standard_normal(gd)
                z_p = standard_normal(gd)
                if st[c, _ALIVE] < 0.5:
                    if th[off + K_ENABLED] > 0.5:
                        next_double(gs)
                    continue
                lr_n = th[off + N_LONG_RUN]
                st[c, _N] = lr_n + (st[c, _N] - lr_n) * der[c, _AN] + der[c, _BN] * z_n
                sig_r = st[c, _SIGR]
                sig_g = st[c, _SIGG]
                dlogp = th[off + P_DRIFT] * dt + th[off + P_SIGMA] * sqdt * z_p
                st[c, _LOGD] += ((st[c, _MU] - th[off + G_LAMBDA] * sig_r - 0.5 * sig_r * sig_r) * dt
                                 + sig_r * sqdt * z_d - th[off + P_ELASTICITY] * dlogp)
                lr_g = th[off + G_LONG_RUN]
                st[c, _MU] = lr_g + (st[c, _MU] - lr_g) * der[c, _AG] + sig_g * der[c, _BG] * z_mu
                st[c, _LOGP] += dlogp
                st[c, _LOGC] += th[off + P_PASS_THROUGH] * dlogp + th[off + P_COST_DRIFT] * dt
                # Schwartz-Moon volatility decay towards the long-run values.
                decay = der[c, _DECAY]
                sr_inf = th[off + G_SIGMA_REVENUE_LR]
                st[c, _SIGR] = sr_inf + (sig_r - sr_inf) * decay
                st[c, _SIGG] = sig_g * decay
                # 3. Chips.
                new_cards = 0.0
                if th[off + K_ENABLED] > 0.5:
                    lam = th[off + K_DOMESTIC] + th[off + K_IMPORTS] * st[c, _I]
                    u = next_double(gs)
                    k = -1
                    n_tab = table_len[c]
                    if lam == table_lam[c] and n_tab > 0:
                        # Inversion from the table (monotone in u: common random numbers).
                        if u <= tables[c, n_tab - 1]:
                            k = guides[c, int(u * n_tab)]
                            while tables[c, k] < u:
                                k += 1
                    if k < 0:
                        if lam >= 10.0:
                            if lam != der[c, _PTRS_LAM]:
                                der[c, _PTRS_LAM] = lam
                                (der[c, _PTRS], der[c, _PTRS + 1], der[c, _PTRS + 2], der[c, _PTRS + 3],
                                 der[c, _PTRS + 4]) = ptrs_constants(lam)
                            k = poisson_ptrs(gs, lam, der[c, _PTRS], der[c, _PTRS + 1], der[c, _PTRS + 2],
                                             der[c, _PTRS + 3], der[c, _PTRS + 4])
                        else:
                            k = poisson(gs, lam) if lam > 0.0 else 0
                    new_cards = float(k)
                    st[c, _K] = st[c, _K] * (1.0 - th[off + K_DEPRECIATION] * dt) + new_cards
                # 4. Revenue, margin, cash.
                _serve(th, off, st, c, der[c, _LOGRPC])
                opex = st[c, _OPEX]
                op = (st[c, _R] * st[c, _G] - opex) * dt
                tax = 0.0
                if op < 0.0:
                    st[c, _LCF] -= op
                else:
                    used = st[c, _LCF] if st[c, _LCF] < op else op
                    st[c, _LCF] -= used
                    tax = th[off + O_TAX] * (op - used)
                flow = (op - new_cards * th[off + K_CARD_PRICE]
                        + th[off + O_INTEREST] * st[c, _CASH] * dt - tax)
                st[c, _CASH] += flow
                st[c, _OPEX] = opex * der[c, _GROWO]
                logv = _valuation(th, off, st, c, sector_s, der[c, _LOGBASE])
                st[c, _LOGV] = logv
                # 5. Funding, backstop, failure.
                if th[off + F_ENABLED] > 0.5:
                    burn = -flow
                    if burn > 0.0 and st[c, _CASH] < th[off + F_TRIGGER] * burn:
                        e_eff = st[c, _N] + th[off + C_BETA] * sector_s
                        x = th[off + F_BASE_LOGIT] + th[off + F_NARRATIVE_SENS] * e_eff
                        prob = 1.0 / (1.0 + math.exp(-x))
                        if next_double(gf) < prob:
                            st[c, _CASH] += th[off + F_RAISE_FRACTION] * math.exp(logv)
                    if st[c, _CASH] < 0.0:
                        if next_double(gf) < th[off + F_BACKSTOP_PROB]:
                            st[c, _CASH] += th[off + F_BACKSTOP]
                if st[c, _CASH] < 0.0:
                    st[c, _ALIVE] = 0.0
                    st[c, _FAILM] = m
                    st[c, _VFAIL] = th[off + F_RECOVERY] * math.exp(logv)
            # 6. Record the month.
            row = rec_row[m]
            is_h = h_idx < n_hor and hz_month[h_idx] == m
            n_ch = 0
            combined = 0.0
            for c in range(n_comp):
                off = N_GLOBAL + c * N_COMPANY
                alive = st[c, _ALIVE] > 0.5
                if hist_on and row >= 0:
                    _record(st, c, sector_s, th[off + C_BETA], row, ip, binbuf, mm)
                if p < keep_n:
                    _keep(st, c, sector_s, th, off, kept, p, m)
                if is_h:
                    logv = st[c, _LOGV]
                    if alive:
                        v = math.exp(logv)
                        logr = math.log(st[c, _R]) if st[c, _R] > 0.0 else -_INF
                        rel = logv - st[c, _LOGV0]
                        if rel <= log_collapse:
                            outcome = COLLAPSE
                        elif rel >= log_champ and logv - logr <= log_ps:
                            outcome = CHAMPION
                        else:
                            outcome = CONTESTED
                    else:
                        v = st[c, _VFAIL]
                        outcome = COLLAPSE
                    counts[tid, s, c, h_idx, outcome] += 1
                    if p < path_outcome.shape[1]:
                        path_outcome[s, p, c, h_idx] = outcome
                    if alive:
                        combined += st[c, _R]
                    if outcome == CHAMPION:
                        n_ch += 1
                    # Welford update of the valuation relative to V0, in path order.
                    x = v / th[off + C_VALUATION]
                    nn = ip + 1.0
                    delta = x - vh_stats[task, c, h_idx, 0]
                    vh_stats[task, c, h_idx, 0] += delta / nn
                    vh_stats[task, c, h_idx, 1] += delta * (x - vh_stats[task, c, h_idx, 0])
            if is_h:
                if market_h[h_idx] > 0.0 and combined > market_h[h_idx]:
                    market_exceed[tid, s, h_idx] += 1
                if n_ch > 0:
                    any_champ[tid, s, h_idx] += 1
                n_champ[tid, s, h_idx, n_ch] += 1
                h_idx += 1
        # Fundamental value: discounted cash plus exit multiple of operating profit.
        for c in range(n_comp):
            off = N_GLOBAL + c * N_COMPANY
            value = 0.0
            if st[c, _ALIVE] > 0.5:
                profit = st[c, _R] * st[c, _G] - st[c, _OPEX] / der[c, _GROWO]
                value = st[c, _CASH] + th[off + V_EXIT_MULTIPLE] * profit
                if value < 0.0:
                    value = 0.0  # limited liability
                value *= math.exp(-th[off + V_DISCOUNT] * horizon_t)
            x = value / th[off + C_VALUATION]
            nn = ip + 1.0
            delta = x - fv_stats[task, c, 0]
            fv_stats[task, c, 0] += delta / nn
            fv_stats[task, c, 1] += delta * (x - fv_stats[task, c, 0])
            if p < keep_n:
                fail_month[p, c] = st[c, _FAILM]
            # Paths by month of failure (0: never failed); the caller turns these into survival.
            fail_counts[tid, s, c, int(st[c, _FAILM])] += 1
    if hist_on:
        _flush_bins(binbuf, n_paths, mm, hist, minmax, tid, s)


@njit(cache=True, error_model="numpy", parallel=True)
def simulate_tasks(theta, unc_slots, unc_values, task_unc_row, ev, br, n_comp, n_months,
                   hz_month, rec_row, dt, task_set, task_start, task_n, rng, counts, any_champ, n_champ, fail_counts, hist, minmax,
                   hist_on, fv_stats, vh_stats, kept, keep_n,
                   fail_month, market_h, market_exceed, path_outcome):
    """Simulate every task (one block of paths under one parameter set) in parallel.

    Parameters are described in ``engine.py`` (``_run_chunk``), which allocates
    every output array; this function only fills them.
    """
    n_tasks = task_set.shape[0]
    n_theta = theta.shape[1]
    n_hor = hz_month.shape[0]
    for t in prange(n_tasks):
        tid = get_thread_id()
        s = task_set[t]
        st = np.zeros((n_comp, _NST))
        der = np.zeros((n_comp, _NDER))
        th_buf = np.empty(n_theta)
        theta_row = theta[s]
        tables = np.zeros((n_comp, _MAX_TABLE))
        guides = np.zeros((n_comp, _MAX_TABLE), dtype=np.int64)
        table_len = np.zeros(n_comp, dtype=np.int64)
        table_lam = np.full(n_comp, -1.0)
        for c in range(n_comp):
            off = N_GLOBAL + c * N_COMPANY
            lam = theta_row[off + K_DOMESTIC] + theta_row[off + K_IMPORTS]
            if lam > 0.0:
                table_len[c] = poisson_cdf_table(lam, tables[c], guides[c])
                table_lam[c] = lam
        n_rec = hist.shape[4] if hist_on else 1
        binbuf = np.zeros((n_comp, n_rec if hist_on else 1, N_VARS, task_n[t] if hist_on else 1), dtype=np.uint16)
        mm = np.empty((n_comp, n_rec, N_VARS, 2))
        mm[..., 0] = _INF
        mm[..., 1] = -_INF
        _simulate_task(theta_row, unc_slots, unc_values, task_unc_row[t], ev, br, n_comp, n_months,
                       hz_month, n_hor, rec_row, dt, task_start[t], task_n[t],
                       rng[t, 0], rng[t, 1], rng[t, 2], rng[t, 3], tid, s, t, counts, any_champ, n_champ,
                       fail_counts, hist, minmax, hist_on,
                       fv_stats, vh_stats, kept, keep_n, st, der, th_buf, tables, guides, table_len, table_lam,
                       fail_month, binbuf, mm, market_h, market_exceed, path_outcome)


@njit(cache=True, error_model="numpy", parallel=True)
def draw_only_tasks(n_events, n_comp, n_months, task_n, rng, out):
    """The random-number bound: draw the variates one path-month consumes, nothing else.

    Per path and month: one sector normal, one uniform per event type, and per
    company four normals and one supply uniform (the table-inversion case).
    """
    n_tasks = task_n.shape[0]
    for t in prange(n_tasks):
        gd = rng[t, 0]
        gs = rng[t, 2]
        acc = 0.0
        for _ in range(task_n[t]):
            for _m in range(n_months):
                acc += standard_normal(gd)
                for _e in range(n_events):
                    acc += next_double(gd)
                for _c in range(n_comp):
                    acc += standard_normal(gd)
                    acc += standard_normal(gd)
                    acc += standard_normal(gd)
                    acc += standard_normal(gd)
                    acc += next_double(gs)
        out[t] = acc


def set_threads(n):
    """Set the number of numba threads; returns the previous number."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(int(n))
    return previous


def max_threads():
    """Size of numba's thread pool (the per-thread accumulators' first axis)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def get_threads():
    """Number of numba threads in use."""
    import numba

    return int(numba.get_num_threads())
