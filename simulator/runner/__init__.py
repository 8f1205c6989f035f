"""Running a scenario: one prepared run, the public ``run()``, grouped and distributed runs.

- ``prepared``: a scenario, seed, paths and options turned into what an engine needs;
- ``api``: :func:`simulator.run`;
- ``distributed``: runs in groups of blocks, in this process or on a dask cluster, kept paths in Zarr;
- ``progress``: progress bars.

May import: :mod:`simulator.errors`, :mod:`simulator.model`, :mod:`simulator.engines`
and :mod:`simulator.results`.
"""
