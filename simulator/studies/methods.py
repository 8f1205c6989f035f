"""The sensitivity methods and their sizes by default: names only, importable without numpy, xarray or SALib.

The command line lists them in its options when it starts, so they live apart
from the studies themselves (:mod:`simulator.studies.sensitivity`), whose
imports would slow every command's start.

May import: nothing of the package.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PATHS", "DEFAULT_SAMPLES", "GIVEN_DATA", "METHODS", "MIN_SAMPLES"]

METHODS = ("oat", "morris", "sobol", "rbd-fast", "delta", "pawn", "given-data")
GIVEN_DATA = ("rbd-fast", "delta", "pawn")
#: Paths per evaluation when not given (each evaluation is a probability over them).
DEFAULT_PATHS = 10_000
DEFAULT_SAMPLES = {"morris": 20, "sobol": 128}
MIN_SAMPLES = {"morris": 4, "sobol": 64}
