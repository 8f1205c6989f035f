"""Chips (MODEL.md step 5): card deliveries, Poisson(domestic + imports x import factor), and depreciation.

At the set's starting rate, a delivery is the inversion of the lane's supply
uniform through a table of the Poisson CDF (monotone: common random numbers);
at any other rate (after an export cut) it is numpy's PTRS sampler on the
lane's supply stream (its quick acceptance for all lanes at once, the rest
lane by lane), or below a rate of 10 numpy's multiplication sampler.  A first
branch-free pass sorts the lanes into bit masks, so no per-lane branch is
mispredicted when lanes with and without an export cut are mixed.

``supply`` is ``(tables, guides, table_len, table_rate)`` of one parameter
set: per company the CDF table at its starting rate, its guide table, its
length (0: none) and that rate.
"""

import math

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from simulator.engines.kernels.lanes import SUPPLY, lane_load, lane_masked_double, lane_store, row
from simulator.engines.kernels.rng import U0, U1, no_refcounts, poisson, poisson_ptrs_rest, ptrs_constants
from simulator.engines.kernels.state import (
    ALIVE,
    CARDS,
    COMPANY,
    COMPANY_SLOT,
    IMPORT_FACTOR,
    NEW_CARDS,
    PTRS,
    PTRS_RATE,
    company_params,
    company_slot,
    company_state,
)

__all__ = ["MAX_TABLE", "SCRATCH_ROWS", "deliveries", "poisson_cdf_table", "ptrs_lanes", "supply_tables"]

#: Largest table for Poisson inversion of card supply; larger means the generator's own sampler.
MAX_TABLE = 8192
#: Rows of the supply scratch lane array: PTRS flag, u (first the rate), v, us, k.
SCRATCH_ROWS = 5
_FLAG, _U, _V, _US, _K = row(0), row(1), row(2), row(3), row(4)
_LOGLAM, _A, _B, _LOG_INVALPHA, _VR = PTRS + row(0), PTRS + row(1), PTRS + row(2), PTRS + row(3), PTRS + row(4)


@no_refcounts
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


@no_refcounts
def supply_tables(theta_row, n_comp, supply):
    """Inversion table of each company's card supply at its starting rate (``table_len`` 0: none).

    ``tables`` and ``guides`` may be uninitialised: :func:`poisson_cdf_table`
    writes every entry inversion reads (below ``table_len``).
    """
    tables, guides, table_len, table_rate = supply
    for c in range(n_comp):
        off = company_slot(c)
        lam = theta_row[off + COMPANY_SLOT.chips.domestic_per_month] + theta_row[off + COMPANY_SLOT.chips.imports_per_month]
        table_len[c] = 0
        table_rate[c] = -1.0
        if lam > 0.0:
            table_len[c] = poisson_cdf_table(lam, tables[c], guides[c])
            table_rate[c] = lam


