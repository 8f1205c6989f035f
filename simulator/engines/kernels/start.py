"""The start of a path: per-path parameters, initial state and the per-path constants derived from them.

The company's narrative at start is implied by its stated valuation
(MODEL.md step 7): ``E0 = log(V0 / R0) - log base_multiple - growth term``,
and ``N0 = E0 - beta_sector * S0``.  ``lanes`` is ``(P, S, sec)``.
"""

import math

import numpy as np

from simulator.engines.kernels.competition import shares, start_competition
from simulator.engines.kernels.diffusion import ou_coefficients
from simulator.engines.kernels.fastmath import INF
from simulator.engines.kernels.lanes import LANES, offset
from simulator.engines.kernels.operations import serve
from simulator.engines.kernels.rng import no_refcounts
from simulator.engines.kernels.state import (
    ALIVE,
    CARDS,
    CASH,
    COMPANY,
    COMPANY_ROWS,
    COMPANY_SLOT,
    EVENT,
    FAILURE_MONTH,
    FLOW,
    GLOBAL,
    GROWTH,
    GROWTH_DECAY,
    GROWTH_NOISE,
    IMPORT_FACTOR,
    LOG_BASE_MULTIPLE,
    LOG_CAPACITY,
    LOG_CHAMPION_RATIO,
    LOG_COLLAPSE_RATIO,
    LOG_COMPETED,
    LOG_DEMAND,
    LOG_MAX_PRICE_TO_SALES,
    LOG_PRICE,
    LOG_PULL_AT_START,
    LOG_REVENUE,
    LOG_REVENUE_PER_CARD,
    LOG_UNIT_COST,
    LOG_VALUATION,
    LOG_VALUATION_AT_START,
    LOSS_CARRYFORWARD,
    MARGIN,
    MARGIN_AT_START,
    MOOD,
    MOOD_DECAY,
    MOOD_NOISE,
    NARRATIVE,
    NARRATIVE_AT_START,
    NARRATIVE_DECAY,
    NARRATIVE_NOISE,
    NEW_CARDS,
    OPEX,
    OPEX_GROWTH,
    PTRS_RATE,
    RAISED,
    REVENUE,
    SECTOR_ROWS,
    SIGMA_GROWTH,
    SIGMA_REVENUE,
    VALUE_AT_FAILURE,
    VOLATILITY_DECAY,
    company_params,
    company_slot,
    company_state,
)

__all__ = ["fill_lanes", "start_lanes", "start_paths", "switches"]

_U1 = np.uint64(1)


@no_refcounts
def fill_lanes(P, theta_row, slots):
    """Write ``theta_row[k]`` into every lane of parameter row ``k``, for each ``k`` in ``slots``."""
    for k in slots:
        x = theta_row[k]
        r = offset(k)
        for i in range(np.uint64(LANES)):
            P[r + i] = x


@no_refcounts
def switches(theta_row, n_comp, chips_on, funding_on):
    """Which companies have the chips and the funding channels switched on (into the two bool arrays)."""
    for c in range(n_comp):
        off = company_slot(c)
        chips_on[c] = theta_row[off + COMPANY_SLOT.chips.enabled] > 0.5
        funding_on[c] = theta_row[off + COMPANY_SLOT.funding.enabled] > 0.5


