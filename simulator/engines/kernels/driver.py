"""The task driver: one group of tasks on one thread, lane group by lane group, month by month.

A task is one block of paths under one parameter set.  :func:`run_group` runs
group ``g`` of the tasks (bundles in :mod:`simulator.engines.kernels.bundles`):
one set's blocks, or, for many parameter sets, up to 16 consecutive sets with
all their blocks (set-major).  The sets of a group see the same random
numbers (common random numbers): each group of lanes is seeded once, its
diffusion draws for every month are drawn once into a buffer the sets read,
and, when the sets' event parameters are equal, the event arrivals drawn for
the first set are replayed for the others.  Every set's results are those it
gets when simulated alone (tests/test_sensitivity.py checks it).

The month runs the channels in MODEL.md's order: draws, events, sector mood,
every company's diffusion, with competition on the market and the shares
(step 9: they need every company's pull), and per company chips, operations,
funding and failure; then the month is recorded and, at a horizon, classified.  Integer tallies are per
thread and exact in any order; floating-point moments are per task and merged
in task order by the caller, so results never depend on the number of threads.
"""

import math

import numpy as np
from numba import njit

from simulator.engines.kernels.atomic import fetch_add
from simulator.engines.kernels.chips import SCRATCH_ROWS, deliveries, supply_tables
from simulator.engines.kernels.competition import compete
from simulator.engines.kernels.diffusion import diffuse, sector_mood
from simulator.engines.kernels.events import arrivals, replay
from simulator.engines.kernels.fastmath import INF
from simulator.engines.kernels.funding import fail, fund
from simulator.engines.kernels.lanes import (
    DIFFUSION,
    LANES,
    MARKET,
    SUPPLY,
    lane_double_rows,
    lane_doubles,
    lane_normal_rows,
    offset,
    seed_lanes,
)
from simulator.engines.kernels.operations import operate
from simulator.engines.kernels.outcomes import finish_lanes, horizon_lanes
from simulator.engines.kernels.record import (
    flush_bins,
    flush_share_bins,
    keep_lanes,
    record_lanes,
    record_shares,
    trace_lanes,
)
from simulator.engines.kernels.rng import no_refcounts
from simulator.engines.kernels.start import fill_lanes, start_paths, switches
from simulator.engines.kernels.state import GLOBAL_SLOT
from simulator.model.quantities import N_VARS

__all__ = ["SCRATCH_ROWS", "run_group", "run_groups"]

_U0 = np.uint64(0)
# Typed constants, not literals: a literal argument would compile a second version of the callee.
_ONE_ROW = np.int64(1)
_TWO_ROWS = np.int64(2)
_MONTH0 = np.int64(0)


@njit(cache=True, error_model="numpy", inline="always")
def draw_month(rs, draws, at, n_events, n_comp, scratch, n):
    """The diffusion stream's draws of one month, in each path's order, into the rows of ``draws`` from ``at``.

    The sector normal, one uniform per event type, four normals per company:
    a fixed number whatever the state, so they can be drawn ahead.
    """
    lane_normal_rows(rs, DIFFUSION, draws, at, _ONE_ROW, scratch, n)
    lane_double_rows(rs, DIFFUSION, draws, at + offset(1), n_events, n)
    lane_normal_rows(rs, DIFFUSION, draws, at + offset(1 + n_events), 4 * n_comp, scratch, n)


@no_refcounts
def _copy(src, dst):
    """``dst[:] = src`` for two flat arrays of one length (a loop: numba's slice copy formats its errors)."""
    for k in range(src.shape[0]):
        dst[k] = src[k]


