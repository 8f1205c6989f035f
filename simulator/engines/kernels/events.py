"""Events (MODEL.md step 1): Poisson arrivals, their branch, and their effects on every channel.

Each event type arrives as Poisson with its hazard; an arrival picks a branch
by its probability and applies the branch's effects: a narrative jump (the
sector mood for sector events, the company narrative otherwise), a growth
jump, a log-demand jump, an import multiplier (a cut below 1, an easing above),
cash and an opex multiplier; with competition on, a sector event's jumps of
the log market and of the platforms' log pull (MODEL.md step 9), drawn after
the others so that no draw moves when competition is off.  Failed
companies take no economic effect (their narrative still takes jumps).

``lanes`` is ``(P, S, sec)``: lane parameters, company state, sector state.
``events`` is ``(table, branch_slots, p_none)``: the integer event table
(columns of :data:`simulator.model.parameters.EVENT_TABLE`), the theta slot of
each branch record, and each event's P(no arrival this month) per lane.
"""

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from simulator.engines.kernels.lanes import EVENTS, lane_load, lane_store, offset
from simulator.engines.kernels.rng import U0, U1, next_double, no_refcounts, standard_normal
from simulator.engines.kernels.state import (
    ALIVE,
    BRANCH,
    CASH,
    EVENT,
    GLOBAL,
    GROWTH,
    IMPORT_FACTOR,
    LOG_DEMAND,
    LOG_MARKET,
    MOOD,
    NARRATIVE,
    OPEX,
    PLATFORM_PULL,
    company_state,
)

__all__ = ["apply_event", "arrivals", "poisson_inverse", "replay"]

# Columns of the event table (simulator.model.parameters.EVENT_TABLE).
_COMPANY, _SLOT, _FIRST_BRANCH, _N_BRANCHES = 0, 1, 2, 3


@njit(cache=True, error_model="numpy", inline="always")
def poisson_inverse(u, lam, p0):
    """Poisson(lam) by inversion of one uniform (``p0`` = exp(-lam)): monotone in lam (common random numbers)."""
    if lam <= 0.0 or u <= p0:
        return 0
    # The first step without the division (lam / 1 is lam): most arrivals are
    # single, and the division's latency was most of their inversion.
    p = p0 * lam
    cdf = p0 + p
    k = 1
    while u > cdf and k < 10_000:
        k += 1
        p *= lam / k
        cdf += p
    return k


@no_refcounts
def _draw_jump(gen, mean, sd):
    if sd > 0.0:
        return mean + sd * standard_normal(gen)
    return mean


@no_refcounts
def _uniform_in(gen, lo, hi):
    """A value uniform in [lo, hi], drawn only when the range has a width (a fixed value draws nothing)."""
    return lo + (hi - lo) * next_double(gen) if hi > lo else lo


@no_refcounts
def arrivals(lanes, rng, events, draws, d0, n, n_comp, dt, tape, record):
    """Event arrivals of every lane this month, by inversion of its uniform, and their effects.

    Per event type, the lanes with arrivals (u > P(none)) are first found as a
    bit mask in one branch-free pass, then only those lanes are visited, in
    lane order: a per-lane test mispredicted at every rare arrival.  The
    month's uniforms are the rows after ``d0`` of ``draws`` (one per event
    type); ``rng`` is (lane streams, scalar scratch state).  With ``record``,
    every arrival's draws are also appended to the ``tape`` (``tape[2][0]``
    records; ``tape[2][1]`` set when it is full), so that parameter sets with
    the same events can :func:`replay` them instead of drawing them again.
    """
    table, branch_slots, p_none = events
    rs, one = rng
    for e in range(table.shape[0]):
        at = d0 + offset(1 + e)
        pe = offset(e)
        hit = U0
        for i in range(n):
            hit |= (U1 << i) if draws[at + i] > p_none[pe + i] else U0
        while hit != U0:
            i = trailing_zeros(hit)
            hit &= hit - U1
            lane_load(rs, EVENTS, i, one)
            _event_lane(lanes, table, branch_slots, e, draws[at + i], p_none[pe + i], i, n_comp, dt, one,
                        tape, record)
            lane_store(rs, EVENTS, i, one)


