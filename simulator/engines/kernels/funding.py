"""Funding and failure (MODEL.md step 6): market raises, the state backstop, absorbing failure.

When the runway (cash over the month's burn) is short, a raise succeeds with
the logistic probability of the effective narrative and brings a share of
the valuation; if cash is still negative the state steps in with its
probability; a company whose cash stays negative fails: failure is absorbing
and its valuation is the recovery share of the valuation at failure.  A
backstop smaller than the shortfall does not save the company.  The money
brought in (raises and backstop), discounted to the start at the company's
``discount_rate``, is summed in the ``RAISED`` row for the business value.
``lanes`` is ``(P, S, sec)``.
"""

import math

from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from simulator.engines.kernels.fastmath import fast_exp
from simulator.engines.kernels.lanes import FUNDING, lane_masked_double
from simulator.engines.kernels.rng import U0, U1, no_refcounts
from simulator.engines.kernels.state import (
    ALIVE,
    CASH,
    COMPANY,
    FAILURE_MONTH,
    FLOW,
    LOG_VALUATION,
    MOOD,
    NARRATIVE,
    RAISED,
    VALUE_AT_FAILURE,
    company_params,
    company_state,
)

__all__ = ["fail", "fund"]


@no_refcounts
def fund(lanes, rs, c, n, need, n_need, t):
    """Market raises and the state backstop of company ``c`` in the lanes of ``need``, from their funding streams.

    A lane draws one uniform for a raise when its runway is short, then one for
    the backstop if its cash is still negative; other lanes draw nothing.  With
    few lanes in the mask only those are visited; with many, one branch-free
    pass over all lanes is cheaper (lanes outside the mask neither want a raise
    nor have negative cash, so the pass leaves them as they are).  ``t`` is the
    time of the month's end in years (the money raised is discounted from it).
    """
    if n_need > 12:
        for i in range(n):
            _fund_lane(lanes, rs, c, i, t)
        return
    while need != U0:
        i = trailing_zeros(need)
        need &= need - U1
        _fund_lane(lanes, rs, c, i, t)


@njit(cache=True, error_model="numpy", inline="always")
def _fund_lane(lanes, rs, c, i, t):
    """Raise and backstop of lane ``i``, branch-free (masked draws), so a loop over lanes vectorises."""
    P, S, sec = lanes
    cs = company_state(c)
    cp = company_params(c)
    alive = S[cs + ALIVE + i] > 0.5
    burn = -S[cs + FLOW + i]
    cash = S[cs + CASH + i]
    want = alive and burn > 0.0 and cash < P[cp + COMPANY.funding.runway_trigger_months + i] * burn
    e_eff = S[cs + NARRATIVE + i] + P[cp + COMPANY.beta_sector + i] * sec[MOOD + i]
    x = P[cp + COMPANY.funding.base_logit + i] + P[cp + COMPANY.funding.narrative_sensitivity + i] * e_eff
    prob = 1.0 / (1.0 + fast_exp(-x))
    u = lane_masked_double(rs, FUNDING, i, want)
    raised = P[cp + COMPANY.funding.raise_fraction_of_valuation + i] * fast_exp(S[cs + LOG_VALUATION + i])
    got = want and u < prob
    cash = cash + raised if got else cash
    short = alive and cash < 0.0
    u = lane_masked_double(rs, FUNDING, i, short)
    backstop = P[cp + COMPANY.funding.backstop + i]
    saved = short and u < P[cp + COMPANY.funding.backstop_probability + i]
    cash = cash + backstop if saved else cash
    S[cs + CASH + i] = cash
    brought = (raised if got else 0.0) + (backstop if saved else 0.0)
    S[cs + RAISED + i] += brought * fast_exp(-P[cp + COMPANY.valuation_model.discount_rate + i] * t)


@no_refcounts
def fail(lanes, c, n, m):
    """Absorbing failure, in month ``m``, of company ``c`` in the live lanes with negative cash."""
    P, S, _ = lanes
    cs = company_state(c)
    cp = company_params(c)
    for i in range(n):
        if S[cs + ALIVE + i] > 0.5 and S[cs + CASH + i] < 0.0:
            S[cs + ALIVE + i] = 0.0
            S[cs + FAILURE_MONTH + i] = m
            S[cs + VALUE_AT_FAILURE + i] = P[cp + COMPANY.funding.recovery_fraction + i] * math.exp(
                S[cs + LOG_VALUATION + i])
