"""Outcomes (MODEL.md "Outcomes" and step 8): the class of every company at each horizon, and the fundamental value.

At a horizon each company of a path is a collapse (failed, or valuation at
most ``collapse_valuation_ratio`` times V0), a champion (alive, valuation at
least ``champion_valuation_ratio`` times V0 and price-to-sales at most
``champion_max_price_to_sales``) or contested.  Counts are integers (exact in
any order); the valuation's moments are Welford updates in path order, per
task.  For every pair of companies the paths in which both are champions
(and both collapse) are counted, for the correlation of their outcomes, and
for each company the paths whose served revenue reached the revenue its stated
valuation requires (the big market check, dynamic).  At the end of a path:
the fundamental value in its two readings
(MODEL.md step 8: discounted cash plus the exit multiple of operating
profit, 0 for failed paths; the equity value floors it at zero, the
business value does not and subtracts the discounted money raised after the
start) and the month of failure.  ``lanes`` is ``(P, S, sec)``.
"""

import math

import numpy as np
from numba import njit

from simulator.engines.kernels.fastmath import INF
from simulator.engines.kernels.rng import no_refcounts
from simulator.engines.kernels.state import (
    ALIVE,
    CASH,
    COMPANY,
    FAILURE_MONTH,
    LOG_CHAMPION_RATIO,
    LOG_COLLAPSE_RATIO,
    LOG_MAX_PRICE_TO_SALES,
    LOG_VALUATION,
    LOG_VALUATION_AT_START,
    MARGIN,
    MARGIN_AT_START,
    OPEX,
    OPEX_GROWTH,
    RAISED,
    REVENUE,
    VALUE_AT_FAILURE,
    company_params,
    company_state,
)
from simulator.model.quantities import CHAMPION, COLLAPSE, CONTESTED

__all__ = ["finish_lanes", "horizon_lanes", "required_revenue"]


@njit(cache=True, error_model="numpy", inline="always")
def required_revenue(P, S, c, i, t):
    """Annual revenue at time ``t`` (years) that makes company ``c``'s stated valuation fair, in lane ``i``.

    As :func:`simulator.results.dataset.required_revenue`: operating profit at
    the start gross margin, capitalised at the exit multiple and discounted over
    ``t``, equals V0: ``(V0 exp(r t) / exit_multiple + opex0 exp(opex_growth t)) / g0``;
    infinite when no revenue can (``g0 <= 0`` or no exit multiple).
    """
    cp = company_params(c)
    multiple = P[cp + COMPANY.valuation_model.exit_multiple + i]
    margin = S[company_state(c) + MARGIN_AT_START + i]
    if multiple <= 0.0 or margin <= 0.0:
        return INF
    return (P[cp + COMPANY.valuation + i] * math.exp(P[cp + COMPANY.valuation_model.discount_rate + i] * t) / multiple
            + P[cp + COMPANY.costs.opex + i] * math.exp(P[cp + COMPANY.costs.opex_growth + i] * t)) / margin


