"""Operations (MODEL.md steps 4-7): served revenue, gross margin, taxes, cash flow and market valuation.

Served revenue is demand (with competition on, the competed demand of
MODEL.md step 9) capped by the revenue capacity of the installed cards; the scarcity premium raises unit compute cost when demand exceeds
capacity; the month's operating result, card purchases, interest and taxes
(after the loss carry-forward) move cash; the valuation prices revenue by
the base multiple, growth and margin terms and the effective narrative,
capped far above its start value.  ``lanes`` is ``(P, S, sec)``.
"""

from numba import njit

from simulator.engines.kernels.fastmath import INF, fast_exp, fast_log
from simulator.engines.kernels.rng import U0, U1, no_refcounts
from simulator.engines.kernels.state import (
    ALIVE,
    CARDS,
    CASH,
    COMPANY,
    FLOW,
    GROWTH,
    LOG_BASE_MULTIPLE,
    LOG_CAPACITY,
    LOG_COMPETED,
    LOG_DEMAND,
    LOG_PRICE,
    LOG_REVENUE,
    LOG_REVENUE_PER_CARD,
    LOG_UNIT_COST,
    LOG_VALUATION,
    LOG_VALUATION_AT_START,
    LOSS_CARRYFORWARD,
    MARGIN,
    MARGIN_AT_START,
    MOOD,
    NARRATIVE,
    NEW_CARDS,
    OPEX,
    OPEX_GROWTH,
    REVENUE,
    company_params,
    company_state,
)
from simulator.model.quantities import MAX_LOG_VALUATION_RATIO

__all__ = ["operate", "serve"]


@njit(cache=True, error_model="numpy", inline="always")
def serve(logd, logp, logc, cards, chips_on, log_rpc, scarcity):
    """(log served revenue, served revenue, log capacity, gross margin) from demand, price, cost, cards."""
    if chips_on:
        logcap = fast_log(cards) + log_rpc + logp
    else:
        logcap = INF
    logr = logd if logd < logcap else logcap
    unit = fast_exp(logc - logp)  # compute cost per unit of price
    short = logd > logcap
    # fast_exp(inf) would not arise: short implies logcap < logd < inf.
    premium = 1.0 + scarcity * (fast_exp(logd - logcap) - 1.0)
    unit = unit * premium if (scarcity > 0.0 and short and logcap > -INF) else unit
    return logr, fast_exp(logr), logcap, 1.0 - unit


@no_refcounts
def operate(lanes, c, n, dt, chips_on, funding_on, competing):
    """Served revenue, margin, taxes, cash and valuation of company ``c`` in every live lane.

    ``competing``: the demand served is the competed demand (MODEL.md step 9), not ``D``.

    Returns the lanes short of cash (runway below the trigger, or negative
    cash) as a bit mask, and how many they are; none when funding is off.
    """
    P, S, sec = lanes
    cs = company_state(c)
    cp = company_params(c)
    need = U0
    n_need = 0
    for i in range(n):
        alive = S[cs + ALIVE + i] > 0.5
        # Both rows are loaded, then one is chosen: a load inside a branch kept the loop from vectorising.
        competed = S[cs + LOG_COMPETED + i]
        own = S[cs + LOG_DEMAND + i]
        logd = competed if competing else own
        logr, rev, logcap, g = serve(logd, S[cs + LOG_PRICE + i], S[cs + LOG_UNIT_COST + i],
                                     S[cs + CARDS + i], chips_on, S[cs + LOG_REVENUE_PER_CARD + i],
                                     P[cp + COMPANY.pricing.scarcity_premium + i])
        opex = S[cs + OPEX + i]
        op = (rev * g - opex) * dt
        lcf = S[cs + LOSS_CARRYFORWARD + i]
        used = lcf if lcf < op else op
        tax = 0.0 if op < 0.0 else P[cp + COMPANY.costs.tax_rate + i] * (op - used)
        lcf_new = lcf - op if op < 0.0 else lcf - used
        cash = S[cs + CASH + i]
        flow = (op - S[cs + NEW_CARDS + i] * P[cp + COMPANY.chips.card_price + i]
                + P[cp + COMPANY.costs.interest_rate + i] * cash * dt - tax)
        cash_new = cash + flow
        # Valuation (before any failure).
        e = S[cs + NARRATIVE + i] + P[cp + COMPANY.beta_sector + i] * sec[MOOD + i]
        logv = (logr + S[cs + LOG_BASE_MULTIPLE + i]
                + P[cp + COMPANY.valuation_model.growth_sensitivity + i] * (
                    S[cs + GROWTH + i] - P[cp + COMPANY.growth.long_run + i])
                + P[cp + COMPANY.valuation_model.margin_sensitivity + i] * (g - S[cs + MARGIN_AT_START + i]) + e)
        cap = S[cs + LOG_VALUATION_AT_START + i] + MAX_LOG_VALUATION_RATIO
        logv = logv if logv < cap else cap
        logv = logv if logr > -INF else -INF
        S[cs + LOG_REVENUE + i] = logr if alive else S[cs + LOG_REVENUE + i]
        S[cs + REVENUE + i] = rev if alive else S[cs + REVENUE + i]
        S[cs + LOG_CAPACITY + i] = logcap if alive else S[cs + LOG_CAPACITY + i]
        S[cs + MARGIN + i] = g if alive else S[cs + MARGIN + i]
        S[cs + LOSS_CARRYFORWARD + i] = lcf_new if alive else lcf
        S[cs + CASH + i] = cash_new if alive else cash
        S[cs + FLOW + i] = flow
        S[cs + OPEX + i] = opex * S[cs + OPEX_GROWTH + i] if alive else opex
        S[cs + LOG_VALUATION + i] = logv if alive else S[cs + LOG_VALUATION + i]
        low = (-flow > 0.0 and cash_new < P[cp + COMPANY.funding.runway_trigger_months + i] * -flow) or cash_new < 0.0
        flag = alive and low and funding_on
        need |= (U1 << i) if flag else U0
        n_need += 1 if flag else 0
    return need, n_need
