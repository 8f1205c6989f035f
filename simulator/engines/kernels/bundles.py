"""The bundles of arrays the task driver takes: named tuples, built in Python, typed by numba.

A kernel call gets a few bundles instead of fifty positional arrays:

- :class:`Model`: what is simulated (parameter sets, event tables);
- :class:`Inputs`: the per-path values of uncertain inputs;
- :class:`Plan`: the time grid and what is recorded;
- :class:`Tasks`: the tasks (one block of paths under one parameter set), their
  random-stream states and how they are grouped;
- :class:`Tallies`: every output array, filled by the kernels;
- :class:`Workspace`: one thread's scratch lane arrays, reused from group to group.

The shapes are documented field by field; :mod:`simulator.engines.dispatch`
allocates them.
"""

from collections import namedtuple

__all__ = ["Inputs", "Model", "Plan", "Tallies", "Tasks", "Workspace"]

#: ``theta`` (set, slot) float64; ``events`` (event, 4) int64 (columns of
#: simulator.model.parameters.EVENT_TABLE); ``branches`` (branch,) int64 theta
#: slots of the branch records; ``n_comp`` companies.
Model = namedtuple("Model", "theta events branches n_comp")

#: ``slots`` (input slot,) int64 theta slots; ``values`` (row, input slot) float64,
#: the paths of the call's blocks in block order; ``task_row`` (task,) int64, the
#: row of each task's first path.
Inputs = namedtuple("Inputs", "slots values task_row")

#: ``n_months``; ``dt`` years per step; ``horizons`` (horizon,) int64 months;
#: ``rec_row`` (month + 1,) int64 histogram row of each month (-1: not recorded);
#: ``market`` (set, horizon) float64 market size of each parameter set (0: none); ``fans`` record histograms;
#: ``keep_n`` paths kept whole (of parameter set 0); ``trace_n`` paths whose whole state is
#: traced (of parameter set 0).
Plan = namedtuple("Plan", "n_months dt horizons rec_row market fans keep_n trace_n")

#: Per task (task,): ``set``, ``start`` (first path, relative to the kept paths'
#: start), ``n`` (paths) int64, ``rng`` (task, 4 streams, 4 words) uint64 block
#: states; ``group_start`` (group + 1,) int64 (a group's tasks run on one thread:
#: one set's blocks, or several consecutive sets with all their blocks, set-major);
#: ``share_events`` (group,) bool: the group's sets have equal event parameters.
Tasks = namedtuple("Tasks", "set start n rng group_start share_events")

#: Per thread (first axis) and parameter set: ``counts`` (thread, set, company,
#: horizon, outcome), ``any_champion`` (thread, set, horizon), ``n_champions``
#: (thread, set, horizon, champions), ``fail_counts`` (thread, set, company,
#: month of failure), ``market_exceed`` (thread, set, horizon) int64; ``hist``
#: (slot, set, company, variable, recorded month, bin) int64 and ``minmax`` (...,
#: 2) float64 (one slot per thread, or one shared slot when each set is run by one
#: group); ``hist_dirty`` zero each group's own histograms first (a reused buffer);
#: per task: ``fv`` and ``bv`` (task, company, 2) (equity and business value) and
#: ``vh`` (task, company, horizon, 2) float64 Welford moments; ``kept`` (variable, path, company, month) float32,
#: ``kept_market`` (path, month) float32 and ``fail_month`` (path, company) int64 of the kept paths;
#: ``path_outcome`` (set, path, company, horizon) int8 outcome codes of the first paths; ``trace``
#: (state variable, path, company, month) and ``trace_sector`` (sector variable, path, month) float64
#: of the traced paths; ``pairs`` (thread, set, horizon, 2, company, company) int64 paths in which
#: both companies of a pair (first < second) are champions (0) or collapse (1); ``reached``
#: (thread, set, company, horizon) int64 paths whose served revenue reached the required revenue;
#: with competition on, ``share_hist`` (slot, set, company + 2, recorded month, bin) int64 and
#: ``share_minmax`` (..., 2) float64 of the shares, the platforms' share and the market.
Tallies = namedtuple("Tallies", "counts any_champion n_champions fail_counts market_exceed hist minmax hist_dirty "
                                "fv bv vh kept kept_market fail_month path_outcome trace trace_sector pairs reached "
                                "share_hist share_minmax")

#: One thread's lane arrays (rows of LANES values, see lanes.py and state.py):
#: ``P`` parameters, ``S`` company state, ``sec`` sector state, ``p_none`` P(no
#: arrival) per event, ``beta`` beta_sector per company, ``draws`` the diffusion
#: stream's draws (one month, or every month for groups of sets), ``us`` supply
#: uniforms, ``sup`` supply scratch, ``rs``/``rs0`` lane stream states (the second
#: holds a lane group's fresh seeds for groups of sets), ``raw`` and ``one``
#: normal-sampler scratch, ``block_state`` (5, 4) the block's stream states,
#: ``rec_vals``/``rec_bins`` recording scratch, ``tape_i``/``tape_f``/``tape_n``/
#: ``tape_end`` the event tape, ``tables``/``guides``/``table_len``/``table_rate``
#: (set in group, company, ...) the supply inversion tables, ``bin_pool`` and
#: ``mm_pool`` the bins and extremes of a block, ``chips``/``funding`` (set in
#: group, company) switches, ``compete`` (set in group,) the competition switch,
#: ``market_z`` the market stream's two normals of a month, ``share_vals`` recording
#: scratch of the shares, ``oc`` (company,) one path's outcomes at a horizon,
#: ``share_pool`` the share bins of a block (sets in group x (company + 2) x recorded
#: months x paths, or one per set without competition or fans), ``differs`` (slot,) and
#: ``all_slots`` (slot,).
Workspace = namedtuple("Workspace", "P S sec p_none beta draws us sup rs rs0 raw one block_state rec_vals rec_bins "
                                    "tape_i tape_f tape_n tape_end tables guides table_len table_rate bin_pool "
                                    "mm_pool chips funding compete market_z share_vals oc share_pool "
                                    "differs all_slots")