@njit(cache=True, error_model="numpy", inline="always")
def _event_lane(lanes, table, branch_slots, e, u, p0, i, n_comp, dt, ge, tape, record):
    """Arrivals of event ``e`` in lane ``i`` this month (u > P(none)) and their effects."""
    P = lanes[0]
    count = poisson_inverse(u, P[offset(table[e, _SLOT]) + EVENT.hazard_per_year + i] * dt, p0)
    comp = table[e, _COMPANY]
    for _ in range(count):
        first = table[e, _FIRST_BRANCH]
        nbr = table[e, _N_BRANCHES]
        b = first + nbr - 1
        if nbr > 1:
            total = 0.0
            for k in range(nbr):
                total += P[offset(branch_slots[first + k]) + BRANCH.probability + i]
            ub = next_double(ge) * total
            acc = 0.0
            for k in range(nbr):
                acc += P[offset(branch_slots[first + k]) + BRANCH.probability + i]
                if ub < acc:
                    b = first + k
                    break
        slot = branch_slots[b]
        br = offset(slot)
        narr = _draw_jump(ge, P[br + BRANCH.narrative.mean + i], P[br + BRANCH.narrative.sd + i])
        growth = _draw_jump(ge, P[br + BRANCH.growth.mean + i], P[br + BRANCH.growth.sd + i])
        demand = _draw_jump(ge, P[br + BRANCH.demand.mean + i], P[br + BRANCH.demand.sd + i])
        cut = _uniform_in(ge, P[br + BRANCH.import_cut.low + i], P[br + BRANCH.import_cut.high + i])
        ease = _uniform_in(ge, P[br + BRANCH.import_multiplier.low + i], P[br + BRANCH.import_multiplier.high + i])
        imports = (1.0 - cut) * ease  # the import factor's multiplier: a cut, an easing, or both
        # Shared market effects: sector events with competition on only (nothing drawn otherwise).
        shared = comp < 0 and P[GLOBAL.sector.competition.enabled + i] > 0.5
        market = _draw_jump(ge, P[br + BRANCH.market.mean + i], P[br + BRANCH.market.sd + i]) if shared else 0.0
        platforms = (_draw_jump(ge, P[br + BRANCH.platforms.mean + i], P[br + BRANCH.platforms.sd + i])
                     if shared else 0.0)
        if record:
            tape_i, tape_f, tape_n = tape
            k = tape_n[0]
            if k < tape_i.shape[0]:
                tape_i[k, 0] = np.int64(i)
                tape_i[k, 1] = comp
                tape_i[k, 2] = slot
                tape_f[k, 0] = narr
                tape_f[k, 1] = growth
                tape_f[k, 2] = demand
                tape_f[k, 3] = imports
                tape_f[k, 4] = market
                tape_f[k, 5] = platforms
                tape_n[0] = k + 1
            else:
                tape_n[1] = 1
        apply_event(lanes, br, comp, (narr, growth, demand, imports, market, platforms), i, n_comp)


@no_refcounts
def apply_event(lanes, br, comp, jumps, i, n_comp):
    """Effects of one arrival (branch record at row offset ``br``; ``jumps`` its drawn values) on lane ``i``."""
    P, S, sec = lanes
    narr, growth, demand, imports, market, platforms = jumps
    cash = P[br + BRANCH.cash + i]
    opex_mult = P[br + BRANCH.opex + i]
    if comp < 0:
        sec[MOOD + i] += narr
        sec[LOG_MARKET + i] += market
        sec[PLATFORM_PULL + i] += platforms
        c0, c1 = 0, n_comp
    else:
        S[company_state(comp) + NARRATIVE + i] += narr
        c0, c1 = comp, comp + 1
    for c in range(c0, c1):
        cs = company_state(c)
        if S[cs + ALIVE + i] < 0.5:
            continue
        S[cs + GROWTH + i] += growth
        S[cs + LOG_DEMAND + i] += demand
        S[cs + IMPORT_FACTOR + i] *= imports
        S[cs + CASH + i] += cash
        S[cs + OPEX + i] *= opex_mult


@no_refcounts
def replay(lanes, tape, k0, k1, n_comp):
    """Apply the recorded arrivals ``k0 .. k1 - 1`` in their order (same draws, this set's state)."""
    tape_i, tape_f, _ = tape
    for k in range(k0, k1):
        apply_event(lanes, offset(tape_i[k, 2]), tape_i[k, 1],
                    (tape_f[k, 0], tape_f[k, 1], tape_f[k, 2], tape_f[k, 3], tape_f[k, 4], tape_f[k, 5]),
                    np.uint64(tape_i[k, 0]), n_comp)