@no_refcounts
def deliveries(lanes, rng, c, us, sup, supply, n, dt):
    """New cards of company ``c`` in every live lane, and its installed cards after depreciation.

    ``us`` holds the month's supply uniform of each lane (drawn for every lane,
    live or not: common random numbers); ``sup`` is scratch
    (:data:`SCRATCH_ROWS` rows); ``rng`` is (lane streams, scalar scratch state).
    """
    P, S, _ = lanes
    rs, one = rng
    tables, guides, table_len, table_rate = supply
    cs = company_state(c)
    cp = company_params(c)
    n_tab = table_len[c]
    lam_tab = table_rate[c]
    last = tables[c, n_tab - 1] if n_tab > 0 else -1.0
    tab = U0  # lanes served by the table
    rare = U0  # lanes needing fresh PTRS constants or the multiplication sampler
    n_ptrs = 0
    for i in range(n):
        alive = S[cs + ALIVE + i] > 0.5
        lam = P[cp + COMPANY.chips.domestic_per_month + i] + P[cp + COMPANY.chips.imports_per_month + i] * S[
            cs + IMPORT_FACTOR + i]
        on_tab = alive and lam == lam_tab and us[i] <= last
        ptrs = alive and not on_tab and lam >= 10.0
        small = alive and not on_tab and not ptrs and lam > 0.0
        stale = ptrs and lam != S[cs + PTRS_RATE + i]
        bit = U1 << i
        tab |= bit if on_tab else U0
        rare |= bit if (small or stale) else U0
        n_ptrs += 1 if ptrs else 0
        sup[_FLAG + i] = 1.0 if ptrs else 0.0
        sup[_U + i] = lam
        S[cs + NEW_CARDS + i] = 0.0  # dead and zero-rate lanes; the samplers write the others
    while tab != U0:
        i = trailing_zeros(tab)
        tab &= tab - U1
        u = us[i]
        j = guides[c, int(u * n_tab)]
        while tables[c, j] < u:
            j += 1
        S[cs + NEW_CARDS + i] = float(j)
    while rare != U0:
        i = trailing_zeros(rare)
        rare &= rare - U1
        lam = sup[_U + i]
        if sup[_FLAG + i] > 0.5:
            S[cs + PTRS_RATE + i] = lam
            (S[cs + _LOGLAM + i], S[cs + _A + i], S[cs + _B + i], S[cs + _LOG_INVALPHA + i],
             S[cs + _VR + i]) = ptrs_constants(lam)
        else:
            lane_load(rs, SUPPLY, i, one)
            S[cs + NEW_CARDS + i] = poisson(one, lam)
            lane_store(rs, SUPPLY, i, one)
    if n_ptrs > 0:
        ptrs_lanes(S, cs, rng, sup, n)
    for i in range(n):
        alive = S[cs + ALIVE + i] > 0.5
        cards = S[cs + CARDS + i] * (1.0 - P[cp + COMPANY.chips.depreciation + i] * dt) + S[cs + NEW_CARDS + i]
        S[cs + CARDS + i] = cards if alive else S[cs + CARDS + i]


@no_refcounts
def _ptrs_quick_lanes(S, cs, rs, sup, n):
    """numpy's PTRS first try for the flagged lanes: new cards where it accepts.

    Returns the lanes it rejected as a bit mask (their u, v, us, k are left in
    ``sup`` for numpy's loop, which writes their cards).
    """
    pending = U0
    for i in range(n):
        on = sup[_FLAG + i] > 0.5
        u = lane_masked_double(rs, SUPPLY, i, on) - 0.5
        v = lane_masked_double(rs, SUPPLY, i, on)
        lam = S[cs + PTRS_RATE + i]
        pa = S[cs + _A + i]
        pb = S[cs + _B + i]
        vr = S[cs + _VR + i]
        us = 0.5 - abs(u)
        k = np.floor((2.0 * pa / us + pb) * u + lam + 0.43)
        ok = us >= 0.07 and v <= vr
        sup[_U + i] = u
        sup[_V + i] = v
        sup[_US + i] = us
        sup[_K + i] = k
        S[cs + NEW_CARDS + i] = k if (on and ok) else S[cs + NEW_CARDS + i]
        pending |= (U1 << i) if (on and not ok) else U0
    return pending


@no_refcounts
def ptrs_lanes(S, cs, rng, sup, n):
    """New cards by numpy's PTRS for the flagged lanes (``sup`` row 0), from their supply streams.

    The quick acceptance (most draws) for all lanes at once; numpy's loop for
    the lanes it rejects (about a quarter, at random: visited through a bit
    mask, as a per-lane test would be mispredicted), lane by lane.  ``cs`` is
    the company's first state row (the cached constants and the new cards).
    """
    rs, one = rng
    pending = _ptrs_quick_lanes(S, cs, rs, sup, n)
    while pending != U0:
        i = trailing_zeros(pending)
        pending &= pending - U1
        lane_load(rs, SUPPLY, i, one)
        constants = (S[cs + _LOGLAM + i], S[cs + _A + i], S[cs + _B + i], S[cs + _LOG_INVALPHA + i],
                     S[cs + _VR + i])
        S[cs + NEW_CARDS + i] = float(poisson_ptrs_rest(
            one, S[cs + PTRS_RATE + i], constants, (sup[_U + i], sup[_V + i], sup[_US + i], sup[_K + i])))
        lane_store(rs, SUPPLY, i, one)