@no_refcounts
def run_months(j, where, buffers, model, plan, out, work):
    """Months 1 .. n_months of one group of lanes under set ``j`` of the group.

    ``where`` = (set, task, thread, first path of the task, first lane's path
    within the task, lanes, paths kept, draws made ahead, tape mode): tape mode
    1 records the event arrivals, 2 replays them (sets whose event parameters
    are those of the recording set), 0 neither.  ``buffers`` = the set's bins
    and extremes of this block, and its share bins (competition).  Compiled without reference counting: every
    array read from a bundle inside the month loop would otherwise cost two
    atomic instructions.
    """
    s, t, tid, path0, base, n, keep_n, drawn, mode = where
    P, S, sec, draws, rs = work.P, work.S, work.sec, work.draws, work.rs
    lanes = (P, S, sec)
    rng = (rs, work.one)
    scratch = (work.raw, work.one)
    events = (model.events, model.branches, work.p_none)
    tape = (work.tape_i, work.tape_f, work.tape_n)
    supply = (work.tables[j], work.guides[j], work.table_len[j], work.table_rate[j])
    chips_on = work.chips[j]
    funding_on = work.funding[j]
    competing = work.compete[j]
    horizon_tally = (out.counts, out.any_champion, out.n_champions, out.vh, out.market_exceed, out.path_outcome,
                     out.pairs, out.reached, work.oc)
    slot = tid if out.share_hist.shape[0] > 1 else 0
    n_events = model.events.shape[0]
    n_comp = model.n_comp
    n_hor = plan.horizons.shape[0]
    per_month = 1 + n_events + 4 * n_comp
    dt = plan.dt
    sqdt = math.sqrt(dt)
    keeping = path0 + base < keep_n
    trace_n = plan.trace_n if s == 0 else 0
    tracing = path0 + base < trace_n
    h_idx = _MONTH0
    for m in range(1, plan.n_months + 1):
        # 1. Draws of the diffusion stream.
        if drawn:
            d0 = offset((m - 1) * per_month)
        else:
            d0 = _U0
            draw_month(rs, draws, d0, n_events, n_comp, scratch, n)
        # 2. Events: arrivals by inversion of one uniform each (fixed draws);
        # most months have none (one comparison with P(0 events)).
        if mode == 2:
            replay(lanes, tape, work.tape_end[m - 1], work.tape_end[m], n_comp)
        else:
            arrivals(lanes, rng, events, draws, d0, n, n_comp, dt, tape, mode == 1)
            work.tape_end[m] = work.tape_n[0]
        # 3. Sector mood; every company's narrative, growth, demand (its pull), price and cost.
        sector_mood(P, sec, draws, d0, n)
        for c in range(n_comp):
            diffuse(lanes, c, draws, d0 + offset(1 + n_events + 4 * c), n, dt, sqdt)
        # 4. Competition: the market, the platforms' pull, shares and competed demand (its own stream).
        if competing:
            lane_normal_rows(rs, MARKET, work.market_z, _U0, _TWO_ROWS, scratch, n)
            compete(lanes, work.market_z, n_comp, n, dt, sqdt)
        for c in range(n_comp):
            # 5. Chips: one supply uniform per path, live or not (common random numbers).
            if chips_on[c]:
                lane_doubles(rs, SUPPLY, work.us, _U0, n)
                deliveries(lanes, rng, c, work.us, work.sup, supply, n, dt)
            # 6. Revenue, margin, cash; funding, backstop, failure.
            need, n_need = operate(lanes, c, n, dt, chips_on[c], funding_on[c], competing)
            if n_need > 0:
                fund(lanes, rs, c, n, need, n_need, m * dt)
            fail(lanes, c, n, m)
        # 7. Record the month.
        row = plan.rec_row[m]
        if plan.fans and row >= 0:
            for c in range(n_comp):
                record_lanes(lanes, work.beta, c, n, base, (buffers[0], buffers[1]), row, (work.rec_vals, work.rec_bins))
            if competing:
                record_shares(lanes, n_comp, n, base, (buffers[2], out.share_minmax), (slot, s, row),
                              work.share_vals)
        if keeping:
            keep_lanes(lanes, work.beta, n, n_comp, path0 + base, (out.kept, out.kept_market, keep_n), m)
        if tracing:
            trace_lanes(lanes, n, n_comp, path0 + base, (out.trace, out.trace_sector, trace_n), m)
        if h_idx < n_hor and plan.horizons[h_idx] == m:
            horizon_lanes(lanes, n, n_comp, (tid, s, t, path0, base), (h_idx, m * dt, competing), horizon_tally,
                          plan.market[s])
            h_idx += 1


