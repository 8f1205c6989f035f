"""Results as labelled xarray Datasets: the output table, building, statistics, io, targets.

- ``outputs``: the one table of output variables (dimensions, units, long names);
- ``statistics``: Wilson and normal-theory intervals, histogram quantiles;
- ``dataset``: a Tally into a Dataset (one set, or many sets at once);
- ``draws``: uncertain inputs' per-path draws and outcomes in a Dataset;
- ``io``: atomic NetCDF writes and reads;
- ``accessor``: ``ds.sim`` (tables, formatted numbers);
- ``targets``: parsing and estimating probabilities named like ``zhipu.champion@36``.

May import: :mod:`simulator.errors`, :mod:`simulator.model` and :mod:`simulator.engines`.
"""
