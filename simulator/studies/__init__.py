"""Studies built on runs: precision, calibration, implied values, comparison, sweeps, sensitivity, batches.

- ``precision``: as many paths as a confidence-interval width needs;
- ``calibrate``: parameter values that reproduce stated probabilities, and implied values;
- ``compare``: differences of two results with intervals (paired when possible);
- ``sweep``: parameter sets on common random numbers (the engine of every many-set study);
- ``sensitivity``, ``sensitivity_outputs``, ``given_data``: OAT, Morris, Sobol and given-data indices
  (``methods``: their names and default sizes, light enough for the command line's start);
- ``attribution``: median shifts of uncertain inputs inside each outcome;
- ``batch``: many scenarios into a folder, resumable;
- ``scenario_edit``: writing calibrated values back into a scenario file.

May import: every layer below: :mod:`simulator.errors`, :mod:`simulator.model`,
:mod:`simulator.engines`, :mod:`simulator.results` and :mod:`simulator.runner`.
"""
