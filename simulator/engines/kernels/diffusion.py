"""Diffusions (MODEL.md steps 2-4): sector mood, company narrative, growth, demand, price and unit cost.

Exact Ornstein-Uhlenbeck steps for the mood, the narrative and expected
growth; the Schwartz-Moon revenue step with the month's growth and
volatility, lowered by the market price of risk, and the demand response to
price; log price and log unit cost with the compute pass-through; the
volatilities' decay to their long-run values.  A failed company's state is
frozen.  ``lanes`` is ``(P, S, sec)``; the month's normals are rows of
``draws``.
"""

import math

from numba import njit

from simulator.engines.kernels.lanes import row
from simulator.engines.kernels.rng import no_refcounts
from simulator.engines.kernels.state import (
    ALIVE,
    COMPANY,
    GLOBAL,
    GROWTH,
    GROWTH_DECAY,
    GROWTH_NOISE,
    LOG_DEMAND,
    LOG_PRICE,
    LOG_UNIT_COST,
    MOOD,
    MOOD_DECAY,
    MOOD_NOISE,
    NARRATIVE,
    NARRATIVE_DECAY,
    NARRATIVE_NOISE,
    SIGMA_GROWTH,
    SIGMA_REVENUE,
    VOLATILITY_DECAY,
    company_params,
    company_state,
)

__all__ = ["diffuse", "ou_coefficients", "sector_mood"]

_Z_NARRATIVE, _Z_GROWTH, _Z_DEMAND, _Z_PRICE = row(0), row(1), row(2), row(3)


@njit(cache=True, error_model="numpy", inline="always")
def ou_coefficients(kappa, sigma, dt):
    """Exact OU step: x' = m + (x - m) a + b z; kappa = 0 is a random walk."""
    if kappa > 0.0:
        a = math.exp(-kappa * dt)
        b = sigma * math.sqrt((1.0 - a * a) / (2.0 * kappa))
    else:
        a = 1.0
        b = sigma * math.sqrt(dt)
    return a, b


@no_refcounts
def sector_mood(P, sec, draws, at, n):
    """The sector mood's OU step, its normal from the row of ``draws`` at offset ``at``."""
    for i in range(n):
        lr = P[GLOBAL.sector.narrative.long_run + i]
        sec[MOOD + i] = lr + (sec[MOOD + i] - lr) * sec[MOOD_DECAY + i] + sec[MOOD_NOISE + i] * draws[at + i]


@no_refcounts
def diffuse(lanes, c, draws, z, n, dt, sqdt):
    """Narrative, growth, demand, price and cost of company ``c`` in every live lane for one month.

    Its four normals (narrative, growth, demand, price) are the rows of
    ``draws`` from offset ``z``.
    """
    P, S, _ = lanes
    cs = company_state(c)
    cp = company_params(c)
    for i in range(n):
        alive = S[cs + ALIVE + i] > 0.5
        lr_n = P[cp + COMPANY.narrative.long_run + i]
        nn = (lr_n + (S[cs + NARRATIVE + i] - lr_n) * S[cs + NARRATIVE_DECAY + i]
              + S[cs + NARRATIVE_NOISE + i] * draws[z + _Z_NARRATIVE + i])
        sig_r = S[cs + SIGMA_REVENUE + i]
        sig_g = S[cs + SIGMA_GROWTH + i]
        mu = S[cs + GROWTH + i]
        dlogp = (P[cp + COMPANY.pricing.price_drift + i] * dt
                 + P[cp + COMPANY.pricing.price_sigma + i] * sqdt * draws[z + _Z_PRICE + i])
        logd = S[cs + LOG_DEMAND + i] + ((mu - P[cp + COMPANY.growth.market_price_of_risk + i] * sig_r
                                          - 0.5 * sig_r * sig_r) * dt
                                         + sig_r * sqdt * draws[z + _Z_DEMAND + i]
                                         - P[cp + COMPANY.pricing.elasticity + i] * dlogp)
        lr_g = P[cp + COMPANY.growth.long_run + i]
        mu_new = lr_g + (mu - lr_g) * S[cs + GROWTH_DECAY + i] + sig_g * S[cs + GROWTH_NOISE + i] * draws[
            z + _Z_GROWTH + i]
        logp = S[cs + LOG_PRICE + i] + dlogp
        logc = (S[cs + LOG_UNIT_COST + i] + P[cp + COMPANY.pricing.pass_through + i] * dlogp
                + P[cp + COMPANY.pricing.compute_cost_drift + i] * dt)
        # Schwartz-Moon volatility decay towards the long-run values.
        decay = S[cs + VOLATILITY_DECAY + i]
        sr_inf = P[cp + COMPANY.growth.sigma_revenue_long_run + i]
        S[cs + NARRATIVE + i] = nn if alive else S[cs + NARRATIVE + i]
        S[cs + GROWTH + i] = mu_new if alive else mu
        S[cs + LOG_DEMAND + i] = logd if alive else S[cs + LOG_DEMAND + i]
        S[cs + LOG_PRICE + i] = logp if alive else S[cs + LOG_PRICE + i]
        S[cs + LOG_UNIT_COST + i] = logc if alive else S[cs + LOG_UNIT_COST + i]
        S[cs + SIGMA_REVENUE + i] = sr_inf + (sig_r - sr_inf) * decay if alive else sig_r
        S[cs + SIGMA_GROWTH + i] = sig_g * decay if alive else sig_g