@njit(cache=True, error_model="numpy", inline="always")
def _month0(j, where, buffers, model, plan, out, work):
    """Record and keep month 0 of the lanes under set ``j`` of the group."""
    s, _, tid, path0, base, n, keep_n, _, _ = where
    lanes = (work.P, work.S, work.sec)
    if plan.fans and plan.rec_row[0] >= 0:
        for c in range(model.n_comp):
            record_lanes(lanes, work.beta, c, n, base, (buffers[0], buffers[1]), plan.rec_row[0], (work.rec_vals, work.rec_bins))
        if work.compete[j]:
            slot = tid if out.share_hist.shape[0] > 1 else 0
            record_shares(lanes, model.n_comp, n, base, (buffers[2], out.share_minmax), (slot, s, plan.rec_row[0]),
                          work.share_vals)
    if path0 + base < keep_n:
        keep_lanes(lanes, work.beta, n, model.n_comp, path0 + base, (out.kept, out.kept_market, keep_n), _MONTH0)
    trace_n = plan.trace_n if s == 0 else 0
    if path0 + base < trace_n:
        trace_lanes(lanes, n, model.n_comp, path0 + base, (out.trace, out.trace_sector, trace_n), _MONTH0)


@njit(cache=True, error_model="numpy", inline="always")
def _prepare_sets(model, s0, n_sg, work):
    """The group's parameters: lane parameters of its first set, switches and supply tables of every set.

    Returns the slots whose value differs between the group's sets (rewritten per set).
    """
    theta = model.theta
    n_theta = theta.shape[1]
    differs = work.differs
    n_diff = 0
    for k in range(n_theta):
        d = False
        for j in range(1, n_sg):
            if theta[s0 + j, k] != theta[s0, k]:
                d = True
        differs[k] = d
        n_diff += 1 if d else 0
    fill_lanes(work.P, theta[s0], work.all_slots)
    for j in range(n_sg):
        switches(theta[s0 + j], model.n_comp, work.chips[j], work.funding[j])
        work.compete[j] = theta[s0 + j, GLOBAL_SLOT.sector.competition.enabled] > 0.5
        supply_tables(theta[s0 + j], model.n_comp,
                      (work.tables[j], work.guides[j], work.table_len[j], work.table_rate[j]))
    return n_diff


