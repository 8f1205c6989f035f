"""How the model is sampled: random streams, run plans, the two engines and their tallies.

- ``streams``: one set of random streams per fixed-size block of paths;
- ``plan``: the time grid and the blocks of a run;
- ``tally``: mergeable summaries of paths (integer counts, per-block moments);
- ``input_draws``: per-path draws of uncertain inputs;
- ``kernels``: the numba engine (the only package that imports numba);
- ``reference``: the numpy reference engine, written from MODEL.md (``reference_competition``: its
  market, platforms and shares; ``reference_draws``: where its variates come from);
- ``dispatch``: :func:`simulate`, which runs either engine and merges the tallies.

May import: :mod:`simulator.errors` and :mod:`simulator.model`.
"""