@no_refcounts
def horizon_lanes(lanes, n, n_comp, where, horizon, out, market_h):
    """Outcomes of ``n`` lanes at a horizon, lane by lane in path order (the moments are order-dependent).

    ``where`` = (thread, parameter set, task, first path of the task, first lane's
    path within the task); ``horizon`` = (its index, its time in years, whether the
    set competes: the required revenue reached is counted only then); ``out`` =
    the tallies (counts, any champion, number of champions, valuation moments,
    paths above the market, outcome codes, both-champion and both-collapse counts
    per pair of companies, paths that reached the required revenue, a scratch
    row of one outcome per company).
    """
    _, S, sec = lanes
    tid, s, task, path0, base = where
    h_idx, t_h, competing = horizon
    counts, any_champ, n_champ, vh_stats, market_exceed, path_outcome, pairs, reached, oc = out
    P = lanes[0]
    for i in range(n):
        p = path0 + base + np.int64(i)
        ip = base + np.int64(i)
        n_ch = 0
        combined = 0.0
        for c in range(n_comp):
            cs = company_state(c)
            cp = company_params(c)
            logv = S[cs + LOG_VALUATION + i]
            if S[cs + ALIVE + i] > 0.5:
                v = math.exp(logv)
                rev = S[cs + REVENUE + i]
                logr = math.log(rev) if rev > 0.0 else -INF
                rel = logv - S[cs + LOG_VALUATION_AT_START + i]
                if rel <= sec[LOG_COLLAPSE_RATIO + i]:
                    outcome = COLLAPSE
                elif rel >= sec[LOG_CHAMPION_RATIO + i] and logv - logr <= sec[LOG_MAX_PRICE_TO_SALES + i]:
                    outcome = CHAMPION
                else:
                    outcome = CONTESTED
                combined += rev
                # Reported with competition on only (and two exponentials per company and path).
                if competing and rev >= required_revenue(P, S, c, i, t_h):
                    reached[tid, s, c, h_idx] += 1
            else:
                v = S[cs + VALUE_AT_FAILURE + i]
                outcome = COLLAPSE
            counts[tid, s, c, h_idx, outcome] += 1
            if p < path_outcome.shape[1]:
                path_outcome[s, p, c, h_idx] = outcome
            if outcome == CHAMPION:
                n_ch += 1
            oc[c] = outcome
            # Welford update of the valuation relative to V0, in path order.
            x = v / P[cp + COMPANY.valuation + i]
            nn = ip + 1.0
            delta = x - vh_stats[task, c, h_idx, 0]
            vh_stats[task, c, h_idx, 0] += delta / nn
            vh_stats[task, c, h_idx, 1] += delta * (x - vh_stats[task, c, h_idx, 0])
        if market_h[h_idx] > 0.0 and combined > market_h[h_idx]:
            market_exceed[tid, s, h_idx] += 1
        if n_ch > 0:
            any_champ[tid, s, h_idx] += 1
        n_champ[tid, s, h_idx, n_ch] += 1
        for c in range(n_comp):
            for d in range(c + 1, n_comp):
                if oc[c] == oc[d] and oc[c] != CONTESTED:
                    pairs[tid, s, h_idx, 0 if oc[c] == CHAMPION else 1, c, d] += 1


@no_refcounts
def finish_lanes(lanes, n, n_comp, where, horizon_t, out, keep_n):
    """Equity and business value (MODEL.md step 8) and month of failure of ``n`` lanes.

    ``where`` as for :func:`horizon_lanes`; ``out`` = (equity-value and
    business-value moments per task, paths by month of failure, month of failure
    of the kept paths).
    """
    P, S, _ = lanes
    tid, s, task, path0, base = where
    fv_stats, bv_stats, fail_counts, fail_month = out
    for i in range(n):
        p = path0 + base + np.int64(i)
        ip = base + np.int64(i)
        nn = ip + 1.0
        for c in range(n_comp):
            cs = company_state(c)
            cp = company_params(c)
            equity = 0.0
            business = 0.0
            if S[cs + ALIVE + i] > 0.5:
                profit = S[cs + REVENUE + i] * S[cs + MARGIN + i] - S[cs + OPEX + i] / S[cs + OPEX_GROWTH + i]
                value = S[cs + CASH + i] + P[cp + COMPANY.valuation_model.exit_multiple + i] * profit
                discount = math.exp(-P[cp + COMPANY.valuation_model.discount_rate + i] * horizon_t)
                business = value * discount
                equity = max(value, 0.0) * discount  # limited liability
            business -= S[cs + RAISED + i]
            v0 = P[cp + COMPANY.valuation + i]
            _welford(fv_stats, task, c, nn, equity / v0)
            _welford(bv_stats, task, c, nn, business / v0)
            if p < keep_n:
                fail_month[p, c] = S[cs + FAILURE_MONTH + i]
            # Paths by month of failure (0: never failed); the caller turns these into survival.
            fail_counts[tid, s, c, int(S[cs + FAILURE_MONTH + i])] += 1


@njit(cache=True, error_model="numpy", inline="always")
def _welford(stats, task, c, nn, x):
    """Welford update of (mean, M2) at ``stats[task, c]`` with the ``nn``-th value ``x``."""
    delta = x - stats[task, c, 0]
    stats[task, c, 0] += delta / nn
    stats[task, c, 1] += delta * (x - stats[task, c, 0])