@njit(cache=True, error_model="numpy", inline="always")
def _block(group, b, model, inputs, plan, tasks, out, work):
    """Block ``b`` of the group under each of its sets."""
    t0, n_sg, nb, s0, tid, share, diff_slots = group
    n_comp = model.n_comp
    tb = t0 + b  # the block's task of the group's first set
    n_paths = tasks.n[tb]
    path0 = tasks.start[tb]
    _copy(tasks.rng[tb].ravel(), work.block_state.ravel())
    n_rec = out.hist.shape[4] if plan.fans else 1
    width = n_paths if plan.fans else 1
    # Every entry of the bins is written before it is read (each recorded month of every path).
    binbuf = work.bin_pool[:n_sg * n_comp * n_rec * N_VARS * width].reshape((n_sg, n_comp, n_rec, N_VARS, width))
    flat = work.mm_pool[:n_sg * n_comp * n_rec * N_VARS * 2]
    for k in range(0, flat.shape[0], 2):
        flat[k] = INF
        flat[k + 1] = -INF
    mm = flat.reshape((n_sg, n_comp, n_rec, N_VARS, 2))
    # The share bins of a run that competes (MODEL.md step 9; its share histograms have a row per
    # company and two more), else one placeholder per set.
    shape = (n_sg, n_comp + 2, n_rec, width) if plan.fans and out.share_hist.shape[2] > 1 else (n_sg, 1, 1, 1)
    sharebuf = work.share_pool[:shape[0] * shape[1] * shape[2] * shape[3]].reshape(shape)
    drawn = n_sg > 1
    n_events = model.events.shape[0]
    per_month = 1 + n_events + 4 * n_comp
    horizon_t = plan.n_months * plan.dt
    for base in range(0, n_paths, LANES):
        n = np.uint64(min(LANES, n_paths - base))
        if drawn:
            seed_lanes(work.block_state, work.rs0, n)
            for m in range(plan.n_months):
                draw_month(work.rs0, work.draws, offset(m * per_month), n_events, n_comp, (work.raw, work.one), n)
        else:
            seed_lanes(work.block_state, work.rs, n)
        work.tape_n[0] = 0
        work.tape_n[1] = 0
        for j in range(n_sg):
            s = s0 + j
            t = tb + j * nb
            keep_j = plan.keep_n if s == 0 else 0
            if drawn:
                fill_lanes(work.P, model.theta[s], diff_slots)
                _copy(work.rs0, work.rs)
            start_paths((work.P, work.S, work.sec), (model.events, model.branches, work.p_none), work.beta, n_comp,
                        n, plan.dt, work.chips[j], (inputs.slots, inputs.values), inputs.task_row[t] + base)
            where = (s, t, tid, path0, base, n, keep_j, drawn, 0 if (not share or work.tape_n[1] != 0) else
                     (1 if j == 0 else 2))
            buffers = (binbuf[j], mm[j], sharebuf[j])
            _month0(j, where, buffers, model, plan, out, work)
            run_months(j, where, buffers, model, plan, out, work)
            finish_lanes((work.P, work.S, work.sec), n, n_comp, (tid, s, t, path0, base), horizon_t,
                         (out.fv, out.bv, out.fail_counts, out.fail_month), keep_j)
    if plan.fans:
        slot = tid if out.hist.shape[0] > 1 else 0
        for j in range(n_sg):
            flush_bins((binbuf[j], mm[j]), n_paths, out.hist, out.minmax, slot, s0 + j)
            if work.compete[j]:
                flush_share_bins(sharebuf[j], n_paths, out.share_hist, slot, s0 + j)


@njit(cache=True, error_model="numpy", inline="always")
def run_group(g, tid, model, inputs, plan, tasks, out, work):
    """Simulate task group ``g`` on thread ``tid`` (see the module docstring and bundles.py).

    With ``out.hist_dirty`` (a reused buffer, one slot) the group first zeroes
    its sets' histograms: just before they are used, by the group that owns them.
    """
    t0 = tasks.group_start[g]
    t1 = tasks.group_start[g + 1]
    s0 = tasks.set[t0]
    n_sg = tasks.set[t1 - 1] - s0 + 1
    nb = (t1 - t0) // n_sg
    if plan.fans and out.hist_dirty:
        for s_own in range(s0, s0 + n_sg):
            out.hist[0, s_own] = 0
    n_diff = _prepare_sets(model, s0, n_sg, work)
    diff_slots = np.empty(n_diff, dtype=np.int64)
    k = 0
    for slot in range(work.differs.shape[0]):
        if work.differs[slot]:
            diff_slots[k] = slot
            k += 1
    group = (t0, n_sg, nb, s0, tid, tasks.share_events[g] and n_sg > 1, diff_slots)
    for b in range(nb):
        _block(group, b, model, inputs, plan, tasks, out, work)


@njit(cache=True, error_model="numpy", nogil=True)
def run_groups(next_group, n_groups, tid, model, inputs, plan, tasks, out, work):
    """Run task groups on thread ``tid`` until none is left: each takes the next from ``next_group[0]``.

    Every thread of a kernel call runs this once, without the GIL; groups are
    handed out one at a time (an atomic counter) to whichever thread is free,
    so a few long groups do not leave a thread idle at the end.  Results do
    not depend on which thread runs which group.
    """
    while True:
        g = fetch_add(next_group)
        if g >= n_groups:
            return
        run_group(g, tid, model, inputs, plan, tasks, out, work)