@no_refcounts
def start_lanes(lanes, event_table, p_none, n_comp, n, dt, chips_on):
    """Initial state and per-path constants of the first ``n`` lanes (MODEL.md, start of a path)."""
    P, S, sec = lanes
    for i in range(n):
        ss_a, ss_b = ou_coefficients(P[GLOBAL.sector.narrative.kappa + i], P[GLOBAL.sector.narrative.sigma + i], dt)
        sec[MOOD + i] = P[GLOBAL.sector.narrative.initial + i]
        sec[MOOD_DECAY + i] = ss_a
        sec[MOOD_NOISE + i] = ss_b
        sec[LOG_CHAMPION_RATIO + i] = math.log(P[GLOBAL.outcomes.champion_valuation_ratio + i])
        sec[LOG_MAX_PRICE_TO_SALES + i] = math.log(P[GLOBAL.outcomes.champion_max_price_to_sales + i])
        collapse_ratio = P[GLOBAL.outcomes.collapse_valuation_ratio + i]
        sec[LOG_COLLAPSE_RATIO + i] = math.log(collapse_ratio) if collapse_ratio > 0.0 else -INF
        for e in range(event_table.shape[0]):
            p_none[offset(e) + i] = math.exp(-P[offset(event_table[e, 1]) + EVENT.hazard_per_year + i] * dt)
        for c in range(n_comp):
            cp = company_params(c)
            cs = company_state(c)
            a, b = ou_coefficients(P[cp + COMPANY.narrative.kappa + i], P[cp + COMPANY.narrative.sigma + i], dt)
            S[cs + NARRATIVE_DECAY + i] = a
            S[cs + NARRATIVE_NOISE + i] = b
            a, b = ou_coefficients(P[cp + COMPANY.growth.kappa + i], 1.0, dt)
            S[cs + GROWTH_DECAY + i] = a
            S[cs + GROWTH_NOISE + i] = b
            S[cs + VOLATILITY_DECAY + i] = math.exp(-P[cp + COMPANY.growth.volatility_decay + i] * dt)
            S[cs + LOG_BASE_MULTIPLE + i] = math.log(P[cp + COMPANY.valuation_model.base_multiple + i])
            S[cs + OPEX_GROWTH + i] = math.exp(P[cp + COMPANY.costs.opex_growth + i] * dt)
            rpc = P[cp + COMPANY.chips.revenue_per_card + i]
            S[cs + LOG_REVENUE_PER_CARD + i] = math.log(rpc) if rpc > 0.0 else -INF
            S[cs + PTRS_RATE + i] = -1.0
            S[cs + GROWTH + i] = P[cp + COMPANY.growth.initial + i]
            S[cs + LOG_DEMAND + i] = math.log(P[cp + COMPANY.revenue + i])
            S[cs + LOG_PRICE + i] = 0.0
            share = P[cp + COMPANY.pricing.compute_cost_share + i]
            S[cs + LOG_UNIT_COST + i] = math.log(share) if share > 0.0 else -INF
            S[cs + CARDS + i] = P[cp + COMPANY.chips.cards + i]
            S[cs + IMPORT_FACTOR + i] = 1.0
            S[cs + CASH + i] = P[cp + COMPANY.cash + i]
            S[cs + OPEX + i] = P[cp + COMPANY.costs.opex + i]
            S[cs + LOSS_CARRYFORWARD + i] = P[cp + COMPANY.costs.loss_carryforward + i]
            S[cs + ALIVE + i] = 1.0
            S[cs + VALUE_AT_FAILURE + i] = 0.0
            S[cs + FAILURE_MONTH + i] = 0.0
            S[cs + SIGMA_REVENUE + i] = P[cp + COMPANY.growth.sigma_revenue + i]
            S[cs + SIGMA_GROWTH + i] = P[cp + COMPANY.growth.sigma_growth + i]
            S[cs + NEW_CARDS + i] = 0.0
            S[cs + FLOW + i] = 0.0
            S[cs + RAISED + i] = 0.0
            logr, rev, logcap, g = serve(S[cs + LOG_DEMAND + i], 0.0, S[cs + LOG_UNIT_COST + i], S[cs + CARDS + i],
                                         chips_on[c], S[cs + LOG_REVENUE_PER_CARD + i],
                                         P[cp + COMPANY.pricing.scarcity_premium + i])
            S[cs + LOG_REVENUE + i] = logr
            S[cs + REVENUE + i] = rev
            S[cs + LOG_CAPACITY + i] = logcap
            S[cs + MARGIN + i] = g
            S[cs + MARGIN_AT_START + i] = g
            # The narrative at start is implied by the stated valuation.
            e0 = (math.log(P[cp + COMPANY.valuation + i] / rev) - S[cs + LOG_BASE_MULTIPLE + i]
                  - P[cp + COMPANY.valuation_model.growth_sensitivity + i] * (
                      S[cs + GROWTH + i] - P[cp + COMPANY.growth.long_run + i]))
            S[cs + NARRATIVE_AT_START + i] = e0
            S[cs + NARRATIVE + i] = e0 - P[cp + COMPANY.beta_sector + i] * sec[MOOD + i]
            S[cs + LOG_VALUATION_AT_START + i] = math.log(P[cp + COMPANY.valuation + i])
            S[cs + LOG_VALUATION + i] = S[cs + LOG_VALUATION_AT_START + i]
        start_competition(lanes, n_comp, i, P[GLOBAL.sector.competition.enabled + i] > 0.5)
    if n > 0 and P[GLOBAL.sector.competition.enabled] > 0.5:
        # The start shares by the month's own arithmetic (with concentration 0 they never move);
        # the competed demand at start is each company's revenue exactly, as its E0 assumes.
        shares(lanes, n_comp, n)
        for c in range(n_comp):
            cs = company_state(c)
            for i in range(n):
                S[cs + LOG_COMPETED + i] = S[cs + LOG_PULL_AT_START + i]


@no_refcounts
def _copy_lane0(a, n_rows, n):
    """Copy lane 0 of each of the first ``n_rows`` rows to lanes 1 .. n - 1."""
    for k in range(n_rows):
        r = offset(k)
        x = a[r]
        for i in range(_U1, n):
            a[r + i] = x


@no_refcounts
def start_paths(lanes, events, beta, n_comp, n, dt, chips_on, inputs, first):
    """Per-path parameters and the start state of the next ``n`` lanes.

    ``inputs`` = (theta slots, per-path values) of the uncertain inputs; the
    lanes are the paths from row ``first`` of the values.  ``events`` =
    (event table, branch slots, P(no arrival)); ``beta`` gets each company's
    ``beta_sector`` per lane (for the recorded narrative).
    """
    P, S, sec = lanes
    table, _, p_none = events
    unc_slots, unc_values = inputs
    n_unc = unc_slots.shape[0]
    for j in range(n_unc):
        r = offset(unc_slots[j])
        for i in range(n):
            P[r + i] = unc_values[first + np.int64(i), j]
    if n_unc > 0:
        start_lanes(lanes, table, p_none, n_comp, n, dt, chips_on)
    else:
        # Every lane starts from the same parameters: one lane's start state, copied.
        start_lanes(lanes, table, p_none, n_comp, _U1, dt, chips_on)
        _copy_lane0(S, n_comp * COMPANY_ROWS, n)
        _copy_lane0(sec, SECTOR_ROWS, n)
        _copy_lane0(p_none, table.shape[0], n)
    for c in range(n_comp):
        cp = company_params(c)
        for i in range(n):
            beta[offset(c) + i] = P[cp + COMPANY.beta_sector + i]
