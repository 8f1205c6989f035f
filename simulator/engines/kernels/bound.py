"""The random-number bound: the engine's draws alone, for the throughput benchmark.

Per path and month it draws exactly the variates one path-month consumes in
the common case (one sector normal, one uniform per event type, per company
four normals and one supply uniform, the table-inversion case), lane by lane
as the engine draws them, and nothing else.
"""

import numpy as np
from numba import njit

from simulator.engines.kernels.atomic import fetch_add
from simulator.engines.kernels.lanes import (
    DIFFUSION,
    LANES,
    STREAM_ROWS,
    SUPPLY,
    lane_doubles,
    lane_normal_rows,
    seed_lanes,
)

__all__ = ["draw_only"]


@njit(cache=True, error_model="numpy", nogil=True)
def draw_only(next_task, counts, rng, out):
    """The bound's tasks (one block each), taken one at a time from ``next_task[0]`` by every thread.

    ``counts`` = (events, companies, months, paths per task (task,)); the sum of
    each task's draws goes into ``out[t]`` (so nothing is optimised away).
    """
    n_events, n_comp, n_months, task_n = counts
    while True:
        t = fetch_add(next_task)
        if t >= task_n.shape[0]:
            return
        out[t] = _draw_task(rng[t].copy(), n_events, n_comp, n_months, task_n[t])


@njit(cache=True, error_model="numpy")
def _draw_task(block_state, n_events, n_comp, n_months, n_paths):
    """The variates one block's paths consume in the common case, summed."""
    rs = np.empty(block_state.shape[0] * STREAM_ROWS * LANES, dtype=np.uint64)
    buf = np.zeros(LANES)
    scratch = (np.empty(LANES, dtype=np.uint64), np.empty(4, dtype=np.uint64))
    zero = np.uint64(0)
    one_row = np.int64(1)
    acc = 0.0
    for base in range(0, n_paths, LANES):
        n = np.uint64(min(LANES, n_paths - base))
        seed_lanes(block_state, rs, n)
        for _m in range(n_months):
            lane_normal_rows(rs, DIFFUSION, buf, zero, one_row, scratch, n)
            acc += buf[0]
            for _e in range(n_events):
                lane_doubles(rs, DIFFUSION, buf, zero, n)
                acc += buf[0]
            for _c in range(n_comp):
                for _j in range(4):
                    lane_normal_rows(rs, DIFFUSION, buf, zero, one_row, scratch, n)
                    acc += buf[0]
                lane_doubles(rs, SUPPLY, buf, zero, n)
                acc += buf[0]
    return acc
