"""Competition and convergence (MODEL.md step 9): the market, the platforms' pull, shares and competed demand.

With ``sector.competition.enabled`` the companies of a path and the platforms
share one market ``M``.  Each company's demand process (``LOG_DEMAND``,
unchanged in law) is its *pull* ``A``; the platforms' pull grows
``convergence_rate`` faster than the market.  With ``a = A / A(start)`` and
``c = concentration``, company ``i`` holds

    share_i = R_i a_i^c / (P0 a0^c + sum_j R_j a_j^c)

of the market (``R_i`` its revenue at start, ``P0 = M(start) - sum R`` the
platforms' revenue at start; failed companies drop out of the sum), and its
competed demand ``share_i * M`` is the demand that operations serve.  The sum
is taken in logs with the largest term factored out (log-sum-exp), so no
``a^c`` overflows.  The market's and the platforms' normals come from the
path's own market stream (:data:`simulator.engines.kernels.lanes.MARKET`),
drawn only with competition on, so no other draw moves when it is off.
``lanes`` is ``(P, S, sec)``.
"""

import math

from numba import njit

from simulator.engines.kernels.fastmath import INF, fast_exp, fast_log
from simulator.engines.kernels.lanes import row
from simulator.engines.kernels.rng import no_refcounts
from simulator.engines.kernels.state import (
    ALIVE,
    COMPANY,
    GLOBAL,
    LOG_COMPETED,
    LOG_DEMAND,
    LOG_MARKET,
    LOG_PLATFORM_SHARE,
    LOG_PLATFORMS_AT_START,
    LOG_PULL_AT_START,
    LOG_SHARE,
    PLATFORM_PULL,
    PLATFORM_SHARE,
    SHARE_MAX,
    SHARE_SUM,
    company_params,
    company_state,
)

__all__ = ["compete", "shares", "start_competition"]

_Z_MARKET, _Z_PLATFORMS = row(0), row(1)


@njit(cache=True, error_model="numpy", inline="always")
def start_competition(lanes, n_comp, i, on):
    """The market, the platforms' pull and the pulls' references at the start of lane ``i``.

    Without competition (``on`` false) the market is -inf and no company holds a share.
    """
    P, S, sec = lanes
    total = 0.0
    for c in range(n_comp):
        cs = company_state(c)
        revenue = P[company_params(c) + COMPANY.revenue + i]
        total += revenue
        S[cs + LOG_PULL_AT_START + i] = math.log(revenue)
        S[cs + LOG_SHARE + i] = -INF
        S[cs + LOG_COMPETED + i] = -INF
    size = P[GLOBAL.sector.market_size + i]
    rest = size - total
    sec[LOG_MARKET + i] = math.log(size) if on and size > 0.0 else -INF
    sec[PLATFORM_PULL + i] = 0.0
    # The schema requires M0 > sum R; a per-path draw that breaks it leaves the platforms nothing.
    sec[LOG_PLATFORMS_AT_START + i] = math.log(rest) if on and rest > 0.0 else -INF
    sec[PLATFORM_SHARE + i] = 0.0
    sec[LOG_PLATFORM_SHARE + i] = -INF


@no_refcounts
def shares(lanes, n_comp, n):
    """Every live company's log share and log competed demand, and the platforms' share, in every lane.

    Three passes over the lanes (the largest log term, the sum of the terms
    relative to it, the shares), each a loop that vectorises.  A company's
    log term is ``log R_i + c (log A_i - log R_i)``; with ``c = 0`` it is
    ``log R_i`` exactly, so the shares never move while every company lives.
    """
    P, S, sec = lanes
    for i in range(n):
        w0 = sec[LOG_PLATFORMS_AT_START + i] + P[GLOBAL.sector.competition.concentration + i] * sec[PLATFORM_PULL + i]
        sec[SHARE_MAX + i] = w0
        sec[PLATFORM_SHARE + i] = w0  # the platforms' log term until the last pass
    for c in range(n_comp):
        cs = company_state(c)
        for i in range(n):
            ref = S[cs + LOG_PULL_AT_START + i]
            w = ref + P[GLOBAL.sector.competition.concentration + i] * (S[cs + LOG_DEMAND + i] - ref)
            w = w if S[cs + ALIVE + i] > 0.5 else -INF  # a failed company sells nothing
            S[cs + LOG_SHARE + i] = w  # its log term until the last pass
            top = sec[SHARE_MAX + i]
            sec[SHARE_MAX + i] = w if w > top else top
    for i in range(n):
        w0 = sec[PLATFORM_SHARE + i]
        sec[LOG_PLATFORM_SHARE + i] = w0  # kept for the last pass
        term = fast_exp(w0 - sec[SHARE_MAX + i]) if w0 > -INF else 0.0
        sec[PLATFORM_SHARE + i] = term  # the platforms' term relative to the largest, until the last pass
        sec[SHARE_SUM + i] = term
    for c in range(n_comp):
        cs = company_state(c)
        for i in range(n):
            w = S[cs + LOG_SHARE + i]
            sec[SHARE_SUM + i] += fast_exp(w - sec[SHARE_MAX + i]) if w > -INF else 0.0
    for i in range(n):
        total = sec[SHARE_SUM + i]
        log_total = sec[SHARE_MAX + i] + fast_log(total)
        sec[SHARE_SUM + i] = log_total
        sec[PLATFORM_SHARE + i] = sec[PLATFORM_SHARE + i] / total
        sec[LOG_PLATFORM_SHARE + i] = sec[LOG_PLATFORM_SHARE + i] - log_total
    for c in range(n_comp):
        cs = company_state(c)
        for i in range(n):
            w = S[cs + LOG_SHARE + i]
            log_share = w - sec[SHARE_SUM + i] if w > -INF else -INF
            S[cs + LOG_SHARE + i] = log_share
            S[cs + LOG_COMPETED + i] = sec[LOG_MARKET + i] + log_share


@no_refcounts
def compete(lanes, z, n_comp, n, dt, sqdt):
    """One month of the market and the platforms' pull, then the shares, in every lane.

    ``z`` holds the month's two normals of each lane's market stream (row 0 the
    market's, row 1 the platforms'); the sector events' ``market`` and
    ``platforms`` jumps were applied before.
    """
    P, _, sec = lanes
    for i in range(n):
        growth = P[GLOBAL.sector.market_growth + i]
        sigma_m = P[GLOBAL.sector.competition.market_sigma + i]
        sec[LOG_MARKET + i] += (growth - 0.5 * sigma_m * sigma_m) * dt + sigma_m * sqdt * z[_Z_MARKET + i]
        sec[PLATFORM_PULL + i] += ((growth + P[GLOBAL.sector.competition.convergence_rate + i]) * dt
                                   + P[GLOBAL.sector.competition.platform_sigma + i] * sqdt * z[_Z_PLATFORMS + i])
    shares(lanes, n_comp, n)
