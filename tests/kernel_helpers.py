"""Test-only kernels: thin numba loops that expose the production kernels' samplers and fast maths.

They live with the tests, not in the package.  They are compiled without
``cache=True``: a cached copy would not see changes of the kernels they call.
"""

import numpy as np
from numba import njit

from simulator.engines.kernels.chips import SCRATCH_ROWS, ptrs_lanes
from simulator.engines.kernels.fastmath import fast_exp, fast_log
from simulator.engines.kernels.lanes import (
    LANES,
    STREAM_ROWS,
    SUPPLY,
    lane_doubles,
    lane_masked_double,
    lane_normal_rows,
    offset,
    seed_lanes,
)
from simulator.engines.kernels.rng import next_double, poisson, poisson_ptrs, ptrs_constants, standard_normal
from simulator.engines.kernels.state import COMPANY_ROWS, NEW_CARDS, PTRS, PTRS_RATE

__all__ = ["fill_draws", "fill_fast_math", "fill_lane_draws", "fill_lane_poisson"]


@njit(error_model="numpy")
def fill_draws(state, kind, lam, out):
    """Fill ``out`` with draws of one kind from one SFC64 state.

    Kinds: 0 uniform, 1 standard normal, 2 Poisson(lam), 3 Poisson(lam >= 10)
    through the engine's path with cached PTRS constants.
    """
    constants = ptrs_constants(max(lam, 10.0))
    for i in range(out.shape[0]):
        if kind == 3:
            out[i] = poisson_ptrs(state, lam, constants)
            continue
        if kind == 0:
            out[i] = next_double(state)
        elif kind == 1:
            out[i] = standard_normal(state)
        else:
            out[i] = poisson(state, lam)


@njit(error_model="numpy")
def fill_fast_math(kind, x, out):
    """``out = fast_exp(x)`` (kind 0) or ``fast_log(x)`` (kind 1)."""
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i]) if kind == 0 else fast_log(x[i])


@njit(error_model="numpy")
def fill_lane_draws(block_state, kind, n_lanes, n_draws, out):
    """Seed ``n_lanes`` lanes from one block stream and draw ``n_draws`` per lane.

    ``out`` (n_draws, n_lanes); kinds 0 uniform, 1 standard normal, 2 uniform
    drawn only where ``(lane + draw) % 3 != 0`` (NaN elsewhere: the masked
    draws of the funding and supply passes).  Returns the lane states after
    the draws, shape (4 words, n_lanes).
    """
    final = np.empty((4, n_lanes), dtype=np.uint64)
    state = block_state.reshape((1, 4)).copy()
    rs = np.zeros(STREAM_ROWS * LANES, dtype=np.uint64)
    buf = np.empty(LANES)
    scratch = (np.empty(LANES, dtype=np.uint64), np.empty(4, dtype=np.uint64))
    zero = np.uint64(0)
    for base in range(0, n_lanes, LANES):
        n = np.uint64(min(LANES, n_lanes - base))
        seed_lanes(state, rs, n)
        for d in range(n_draws):
            if kind == 0:
                lane_doubles(rs, zero, buf, zero, n)
            elif kind == 1:
                lane_normal_rows(rs, zero, buf, zero, 1, scratch, n)
            else:
                for i in range(n):
                    on = (base + np.int64(i) + d) % 3 != 0
                    x = lane_masked_double(rs, zero, i, on)
                    buf[i] = x if on else np.nan
            for i in range(n):
                out[d, base + np.int64(i)] = buf[i]
        for w in range(4):
            for i in range(n):
                final[w, base + np.int64(i)] = rs[offset(w) + i]
    return final


@njit(error_model="numpy")
def fill_lane_poisson(block_state, lams, n_lanes, n_draws, out):
    """Card-supply Poisson draws by the lanes' PTRS passes.

    Lanes are seeded from ``block_state`` (one SFC64 state) as the supply
    stream; lane ``i`` draws Poisson(``lams[i % len(lams)]``), all >= 10, except
    where ``(lane + draw) % 5 == 0`` (NaN there: a lane that draws nothing).
    ``out`` (n_draws, n_lanes); returns the lane states after the draws.
    """
    final = np.empty((4, n_lanes), dtype=np.uint64)
    state = np.empty((4, 4), dtype=np.uint64)
    for j in range(4):
        state[j] = block_state
    rs = np.zeros(4 * STREAM_ROWS * LANES, dtype=np.uint64)
    S = np.zeros(COMPANY_ROWS * LANES)
    sup = np.zeros(SCRATCH_ROWS * LANES)
    one = np.empty(4, dtype=np.uint64)
    cs = np.uint64(0)
    for base in range(0, n_lanes, LANES):
        n = np.uint64(min(LANES, n_lanes - base))
        seed_lanes(state, rs, n)
        for i in range(n):
            lam = lams[(base + np.int64(i)) % lams.shape[0]]
            S[PTRS_RATE + i] = lam
            c = ptrs_constants(lam)
            for k in range(5):
                S[PTRS + offset(k) + i] = c[k]
        for d in range(n_draws):
            for i in range(n):
                on = (base + np.int64(i) + d) % 5 != 0
                sup[i] = 1.0 if on else 0.0
                S[NEW_CARDS + i] = -1.0 if on else np.nan
            ptrs_lanes(S, cs, (rs, one), sup, n)
            for i in range(n):
                out[d, base + np.int64(i)] = S[NEW_CARDS + i]
        for w in range(4):
            for i in range(n):
                final[w, base + np.int64(i)] = rs[SUPPLY + offset(w) + i]
    return final
